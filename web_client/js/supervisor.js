// Supervisor board (supervisor.html). Live from /ws/staff (welcome.escalations, escalation,
// queue_stats, watching/message/whisper/join answers), polled from /api/status +
// /api/supervisor/board (every 5 s), /api/roster/today, /api/supervisor/followups and
// /api/supervisor/ratings (every 60 s). Each panel is a module of js/supervisor/: board
// (queue, counselors on duty, risk), escalations (and their dialogs), watch, referrals
// (and follow-ups), roster, ratings; frames holds the table of frame handlers.
// Text typed by people is always set with textContent.

import { $, byTestId, setText } from './dom.js';
import { Connection } from './connection.js';
import { t, onLangChange } from './i18n.js';
import { wireLanguage } from './shell.js';
import './strings-crisis.js';
import './strings-alerts.js';
import { showView, currentStaff, wireSignin, showSignin, signOut, connLabel } from './staff.js';
import { POLL_MS, SLOW_POLL_MS, S, alerts, renderSound } from './supervisor/state.js';
import { renderQueue, renderCounselors, renderService, boardTimer, poll, renderUpdated } from './supervisor/board.js';
import { loadRatings, renderRatings } from './supervisor/ratings.js';
import { renderEscalations, tickCountdowns, submitLevel, submitResolve } from './supervisor/escalations.js';
import { closeWatch, renderWatchHead, sendWhisper, join, sendAsSupervisor } from './supervisor/watch.js';
import { submitRefer, loadFollowups, renderFollowups } from './supervisor/referrals.js';
import { loadRoster, renderRoster } from './supervisor/roster.js';
import { onFrame } from './supervisor/frames.js';

// For tests and later features, as before the split.
export { S, chime } from './supervisor/state.js';
export { renderEscalations } from './supervisor/escalations.js';
export { on } from './supervisor/frames.js';

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
  wireLanguage();
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
