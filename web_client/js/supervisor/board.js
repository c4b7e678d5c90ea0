// The board's glance panels: queue length and longest wait, counselors on duty with their
// load, the service's hours, conversations by risk; read from /api/status and
// /api/supervisor/board every few seconds.

import { $, byTestId, h, clear, setText } from '../dom.js';
import { api, ApiError } from '../api.js';
import { t, fmtClock, fmtDuration, fmtWhen, fmtHours } from '../i18n.js';
import { MAX_SANE_WAIT_S, STALE_MS, RISKS, S, levelOf, sortedEscalations } from './state.js';

export function renderQueue() {
  const st = S.status || {};
  const length = S.queue.length !== null && S.queue.length !== undefined ? S.queue.length : st.queue_length;
  setText(byTestId('queue-length'), length === null || length === undefined ? '–' : String(length));
  // A wait longer than a week is not a wait but a bad value (never shown as one).
  const raw = S.queue.longest_wait_s;
  const longest = typeof raw === 'number' && raw >= 0 && raw <= MAX_SANE_WAIT_S ? raw : null;
  setText(byTestId('longest-wait'), length === 0 ? '0' : longest === null ? '–' : fmtDuration(longest));
  setText(byTestId('queue-eta'), typeof st.estimated_wait_s === 'number' ? t('v.queue.eta') + '：' + fmtDuration(st.estimated_wait_s) : '');
}

export function renderCounselors() {
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

export function renderService() {
  const st = S.status;
  const line = byTestId('service-state');
  if (!st) { setText(line, '–'); return; }
  line.classList.toggle('is-open', !!st.open);
  setText(line, st.open ? t('v.service.open', { close: (st.hours && st.hours.close) || fmtClock(st.closes_at) }) : t('v.service.closed', { next: fmtWhen(st.next_open, st.now) }));
  setText($('#service-hours'), fmtHours(st.hours));
}

export function renderRisk() {
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

export let boardTimer = null;

/** Soon after an escalation changes, read the board again so risk counts follow. */
export function boardSoon() {
  clearTimeout(boardTimer);
  boardTimer = setTimeout(loadBoard, 600);
}

export async function loadBoard() {
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

export async function poll() {
  const board = loadBoard();
  try {
    S.status = await api('/api/status', { timeout: 8000 });
    S.statusAt = Date.now();
  } catch (e) { /* keep the last value; the "updated" line turns stale */ }
  renderQueue(); renderCounselors(); renderService(); renderUpdated();
  await board;
}

export function renderUpdated() {
  const el = byTestId('updated');
  if (!S.statusAt) { setText(el, ''); return; }
  const stale = Date.now() - S.statusAt > STALE_MS;
  setText(el, stale ? t('v.stale', { t: fmtClock(new Date(S.statusAt)) }) : t('v.updated', { t: fmtClock(new Date(S.statusAt)) }));
  el.classList.toggle('stale', stale);
}
