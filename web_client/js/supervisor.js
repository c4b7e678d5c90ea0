// Supervisor board. Live from /ws/staff (welcome.escalations, escalation, queue_stats,
// watching/message/whisper/join answers), polled from /api/status + /api/supervisor/board
// (every 5 s), /api/roster/today, /api/supervisor/followups and /api/supervisor/ratings
// (every 60 s). Text typed by people is always set with textContent.

import { $, $$, byTestId, h, clear, setText, show, hide, openDialog, closeDialog, newClientId, telHref } from './dom.js';
import { api, ApiError } from './api.js';
import { Connection } from './connection.js';
import { t, applyI18n, onLangChange, fmtClock, fmtDuration, fmtWhen, fmtHours } from './i18n.js';
import './strings-crisis.js';
import './strings-alerts.js';
import { Alerts } from './alerts.js';
import { showView, toast, wireLangToggles, currentStaff, wireSignin, showSignin, signOut, connLabel } from './staff.js';

const POLL_MS = 5000;
const SLOW_POLL_MS = 60000;
const RATING_WEEKS = 8;
const LOW_AVERAGE = 3;       // a weekly or overall average below this stands out
const MAX_SANE_WAIT_S = 7 * 86400;
const STALE_MS = 35000;
const REPEAT_CHIME_MS = 30000;
const RISKS = ['none', 'watch', 'high', 'imminent'];
const SEVERITY = { imminent: 3, high: 2, watch: 1, none: 0 };
const OUTCOMES = ['safe_plan', 'referred', 'emergency_services', 'false_alarm', 'worker_left', 'other'];
const NEXT_STATUS = {
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
  watch: null,              // {convId, alias, escId, reason, lastSeq, seen, joined, ended}
  pending: {},              // ref -> {kind, ...}
  dialogEsc: null,          // escalation id the open dialog is about
  sound: true,
  lastChime: 0,
};

// ---------------------------------------------------------------- sound

// Sound (on by default, heard once the page has had a click), desktop notifications and
// the title badge live in alerts.js; the stored preference keeps its old key.
const alerts = new Alerts({ key: SOUND_KEY, title: () => t('v.title'), soundButton: byTestId('sound-toggle'), hint: $('#sound-hint') });

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

function renderSound() { alerts.render(); }

// ---------------------------------------------------------------- helpers

function send(frame, pending) {
  if (!S.conn || !S.conn.isReady()) { toast(t('conn.reconnecting')); return null; }
  const ref = S.conn.nextRef();
  frame.ref = ref;
  if (pending) S.pending[ref] = pending;
  S.conn.send(frame);
  return ref;
}

function levelOf(e) { return RISKS.indexOf(e && e.level) >= 0 ? e.level : 'none'; }

function badge(level, testid) {
  const lv = RISKS.indexOf(level) >= 0 ? level : 'none';
  return h('span', { class: ['badge', 'risk-' + lv], testid: testid, data: { risk: lv }, text: t('s.risk.' + lv) });
}

function secondsLeft(e) {
  if (!e.ack_deadline) return null;
  return Math.round((new Date(e.ack_deadline).getTime() - Date.now()) / 1000);
}

function sortedEscalations() {
  return Array.from(S.escalations.values())
    .filter((e) => e.status !== 'resolved')
    .sort((a, b) => (SEVERITY[b.level] || 0) - (SEVERITY[a.level] || 0)
      || String(b.opened_at).localeCompare(String(a.opened_at)));
}

function nameOf(x) {
  if (!x) return '';
  return typeof x === 'string' ? x : (x.display_name || '');
}

function kindLabel(kind) { return t('x.kind.' + (kind || 'other')); }

/** A referral's or follow-up's `resource`: an object, or only its name (status answers
 *  and follow-ups carry the name). */
function resOf(x) {
  if (!x) return {};
  return typeof x === 'string' ? { name: x } : x;
}

// ---------------------------------------------------------------- renderers: queue, service, counselors

function renderQueue() {
  const st = S.status || {};
  const length = S.queue.length !== null && S.queue.length !== undefined ? S.queue.length : st.queue_length;
  setText(byTestId('queue-length'), length === null || length === undefined ? '–' : String(length));
  // A wait longer than a week is not a wait but a bad value (never shown as one).
  const raw = S.queue.longest_wait_s;
  const longest = typeof raw === 'number' && raw >= 0 && raw <= MAX_SANE_WAIT_S ? raw : null;
  setText(byTestId('longest-wait'), length === 0 ? '0' : longest === null ? '–' : fmtDuration(longest));
  setText(byTestId('queue-eta'), typeof st.estimated_wait_s === 'number' ? t('v.queue.eta') + '：' + fmtDuration(st.estimated_wait_s) : '');
}

function renderCounselors() {
  const list = byTestId('counselor-list');
  clear(list);
  const free = byTestId('counselors-free');
  const note = byTestId('counselors-note');
  note.classList.remove('is-danger');
  const b = S.board;
  if (b && Array.isArray(b.counselors)) {
    // Not heard from first (that is the danger), then those winding down, then by name.
    const rank = (c) => (c.present === false ? 0 : c.draining ? 2 : 1);
    const people = b.counselors.slice().sort((x, y) => rank(x) - rank(y)
      || String(x.display_name || '').localeCompare(String(y.display_name || ''), 'zh-CN'));
    const present = people.filter((c) => c.present !== false);
    setText(byTestId('counselors-on-duty'), String(present.length));
    for (const c of people) list.appendChild(counselorItem(c));
    const seats = present.filter((c) => !c.draining)
      .reduce((n, c) => n + Math.max(0, (Number(c.capacity) || 0) - (Number(c.load) || 0)), 0);
    setText(free, !people.length ? t('v.counselors.empty') : seats > 0 ? t('v.couns.free', { n: seats }) : t('v.couns.full'));
    free.classList.toggle('is-full', people.length > 0 && seats === 0);
    const absent = people.length - present.length;
    setText(note, absent ? t('v.couns.absent.count', { n: absent }) : '');
    note.classList.toggle('is-danger', absent > 0);
    return;
  }
  // No board yet (or it failed): the number from /api/status and, with a roster, who is
  // scheduled now and on duty.
  const st = S.status || {};
  const n = st.counselors_on_duty;
  setText(byTestId('counselors-on-duty'), n === null || n === undefined ? '–' : String(n));
  free.classList.remove('is-full');
  setText(free, n === 0 ? t('v.counselors.empty') : '');
  const r = S.roster;
  if (r && Array.isArray(r.scheduled_now)) {
    const missing = new Set((r.scheduled_not_on_duty || []).map((x) => x.staff_id));
    for (const s of r.scheduled_now) {
      if (s.role !== 'counselor' || missing.has(s.staff_id)) continue;
      list.appendChild(h('li', { class: 'person', testid: 'counselor', data: { id: s.staff_id } },
        h('span', { class: 'dot dot-ok', 'aria-hidden': 'true' }),
        h('span', { text: s.display_name || s.username || '' }),
        h('span', { class: 'muted small', text: t('v.roster.until', { t: fmtClock(s.end) }) })));
    }
  }
  setText(note, S.boardError ? t('v.couns.error') : '');
}

function counselorItem(c) {
  const load = Math.max(0, Number(c.load) || 0);
  const cap = Math.max(0, Number(c.capacity) || 0);
  const absent = c.present === false;
  const pips = h('span', { class: 'seats', 'aria-hidden': 'true' });
  for (let i = 0; i < Math.max(cap, load); i++) pips.appendChild(h('span', { class: ['seat', i < load ? 'is-taken' : ''] }));
  return h('li', {
    class: ['person', 'counselor', absent ? 'is-absent' : '', c.draining ? 'is-draining' : '', cap && load >= cap ? 'is-full' : ''],
    testid: 'counselor',
    data: { id: c.id, load: load, capacity: cap, present: absent ? 'false' : 'true', draining: c.draining ? 'true' : 'false' },
  },
  h('span', { class: ['dot', absent ? 'dot-danger' : c.draining ? '' : 'dot-ok'], 'aria-hidden': 'true' }),
  h('span', { class: 'counselor-name', text: c.display_name || '' }),
  h('span', { class: 'load', testid: 'counselor-load', 'aria-label': t('v.couns.load.aria', { load: load, cap: cap }) },
    pips, h('span', { class: 'load-text', text: t('v.couns.load', { load: load, cap: cap }) })),
  c.draining ? h('span', { class: 'pill pill-draining', testid: 'counselor-draining', text: t('v.couns.draining') }) : null,
  absent ? h('span', { class: 'pill pill-absent', testid: 'counselor-absent', title: t('v.couns.absent.hint'), text: t('v.couns.absent') }) : null);
}

function renderService() {
  const st = S.status;
  const line = byTestId('service-state');
  if (!st) { setText(line, '–'); return; }
  line.classList.toggle('is-open', !!st.open);
  setText(line, st.open ? t('v.service.open', { close: (st.hours && st.hours.close) || fmtClock(st.closes_at) }) : t('v.service.closed', { next: fmtWhen(st.next_open, st.now) }));
  setText($('#service-hours'), fmtHours(st.hours));
}

function renderRisk() {
  const list = byTestId('risk-distribution');
  clear(list);
  const fromBoard = S.board && S.board.conversations_by_risk;
  const counts = { none: 0, watch: 0, high: 0, imminent: 0 };
  if (fromBoard) {
    for (const lv of RISKS) counts[lv] = Math.max(0, Number(fromBoard[lv]) || 0);
  } else {
    for (const e of sortedEscalations()) counts[levelOf(e)] += 1;
  }
  for (const lv of RISKS.slice().reverse()) {
    const n = counts[lv];
    list.appendChild(h('li', { class: n ? 'risk-' + lv : 'risk-none', data: { risk: lv, count: n }, testid: 'risk-count-' + lv },
      h('span', { class: 'count', text: String(n) }),
      h('span', { text: t('s.risk.' + lv) })));
  }
  list.setAttribute('data-source', fromBoard ? 'board' : 'escalations');
  setText(byTestId('risk-note'), fromBoard || !S.boardError ? t('v.risk.note') : t('v.risk.note.fallback'));
}

// ---------------------------------------------------------------- board + ratings

let boardTimer = null;
/** Soon after an escalation changes, read the board again so risk counts follow. */
function boardSoon() {
  clearTimeout(boardTimer);
  boardTimer = setTimeout(loadBoard, 600);
}

async function loadBoard() {
  const asked = Date.now();
  try {
    const b = await api('/api/supervisor/board', { timeout: 8000 });
    S.board = b || null;
    S.boardError = false;
    // A queue_stats frame newer than this request wins.
    if (b && b.queue && asked >= S.queueAt) {
      S.queue = { length: b.queue.length, longest_wait_s: b.queue.longest_wait_s };
      S.queueAt = asked;
    }
  } catch (e) {
    S.boardError = true;
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) S.board = null;
  }
  renderQueue(); renderCounselors(); renderRisk();
}

async function loadRatings() {
  try {
    S.ratings = await api('/api/supervisor/ratings?weeks=' + RATING_WEEKS, { timeout: 8000 });
    S.ratingsError = false;
  } catch (e) {
    S.ratingsError = true;
  }
  renderRatings();
}

/** ISO week label ("2026-W48") of a moment, in the service time zone (UTC+8, no DST). */
function isoWeek(ms) {
  const d = new Date(ms + 8 * 3600 * 1000);
  const day = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const dow = day.getUTCDay() || 7;
  day.setUTCDate(day.getUTCDate() + 4 - dow);
  const y = day.getUTCFullYear();
  const w = Math.ceil(((day.getTime() - Date.UTC(y, 0, 1)) / 86400000 + 1) / 7);
  return y + '-W' + (w < 10 ? '0' : '') + w;
}

function fmtAvg(a) {
  return typeof a === 'number' && !isNaN(a) ? a.toFixed(1) : '–';
}

function renderRatings() {
  const table = byTestId('ratings');
  const body = $('#ratings-body');
  const empty = byTestId('ratings-empty');
  const status = byTestId('ratings-status');
  clear(body);
  const r = S.ratings;
  const people = (r && Array.isArray(r.counselors) ? r.counselors : []).slice()
    .sort((a, b) => (a.average === null) - (b.average === null) || (a.average || 0) - (b.average || 0));
  const weeks = (r && r.weeks) || RATING_WEEKS;
  const lowScore = (r && r.low_score) || 2;
  // The strip's columns: the last `weeks` ISO weeks, plus an older partial one if it has data.
  const labels = [];
  for (let i = weeks - 1; i >= 0; i--) labels.push(isoWeek(Date.now() - i * 7 * 86400000));
  const older = people.flatMap((p) => (p.weeks || []).map((w) => w.week)).filter((w) => w < labels[0]);
  if (older.length) labels.unshift(older.sort()[0]);
  for (const p of people) {
    const low = Number(p.low) || 0;
    const lowAvg = typeof p.average === 'number' && p.average < LOW_AVERAGE;
    const byWeek = new Map((p.weeks || []).map((w) => [w.week, w]));
    const strip = h('ol', { class: 'week-strip', testid: 'rating-weeks' });
    for (const label of labels) {
      const w = byWeek.get(label);
      const text = w
        ? t('v.ratings.week', { w: label, a: fmtAvg(w.average), n: w.count, l: w.low })
        : t('v.ratings.week.none', { w: label });
      const step = w && typeof w.average === 'number' ? Math.min(50, Math.max(10, Math.round(w.average * 2) * 5)) : 0;
      strip.appendChild(h('li', {
        class: ['wk', w ? '' : 'is-none', w && w.average < LOW_AVERAGE ? 'is-low' : '', w && w.low > 0 ? 'has-low' : ''],
        title: text, data: { week: label, step: step || null },
      }, h('span', { class: 'wk-bar', 'aria-hidden': 'true' }), h('span', { class: 'visually-hidden', text: text })));
    }
    body.appendChild(h('tr', {
      class: ['rating-row', lowAvg ? 'is-low' : '', low > 0 ? 'has-low' : ''],
      testid: 'rating-row', data: { 'staff-id': p.id, average: p.average, low: low },
    },
    h('th', { scope: 'row', class: 'rating-name', text: p.display_name || '' }),
    h('td', { class: 'num' }, h('span', { class: ['avg', lowAvg ? 'is-low' : ''], testid: 'rating-average', text: fmtAvg(p.average) })),
    h('td', { class: 'num muted', testid: 'rating-count', text: String(p.count || 0) }),
    h('td', { class: 'num' }, h('span', { class: ['low', low > 0 ? 'is-low' : ''], testid: 'rating-low', data: { low: low }, text: String(low) })),
    h('td', {}, strip)));
  }
  show(table, people.length > 0);
  show(empty, !!r && !S.ratingsError && people.length === 0);
  setText(status, S.ratingsError ? t('v.ratings.error') : !r ? t('loading') : t('v.ratings.note', { n: weeks, low: lowScore }));
}

// ---------------------------------------------------------------- escalations

// A reason id without a label (a rule added since) shows as "other grounds", never as a
// raw id; tests/test_crisis_strings.py keeps every rule id labelled in both languages.
function reasonLabel(r) {
  const key = 'v.reason.' + r;
  const s = t(key);
  return s === key ? t('v.reason.other') : s;
}

function countdownText(e) {
  const left = secondsLeft(e);
  if (left === null) return '';
  return left > 0 ? t('v.esc.deadline', { t: left < 60 ? left + 's' : fmtDuration(left) }) : t('v.esc.overdue');
}

export function renderEscalations() {
  const list = $('#esc-list');
  const focusedAction = document.activeElement && list.contains(document.activeElement)
    ? [document.activeElement.closest('[data-id]') && document.activeElement.closest('[data-id]').getAttribute('data-id'), document.activeElement.getAttribute('data-testid')]
    : null;
  clear(list);
  const items = sortedEscalations();
  for (const e of items) {
    const lv = levelOf(e);
    const open = e.status === 'open';
    const left = secondsLeft(e);
    const meta = [
      e.counselor ? t('v.esc.counselor', { name: nameOf(e.counselor) }) : t('v.esc.nocounselor'),
      t('v.esc.source.' + (e.source || 'message')),
      t('v.esc.opened', { t: fmtClock(e.opened_at) }),
    ].join(' · ');
    const reasons = (e.reasons || []).map(reasonLabel).join('、');
    const actions = h('div', { class: 'esc-actions' },
      open ? h('button', { type: 'button', class: 'btn btn-danger btn-small', testid: 'esc-ack', text: t('v.esc.ack'), on: { click: () => ack(e.id) } }) : null,
      h('button', { type: 'button', class: 'btn btn-secondary btn-small', testid: 'esc-watch', text: t('v.esc.watch'), on: { click: () => startWatch(e) } }),
      h('button', { type: 'button', class: 'btn btn-secondary btn-small', testid: 'esc-level', text: t('v.esc.level'), on: { click: () => openLevel(e.id) } }),
      h('button', { type: 'button', class: 'btn btn-secondary btn-small', testid: 'esc-refer', text: t('v.esc.refer'), on: { click: () => openRefer(e.id) } }),
      h('button', { type: 'button', class: 'btn btn-quiet btn-small', testid: 'esc-resolve', text: t('v.esc.resolve'), on: { click: () => openResolve(e.id) } }));
    const quiet = isQuiet(e);
    const li = h('li', {
      class: ['card', 'escalation', 'esc-' + lv, open ? 'is-open' : 'is-acked', quiet ? 'is-quiet' : '', open && left !== null && left <= 0 ? 'is-overdue' : '', S.watch && S.watch.convId === e.conversation_id ? 'is-watched' : ''],
      testid: 'escalation', data: { id: e.id, level: lv, status: e.status, conversation: e.conversation_id, alert: quiet ? 'others' : 'me' },
    },
    h('div', { class: 'esc-top' },
      badge(lv, 'esc-level-badge'),
      h('strong', { class: 'esc-alias', text: e.alias || '' }),
      h('span', { class: ['pill', open ? 'pill-open' : 'pill-acked'], testid: 'esc-status',
        text: open ? t('v.esc.status.open') : (e.owner ? t('v.esc.owner', { name: nameOf(e.owner) }) : t('v.esc.status.' + e.status)) }),
      e.realerted && open ? h('span', { class: 'pill pill-open', text: t('v.esc.realerted') }) : null,
      quiet ? h('span', { class: 'pill pill-quiet', testid: 'esc-alert-other', text: t('v.esc.alert_other') }) : null,
      open && left !== null ? h('span', { class: 'countdown', testid: 'ack-countdown', data: { deadline: e.ack_deadline }, 'aria-live': 'off', text: countdownText(e) }) : null),
    h('p', { class: 'esc-meta small', text: meta }),
    reasons ? h('p', { class: 'esc-reasons small' }, h('span', { class: 'muted', text: t('v.esc.reasons') + '：' }), reasons) : null,
    actions);
    list.appendChild(li);
  }
  if (focusedAction && focusedAction[0]) {
    const back = $('[data-id="' + focusedAction[0] + '"] [data-testid="' + focusedAction[1] + '"]', list);
    if (back) back.focus();
  }
  // Loud: open and alerting me (not only the on-shift supervisor).
  const loud = items.some((e) => e.status === 'open' && !isQuiet(e));
  setText(byTestId('escalation-count'), String(items.length));
  byTestId('escalation-count').classList.toggle('risk-imminent', loud);
  show($('#esc-empty'), items.length === 0);
  $('[data-panel="escalations"]').classList.toggle('has-items', items.length > 0);
  $('[data-panel="escalations"]').classList.toggle('has-alert', loud);
  alerts.setUrgent(loud);
  renderRisk();
}

/** Tick: only the countdown texts change, so focus and hover are not disturbed. */
function tickCountdowns() {
  let needRerender = false;
  for (const el of $$('[data-deadline]', $('#esc-list'))) {
    const li = el.closest('[data-id]');
    const e = li && S.escalations.get(li.getAttribute('data-id'));
    if (!e) continue;
    setText(el, countdownText(e));
    const over = secondsLeft(e) <= 0;
    if (over !== li.classList.contains('is-overdue')) needRerender = true;
  }
  if (needRerender) renderEscalations();
  // Keep reminding, gently, while anything is unacknowledged.
  const anyOpen = sortedEscalations().some((e) => e.status === 'open' && !isQuiet(e));
  if (anyOpen && Date.now() - S.lastChime > REPEAT_CHIME_MS) chime(false);
}

/** Listed quietly: a new escalation whose alert went to the on-shift supervisor(s) only,
 *  until it is re-alerted (a missed deadline rings for everyone). */
function isQuiet(e) {
  return !!e && e.status === 'open' && S.quietEsc.has(e.id);
}

/** Whether this frame's alert is for me: `alert_to` null means everyone. */
function alertsMe(alertTo) {
  if (!Array.isArray(alertTo)) return true;
  return !!(S.staff && S.staff.id) && alertTo.map(String).indexOf(String(S.staff.id)) >= 0;
}

function upsertEscalation(e, opts) {
  const o = opts || {};
  if (!e || !e.id) return;
  const before = S.escalations.get(e.id);
  if (o.realert) S.quietEsc.delete(e.id);
  else if (o.opened && !before && o.alertMe === false) S.quietEsc.add(e.id);
  if (e.status === 'resolved') {
    S.escalations.delete(e.id);
    S.quietEsc.delete(e.id);
    if (before) toast(t('v.esc.resolved_toast', { alias: e.alias || '' }));
  } else {
    S.escalations.set(e.id, e);
  }
  if (o.realert) {
    chime(true, true);
    toast(t('v.esc.realert', { alias: e.alias || '' }), 8000);
  } else if (S.quietEsc.has(e.id)) {
    // The on-shift supervisor was alerted: list it, no chime, no toast.
  } else if (o.opened || (!before && e.status === 'open' && !o.quiet)) {
    chime(e.level === 'imminent', true);
    toast(t('v.esc.new', { alias: e.alias || '' }), 8000);
  } else if (before && SEVERITY[e.level] > SEVERITY[before.level] && e.status === 'open') {
    chime(e.level === 'imminent');
  }
  if (S.watch && S.watch.convId === e.conversation_id) {
    S.watch.escId = e.status === 'resolved' ? null : e.id;
    renderWatchHead();
  }
  renderEscalations();
}

function ack(id) {
  send({ type: 'ack', escalation_id: id }, { kind: 'ack', id: id });
}

// ---------------------------------------------------------------- watch / whisper / join

function startWatch(e, reason) {
  if (S.watch && S.watch.convId !== e.conversation_id) closeWatch(true);
  if (!S.watch) {
    S.watch = { convId: e.conversation_id, alias: e.alias || '', escId: e.id, reason: reason || '', lastSeq: 0, seen: new Set(), joined: false, ended: false, outbox: {} };
    clear($('#watch-log'));
  }
  const frame = { type: 'watch', conversation_id: e.conversation_id };
  if (reason) frame.reason = reason;
  send(frame, { kind: 'watch', convId: e.conversation_id });
  renderWatchHead();
  show($('#watch-panel'));
  renderEscalations();
  $('#watch-panel').scrollIntoView({ block: 'nearest', behavior: 'smooth' });
}

function closeWatch(silent) {
  S.watch = null;
  clear($('#watch-log'));
  hide($('#watch-panel'));
  if (!silent) renderEscalations();
}

function renderWatchHead() {
  const w = S.watch;
  if (!w) return;
  setText(byTestId('watch-alias'), w.alias);
  const e = w.escId && S.escalations.get(w.escId);
  const lvEl = byTestId('watch-level');
  if (e) {
    lvEl.className = 'badge risk-' + levelOf(e);
    setText(lvEl, t('s.risk.' + levelOf(e)));
    show(lvEl);
  } else hide(lvEl);
  setText(byTestId('watch-mode'), w.ended ? t('v.watch.ended') : w.joined ? t('v.watch.joined') : t('v.watch.readonly'));
  show($('#sv-composer'), w.joined && !w.ended);
  byTestId('join-button').disabled = w.joined || w.ended;
  byTestId('whisper-send').disabled = w.ended;
  $('#watch-panel').classList.toggle('is-joined', w.joined);
}

function fromLabel(from) {
  return t('v.from.' + (['worker', 'counselor', 'supervisor', 'system'].indexOf(from) >= 0 ? from : 'system'));
}

function watchBubble(m, state) {
  const card = m.kind === 'referral' && m.card ? m.card : null;
  const li = h('li', {
    class: ['msg', m.from === 'worker' ? 'msg-theirs' : 'msg-mine', 'msg-from-' + m.from],
    testid: 'watch-message', data: { seq: m.seq, from: m.from, state: state, 'client-id': m.client_id },
  },
  h('p', { class: 'msg-head' }, h('span', { class: 'msg-who', text: fromLabel(m.from) }), h('time', { class: 'msg-time', datetime: m.at || '', text: fmtClock(m.at || new Date()) })),
  card
    ? h('div', { class: 'msg-text ref-card' },
      h('strong', { text: card.name || '' }), ' ',
      card.phone ? h('a', { href: telHref(card.phone), text: card.phone }) : null,
      card.hours ? h('span', { class: 'muted small', text: ' · ' + card.hours }) : null,
      card.note ? h('p', { class: 'small', text: card.note }) : null)
    : h('p', { class: 'msg-text', text: m.text || '' }));
  return li;
}

function watchNote(text) {
  const log = $('#watch-log');
  log.appendChild(h('li', { class: 'msg-note', testid: 'watch-note', text: text }));
  log.scrollTop = log.scrollHeight;
}

function onWatchMessage(m) {
  const w = S.watch;
  if (!w || m.conversation_id !== w.convId) return;
  const seq = Number(m.seq);
  if (w.seen.has(seq)) return;
  w.seen.add(seq);
  if (seq > w.lastSeq) w.lastSeq = seq;
  const log = $('#watch-log');
  const stick = log.scrollHeight - log.scrollTop - log.clientHeight < 120;
  const existing = m.client_id ? $$('li[data-client-id]', log).find((li) => li.getAttribute('data-client-id') === m.client_id) : null;
  const li = watchBubble(m, 'sent');
  if (existing) log.replaceChild(li, existing);
  else {
    const after = $$('li[data-seq]', log).find((x) => Number(x.getAttribute('data-seq')) > seq);
    if (after) log.insertBefore(li, after); else log.appendChild(li);
  }
  if (stick || m.from === 'supervisor') log.scrollTop = log.scrollHeight;
}

function sendWhisper(ev) {
  ev.preventDefault();
  const w = S.watch;
  const input = byTestId('whisper-input');
  const text = input.value.trim();
  if (!w || !text) return;
  S.lastWhisper = text.slice(0, 2000);
  const ref = send({ type: 'whisper', conversation_id: w.convId, text: S.lastWhisper }, { kind: 'whisper' });
  if (ref) byTestId('whisper-send').disabled = true;
}

function join() {
  const w = S.watch;
  if (!w || w.joined) return;
  send({ type: 'join', conversation_id: w.convId }, { kind: 'join' });
}

function sendAsSupervisor(ev) {
  ev.preventDefault();
  const w = S.watch;
  const input = byTestId('sv-input');
  const text = input.value.replace(/\s+$/, '');
  if (!w || !w.joined || !text.trim()) return;
  const clientId = newClientId('v');
  const at = new Date().toISOString();
  $('#watch-log').appendChild(watchBubble({ from: 'supervisor', text: text.slice(0, 2000), at: at, client_id: clientId }, 'sending'));
  $('#watch-log').scrollTop = $('#watch-log').scrollHeight;
  send({ type: 'send', conversation_id: w.convId, client_id: clientId, text: text.slice(0, 2000) }, { kind: 'send', clientId: clientId });
  input.value = '';
}

// ---------------------------------------------------------------- set level / resolve

function openLevel(id) {
  const e = S.escalations.get(id);
  if (!e) return;
  S.dialogEsc = id;
  const wrap = $('#level-choices');
  clear(wrap);
  for (const lv of RISKS) {
    const inputId = 'lv-' + lv;
    const input = h('input', { type: 'radio', name: 'level', id: inputId, value: lv, testid: 'level-' + lv });
    if (lv === e.level) input.checked = true;
    wrap.appendChild(h('span', { class: ['chip', 'chip-risk-' + lv] }, input, h('label', { for: inputId, text: t('s.risk.' + lv) })));
  }
  $('#level-reason').value = '';
  hide($('#level-error'));
  openDialog($('#level-dialog'));
}

function submitLevel(ev) {
  ev.preventDefault();
  const id = S.dialogEsc;
  const chosen = $$('input[name="level"]', $('#level-choices')).find((x) => x.checked);
  const reason = $('#level-reason').value.trim();
  const err = $('#level-error');
  if (!reason) { setText(err, t('v.level.reason')); show(err); $('#level-reason').focus(); return; }
  send({ type: 'set_level', escalation_id: id, level: chosen ? chosen.value : 'high', reason: reason.slice(0, 500) }, { kind: 'set_level', id: id, dialog: 'level' });
}

function openResolve(id) {
  if (!S.escalations.get(id)) return;
  S.dialogEsc = id;
  const wrap = $('#outcome-choices');
  clear(wrap);
  for (const o of OUTCOMES) {
    const inputId = 'oc-' + o;
    wrap.appendChild(h('span', { class: 'chip' },
      h('input', { type: 'radio', name: 'outcome', id: inputId, value: o, testid: 'outcome-' + o }),
      h('label', { for: inputId, text: t('v.outcome.' + o) })));
  }
  const preselect = () => {
    const refs = S.referrals.get(id);
    const any = $$('input[name="outcome"]', wrap).some((x) => x.checked);
    if (refs && refs.length && !any && S.dialogEsc === id) $('#oc-referred').checked = true;
  };
  preselect();
  if (!S.referrals.has(id)) loadReferrals(id).then(preselect);
  $('#resolve-note').value = '';
  hide($('#resolve-error'));
  openDialog($('#resolve-dialog'));
}

function submitResolve(ev) {
  ev.preventDefault();
  const id = S.dialogEsc;
  const chosen = $$('input[name="outcome"]', $('#outcome-choices')).find((x) => x.checked);
  const err = $('#resolve-error');
  if (!chosen) { setText(err, t('v.resolve.outcome')); show(err); return; }
  const frame = { type: 'resolve', escalation_id: id, outcome: chosen.value };
  const note = $('#resolve-note').value.trim();
  if (note) frame.note = note.slice(0, 500);
  send(frame, { kind: 'resolve', id: id, dialog: 'resolve' });
}

// ---------------------------------------------------------------- referrals

async function loadResources() {
  if (S.resources) return S.resources;
  const data = await api('/api/referrals/resources');
  S.resources = ((data && data.resources) || []).filter((r) => !r.disabled);
  return S.resources;
}

async function openRefer(id) {
  const e = S.escalations.get(id);
  if (!e) return;
  S.dialogEsc = id;
  setText($('#refer-alias'), e.alias || '');
  hide($('#refer-error')); hide($('#refer-ok'));
  $('#refer-note').value = '';
  const dir = $('#refer-directory');
  clear(dir);
  dir.appendChild(h('li', { class: 'muted', text: t('x.dir.loading') }));
  renderReferralsMade();
  openDialog($('#refer-dialog'));
  loadReferrals(id).then(() => { if (S.dialogEsc === id) renderReferralsMade(); });
  try {
    const list = await loadResources();
    clear(dir);
    if (!list.length) dir.appendChild(h('li', { class: 'muted', text: t('x.dir.empty') }));
    for (const r of list) {
      const inputId = 'res-' + r.id;
      dir.appendChild(h('li', { class: 'dir-item' },
        h('input', { type: 'radio', name: 'resource', id: inputId, value: r.id, testid: 'refer-resource' }),
        h('label', { for: inputId },
          h('span', { class: 'dir-name', text: r.name }),
          h('span', { class: 'dir-phone', text: r.phone }),
          h('span', { class: 'dir-meta muted small', text: [kindLabel(r.kind), r.hours, r.region].filter(Boolean).join(' · ') }),
          r.verify_before_launch ? h('span', { class: 'pill pill-verify', text: t('x.verify') }) : null)));
    }
  } catch (err) {
    clear(dir);
    dir.appendChild(h('li', { class: 'form-error', text: t('err.generic') }));
  }
}

async function submitRefer(ev) {
  ev.preventDefault();
  const id = S.dialogEsc;
  const chosen = $$('input[name="resource"]', $('#refer-directory')).find((x) => x.checked);
  const err = $('#refer-error');
  hide(err); hide($('#refer-ok'));
  if (!chosen) { setText(err, t('v.refer.need')); show(err); return; }
  const btn = byTestId('refer-submit');
  btn.disabled = true;
  try {
    const ref = await api('/api/escalations/' + encodeURIComponent(id) + '/referrals', {
      method: 'POST', body: { resource_id: chosen.value, note: $('#refer-note').value.trim().slice(0, 500) },
    });
    const list = S.referrals.get(id) || [];
    list.push(ref);
    S.referrals.set(id, list);
    const ok = $('#refer-ok');
    setText(ok, ref && ref.message_seq !== null && ref.message_seq !== undefined ? t('v.refer.sent') : t('v.refer.sent_later'));
    show(ok);
    $('#refer-note').value = '';
    chosen.checked = false;
    renderReferralsMade();
    loadFollowups();
  } catch (e) {
    setText(err, e instanceof ApiError && e.code === 'not_found' ? t('v.err.not_found') : t('err.generic'));
    show(err);
  } finally {
    btn.disabled = false;
  }
}

function statusButtons(referralId, status, onDone) {
  const wrap = h('span', { class: 'status-actions' });
  for (const next of NEXT_STATUS[status] || []) {
    wrap.appendChild(h('button', {
      type: 'button', class: 'btn btn-secondary btn-small', testid: 'referral-to-' + next, text: t('x.ref.to.' + next),
      on: { click: (ev) => setReferralStatus(referralId, next, ev.currentTarget, onDone) },
    }));
  }
  return wrap;
}

async function followupDone(id, btn) {
  // The follow-up call was made: it leaves the list (who and when are recorded).
  btn.disabled = true;
  try {
    await api('/api/supervisor/followups/' + encodeURIComponent(id) + '/done', { method: 'POST', body: {} });
  } catch (e) {
    toast(e instanceof ApiError && e.code === 'not_found' ? t('v.follow.gone') : t('err.generic'));
  }
  loadFollowups();
}

async function setReferralStatus(referralId, status, btn, onDone) {
  if (btn) btn.disabled = true;
  try {
    const updated = await api('/api/referrals/' + encodeURIComponent(referralId) + '/status', { method: 'POST', body: { status: status } });
    for (const list of S.referrals.values()) {
      const i = list.findIndex((r) => r.id === referralId);
      // Keep the phone and kind we had: the answer names the resource only.
      if (i >= 0) list[i] = Object.assign({}, list[i], updated, { resource: Object.assign({}, resOf(list[i].resource), resOf(updated.resource)) });
    }
    if (onDone) onDone(updated);
  } catch (e) {
    if (e instanceof ApiError && e.code === 'conflict') toast(t('v.refer.conflict', { s: t('x.ref.status.' + (e.problem.status_now || '')) }));
    else toast(t('err.generic'));
    if (btn) btn.disabled = false;
  }
}

/** Referrals already made for an escalation (server first, so they survive a reload);
 *  ones added here meanwhile are kept. */
async function loadReferrals(id) {
  S.referralsLoading = id;
  if (S.referralsError === id) S.referralsError = null;
  try {
    const data = await api('/api/escalations/' + encodeURIComponent(id) + '/referrals', { timeout: 8000 });
    const server = (data && data.referrals) || [];
    const seen = new Set(server.map((r) => r.id));
    const local = (S.referrals.get(id) || []).filter((r) => !seen.has(r.id));
    S.referrals.set(id, server.concat(local));
  } catch (e) {
    S.referralsError = id;
  } finally {
    if (S.referralsLoading === id) S.referralsLoading = null;
  }
}

function renderReferralsMade() {
  const list = $('#refer-made');
  clear(list);
  const refs = S.referrals.get(S.dialogEsc) || [];
  const loading = S.referralsLoading === S.dialogEsc && !refs.length;
  const failed = S.referralsError === S.dialogEsc;
  const st = $('#refer-made-status');
  setText(st, loading ? t('v.refer.loading') : failed ? t('err.generic') : '');
  show(st, loading || failed);
  show($('#refer-made-wrap'), refs.length > 0 || loading || failed);
  for (const r of refs) {
    const res = resOf(r.resource);
    list.appendChild(h('li', { class: 'card referral-row', testid: 'referral', data: { id: r.id, status: r.status } },
      h('span', { class: 'dir-name', text: res.name || '' }), ' ',
      h('span', { class: 'muted', text: res.phone || '' }), ' ',
      h('span', { class: 'pill', testid: 'referral-status', text: t('x.ref.status.' + r.status) }),
      statusButtons(r.id, r.status, () => { renderReferralsMade(); loadFollowups(); })));
  }
}

// ---------------------------------------------------------------- follow-ups

async function loadFollowups() {
  try {
    const data = await api('/api/supervisor/followups?due=today', { timeout: 8000 });
    S.followups = (data && data.followups) || [];
    S.followupsError = false;
  } catch (e) {
    S.followupsError = true;
  }
  renderFollowups();
}

function renderFollowups() {
  const list = byTestId('followups');
  clear(list);
  const items = (S.followups || []).slice().sort((a, b) => String(a.due_at).localeCompare(String(b.due_at)));
  for (const f of items) {
    const res = resOf(f.resource);
    const overdue = new Date(f.due_at).getTime() < Date.now();
    list.appendChild(h('li', { class: ['card', 'followup', overdue ? 'is-overdue' : ''], testid: 'followup', data: { id: f.id, referral: f.referral_id } },
      h('div', { class: 'esc-top' },
        h('strong', { text: t('v.follow.label.' + f.label) }),
        h('span', { class: 'muted', text: (res.name || '') + (res.phone ? ' · ' + res.phone : '') }),
        h('span', { class: 'pill', testid: 'followup-status', text: t('x.ref.status.' + f.referral_status) }),
        h('span', { class: ['due', overdue ? 'is-overdue' : ''], text: overdue ? t('v.follow.overdue') : t('v.follow.due', { t: fmtClock(f.due_at) }) })),
      h('span', { class: 'status-actions' },
        statusButtons(f.referral_id, f.referral_status, () => loadFollowups()),
        h('button', {
          type: 'button', class: 'btn btn-primary btn-small', testid: 'followup-done', text: t('v.follow.done'),
          on: { click: (ev) => followupDone(f.id, ev.currentTarget) },
        }))));
  }
  const empty = byTestId('followups-empty');
  setText(empty, S.followupsError ? t('v.follow.error') : S.followups === null ? t('loading') : t('v.followups.empty'));
  show(empty, items.length === 0);
}

// ---------------------------------------------------------------- roster

async function loadRoster() {
  try {
    S.roster = await api('/api/roster/today', { timeout: 8000 });
    S.rosterError = false;
  } catch (e) {
    S.rosterError = true;
  }
  renderRoster();
  renderCounselors();
}

function renderRoster() {
  const strip = byTestId('coverage');
  const line = byTestId('coverage-line');
  const missing = byTestId('roster-missing');
  const now = byTestId('roster-now');
  clear(strip); clear(missing); clear(now);
  const gapsBadge = byTestId('roster-gaps');
  const r = S.roster;
  if (!r) { setText(line, S.rosterError ? t('v.roster.error') : t('loading')); hide(gapsBadge); return; }
  const hours = (r.coverage || []).slice().sort((a, b) => String(a.date + a.hour).localeCompare(String(b.date + b.hour)));
  const nowHour = fmtClock(new Date()).slice(0, 2);
  // No roster kept at all: say so instead of painting every hour as a gap.
  const anyone = hours.some((hr) => (hr.counselors || []).length || (hr.supervisors || []).length);
  strip.classList.toggle('is-empty', !anyone);
  for (const hr of hours) {
    const miss = hr.missing || {};
    const label = hr.gap
      ? t('v.roster.hour.gap', { h: hr.hour, c: miss.counselors || 0, s: miss.supervisors || 0 })
      : hr.hour + ' ✓';
    strip.appendChild(h('li', {
      class: ['cover-hour', hr.gap ? 'is-gap' : 'is-ok', String(hr.hour).slice(0, 2) === nowHour ? 'is-now' : ''],
      title: label, 'aria-label': label, testid: 'coverage-hour', data: { hour: hr.hour, gap: hr.gap ? '1' : '0' },
    }, h('span', { text: String(hr.hour).slice(0, 2) })));
  }
  const gaps = r.gaps || 0;
  setText(gapsBadge, t('v.roster.gaps', { n: gaps }));
  gapsBadge.className = 'badge ' + (gaps ? 'risk-watch' : 'risk-none');
  show(gapsBadge, gaps > 0);
  setText(line, !hours.length || !anyone ? t('v.roster.none') : gaps ? t('v.roster.gaps', { n: gaps }) : t('v.roster.nogaps'));
  if (!anyone) hide(gapsBadge);
  const people = (list, arr, cls, emptyText) => {
    if (!arr.length) { list.appendChild(h('li', { class: 'muted small', text: emptyText })); return; }
    for (const s of arr) {
      list.appendChild(h('li', { class: ['person', cls], testid: cls === 'is-missing' ? 'roster-missing-person' : 'roster-person' },
        h('span', { class: ['dot', cls === 'is-missing' ? 'dot-warn' : 'dot-ok'], 'aria-hidden': 'true' }),
        h('span', { text: s.display_name || s.username || '' }),
        h('span', { class: 'muted small', text: t('s.role.' + s.role) === 's.role.' + s.role ? s.role : t('s.role.' + s.role) }),
        h('span', { class: 'muted small', text: fmtClock(s.start) + '–' + fmtClock(s.end) })));
    }
  };
  people(missing, r.scheduled_not_on_duty || [], 'is-missing', t('v.roster.missing.none'));
  people(now, r.scheduled_now || [], 'is-now', t('v.roster.none'));
}

// ---------------------------------------------------------------- frames

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
    if (!w.seen.size) {
      // If nothing comes, say so (sync answers with `synced`).
    }
  },
  synced(f) {
    const w = S.watch;
    if (w && f.conversation_id === w.convId && !$$('li', $('#watch-log')).length) watchNote(t('v.watch.empty'));
  },
  message: onWatchMessage,
  ack(f) {
    delete S.pending[f.ref];
    const li = f.client_id ? $$('li[data-client-id]', $('#watch-log')).find((x) => x.getAttribute('data-client-id') === f.client_id) : null;
    if (li) li.setAttribute('data-state', 'sent');
  },
  whispered(f) {
    delete S.pending[f.ref];
    byTestId('whisper-input').value = '';
    byTestId('whisper-send').disabled = false;
    const st = byTestId('whisper-status');
    setText(st, t('v.watch.whisper.sent') + ' ' + fmtClock(new Date()));
    show(st);
    const log = $('#watch-log');
    log.appendChild(h('li', { class: 'watch-whisper', testid: 'watch-whisper' },
      h('p', { class: 'whisper-meta', text: t('v.watch.whisper') + ' · ' + fmtClock(new Date()) }),
      h('p', { class: 'whisper-text', text: S.lastWhisper || '' })));
    log.scrollTop = log.scrollHeight;
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
    const li = $$('li[data-client-id]', $('#watch-log')).find((x) => x.getAttribute('data-client-id') === p.clientId);
    if (li) li.setAttribute('data-state', 'failed');
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

function onFrame(f) {
  const fn = handlers[f.type];
  if (fn) fn(f);
}

/** For tests and later features: register a handler for a WebSocket frame type. */
export function on(type, fn) {
  handlers[type] = fn;
}

// ---------------------------------------------------------------- polling + socket

async function poll() {
  const board = loadBoard();
  try {
    S.status = await api('/api/status', { timeout: 8000 });
    S.statusAt = Date.now();
  } catch (e) { /* keep the last value; the "updated" line turns stale */ }
  renderQueue(); renderCounselors(); renderService(); renderUpdated();
  await board;
}

function renderUpdated() {
  const el = byTestId('updated');
  if (!S.statusAt) { setText(el, ''); return; }
  const stale = Date.now() - S.statusAt > STALE_MS;
  setText(el, stale ? t('v.stale', { t: fmtClock(new Date(S.statusAt)) }) : t('v.updated', { t: fmtClock(new Date(S.statusAt)) }));
  el.classList.toggle('stale', stale);
}

function renderAll() {
  renderQueue(); renderCounselors(); renderService(); renderEscalations(); renderFollowups(); renderRoster(); renderUpdated(); renderSound();
  renderRatings();
  if (S.watch) renderWatchHead();
}

function onConnState(state) {
  const el = byTestId('conn-state');
  el.setAttribute('data-state', state);
  setText($('.conn-text', el), connLabel(state));
  if (state === 'unauthorized') { S.conn = null; showSignin(t('s.unauthorized')); }
}

let pollTimer = null;
let slowTimer = null;
let tickTimer = null;

function start(staff) {
  if (staff.role !== 'supervisor' && staff.role !== 'admin') {
    showSignin(t('v.not_supervisor'));
    return;
  }
  S.staff = staff;
  setText(byTestId('staff-name'), staff.display_name || '');
  showView('app');
  renderAll();
  alerts.offerNotifications($('[data-view="app"] .topbar'));
  poll();
  loadFollowups();
  loadRoster();
  loadRatings();
  clearInterval(pollTimer);
  pollTimer = setInterval(poll, POLL_MS);
  clearInterval(slowTimer);
  slowTimer = setInterval(() => { loadFollowups(); loadRoster(); loadRatings(); }, SLOW_POLL_MS);
  clearInterval(tickTimer);
  tickTimer = setInterval(() => { tickCountdowns(); renderUpdated(); }, 1000);
  if (!S.conn) {
    S.conn = new Connection('/ws/staff', { onFrame: onFrame, onState: onConnState });
    S.conn.start();
  }
}

async function boot() {
  applyI18n(document);
  wireLangToggles();
  wireSignin(start);
  onLangChange(renderAll);
  alerts.mount(null);
  $('#signout').addEventListener('click', async () => {
    if (S.conn) { S.conn.stop(); S.conn = null; }
    clearInterval(pollTimer); clearInterval(slowTimer); clearInterval(tickTimer); clearTimeout(boardTimer);
    S.escalations.clear();
    S.quietEsc.clear();
    S.board = null; S.ratings = null; S.referrals.clear();
    closeWatch(true);
    await signOut();
    showSignin();
  });
  byTestId('watch-close').addEventListener('click', () => closeWatch());
  $('#whisper-form').addEventListener('submit', sendWhisper);
  byTestId('join-button').addEventListener('click', join);
  $('#sv-composer').addEventListener('submit', sendAsSupervisor);
  byTestId('sv-input').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); sendAsSupervisor(ev); }
  });
  $('#level-form').addEventListener('submit', submitLevel);
  $('#resolve-form').addEventListener('submit', submitResolve);
  $('#refer-form').addEventListener('submit', submitRefer);
  try {
    const staff = await currentStaff();
    if (staff) start(staff);
    else showSignin();
  } catch (e) {
    showSignin(t('err.network'));
  }
}

boot();
