// The worker page's state, what of it survives a reload (sessionStorage), and the
// screen switch: welcome → consent → sign in → ready → waiting → chat → after (+ closed,
// history, error), one <section data-screen> each.

import { $, $$, show } from '../dom.js';

// ---------------------------------------------------------------- session storage
// Only what is needed to survive a reload or a screen lock: the unacknowledged outbox,
// the open conversation id and last seq, a composer draft, the conversation to rate.

export const KEY = { outbox: 'yz.w.outbox', conv: 'yz.w.conv', draft: 'yz.w.draft', rate: 'yz.w.rate', consent: 'yz.w.consent', screened: 'yz.w.screened' };

export const store = {
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

export const S = {
  screen: 'loading',
  status: null,         // /api/status (merged with welcome.service)
  signedIn: false,
  alias: '',
  historyAccess: false,
  pinSet: false,
  conv: null,           // {id, status: 'waiting'|'active', counselor, lastSeq}
  counselorName: '',
  rateId: store.get(KEY.rate, null),
  requesting: false,
  waitingDraftSent: false,
  lastReadSent: 0,
  lastTypingSent: 0,
  typingTimer: null,
  conn: null,
  bannerTimer: null,
  bannerShown: false,
  lastQueue: null,
  screened: false,      // the pre-chat screen was answered or skipped for this wait
  lastEnded: null,      // welcome.last_ended (unrated)
  safety: false,        // hotlines were pushed (imminent risk or a positive screen)
  live: false,          // messages now are new to the worker (not a reload's replay)
};

// ---------------------------------------------------------------- screens

export function go(name, opts) {
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
  if (name === 'chat') { const log = $('#chat-log'); log.scrollTop = log.scrollHeight; }
}

export function saveConv() {
  if (S.conv) store.set(KEY.conv, { id: S.conv.id, status: S.conv.status, lastSeq: S.conv.lastSeq || 0 });
  else store.del(KEY.conv);
}
