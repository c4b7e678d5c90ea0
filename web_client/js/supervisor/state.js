// The supervisor board's state, its settings, the alert (chime, notification, title)
// and the small helpers every panel uses.

import { $, byTestId, h } from '../dom.js';
import { t } from '../i18n.js';
import { Alerts } from '../alerts.js';
import { toast } from '../staff.js';

export const POLL_MS = 5000;
export const SLOW_POLL_MS = 60000;
export const RATING_WEEKS = 8;
export const LOW_AVERAGE = 3;       // a weekly or overall average below this stands out
export const MAX_SANE_WAIT_S = 7 * 86400;
export const STALE_MS = 35000;
export const REPEAT_CHIME_MS = 30000;
export const RISKS = ['none', 'watch', 'high', 'imminent'];
export const SEVERITY = { imminent: 3, high: 2, watch: 1, none: 0 };
export const OUTCOMES = ['safe_plan', 'referred', 'emergency_services', 'false_alarm', 'worker_left', 'other'];
export const NEXT_STATUS = {
  proposed: ['accepted', 'declined', 'contacted'],
  accepted: ['contacted', 'completed', 'declined'],
  contacted: ['completed', 'declined'],
};
const SOUND_KEY = 'yz.v.sound';

export const S = {
  staff: null,
  conn: null,
  status: null,
  statusAt: 0,
  queue: { length: null, longest_wait_s: null },
  queueAt: 0,               // when S.queue was last set (frame or board)
  board: null,              // GET /api/supervisor/board
  boardError: false,
  ratings: null,            // GET /api/supervisor/ratings
  ratingsError: false,
  quietEsc: new Set(),      // escalation ids whose alert went to the on-shift supervisor
  referralsLoading: null,   // escalation id whose referrals are being read
  referralsError: null,     // escalation id whose referrals could not be read
  escalations: new Map(),   // id -> escalation object from the server
  followups: null,          // null = not loaded, [] = none
  followupsError: false,
  roster: null,
  rosterError: false,
  resources: null,
  referrals: new Map(),     // escalation id -> [referral]
  watch: null,              // {convId, alias, escId, reason, lastSeq, joined, ended}
  pending: {},              // ref -> {kind, ...}
  dialogEsc: null,          // escalation id the open dialog is about
  sound: true,
  lastChime: 0,
};

// Sound (on by default, heard once the page has had a click), desktop notifications and
// the title badge live in alerts.js; the stored preference keeps its old key.
export const alerts = new Alerts({ key: SOUND_KEY, title: () => t('v.title'), soundButton: byTestId('sound-toggle'), hint: $('#sound-hint') });

/** A soft two-tone chime (four tones when urgent); a desktop notification if hidden. */
export function chime(urgent, notifyIt) {
  S.lastChime = Date.now();
  S.sound = alerts.sound;
  alerts.chime(urgent);
  if (notifyIt) {
    alerts.notify(t('al.v.escalation'), t('al.v.escalation.body'), 'esc', true);
    if (document.visibilityState !== 'visible') alerts.setCount(alerts.count + 1);
  }
}

export function renderSound() { alerts.render(); }

export function send(frame, pending) {
  if (!S.conn || !S.conn.isReady()) { toast(t('conn.reconnecting')); return null; }
  const ref = S.conn.nextRef();
  frame.ref = ref;
  if (pending) S.pending[ref] = pending;
  S.conn.send(frame);
  return ref;
}

export function levelOf(e) { return RISKS.indexOf(e && e.level) >= 0 ? e.level : 'none'; }

export function badge(level, testid) {
  const lv = RISKS.indexOf(level) >= 0 ? level : 'none';
  return h('span', { class: ['badge', 'risk-' + lv], testid: testid, data: { risk: lv }, text: t('s.risk.' + lv) });
}

export function secondsLeft(e) {
  if (!e.ack_deadline) return null;
  return Math.round((new Date(e.ack_deadline).getTime() - Date.now()) / 1000);
}

export function sortedEscalations() {
  return Array.from(S.escalations.values())
    .filter((e) => e.status !== 'resolved')
    .sort((a, b) => (SEVERITY[b.level] || 0) - (SEVERITY[a.level] || 0)
      || String(b.opened_at).localeCompare(String(a.opened_at)));
}

export function nameOf(x) {
  if (!x) return '';
  return typeof x === 'string' ? x : (x.display_name || '');
}

export function kindLabel(kind) { return t('x.kind.' + (kind || 'other')); }

/** A referral's or follow-up's `resource`: an object, or only its name (status answers
 *  and follow-ups carry the name). */
export function resOf(x) {
  if (!x) return {};
  return typeof x === 'string' ? { name: x } : x;
}
