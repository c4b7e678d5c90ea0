// Shared by the worker's self-service pages (assess, booking, self-help and its exercises,
// open days): the page shell of js/shell.js with the hotlines from the server, the
// signed-in check, error text and time formatting.

import { api, ApiError } from './api.js';
import { $, $$, h, clear, setText, show } from './dom.js';
import { t, onLangChange, getLang, fmtWhen } from './i18n.js';
import { setServerHotlines } from './hotlines.js';
import { quickExit, renderHotlines as renderLists, wireLanguage, wireQuickExit } from './shell.js';
import './strings-services.js';

export { quickExit };

export function renderHotlines() {
  renderLists(false);
}

/** Wire the page shell (js/shell.js); `rerender` runs again when the language changes. */
export function wireChrome(rerender) {
  wireQuickExit();
  wireLanguage();
  renderHotlines();
  onLangChange(() => { renderHotlines(); if (rerender) rerender(); });
  api('/api/status', { timeout: 8000 }).then((st) => {
    if (st && st.hotlines) { setServerHotlines(st.hotlines); renderHotlines(); }
  }).catch(() => {});
}

/** The signed-in worker, or null (then the sign-in notice is shown). */
export async function currentWorker() {
  try {
    return await api('/api/worker/me', { timeout: 8000 });
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
      show($('[data-testid="need-signin"]'));
      return null;
    }
    throw e;
  }
}

export function errorText(e) {
  if (e instanceof ApiError) {
    if (e.code === 'network') return t('err.network');
    if (e.code === 'rate_limited') return t('err.rate', { n: e.retryAfter || 30 });
  }
  return t('err.generic');
}

export function when(iso) {
  return fmtWhen(iso, new Date());
}

/** "12月5日 14:00–14:50" style range in the service's zone. */
export function range(startIso, endIso) {
  const end = fmtWhen(endIso, new Date());
  const tail = end.split(' ').pop();
  return fmtWhen(startIso, new Date()) + '–' + tail;
}

export function flash(el, text, kind) {
  setText(el, text);
  el.className = 'notice ' + (kind === 'warm' ? 'notice-warm' : 'notice-ok');
  show(el);
}

export { api, ApiError, t, h, $, $$, clear, setText, show, getLang };
