// Worker page: welcome → consent → sign in → ready → waiting → chat → after (+ closed,
// history, error). Speaks docs/PROTOCOL.md. Text typed by people is set with textContent.

import { $, $$, byTestId, h, clear, setText, show, hide, telHref, openDialog, closeDialog, newClientId } from './dom.js';
import { api, beacon, ApiError } from './api.js';
import { Connection } from './connection.js';
import { t, applyI18n, toggleLang, onLangChange, getLang, fmtClock, fmtWhen, fmtDuration, fmtHours } from './i18n.js';
import { checkNumber, normalizeNumber } from './idcheck.js';
import { getHotlines, setServerHotlines } from './hotlines.js';
import './strings-crisis.js';

// ---------------------------------------------------------------- session storage
// Only what is needed to survive a reload or a screen lock: the unacknowledged outbox,
// the open conversation id and last seq, a composer draft, the conversation to rate.

const KEY = { outbox: 'yz.w.outbox', conv: 'yz.w.conv', draft: 'yz.w.draft', rate: 'yz.w.rate', consent: 'yz.w.consent', screened: 'yz.w.screened' };

const store = {
  get(key, fallback) {
    try {
      const raw = sessionStorage.getItem(key);
      return raw === null ? fallback : JSON.parse(raw);
    } catch (e) { return fallback; }
  },
  set(key, value) {
    try { sessionStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* private mode: keep in memory only */ }
  },
  del(key) {
    try { sessionStorage.removeItem(key); } catch (e) { /* ignore */ }
  },
};

// ---------------------------------------------------------------- state

const S = {
  screen: 'loading',
  status: null,         // /api/status (merged with welcome.service)
  signedIn: false,
  alias: '',
  historyAccess: false,
  pinSet: false,
  conv: null,           // {id, status: 'waiting'|'active', counselor, lastSeq}
  outbox: store.get(KEY.outbox, []),
  resendTimer: null,    // a resend of the outbox after a refused send (see onError)
  seen: new Set(),      // seqs displayed for conv.id
  counselorName: '',
  rateId: store.get(KEY.rate, null),
  requesting: false,
  waitingDraftSent: false,
  lastReadSent: 0,
  lastTypingSent: 0,
  typingTimer: null,
  ackTimers: {},
  refToClient: {},
  conn: null,
  bannerTimer: null,
  bannerShown: false,
  lastQueue: null,
  screened: false,      // the pre-chat screen was answered or skipped for this wait
  lastEnded: null,      // welcome.last_ended (unrated)
  safety: false,        // hotlines were pushed (imminent risk or a positive screen)
};

const ACK_TIMEOUT_MS = 15000;

// ---------------------------------------------------------------- screens

function go(name, opts) {
  const options = opts || {};
  S.screen = name;
  for (const sec of $$('main > section.screen[data-screen]')) show(sec, sec.getAttribute('data-screen') === name);
  document.body.setAttribute('data-screen', name);
  if (name !== 'loading') {
    const loading = $('[data-screen="loading"]');
    if (loading) loading.removeAttribute('aria-busy');
  }
  if (!options.noFocus) {
    const heading = $('[data-screen="' + name + '"] h1');
    if (heading) heading.focus({ preventScroll: true });
  }
  window.scrollTo(0, 0);
  if (name === 'chat') scrollLogToEnd();
}

// ---------------------------------------------------------------- hotlines

function renderHotlines() {
  const lines = getHotlines();
  const en = getLang() === 'en';
  for (const list of $$('[data-hotlines]')) {
    clear(list);
    for (const line of lines) {
      const name = en && line.name_en ? line.name_en : line.name;
      const hours = en && line.hours_en ? line.hours_en : line.hours;
      list.appendChild(h('li', null,
        h('a', {
          class: ['hotline', line.emergency ? 'hotline-emergency' : ''],
          href: telHref(line.phone),
          testid: 'hotline',
          'aria-label': t('hl.call', { phone: line.phone }) + ' · ' + name,
        },
        h('span', { class: 'hotline-name', text: name }),
        h('span', { class: 'hotline-phone', text: line.phone }),
        hours ? h('span', { class: 'hotline-hours', text: hours }) : null)));
    }
  }
}

function openHotlines(ev) {
  if (ev) ev.preventDefault();
  setText($('#h-hotlines'), t('hl.title'));
  setText($('#hl-lead'), t('hl.lead'));
  openDialog($('#hotline-dialog'));
}

// ---------------------------------------------------------------- quick exit

function quickExit() {
  document.body.classList.add('exiting');
  beacon('/api/worker/signout', { forget_device: true });
  try { if (S.conn) S.conn.stop(); } catch (e) { /* ignore */ }
  try { sessionStorage.clear(); } catch (e) { /* ignore */ }
  try { localStorage.clear(); } catch (e) { /* ignore */ }
  location.replace('/neutral.html');
}

// ---------------------------------------------------------------- status

async function loadStatus() {
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

function renderStatus() {
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

function renderClosed(nextOpen) {
  const st = S.status || {};
  const next = nextOpen || st.next_open;
  setText($('#closed-next'), next ? t('w.closed.next', { next: fmtWhen(next, st.now) }) : '');
  setText($('#closed-hours'), st.hours ? t('w.closed.hours', { hours: fmtHours(st.hours) }) : '');
}

function showClosed(nextOpen, whileWaiting) {
  show($('#closed-sorry'), !!whileWaiting);
  renderClosed(nextOpen);
  go('closed');
}

function showError(offline) {
  setText($('#error-body'), offline ? t('w.banner.offline') : t('w.error.body'));
  go('error');
}

// ---------------------------------------------------------------- consent + sign-in

function onConsentSubmit(ev) {
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
  go('signin');
}

function numberMessage(reason) {
  return t('w.signin.err.' + reason);
}

function onNumberInput(final) {
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

function addX() {
  const input = $('#number-input');
  const n = normalizeNumber(input.value);
  if (n.length === 17) {
    input.value = n + 'X';
    onNumberInput(true);
    input.focus();
  }
}

async function onSignin(ev, options) {
  if (ev) ev.preventDefault();
  const opts = options || {};
  const input = $('#number-input');
  const pinInput = $('#pin-input');
  const res = onNumberInput(true);
  if (!res.ok) { input.focus(); return; }
  const pin = opts.skipPin ? '' : pinInput.value.trim();
  const pinErr = $('#pin-error');
  hide(pinErr); hide($('#pin-skip'));
  if (pin && !/^[0-9]{6}$/.test(pin)) {
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
    } else if (err.code === 'weak_pin' || (err.code === 'bad_field' && err.field === 'pin')) {
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

// ---------------------------------------------------------------- ready / history

function renderReady() {
  setText($('#ready-alias'), S.alias ? t('w.ready.alias', { alias: S.alias }) : '');
  show($('#open-history'), S.historyAccess);
  const st = S.status;
  const soon = !!(st && st.no_counselor_scheduled_soon);
  const ready = $('#ready-none');
  setText(ready, soon ? t('w.wait.none_soon') : t('w.ready.none'));
  show(ready, !!(st && st.open && (soon || st.estimated_wait_s === null || !st.counselors_on_duty)));
  show($('#last-ended'), !!(S.lastEnded && S.lastEnded.id && S.rateId !== S.lastEnded.id));
  byTestId('request-chat').disabled = !(S.conn && S.conn.isReady());
}

function requestChat() {
  const err = $('#ready-error');
  hide(err);
  if (!S.conn || !S.conn.isReady()) {
    setText(err, t('conn.reconnecting'));
    show(err);
    return;
  }
  S.requesting = true;
  byTestId('request-chat').disabled = true;
  // A conversation opened on another device is never shown to this one (docs/PROTOCOL.md).
  S.conn.send({ type: 'request_chat', ref: 'request_chat' });
}

async function openHistory() {
  const body = $('#history-body');
  clear(body);
  body.appendChild(h('p', { class: 'muted', text: t('loading') }));
  go('history');
  try {
    const data = await api('/api/worker/history');
    clear(body);
    const convs = (data && data.conversations) || [];
    if (!convs.length) {
      body.appendChild(h('p', { class: 'empty', testid: 'history-empty', text: t('w.history.empty') }));
      return;
    }
    for (const c of convs) {
      const title = (c.counselor ? t('w.history.with', { name: c.counselor }) : t('w.history.title')) +
        ' · ' + fmtWhen(c.started_at);
      const list = h('ol', { class: 'chat-log chat-log-static' });
      for (const m of c.messages || []) list.appendChild(renderBubble({ seq: m.seq, from: m.from, text: m.text, at: m.at }, 'sent'));
      body.appendChild(h('details', { class: 'card history-item', testid: 'history-item' },
        h('summary', null, title, c.ended_at ? null : h('span', { class: 'badge', text: t('w.history.open') })),
        list));
    }
  } catch (e) {
    clear(body);
    const locked = e instanceof ApiError && e.code === 'history_locked';
    body.appendChild(h('p', { class: locked ? 'notice notice-warm' : 'form-error', text: locked ? t('w.history.locked') : t('err.generic') }));
  }
}

// ---------------------------------------------------------------- waiting

function renderQueue(frame) {
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

function resetWaitExtras(convId) {
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

function buildScreenForm() {
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

function renderScreenForm() {
  show($('#screen-card'), !S.screened);
}

function submitScreen(ev) {
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

function skipScreen() {
  S.screened = true;
  if (S.conv) store.set(KEY.screened, S.conv.id);
  $('#screen-card').open = false;
  renderScreenForm();
}

/** Imminent risk or a positive screen: hotlines at once, gently. */
function showSafety(list) {
  if (Array.isArray(list) && list.length) setServerHotlines(list);
  renderHotlines();
  const first = !S.safety;
  S.safety = true;
  if (S.screen === 'waiting') {
    hide($('#screen-done'));
    renderQueue();
    const safe = $('#wait-safe');
    if (first) safe.scrollIntoView({ block: 'start', behavior: 'smooth' });
  } else if (S.screen === 'chat') {
    if (!$('[data-testid="hotlines-inline"]', log())) {
      const list2 = h('ul', { class: 'hotline-list' });
      const box = h('li', { class: 'hl-inline', testid: 'hotlines-inline', data: { after: (S.conv && S.conv.lastSeq) || 0 } },
        h('h2', { text: t('w.hl.now.title') }),
        h('p', { text: t('w.hl.now.body') }),
        list2);
      list2.setAttribute('data-hotlines', '');
      placeBySeq(box, ((S.conv && S.conv.lastSeq) || 0) + 0.5);
      renderHotlines();
      scrollLogToEnd();
    }
    if (first) {
      setText($('#h-hotlines'), t('w.hl.now.title'));
      setText($('#hl-lead'), t('w.hl.now.body'));
      openDialog($('#hotline-dialog'));
    }
  } else {
    openDialog($('#hotline-dialog'));
  }
}

function leaveQueue() {
  closeDialog($('#leave-dialog'));
  if (S.conn) S.conn.send({ type: 'leave_queue' });
  S.conv = null;
  store.del(KEY.conv);
  renderReady();
  go('ready');
}

// ---------------------------------------------------------------- chat: rendering

function fromLabel(from) {
  if (from === 'worker') return t('w.chat.you');
  if (from === 'counselor') return S.counselorName || '';
  if (from === 'supervisor') return t('w.chat.supervisor');
  return t('w.chat.system');
}

function stateLabel(state) {
  if (state === 'sending') return t('w.chat.sending');
  if (state === 'failed') return t('w.chat.failed');
  if (state === 'read') return t('w.chat.read');
  return t('w.chat.sent');
}

function renderBubble(m, state) {
  const mine = m.from === 'worker';
  const li = h('li', {
    class: ['msg', mine ? 'msg-mine' : 'msg-theirs', m.from === 'system' ? 'msg-system' : '', m.from === 'supervisor' ? 'msg-supervisor' : ''],
    testid: 'message',
    data: { seq: m.seq, state: state, from: m.from, 'client-id': m.client_id },
  });
  if (m.kind === 'referral' && m.card && typeof m.card === 'object') {
    li.classList.add('msg-card');
    li.appendChild(referralCard(m.card));
    li.appendChild(h('p', { class: 'msg-meta' }, h('time', { class: 'msg-time', datetime: m.at || '', text: fmtClock(m.at || new Date()) })));
    return li;
  }
  if (!mine && m.from !== 'counselor') li.appendChild(h('p', { class: 'msg-from', text: fromLabel(m.from) }));
  li.appendChild(h('p', { class: 'msg-text', text: m.text }));
  const meta = h('p', { class: 'msg-meta' }, h('time', { class: 'msg-time', datetime: m.at || '', text: fmtClock(m.at || new Date()) }));
  if (mine) meta.appendChild(renderState(state, m.client_id));
  li.appendChild(meta);
  return li;
}

/** A referral card: every field is shown as text; the phone also becomes a tel: link. */
function referralCard(card) {
  const phone = card.phone ? String(card.phone) : '';
  return h('div', { class: 'ref-card', testid: 'referral-card' },
    h('p', { class: 'ref-card-title', text: t('w.card.title') }),
    h('p', { class: 'ref-card-name', testid: 'referral-name', text: String(card.name || '') }),
    phone ? h('a', { class: 'ref-card-phone', href: telHref(phone), testid: 'referral-phone', 'aria-label': t('w.card.call', { phone: phone }), text: phone }) : null,
    card.hours ? h('p', { class: 'ref-card-hours', testid: 'referral-hours', text: String(card.hours) }) : null,
    card.note ? h('p', { class: 'ref-card-note', testid: 'referral-note', text: String(card.note) }) : null);
}

function renderState(state, clientId) {
  if (state === 'failed') {
    return h('button', { type: 'button', class: 'msg-state msg-retry', testid: 'retry', data: { 'client-id': clientId }, text: stateLabel(state) });
  }
  return h('span', { class: 'msg-state', text: stateLabel(state) });
}

function setBubbleState(li, state) {
  if (!li || li.getAttribute('data-state') === state) return;
  li.setAttribute('data-state', state);
  const meta = $('.msg-meta', li);
  const old = $('.msg-state', li);
  if (old) meta.removeChild(old);
  meta.appendChild(renderState(state, li.getAttribute('data-client-id')));
}

function log() {
  return $('#chat-log');
}

function bubbleByClient(clientId) {
  if (!clientId) return null;
  return $$('li[data-client-id]', log()).find((li) => li.getAttribute('data-client-id') === clientId) || null;
}

function nearBottom() {
  const el = log();
  return el.scrollHeight - el.scrollTop - el.clientHeight < 120;
}

function scrollLogToEnd() {
  const el = log();
  el.scrollTop = el.scrollHeight;
}

/** Order key of a log item: seq for messages, just after the seq it followed for notes,
 *  and last for pending (unacknowledged) bubbles. */
function orderKey(li) {
  const s = li.getAttribute('data-seq');
  if (s !== null) return Number(s);
  const after = li.getAttribute('data-after');
  if (after !== null) return Number(after) + 0.5;
  return Infinity;
}

/** Insert a displayed message in seq order; pending bubbles stay last. */
function placeBySeq(li, seq) {
  const el = log();
  // Direct children only: cards and hotline boxes hold list items of their own.
  for (const other of $$(':scope > li', el)) {
    if (other !== li && orderKey(other) > seq) { el.insertBefore(li, other); return; }
  }
  el.appendChild(li);
}

function addNote(text, kind) {
  const stick = nearBottom();
  const after = (S.conv && S.conv.lastSeq) || 0;
  const li = h('li', { class: ['msg-note', kind ? 'msg-note-' + kind : ''], testid: 'chat-note', data: { after: after }, text: text });
  placeBySeq(li, after + 0.5);
  if (stick) scrollLogToEnd();
}

function resetLog() {
  clear(log());
  S.seen = new Set();
}

function setCounselor(name) {
  S.counselorName = name || '';
  setText(byTestId('counselor-name'), name ? t('w.chat.counselor', { name: name }) : t('w.chat.connecting'));
  $('.chat-head .avatar').textContent = name ? name.slice(-1) : '';
}

function setChatSub(text) {
  setText($('#chat-sub'), text);
}

function showChatNotice(text) {
  const n = $('#chat-notice');
  setText(n, text || '');
  show(n, !!text);
}

// ---------------------------------------------------------------- chat: messages

function saveConv() {
  if (S.conv) store.set(KEY.conv, { id: S.conv.id, status: S.conv.status, lastSeq: S.conv.lastSeq || 0 });
  else store.del(KEY.conv);
}

function saveOutbox() {
  store.set(KEY.outbox, S.outbox);
}

function onMessage(m) {
  if (!S.conv || m.conversation_id !== S.conv.id) return;
  const seq = Number(m.seq);
  if (S.seen.has(seq)) return;                      // dedupe by seq
  S.seen.add(seq);
  if (seq > (S.conv.lastSeq || 0)) { S.conv.lastSeq = seq; saveConv(); }
  const stick = nearBottom() || m.from === 'worker';
  let li = m.client_id ? bubbleByClient(m.client_id) : null;
  if (li) {
    dropFromOutbox(m.client_id);
    li.setAttribute('data-seq', String(seq));
    setBubbleState(li, 'sent');
    const time = $('.msg-time', li);
    if (time && m.at) { time.setAttribute('datetime', m.at); setText(time, fmtClock(m.at)); }
  } else {
    li = renderBubble(m, 'sent');
  }
  placeBySeq(li, seq);
  if (m.from === 'counselor') hideTyping();
  if (stick) scrollLogToEnd();
  maybeSendRead();
}

function onAck(frame) {
  const clientId = frame.client_id;
  clearTimeout(S.ackTimers[clientId]);
  delete S.ackTimers[clientId];
  dropFromOutbox(clientId);
  const li = bubbleByClient(clientId);
  if (li) {
    setBubbleState(li, 'sent');
    const time = $('.msg-time', li);
    if (time && frame.at) { time.setAttribute('datetime', frame.at); setText(time, fmtClock(frame.at)); }
  }
}

function dropFromOutbox(clientId) {
  const before = S.outbox.length;
  S.outbox = S.outbox.filter((x) => x.client_id !== clientId);
  if (S.outbox.length !== before) saveOutbox();
  clearTimeout(S.ackTimers[clientId]);
  delete S.ackTimers[clientId];
}

function queueSend(text) {
  if (!S.conv) return;
  const item = { client_id: newClientId('w'), conversation_id: S.conv.id, text: text, at: new Date().toISOString() };
  S.outbox.push(item);
  saveOutbox();
  const li = renderBubble({ from: 'worker', text: text, at: item.at, client_id: item.client_id }, 'sending');
  log().appendChild(li);
  scrollLogToEnd();
  transmit(item);
}

function transmit(item) {
  const li = bubbleByClient(item.client_id);
  if (li && !li.hasAttribute('data-seq')) setBubbleState(li, 'sending');
  clearTimeout(S.ackTimers[item.client_id]);
  S.ackTimers[item.client_id] = setTimeout(() => {
    const still = S.outbox.some((x) => x.client_id === item.client_id);
    if (still) setBubbleState(bubbleByClient(item.client_id), 'failed');
  }, ACK_TIMEOUT_MS);
  if (S.conn && S.conn.isReady()) {
    const ref = 's:' + item.client_id.slice(-24);
    S.refToClient[ref] = item.client_id;
    S.conn.send({ type: 'send', conversation_id: item.conversation_id, client_id: item.client_id, text: item.text, ref: ref });
  }
}

function scheduleResend(delayMs) {
  if (S.resendTimer) return; // one resend for all the refusals of a burst
  S.resendTimer = setTimeout(() => { S.resendTimer = null; resendOutbox(); }, delayMs);
}

function resendOutbox() {
  if (!S.conv) return;
  // Drop what belongs to another (ended) conversation; resend the rest in order.
  S.outbox = S.outbox.filter((x) => x.conversation_id === S.conv.id);
  saveOutbox();
  for (const item of S.outbox) {
    if (!bubbleByClient(item.client_id)) {
      log().appendChild(renderBubble({ from: 'worker', text: item.text, at: item.at, client_id: item.client_id }, 'sending'));
    }
    transmit(item);
  }
  scrollLogToEnd();
}

function retry(clientId) {
  const item = S.outbox.find((x) => x.client_id === clientId);
  if (item) transmit(item);
}

function onComposerSubmit(ev) {
  ev.preventDefault();
  const input = byTestId('chat-input');
  const text = input.value.replace(/\s+$/, '');
  if (!text.trim()) return;
  if (text.length > 2000) { showChatNotice(t('w.chat.toolong')); return; }
  if (!S.conv || S.conv.status !== 'active') return;
  queueSend(text);
  input.value = '';
  store.del(KEY.draft);
  autoGrow(input);
  input.focus();
}

function autoGrow(el) {
  el.rows = 1;
  while (el.rows < 5 && el.scrollHeight > el.clientHeight + 2) el.rows += 1;
}

function onComposerInput() {
  const input = byTestId('chat-input');
  autoGrow(input);
  store.set(KEY.draft, input.value);
  const now = Date.now();
  if (input.value && S.conv && S.conv.status === 'active' && now - S.lastTypingSent > 3000 && S.conn && S.conn.isReady()) {
    S.lastTypingSent = now;
    S.conn.send({ type: 'typing', conversation_id: S.conv.id });
  }
}

function showTyping() {
  const el = $('#typing');
  setText(el, t('w.chat.typing', { name: S.counselorName || '' }));
  show(el);
  clearTimeout(S.typingTimer);
  S.typingTimer = setTimeout(hideTyping, 6000);
}

function hideTyping() {
  clearTimeout(S.typingTimer);
  hide($('#typing'));
}

function maybeSendRead() {
  if (!S.conv || S.screen !== 'chat' || document.visibilityState !== 'visible') return;
  const theirs = $$('li.msg-theirs[data-seq]', log());
  if (!theirs.length) return;
  const seq = Number(theirs[theirs.length - 1].getAttribute('data-seq'));
  if (seq > S.lastReadSent && S.conn && S.conn.isReady()) {
    S.lastReadSent = seq;
    S.conn.send({ type: 'read', conversation_id: S.conv.id, seq: seq });
  }
}

function onRead(frame) {
  const upTo = Number(frame.seq);
  for (const li of $$('li.msg-mine[data-seq]', log())) {
    if (Number(li.getAttribute('data-seq')) <= upTo) {
      li.classList.add('is-read');
      const st = $('.msg-state', li);
      if (st && li.getAttribute('data-state') === 'sent') setText(st, t('w.chat.read'));
    }
  }
}

function enterChat(conv) {
  const sameConv = S.conv && S.conv.id === conv.id && log().getAttribute('data-conv') === conv.id;
  const stored = store.get(KEY.conv, null);
  S.conv = { id: conv.id, status: 'active', lastSeq: sameConv ? (S.conv.lastSeq || 0) : 0 };
  if (!sameConv) {
    resetLog();
    log().setAttribute('data-conv', conv.id);
    S.lastReadSent = 0;
    // After a reload the log is empty: sync from 0 so the whole conversation shows again.
    if (stored && stored.id !== conv.id) S.outbox = S.outbox.filter((x) => x.conversation_id === conv.id);
  }
  saveConv();
  setCounselor(conv.counselor || S.counselorName);
  setChatSub('');
  const input = byTestId('chat-input');
  if (!input.value) input.value = store.get(KEY.draft, '') || '';
  autoGrow(input);
  if (S.screen !== 'chat') go('chat', { noFocus: false });
}

function syncAndResend() {
  if (!S.conv || !S.conn) return;
  if (S.conv.status === 'active') {
    S.conn.send({ type: 'sync', conversation_id: S.conv.id, after_seq: S.conv.lastSeq || 0 });
    resendOutbox();
  }
}

function sendWaitingDraft() {
  const draft = $('#wait-draft');
  const text = draft.value.trim();
  if (text && !S.waitingDraftSent) {
    S.waitingDraftSent = true;
    queueSend(text.slice(0, 2000));
  }
  draft.value = '';
}

function endChat() {
  closeDialog($('#end-dialog'));
  if (!S.conv) return;
  const id = S.conv.id;
  if (S.conn) S.conn.send({ type: 'end', conversation_id: id });
  // If the socket is down the `ended` frame may never come; go on anyway.
  finishConversation(id, 'worker');
}

function finishConversation(id, by) {
  if (S.screen === 'after' && S.rateId === id) return;
  S.rateId = id;
  store.set(KEY.rate, id);
  for (const cid of Object.keys(S.ackTimers)) clearTimeout(S.ackTimers[cid]);
  S.ackTimers = {};
  S.outbox = S.outbox.filter((x) => x.conversation_id !== id);
  saveOutbox();
  store.del(KEY.draft);
  byTestId('chat-input').value = '';
  S.conv = null;
  saveConv();
  hideTyping();
  showChatNotice('');
  renderAfter(by);
  go('after');
}

// ---------------------------------------------------------------- after

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

function renderAfter(by) {
  chosenScore = 0;
  renderStars();
  $('#rating-comment').value = '';
  show($('#rating-form'));
  hide($('#rating-done'));
  hide($('#rating-error'));
  show($('#pin-form'), S.signedIn && (!S.pinSet || S.historyAccess));
  hide($('#pin-set-ok')); hide($('#pin-set-error'));
  const body = $('[data-screen="after"] .lead');
  setText(body, by === 'counselor' ? t('w.chat.ended.counselor') + ' ' + t('w.after.body') : t('w.after.body'));
}

async function submitRating(ev) {
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

async function submitPin(ev) {
  ev.preventDefault();
  const input = $('#new-pin');
  const err = $('#pin-set-error');
  hide(err); hide($('#pin-set-ok'));
  const pin = input.value.trim();
  if (!/^[0-9]{6}$/.test(pin)) { setText(err, t('w.signin.pin.err')); show(err); return; }
  try {
    await api('/api/worker/pin', { method: 'POST', body: { pin: pin } });
    input.value = '';
    S.pinSet = true;
    S.historyAccess = true;
    setText($('#pin-set-ok'), t('w.after.pin.ok'));
    show($('#pin-set-ok'));
  } catch (e) {
    const code = e instanceof ApiError ? e.code : '';
    setText(err, code === 'weak_pin' ? t('w.after.pin.weak') : code === 'history_locked' || code === 'forbidden' ? t('w.after.pin.locked') : t('err.generic'));
    show(err);
  }
}

// ---------------------------------------------------------------- socket frames

function onWelcome(frame) {
  S.alias = frame.alias || S.alias;
  S.signedIn = true;
  if (frame.service) {
    S.status = Object.assign({}, S.status || {}, frame.service);
    if (frame.service.hotlines) { setServerHotlines(frame.service.hotlines); renderHotlines(); }
  }
  const c = frame.conversation;
  S.lastEnded = !c && frame.last_ended && !frame.last_ended.rated ? frame.last_ended : null;
  if (!c) {
    const stored = store.get(KEY.conv, null);
    if (stored && stored.id && stored.status === 'active' && (S.screen === 'chat' || S.screen === 'loading')) {
      // The conversation ended while we were away: go to the rating.
      finishConversation(stored.id, 'counselor');
      return;
    }
    if (S.conv && S.conv.status === 'waiting') {
      S.conv = null;
      saveConv();
    }
    if (S.screen === 'after' || S.screen === 'history' || S.screen === 'closed') { renderReady(); return; }
    renderReady();
    go('ready');
    return;
  }
  if (c.status === 'waiting') {
    if (S.screen === 'chat' && S.conv && S.conv.id === c.id) {
      // Re-queued after the counselor was lost: keep the conversation on screen.
      S.conv.status = 'waiting';
      showChatNotice(t('w.chat.requeue'));
      return;
    }
    S.conv = { id: c.id, status: 'waiting', lastSeq: 0 };
    resetWaitExtras(c.id);
    saveConv();
    const svc = frame.service || {};
    renderQueue({ position: c.position, estimated_wait_s: c.estimated_wait_s,
      no_counselor_scheduled_soon: c.no_counselor_scheduled_soon !== undefined ? c.no_counselor_scheduled_soon : svc.no_counselor_scheduled_soon,
      scheduled_until: c.scheduled_until !== undefined ? c.scheduled_until : svc.scheduled_until });
    if (S.screen !== 'waiting') go('waiting');
    return;
  }
  // active
  enterChat({ id: c.id, counselor: c.counselor });
  syncAndResend();
}

function onFrame(f) {
  switch (f.type) {
    case 'welcome': onWelcome(f); break;
    case 'queued':
      S.requesting = false;
      if (S.screen === 'chat' && S.conv && S.conv.id === f.conversation_id) {
        // The reply to request_chat can come after `matched` (matched at once on another
        // node): it is stale, the chat goes on. Only a hand-over's `queued` says handover.
        if (!f.handover) break;
        // Counselor lost for good: back in the queue, the conversation is kept.
        S.conv.status = 'waiting';
        showChatNotice(typeof f.position === 'number' && f.position > 1 ? t('w.chat.requeue.pos', { n: f.position - 1 }) : t('w.chat.requeue'));
        setChatSub(t('w.chat.connecting'));
        break;
      }
      S.conv = { id: f.conversation_id, status: 'waiting', lastSeq: 0 };
      S.waitingDraftSent = false;
      resetWaitExtras(f.conversation_id);
      saveConv();
      renderQueue(f);
      if (S.screen !== 'waiting') go('waiting');
      break;
    case 'queue':
      if (S.screen === 'chat' && S.conv && S.conv.status === 'waiting') {
        showChatNotice(f.position > 1 ? t('w.chat.requeue.pos', { n: f.position - 1 }) : t('w.chat.requeue'));
      } else {
        renderQueue(f);
      }
      break;
    case 'left':
      if (S.screen === 'waiting') { renderReady(); go('ready'); }
      break;
    case 'matched': {
      const wasChat = S.screen === 'chat';
      enterChat({ id: f.conversation_id, counselor: f.counselor });
      showChatNotice('');
      addNote(t('w.chat.matched', { name: f.counselor || '' }));
      if (wasChat) syncAndResend();
      sendWaitingDraft();
      break;
    }
    case 'message': onMessage(f); break;
    case 'ack': onAck(f); break;
    case 'synced': break;
    case 'typing': if (f.from !== 'worker' && S.screen === 'chat') showTyping(); break;
    case 'read': if (f.from !== 'worker') onRead(f); break;
    case 'ended':
      if (S.conv && f.conversation_id === S.conv.id) finishConversation(f.conversation_id, f.by);
      break;
    case 'hotlines':
      showSafety(f.hotlines);
      break;
    case 'screened':
      if (!S.safety) show($('#screen-done'));
      break;
    case 'supervisor_joined':
      if (S.conv && f.conversation_id === S.conv.id) {
        addNote(f.display_name ? t('w.chat.supervisor_joined', { name: f.display_name }) : t('w.chat.supervisor_joined.anon'));
      }
      break;
    case 'service_closed':
      // Intake closed while waiting: the wait ends here. Never a dead end.
      if (Array.isArray(f.hotlines) && f.hotlines.length) { setServerHotlines(f.hotlines); renderHotlines(); }
      S.conv = null;
      saveConv();
      if (S.status) S.status.open = false;
      showClosed(f.next_open, true);
      break;
    case 'counselor_away':
      showChatNotice(t('w.chat.away'));
      setChatSub(t('w.chat.away'));
      break;
    case 'counselor_back':
      showChatNotice('');
      setChatSub('');
      addNote(t('w.chat.back'));
      break;
    case 'error': onError(f); break;
    default: break; // unknown frames are ignored (forward compatible)
  }
}

function onError(f) {
  if (f.ref === 'screen') {
    if (f.code === 'bad_field') { S.screened = false; renderScreenForm(); setText($('#screen-error'), t('w.screen.need')); show($('#screen-error')); }
    return; // conflict (already answered) or not waiting any more: nothing to show
  }
  const clientId = f.ref && S.refToClient[f.ref];
  if (clientId) {
    delete S.refToClient[f.ref];
    clearTimeout(S.ackTimers[clientId]);
    if (f.code === 'unavailable' || f.code === 'rate_limited') {
      // Nothing was stored, and later sends wait for this one (docs/PROTOCOL.md, "A
      // sender's order"): resend the whole outbox, in order, after the pause asked for.
      scheduleResend(f.retry_after_ms || 1000);
      return;
    }
    if (f.code === 'conversation_closed' || f.code === 'not_found') {
      if (S.conv) finishConversation(S.conv.id, 'counselor');
      return;
    }
    if (f.code === 'too_long' || f.code === 'bad_field') showChatNotice(t('w.chat.toolong'));
    setBubbleState(bubbleByClient(clientId), 'failed');
    return;
  }
  S.requesting = false;
  byTestId('request-chat').disabled = false;
  switch (f.code) {
    case 'service_closed':
      if (S.status) S.status.open = false;
      showClosed(f.next_open);
      break;
    case 'already_open':
      // We already have one: reconnect to get it in the welcome frame.
      if (S.conn) S.conn.reconnectNow();
      break;
    case 'rate_limited': {
      const err = $('#ready-error');
      setText(err, t('err.rate', { n: f.retry_after || 10 }));
      show(err);
      break;
    }
    case 'not_found':
    case 'conversation_closed':
      if (S.conv && S.conv.status === 'active') finishConversation(S.conv.id, 'counselor');
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------- connection state → banner

function onConnState(state) {
  const banner = byTestId('reconnect-banner');
  if (state === 'ready') {
    clearTimeout(S.bannerTimer);
    if (S.bannerShown) {
      setText(banner, t('w.banner.back'));
      banner.className = 'banner banner-ok';
      S.bannerTimer = setTimeout(() => { hide(banner); S.bannerShown = false; }, 2000);
    } else {
      hide(banner);
    }
    if (S.screen === 'ready') renderReady();
    byTestId('request-chat').disabled = false;
    return;
  }
  if (state === 'unauthorized') {
    hide(banner);
    S.signedIn = false;
    S.conv = null;
    store.del(KEY.conv);
    S.outbox = [];
    saveOutbox();
    const n = $('#signin-notice');
    setText(n, t('w.signin.expired'));
    show(n);
    go(store.get(KEY.consent, false) ? 'signin' : 'consent');
    return;
  }
  if (state === 'reconnecting' || state === 'offline') {
    byTestId('request-chat').disabled = true;
    const text = state === 'offline' || navigator.onLine === false ? t('w.banner.offline') : t('w.banner.reconnecting');
    clearTimeout(S.bannerTimer);
    if (S.bannerShown) {
      setText(banner, text);
      banner.className = 'banner' + (state === 'offline' ? ' banner-offline' : '');
    } else {
      // Don't flash a banner for a blip shorter than a second and a half.
      S.bannerTimer = setTimeout(() => {
        setText(banner, text);
        banner.className = 'banner' + (state === 'offline' ? ' banner-offline' : '');
        show(banner);
        S.bannerShown = true;
      }, 1500);
    }
  }
}

function startSocket() {
  if (S.conn) return;
  S.conn = new Connection('/ws/worker', { onFrame: onFrame, onState: onConnState });
  S.conn.start();
}

// ---------------------------------------------------------------- boot

async function boot() {
  applyI18n(document);
  renderHotlines();
  wire();

  const [status, me] = await Promise.all([
    loadStatus(),
    api('/api/worker/me', { timeout: 8000 }).catch((e) => (e instanceof ApiError && e.status === 401 ? null : undefined)),
  ]);
  renderStatus();
  renderClosed();

  if (me) {
    S.signedIn = true;
    S.alias = me.alias || '';
    S.historyAccess = !!me.history_access;
    S.pinSet = !!me.pin_set;
    renderReady();
    if (S.rateId && !me.open_conversation) {
      renderAfter('worker');
      go('after');
    }
    startSocket();   // the welcome frame decides the screen (waiting / chat / ready)
    if (!S.rateId && !me.open_conversation) { go('ready'); }
    // If the socket cannot come up, don't leave the worker on a spinner.
    setTimeout(() => { if (S.screen === 'loading') showError(navigator.onLine === false); }, 12000);
    return;
  }
  if (!status) {
    showError(navigator.onLine === false);
    return;
  }
  if (!status.open) {
    showClosed();
    return;
  }
  go('welcome');
}

function wire() {
  byTestId('quick-exit').addEventListener('click', quickExit);
  byTestId('hotline-button').addEventListener('click', openHotlines);
  byTestId('urgent-help').addEventListener('click', openHotlines);
  byTestId('lang-toggle').addEventListener('click', toggleLang);
  onLangChange(() => {
    renderHotlines();
    renderStatus();
    renderClosed();
    renderReady();
    renderQueue();
    buildScreenForm();
    if (S.counselorName) setCounselor(S.counselorName);
    for (const li of $$('li.msg-mine', log())) {
      const st = $('.msg-state', li);
      if (st) setText(st, stateLabel(li.classList.contains('is-read') && li.getAttribute('data-state') === 'sent' ? 'read' : li.getAttribute('data-state')));
    }
  });

  for (const btn of $$('[data-go]')) {
    btn.addEventListener('click', () => go(btn.getAttribute('data-go')));
  }

  byTestId('welcome-start').addEventListener('click', async () => {
    if (!S.status) {
      await loadStatus();
      renderStatus();
      if (!S.status) { showError(navigator.onLine === false); return; }
    }
    if (!S.status.open) { showClosed(); return; }
    go(store.get(KEY.consent, false) ? 'signin' : 'consent');
    if (store.get(KEY.consent, false)) $('#consent-check').checked = true;
  });

  $('#consent-form').addEventListener('submit', onConsentSubmit);
  $('#consent-check').addEventListener('change', () => hide($('#consent-error')));
  $('#signin-form').addEventListener('submit', onSignin);
  $('#number-input').addEventListener('input', () => onNumberInput(false));
  $('#number-input').addEventListener('blur', () => { if ($('#number-input').value) onNumberInput(true); });
  byTestId('number-x').addEventListener('click', addX);
  $('#pin-input').addEventListener('input', () => {
    const p = $('#pin-input');
    const clean = p.value.replace(/\D/g, '').slice(0, 6);
    if (clean !== p.value) p.value = clean;
    hide($('#pin-error'));
  });
  $('#pin-skip').addEventListener('click', () => {
    $('#pin-input').value = '';
    onSignin(null, { skipPin: true });
  });

  byTestId('request-chat').addEventListener('click', () => requestChat());
  $('#open-history').addEventListener('click', openHistory);

  $('#leave-queue').addEventListener('click', () => openDialog($('#leave-dialog')));
  $('#confirm-leave').addEventListener('click', leaveQueue);

  $('#composer').addEventListener('submit', onComposerSubmit);
  const input = byTestId('chat-input');
  input.addEventListener('input', onComposerInput);
  input.addEventListener('keydown', (ev) => {
    // Enter sends on a keyboard; on phones Enter is a new line and the button sends.
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && window.matchMedia && window.matchMedia('(pointer: fine)').matches) {
      ev.preventDefault();
      $('#composer').requestSubmit ? $('#composer').requestSubmit() : onComposerSubmit(ev);
    }
  });
  log().addEventListener('click', (ev) => {
    const target = ev.target instanceof Element ? ev.target.closest('.msg-mine[data-state="failed"]') : null;
    if (target) retry(target.getAttribute('data-client-id'));
  });
  byTestId('end-chat').addEventListener('click', () => openDialog($('#end-dialog')));
  byTestId('confirm-end').addEventListener('click', endChat);

  $('#rating-form').addEventListener('submit', submitRating);
  buildScreenForm();
  $('#screen-form').addEventListener('submit', submitScreen);
  $('#screen-skip').addEventListener('click', skipScreen);
  $('#rate-last').addEventListener('click', () => {
    if (!S.lastEnded) return;
    S.rateId = S.lastEnded.id;
    store.set(KEY.rate, S.rateId);
    const by = S.lastEnded.by;
    S.lastEnded = null;
    renderAfter(by);
    go('after');
  });
  $('#pin-form').addEventListener('submit', submitPin);
  $('#talk-again').addEventListener('click', () => {
    store.del(KEY.rate);
    renderReady();
    if (S.signedIn) { go('ready'); if (!S.conn) startSocket(); }
    else go('welcome');
  });
  $('#closed-refresh').addEventListener('click', async () => {
    await loadStatus();
    renderStatus();
    renderClosed();
    if (S.status && S.status.open) go(S.signedIn ? 'ready' : 'welcome');
  });
  $('#error-retry').addEventListener('click', () => {
    go('loading');
    boot2();
  });

  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') maybeSendRead(); });
  window.addEventListener('online', () => { if (S.screen === 'error') { go('loading'); boot2(); } });
  window.addEventListener('offline', () => { if (!S.conn) onConnState('offline'); });
}

let booted = false;
async function boot2() {
  // Re-run the status part of boot (the error screen's retry).
  const status = await loadStatus();
  renderStatus();
  renderClosed();
  if (!status) { showError(navigator.onLine === false); return; }
  if (S.signedIn) { go('ready'); if (!S.conn) startSocket(); return; }
  go(status.open ? 'welcome' : 'closed');
}

if (!booted) {
  booted = true;
  boot().catch((e) => { console.error(e); showError(false); });
}
