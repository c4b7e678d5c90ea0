// The chat pane of the counselor console: the selected conversation's transcript (shared
// ordering in js/transcript.js), the composer with its outbox, typing and read marks.

import { $, $$, byTestId, h, clear, setText, show, hide, newClientId } from '../dom.js';
import { t, fmtDuration } from '../i18n.js';
import { Outbox } from '../transcript.js';
import { S, alerts, presenceNote } from './state.js';
import { renderBubble } from './bubbles.js';
import { renderTabs } from './tabs.js';
import { renderNoteForm } from './notes.js';
import { renderWhispers, renderReferrals, renderRiskDetail } from './side.js';

function transcriptOf(item) {
  const c = S.convs.get(item.conversation_id);
  return c ? c.transcript : null;
}

export const outbox = new Outbox('yz.c.outbox', {
  sending(item) {
    const tr = transcriptOf(item);
    const li = tr && tr.byClient(item.client_id);
    if (li && !li.hasAttribute('data-seq')) tr.setState(li, 'sending');
  },
  failed(item) {
    const tr = transcriptOf(item);
    if (tr) tr.setState(tr.byClient(item.client_id), 'failed');
  },
});

export function pendingBubble(item) {
  return renderBubble({ from: 'counselor', text: item.text, at: item.at, client_id: item.client_id }, 'sending');
}

export function renderPane() {
  const c = S.active && S.convs.get(S.active);
  const noteMode = !!(c && c.ended);
  show($('#pane-empty'), !c);
  show($('#chat'), !!c && !noteMode);
  show($('#note-view'), noteMode || (!c && S.noteFor === '__done__'));
  show($('#side-empty'), !c);
  show($('#side-body'), !!c);
  if (!c) { if (S.noteFor !== '__done__') hide($('#note-view')); return; }
  if (noteMode) { renderNoteForm(c); }
  else {
    setText($('#chat-title'), c.alias);
    const risk = $('#chat-risk');
    risk.className = 'badge risk-' + c.risk;
    setText(risk, t('s.risk.' + c.risk));
    setText($('#chat-meta'), c.matchedAt ? t('c.tab.waiting', { t: fmtDuration((Date.now() - new Date(c.matchedAt).getTime()) / 1000) }) : '');
    const wrap = $('#log-wrap');
    if (wrap.firstChild !== c.log) { clear(wrap); wrap.appendChild(c.log); }
    const notice = $('#chat-notice');
    setText(notice, c.workerAway ? (presenceNote(c) || t('c.chat.worker_away')) : c.handover ? t('c.chat.handover') : '');
    show(notice, c.workerAway || c.handover);
    // Only when switching conversations: a frame re-rendering the pane must not eat a draft.
    if (S.paneFor !== c.id) { byTestId('chat-input').value = c.draft || ''; S.paneFor = c.id; }
    c.log.scrollTop = c.log.scrollHeight;
    maybeSendRead(c);
  }
  $('#risk-select').value = c.risk;
  renderRiskDetail(c);
  $('#scratch').value = c.scratch || '';
  renderWhispers(c);
  renderReferrals();
  hide($('#flag-form'));
  $('#flag-button').setAttribute('aria-expanded', 'false');
  const fs = $('#flag-status');
  setText(fs, c.flagMsg || '');
  show(fs, !!c.flagMsg);
  const alert = $('#chat-alert');
  setText(alert, c.noSupervisor ? t('c.no_supervisor') : c.realert ? t('c.esc.realert') : '');
  show(alert, !c.ended && (c.noSupervisor || c.realert));
}

export function addNote(c, text) {
  c.transcript.addNote(h('li', { class: 'msg-note', text: text }), c.lastSeq);
}

export function onMessage(f) {
  const c = S.convs.get(f.conversation_id);
  if (!c) return;
  const seq = Number(f.seq);
  const stick = c.transcript.nearBottom();
  const li = c.transcript.receive(f, (m) => renderBubble(m, 'sent', c), (pending) => {
    outbox.drop(f.client_id);
    c.transcript.confirm(pending, seq);
    return pending;
  });
  if (!li) return;                 // shown already
  if (seq > c.lastSeq) c.lastSeq = seq;
  c.lastAt = f.at || new Date().toISOString();
  if (f.from === 'worker') {
    hideTyping(c);
    const unseen = S.active !== c.id || document.visibilityState !== 'visible';
    if (unseen) c.unread += 1;
    // Only live messages alert: a resync after an assignment replays earlier ones.
    if (unseen && c.live) alerts.alert({ title: t('al.message', { alias: c.alias }), body: t('al.message.body'), tag: 'msg-' + c.id });
  }
  if (stick || f.from === 'counselor') c.log.scrollTop = c.log.scrollHeight;
  if (S.active === c.id) maybeSendRead(c);
  renderTabs();
}

export function maybeSendRead(c) {
  if (document.visibilityState !== 'visible' || !S.conn || !S.conn.isReady()) return;
  const theirs = $$('li.msg-from-worker[data-seq]', c.log);
  if (!theirs.length) return;
  const seq = Number(theirs[theirs.length - 1].getAttribute('data-seq'));
  if (seq > c.lastReadSent) {
    c.lastReadSent = seq;
    S.conn.send({ type: 'read', conversation_id: c.id, seq: seq });
  }
}

export function transmit(item) {
  const c = S.convs.get(item.conversation_id);
  if (!c) return;
  outbox.transmit(item, S.conn);
}

export function send(ev) {
  ev.preventDefault();
  const c = S.active && S.convs.get(S.active);
  const input = byTestId('chat-input');
  const text = input.value.replace(/\s+$/, '');
  if (!c || c.ended || !text.trim()) return;
  const item = { client_id: newClientId('c'), conversation_id: c.id, text: text.slice(0, 2000), at: new Date().toISOString() };
  outbox.add(item);
  c.transcript.addPending(pendingBubble(item));
  c.transcript.scrollToEnd();
  input.value = '';
  c.draft = '';
  transmit(item);
}

// After `unavailable` or `rate_limited`: one resend of the conversation's outbox, in order.
export function scheduleResend(convId, delayMs) {
  outbox.scheduleResend(convId, delayMs, () => {
    for (const item of outbox.items) if (item.conversation_id === convId) transmit(item);
  });
}

export function showTyping(c) {
  if (S.active !== c.id) return;
  const el = $('#typing');
  setText(el, t('c.chat.typing'));
  show(el);
  clearTimeout(c.typingTimer);
  c.typingTimer = setTimeout(() => hideTyping(c), 6000);
}

export function hideTyping(c) {
  clearTimeout(c.typingTimer);
  if (S.active === c.id) hide($('#typing'));
}
