// The service's hours on the worker page: the status card on the welcome screen, the
// closed screen (when it opens next, never a dead end), the error screen, and screens
// before a conversation that follow an opening or a closing as it happens.

import { $, byTestId, setText, show } from '../dom.js';
import { api } from '../api.js';
import { t, fmtWhen, fmtDuration, fmtHours } from '../i18n.js';
import { setServerHotlines } from '../hotlines.js';
import { S, go } from './state.js';
import { renderHotlines } from './crisis.js';

export async function loadStatus() {
  try {
    const st = await api('/api/status', { timeout: 8000 });
    S.status = st;
    if (st && st.hotlines) setServerHotlines(st.hotlines);
    renderHotlines();
    return st;
  } catch (e) {
    return null;
  }
}

export function renderStatus() {
  const st = S.status;
  const card = byTestId('service-status');
  const text = $('.status-text', card);
  const hoursEl = $('.status-hours', card);
  card.classList.remove('is-open', 'is-closed', 'is-unknown', 'is-busy');
  if (!st) {
    card.classList.add('is-unknown');
    setText(text, t('w.status.unknown'));
    setText(hoursEl, '');
    return;
  }
  setText(hoursEl, st.hours ? t('w.status.hours', { hours: fmtHours(st.hours) }) : '');
  if (st.open) {
    if (st.estimated_wait_s === null || st.estimated_wait_s === undefined || !st.counselors_on_duty) {
      card.classList.add('is-busy');
      setText(text, t('w.status.open.none'));
    } else {
      card.classList.add('is-open');
      setText(text, st.estimated_wait_s > 60 ? t('w.status.open.wait', { wait: fmtDuration(st.estimated_wait_s) }) : t('w.status.open'));
    }
  } else {
    card.classList.add('is-closed');
    setText(text, t('w.status.closed', { next: fmtWhen(st.next_open, st.now) }));
  }
  const start = byTestId('welcome-start');
  setText(start, st.open ? t('w.welcome.start') : t('w.welcome.later'));
}

// The page stays true (issue 21): the status is read again just after the next opening
// or closing the server announced, every minute anyway, and when the page comes back.
let statusTimer = null;
const STATUS_EVERY_MS = 60000;

export function scheduleStatus() {
  clearTimeout(statusTimer);
  const st = S.status;
  let wait = STATUS_EVERY_MS;
  if (st && st.now) {
    const change = st.open ? st.closes_at : st.next_open;
    if (change) wait = Math.min(wait, Math.max(1000, new Date(change) - new Date(st.now) + 1000));
  }
  statusTimer = setTimeout(refreshStatus, wait);
}

export async function refreshStatus() {
  const st = await loadStatus();
  if (st) { renderStatus(); renderClosed(); followHours(); }
  scheduleStatus();
}

/** Screens before a conversation follow the hours; a conversation is never interrupted. */
export function followHours() {
  const st = S.status;
  if (!st || S.conv) return;
  const before = ['welcome', 'consent', 'signin', 'ready'];
  if (!st.open && before.indexOf(S.screen) >= 0) showClosed();
  else if (st.open && S.screen === 'closed') go(S.signedIn ? 'ready' : 'welcome');
}

export function renderClosed(nextOpen) {
  const st = S.status || {};
  const next = nextOpen || st.next_open;
  setText($('#closed-next'), next ? t('w.closed.next', { next: fmtWhen(next, st.now) }) : '');
  setText($('#closed-hours'), st.hours ? t('w.closed.hours', { hours: fmtHours(st.hours) }) : '');
}

export function showClosed(nextOpen, whileWaiting) {
  show($('#closed-sorry'), !!whileWaiting);
  renderClosed(nextOpen);
  go('closed');
}

export function showError(offline) {
  setText($('#error-body'), offline ? t('w.banner.offline') : t('w.error.body'));
  go('error');
}
