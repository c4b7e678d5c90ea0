// Shared by the staff pages: sign-in view, views, toast. (The language toggles and the
// rest of the page shell: js/shell.js.)

import { $, $$, setText, show, hide } from './dom.js';
import { api, ApiError } from './api.js';
import { t } from './i18n.js';
import './strings-admin.js';

export function showView(name) {
  for (const v of $$('body > .view[data-view]')) show(v, v.getAttribute('data-view') === name);
  document.body.setAttribute('data-view', name);
}

let toastTimer = null;
export function toast(text, ms) {
  const el = $('[data-testid="toast"]');
  if (!el) return;
  setText(el, text);
  show(el);
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => hide(el), ms || 5000);
}

/** Resolves with the staff object, or null when not signed in. Throws on network trouble. */
export async function currentStaff() {
  try {
    return await api('/api/staff/me', { timeout: 8000 });
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) return null;
    throw e;
  }
}

/** Wire the sign-in form; calls onSignedIn(staff) after a successful POST /api/staff/session. */
export function wireSignin(onSignedIn) {
  const form = $('#signin-form');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const user = $('#username');
    const pass = $('#password');
    const err = $('#signin-error');
    hide(err);
    if (!user.value.trim()) { user.focus(); return; }
    if (!pass.value) { pass.focus(); return; }
    const btn = $('[data-testid="staff-signin"]');
    // Two-factor: the code field appears once the server asks for it (totp_required).
    const code = $('#totp');
    const body = { username: user.value.trim(), password: pass.value };
    if (code && code.value.trim()) body.totp = code.value.trim();
    btn.disabled = true;
    try {
      const staff = await api('/api/staff/session', { method: 'POST', body: body });
      pass.value = '';
      if (code) { code.value = ''; hide($('#totp-field')); }
      hide($('#signin-notice'));
      onSignedIn(staff);
    } catch (e) {
      const why = e instanceof ApiError ? e.code : '';
      if ((why === 'totp_required' || why === 'totp_incorrect') && code) {
        show($('#totp-field'));
        code.value = '';
        code.focus();
        setText(err, t(why === 'totp_required' ? 's.signin.totp_needed' : 's.signin.totp_wrong'));
        show(err);
        return;
      }
      setText(err, why === 'bad_credentials' ? t('s.signin.err')
        : why === 'rate_limited' ? t('err.rate', { n: e.retryAfter || 30 })
        : why === 'network' ? t('err.network') : t('err.generic'));
      show(err);
      pass.select();
    } finally {
      btn.disabled = false;
    }
  });
}

export function showSignin(notice) {
  const n = $('#signin-notice');
  if (notice) { setText(n, notice); show(n); } else hide(n);
  showView('signin');
  const user = $('#username');
  if (user) user.focus();
}

export async function signOut() {
  try { await api('/api/staff/signout', { method: 'POST', body: {} }); } catch (e) { /* the session is gone either way */ }
}

export function connLabel(state) {
  if (state === 'ready') return t('conn.ready');
  if (state === 'offline') return t('conn.offline');
  if (state === 'reconnecting') return t('conn.reconnecting');
  return t('conn.connecting');
}
