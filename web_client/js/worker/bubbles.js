// How a message looks on the worker page: a bubble with its time, the sender's name when
// it is not the counselor, the state of the worker's own (sending → sent → read, or failed:
// tap to retry), and a referral card. Text typed by people is set as text, never as HTML.

import { $, $$, h, setText, telHref } from '../dom.js';
import { t, fmtClock } from '../i18n.js';
import { S } from './state.js';

function fromLabel(from) {
  if (from === 'worker') return t('w.chat.you');
  if (from === 'counselor') return S.counselorName || '';
  if (from === 'supervisor') return t('w.chat.supervisor');
  return t('w.chat.system');
}

export function stateLabel(state) {
  if (state === 'sending') return t('w.chat.sending');
  if (state === 'failed') return t('w.chat.failed');
  if (state === 'read') return t('w.chat.read');
  return t('w.chat.sent');
}

export function renderBubble(m, state) {
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

export function renderState(state, clientId) {
  if (state === 'failed') {
    return h('button', { type: 'button', class: 'msg-state msg-retry', testid: 'retry', data: { 'client-id': clientId }, text: stateLabel(state) });
  }
  return h('span', { class: 'msg-state', text: stateLabel(state) });
}

/** The language changed: relabel the state of the worker's own bubbles. */
export function relabelStates(log) {
  for (const li of $$('li.msg-mine', log)) {
    const st = $('.msg-state', li);
    if (st) setText(st, stateLabel(li.classList.contains('is-read') && li.getAttribute('data-state') === 'sent' ? 'read' : li.getAttribute('data-state')));
  }
}
