// After a conversation: thanks, the rating (1–5, optional comment) and the recovery code
// that lets the worker read earlier conversations on another device.

import { $, $$, byTestId, h, clear, setText, show, hide } from '../dom.js';
import { api, ApiError } from '../api.js';
import { t } from '../i18n.js';
import { S, KEY, store } from './state.js';

let chosenScore = 0;

function renderStars() {
  const wrap = $('#stars');
  clear(wrap);
  for (let n = 1; n <= 5; n++) {
    const id = 'star-' + n;
    const input = h('input', { type: 'radio', name: 'score', id: id, value: String(n), class: 'visually-hidden star-input' });
    input.addEventListener('change', () => { chosenScore = n; paintStars(); hide($('#rating-error')); });
    input.addEventListener('focus', () => wrap.classList.add('has-focus'));
    input.addEventListener('blur', () => wrap.classList.remove('has-focus'));
    const label = h('label', { for: id, class: 'star', testid: 'rating-star-' + n },
      h('span', { 'aria-hidden': 'true', text: '★' }),
      h('span', { class: 'visually-hidden', text: t('w.after.star', { n: n }) }));
    wrap.appendChild(input);
    wrap.appendChild(label);
  }
  paintStars();
}

function paintStars() {
  for (const label of $$('label.star', $('#stars'))) {
    const n = Number(label.getAttribute('for').slice(5));
    label.classList.toggle('on', n <= chosenScore);
  }
}

export function renderAfter(by) {
  chosenScore = 0;
  renderStars();
  $('#rating-comment').value = '';
  show($('#rating-form'));
  hide($('#rating-done'));
  hide($('#rating-error'));
  show($('#pin-form'), S.signedIn);
  show($('#pin-replace'), S.pinSet);
  show(byTestId('pin-submit'));
  hide($('#pin-set-ok')); hide($('#pin-set-error')); hide($('#pin-code'));
  setText($('#pin-code'), '');
  const body = $('[data-screen="after"] .lead');
  setText(body, by === 'counselor' ? t('w.chat.ended.counselor') + ' ' + t('w.after.body') : t('w.after.body'));
}

export async function submitRating(ev) {
  ev.preventDefault();
  const err = $('#rating-error');
  hide(err);
  if (!chosenScore) { setText(err, t('w.after.need')); show(err); return; }
  const submit = byTestId('rating-submit');
  submit.disabled = true;
  const body = { score: chosenScore };
  const comment = $('#rating-comment').value.trim();
  if (comment) body.comment = comment.slice(0, 500);
  try {
    await api('/api/worker/conversations/' + encodeURIComponent(S.rateId) + '/rating', { method: 'POST', body: body });
    ratingDone(t('w.after.thanks'));
  } catch (e) {
    if (e instanceof ApiError && e.code === 'conflict') ratingDone(t('w.after.done'));
    else { setText(err, e.code === 'network' ? t('err.network') : t('w.after.err')); show(err); }
  } finally {
    submit.disabled = false;
  }
}

function ratingDone(text) {
  hide($('#rating-form'));
  const done = $('#rating-done');
  setText(done, text);
  show(done);
  store.del(KEY.rate);
}

// The recovery code is drawn by the server and shown once (a chosen PIN was too often
// the birth date in the ID number): the worker is asked to write it down.
export async function submitPin(ev) {
  ev.preventDefault();
  const err = $('#pin-set-error');
  const submit = byTestId('pin-submit');
  hide(err); hide($('#pin-set-ok'));
  submit.disabled = true;
  try {
    const made = await api('/api/worker/pin', { method: 'POST', body: {} });
    const code = String((made && made.pin) || '');
    setText($('#pin-code'), code.slice(0, 4) + ' ' + code.slice(4));
    show($('#pin-code'));
    S.pinSet = true;
    S.historyAccess = true;
    setText($('#pin-set-ok'), t('w.after.pin.ok'));
    show($('#pin-set-ok'));
    hide($('#pin-replace'));
    hide(submit);
  } catch (e) {
    const code = e instanceof ApiError ? e.code : '';
    setText(err, code === 'history_locked' || code === 'forbidden' ? t('w.after.pin.locked') : t('err.generic'));
    show(err);
  } finally {
    submit.disabled = false;
  }
}
