// Supervisor board skeleton. Reads /api/status (polled) and queue_stats from /ws/staff.
// Crisis frames (escalations, per-counselor load, risk counts, ratings) are wired later:
// register a handler with `on(type, fn)` and render with the functions below.

import { $, byTestId, h, clear, setText, show } from './dom.js';
import { api } from './api.js';
import { Connection } from './connection.js';
import { t, applyI18n, onLangChange, fmtClock, fmtDuration, fmtWhen, fmtHours } from './i18n.js';
import { showView, toast, wireLangToggles, currentStaff, wireSignin, showSignin, signOut, connLabel } from './staff.js';

const POLL_MS = 10000;
const STALE_MS = 35000;
const RISKS = ['none', 'watch', 'high', 'imminent'];
const SEVERITY = { imminent: 3, high: 2, watch: 1, none: 0 };
const SOUND_KEY = 'yz.v.sound';

export const S = {
  staff: null,
  conn: null,
  status: null,
  statusAt: 0,
  queue: { length: null, longest_wait_s: null },
  escalations: [],   // {id, conversation_id, alias, level, opened_at, ack_deadline, status, counselor, reason}
  riskCounts: null,  // {none, watch, high, imminent}
  counselors: null,  // [{display_name, load, capacity}]
  followups: [],
  ratings: [],
  sound: readSound(),
};

// ---------------------------------------------------------------- frame handlers (extend here)

const handlers = {
  welcome(f) {
    if (f.staff) S.staff = Object.assign({}, S.staff || {}, f.staff);
    if (f.queue) S.queue = { length: f.queue.length, longest_wait_s: f.queue.longest_wait_s };
    renderQueue();
  },
  queue_stats(f) {
    S.queue = { length: f.length, longest_wait_s: f.longest_wait_s };
    renderQueue();
  },
};

/** Register a handler for a WebSocket frame type (e.g. 'escalation'). */
export function on(type, fn) {
  handlers[type] = fn;
}

function onFrame(f) {
  const fn = handlers[f.type];
  if (fn) fn(f);
}

// ---------------------------------------------------------------- sound

function readSound() {
  try { return localStorage.getItem(SOUND_KEY) === '1'; } catch (e) { return false; }
}

let audioCtx = null;
/** A soft two-tone chime. Browsers allow audio only after a click, hence the toggle. */
export function chime() {
  if (!S.sound) return;
  try {
    audioCtx = audioCtx || new (window.AudioContext || window.webkitAudioContext)();
    const now = audioCtx.currentTime;
    [880, 660].forEach((freq, i) => {
      const osc = audioCtx.createOscillator();
      const gain = audioCtx.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + i * 0.25);
      gain.gain.exponentialRampToValueAtTime(0.2, now + i * 0.25 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.25 + 0.4);
      osc.connect(gain).connect(audioCtx.destination);
      osc.start(now + i * 0.25);
      osc.stop(now + i * 0.25 + 0.45);
    });
  } catch (e) { /* no audio: the visual alert still shows */ }
}

function renderSound() {
  const b = byTestId('sound-toggle');
  b.setAttribute('aria-pressed', S.sound ? 'true' : 'false');
  setText(b, S.sound ? t('v.sound.on') : t('v.sound.off'));
}

// ---------------------------------------------------------------- renderers

function renderQueue() {
  const st = S.status || {};
  const length = S.queue.length !== null && S.queue.length !== undefined ? S.queue.length : st.queue_length;
  setText(byTestId('queue-length'), length === null || length === undefined ? '–' : String(length));
  const longest = S.queue.longest_wait_s;
  setText(byTestId('longest-wait'), longest === null || longest === undefined ? '–' : (length ? fmtDuration(longest) : '0'));
  setText(byTestId('queue-eta'), typeof st.estimated_wait_s === 'number' ? t('v.queue.eta') + '：' + fmtDuration(st.estimated_wait_s) : '');
}

function renderCounselors() {
  const st = S.status || {};
  const n = st.counselors_on_duty;
  setText(byTestId('counselors-on-duty'), n === null || n === undefined ? '–' : String(n));
  const list = byTestId('counselor-list');
  clear(list);
  if (S.counselors) {
    for (const c of S.counselors) {
      list.appendChild(h('li', { testid: 'counselor' }, h('span', { text: c.display_name }), ' ',
        h('span', { class: ['badge', c.load >= c.capacity ? 'risk-watch' : ''], text: c.load + '/' + c.capacity })));
    }
  }
  setText($('#counselors-note'), n === 0 ? t('v.counselors.empty') : S.counselors ? '' : t('v.counselors.detail'));
}

function renderService() {
  const st = S.status;
  const line = byTestId('service-state');
  if (!st) { setText(line, '–'); return; }
  setText(line, st.open ? t('v.service.open', { close: (st.hours && st.hours.close) || fmtClock(st.closes_at) }) : t('v.service.closed', { next: fmtWhen(st.next_open, st.now) }));
  setText($('#service-hours'), fmtHours(st.hours));
}

function renderRisk() {
  const list = byTestId('risk-distribution');
  clear(list);
  for (const lv of RISKS.slice().reverse()) {
    const n = S.riskCounts ? (S.riskCounts[lv] || 0) : null;
    list.appendChild(h('li', { class: n ? 'risk-' + lv : 'risk-none', data: { risk: lv } },
      h('span', { class: 'count', text: n === null ? '–' : String(n) }),
      h('span', { text: t('s.risk.' + lv) })));
  }
}

/** Escalations: most severe first, then newest. Each shows a countdown to its ack deadline. */
export function renderEscalations() {
  const list = $('#esc-list');
  clear(list);
  const items = S.escalations.slice().sort((a, b) =>
    (SEVERITY[b.level] || 0) - (SEVERITY[a.level] || 0) || String(b.opened_at).localeCompare(String(a.opened_at)));
  for (const e of items) {
    const left = e.ack_deadline ? Math.round((new Date(e.ack_deadline).getTime() - Date.now()) / 1000) : null;
    list.appendChild(h('li', { class: ['card', 'escalation', 'esc-' + e.level], testid: 'escalation', data: { id: e.id, level: e.level } },
      h('span', { class: ['badge', 'risk-' + e.level], text: t('s.risk.' + e.level) }), ' ',
      h('strong', { text: e.alias || '' }), ' ',
      e.counselor ? h('span', { class: 'muted', text: e.counselor }) : null, ' ',
      left !== null ? h('span', { class: 'countdown', testid: 'ack-countdown', text: left > 0 ? t('v.esc.deadline', { t: fmtDuration(left) }) : t('v.esc.overdue') }) : null,
      e.reason ? h('p', { class: 'small', text: e.reason }) : null));
  }
  setText(byTestId('escalation-count'), String(items.length));
  show($('#esc-empty'), items.length === 0);
  $('[data-panel="escalations"]').classList.toggle('has-items', items.length > 0);
}

/** For the crisis wiring: add or update one escalation and alert. */
export function upsertEscalation(e) {
  const i = S.escalations.findIndex((x) => x.id === e.id);
  if (i >= 0) S.escalations[i] = Object.assign(S.escalations[i], e);
  else { S.escalations.push(e); chime(); toast(t('v.escalations') + ' · ' + (e.alias || '')); }
  renderEscalations();
}

function renderLists() {
  show($('#followups-empty'), S.followups.length === 0);
  show($('#ratings-empty'), S.ratings.length === 0);
}

function renderUpdated() {
  const el = byTestId('updated');
  if (!S.statusAt) { setText(el, ''); return; }
  const stale = Date.now() - S.statusAt > STALE_MS;
  setText(el, stale ? t('v.stale', { t: fmtClock(new Date(S.statusAt)) }) : t('v.updated', { t: fmtClock(new Date(S.statusAt)) }));
  el.classList.toggle('stale', stale);
}

function renderAll() {
  renderQueue(); renderCounselors(); renderService(); renderRisk(); renderEscalations(); renderLists(); renderUpdated(); renderSound();
}

// ---------------------------------------------------------------- polling + socket

async function poll() {
  try {
    S.status = await api('/api/status', { timeout: 8000 });
    S.statusAt = Date.now();
  } catch (e) { /* keep the last value; the "updated" line turns stale */ }
  renderQueue(); renderCounselors(); renderService(); renderUpdated();
}

function onConnState(state) {
  const el = byTestId('conn-state');
  el.setAttribute('data-state', state);
  setText($('.conn-text', el), connLabel(state));
  if (state === 'unauthorized') { S.conn = null; showSignin(t('s.unauthorized')); }
}

let pollTimer = null;
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
  poll();
  clearInterval(pollTimer);
  pollTimer = setInterval(poll, POLL_MS);
  clearInterval(tickTimer);
  tickTimer = setInterval(() => { if (S.escalations.length) renderEscalations(); renderUpdated(); }, 1000);
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
  byTestId('sound-toggle').addEventListener('click', () => {
    S.sound = !S.sound;
    try { localStorage.setItem(SOUND_KEY, S.sound ? '1' : '0'); } catch (e) { /* ignore */ }
    renderSound();
    chime();
  });
  $('#signout').addEventListener('click', async () => {
    if (S.conn) { S.conn.stop(); S.conn = null; }
    clearInterval(pollTimer); clearInterval(tickTimer);
    await signOut();
    showSignin();
  });
  try {
    const staff = await currentStaff();
    if (staff) start(staff);
    else showSignin();
  } catch (e) {
    showSignin(t('err.network'));
  }
}

boot();
