// Staff services page: the day's bookings (counselors: their own; supervisors: all),
// publishing slots (counselors), stations, library and open days (admins), and the
// self-service report (supervisors, admins). Text typed by people is shown as text.

import { api, ApiError } from './api.js';
import { $, h, clear, setText } from './dom.js';
import { t, onLangChange, fmtWhen } from './i18n.js';
import { wireLanguage } from './shell.js';
import { showView, toast, currentStaff, wireSignin, showSignin, signOut } from './staff.js';
import './strings-services.js';

const TABS = {
  counselor: ['today', 'slots'],
  supervisor: ['today', 'report'],
  admin: ['stations', 'library', 'opendays', 'report'],
};
const S = { staff: null, tab: null, stations: [] };

function fmt(iso) { return fmtWhen(iso, new Date()); }

function field(id, labelKey, input) {
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id, text: t(labelKey) }), input);
}

function input(type, attrs) { return h('input', Object.assign({ type }, attrs || {})); }

function localDate(d) {
  const p = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' }).format(d);
  return p;
}

/** 'YYYY-MM-DDTHH:MM' typed as Shanghai time → ISO with +08:00. */
function shanghai(value) { return value ? value + ':00+08:00' : ''; }

function fail(e) {
  toast(e instanceof ApiError && e.problem && e.problem.detail ? e.problem.detail : t('err.generic'));
}

function renderTabs() {
  const nav = $('#tabs');
  clear(nav);
  for (const tab of TABS[S.staff.role] || []) {
    nav.appendChild(h('button', {
      type: 'button', class: 'btn btn-quiet btn-small', role: 'tab', testid: 'tab-' + tab,
      'aria-selected': S.tab === tab ? 'true' : 'false', on: { click: () => open(tab) },
    }, t('st.tab.' + tab)));
  }
}

async function open(tab) {
  S.tab = tab;
  renderTabs();
  const panel = $('#panel');
  clear(panel);
  try {
    await PANELS[tab](panel);
  } catch (e) {
    panel.appendChild(h('p', { class: 'form-error', text: t('err.generic') }));
  }
}

// ---- today -------------------------------------------------------------------------

async function today(panel, day) {
  const d = day || localDate(new Date());
  const data = await api('/api/staff/bookings?day=' + d);
  const picker = input('date', { value: d, testid: 'day' });
  picker.addEventListener('change', () => { clear(panel); today(panel, picker.value); });
  panel.appendChild(h('section', null,
    h('div', { class: 'svc-form' }, field('day', 'st.day', picker)),
    h('p', { class: 'svc-counts', testid: 'day-counts', text: t('st.counts', data.counts) })));
  if (!data.slots.length) { panel.appendChild(h('p', { class: 'muted', text: t('st.no_slots') })); return; }
  const body = h('tbody');
  for (const s of data.slots) {
    const place = s.mode === 'online' ? t('bk.online') : t('bk.in_person') + ' · ' + (s.station ? s.station.name : '');
    const rows = s.bookings.length ? s.bookings : [null];
    for (const b of rows) {
      const actions = [];
      if (b && (b.status === 'booked' || b.status === 'no_show') && Date.parse(s.starts_at) <= Date.now()) {
        for (const st of ['attended', 'no_show']) {
          actions.push(h('button', { type: 'button', class: 'btn btn-secondary btn-small', on: { click: async () => {
            try { await api('/api/staff/bookings/' + b.id + '/attendance', { method: 'POST', body: { status: st } }); clear(panel); await today(panel, d); } catch (e) { fail(e); }
          } } }, t('st.mark.' + st)));
        }
      }
      body.appendChild(h('tr', { testid: 'day-row' },
        h('td', { text: fmt(s.starts_at) }), h('td', { text: s.counselor.display_name }), h('td', { text: place }),
        h('td', { text: b ? b.alias : t('st.free') }),
        h('td', null, b ? h('span', { class: 'svc-status svc-status-' + b.status, text: t('bk.status.' + b.status) }) : null),
        h('td', null, h('div', { class: 'svc-row-actions' }, actions))));
    }
  }
  const head = h('thead', null, h('tr', null, ['time', 'counselor', 'place', 'worker', 'status'].map((c) => h('th', { text: t('st.col.' + c) })), h('th')));
  panel.appendChild(h('table', { class: 'svc-table' }, head, body));
}

// ---- slots -------------------------------------------------------------------------

async function slots(panel) {
  S.stations = (await api('/api/stations')).stations || [];
  const start = input('datetime-local', { testid: 'slot-start' });
  const minutes = input('number', { value: '50', min: '15', max: '180', testid: 'slot-minutes' });
  const mode = h('select', { testid: 'slot-mode' }, h('option', { value: 'online', text: t('bk.online') }), h('option', { value: 'in_person', text: t('bk.in_person') }));
  const station = h('select', { testid: 'slot-station' }, S.stations.map((s) => h('option', { value: s.id, text: s.district + ' · ' + s.name })));
  const go = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'slot-publish' }, t('st.slot.publish'));
  const form = h('form', { class: 'svc-form card' }, field('slot-start', 'st.slot.start', start), field('slot-minutes', 'st.slot.minutes', minutes),
    field('slot-mode', 'st.slot.mode', mode), field('slot-station', 'st.slot.station', station), go);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const begins = new Date(shanghai(start.value));
    const body = { starts_at: shanghai(start.value), ends_at: new Date(begins.getTime() + Number(minutes.value) * 60000).toISOString(), mode: mode.value };
    if (mode.value === 'in_person') body.station_id = station.value;
    try {
      await api('/api/staff/slots', { method: 'POST', body });
      toast(t('st.slot.published'));
    } catch (e) {
      if (e instanceof ApiError && e.code === 'not_rostered') toast(t('st.slot.not_rostered'));
      else if (e instanceof ApiError && e.status === 409) toast(t('st.slot.overlap'));
      else fail(e);
    }
  });
  panel.appendChild(h('section', null, form));
}

// ---- admin directories ---------------------------------------------------------------

function editor(panel, opts) {
  // opts: {list, fields: [[name, labelKey, type]], save(id, body), row(item)}
  const table = h('tbody');
  const draw = (items) => {
    clear(table);
    for (const item of items) table.appendChild(h('tr', { testid: opts.testid }, opts.row(item), opts.createOnly ? null : h('td', null,
      h('button', { type: 'button', class: 'btn btn-quiet btn-small', testid: 'f-edit', on: { click: () => fill(item) } }, t('st.edit')))));
  };
  const inputs = {};
  const parts = opts.fields.map(([name, key, type]) => {
    inputs[name] = type === 'select' ? h('select', null, opts.options[name].map((v) => h('option', { value: v, text: v })))
      : type === 'checkbox' ? input('checkbox') : input(type || 'text');
    inputs[name].setAttribute('data-testid', 'f-' + name);
    return field('f-' + name, key, inputs[name]);
  });
  let editing = null;
  const fill = (item) => {
    editing = item.id;
    for (const [name, , type] of opts.fields) {
      const v = item[name];
      if (type === 'checkbox') inputs[name].checked = !!v;
      else inputs[name].value = Array.isArray(v) ? v.join(', ') : (v === undefined || v === null ? '' : String(v));
    }
  };
  const form = h('form', { class: 'svc-form card' }, parts, h('button', { type: 'submit', class: 'btn btn-primary', testid: 'f-save' }, t('st.save')));
  form.addEventListener('reset', () => { editing = null; });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = {};
    for (const [name, , type] of opts.fields) {
      const el = inputs[name];
      body[name] = type === 'checkbox' ? el.checked : type === 'tags' ? el.value.split(',').map((x) => x.trim()).filter(Boolean)
        : type === 'number' ? Number(el.value) : type === 'datetime-local' ? shanghai(el.value) : el.value;
    }
    try {
      await opts.save(editing, body);
      editing = null;
      form.reset();
      toast(t('st.saved'));
      draw(await opts.list());
    } catch (e) { fail(e); }
  });
  panel.appendChild(h('section', null, form));
  panel.appendChild(h('section', null, h('table', { class: 'svc-table' }, table)));
  opts.list().then(draw).catch(fail);
}

function stations(panel) {
  editor(panel, {
    testid: 'station-row',
    fields: [['name', 'st.f.name'], ['district', 'st.f.district'], ['address', 'st.f.address'], ['hours', 'st.f.hours'], ['directions', 'st.f.directions'], ['disabled', 'st.disabled', 'checkbox']],
    list: async () => (await api('/api/admin/stations')).stations,
    save: (id, body) => api(id ? '/api/admin/stations/' + id : '/api/admin/stations', { method: id ? 'PUT' : 'POST', body }),
    row: (s) => [h('td', { text: s.district }), h('td', { text: s.name }), h('td', { text: s.address }), h('td', { text: s.hours }), h('td', { text: s.disabled ? t('st.disabled') : '' })],
  });
}

function library(panel) {
  editor(panel, {
    testid: 'library-row',
    options: { kind: ['exercise', 'music', 'film', 'ebook', 'course', 'article'] },
    fields: [['kind', 'st.f.kind', 'select'], ['title', 'st.f.title'], ['title_en', 'st.f.title_en'], ['summary', 'st.f.summary'], ['url', 'st.f.url'],
      ['topics', 'st.f.topics', 'tags'], ['suitable', 'st.f.suitable', 'tags'], ['disabled', 'st.disabled', 'checkbox']],
    list: async () => (await api('/api/admin/library')).items,
    save: (id, body) => api(id ? '/api/admin/library/' + id : '/api/admin/library', { method: id ? 'PUT' : 'POST', body }),
    row: (i) => [h('td', { text: t('sh.kind.' + i.kind) }), h('td', { text: i.title }), h('td', { text: i.url }), h('td', { text: i.suitable.join(', ') }), h('td', { text: i.disabled ? t('st.disabled') : '' })],
  });
}

function opendays(panel) {
  editor(panel, {
    testid: 'openday-row',
    createOnly: true,
    fields: [['theme', 'st.f.theme'], ['teacher', 'st.f.teacher'], ['place', 'st.f.place'], ['starts_at', 'st.f.starts', 'datetime-local'],
      ['ends_at', 'st.f.ends', 'datetime-local'], ['signup_opens_at', 'st.f.opens', 'datetime-local'], ['capacity', 'st.f.capacity', 'number']],
    list: async () => (await api('/api/admin/open-days')).open_days,
    save: (id, body) => api('/api/admin/open-days', { method: 'POST', body }),
    row: (e) => [h('td', { text: fmt(e.starts_at) }), h('td', { text: e.theme }), h('td', { text: e.teacher }),
      h('td', { text: t('od.places', { confirmed: e.confirmed, capacity: e.capacity }) }), h('td', { text: String(e.waiting) })],
  });
}

// ---- report --------------------------------------------------------------------------

function avgText(avg, n) {
  return typeof avg === 'number' ? t('st.report.avg', { avg, n }) : t('st.report.few');
}

async function report(panel) {
  const to = input('date', { value: localDate(new Date()), testid: 'report-to' });
  const from = input('date', { value: localDate(new Date(Date.now() - 29 * 86400000)), testid: 'report-from' });
  const out = h('div', { testid: 'report' });
  const form = h('form', { class: 'svc-form card' }, field('r-from', 'st.report.from', from), field('r-to', 'st.report.to', to),
    h('button', { type: 'submit', class: 'btn btn-primary' }, t('st.report.run')));
  const run = async () => {
    clear(out);
    let r;
    try { r = await api('/api/supervisor/services-report?from=' + from.value + '&to=' + to.value); } catch (e) { fail(e); return; }
    out.appendChild(h('p', { class: 'small muted', text: t('st.report.small') }));
    const bandRows = [];
    for (const scale of Object.keys(r.assessments)) {
      for (const band of Object.keys(r.assessments[scale])) {
        bandRows.push(h('tr', null, h('td', { text: t('as.band.' + scale + '.' + band) }), h('td', { text: String(r.assessments[scale][band]) })));
      }
    }
    out.appendChild(h('section', null, h('h2', { text: t('st.report.assess') }), h('p', { text: t('st.report.item9', { n: r.item9_flags }) }),
      h('table', { class: 'svc-table', testid: 'report-bands' }, h('tbody', null, bandRows))));
    const bk = [];
    for (const mode of Object.keys(r.bookings.by_mode)) {
      for (const st of Object.keys(r.bookings.by_mode[mode])) {
        bk.push(h('tr', null, h('td', { text: t(mode === 'online' ? 'bk.online' : 'bk.in_person') }), h('td', { text: t('bk.status.' + st) }), h('td', { text: String(r.bookings.by_mode[mode][st]) })));
      }
    }
    out.appendChild(h('section', null, h('h2', { text: t('st.report.bookings') }), h('table', { class: 'svc-table' }, h('tbody', null, bk))));
    out.appendChild(h('section', null, h('h2', { text: t('st.report.opendays') }), h('table', { class: 'svc-table' }, h('tbody', null,
      r.open_days.map((e) => h('tr', null, h('td', { text: fmt(e.starts_at) }), h('td', { text: e.theme }), h('td', { text: e.teacher }),
        h('td', { text: t('st.report.fill', { rate: typeof e.fill_rate === 'number' ? Math.round(e.fill_rate * 100) + '%' : e.fill_rate }) }),
        h('td', { text: avgText(e.average, e.ratings) })))))));
    out.appendChild(h('section', null, h('h2', { text: t('st.report.teachers') }), h('table', { class: 'svc-table', testid: 'report-teachers' }, h('tbody', null,
      r.teachers.flatMap((x) => x.months.map((m) => h('tr', null, h('td', { text: x.teacher }), h('td', { text: m.month }),
        h('td', { text: avgText(m.average, m.ratings) }), h('td', { text: t('st.report.low', { n: m.low }) }))))))));
  };
  form.addEventListener('submit', (ev) => { ev.preventDefault(); run(); });
  panel.appendChild(form);
  panel.appendChild(out);
  await run();
}

const PANELS = { today: (p) => today(p), slots, stations, library, opendays, report };

async function start(staff) {
  S.staff = staff;
  setText($('#staff-name'), staff.display_name);
  showView('app');
  const tabs = TABS[staff.role] || [];
  renderTabs();
  if (tabs.length) await open(tabs[0]);
}

async function main() {
  wireLanguage();
  onLangChange(() => { if (S.staff) open(S.tab); });
  wireSignin(start);
  $('#signout').addEventListener('click', async () => { await signOut(); location.reload(); });
  try {
    const staff = await currentStaff();
    if (staff) await start(staff); else showSignin();
  } catch (e) {
    showSignin(t('err.network'));
  }
}

main();
