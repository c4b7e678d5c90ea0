// The transcript of a conversation as a page shows it, shared by the worker page, the
// counselor console and the supervisor's watch panel:
// - Transcript: the log element. Messages sit in seq order and each seq is shown once
//   (a sync from 0 after a reload or a hand-over replays what may already be there); the
//   sender's own messages wait last, without a seq, until the server stores them; notes
//   sit just after the seq they followed.
// - Outbox: the sender's unacknowledged messages, kept in sessionStorage so a reload or a
//   screen lock loses nothing, resent in order (docs/PROTOCOL.md, "A sender's order").
// How a bubble looks stays with each page; this module only orders, finds and marks them.

import { $, $$, clear } from './dom.js';

const ACK_TIMEOUT_MS = 15000;  // no ack by then: the bubble offers "tap to retry"
const STICK_PX = 120;          // this close to the bottom, a new message scrolls the log

/** Order key of a log item: seq for messages, just after the seq it followed for notes,
 *  and last for pending (unacknowledged) bubbles. */
function orderKey(li) {
  const s = li.getAttribute('data-seq');
  if (s !== null) return Number(s);
  const after = li.getAttribute('data-after');
  if (after !== null) return Number(after) + 0.5;
  return Infinity;
}

export class Transcript {
  /**
   * @param {Element} el  the <ol> of the log
   * @param {{stateEl?: function(string, string): Element}} options  draws a bubble's state
   *   (sending / sent / failed) into its .msg-meta; without it only data-state changes.
   */
  constructor(el, options) {
    this.el = el;
    this.stateEl = (options && options.stateEl) || null;
    this.seen = new Set();  // seqs displayed, so a replayed message is not shown twice
  }

  /** Empty the log (another conversation, or a fresh one). */
  reset() {
    clear(this.el);
    this.seen = new Set();
  }

  /** True the first time a seq comes; false for one already shown. */
  accept(seq) {
    if (this.seen.has(seq)) return false;
    this.seen.add(seq);
    return true;
  }

  byClient(clientId) {
    if (!clientId) return null;
    return $$('li[data-client-id]', this.el).find((li) => li.getAttribute('data-client-id') === clientId) || null;
  }

  /** Insert an item in seq order; pending bubbles stay last. */
  place(li, key) {
    // Direct children only: cards and hotline boxes hold list items of their own.
    for (const other of $$(':scope > li', this.el)) {
      if (other !== li && orderKey(other) > key) { this.el.insertBefore(li, other); return; }
    }
    this.el.appendChild(li);
  }

  /** A note (not a message) just after the seq it followed. */
  addNote(li, afterSeq) {
    li.setAttribute('data-after', String(afterSeq));
    this.place(li, afterSeq + 0.5);
  }

  /** An own message not yet stored: last, until its seq is known. */
  addPending(li) {
    this.el.appendChild(li);
  }

  /**
   * A delivered message, once, in seq order. The pending bubble with its client_id is
   * handed to adopt(li) (which returns the element to keep); otherwise render(m) draws
   * one. Returns the element, or null when the seq was shown already.
   */
  receive(m, render, adopt) {
    const seq = Number(m.seq);
    if (!this.accept(seq)) return null;
    const pending = m.client_id ? this.byClient(m.client_id) : null;
    const li = pending ? adopt(pending) : render(m);
    this.place(li, seq);
    return li;
  }

  /** Mark a bubble sending / sent / failed (and redraw its state if the page draws one). */
  setState(li, state) {
    if (!li || li.getAttribute('data-state') === state) return;
    li.setAttribute('data-state', state);
    if (!this.stateEl) return;
    const meta = $('.msg-meta', li);
    if (!meta) return;
    const old = $('.msg-state', meta);
    if (old) meta.removeChild(old);
    meta.appendChild(this.stateEl(state, li.getAttribute('data-client-id')));
  }

  /** A pending bubble became a stored message: it takes its seq and shows as sent. */
  confirm(li, seq) {
    li.setAttribute('data-seq', String(seq));
    this.setState(li, 'sent');
  }

  nearBottom() {
    const el = this.el;
    return el.scrollHeight - el.scrollTop - el.clientHeight < STICK_PX;
  }

  scrollToEnd() {
    this.el.scrollTop = this.el.scrollHeight;
  }
}

export class Outbox {
  /**
   * @param {string} storageKey  sessionStorage key of the unacknowledged sends
   * @param {{sending: function(object), failed: function(object)}} hooks  show a bubble
   *   as sending when it is (re)sent, as failed when no ack came in time
   */
  constructor(storageKey, hooks) {
    this.key = storageKey;
    this.hooks = hooks;
    this.items = load(storageKey);  // {client_id, conversation_id, text, at}, in send order
    this.ackTimers = {};            // client_id → timer that marks the bubble failed
    this.refToClient = {};          // frame ref → client_id, to match an error to its send
    this.resendTimers = new Map();  // key → one resend for all the refusals of a burst
  }

  save() {
    try { sessionStorage.setItem(this.key, JSON.stringify(this.items)); } catch (e) { /* private mode: keep in memory only */ }
  }

  add(item) {
    this.items.push(item);
    this.save();
  }

  find(clientId) {
    return this.items.find((x) => x.client_id === clientId);
  }

  has(clientId) {
    return this.items.some((x) => x.client_id === clientId);
  }

  /** Acknowledged (or given up): forget it and its timer. */
  drop(clientId) {
    const before = this.items.length;
    this.items = this.items.filter((x) => x.client_id !== clientId);
    if (this.items.length !== before) this.save();
    this.stopTimer(clientId);
  }

  /** Keep only the items for which keep(item) is true. */
  keep(keep) {
    this.items = this.items.filter(keep);
    this.save();
  }

  stopTimer(clientId) {
    clearTimeout(this.ackTimers[clientId]);
    delete this.ackTimers[clientId];
  }

  stopTimers() {
    for (const cid of Object.keys(this.ackTimers)) clearTimeout(this.ackTimers[cid]);
    this.ackTimers = {};
  }

  /** Send (or resend, with the same client_id) one item; a bubble without an ack in
   *  time is marked failed. Offline, only the timer runs: the reconnect resends. */
  transmit(item, conn) {
    this.hooks.sending(item);
    clearTimeout(this.ackTimers[item.client_id]);
    this.ackTimers[item.client_id] = setTimeout(() => {
      if (this.has(item.client_id)) this.hooks.failed(item);
    }, ACK_TIMEOUT_MS);
    if (conn && conn.isReady()) {
      const ref = 's:' + item.client_id.slice(-24);
      this.refToClient[ref] = item.client_id;
      conn.send({ type: 'send', conversation_id: item.conversation_id, client_id: item.client_id, text: item.text, ref: ref });
    }
  }

  /** The client_id an error frame answers (its timer stopped), or null if not a send's. */
  refused(ref) {
    const clientId = ref && this.refToClient[ref];
    if (!clientId) return null;
    delete this.refToClient[ref];
    clearTimeout(this.ackTimers[clientId]);
    return clientId;
  }

  /** After `unavailable` or `rate_limited`: run resend once, after the pause asked for. */
  scheduleResend(key, delayMs, resend) {
    if (this.resendTimers.has(key)) return;
    this.resendTimers.set(key, setTimeout(() => { this.resendTimers.delete(key); resend(); }, delayMs));
  }
}

function load(key) {
  try {
    const raw = sessionStorage.getItem(key);
    return raw === null ? [] : JSON.parse(raw);
  } catch (e) { return []; }
}
