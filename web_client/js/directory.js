// The referral directory editor (supervisor, admin): hours, region, the "last verified"
// date; entries not verified for 90 days are flagged at the top until someone checks them.

import { $, h, clear, setText, show, hide, telHref } from './dom.js';
import { api, ApiError } from './api.js';
import { t, onLangChange } from './i18n.js';
import { toast } from './staff.js';
import { startPage, localDate } from './manage.js';
import './strings-crisis.js';

const KINDS = ['hotline', 'emergency', 'hospital', 'counseling', 'legal', 'other'];
const S = { entries: [], staleDays: 90, editing: null };

async function load() {
  const data = await api('/api/directory');
  S.entries = data.resources || [];
  S.staleDays = data.stale_after_days || 90;
  render();
}

function render() {
  setText($('#dir-lead'), t('d.lead', { n: S.staleDays }));
  const stale = S.entries.filter((e) => e.stale).length;
  const badge = $('#stale-count');
  setText(badge, t('d.stale.count', { n: stale }));
  badge.setAttribute('data-count', String(stale));
  show(badge, stale > 0);
  const body = $('#dir-rows');
  clear(body);
  for (const e of S.entries) {
    const verified = e.last_verified_at ? localDate(new Date(e.last_verified_at)) : t('d.never');
    body.appendChild(h('tr', { testid: 'dir-row', class: [e.stale ? 'is-stale' : '', e.disabled ? 'is-disabled' : ''], data: { name: e.name, stale: e.stale ? '1' : '0' } },
      h('td', null, e.name, e.disabled ? h('span', { class: 'pill pill-quiet nav-flag', text: t('d.disabled') }) : null),
      h('td', null, h('a', { href: telHref(e.phone), text: e.phone })),
      h('td', { text: t('x.kind.' + e.kind) }),
      h('td', { text: e.hours }),
      h('td', { text: e.region }),
      h('td', null, verified, e.stale ? h('span', { class: 'pill pill-verify nav-flag', testid: 'stale-flag', text: t('d.flag') }) : null),
      h('td', null, h('div', { class: 'row-actions' },
        e.disabled ? null : h('button', { type: 'button', class: e.stale ? 'btn btn-primary btn-small' : 'btn btn-secondary btn-small', testid: 'dir-verified', text: t('d.mark'), on: { click: () => verified_(e) } }),
        h('button', { type: 'button', class: 'btn btn-quiet btn-small', testid: 'dir-edit', text: t('d.edit'), on: { click: () => edit(e) } }),
        h('button', { type: 'button', class: 'btn btn-quiet btn-small', testid: 'dir-toggle', text: t(e.disabled ? 'd.enable' : 'd.disable'), on: { click: () => save(e, { disabled: !e.disabled }) } })))));
  }
  show($('#dir-empty'), !S.entries.length);
}

async function verified_(e) {
  try {
    Object.assign(e, await api('/api/directory/' + e.id + '/verified', { method: 'POST', body: {} }));
    toast(t('m.saved'));
  } catch (err) { toast(t('m.failed')); }
  await load();
}

async function save(e, body) {
  try {
    await api('/api/directory/' + e.id, { method: 'PATCH', body: body });
    toast(t('m.saved'));
  } catch (err) { toast(t('m.failed')); }
  await load();
}

function kindOptions(value) {
  const sel = $('#df-kind');
  clear(sel);
  for (const k of KINDS) sel.appendChild(h('option', { value: k, selected: k === value, text: t('x.kind.' + k) }));
}

function edit(e) {
  S.editing = e || null;
  setText($('#dir-form-title'), t(e ? 'd.edit' : 'd.add'));
  $('#df-name').value = e ? e.name : '';
  $('#df-phone').value = e ? e.phone : '';
  $('#df-hours').value = e ? e.hours : '';
  $('#df-region').value = e ? e.region : '';
  kindOptions(e ? e.kind : 'counseling');
  hide($('#dir-error'));
  show($('#dir-form'));
  $('#df-name').focus();
}

async function submit(ev) {
  ev.preventDefault();
  const body = { name: $('#df-name').value.trim(), phone: $('#df-phone').value.trim(), kind: $('#df-kind').value,
    hours: $('#df-hours').value.trim(), region: $('#df-region').value.trim() };
  if (!body.name) { $('#df-name').focus(); return; }
  if (!body.phone) { $('#df-phone').focus(); return; }
  try {
    if (S.editing) await api('/api/directory/' + S.editing.id, { method: 'PATCH', body: body });
    else await api('/api/directory', { method: 'POST', body: body });
    hide($('#dir-form'));
    toast(t('m.saved'));
    await load();
  } catch (e) {
    setText($('#dir-error'), e instanceof ApiError && e.code === 'bad_field' ? e.message : t('m.failed'));
    show($('#dir-error'));
  }
}

startPage(['supervisor', 'admin'], async () => {
  $('#dir-add').addEventListener('click', () => edit(null));
  $('#dir-cancel').addEventListener('click', () => hide($('#dir-form')));
  $('#dir-form').addEventListener('submit', submit);
  onLangChange(render);
  try { await load(); } catch (e) { toast(t('err.generic')); }
});
