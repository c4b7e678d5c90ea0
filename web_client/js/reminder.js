// In-page reminder of a booked session: a slim banner from 30 minutes before until it ends.
// Used by the self-service pages and the worker's home page (signed in or not: a 401 is
// simply no reminder).

import { api } from './api.js';
import { t, fmtWhen, onLangChange } from './i18n.js';
import { h, clear, show } from './dom.js';
import './strings-services.js';

const SOON_MS = 30 * 60 * 1000;
const EARLY_MS = 10 * 60 * 1000; // an online session may start this early (server: EARLY)
let bookings = [];
let skew = 0; // server time minus this phone's time (a phone's clock may be wrong)
let timer = null;

function render() {
  const el = document.querySelector('[data-testid="booking-reminder"]');
  if (!el) return;
  const now = Date.now() + skew;
  const next = bookings
    .filter((b) => b.status === 'booked' && Date.parse(b.slot.ends_at) > now
      && Date.parse(b.slot.starts_at) - now < SOON_MS)
    .sort((a, b) => Date.parse(a.slot.starts_at) - Date.parse(b.slot.starts_at))[0];
  if (!next) { show(el, false); return; }
  clear(el);
  const startsIn = Date.parse(next.slot.starts_at) - now;
  if (next.slot.mode === 'online' && startsIn <= EARLY_MS) {
    el.appendChild(h('span', { text: t('ss.reminder.now') + ' ' }));
    if (location.pathname !== '/' && location.pathname !== '/index.html') {
      el.appendChild(h('a', { href: '/', testid: 'reminder-start', text: t('ss.reminder.start') }));
    }
  } else {
    el.appendChild(h('span', { text: t('ss.reminder.soon', { when: fmtWhen(next.slot.starts_at, new Date(now)) }) }));
    if (next.slot.station) {
      el.appendChild(h('span', { text: ' ' + t('ss.reminder.place', { place: next.slot.station.name }) }));
    }
  }
  show(el, true);
}

async function refresh() {
  if (document.visibilityState === 'hidden') return; // asked again when seen
  try {
    const r = await api('/api/worker/bookings', { timeout: 8000 });
    bookings = r.bookings || [];
    const server = Date.parse(r.now);
    skew = isNaN(server) ? 0 : server - Date.now();
  } catch (e) {
    bookings = [];
  }
  render();
}

export function startReminder() {
  if (timer) return;
  refresh();
  timer = setInterval(refresh, 60 * 1000);
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') refresh(); });
  onLangChange(render);
}
