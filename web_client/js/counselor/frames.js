// What the counselor console does with each frame of /ws/staff (docs/PROTOCOL.md, "Staff
// frames" and "Crisis"): a table of handlers, one per frame type.

import { $, byTestId, setText, show } from '../dom.js';
import { t, fmtWhen } from '../i18n.js';
import { toast } from '../staff.js';
import { RISKS, S, alerts, presenceNote, getConv, removeConv, setEscalation } from './state.js';
import { renderTabs, renderTop, select } from './tabs.js';
import { renderPane, addNote, onMessage, outbox, pendingBubble, transmit, scheduleResend, showTyping } from './pane.js';
import { onEnded } from './notes.js';
import { renderWhispers, loadMyEscalations } from './side.js';

/** Re-render what shows conversation c: its tab, and the pane if it is selected. */
function changed(c) {
  renderTabs();
  if (S.active === c.id) renderPane();
}

/** A handler that needs the conversation the frame names (ignored if not on this console). */
function forConv(fn) {
  return (f) => {
    const c = S.convs.get(f.conversation_id);
    if (c) fn(c, f);
  };
}

const handlers = {
  welcome: onWelcome,
  duty(f) {
    S.duty = { on: !!f.on, load: f.load || 0, capacity: f.capacity || S.duty.capacity, draining: !!f.draining };
    renderTop(); renderTabs();
  },
  queue_stats(f) {
    S.queue = { length: f.length || 0, longest_wait_s: f.longest_wait_s || 0 };
    renderTop();
  },
  assigned(f) {
    const conv = f.conversation || {};
    const c = getConv(conv.id, conv);
    c.matchedAt = c.matchedAt || new Date().toISOString();
    if (conv.handover) addNote(c, t('c.chat.handover'));
    const fresh = !c.announced;
    c.announced = true;
    S.conn.send({ type: 'sync', conversation_id: c.id, after_seq: 0 });
    if (!S.active || (S.noteFor !== '__done__' && !S.convs.get(S.active))) select(c.id);
    else renderTabs();
    toast(c.alias);
    if (fresh) alerts.alert({ title: t('al.assigned', { alias: c.alias }), body: t('al.assigned.body'), tag: 'assigned-' + c.id });
  },
  message: onMessage,
  synced: forConv((c) => { c.live = true; }),
  ack(f) {
    outbox.drop(f.client_id);
    const c = S.convs.get(f.conversation_id);
    if (c) c.transcript.setState(c.transcript.byClient(f.client_id), 'sent');
  },
  typing: forConv((c, f) => { if (f.from === 'worker') showTyping(c); }),
  ended: onEnded,
  worker_away: forConv(onPresence),
  worker_back: forConv(onPresence),
  whisper: forConv((c, f) => {
    // {type:'whisper', id, conversation_id, from: {id, display_name}, text, at}. Never shown to the worker.
    if (f.id !== undefined && c.whispers.some((w) => w.id === f.id)) return;
    const from = f.from && typeof f.from === 'object' ? f.from.display_name : f.from;
    c.whispers.push({ id: f.id, from: from ? String(from) : '', text: String(f.text || ''), at: f.at });
    if (S.active === c.id) renderWhispers(c);
    toast(t('c.whisper.new', { alias: c.alias }), 8000);
  }),
  risk: forConv((c, f) => {
    const level = f.level || f.risk_level;
    if (RISKS.indexOf(level) < 0) return;
    if (level !== c.risk) addNote(c, t('c.risk.changed', { level: t('s.risk.' + level) }));
    c.risk = level;
    changed(c);
    if ((level === 'high' || level === 'imminent') && !c.escId) loadMyEscalations();
  }),
  flagged: forConv((c, f) => {
    if (f.escalation_id) c.escId = f.escalation_id;
    if (RISKS.indexOf(f.level) > RISKS.indexOf(c.risk)) c.risk = f.level;
    c.flagMsg = f.escalation_id ? t('c.flag.sent.esc', { level: t('s.risk.' + f.level) }) : t('c.flag.sent.watch');
    changed(c);
  }),
  no_supervisor: forConv((c, f) => {
    c.noSupervisor = true;
    if (f.escalation_id) c.escId = f.escalation_id;
    toast(t('c.no_supervisor'), 12000);
    if (S.active === c.id) renderPane();
  }),
  escalation(f) {
    // Counselors get these only when no supervisor is connected, or on a missed deadline.
    const e = f.escalation || {};
    const c = S.convs.get(e.conversation_id);
    if (!c) return;
    if (e.status === 'open' && c.escId !== e.id) alerts.alert({ title: t('al.escalation', { alias: c.alias }), body: t('al.escalation.body'), tag: 'esc-' + e.id, urgent: true, always: true });
    c.escId = e.status === 'resolved' ? null : e.id;
    c.escStatus = e.status || c.escStatus;
    c.escReasons = e.reasons || c.escReasons;
    if (f.no_supervisor) c.noSupervisor = true;
    c.realert = !!f.realert && e.status === 'open';
    if (e.status !== 'open') c.realert = false;
    if (RISKS.indexOf(e.level) > RISKS.indexOf(c.risk)) c.risk = e.level;
    changed(c);
  },
  escalation_status: forConv((c, f) => {
    // Every change of this conversation's own escalation (only its counselor gets these).
    const before = c.escStatus;
    setEscalation(c, f);
    if (f.status !== 'resolved' && RISKS.indexOf(f.level) >= 0 && f.level !== c.risk) {
      addNote(c, t('c.risk.changed', { level: t('s.risk.' + f.level) }));
      c.risk = f.level;
    }
    if (before !== f.status && f.status !== 'open') addNote(c, t('c.esc.status.' + f.status));
    changed(c);
  }),
  supervisor_joined: forConv((c, f) => addNote(c, t('c.supervisor_joined', { name: f.display_name || '' }))),
  handed_over: forConv((c) => {
    toast(t('c.handed_over', { alias: c.alias }), 10000);
    outbox.keep((x) => x.conversation_id !== c.id);
    removeConv(c.id);
    if (!S.active && S.order.length) select(S.order[0]);
    else { renderTabs(); renderPane(); }
  }),
  error: onError,
};

export function onFrame(f) {
  const handle = Object.prototype.hasOwnProperty.call(handlers, f.type) ? handlers[f.type] : null;
  if (handle) handle(f);
}

function onPresence(c, f) {
  c.workerAway = f.type === 'worker_away';
  c.presence = c.workerAway ? { away_since: f.away_since || new Date().toISOString(), gone_at: f.gone_at || null, release_at: f.release_at || null } : null;
  addNote(c, c.workerAway ? (presenceNote(c) || t('c.chat.worker_away')) : t('c.chat.worker_back'));
  changed(c);
}

function onWelcome(f) {
  if (f.staff) S.staff = Object.assign({}, S.staff || {}, f.staff);
  setText(byTestId('staff-name'), (S.staff && S.staff.display_name) || '');
  if (f.duty) S.duty = f.duty;
  if (f.queue) S.queue = f.queue;
  const live = new Set();
  for (const conv of f.conversations || []) {
    const c = getConv(conv.id, conv);
    live.add(conv.id);
    S.conn.send({ type: 'sync', conversation_id: c.id, after_seq: c.lastSeq });
  }
  // Conversations we knew that are gone ended while we were away: they still need a note.
  for (const id of S.order) {
    const c = S.convs.get(id);
    if (!live.has(id) && !c.ended) { c.ended = true; c.status = 'ended'; }
  }
  // Resend what was never acknowledged, in order.
  outbox.keep((x) => live.has(x.conversation_id));
  for (const item of outbox.items) {
    const c = S.convs.get(item.conversation_id);
    if (c && !c.transcript.byClient(item.client_id)) c.transcript.addPending(pendingBubble(item));
    transmit(item);
  }
  renderTop();
  if (!S.active && S.order.length) select(S.order[0]);
  else { renderTabs(); renderPane(); }
  if (S.order.length) loadMyEscalations();
}

function onError(f) {
  if (f.ref && f.ref.indexOf('flag:') === 0) {
    const status = $('#flag-status');
    const msg = f.code === 'unknown_type' ? t('c.flag.unsupported') : f.code === 'bad_field' ? t('c.flag.need_reason') : f.code === 'not_found' ? t('c.err.conversation_closed') : t('err.generic');
    const c = S.convs.get(S.active);
    if (c) c.flagMsg = msg;
    setText(status, msg);
    show(status);
    return;
  }
  const clientId = outbox.refused(f.ref);
  if (clientId) {
    const item = outbox.find(clientId);
    const c = item && S.convs.get(item.conversation_id);
    if (item && (f.code === 'unavailable' || f.code === 'rate_limited')) {
      // Nothing was stored, and later sends of the conversation wait for this one
      // (docs/PROTOCOL.md, "A sender's order"): resend them all, in order, after the pause.
      scheduleResend(item.conversation_id, f.retry_after_ms || 1000);
      return;
    }
    if (c) c.transcript.setState(c.transcript.byClient(clientId), 'failed');
    if (f.code === 'conversation_closed') toast(t('c.err.conversation_closed'));
    return;
  }
  if (f.code === 'service_closed') toast(t('c.err.service_closed'));
  else if (f.code === 'not_on_duty') toast(t('c.err.not_on_duty'));
  else if (f.code === 'forbidden' && f.reason === 'not_scheduled') {
    // Say so, with the next shift, instead of the generic error (issue 20).
    const next = f.next_shift;
    toast(next ? t('c.err.not_scheduled_next', { when: fmtWhen(next.start), n: f.lead_minutes || 0 }) : t('c.err.not_scheduled'), 12000);
    renderTop();
  }
  else if (f.code === 'rate_limited') toast(t('err.rate', { n: f.retry_after || 10 }));
  else toast(t('err.generic'));
}
