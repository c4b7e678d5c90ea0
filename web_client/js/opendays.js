// Open days: the month's events, sign-up or waiting list, my sign-ups, rating the teacher.

import {
  api, ApiError, t, h, $, clear, show, wireChrome, currentWorker, errorText, when, range, flash,
} from './selfservice.js';
import { startReminder } from './reminder.js';

const S = { events: [], signups: [], confirming: null };

function problem(e) {
  const codes = { already_signed_up: 'od.already', signup_not_open: 'od.not_open', signup_closed: 'od.closed' };
  if (e instanceof ApiError && codes[e.code]) return t(codes[e.code]);
  return errorText(e);
}

function renderMine() {
  const list = $('#my-signups');
  clear(list);
  if (!S.signups.length) list.appendChild(h('li', { class: 'muted', text: t('od.mine.empty') }));
  for (const s of S.signups) {
    const ev = s.event;
    const status = s.status === 'waiting' ? t('od.status.waiting', { n: s.position }) : t('od.status.confirmed');
    const actions = [];
    if (s.may_rate) {
      actions.push(h('div', { class: 'stars', role: 'group', 'aria-label': t('od.rate') },
        [1, 2, 3, 4, 5].map((n) => h('button', {
          type: 'button', class: 'btn btn-secondary btn-small', testid: 'rate-' + n,
          'aria-label': t('od.star', { n }), on: { click: () => rate(s, n) },
        }, String(n)))));
    } else if (s.rating) {
      actions.push(h('p', { class: 'meta', text: t('od.rated', { n: s.rating }) }));
    } else if (Date.parse(ev.starts_at) > Date.now()) {
      actions.push(S.confirming === s.id
        ? h('button', { type: 'button', class: 'btn btn-danger btn-small', testid: 'signup-cancel-confirm', on: { click: () => cancel(s) } }, t('od.cancel.confirm'))
        : h('button', { type: 'button', class: 'btn btn-quiet btn-small', testid: 'signup-cancel', on: { click: () => { S.confirming = s.id; renderMine(); } } }, t('od.cancel')));
    }
    list.appendChild(h('li', { class: 'item-card', testid: 'signup', data: { status: s.status } },
      h('span', { class: 'status status-' + s.status, testid: 'signup-status', text: status }),
      h('strong', { text: ev.theme }),
      h('p', { class: 'meta', text: range(ev.starts_at, ev.ends_at) + ' · ' + ev.place }),
      s.may_rate ? h('p', { class: 'meta', text: t('od.rate') + ' · ' + t('od.teacher', { name: ev.teacher }) }) : null,
      actions.length ? h('div', { class: 'actions' }, actions) : null));
  }
}

function renderEvents() {
  const list = $('#events');
  clear(list);
  const mine = new Set(S.signups.map((s) => s.event.id));
  if (!S.events.length) list.appendChild(h('li', { class: 'muted', text: t('od.empty') }));
  for (const ev of S.events) {
    const full = ev.confirmed >= ev.capacity;
    let action = null;
    if (!mine.has(ev.id) && ev.signup_open) {
      action = h('button', { type: 'button', class: 'btn btn-primary btn-small', testid: 'signup', on: { click: () => signUp(ev) } },
        full ? t('od.waitlist') : t('od.signup'));
    }
    list.appendChild(h('li', { class: 'item-card', testid: 'event', data: { event: ev.id } },
      h('strong', { text: ev.theme }),
      h('p', { class: 'meta', text: range(ev.starts_at, ev.ends_at) + ' · ' + ev.place }),
      h('p', { class: 'meta', text: t('od.teacher', { name: ev.teacher }) }),
      h('p', { class: 'meta', testid: 'event-places', text: full ? t('od.full', { n: ev.waiting }) : t('od.places', { confirmed: ev.confirmed, capacity: ev.capacity }) }),
      !ev.signup_open && Date.parse(ev.signup_opens_at) > Date.now() ? h('p', { class: 'meta', text: t('od.opens', { when: when(ev.signup_opens_at) }) }) : null,
      action ? h('div', { class: 'actions' }, action) : null));
  }
}

async function load() {
  const [events, mine] = await Promise.all([api('/api/open-days'), api('/api/worker/open-day-signups')]);
  S.events = events.open_days || [];
  S.signups = mine.signups || [];
  renderMine();
  renderEvents();
}

async function signUp(ev) {
  try {
    const s = await api('/api/worker/open-days/' + ev.id + '/signup', { method: 'POST' });
    flash($('#od-flash'), s.status === 'waiting' ? t('od.waiting', { n: s.position }) : t('od.signed'));
  } catch (e) {
    flash($('#od-flash'), problem(e), 'warm');
  }
  await load().catch(() => {});
}

async function cancel(s) {
  S.confirming = null;
  try {
    await api('/api/worker/open-day-signups/' + s.id, { method: 'DELETE' });
  } catch (e) {
    flash($('#od-flash'), problem(e), 'warm');
  }
  await load().catch(() => {});
}

async function rate(s, n) {
  try {
    await api('/api/worker/open-day-signups/' + s.id + '/rating', { method: 'POST', body: { score: n } });
  } catch (e) {
    flash($('#od-flash'), problem(e), 'warm');
  }
  await load().catch(() => {});
}

async function main() {
  wireChrome(() => { renderMine(); renderEvents(); });
  try {
    if (!(await currentWorker())) return;
    show($('#od-screen'));
    await load();
    startReminder();
  } catch (e) {
    show($('#od-screen'));
    flash($('#od-flash'), errorText(e), 'warm');
  }
}

main();
