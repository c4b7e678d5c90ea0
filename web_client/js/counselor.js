// Counselor console (counselor.html): conversations as tabs, the chat, a side panel (risk,
// flag, scratch notes, supervisor whispers, referrals) and the case note after a
// conversation ends. Each job is a module of js/counselor/: state, tabs (and top bar),
// pane (the chat), notes (end and case note), side (panel), frames (the socket's frames).

import { $, byTestId, setText, show, openDialog } from './dom.js';
import { Connection } from './connection.js';
import { t, onLangChange } from './i18n.js';
import { wireLanguage } from './shell.js';
import './strings-crisis.js';
import './strings-alerts.js';
import { showView, toast, currentStaff, wireSignin, showSignin, signOut, connLabel } from './staff.js';
import { S, alerts, presenceNote } from './counselor/state.js';
import { renderTabs, onTabKey, renderTop } from './counselor/tabs.js';
import { renderPane, maybeSendRead, outbox, transmit, send } from './counselor/pane.js';
import { endActive, submitNote, afterNote, renderWrapup } from './counselor/notes.js';
import { renderReferrals, loadResources, sendReferral, sendFlag } from './counselor/side.js';
import { onFrame } from './counselor/frames.js';

function onConnState(state) {
  const el = byTestId('conn-state');
  el.setAttribute('data-state', state);
  setText($('.conn-text', el), connLabel(state));
  if (state === 'unauthorized') {
    S.conn = null;
    showSignin(t('s.unauthorized'));
  }
  const input = byTestId('chat-input');
  if (input) input.setAttribute('aria-busy', state === 'ready' ? 'false' : 'true');
}

function startConsole(staff) {
  S.staff = staff;
  setText(byTestId('staff-name'), staff.display_name || '');
  showView('app');
  renderTop();
  renderTabs();
  renderPane();
  renderReferrals();
  if (!S.resources) loadResources();
  if (!S.alertsMounted) { S.alertsMounted = true; alerts.mount($('.topbar-user')); }
  alerts.offerNotifications($('[data-view="app"] .topbar'));
  alerts.renderTitle();
  if (!S.conn) {
    S.conn = new Connection('/ws/staff', { onFrame: onFrame, onState: onConnState });
    S.conn.start();
  }
}

function wire() {
  wireSignin(startConsole);
  onLangChange(() => { alerts.render(); alerts.renderTitle(); if (alerts.ask) alerts.offerNotifications($('[data-view="app"] .topbar')); renderTop(); renderTabs(); S.noteFor = S.noteFor === '__done__' ? S.noteFor : null; renderPane(); onConnState(S.conn ? S.conn.state : 'connecting'); });
  $('#tabs').addEventListener('keydown', onTabKey);
  byTestId('capacity-select').addEventListener('change', (ev) => {
    // How many conversations at once: the server answers with a `duty` frame.
    if (!S.conn || !S.conn.isReady()) { toast(t('conn.reconnecting')); renderTop(); return; }
    S.conn.send({ type: 'capacity', capacity: Number(ev.target.value) });
  });
  byTestId('duty-toggle').addEventListener('click', () => {
    if (!S.conn || !S.conn.isReady()) { toast(t('conn.reconnecting')); return; }
    S.conn.send({ type: 'duty', on: !S.duty.on });
  });
  $('#signout').addEventListener('click', async () => {
    if (S.conn) { S.conn.stop(); S.conn = null; }
    await signOut();
    S.convs.clear(); S.order = []; S.active = null;
    showSignin();
  });
  $('#composer').addEventListener('submit', send);
  const input = byTestId('chat-input');
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); send(ev); }
  });
  input.addEventListener('input', () => {
    const c = S.active && S.convs.get(S.active);
    const now = Date.now();
    if (c && !c.ended && input.value && now - S.lastTypingSent > 3000 && S.conn && S.conn.isReady()) {
      S.lastTypingSent = now;
      S.conn.send({ type: 'typing', conversation_id: c.id });
    }
  });
  $('#log-wrap').addEventListener('click', (ev) => {
    const b = ev.target instanceof Element ? ev.target.closest('.msg-retry') : null;
    if (!b) return;
    const item = outbox.find(b.getAttribute('data-client-id'));
    if (item) transmit(item);
  });
  $('#end-chat').addEventListener('click', () => openDialog($('#end-dialog')));
  byTestId('confirm-end').addEventListener('click', endActive);
  $('#note-form').addEventListener('submit', submitNote);
  byTestId('take-pause').addEventListener('click', () => afterNote(true));
  byTestId('keep-going').addEventListener('click', () => afterNote(false));
  $('#risk-select').addEventListener('change', () => {
    const c = S.active && S.convs.get(S.active);
    if (c) { c.risk = $('#risk-select').value; renderTabs(); renderPane(); }
  });
  $('#scratch').addEventListener('input', () => {
    const c = S.active && S.convs.get(S.active);
    if (c) c.scratch = $('#scratch').value;
  });
  $('#flag-button').addEventListener('click', () => {
    const form = $('#flag-form');
    const open = form.hasAttribute('hidden');
    show(form, open);
    $('#flag-button').setAttribute('aria-expanded', open ? 'true' : 'false');
    if (open) $('#flag-level').focus();
  });
  $('#flag-form').addEventListener('submit', sendFlag);
  $('#referral-form').addEventListener('submit', sendReferral);
  setInterval(() => { if (S.noteFor && S.noteFor !== '__done__') renderWrapup(); }, 15000);
  document.addEventListener('visibilitychange', () => {
    const c = S.active && S.convs.get(S.active);
    if (c && document.visibilityState === 'visible') { c.unread = 0; renderTabs(); maybeSendRead(c); }
  });
  // Presence turns from away to gone by the clock: re-render often enough to show it.
  setInterval(() => {
    if (!S.order.length) return;
    renderTabs();
    const c = S.active && S.convs.get(S.active);
    if (c && !c.ended && c.workerAway) setText($('#chat-notice'), presenceNote(c) || t('c.chat.worker_away'));
  }, 15000);
}

async function boot() {
  wireLanguage();
  wire();
  try {
    const staff = await currentStaff();
    if (staff) startConsole(staff);
    else showSignin();
  } catch (e) {
    showSignin(t('err.network'));
  }
}

boot();
