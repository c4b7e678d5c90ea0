// What the worker page does with each frame of /ws/worker (docs/PROTOCOL.md, "Worker
// frames"): a table of handlers, one per frame type.

import { $, byTestId, setText, show } from '../dom.js';
import { t } from '../i18n.js';
import { setServerHotlines } from '../hotlines.js';
import { workerAlert } from '../worker-alerts.js';
import { S, KEY, store, go, saveConv } from './state.js';
import { showClosed } from './status.js';
import { renderHotlines, showSafety } from './crisis.js';
import { renderReady } from './ready.js';
import { renderQueue, resetWaitExtras, renderScreenForm, sendWaitingDraft } from './waiting.js';
import {
  transcript, outbox, addNote, onMessage, onAck, scheduleResend, setChatSub, showChatNotice,
  showTyping, onRead, enterChat, syncAndResend, finishConversation,
} from './chat.js';

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
  // Missed while reconnecting: new to the worker. From 0 after a reload: already read.
  S.live = !!S.conv.lastSeq;
  syncAndResend();
}

// One handler per frame type; unknown frames are ignored (forward compatible).
const handlers = {
  welcome: onWelcome,
  queued(f) {
    S.requesting = false;
    if (S.screen === 'chat' && S.conv && S.conv.id === f.conversation_id) {
      // The reply to request_chat can come after `matched` (matched at once on another
      // node): it is stale, the chat goes on. Only a hand-over's `queued` says handover.
      if (!f.handover) return;
      // Counselor lost for good: back in the queue, the conversation is kept.
      S.conv.status = 'waiting';
      showChatNotice(typeof f.position === 'number' && f.position > 1 ? t('w.chat.requeue.pos', { n: f.position - 1 }) : t('w.chat.requeue'));
      setChatSub(t('w.chat.connecting'));
      return;
    }
    S.conv = { id: f.conversation_id, status: 'waiting', lastSeq: 0 };
    S.waitingDraftSent = false;
    resetWaitExtras(f.conversation_id);
    saveConv();
    renderQueue(f);
    if (S.screen !== 'waiting') go('waiting');
  },
  queue(f) {
    if (S.screen === 'chat' && S.conv && S.conv.status === 'waiting') {
      showChatNotice(f.position > 1 ? t('w.chat.requeue.pos', { n: f.position - 1 }) : t('w.chat.requeue'));
    } else {
      renderQueue(f);
    }
  },
  left() {
    if (S.screen === 'waiting') { renderReady(); go('ready'); }
  },
  matched(f) {
    const wasChat = S.screen === 'chat';
    if (!wasChat || !S.conv || S.conv.id !== f.conversation_id || S.conv.status === 'waiting') workerAlert('matched');
    enterChat({ id: f.conversation_id, counselor: f.counselor });
    if (!wasChat) S.live = true;  // nothing to replay: every message from now is new
    showChatNotice('');
    addNote(t('w.chat.matched', { name: f.counselor || '' }));
    if (wasChat) syncAndResend();
    sendWaitingDraft();
  },
  message: onMessage,
  ack: onAck,
  synced() { S.live = true; },
  typing(f) { if (f.from !== 'worker' && S.screen === 'chat') showTyping(); },
  read(f) { if (f.from !== 'worker') onRead(f); },
  ended(f) {
    if (S.conv && f.conversation_id === S.conv.id) finishConversation(f.conversation_id, f.by);
  },
  hotlines(f) { showSafety(f.hotlines); },
  screened() { if (!S.safety) show($('#screen-done')); },
  supervisor_joined(f) {
    if (S.conv && f.conversation_id === S.conv.id) {
      addNote(f.display_name ? t('w.chat.supervisor_joined', { name: f.display_name }) : t('w.chat.supervisor_joined.anon'));
    }
  },
  service_closed(f) {
    // Intake closed while waiting: the wait ends here. Never a dead end.
    if (Array.isArray(f.hotlines) && f.hotlines.length) { setServerHotlines(f.hotlines); renderHotlines(); }
    S.conv = null;
    saveConv();
    if (S.status) S.status.open = false;
    showClosed(f.next_open, true);
  },
  counselor_away() {
    showChatNotice(t('w.chat.away'));
    setChatSub(t('w.chat.away'));
  },
  counselor_back() {
    showChatNotice('');
    setChatSub('');
    addNote(t('w.chat.back'));
  },
  error: onError,
};

export function onFrame(f) {
  const handle = Object.prototype.hasOwnProperty.call(handlers, f.type) ? handlers[f.type] : null;
  if (handle) handle(f);
}

function onError(f) {
  if (f.ref === 'screen') {
    if (f.code === 'bad_field') { S.screened = false; renderScreenForm(); setText($('#screen-error'), t('w.screen.need')); show($('#screen-error')); }
    return; // conflict (already answered) or not waiting any more: nothing to show
  }
  const clientId = outbox.refused(f.ref);
  if (clientId) {
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
    transcript.setState(transcript.byClient(clientId), 'failed');
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
