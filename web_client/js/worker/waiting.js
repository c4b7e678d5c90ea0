// Waiting for a counselor: place and expected wait (live), what to expect, the optional
// pre-chat screen, the hotlines when nobody is on duty, leaving the queue, and a first
// message written while waiting that is sent once matched.

import { $, $$, byTestId, h, clear, setText, show, hide, closeDialog } from '../dom.js';
import { t, fmtClock, fmtDuration } from '../i18n.js';
import { setServerHotlines } from '../hotlines.js';
import { S, KEY, store, go } from './state.js';
import { renderHotlines, showSafety } from './crisis.js';
import { renderReady } from './ready.js';
import { queueSend } from './chat.js';

export function renderQueue(frame) {
  if (frame) {
    const prev = S.lastQueue || {};
    S.lastQueue = { position: frame.position, estimated_wait_s: frame.estimated_wait_s,
      no_counselor_scheduled_soon: 'no_counselor_scheduled_soon' in frame ? !!frame.no_counselor_scheduled_soon : !!prev.no_counselor_scheduled_soon,
      scheduled_until: 'scheduled_until' in frame ? frame.scheduled_until : prev.scheduled_until };
    if (Array.isArray(frame.hotlines) && frame.hotlines.length) { setServerHotlines(frame.hotlines); renderHotlines(); }
  }
  const q = S.lastQueue || {};
  const pos = byTestId('queue-position');
  const eta = byTestId('queue-eta');
  const none = q.estimated_wait_s === null && q.position !== undefined;
  if (q.position === undefined || q.position === null) setText(pos, t('w.chat.connecting'));
  else if (q.position <= 1) setText(pos, t('w.wait.next'));
  else setText(pos, t('w.wait.position', { n: q.position - 1 }));
  if (q.position !== undefined && q.position !== null) pos.setAttribute('data-position', String(q.position));
  if (none) setText(eta, '');
  else if (typeof q.estimated_wait_s === 'number') setText(eta, q.estimated_wait_s < 30 ? t('w.wait.eta.soon') : t('w.wait.eta', { wait: fmtDuration(q.estimated_wait_s) }));
  else setText(eta, '');
  const soon = !!q.no_counselor_scheduled_soon;
  show($('#wait-none'), none && !soon && !S.safety);
  show($('#wait-none-soon'), soon);
  const until = $('#wait-until');
  setText(until, q.scheduled_until && !soon ? t('w.wait.until', { t: fmtClock(q.scheduled_until) }) : '');
  show(until, !!(q.scheduled_until && !soon));
  show($('#wait-safe'), S.safety);
  const waiting = $('[data-screen="waiting"]');
  waiting.classList.toggle('no-counselor', none || soon);
  waiting.classList.toggle('hotlines-first', none || soon || S.safety);
  renderScreenForm();
}

export function resetWaitExtras(convId) {
  const prev = store.get(KEY.screened, null);
  S.screened = prev === convId;
  if (!S.screened) {
    S.safety = false;
    hide($('#screen-done'));
    for (const i of $$('input[type="radio"]', $('#screen-form'))) i.checked = false;
  }
  store.set(KEY.screened, S.screened ? convId : null);
  renderScreenForm();
}

// ---------------------------------------------------------------- pre-chat screen (optional)

const SCREEN_QS = ['phq2_1', 'phq2_2', 'phq9_9'];

export function buildScreenForm() {
  for (const fs of $$('.screen-q', $('#screen-form'))) {
    const q = fs.getAttribute('data-q');
    const opts = $('.screen-opts', fs);
    clear(opts);
    for (let v = 0; v <= 3; v++) {
      const id = 'sq-' + q + '-' + v;
      opts.appendChild(h('span', { class: 'screen-opt' },
        h('input', { type: 'radio', name: 'sq-' + q, id: id, value: String(v), testid: 'screen-' + q + '-' + v }),
        h('label', { for: id, text: t('w.screen.a' + v) })));
    }
  }
}

export function renderScreenForm() {
  show($('#screen-card'), !S.screened);
}

export function submitScreen(ev) {
  ev.preventDefault();
  const answers = {};
  for (const q of SCREEN_QS) {
    const chosen = $$('input[name="sq-' + q + '"]', $('#screen-form')).find((x) => x.checked);
    if (!chosen) { setText($('#screen-error'), t('w.screen.need')); show($('#screen-error')); return; }
    answers[q] = Number(chosen.value);
  }
  hide($('#screen-error'));
  if (!S.conn || !S.conn.isReady()) { setText($('#screen-error'), t('conn.reconnecting')); show($('#screen-error')); return; }
  S.conn.send({ type: 'screen', answers: answers, ref: 'screen' });
  S.screened = true;
  if (S.conv) store.set(KEY.screened, S.conv.id);
  $('#screen-card').open = false;
  renderScreenForm();
  if (answers.phq9_9 > 0) {
    // Do not wait for the server: the hotlines and a kind word come first.
    showSafety();
  } else {
    show($('#screen-done'));
  }
}

export function skipScreen() {
  S.screened = true;
  if (S.conv) store.set(KEY.screened, S.conv.id);
  $('#screen-card').open = false;
  renderScreenForm();
}
export function leaveQueue() {
  closeDialog($('#leave-dialog'));
  if (S.conn) S.conn.send({ type: 'leave_queue' });
  S.conv = null;
  store.del(KEY.conv);
  renderReady();
  go('ready');
}
export function sendWaitingDraft() {
  const draft = $('#wait-draft');
  const text = draft.value.trim();
  if (text && !S.waitingDraftSent) {
    S.waitingDraftSent = true;
    queueSend(text.slice(0, 2000));
  }
  draft.value = '';
}
