// Booking a one-to-one: my bookings (change, cancel), open times by day, in-page reminder.

import {
  api, ApiError, t, h, $, clear, show, wireChrome, currentWorker, errorText,
  when, range, flash,
} from './selfservice.js';
import { startReminder } from './reminder.js';

const S = { bookings: [], slots: [], changing: null, confirming: null };

function dayKey(iso) {
  return when(iso).split(' ').slice(0, -1).join(' ') || when(iso);
}

function modeLine(slot) {
  if (slot.mode === 'online') return t('bk.online');
  const st = slot.station || {};
  return t('bk.in_person') + ' · ' + (st.name || '') + (st.district ? '（' + st.district + '）' : '');
}

function stationLines(slot) {
  const st = slot.station;
  if (!st) return [h('p', { class: 'meta', text: t('bk.online.how') })];
  return [
    h('p', { class: 'meta', text: st.address }),
    st.hours ? h('p', { class: 'meta', text: t('bk.hours', { hours: st.hours }) }) : null,
    st.directions ? h('p', { class: 'meta', text: t('bk.directions', { d: st.directions }) }) : null,
  ];
}

function renderMine() {
  const list = $('#my-bookings');
  clear(list);
  const shown = S.bookings.filter((b) => b.status !== 'cancelled' || Date.parse(b.slot.ends_at) > Date.now() - 86400000);
  if (!shown.length) list.appendChild(h('li', { class: 'muted', testid: 'no-bookings', text: t('bk.mine.empty') }));
  for (const b of shown) {
    const live = b.status === 'booked';
    const actions = [];
    if (live && S.confirming === b.id) {
      actions.push(h('button', { type: 'button', class: 'btn btn-danger btn-small', testid: 'booking-cancel-confirm', on: { click: () => cancel(b) } }, t('bk.cancel.confirm')));
      actions.push(h('button', { type: 'button', class: 'btn btn-secondary btn-small', on: { click: () => { S.confirming = null; renderMine(); } } }, t('bk.cancel.keep')));
    } else if (live) {
      actions.push(h('button', { type: 'button', class: 'btn btn-secondary btn-small', testid: 'booking-change', on: { click: () => startChange(b) } }, t('bk.change')));
      actions.push(h('button', { type: 'button', class: 'btn btn-quiet btn-small', testid: 'booking-cancel', on: { click: () => { S.confirming = b.id; renderMine(); } } }, t('bk.cancel')));
    }
    list.appendChild(h('li', { class: 'item-card', testid: 'booking', data: { status: b.status, slot: b.slot.id } },
      h('span', { class: 'status status-' + b.status, testid: 'booking-status', text: t('bk.status.' + b.status) }),
      h('strong', { testid: 'booking-time', text: range(b.slot.starts_at, b.slot.ends_at) }),
      h('p', { class: 'meta', text: t('bk.with', { name: b.slot.counselor.display_name }) + ' · ' + modeLine(b.slot) }),
      live ? stationLines(b.slot) : null,
      actions.length ? h('div', { class: 'actions' }, actions) : null));
  }
}

function renderSlots() {
  const box = $('#slots');
  clear(box);
  show($('#change-banner'), !!S.changing);
  if (!S.slots.length) {
    box.appendChild(h('p', { class: 'muted', testid: 'no-slots', text: t('bk.slots.empty') }));
    return;
  }
  let day = null;
  let list = null;
  for (const s of S.slots) {
    const k = dayKey(s.starts_at);
    if (k !== day) {
      day = k;
      box.appendChild(h('h3', { class: 'day-title', text: k }));
      list = h('ul', { class: 'item-list' });
      box.appendChild(list);
    }
    list.appendChild(h('li', { class: 'item-card', testid: 'slot', data: { slot: s.id, counselor: s.counselor.display_name } },
      h('strong', { text: range(s.starts_at, s.ends_at) }),
      h('p', { class: 'meta', text: t('bk.with', { name: s.counselor.display_name }) + ' · ' + modeLine(s) }),
      stationLines(s),
      h('div', { class: 'actions' }, h('button', {
        type: 'button', class: 'btn btn-primary btn-small', testid: 'slot-book', on: { click: () => book(s) },
      }, S.changing ? t('bk.pick') : t('bk.book')))));
  }
}

function startChange(b) {
  S.changing = b;
  renderSlots();
  $('#h-choose').scrollIntoView();
}

async function load() {
  const [mine, open] = await Promise.all([api('/api/worker/bookings'), api('/api/worker/slots')]);
  S.bookings = mine.bookings || [];
  S.slots = open.slots || [];
  renderMine();
  renderSlots();
}

function problem(e) {
  if (e instanceof ApiError && e.code === 'slot_taken') return t('bk.taken');
  if (e instanceof ApiError && e.code === 'too_many_bookings') return t('bk.too_many');
  return errorText(e);
}

async function book(slot) {
  const changing = S.changing;
  try {
    if (changing) {
      await api('/api/worker/bookings/' + changing.id, { method: 'PUT', body: { slot_id: slot.id } });
      flash($('#bk-flash'), t('bk.changed'));
    } else {
      await api('/api/worker/bookings', { method: 'POST', body: { slot_id: slot.id } });
      flash($('#bk-flash'), t('bk.booked'));
    }
    S.changing = null;
  } catch (e) {
    flash($('#bk-flash'), problem(e), 'warm');
  }
  await load().catch(() => {});
  window.scrollTo(0, 0);
}

async function cancel(b) {
  S.confirming = null;
  try {
    await api('/api/worker/bookings/' + b.id, { method: 'DELETE' });
    flash($('#bk-flash'), t('bk.cancelled'));
  } catch (e) {
    flash($('#bk-flash'), problem(e), 'warm');
  }
  await load().catch(() => {});
}

async function main() {
  wireChrome(() => { renderMine(); renderSlots(); });
  $('#change-cancel').addEventListener('click', () => { S.changing = null; renderSlots(); });
  try {
    if (!(await currentWorker())) return;
    show($('#booking-screen'));
    await load();
    startReminder();
  } catch (e) {
    show($('#booking-screen'));
    flash($('#bk-flash'), errorText(e), 'warm');
  }
}

main();
