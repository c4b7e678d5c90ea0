// Watching a conversation (read only), whispering to its counselor (never sent to the
// worker) and joining it; its transcript is ordered like every other (js/transcript.js).

import { $, byTestId, h, setText, show, hide, newClientId, telHref } from '../dom.js';
import { t, fmtClock } from '../i18n.js';
import { Transcript } from '../transcript.js';
import { S, send, levelOf } from './state.js';
import { renderEscalations } from './escalations.js';

export const transcript = new Transcript($('#watch-log'));

export function startWatch(e, reason) {
  if (S.watch && S.watch.convId !== e.conversation_id) closeWatch(true);
  if (!S.watch) {
    S.watch = { convId: e.conversation_id, alias: e.alias || '', escId: e.id, reason: reason || '', lastSeq: 0, joined: false, ended: false, outbox: {} };
    transcript.reset();
  }
  const frame = { type: 'watch', conversation_id: e.conversation_id };
  if (reason) frame.reason = reason;
  send(frame, { kind: 'watch', convId: e.conversation_id });
  renderWatchHead();
  show($('#watch-panel'));
  renderEscalations();
  $('#watch-panel').scrollIntoView({ block: 'nearest', behavior: 'smooth' });
}

export function closeWatch(silent) {
  S.watch = null;
  transcript.reset();
  hide($('#watch-panel'));
  if (!silent) renderEscalations();
}

export function renderWatchHead() {
  const w = S.watch;
  if (!w) return;
  setText(byTestId('watch-alias'), w.alias);
  const e = w.escId && S.escalations.get(w.escId);
  const lvEl = byTestId('watch-level');
  if (e) {
    lvEl.className = 'badge risk-' + levelOf(e);
    setText(lvEl, t('s.risk.' + levelOf(e)));
    show(lvEl);
  } else hide(lvEl);
  setText(byTestId('watch-mode'), w.ended ? t('v.watch.ended') : w.joined ? t('v.watch.joined') : t('v.watch.readonly'));
  show($('#sv-composer'), w.joined && !w.ended);
  byTestId('join-button').disabled = w.joined || w.ended;
  byTestId('whisper-send').disabled = w.ended;
  $('#watch-panel').classList.toggle('is-joined', w.joined);
}

function fromLabel(from) {
  return t('v.from.' + (['worker', 'counselor', 'supervisor', 'system'].indexOf(from) >= 0 ? from : 'system'));
}

function watchBubble(m, state) {
  const card = m.kind === 'referral' && m.card ? m.card : null;
  const li = h('li', {
    class: ['msg', m.from === 'worker' ? 'msg-theirs' : 'msg-mine', 'msg-from-' + m.from],
    testid: 'watch-message', data: { seq: m.seq, from: m.from, state: state, 'client-id': m.client_id },
  },
  h('p', { class: 'msg-head' }, h('span', { class: 'msg-who', text: fromLabel(m.from) }), h('time', { class: 'msg-time', datetime: m.at || '', text: fmtClock(m.at || new Date()) })),
  card
    ? h('div', { class: 'msg-text ref-card' },
      h('strong', { text: card.name || '' }), ' ',
      card.phone ? h('a', { href: telHref(card.phone), text: card.phone }) : null,
      card.hours ? h('span', { class: 'muted small', text: ' · ' + card.hours }) : null,
      card.note ? h('p', { class: 'small', text: card.note }) : null)
    : h('p', { class: 'msg-text', text: m.text || '' }));
  return li;
}

export function watchNote(text) {
  transcript.addNote(h('li', { class: 'msg-note', testid: 'watch-note', text: text }), S.watch ? S.watch.lastSeq : 0);
  transcript.scrollToEnd();
}

export function onWatchMessage(m) {
  const w = S.watch;
  if (!w || m.conversation_id !== w.convId) return;
  const seq = Number(m.seq);
  const stick = transcript.nearBottom();
  const shown = transcript.receive(m, (x) => watchBubble(x, 'sent'), (pending) => {
    const li = watchBubble(m, 'sent');
    pending.replaceWith(li);
    return li;
  });
  if (!shown) return;                // shown already
  if (seq > w.lastSeq) w.lastSeq = seq;
  if (stick || m.from === 'supervisor') transcript.scrollToEnd();
}

export function sendWhisper(ev) {
  ev.preventDefault();
  const w = S.watch;
  const input = byTestId('whisper-input');
  const text = input.value.trim();
  if (!w || !text) return;
  S.lastWhisper = text.slice(0, 2000);
  const ref = send({ type: 'whisper', conversation_id: w.convId, text: S.lastWhisper }, { kind: 'whisper' });
  if (ref) byTestId('whisper-send').disabled = true;
}

export function join() {
  const w = S.watch;
  if (!w || w.joined) return;
  send({ type: 'join', conversation_id: w.convId }, { kind: 'join' });
}

export function sendAsSupervisor(ev) {
  ev.preventDefault();
  const w = S.watch;
  const input = byTestId('sv-input');
  const text = input.value.replace(/\s+$/, '');
  if (!w || !w.joined || !text.trim()) return;
  const clientId = newClientId('v');
  const at = new Date().toISOString();
  transcript.addPending(watchBubble({ from: 'supervisor', text: text.slice(0, 2000), at: at, client_id: clientId }, 'sending'));
  transcript.scrollToEnd();
  send({ type: 'send', conversation_id: w.convId, client_id: clientId, text: text.slice(0, 2000) }, { kind: 'send', clientId: clientId });
  input.value = '';
}
