// Before a conversation: consent, then sign-in with the ID or union card number (checked
// as it is typed, never echoed back in an error, forgotten once it has done its job) and
// the optional recovery code.

import { $, byTestId, setText, show, hide } from '../dom.js';
import { api, ApiError } from '../api.js';
import { t } from '../i18n.js';
import { checkNumber, normalizeNumber } from '../idcheck.js';
import { S, KEY, store, go } from './state.js';
import { loadStatus, showClosed } from './status.js';
import { renderReady } from './ready.js';
import { startSocket } from './socket.js';

export function onConsentSubmit(ev) {
  ev.preventDefault();
  const box = $('#consent-check');
  const err = $('#consent-error');
  if (!box.checked) {
    setText(err, t('w.consent.need'));
    show(err);
    box.focus();
    return;
  }
  hide(err);
  store.set(KEY.consent, true);
  hide($('#signin-notice'));
  if (S.status && !S.status.open) { showClosed(); return; }
  go('signin');
}

function numberMessage(reason) {
  return t('w.signin.err.' + reason);
}

export function onNumberInput(final) {
  const input = $('#number-input');
  const raw = input.value;
  // Keep only digits, spaces and a trailing X while typing.
  const cleaned = raw.toUpperCase().replace(/[^0-9X\s]/g, '');
  if (cleaned !== raw) input.value = cleaned;
  const n = normalizeNumber(cleaned);
  byTestId('number-x').disabled = !(n.length === 17 && /^[0-9]+$/.test(n));
  const res = checkNumber(cleaned);
  const ok = $('#number-ok');
  const err = $('#number-error');
  hide($('#signin-error'));
  if (res.ok) {
    show(ok); hide(err);
    input.setAttribute('aria-invalid', 'false');
    return res;
  }
  hide(ok);
  // While typing, only complain about things more typing cannot fix.
  const complain = final ? res.reason !== undefined : (!res.partial && res.reason !== 'empty');
  if (complain) {
    setText(err, numberMessage(res.reason));
    show(err);
    input.setAttribute('aria-invalid', 'true');
  } else {
    hide(err);
    input.removeAttribute('aria-invalid');
  }
  return res;
}

export function addX() {
  const input = $('#number-input');
  const n = normalizeNumber(input.value);
  if (n.length === 17) {
    input.value = n + 'X';
    onNumberInput(true);
    input.focus();
  }
}

export async function onSignin(ev, options) {
  if (ev) ev.preventDefault();
  const opts = options || {};
  const input = $('#number-input');
  const pinInput = $('#pin-input');
  const res = onNumberInput(true);
  if (!res.ok) { input.focus(); return; }
  const pin = opts.skipPin ? '' : pinInput.value.replace(/\s/g, '');
  const pinErr = $('#pin-error');
  hide(pinErr); hide($('#pin-skip'));
  if (pin && !/^[0-9]{8}$/.test(pin)) {
    setText(pinErr, t('w.signin.pin.err'));
    show(pinErr);
    pinInput.focus();
    return;
  }
  const formErr = $('#signin-error');
  hide(formErr);
  if (!S.status || !S.status.consent_version) await loadStatus();
  if (!S.status || !S.status.consent_version) {
    setText(formErr, t('err.network'));
    show(formErr);
    return;
  }
  const submit = byTestId('signin-submit');
  submit.disabled = true;
  setText(submit, t('w.signin.submitting'));
  const body = { number: normalizeNumber(input.value), consent_version: S.status.consent_version };
  if (pin) body.pin = pin;
  try {
    const me = await api('/api/worker/session', { method: 'POST', body: body });
    // Do not keep the number anywhere once it has done its job.
    input.value = '';
    pinInput.value = '';
    hide($('#number-ok'));
    S.signedIn = true;
    S.alias = (me && me.alias) || '';
    S.historyAccess = !!(me && me.history_access);
    S.pinSet = !!(me && me.pin_set);
    renderReady();
    go('ready');
    startSocket();
  } catch (e) {
    const err = e instanceof ApiError ? e : new ApiError(0, {});
    if (err.code === 'invalid_number') {
      const reason = err.reason || 'bad_checksum';
      setText($('#number-error'), numberMessage(reason));
      show($('#number-error'));
      hide($('#number-ok'));
      input.focus();
    } else if (err.code === 'pin_incorrect') {
      setText(pinErr, t('w.signin.err.pin'));
      show(pinErr);
      show($('#pin-skip'));
      $('#pin-details').open = true;
      pinInput.value = '';
      pinInput.focus();
    } else if (err.code === 'bad_field' && err.field === 'pin') {
      setText(pinErr, t('w.signin.pin.err'));
      show(pinErr);
    } else if (err.code === 'consent_required') {
      await loadStatus();
      $('#consent-check').checked = false;
      go('consent');
      const n = $('#consent-error');
      setText(n, t('w.signin.err.consent'));
      show(n);
    } else if (err.code === 'rate_limited') {
      setText(formErr, t('err.rate', { n: err.retryAfter || 30 }));
      show(formErr);
    } else if (err.code === 'network') {
      setText(formErr, t('err.network'));
      show(formErr);
    } else {
      setText(formErr, t('err.generic'));
      show(formErr);
    }
  } finally {
    submit.disabled = false;
    setText(submit, t('w.signin.submit'));
  }
}

export function wireSignin() {
  $('#consent-form').addEventListener('submit', onConsentSubmit);
  $('#consent-check').addEventListener('change', () => hide($('#consent-error')));
  $('#signin-form').addEventListener('submit', onSignin);
  $('#number-input').addEventListener('input', () => onNumberInput(false));
  $('#number-input').addEventListener('blur', () => { if ($('#number-input').value) onNumberInput(true); });
  byTestId('number-x').addEventListener('click', addX);
  $('#pin-input').addEventListener('input', () => {
    const p = $('#pin-input');
    const clean = p.value.replace(/\D/g, '').slice(0, 8);
    if (clean !== p.value) p.value = clean;
    hide($('#pin-error'));
  });
  $('#pin-skip').addEventListener('click', () => {
    $('#pin-input').value = '';
    onSignin(null, { skipPin: true });
  });
}
