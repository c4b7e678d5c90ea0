// How a message looks in the counselor console: who, when, the text or a referral card,
// and the state of the counselor's own (sending, sent, failed: retry).

import { h, telHref } from '../dom.js';
import { t, fmtClock } from '../i18n.js';

function fromLabel(from) {
  return t('c.from.' + (['worker', 'counselor', 'supervisor', 'system'].indexOf(from) >= 0 ? from : 'system'));
}

/** c (optional): the conversation, whose handoverSeq tells "you" from the previous
 *  counselor (message frames carry no staff id: docs/PROTOCOL.md, "handover_seq"). */
export function renderBubble(m, state, c) {
  const previous = m.from === 'counselor' && !!c && c.handoverSeq != null && m.seq != null && Number(m.seq) <= c.handoverSeq;
  const mine = m.from === 'counselor' && !previous;
  const li = h('li', {
    class: ['msg', mine ? 'msg-mine' : 'msg-theirs', 'msg-from-' + m.from, previous ? 'msg-previous' : ''],
    testid: 'message', data: { seq: m.seq, state: state, from: m.from, author: mine ? 'me' : previous ? 'previous' : m.from, 'client-id': m.client_id },
  },
  h('p', { class: 'msg-head' }, h('span', { class: 'msg-who', text: previous ? t('c.from.previous') : fromLabel(m.from) }), h('time', { class: 'msg-time', datetime: m.at || '', text: fmtClock(m.at || new Date()) })),
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

export function stateEl(state, clientId) {
  if (state === 'failed') return h('button', { type: 'button', class: 'msg-state msg-retry', testid: 'retry', data: { 'client-id': clientId }, text: t('c.err.failed') });
  return h('span', { class: 'msg-state', text: state === 'sending' ? t('w.chat.sending') : t('w.chat.sent') });
}
