// "Delete my history" on the worker's history screen: confirm, shred at once, then say
// exactly what was removed. Only a session with history access (PIN or this device) may.

import { $, clear, setText, show, hide } from './dom.js';
import { api, ApiError } from './api.js';
import { t } from './i18n.js';
import './strings-admin.js';

export function resetForget() {
  hide($('#forget-result'));
  reset();
}

function reset() {
  hide($('#forget-confirm-box'));
  show($('#forget-start'));
}

async function confirm() {
  const btn = $('#forget-confirm');
  const out = $('#forget-result');
  btn.disabled = true;
  try {
    const res = await api('/api/worker/history/delete', { method: 'POST', body: { confirm: true } });
    const r = res.removed;
    setText(out, r.conversations ? t('w.forget.done', { c: r.conversations, m: r.messages, n: r.case_notes, r: r.rating_comments }) : t('w.forget.none'));
    out.className = 'notice notice-ok';
    // What was shown is gone from the server: take it off the screen too.
    clear($('#history-body'));
  } catch (e) {
    const code = e instanceof ApiError ? e.code : '';
    setText(out, code === 'conversation_open' ? t('w.forget.open') : code === 'history_locked' ? t('w.forget.locked') : code === 'network' ? t('err.network') : t('err.generic'));
    out.className = 'notice notice-warm';
  } finally {
    btn.disabled = false;
  }
  show(out);
  reset();
}

export function wireForget() {
  const start = $('#forget-start');
  if (!start) return;
  start.addEventListener('click', () => { hide($('#forget-result')); hide(start); show($('#forget-confirm-box')); $('#forget-confirm').focus(); });
  $('#forget-cancel').addEventListener('click', reset);
  $('#forget-confirm').addEventListener('click', confirm);
}

wireForget();
