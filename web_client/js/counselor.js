// Counselor console: conversations as tabs, the chat, a side panel (risk, flag, scratch
// notes, supervisor whispers, referrals) and the case note after a conversation ends.

import { $, $$, byTestId, h, clear, setText, show, hide, openDialog, closeDialog, newClientId, telHref } from './dom.js';
import { api, ApiError } from './api.js';
import { Connection } from './connection.js';
import { t, applyI18n, onLangChange, fmtClock, fmtDuration } from './i18n.js';
import { getHotlines } from './hotlines.js';
import './strings-crisis.js';
import { showView, toast, wireLangToggles, currentStaff, wireSignin, showSignin, signOut, connLabel } from './staff.js';

const ACK_TIMEOUT_MS = 15000;
const RISKS = ['none', 'watch', 'high', 'imminent'];
const TOPICS = ['work', 'sleep', 'family', 'relation', 'wage', 'injury', 'mood', 'anxiety', 'other'];
const OUTBOX_KEY = 'yz.c.outbox';

const S = {
  staff: null,
  conn: null,
  duty: { on: false, load: 0, capacity: 2, draining: false },
  queue: { length: 0, longest_wait_s: 0 },
  convs: new Map(),   // id -> conversation view state
  order: [],          // ids in tab order
  active: null,       // selected id
  noteFor: null,      // id whose note form is showing
  outbox: loadOutbox(),
  ackTimers: {},
  refToClient: {},
  lastTypingSent: 0,
  resources: null,     // referral directory, null until loaded
  resourcesError: false,
};

function loadOutbox() {
  try { return JSON.parse(sessionStorage.getItem(OUTBOX_KEY) || '[]'); } catch (e) { return []; }
}
function saveOutbox() {
  try { sessionStorage.setItem(OUTBOX_KEY, JSON.stringify(S.outbox)); } catch (e) { /* ignore */ }
}

// ---------------------------------------------------------------- conversations

function getConv(id, init) {
  let c = S.convs.get(id);
  if (!c) {
    c = {
      id: id, alias: '', status: 'active', lastSeq: 0, risk: 'none',
      matchedAt: null, lastAt: null, unread: 0, workerAway: false, ended: false, handover: false,
      seen: new Set(), log: h('ol', { class: 'chat-log', role: 'log', 'aria-live': 'polite', testid: 'chat-log' }),
      scratch: '', whispers: [], typingTimer: null, draft: '', lastReadSent: 0,
      escId: null, noSupervisor: false, realert: false, wrapupUntil: null, flagMsg: '',
    };
    S.convs.set(id, c);
    S.order.push(id);
  }
  if (init) {
    if (init.alias) c.alias = init.alias;
    if (init.status) c.status = init.status;
    if (init.risk_level) c.risk = init.risk_level;
    if (init.matched_at) c.matchedAt = init.matched_at;
    if (init.handover) c.handover = true;
  }
  c.log.setAttribute('aria-label', c.alias || '');
  return c;
}

function removeConv(id) {
  S.convs.delete(id);
  S.order = S.order.filter((x) => x !== id);
  if (S.active === id) S.active = null;
}

function riskBadge(level, testid) {
  const lv = RISKS.indexOf(level) >= 0 ? level : 'none';
  return h('span', { class: ['badge', 'risk-' + lv], testid: testid || 'risk-badge', data: { risk: lv }, text: t('s.risk.' + lv) });
}

function tabTime(c) {
  if (c.lastAt) return t('c.tab.last', { t: fmtClock(c.lastAt) });
  if (c.matchedAt) {
    const s = (Date.now() - new Date(c.matchedAt).getTime()) / 1000;
    return t('c.tab.waiting', { t: fmtDuration(s) });
  }
  return '';
}

function renderTabs() {
  const wrap = $('#tabs');
  const focused = wrap.contains(document.activeElement) ? document.activeElement.getAttribute('data-conv-id') : null;
  clear(wrap);
  // Most severe risk first, then the order they arrived.
  const ids = S.order.slice().sort((a, b) => RISKS.indexOf(S.convs.get(b).risk) - RISKS.indexOf(S.convs.get(a).risk));
  for (const id of ids) {
    const c = S.convs.get(id);
    const selected = id === S.active;
    const tab = h('button', {
      type: 'button', role: 'tab', class: ['tab', selected ? 'is-active' : '', c.ended ? 'is-ended' : '', 'tab-risk-' + c.risk],
      'aria-selected': selected ? 'true' : 'false', 'aria-controls': 'chat', tabindex: selected || (!S.active && id === ids[0]) ? '0' : '-1',
      testid: 'conversation-tab', data: { 'conv-id': id },
      on: { click: () => select(id) },
    },
    h('span', { class: 'tab-top' },
      h('span', { class: 'tab-alias', text: c.alias || '…' }),
      c.risk !== 'none' ? riskBadge(c.risk) : null),
    h('span', { class: 'tab-bottom' },
      h('span', { class: 'tab-time', text: c.ended ? t('c.tab.ended') : c.workerAway ? t('c.tab.away') : tabTime(c) }),
      c.unread ? h('span', { class: 'unread', testid: 'unread-count', 'aria-label': t('c.tab.unread', { n: c.unread }), text: String(c.unread) }) : null));
    wrap.appendChild(tab);
    if (focused === id) tab.focus();
  }
  const empty = $('#convs-empty');
  setText(empty, S.duty.on ? t('c.convs.empty.on') : t('c.convs.empty.off'));
  show(empty, S.order.length === 0);
  renderTop();
}

function onTabKey(ev) {
  const tabs = $$('[role="tab"]', $('#tabs'));
  const i = tabs.indexOf(document.activeElement);
  if (i < 0) return;
  let next = -1;
  if (ev.key === 'ArrowDown') next = (i + 1) % tabs.length;
  else if (ev.key === 'ArrowUp') next = (i - 1 + tabs.length) % tabs.length;
  else if (ev.key === 'Home') next = 0;
  else if (ev.key === 'End') next = tabs.length - 1;
  if (next >= 0) {
    ev.preventDefault();
    tabs[next].focus();
    select(tabs[next].getAttribute('data-conv-id'), true);
  }
}

function select(id, keepFocus) {
  const prev = S.active && S.convs.get(S.active);
  if (prev) { prev.draft = byTestId('chat-input').value; prev.scratch = $('#scratch').value; }
  S.active = id;
  const c = S.convs.get(id);
  if (!c) { renderPane(); renderTabs(); return; }
  c.unread = 0;
  renderTabs();
  renderPane();
  if (keepFocus) {
    const tab = $$('[role="tab"]', $('#tabs')).find((x) => x.getAttribute('data-conv-id') === id);
    if (tab) tab.focus();
  }
}

function renderPane() {
  const c = S.active && S.convs.get(S.active);
  const noteMode = !!(c && c.ended);
  show($('#pane-empty'), !c);
  show($('#chat'), !!c && !noteMode);
  show($('#note-view'), noteMode || (!c && S.noteFor === '__done__'));
  show($('#side-empty'), !c);
  show($('#side-body'), !!c);
  if (!c) { if (S.noteFor !== '__done__') hide($('#note-view')); return; }
  if (noteMode) { renderNoteForm(c); }
  else {
    setText($('#chat-title'), c.alias);
    const risk = $('#chat-risk');
    risk.className = 'badge risk-' + c.risk;
    setText(risk, t('s.risk.' + c.risk));
    setText($('#chat-meta'), c.matchedAt ? t('c.tab.waiting', { t: fmtDuration((Date.now() - new Date(c.matchedAt).getTime()) / 1000) }) : '');
    const wrap = $('#log-wrap');
    if (wrap.firstChild !== c.log) { clear(wrap); wrap.appendChild(c.log); }
    const notice = $('#chat-notice');
    setText(notice, c.workerAway ? t('c.chat.worker_away') : c.handover ? t('c.chat.handover') : '');
    show(notice, c.workerAway || c.handover);
    // Only when switching conversations: a frame re-rendering the pane must not eat a draft.
    if (S.paneFor !== c.id) { byTestId('chat-input').value = c.draft || ''; S.paneFor = c.id; }
    c.log.scrollTop = c.log.scrollHeight;
    maybeSendRead(c);
  }
  $('#risk-select').value = c.risk;
  $('#scratch').value = c.scratch || '';
  renderWhispers(c);
  renderReferrals();
  hide($('#flag-form'));
  $('#flag-button').setAttribute('aria-expanded', 'false');
  const fs = $('#flag-status');
  setText(fs, c.flagMsg || '');
  show(fs, !!c.flagMsg);
  const alert = $('#chat-alert');
  setText(alert, c.noSupervisor ? t('c.no_supervisor') : c.realert ? t('c.esc.realert') : '');
  show(alert, !c.ended && (c.noSupervisor || c.realert));
}

// ---------------------------------------------------------------- messages

function fromLabel(from) {
  return t('c.from.' + (['worker', 'counselor', 'supervisor', 'system'].indexOf(from) >= 0 ? from : 'system'));
}

function renderBubble(m, state) {
  const mine = m.from === 'counselor';
  const li = h('li', {
    class: ['msg', mine ? 'msg-mine' : 'msg-theirs', 'msg-from-' + m.from],
    testid: 'message', data: { seq: m.seq, state: state, from: m.from, 'client-id': m.client_id },
  },
  h('p', { class: 'msg-head' }, h('span', { class: 'msg-who', text: fromLabel(m.from) }), h('time', { class: 'msg-time', datetime: m.at || '', text: fmtClock(m.at || new Date()) })),
  m.kind === 'referral' && m.card
    ? h('div', { class: 'msg-text ref-card', testid: 'referral-card' },
      h('span', { class: 'small muted', text: t('c.card') + ' · ' }),
      h('strong', { text: String(m.card.name || '') }), ' ',
      m.card.phone ? h('a', { href: telHref(m.card.phone), text: String(m.card.phone) }) : null,
      m.card.hours ? h('span', { class: 'muted small', text: ' · ' + String(m.card.hours) }) : null,
      m.card.note ? h('p', { class: 'small', text: String(m.card.note) }) : null)
    : h('p', { class: 'msg-text', text: m.text }));
  if (mine) li.appendChild(h('p', { class: 'msg-meta' }, stateEl(state, m.client_id)));
  return li;
}

function stateEl(state, clientId) {
  if (state === 'failed') return h('button', { type: 'button', class: 'msg-state msg-retry', testid: 'retry', data: { 'client-id': clientId }, text: t('c.err.failed') });
  return h('span', { class: 'msg-state', text: state === 'sending' ? t('w.chat.sending') : t('w.chat.sent') });
}

function setBubbleState(li, state) {
  if (!li || li.getAttribute('data-state') === state) return;
  li.setAttribute('data-state', state);
  const meta = $('.msg-meta', li);
  if (!meta) return;
  clear(meta);
  meta.appendChild(stateEl(state, li.getAttribute('data-client-id')));
}

function bubbleByClient(c, clientId) {
  return $$('li[data-client-id]', c.log).find((li) => li.getAttribute('data-client-id') === clientId) || null;
}

function orderKey(li) {
  const s = li.getAttribute('data-seq');
  if (s !== null) return Number(s);
  const after = li.getAttribute('data-after');
  if (after !== null) return Number(after) + 0.5;
  return Infinity;
}

function place(c, li, key) {
  for (const other of $$('li', c.log)) {
    if (other !== li && orderKey(other) > key) { c.log.insertBefore(li, other); return; }
  }
  c.log.appendChild(li);
}

function addNote(c, text) {
  const li = h('li', { class: 'msg-note', data: { after: c.lastSeq }, text: text });
  place(c, li, c.lastSeq + 0.5);
}

function onMessage(f) {
  const c = S.convs.get(f.conversation_id);
  if (!c) return;
  const seq = Number(f.seq);
  if (c.seen.has(seq)) return;
  c.seen.add(seq);
  if (seq > c.lastSeq) c.lastSeq = seq;
  const stick = c.log.scrollHeight - c.log.scrollTop - c.log.clientHeight < 120;
  let li = f.client_id ? bubbleByClient(c, f.client_id) : null;
  if (li) {
    dropFromOutbox(f.client_id);
    li.setAttribute('data-seq', String(seq));
    setBubbleState(li, 'sent');
  } else {
    li = renderBubble(f, 'sent');
  }
  place(c, li, seq);
  c.lastAt = f.at || new Date().toISOString();
  if (f.from === 'worker') {
    hideTyping(c);
    if (S.active !== c.id || document.visibilityState !== 'visible') c.unread += 1;
  }
  if (stick || f.from === 'counselor') c.log.scrollTop = c.log.scrollHeight;
  if (S.active === c.id) maybeSendRead(c);
  renderTabs();
}

function maybeSendRead(c) {
  if (document.visibilityState !== 'visible' || !S.conn || !S.conn.isReady()) return;
  const theirs = $$('li.msg-from-worker[data-seq]', c.log);
  if (!theirs.length) return;
  const seq = Number(theirs[theirs.length - 1].getAttribute('data-seq'));
  if (seq > c.lastReadSent) {
    c.lastReadSent = seq;
    S.conn.send({ type: 'read', conversation_id: c.id, seq: seq });
  }
}

function dropFromOutbox(clientId) {
  S.outbox = S.outbox.filter((x) => x.client_id !== clientId);
  saveOutbox();
  clearTimeout(S.ackTimers[clientId]);
  delete S.ackTimers[clientId];
}

function transmit(item) {
  const c = S.convs.get(item.conversation_id);
  if (!c) return;
  const li = bubbleByClient(c, item.client_id);
  if (li && !li.hasAttribute('data-seq')) setBubbleState(li, 'sending');
  clearTimeout(S.ackTimers[item.client_id]);
  S.ackTimers[item.client_id] = setTimeout(() => {
    if (S.outbox.some((x) => x.client_id === item.client_id)) setBubbleState(bubbleByClient(c, item.client_id), 'failed');
  }, ACK_TIMEOUT_MS);
  if (S.conn && S.conn.isReady()) {
    const ref = 's:' + item.client_id.slice(-24);
    S.refToClient[ref] = item.client_id;
    S.conn.send({ type: 'send', conversation_id: item.conversation_id, client_id: item.client_id, text: item.text, ref: ref });
  }
}

function send(ev) {
  ev.preventDefault();
  const c = S.active && S.convs.get(S.active);
  const input = byTestId('chat-input');
  const text = input.value.replace(/\s+$/, '');
  if (!c || c.ended || !text.trim()) return;
  const item = { client_id: newClientId('c'), conversation_id: c.id, text: text.slice(0, 2000), at: new Date().toISOString() };
  S.outbox.push(item);
  saveOutbox();
  c.log.appendChild(renderBubble({ from: 'counselor', text: item.text, at: item.at, client_id: item.client_id }, 'sending'));
  c.log.scrollTop = c.log.scrollHeight;
  input.value = '';
  c.draft = '';
  transmit(item);
}

function showTyping(c) {
  if (S.active !== c.id) return;
  const el = $('#typing');
  setText(el, t('c.chat.typing'));
  show(el);
  clearTimeout(c.typingTimer);
  c.typingTimer = setTimeout(() => hideTyping(c), 6000);
}

function hideTyping(c) {
  clearTimeout(c.typingTimer);
  if (S.active === c.id) hide($('#typing'));
}

// ---------------------------------------------------------------- end + case note

function endActive() {
  closeDialog($('#end-dialog'));
  const c = S.active && S.convs.get(S.active);
  if (!c) return;
  if (S.conn) S.conn.send({ type: 'end', conversation_id: c.id });
}

function onEnded(f) {
  const c = S.convs.get(f.conversation_id);
  if (!c) return;
  c.ended = true;
  c.status = 'ended';
  if (f.wrapup_until) c.wrapupUntil = f.wrapup_until;
  c.draft = S.active === c.id ? byTestId('chat-input').value : c.draft;
  addNote(c, t('c.chat.ended'));
  for (const item of S.outbox.filter((x) => x.conversation_id === c.id)) dropFromOutbox(item.client_id);
  if (!S.active || S.active === c.id) select(c.id);
  else renderTabs();
}

function renderNoteForm(c) {
  if (S.noteFor === c.id) return;
  S.noteFor = c.id;
  show($('#note-form'));
  hide($('#note-done'));
  hide($('#note-error'));
  setText($('#note-alias'), c.alias);
  const topics = $('#note-topics');
  clear(topics);
  for (const key of TOPICS) {
    const id = 'topic-' + key;
    topics.appendChild(h('span', { class: 'chip' },
      h('input', { type: 'checkbox', id: id, value: t('c.topic.' + key), data: { topic: key }, testid: 'note-topic' }),
      h('label', { for: id, text: t('c.topic.' + key) })));
  }
  const risks = $('#note-risk');
  clear(risks);
  for (const lv of RISKS) {
    const id = 'note-risk-' + lv;
    const input = h('input', { type: 'radio', name: 'note-risk', id: id, value: lv, testid: 'note-risk-' + lv });
    if (lv === c.risk) input.checked = true;
    risks.appendChild(h('span', { class: ['chip', 'chip-risk-' + lv] }, input, h('label', { for: id, text: t('s.risk.' + lv) })));
  }
  $('#note-text').value = c.scratch || '';
  renderWrapup();
  const heading = $('#h-note');
  if (heading) heading.focus();
}

function renderWrapup() {
  const el = $('#wrapup');
  const c = S.noteFor && S.convs.get(S.noteFor);
  if (!c || !c.wrapupUntil) { hide(el); return; }
  const over = new Date(c.wrapupUntil).getTime() <= Date.now();
  setText(el, over ? t('c.wrapup.over') : t('c.wrapup', { t: fmtClock(c.wrapupUntil) }));
  show(el);
}

async function submitNote(ev) {
  ev.preventDefault();
  const id = S.noteFor;
  const c = id && S.convs.get(id);
  if (!c) return;
  const topics = $$('input[type="checkbox"]', $('#note-topics')).filter((x) => x.checked).map((x) => x.value);
  const riskInput = $$('input[name="note-risk"]', $('#note-risk')).find((x) => x.checked);
  const body = { topics: topics, risk_level: riskInput ? riskInput.value : 'none', text: $('#note-text').value };
  const btn = byTestId('note-submit');
  btn.disabled = true;
  hide($('#note-error'));
  try {
    await api('/api/staff/conversations/' + encodeURIComponent(id) + '/note', { method: 'PUT', body: body });
    removeConv(id);
    S.noteFor = '__done__';
    hide($('#note-form'));
    show($('#note-done'));
    // Show the "saved / pause / keep going" card until the counselor chooses.
    show($('#note-view'));
    hide($('#pane-empty'));
    hide($('#chat'));
    renderTabs();
    show($('#side-empty')); hide($('#side-body'));
    byTestId('keep-going').focus();
  } catch (e) {
    const err = $('#note-error');
    setText(err, t('c.note.err'));
    show(err);
  } finally {
    btn.disabled = false;
  }
}

function afterNote(pause) {
  S.noteFor = null;
  hide($('#note-view'));
  if (pause && S.duty.on) S.conn.send({ type: 'duty', on: false });
  const next = S.order.find((id) => S.convs.get(id).ended) || S.order[0];
  if (next) select(next);
  else renderPane();
}

// ---------------------------------------------------------------- side panel

function renderWhispers(c) {
  const list = $('#whispers');
  clear(list);
  if (!c.whispers.length) { list.appendChild(h('li', { class: 'muted small', text: t('c.whispers.empty') })); return; }
  for (const w of c.whispers) {
    list.appendChild(h('li', { class: 'whisper', testid: 'whisper' },
      h('p', { class: 'whisper-meta', text: (w.from || t('c.from.supervisor')) + ' · ' + fmtClock(w.at) }),
      h('p', { class: 'whisper-text', text: w.text })));
  }
}

async function loadResources() {
  try {
    const data = await api('/api/referrals/resources', { timeout: 8000 });
    S.resources = ((data && data.resources) || []).filter((r) => !r.disabled);
    S.resourcesError = false;
  } catch (e) {
    S.resourcesError = true;
  }
  renderReferrals();
}

/** Escalations of my own conversations (counselors see only theirs): to know where a
 *  referral card may be sent. */
async function loadMyEscalations() {
  try {
    const data = await api('/api/supervisor/escalations?status=active', { timeout: 8000 });
    for (const e of (data && data.escalations) || []) {
      const c = S.convs.get(e.conversation_id);
      if (c) c.escId = e.id;
    }
    renderReferrals();
  } catch (e) { /* the directory stays read-only */ }
}

function renderReferrals() {
  const list = $('#referrals');
  const c = S.active && S.convs.get(S.active);
  const canSend = !!(c && c.escId && !c.ended && S.resources && S.resources.length);
  clear(list);
  const hint = $('#referral-hint');
  if (!S.resources) {
    setText(hint, S.resourcesError ? t('x.dir.error') : t('x.dir.loading'));
    if (S.resourcesError) {
      for (const line of getHotlines()) {
        list.appendChild(h('li', null, h('span', { text: line.name }), ' ', h('a', { href: telHref(line.phone), text: line.phone })));
      }
    }
    hide($('#referral-form'));
    return;
  }
  setText(hint, !S.resources.length ? t('x.dir.empty') : canSend ? t('c.referral.hint.esc') : t('c.referral.hint.noesc'));
  for (const r of S.resources) {
    const meta = [t('x.kind.' + (r.kind || 'other')), r.hours, r.region].filter(Boolean).join(' · ');
    if (canSend) {
      const id = 'cres-' + r.id;
      list.appendChild(h('li', { class: 'dir-item' },
        h('input', { type: 'radio', name: 'c-resource', id: id, value: r.id, testid: 'referral-resource' }),
        h('label', { for: id },
          h('span', { class: 'dir-name', text: r.name }),
          h('span', { class: 'dir-phone', text: r.phone }),
          h('span', { class: 'dir-meta muted small', text: meta }))));
    } else {
      list.appendChild(h('li', { class: 'dir-row', testid: 'referral-resource-ro' },
        h('span', { class: 'dir-name', text: r.name }), ' ',
        h('a', { class: 'dir-phone', href: telHref(r.phone), text: r.phone }),
        h('span', { class: 'dir-meta muted small', text: meta })));
    }
  }
  show($('#referral-form'), canSend);
}

async function sendReferral(ev) {
  ev.preventDefault();
  const c = S.active && S.convs.get(S.active);
  const chosen = $$('input[name="c-resource"]', $('#referrals')).find((x) => x.checked);
  const status = $('#referral-status');
  if (!c || !c.escId || !chosen) { setText(status, t('v.refer.need')); show(status); return; }
  const btn = byTestId('referral-send');
  btn.disabled = true;
  try {
    await api('/api/escalations/' + encodeURIComponent(c.escId) + '/referrals', {
      method: 'POST', body: { resource_id: chosen.value, note: $('#referral-note').value.trim().slice(0, 500) },
    });
    setText(status, t('c.referral.sent'));
    $('#referral-note').value = '';
    chosen.checked = false;
  } catch (e) {
    setText(status, t('c.referral.err'));
  } finally {
    show(status);
    btn.disabled = false;
  }
}

function sendFlag(ev) {
  ev.preventDefault();
  const c = S.active && S.convs.get(S.active);
  if (!c || !S.conn) return;
  const level = $('#flag-level').value;
  const reason = $('#flag-reason').value.trim();
  const status = $('#flag-status');
  if (!reason) { setText(status, t('c.flag.need_reason')); show(status); $('#flag-reason').focus(); return; }
  if (!S.conn.isReady()) { setText(status, t('conn.reconnecting')); show(status); return; }
  const ref = 'flag:' + c.id.slice(-40);
  S.conn.send({ type: 'flag', conversation_id: c.id, level: level, reason: reason.slice(0, 500), ref: ref });
  // Optimistic: the risk shows at once; the `flagged` answer confirms, an error undoes the message.
  if (RISKS.indexOf(level) > RISKS.indexOf(c.risk)) c.risk = level;
  c.flagMsg = t('c.flag.sent');
  setText(status, c.flagMsg);
  show(status);
  hide($('#flag-form'));
  $('#flag-button').setAttribute('aria-expanded', 'false');
  $('#flag-reason').value = '';
  renderTabs();
  $('#risk-select').value = c.risk;
  const risk = $('#chat-risk');
  risk.className = 'badge risk-' + c.risk;
  setText(risk, t('s.risk.' + c.risk));
}

// ---------------------------------------------------------------- top bar

function renderTop() {
  const btn = byTestId('duty-toggle');
  btn.setAttribute('aria-pressed', S.duty.on ? 'true' : 'false');
  btn.classList.toggle('is-on', S.duty.on);
  setText($('.duty-text', btn), S.duty.draining ? t('c.duty.draining') : S.duty.on ? t('c.duty.on') : t('c.duty.off'));
  const cap = byTestId('capacity');
  // Seats in use: the conversations on this console (an ended one holds its seat until the
  // note is saved). The `duty` frame's load is a snapshot taken when duty changed.
  const load = S.order.length;
  setText(cap, t('c.capacity', { load: load, cap: S.duty.capacity || 0 }));
  cap.classList.toggle('is-full', S.duty.on && load >= S.duty.capacity);
  const pick = byTestId('capacity-select');
  if (document.activeElement !== pick) pick.value = String(S.duty.capacity || 2);
  const q = byTestId('queue-length');
  q.setAttribute('data-length', String(S.queue.length || 0));
  setText(q, t('c.queue', { n: S.queue.length || 0 }) + (S.queue.length ? ' · ' + t('c.queue.longest', { wait: fmtDuration(S.queue.longest_wait_s || 0) }) : ''));
  q.classList.toggle('is-busy', (S.queue.length || 0) > 0);
}

function onConnState(state) {
  const el = byTestId('conn-state');
  el.setAttribute('data-state', state);
  setText($('.conn-text', el), connLabel(state));
  if (state === 'unauthorized') {
    S.conn = null;
    showSignin(t('s.unauthorized'));
  }
  const input = byTestId('chat-input');
  if (input) input.setAttribute('aria-busy', state === 'ready' ? 'false' : 'true');
}

// ---------------------------------------------------------------- frames

function onWelcome(f) {
  if (f.staff) S.staff = Object.assign({}, S.staff || {}, f.staff);
  setText(byTestId('staff-name'), (S.staff && S.staff.display_name) || '');
  if (f.duty) S.duty = f.duty;
  if (f.queue) S.queue = f.queue;
  const live = new Set();
  for (const conv of f.conversations || []) {
    const c = getConv(conv.id, conv);
    live.add(conv.id);
    S.conn.send({ type: 'sync', conversation_id: c.id, after_seq: c.lastSeq });
  }
  // Conversations we knew that are gone ended while we were away: they still need a note.
  for (const id of S.order) {
    const c = S.convs.get(id);
    if (!live.has(id) && !c.ended) { c.ended = true; c.status = 'ended'; }
  }
  // Resend what was never acknowledged, in order.
  S.outbox = S.outbox.filter((x) => live.has(x.conversation_id));
  saveOutbox();
  for (const item of S.outbox) {
    const c = S.convs.get(item.conversation_id);
    if (c && !bubbleByClient(c, item.client_id)) c.log.appendChild(renderBubble({ from: 'counselor', text: item.text, at: item.at, client_id: item.client_id }, 'sending'));
    transmit(item);
  }
  renderTop();
  if (!S.active && S.order.length) select(S.order[0]);
  else { renderTabs(); renderPane(); }
  if (S.order.length) loadMyEscalations();
}

function onFrame(f) {
  switch (f.type) {
    case 'welcome': onWelcome(f); break;
    case 'duty':
      S.duty = { on: !!f.on, load: f.load || 0, capacity: f.capacity || S.duty.capacity, draining: !!f.draining };
      renderTop(); renderTabs();
      break;
    case 'queue_stats': S.queue = { length: f.length || 0, longest_wait_s: f.longest_wait_s || 0 }; renderTop(); break;
    case 'assigned': {
      const conv = f.conversation || {};
      const c = getConv(conv.id, conv);
      c.matchedAt = c.matchedAt || new Date().toISOString();
      if (conv.handover) addNote(c, t('c.chat.handover'));
      S.conn.send({ type: 'sync', conversation_id: c.id, after_seq: 0 });
      if (!S.active || (S.noteFor !== '__done__' && !S.convs.get(S.active))) select(c.id);
      else { c.unread += 0; renderTabs(); }
      toast(c.alias);
      break;
    }
    case 'message': onMessage(f); break;
    case 'ack': {
      const id = f.client_id;
      clearTimeout(S.ackTimers[id]);
      const c = S.convs.get(f.conversation_id);
      dropFromOutbox(id);
      if (c) setBubbleState(bubbleByClient(c, id), 'sent');
      break;
    }
    case 'typing': { const c = S.convs.get(f.conversation_id); if (c && f.from === 'worker') showTyping(c); break; }
    case 'read': break;
    case 'ended': onEnded(f); break;
    case 'worker_away':
    case 'worker_back': {
      const c = S.convs.get(f.conversation_id);
      if (!c) break;
      c.workerAway = f.type === 'worker_away';
      addNote(c, c.workerAway ? t('c.chat.worker_away') : t('c.chat.worker_back'));
      renderTabs();
      if (S.active === c.id) renderPane();
      break;
    }
    case 'whisper': {
      // {type:'whisper', id, conversation_id, from: {id, display_name}, text, at}. Never shown to the worker.
      const c = S.convs.get(f.conversation_id);
      if (!c) break;
      if (f.id !== undefined && c.whispers.some((w) => w.id === f.id)) break;
      const from = f.from && typeof f.from === 'object' ? f.from.display_name : f.from;
      c.whispers.push({ id: f.id, from: from ? String(from) : '', text: String(f.text || ''), at: f.at });
      if (S.active === c.id) renderWhispers(c);
      toast(t('c.whisper.new', { alias: c.alias }), 8000);
      break;
    }
    case 'risk': {
      const c = S.convs.get(f.conversation_id);
      const level = f.level || f.risk_level;
      if (!c || RISKS.indexOf(level) < 0) break;
      if (level !== c.risk) addNote(c, t('c.risk.changed', { level: t('s.risk.' + level) }));
      c.risk = level;
      renderTabs();
      if (S.active === c.id) renderPane();
      if ((level === 'high' || level === 'imminent') && !c.escId) loadMyEscalations();
      break;
    }
    case 'flagged': {
      const c = S.convs.get(f.conversation_id);
      if (!c) break;
      if (f.escalation_id) c.escId = f.escalation_id;
      if (RISKS.indexOf(f.level) > RISKS.indexOf(c.risk)) c.risk = f.level;
      c.flagMsg = f.escalation_id ? t('c.flag.sent.esc', { level: t('s.risk.' + f.level) }) : t('c.flag.sent.watch');
      renderTabs();
      if (S.active === c.id) renderPane();
      break;
    }
    case 'no_supervisor': {
      const c = S.convs.get(f.conversation_id);
      if (!c) break;
      c.noSupervisor = true;
      if (f.escalation_id) c.escId = f.escalation_id;
      toast(t('c.no_supervisor'), 12000);
      if (S.active === c.id) renderPane();
      break;
    }
    case 'escalation': {
      // Counselors get these only when no supervisor is connected, or on a missed deadline.
      const e = f.escalation || {};
      const c = S.convs.get(e.conversation_id);
      if (!c) break;
      c.escId = e.status === 'resolved' ? null : e.id;
      if (f.no_supervisor) c.noSupervisor = true;
      c.realert = !!f.realert && e.status === 'open';
      if (e.status !== 'open') c.realert = false;
      if (RISKS.indexOf(e.level) > RISKS.indexOf(c.risk)) c.risk = e.level;
      renderTabs();
      if (S.active === c.id) renderPane();
      break;
    }
    case 'supervisor_joined': {
      const c = S.convs.get(f.conversation_id);
      if (c) addNote(c, t('c.supervisor_joined', { name: f.display_name || '' }));
      break;
    }
    case 'handed_over': {
      const c = S.convs.get(f.conversation_id);
      if (!c) break;
      toast(t('c.handed_over', { alias: c.alias }), 10000);
      S.outbox = S.outbox.filter((x) => x.conversation_id !== c.id);
      saveOutbox();
      removeConv(c.id);
      if (!S.active && S.order.length) select(S.order[0]);
      else { renderTabs(); renderPane(); }
      break;
    }

    case 'error': onError(f); break;
    default: break;
  }
}

function onError(f) {
  if (f.ref && f.ref.indexOf('flag:') === 0) {
    const status = $('#flag-status');
    const msg = f.code === 'unknown_type' ? t('c.flag.unsupported') : f.code === 'bad_field' ? t('c.flag.need_reason') : f.code === 'not_found' ? t('c.err.conversation_closed') : t('err.generic');
    const c = S.convs.get(S.active);
    if (c) c.flagMsg = msg;
    setText(status, msg);
    show(status);
    return;
  }
  const clientId = f.ref && S.refToClient[f.ref];
  if (clientId) {
    delete S.refToClient[f.ref];
    clearTimeout(S.ackTimers[clientId]);
    const item = S.outbox.find((x) => x.client_id === clientId);
    const c = item && S.convs.get(item.conversation_id);
    if (item && (f.code === 'unavailable' || f.code === 'rate_limited')) {
      // Nothing was stored, and later sends of the conversation wait for this one
      // (docs/PROTOCOL.md, "A sender's order"): resend them all, in order, after the pause.
      scheduleResend(item.conversation_id, f.retry_after_ms || 1000);
      return;
    }
    if (c) setBubbleState(bubbleByClient(c, clientId), 'failed');
    if (f.code === 'conversation_closed') toast(t('c.err.conversation_closed'));
    return;
  }
  if (f.code === 'service_closed') toast(t('c.err.service_closed'));
  else if (f.code === 'not_on_duty') toast(t('c.err.not_on_duty'));
  else if (f.code === 'rate_limited') toast(t('err.rate', { n: f.retry_after || 10 }));
  else toast(t('err.generic'));
}

const resendTimers = new Map(); // conversation id → pending resend after a refusal

function scheduleResend(convId, delayMs) {
  if (resendTimers.has(convId)) return; // one resend for all the refusals of a burst
  resendTimers.set(convId, setTimeout(() => {
    resendTimers.delete(convId);
    for (const item of S.outbox) if (item.conversation_id === convId) transmit(item);
  }, delayMs));
}

// ---------------------------------------------------------------- boot

function startConsole(staff) {
  S.staff = staff;
  setText(byTestId('staff-name'), staff.display_name || '');
  showView('app');
  renderTop();
  renderTabs();
  renderPane();
  renderReferrals();
  if (!S.resources) loadResources();
  if (!S.conn) {
    S.conn = new Connection('/ws/staff', { onFrame: onFrame, onState: onConnState });
    S.conn.start();
  }
}

function wire() {
  wireLangToggles();
  wireSignin(startConsole);
  onLangChange(() => { renderTop(); renderTabs(); S.noteFor = S.noteFor === '__done__' ? S.noteFor : null; renderPane(); onConnState(S.conn ? S.conn.state : 'connecting'); });
  $('#tabs').addEventListener('keydown', onTabKey);
  byTestId('capacity-select').addEventListener('change', (ev) => {
    // How many conversations at once: the server answers with a `duty` frame.
    if (!S.conn || !S.conn.isReady()) { toast(t('conn.reconnecting')); renderTop(); return; }
    S.conn.send({ type: 'capacity', capacity: Number(ev.target.value) });
  });
  byTestId('duty-toggle').addEventListener('click', () => {
    if (!S.conn || !S.conn.isReady()) { toast(t('conn.reconnecting')); return; }
    S.conn.send({ type: 'duty', on: !S.duty.on });
  });
  $('#signout').addEventListener('click', async () => {
    if (S.conn) { S.conn.stop(); S.conn = null; }
    await signOut();
    S.convs.clear(); S.order = []; S.active = null;
    showSignin();
  });
  $('#composer').addEventListener('submit', send);
  const input = byTestId('chat-input');
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); send(ev); }
  });
  input.addEventListener('input', () => {
    const c = S.active && S.convs.get(S.active);
    const now = Date.now();
    if (c && !c.ended && input.value && now - S.lastTypingSent > 3000 && S.conn && S.conn.isReady()) {
      S.lastTypingSent = now;
      S.conn.send({ type: 'typing', conversation_id: c.id });
    }
  });
  $('#log-wrap').addEventListener('click', (ev) => {
    const b = ev.target instanceof Element ? ev.target.closest('.msg-retry') : null;
    if (!b) return;
    const item = S.outbox.find((x) => x.client_id === b.getAttribute('data-client-id'));
    if (item) transmit(item);
  });
  $('#end-chat').addEventListener('click', () => openDialog($('#end-dialog')));
  byTestId('confirm-end').addEventListener('click', endActive);
  $('#note-form').addEventListener('submit', submitNote);
  byTestId('take-pause').addEventListener('click', () => afterNote(true));
  byTestId('keep-going').addEventListener('click', () => afterNote(false));
  $('#risk-select').addEventListener('change', () => {
    const c = S.active && S.convs.get(S.active);
    if (c) { c.risk = $('#risk-select').value; renderTabs(); renderPane(); }
  });
  $('#scratch').addEventListener('input', () => {
    const c = S.active && S.convs.get(S.active);
    if (c) c.scratch = $('#scratch').value;
  });
  $('#flag-button').addEventListener('click', () => {
    const form = $('#flag-form');
    const open = form.hasAttribute('hidden');
    show(form, open);
    $('#flag-button').setAttribute('aria-expanded', open ? 'true' : 'false');
    if (open) $('#flag-level').focus();
  });
  $('#flag-form').addEventListener('submit', sendFlag);
  $('#referral-form').addEventListener('submit', sendReferral);
  setInterval(() => { if (S.noteFor && S.noteFor !== '__done__') renderWrapup(); }, 15000);
  document.addEventListener('visibilitychange', () => {
    const c = S.active && S.convs.get(S.active);
    if (c && document.visibilityState === 'visible') { c.unread = 0; renderTabs(); maybeSendRead(c); }
  });
  setInterval(() => { if (S.order.length) renderTabs(); }, 30000);
}

async function boot() {
  applyI18n(document);
  wire();
  try {
    const staff = await currentStaff();
    if (staff) startConsole(staff);
    else showSignin();
  } catch (e) {
    showSignin(t('err.network'));
  }
}

boot();
