// The worker's chat: the transcript (messages in seq order, each once, the worker's own
// pending until stored), sending with an outbox that survives a reload, typing and read
// marks, the head (counselor's name, notices), and the end of the conversation.

import { $, $$, byTestId, h, setText, show, hide, closeDialog, newClientId } from '../dom.js';
import { t, fmtClock } from '../i18n.js';
import { Transcript, Outbox } from '../transcript.js';
import { workerAlert } from '../worker-alerts.js';
import { S, KEY, store, go, saveConv } from './state.js';
import { renderBubble, renderState } from './bubbles.js';
import { renderAfter } from './after.js';

export const transcript = new Transcript($('#chat-log'), { stateEl: renderState });

export const outbox = new Outbox(KEY.outbox, {
  sending(item) {
    const li = transcript.byClient(item.client_id);
    if (li && !li.hasAttribute('data-seq')) transcript.setState(li, 'sending');
  },
  failed(item) { transcript.setState(transcript.byClient(item.client_id), 'failed'); },
});

export function addNote(text, kind) {
  const stick = transcript.nearBottom();
  const li = h('li', { class: ['msg-note', kind ? 'msg-note-' + kind : ''], testid: 'chat-note', text: text });
  transcript.addNote(li, (S.conv && S.conv.lastSeq) || 0);
  if (stick) transcript.scrollToEnd();
}

function setTime(li, at) {
  const time = $('.msg-time', li);
  if (time && at) { time.setAttribute('datetime', at); setText(time, fmtClock(at)); }
}

export function onMessage(m) {
  if (!S.conv || m.conversation_id !== S.conv.id) return;
  const seq = Number(m.seq);
  const stick = transcript.nearBottom() || m.from === 'worker';
  const li = transcript.receive(m, (x) => renderBubble(x, 'sent'), (pending) => {
    outbox.drop(m.client_id);
    transcript.confirm(pending, seq);
    setTime(pending, m.at);
    return pending;
  });
  if (!li) return;                                  // shown already
  if (seq > (S.conv.lastSeq || 0)) { S.conv.lastSeq = seq; saveConv(); }
  if (m.from === 'counselor') hideTyping();
  // Only live ones: a sync after a reload replays what was already read.
  if (m.from === 'counselor' && S.live && !li.hasAttribute('data-alerted')) { li.setAttribute('data-alerted', ''); workerAlert('message'); }
  if (stick) transcript.scrollToEnd();
  maybeSendRead();
}

export function onAck(frame) {
  outbox.drop(frame.client_id);
  const li = transcript.byClient(frame.client_id);
  if (li) {
    transcript.setState(li, 'sent');
    setTime(li, frame.at);
  }
}

function pendingBubble(item) {
  return renderBubble({ from: 'worker', text: item.text, at: item.at, client_id: item.client_id }, 'sending');
}

export function queueSend(text) {
  if (!S.conv) return;
  const item = { client_id: newClientId('w'), conversation_id: S.conv.id, text: text, at: new Date().toISOString() };
  outbox.add(item);
  transcript.addPending(pendingBubble(item));
  transcript.scrollToEnd();
  outbox.transmit(item, S.conn);
}

/** A send was refused (`unavailable`, `rate_limited`): nothing was stored, and later sends
 *  wait for this one (docs/PROTOCOL.md, "A sender's order"): resend the whole outbox, in
 *  order, after the pause asked for. */
export function scheduleResend(delayMs) {
  outbox.scheduleResend('', delayMs, resendOutbox);
}

function resendOutbox() {
  if (!S.conv) return;
  // Drop what belongs to another (ended) conversation; resend the rest in order.
  outbox.keep((x) => x.conversation_id === S.conv.id);
  for (const item of outbox.items) {
    if (!transcript.byClient(item.client_id)) transcript.addPending(pendingBubble(item));
    outbox.transmit(item, S.conn);
  }
  transcript.scrollToEnd();
}

export function retry(clientId) {
  const item = outbox.find(clientId);
  if (item) outbox.transmit(item, S.conn);
}

export function setCounselor(name) {
  S.counselorName = name || '';
  setText(byTestId('counselor-name'), name ? t('w.chat.counselor', { name: name }) : t('w.chat.connecting'));
  $('.chat-head .avatar').textContent = name ? name.slice(-1) : '';
}

export function setChatSub(text) {
  setText($('#chat-sub'), text);
}

export function showChatNotice(text) {
  const n = $('#chat-notice');
  setText(n, text || '');
  show(n, !!text);
}

export function onComposerSubmit(ev) {
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

export function onComposerInput() {
  const input = byTestId('chat-input');
  autoGrow(input);
  store.set(KEY.draft, input.value);
  const now = Date.now();
  if (input.value && S.conv && S.conv.status === 'active' && now - S.lastTypingSent > 3000 && S.conn && S.conn.isReady()) {
    S.lastTypingSent = now;
    S.conn.send({ type: 'typing', conversation_id: S.conv.id });
  }
}

export function showTyping() {
  const el = $('#typing');
  setText(el, t('w.chat.typing', { name: S.counselorName || '' }));
  show(el);
  clearTimeout(S.typingTimer);
  S.typingTimer = setTimeout(hideTyping, 6000);
}

export function hideTyping() {
  clearTimeout(S.typingTimer);
  hide($('#typing'));
}

export function maybeSendRead() {
  if (!S.conv || S.screen !== 'chat' || document.visibilityState !== 'visible') return;
  const theirs = $$('li.msg-theirs[data-seq]', transcript.el);
  if (!theirs.length) return;
  const seq = Number(theirs[theirs.length - 1].getAttribute('data-seq'));
  if (seq > S.lastReadSent && S.conn && S.conn.isReady()) {
    S.lastReadSent = seq;
    S.conn.send({ type: 'read', conversation_id: S.conv.id, seq: seq });
  }
}

export function onRead(frame) {
  const upTo = Number(frame.seq);
  for (const li of $$('li.msg-mine[data-seq]', transcript.el)) {
    if (Number(li.getAttribute('data-seq')) <= upTo) {
      li.classList.add('is-read');
      const st = $('.msg-state', li);
      if (st && li.getAttribute('data-state') === 'sent') setText(st, t('w.chat.read'));
    }
  }
}

export function enterChat(conv) {
  const sameConv = S.conv && S.conv.id === conv.id && transcript.el.getAttribute('data-conv') === conv.id;
  const stored = store.get(KEY.conv, null);
  S.conv = { id: conv.id, status: 'active', lastSeq: sameConv ? (S.conv.lastSeq || 0) : 0 };
  if (!sameConv) {
    transcript.reset();
    transcript.el.setAttribute('data-conv', conv.id);
    S.lastReadSent = 0;
    // After a reload the log is empty: sync from 0 so the whole conversation shows again.
    if (stored && stored.id !== conv.id) outbox.items = outbox.items.filter((x) => x.conversation_id === conv.id);
  }
  saveConv();
  setCounselor(conv.counselor || S.counselorName);
  setChatSub('');
  const input = byTestId('chat-input');
  if (!input.value) input.value = store.get(KEY.draft, '') || '';
  autoGrow(input);
  if (S.screen !== 'chat') go('chat', { noFocus: false });
}

export function syncAndResend() {
  if (!S.conv || !S.conn) return;
  if (S.conv.status === 'active') {
    S.conn.send({ type: 'sync', conversation_id: S.conv.id, after_seq: S.conv.lastSeq || 0 });
    resendOutbox();
  }
}

export function endChat() {
  closeDialog($('#end-dialog'));
  if (!S.conv) return;
  const id = S.conv.id;
  if (S.conn) S.conn.send({ type: 'end', conversation_id: id });
  // If the socket is down the `ended` frame may never come; go on anyway.
  finishConversation(id, 'worker');
}

export function finishConversation(id, by) {
  if (S.screen === 'after' && S.rateId === id) return;
  S.rateId = id;
  store.set(KEY.rate, id);
  outbox.stopTimers();
  outbox.keep((x) => x.conversation_id !== id);
  store.del(KEY.draft);
  byTestId('chat-input').value = '';
  S.conv = null;
  saveConv();
  hideTyping();
  showChatNotice('');
  renderAfter(by);
  go('after');
}
