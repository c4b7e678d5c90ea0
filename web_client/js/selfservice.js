// Shared by the worker's self-service pages: header (home, language, quick exit), the
// hotlines, the signed-in check, error text and time formatting.

import { api, beacon, ApiError } from './api.js';
import { $, $$, h, clear, setText, show, telHref } from './dom.js';
import { t, applyI18n, toggleLang, onLangChange, getLang, fmtWhen } from './i18n.js';
import { getHotlines, setServerHotlines } from './hotlines.js';
import './strings-services.js';

export function quickExit() {
  document.body.classList.add('exiting');
  beacon('/api/worker/signout', { forget_device: true });
  try { sessionStorage.clear(); } catch (e) { /* ignore */ }
  try { localStorage.clear(); } catch (e) { /* ignore */ }
  location.replace('/neutral.html');
}

export function renderHotlines() {
  const en = getLang() === 'en';
  for (const list of $$('[data-hotlines]')) {
    clear(list);
    for (const line of getHotlines()) {
      const name = en && line.name_en ? line.name_en : line.name;
      list.appendChild(h('li', null, h('a', {
        class: ['hotline', line.emergency ? 'hotline-emergency' : ''], href: telHref(line.phone),
        testid: 'hotline',
      }, h('span', { class: 'hotline-name', text: name }),
      h('span', { class: 'hotline-phone', text: line.phone }))));
    }
  }
}

/** Wire the header; `rerender` runs again when the language changes. */
export function wireChrome(rerender) {
  const exit = $('[data-testid="quick-exit"]');
  if (exit) exit.addEventListener('click', quickExit);
  const lang = $('[data-testid="lang-toggle"]');
  if (lang) lang.addEventListener('click', toggleLang);
  applyI18n(document);
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
