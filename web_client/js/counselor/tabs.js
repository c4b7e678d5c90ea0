// The counselor's conversations as tabs (alias, waiting or last message time, unread
// count, presence, risk badge; most severe first) and the top bar (duty, seats, queue).

import { $, $$, byTestId, h, clear, setText, show } from '../dom.js';
import { t, fmtClock, fmtDuration } from '../i18n.js';
import { RISKS, S, presenceOf } from './state.js';
import { renderPane } from './pane.js';

export function riskBadge(level, testid) {
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

export function renderTabs() {
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
      c.ended ? null : h('span', { class: 'presence presence-' + presenceOf(c), testid: 'worker-presence', data: { presence: presenceOf(c) }, text: t('pr.' + presenceOf(c)) }),
      c.unread ? h('span', { class: 'unread', testid: 'unread-count', 'aria-label': t('c.tab.unread', { n: c.unread }), text: String(c.unread) }) : null));
    wrap.appendChild(tab);
    if (focused === id) tab.focus();
  }
  const empty = $('#convs-empty');
  setText(empty, S.duty.on ? t('c.convs.empty.on') : t('c.convs.empty.off'));
  show(empty, S.order.length === 0);
  renderTop();
}

export function onTabKey(ev) {
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

export function select(id, keepFocus) {
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

export function renderTop() {
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
