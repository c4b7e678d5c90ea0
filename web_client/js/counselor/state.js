// The counselor console's state: the conversations on this console (each with its
// transcript), duty and queue, and the presence of each worker.

import { h } from '../dom.js';
import { t, fmtClock } from '../i18n.js';
import { Alerts } from '../alerts.js';
import { Transcript } from '../transcript.js';
import { stateEl } from './bubbles.js';

export const RISKS = ['none', 'watch', 'high', 'imminent'];

export const TOPICS = ['work', 'sleep', 'family', 'relation', 'wage', 'injury', 'mood', 'anxiety', 'other'];

export const S = {
  staff: null,
  conn: null,
  duty: { on: false, load: 0, capacity: 2, draining: false },
  queue: { length: 0, longest_wait_s: 0 },
  convs: new Map(),   // id -> conversation view state
  order: [],          // ids in tab order
  active: null,       // selected id
  noteFor: null,      // id whose note form is showing
  lastTypingSent: 0,
  resources: null,     // referral directory, null until loaded
  resourcesError: false,
};

// Sound, desktop notifications and the title count (issue 21).
export const alerts = new Alerts({ key: 'yz.c.sound', title: () => t('c.title') });

/** online | away | gone, from the worker_presence the server sent and the clock. */
export function presenceOf(c) {
  const p = c.presence;
  if (!p || !p.away_since) return 'online';
  return p.gone_at && Date.now() >= new Date(p.gone_at).getTime() ? 'gone' : 'away';
}

export function presenceNote(c) {
  const state = presenceOf(c);
  if (state === 'online' || c.ended) return '';
  const at = c.presence.release_at ? fmtClock(c.presence.release_at) : '';
  return t(state === 'gone' ? 'pr.gone.note' : 'pr.away.note', { t: at });
}

export function getConv(id, init) {
  let c = S.convs.get(id);
  if (!c) {
    c = {
      id: id, alias: '', status: 'active', lastSeq: 0, risk: 'none',
      matchedAt: null, lastAt: null, unread: 0, workerAway: false, ended: false, handover: false,
      log: h('ol', { class: 'chat-log', role: 'log', 'aria-live': 'polite', testid: 'chat-log' }),
      scratch: '', whispers: [], typingTimer: null, draft: '', lastReadSent: 0,
      escId: null, noSupervisor: false, realert: false, wrapupUntil: null, flagMsg: '',
      // The pre-chat screen, the escalation's status and grounds, and the hand-over point:
      // counselor messages at or below handoverSeq were another counselor's.
      screen: null, escStatus: null, escReasons: [], handoverSeq: null,
    };
    c.transcript = new Transcript(c.log, { stateEl: stateEl });
    S.convs.set(id, c);
    S.order.push(id);
  }
  if (init) {
    if (init.alias) c.alias = init.alias;
    if (init.status) c.status = init.status;
    // The view's level is the true current one (max of messages, escalation and screen).
    if (RISKS.indexOf(init.risk_level) >= 0) c.risk = init.risk_level;
    if ('screen' in init) c.screen = init.screen || null;
    if ('handover_seq' in init) c.handoverSeq = init.handover_seq == null ? null : Number(init.handover_seq);
    if ('escalation' in init) setEscalation(c, init.escalation);
    if (init.matched_at) c.matchedAt = init.matched_at;
    if (init.handover) c.handover = true;
    if (init.worker_presence) { c.presence = init.worker_presence; c.workerAway = !!init.worker_presence.away_since; }
  }
  c.log.setAttribute('aria-label', c.alias || '');
  return c;
}

export function removeConv(id) {
  S.convs.delete(id);
  S.order = S.order.filter((x) => x !== id);
  if (S.active === id) S.active = null;
}

/** The conversation's escalation as the counselor is told it (view or escalation_status). */
export function setEscalation(c, e) {
  if (!e || e.status === 'resolved') {
    c.escId = null; c.escStatus = e ? 'resolved' : null; c.realert = false;
    if (e) c.escReasons = e.reasons || c.escReasons;
    return;
  }
  c.escId = e.id || e.escalation_id || c.escId;
  c.escStatus = e.status;
  c.escReasons = e.reasons || [];
  // The "not yet acknowledged" banner lasts only while nobody has acknowledged it.
  c.realert = e.status === 'open' && !!e.realerted;
  if (e.status !== 'open') c.noSupervisor = false;
}
