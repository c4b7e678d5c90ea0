// The roster editor (supervisor, admin): the week as a grid (one-off shifts and leave per
// cell), weekly patterns, the hourly coverage of 10:00–24:00 as a heat map with the gaps
// listed first, and CSV import / export. Speaks the /api/roster/* routes.

import { $, h, clear, setText, show, hide } from './dom.js';
import { api, ApiError } from './api.js';
import { t, onLangChange } from './i18n.js';
import { toast } from './staff.js';
import { startPage, localDate, download } from './manage.js';

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const FIRST_HOUR = 10;
const LAST_HOUR = 23;  // the 23:00–24:00 hour is the last one of the service
const S = { monday: null, people: [], shifts: [], changes: [], patterns: [], coverage: null, cell: null };

// ---- dates (all in the service's zone; a date is "YYYY-MM-DD") ----

function addDays(iso, n) {
  const d = new Date(iso + 'T00:00:00Z');
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

function mondayOf(iso) {
  const d = new Date(iso + 'T00:00:00Z');
  return addDays(iso, -((d.getUTCDay() + 6) % 7));
}

function days() { return [0, 1, 2, 3, 4, 5, 6].map((i) => addDays(S.monday, i)); }

/** "14:00" of an ISO time with offset, in Shanghai; "24:00" for the midnight that ends a day. */
function hhmm(iso, day) {
  const local = new Date(new Date(iso).getTime() + 8 * 3600 * 1000).toISOString();
  const clock = local.slice(11, 16);
  return clock === '00:00' && local.slice(0, 10) !== day ? '24:00' : clock;
}

function timeOptions(select, value) {
  clear(select);
  for (let m = 0; m <= 24 * 60; m += 30) {
    const v = String(Math.floor(m / 60)).padStart(2, '0') + ':' + String(m % 60).padStart(2, '0');
    select.appendChild(h('option', { value: v, selected: v === value, text: v }));
  }
}

function errorText(e) {
  if (e instanceof ApiError && (e.code === 'roster_invalid' || e.code === 'bad_field')) return t('r.err.invalid', { why: e.message });
  return t('m.failed');
}

// ---- loading ----

async function load() {
  const from = S.monday;
  const to = addDays(from, 6);
  const [people, shifts, changes, patterns, coverage] = await Promise.all([
    api('/api/roster/people'),
    api('/api/roster/shifts?from=' + from + '&to=' + to),
    api('/api/roster/changes?from=' + from + '&to=' + to),
    api('/api/roster/patterns'),
    api('/api/roster/coverage?date=' + from + '&days=7'),
  ]);
  S.people = people.people || [];
  S.shifts = shifts.shifts || [];
  S.changes = changes.changes || [];
  S.patterns = patterns.patterns || [];
  S.coverage = coverage;
  renderAll();
}

function renderAll() {
  setText($('#wk-label'), t('r.week', { from: S.monday, to: addDays(S.monday, 6) }));
  renderGrid();
  renderCell();
  renderCoverage();
  renderPatterns();
}

// ---- the week grid ----

function renderGrid() {
  const head = $('#grid-head');
  clear(head);
  head.appendChild(h('th', { text: t('r.person') }));
  days().forEach((d, i) => head.appendChild(h('th', { text: t('r.day.' + i) + ' ' + d.slice(5) })));
  const body = $('#grid-rows');
  clear(body);
  for (const p of S.people) {
    const row = h('tr', { testid: 'grid-row', data: { username: p.username } },
      h('th', { scope: 'row' }, p.display_name, h('span', { class: 'muted small', text: ' ' + t('role.' + p.role) })));
    for (const d of days()) {
      const mine = S.shifts.filter((s) => s.staff_id === p.id && s.date === d);
      const leave = S.changes.filter((c) => c.staff_id === p.id && c.date === d && c.kind === 'leave');
      const cell = h('td', { class: 'cell', tabindex: '0', role: 'button', testid: 'grid-cell', data: { username: p.username, date: d },
        'aria-label': t('r.cell.title', { name: p.display_name, date: d }),
        on: { click: () => openCell(p, d), keydown: (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); openCell(p, d); } } } });
      for (const s of mine) cell.appendChild(h('span', { class: 'shift-chip', testid: 'shift', text: hhmm(s.start, d) + '–' + hhmm(s.end, d) }));
      for (const c of leave) cell.appendChild(h('span', { class: 'shift-chip is-leave', text: c.start + '–' + c.end }));
      if (!mine.length && !leave.length) cell.appendChild(h('span', { class: 'off', text: t('r.off') }));
      row.appendChild(cell);
    }
    body.appendChild(row);
  }
}

function openCell(person, date) {
  S.cell = { person: person, date: date };
  timeOptions($('#ce-start'), '10:00');
  timeOptions($('#ce-end'), '14:00');
  $('#ce-note').value = '';
  hide($('#ce-error'));
  renderCell();
  show($('#cell-editor'));
  $('#ce-start').focus();
}

function renderCell() {
  if (!S.cell) return;
  const { person, date } = S.cell;
  setText($('#cell-title'), t('r.cell.title', { name: person.display_name, date: date }));
  const list = $('#ce-changes');
  clear(list);
  for (const c of S.changes.filter((x) => x.staff_id === person.id && x.date === date)) {
    list.appendChild(h('li', { testid: 'cell-change' },
      h('span', { text: t(c.kind === 'extra' ? 'r.change.extra' : 'r.change.leave', { s: c.start, e: c.end }) + (c.note ? ' · ' + c.note : '') }),
      h('button', { type: 'button', class: 'btn btn-quiet btn-small', text: t('r.remove'), on: { click: () => removeChange(c) } })));
  }
  if (!list.children.length) list.appendChild(h('li', { class: 'muted small', text: t('m.none') }));
}

async function addChange(kind) {
  const { person, date } = S.cell;
  try {
    await api('/api/roster/changes', { method: 'POST', body: { staff_id: person.id, date: date, kind: kind,
      start: $('#ce-start').value, end: $('#ce-end').value, note: $('#ce-note').value.trim() } });
    hide($('#ce-error'));
    toast(t('m.saved'));
    await load();
  } catch (e) {
    setText($('#ce-error'), errorText(e));
    show($('#ce-error'));
  }
}

async function removeChange(c) {
  try {
    await api('/api/roster/changes/' + c.id, { method: 'DELETE' });
    await load();
  } catch (e) { toast(t('m.failed')); }
}

// ---- coverage: hours × days, darker = more missing; the gaps listed first ----

function renderCoverage() {
  const cov = S.coverage;
  if (!cov) return;
  // The worst gaps first (most people missing), then by time.
  const short = (x) => x.missing.counselors + x.missing.supervisors;
  const gaps = cov.hours.filter((x) => x.gap).sort((a, b) => short(b) - short(a) || (a.date + a.hour < b.date + b.hour ? -1 : 1));
  const badge = $('#gap-count');
  badge.setAttribute('data-gaps', String(cov.gaps));
  badge.className = cov.gaps ? 'pill pill-open' : 'pill pill-acked';
  setText(badge, cov.gaps ? t('r.gaps', { n: cov.gaps }) : t('r.gaps.none'));
  const list = $('#gap-list');
  clear(list);
  for (const g of gaps.slice(0, 8)) {
    list.appendChild(h('li', { testid: 'gap', text: t('r.gap.item', { date: g.date.slice(5), hour: g.hour, c: g.missing.counselors, s: g.missing.supervisors }) }));
  }
  const byKey = {};
  for (const x of cov.hours) byKey[x.date + ' ' + x.hour] = x;
  const head = $('#heat-head');
  clear(head);
  head.appendChild(h('th'));
  days().forEach((d, i) => head.appendChild(h('th', { text: t('r.day.' + i) })));
  const body = $('#heat-rows');
  clear(body);
  for (let hr = FIRST_HOUR; hr <= LAST_HOUR; hr++) {
    const label = String(hr).padStart(2, '0') + ':00';
    const row = h('tr', null, h('th', { scope: 'row', text: label }));
    for (const d of days()) {
      const x = byKey[d + ' ' + label];
      if (!x) { row.appendChild(h('td', { class: 'off', text: '—' })); continue; }
      const missing = x.missing.counselors + x.missing.supervisors;
      row.appendChild(h('td', { class: 'lvl-' + Math.min(3, missing), testid: 'heat-cell', data: { date: d, hour: label, missing: missing, counselors: x.counselors.length },
        title: x.counselors.map((p) => p.display_name).concat(x.supervisors.map((p) => p.display_name)).join('、'),
        text: x.counselors.length + '/' + x.supervisors.length }));
    }
    body.appendChild(row);
  }
}

// ---- weekly patterns ----

function renderPatterns() {
  const list = $('#pattern-list');
  clear(list);
  const names = {};
  for (const p of S.people) names[p.id] = p.display_name;
  for (const p of S.patterns) {
    const days = p.weekdays.split(',').map((w) => t('r.day.' + WEEKDAYS.indexOf(w))).join('、');
    list.appendChild(h('li', { testid: 'pattern' },
      h('span', { text: t('r.pattern.item', { name: names[p.staff_id] || p.username, days: days, s: p.start, e: p.end }) +
        (p.valid_from || p.valid_until ? ' (' + (p.valid_from || '…') + ' – ' + (p.valid_until || '…') + ')' : '') }),
      h('button', { type: 'button', class: 'btn btn-quiet btn-small', text: t('r.remove'), on: { click: () => removePattern(p) } })));
  }
  if (!S.patterns.length) list.appendChild(h('li', { class: 'muted small', text: t('m.none') }));
  const sel = $('#pf-person');
  const keep = sel.value;
  clear(sel);
  for (const p of S.people) sel.appendChild(h('option', { value: p.id, selected: p.id === keep, text: p.display_name }));
  const box = $('#pf-days');
  const checked = WEEKDAYS.filter((w) => { const c = $('#pf-d-' + w); return c && c.checked; });
  for (const l of Array.from(box.querySelectorAll('label'))) l.remove();
  WEEKDAYS.forEach((w, i) => box.appendChild(h('label', null,
    h('input', { type: 'checkbox', id: 'pf-d-' + w, value: w, checked: checked.indexOf(w) >= 0 }), t('r.day.' + i))));
}

async function removePattern(p) {
  try {
    await api('/api/roster/patterns/' + p.id, { method: 'DELETE' });
    await load();
  } catch (e) { toast(t('m.failed')); }
}

async function addPattern(ev) {
  ev.preventDefault();
  const err = $('#pf-error');
  hide(err);
  const weekdays = WEEKDAYS.filter((w) => $('#pf-d-' + w).checked).join(',');
  const body = { staff_id: $('#pf-person').value, weekdays: weekdays, start: $('#pf-start').value, end: $('#pf-end').value,
    valid_from: $('#pf-from').value || null, valid_until: $('#pf-until').value || null };
  try {
    await api('/api/roster/patterns', { method: 'POST', body: body });
    toast(t('m.saved'));
    await load();
  } catch (e) {
    setText(err, errorText(e));
    show(err);
  }
}

// ---- CSV ----

async function importCsv() {
  const input = $('#csv-file');
  const file = input.files && input.files[0];
  if (!file) return;
  const status = $('#csv-status');
  try {
    const text = await file.text();
    const res = await fetch('/api/roster/import?from=' + S.monday + '&to=' + addDays(S.monday, 6), {
      method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'text/csv' }, body: text });
    const data = await res.json();
    if (!res.ok) throw new ApiError(res.status, data);
    setText(status, t('r.import.done', { n: data.shifts }));
    await load();
  } catch (e) {
    setText(status, errorText(e));
  }
  input.value = '';
}

function go(monday) {
  S.monday = monday;
  S.cell = null;
  hide($('#cell-editor'));
  load().catch(() => toast(t('err.generic')));
}

startPage(['supervisor', 'admin'], () => {
  timeOptions($('#pf-start'), '10:00');
  timeOptions($('#pf-end'), '14:00');
  $('#wk-prev').addEventListener('click', () => go(addDays(S.monday, -7)));
  $('#wk-next').addEventListener('click', () => go(addDays(S.monday, 7)));
  $('#wk-now').addEventListener('click', () => go(mondayOf(localDate())));
  $('#ce-extra').addEventListener('click', () => addChange('extra'));
  $('#ce-leave').addEventListener('click', () => addChange('leave'));
  $('#ce-close').addEventListener('click', () => { S.cell = null; hide($('#cell-editor')); });
  $('#pattern-form').addEventListener('submit', addPattern);
  $('#csv-export').addEventListener('click', () => download('/api/roster/export?from=' + S.monday + '&to=' + addDays(S.monday, 6), 'roster-' + S.monday + '.csv').catch(() => toast(t('m.failed'))));
  $('#csv-file').addEventListener('change', importCsv);
  onLangChange(renderAll);
  const q = new URLSearchParams(location.search).get('week');
  go(mondayOf(q && /^\d{4}-\d{2}-\d{2}$/.test(q) ? q : localDate()));
});
