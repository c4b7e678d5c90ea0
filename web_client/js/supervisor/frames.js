// What the supervisor board does with each frame of /ws/staff (docs/PROTOCOL.md,
// "Supervisor frames"): a table of handlers, one per frame type.

import { $, $$, byTestId, h, setText, show, closeDialog } from '../dom.js';
import { t, fmtClock } from '../i18n.js';
import { toast } from '../staff.js';
import { S, chime, send } from './state.js';
import { renderQueue, boardSoon } from './board.js';
import { renderEscalations, alertsMe, upsertEscalation } from './escalations.js';
import { transcript, closeWatch, renderWatchHead, watchNote, onWatchMessage } from './watch.js';

function onWelcome(f) {
  if (f.staff) S.staff = Object.assign({}, S.staff || {}, f.staff);
  if (f.queue) { S.queue = { length: f.queue.length, longest_wait_s: f.queue.longest_wait_s }; S.queueAt = Date.now(); }
  if (Array.isArray(f.escalations)) {
    const fresh = new Map();
    for (const e of f.escalations) fresh.set(e.id, e);
    const anyNewOpen = f.escalations.some((e) => e.status === 'open' && !S.escalations.has(e.id));
    S.escalations = fresh;
    for (const id of Array.from(S.quietEsc)) if (!fresh.has(id)) S.quietEsc.delete(id);
    if (anyNewOpen) chime(f.escalations.some((e) => e.level === 'imminent' && e.status === 'open'), true);
    boardSoon();
  }
  renderQueue();
  renderEscalations();
  // Watching and joining belong to the socket: ask again after a reconnect.
  const w = S.watch;
  if (w) {
    const frame = { type: 'watch', conversation_id: w.convId };
    if (w.reason) frame.reason = w.reason;
    send(frame, { kind: 'watch', convId: w.convId, rejoin: w.joined });
  }
}

const handlers = {
  welcome: onWelcome,
  queue_stats(f) {
    S.queue = { length: f.length, longest_wait_s: f.longest_wait_s };
    S.queueAt = Date.now();
    renderQueue();
  },
  escalation(f) {
    upsertEscalation(f.escalation, { opened: !!f.opened, realert: !!f.realert, alertMe: alertsMe(f.alert_to) });
    boardSoon();
  },
  escalation_result(f) {
    const p = S.pending[f.ref];
    delete S.pending[f.ref];
    upsertEscalation(f.escalation, { quiet: true });
    if (p && p.dialog) closeDialog($('#' + p.dialog + '-dialog'));
  },
  watching(f) {
    const p = S.pending[f.ref];
    delete S.pending[f.ref];
    const w = S.watch;
    if (!w || w.convId !== f.conversation_id) return;
    w.ended = f.status === 'ended' || f.status === 'closed';
    if (f.escalation) { S.escalations.set(f.escalation.id, f.escalation); w.escId = f.escalation.id; }
    renderWatchHead();
    S.conn.send({ type: 'sync', conversation_id: w.convId, after_seq: w.lastSeq });
    if (p && p.rejoin && !w.ended) send({ type: 'join', conversation_id: w.convId }, { kind: 'join' });
  },
  synced(f) {
    const w = S.watch;
    if (w && f.conversation_id === w.convId && !$$('li', transcript.el).length) watchNote(t('v.watch.empty'));
  },
  message: onWatchMessage,
  ack(f) {
    delete S.pending[f.ref];
    const li = transcript.byClient(f.client_id);
    if (li) transcript.setState(li, 'sent');
  },
  whispered(f) {
    delete S.pending[f.ref];
    byTestId('whisper-input').value = '';
    byTestId('whisper-send').disabled = false;
    const st = byTestId('whisper-status');
    setText(st, t('v.watch.whisper.sent') + ' ' + fmtClock(new Date()));
    show(st);
    transcript.addNote(h('li', { class: 'watch-whisper', testid: 'watch-whisper' },
      h('p', { class: 'whisper-meta', text: t('v.watch.whisper') + ' · ' + fmtClock(new Date()) }),
      h('p', { class: 'whisper-text', text: S.lastWhisper || '' })), S.watch ? S.watch.lastSeq : 0);
    transcript.scrollToEnd();
  },
  joined(f) {
    delete S.pending[f.ref];
    if (S.watch && S.watch.convId === f.conversation_id) {
      S.watch.joined = true;
      renderWatchHead();
      byTestId('sv-input').focus();
    }
  },
  supervisor_joined(f) {
    if (S.watch && S.watch.convId === f.conversation_id) watchNote(t('c.supervisor_joined', { name: f.display_name || '' }));
  },
  ended(f) {
    if (S.watch && S.watch.convId === f.conversation_id) {
      S.watch.ended = true;
      watchNote(t('v.watch.ended'));
      renderWatchHead();
    }
  },
  error: onError,
};

function onError(f) {
  const p = f.ref ? S.pending[f.ref] : null;
  if (f.ref) delete S.pending[f.ref];
  const kind = p ? p.kind : '';
  if (kind === 'ack' && f.code === 'conflict') {
    toast(f.owner ? t('v.esc.acked_by_other', { name: f.owner }) : t('v.err.conflict'));
    return;
  }
  if (kind === 'watch' && f.code === 'forbidden' && f.field === 'reason') {
    toast(t('v.watch.need_reason'));
    closeWatch();
    return;
  }
  if (kind === 'whisper') {
    byTestId('whisper-send').disabled = false;
    const st = byTestId('whisper-status');
    setText(st, f.code === 'forbidden' ? t('v.watch.forbidden') : f.code === 'conversation_closed' ? t('v.watch.closed') : t('err.generic'));
    show(st);
    return;
  }
  if (kind === 'join' && f.code === 'conversation_closed') { toast(t('v.watch.closed')); if (S.watch) { S.watch.ended = true; renderWatchHead(); } return; }
  if (kind === 'send') {
    const li = transcript.byClient(p.clientId);
    if (li) transcript.setState(li, 'failed');
  }
  if (p && p.dialog) {
    const err = $('#' + p.dialog + '-error');
    setText(err, f.code === 'conflict' ? t('v.err.conflict') : f.code === 'not_found' ? t('v.err.not_found') : t('err.generic'));
    show(err);
    return;
  }
  if (f.code === 'rate_limited') toast(t('err.rate', { n: f.retry_after || 10 }));
  else if (f.code === 'conflict') toast(t('v.err.conflict'));
  else if (f.code === 'not_found') toast(t('v.err.not_found'));
  else toast(t('err.generic'));
}

export function onFrame(f) {
  const fn = Object.prototype.hasOwnProperty.call(handlers, f.type) ? handlers[f.type] : null;
  if (fn) fn(f);
}

/** For tests and later features: register a handler for a WebSocket frame type. */
export function on(type, fn) {
  handlers[type] = fn;
}
