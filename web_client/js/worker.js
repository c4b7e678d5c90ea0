// Worker page (index.html): boots the screens and wires them. Each job is a module of
// js/worker/: state and screens, status (hours, closed, error), sign-in, ready and
// history, waiting, chat, after, crisis resources, the socket and its frames. Speaks
// docs/PROTOCOL.md. Text typed by people is set with textContent.

import { $, $$, byTestId, openDialog } from './dom.js';
import { api, ApiError } from './api.js';
import { onLangChange } from './i18n.js';
import { wireLanguage, wireQuickExit } from './shell.js';
import './strings-crisis.js';
import { renderTitle as renderAlertTitle } from './worker-alerts.js';
import { S, KEY, store, go } from './worker/state.js';
import { loadStatus, renderStatus, scheduleStatus, refreshStatus, renderClosed, showClosed, showError } from './worker/status.js';
import { renderHotlines, openHotlines } from './worker/crisis.js';
import { wireSignin } from './worker/signin.js';
import { renderReady, requestChat, openHistory } from './worker/ready.js';
import { renderQueue, buildScreenForm, submitScreen, skipScreen, leaveQueue } from './worker/waiting.js';
import { relabelStates } from './worker/bubbles.js';
import { transcript, setCounselor, onComposerSubmit, onComposerInput, retry, maybeSendRead, endChat } from './worker/chat.js';
import { renderAfter, submitRating, submitPin } from './worker/after.js';
import { startSocket, onConnState } from './worker/socket.js';

async function boot() {
  wireLanguage();
  renderHotlines();
  wire();

  const [status, me] = await Promise.all([
    loadStatus(),
    api('/api/worker/me', { timeout: 8000 }).catch((e) => (e instanceof ApiError && e.status === 401 ? null : undefined)),
  ]);
  renderStatus();
  renderClosed();
  scheduleStatus();

  if (me) {
    S.signedIn = true;
    S.alias = me.alias || '';
    S.historyAccess = !!me.history_access;
    S.pinSet = !!me.pin_set;
    renderReady();
    if (S.rateId && !me.open_conversation) {
      renderAfter('worker');
      go('after');
    }
    startSocket();   // the welcome frame decides the screen (waiting / chat / ready)
    if (!S.rateId && !me.open_conversation) { go('ready'); }
    // If the socket cannot come up, don't leave the worker on a spinner.
    setTimeout(() => { if (S.screen === 'loading') showError(navigator.onLine === false); }, 12000);
    return;
  }
  if (!status) {
    showError(navigator.onLine === false);
    return;
  }
  if (!status.open) {
    showClosed();
    return;
  }
  go('welcome');
}

function wire() {
  wireQuickExit(() => { if (S.conn) S.conn.stop(); });
  byTestId('hotline-button').addEventListener('click', openHotlines);
  byTestId('urgent-help').addEventListener('click', openHotlines);
  onLangChange(() => {
    renderAlertTitle();
    renderHotlines();
    renderStatus();
    renderClosed();
    renderReady();
    renderQueue();
    buildScreenForm();
    if (S.counselorName) setCounselor(S.counselorName);
    relabelStates(transcript.el);
  });

  for (const btn of $$('[data-go]')) {
    btn.addEventListener('click', () => go(btn.getAttribute('data-go')));
  }

  byTestId('welcome-start').addEventListener('click', async () => {
    // Read again: a page left open across closing time must not lead into a form.
    await loadStatus();
    renderStatus();
    if (!S.status) { showError(navigator.onLine === false); return; }
    if (!S.status.open) { showClosed(); return; }
    go(store.get(KEY.consent, false) ? 'signin' : 'consent');
    if (store.get(KEY.consent, false)) $('#consent-check').checked = true;
  });

  wireSignin();

  byTestId('request-chat').addEventListener('click', () => requestChat());
  $('#open-history').addEventListener('click', openHistory);

  $('#leave-queue').addEventListener('click', () => openDialog($('#leave-dialog')));
  $('#confirm-leave').addEventListener('click', leaveQueue);

  $('#composer').addEventListener('submit', onComposerSubmit);
  const input = byTestId('chat-input');
  input.addEventListener('input', onComposerInput);
  input.addEventListener('keydown', (ev) => {
    // Enter sends on a keyboard; on phones Enter is a new line and the button sends.
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && window.matchMedia && window.matchMedia('(pointer: fine)').matches) {
      ev.preventDefault();
      $('#composer').requestSubmit ? $('#composer').requestSubmit() : onComposerSubmit(ev);
    }
  });
  transcript.el.addEventListener('click', (ev) => {
    const target = ev.target instanceof Element ? ev.target.closest('.msg-mine[data-state="failed"]') : null;
    if (target) retry(target.getAttribute('data-client-id'));
  });
  byTestId('end-chat').addEventListener('click', () => openDialog($('#end-dialog')));
  byTestId('confirm-end').addEventListener('click', endChat);

  $('#rating-form').addEventListener('submit', submitRating);
  buildScreenForm();
  $('#screen-form').addEventListener('submit', submitScreen);
  $('#screen-skip').addEventListener('click', skipScreen);
  $('#rate-last').addEventListener('click', () => {
    if (!S.lastEnded) return;
    S.rateId = S.lastEnded.id;
    store.set(KEY.rate, S.rateId);
    const by = S.lastEnded.by;
    S.lastEnded = null;
    renderAfter(by);
    go('after');
  });
  $('#pin-form').addEventListener('submit', submitPin);
  $('#talk-again').addEventListener('click', () => {
    store.del(KEY.rate);
    renderReady();
    if (S.signedIn) { go('ready'); if (!S.conn) startSocket(); }
    else go('welcome');
  });
  $('#closed-refresh').addEventListener('click', async () => {
    await loadStatus();
    renderStatus();
    renderClosed();
    if (S.status && S.status.open) go(S.signedIn ? 'ready' : 'welcome');
  });
  $('#error-retry').addEventListener('click', () => {
    go('loading');
    boot2();
  });

  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState !== 'visible') return;
    maybeSendRead();
    refreshStatus();  // timers sleep in a backgrounded page: the hours may have changed
  });
  window.addEventListener('online', () => { if (S.screen === 'error') { go('loading'); boot2(); } });
  window.addEventListener('offline', () => { if (!S.conn) onConnState('offline'); });
}

let booted = false;
async function boot2() {
  // Re-run the status part of boot (the error screen's retry).
  const status = await loadStatus();
  renderStatus();
  renderClosed();
  if (!status) { showError(navigator.onLine === false); return; }
  if (S.signedIn) { go('ready'); if (!S.conn) startSocket(); return; }
  go(status.open ? 'welcome' : 'closed');
}

if (!booted) {
  booted = true;
  boot().catch((e) => { console.error(e); showError(false); });
}
