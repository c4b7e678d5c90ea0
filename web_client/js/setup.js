// The one-time set-up link: the person chooses their own password and enrols TOTP.
// The token is in the URL's fragment (never sent to a server in a request line or a
// referrer); it is read once and removed from the address bar.

import { $, h, clear, setText, show, hide } from './dom.js';
import { api, ApiError } from './api.js';
import { t, onLangChange } from './i18n.js';
import { wireLanguage } from './shell.js';
import { showView } from './staff.js';
import './strings-admin.js';

const HOME = { counselor: 'counselor.html', supervisor: 'supervisor.html', admin: 'admin.html' };
let info = null;
let token = '';

function renderInfo() {
  if (!info) return;
  setText($('#setup-hello'), t('u.hello', { name: info.display_name, user: info.username }));
  setText($('#totp-lead'), t(info.totp_required ? 'u.totp.required' : 'u.totp.optional'));
  $('#totp-qr').setAttribute('alt', t('u.totp.qr'));
}

async function submit(ev) {
  ev.preventDefault();
  const err = $('#setup-error');
  hide(err);
  const pw1 = $('#pw1').value;
  const code = $('#totp-code').value.trim();
  if (pw1 !== $('#pw2').value) { setText(err, t('u.mismatch')); show(err); return; }
  const btn = $('[data-testid="setup-submit"]');
  btn.disabled = true;
  try {
    const body = { token: token, password: pw1 };
    if (code) body.totp = code;
    const res = await api('/api/staff/setup/complete', { method: 'POST', body: body });
    $('#pw1').value = ''; $('#pw2').value = '';
    const list = $('#codes-list');
    clear(list);
    for (const c of res.recovery_codes || []) list.appendChild(h('li', { class: 'mono', text: c }));
    show($('#codes'), (res.recovery_codes || []).length > 0);
    $('#go-signin').setAttribute('href', HOME[info.role] || 'counselor.html');
    showView('done');
  } catch (e) {
    const why = e instanceof ApiError ? e.code : '';
    if (why === 'link_invalid') { showView('invalid'); return; }
    setText(err, why === 'weak_password' ? t('u.err.weak_password', { why: t('u.weak.' + (e.reason || 'common')) })
      : why === 'totp_incorrect' ? t('u.err.totp_incorrect')
      : why === 'totp_required' ? t('u.err.totp_required')
      : why === 'network' ? t('err.network') : t('err.generic'));
    show(err);
  } finally {
    btn.disabled = false;
  }
}

async function boot() {
  wireLanguage();
  onLangChange(renderInfo);
  const m = /[#&]t=([A-Za-z0-9_-]+)/.exec(location.hash);
  token = m ? m[1] : '';
  if (token) history.replaceState(null, '', location.pathname);
  if (!token) { showView('invalid'); return; }
  try {
    info = await api('/api/staff/setup/info', { method: 'POST', body: { token: token } });
  } catch (e) {
    showView('invalid');
    return;
  }
  $('#totp-qr').setAttribute('src', info.totp.qr);
  setText($('#totp-secret'), info.totp.secret);
  renderInfo();
  $('#setup-form').addEventListener('submit', submit);
  showView('form');
  $('#pw1').focus();
}

boot();
