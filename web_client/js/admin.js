// Accounts & audit (role admin): staff accounts by one-time set-up link, roles, capacity,
// disable / reset; the audit-log viewer with filters; the retention period.

import { $, h, clear, setText, show, hide } from './dom.js';
import { api, ApiError } from './api.js';
import { t, onLangChange, fmtWhen } from './i18n.js';
import { toast } from './staff.js';
import { startPage } from './manage.js';

const S = { staff: [], me: null, audit: [], nextBefore: null, actions: [], armed: null };

const ROLES = ['counselor', 'supervisor', 'admin'];

function capacityOptions(select, value) {
  clear(select);
  for (let n = 1; n <= 10; n++) select.appendChild(h('option', { value: String(n), selected: n === value, text: String(n) }));
}

function errorText(e) {
  const code = e instanceof ApiError ? e.code : '';
  if (code === 'username_taken') return t('a.err.username_taken');
  if (code === 'bad_field' && e.field === 'username') return t('a.err.username');
  if (code === 'last_admin') return t('a.err.last_admin');
  if (code === 'conflict') return t('a.err.self');
  if (code === 'network') return t('err.network');
  return t('m.failed');
}

// ---- accounts ----

async function loadStaff() {
  const data = await api('/api/admin/staff');
  S.staff = data.staff || [];
  renderStaff();
  renderActorFilter();
}

function stateOf(s) {
  if (s.disabled) return { key: 'a.state.disabled', cls: 'pill pill-absent' };
  if (s.setup_pending) return { key: 'a.state.pending', cls: 'pill pill-verify' };
  return { key: 'a.state.active', cls: 'pill pill-quiet' };
}

async function patch(s, body) {
  try {
    const res = await api('/api/admin/staff/' + s.id, { method: 'PATCH', body: body });
    Object.assign(s, res.staff);
    toast(t('m.saved'));
    loadAudit(false);  // the change is in the log now
  } catch (e) {
    toast(errorText(e));
  }
  renderStaff();
}

// A destructive action needs a second click on the same button ("Confirm"): no dialogs.
function armed(s, what) { return S.armed && S.armed.id === s.id && S.armed.what === what; }

async function act(s, what) {
  if (!armed(s, what)) { S.armed = { id: s.id, what: what }; renderStaff(); return; }
  S.armed = null;
  try {
    const res = await api('/api/admin/staff/' + s.id + '/' + what, { method: 'POST', body: {} });
    Object.assign(s, res.staff);
    if (res.setup_url) showLink(res);
    toast(t('m.saved'));
    loadAudit(false);
  } catch (e) {
    toast(errorText(e));
  }
  renderStaff();
}

function renderStaff() {
  const body = $('#staff-rows');
  clear(body);
  for (const s of S.staff) {
    const role = h('select', { 'aria-label': t('a.col.role'), testid: 'staff-role', disabled: s.disabled,
      on: { change: (ev) => patch(s, { role: ev.target.value }) } });
    for (const r of ROLES) role.appendChild(h('option', { value: r, selected: r === s.role, text: t('role.' + r) }));
    const cap = h('select', { 'aria-label': t('a.col.capacity'), testid: 'staff-capacity', disabled: s.disabled,
      on: { change: (ev) => patch(s, { capacity: Number(ev.target.value) }) } });
    capacityOptions(cap, s.capacity);
    const st = stateOf(s);
    const self = S.me && S.me.id === s.id;
    const toggle = s.disabled ? 'enable' : 'disable';
    const actions = h('div', { class: 'row-actions' },
      self ? null : h('button', { type: 'button', class: armed(s, toggle) ? 'btn btn-danger btn-small' : 'btn btn-secondary btn-small', testid: 'staff-' + toggle,
        text: armed(s, toggle) ? t('a.confirm') : t('a.' + toggle), on: { click: () => act(s, toggle) } }),
      self ? null : h('button', { type: 'button', class: armed(s, 'reset') ? 'btn btn-danger btn-small' : 'btn btn-quiet btn-small', testid: 'staff-reset',
        text: armed(s, 'reset') ? t('a.confirm') : t('a.reset'), on: { click: () => act(s, 'reset') } }));
    body.appendChild(h('tr', { testid: 'staff-row', data: { username: s.username, disabled: s.disabled ? '1' : '0' } },
      h('td', { text: s.username }),
      h('td', { text: s.display_name }),
      h('td', null, role),
      h('td', null, cap),
      h('td', null, h('span', { class: s.totp ? 'pill pill-quiet' : 'pill pill-verify', testid: 'staff-2fa', data: { on: s.totp ? '1' : '0' }, text: t(s.totp ? 'a.2fa.on' : 'a.2fa.off') })),
      h('td', null, h('span', { class: st.cls, testid: 'staff-state', text: t(st.key) })),
      h('td', null, actions)));
  }
}

function showLink(res) {
  setText($('#setup-link-body'), t('a.link.body', { t: fmtWhen(res.expires_at) }));
  $('#setup-link-url').value = res.setup_url;
  show($('#setup-link'));
}

function wireNew() {
  capacityOptions($('#ns-capacity'), 2);
  $('#new-staff-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const err = $('#new-error');
    hide(err);
    const body = { username: $('#ns-username').value.trim().toLowerCase(), display_name: $('#ns-display').value.trim(),
      role: $('#ns-role').value, capacity: Number($('#ns-capacity').value) };
    if (!body.username) { $('#ns-username').focus(); return; }
    if (!body.display_name) { $('#ns-display').focus(); return; }
    try {
      const res = await api('/api/admin/staff', { method: 'POST', body: body });
      S.staff.push(res.staff);
      renderStaff();
      renderActorFilter();
      showLink(res);
      $('#new-staff-form').reset();
      capacityOptions($('#ns-capacity'), 2);
      $('#new-staff').open = false;
    } catch (e) {
      setText(err, errorText(e));
      show(err);
    }
  });
  $('#setup-link-copy').addEventListener('click', async () => {
    const input = $('#setup-link-url');
    input.select();
    try { await navigator.clipboard.writeText(input.value); toast(t('a.link.copied')); } catch (e) { /* selected: the person can copy by hand */ }
  });
}

// ---- audit ----

function renderActorFilter() {
  const sel = $('#af-actor');
  const keep = sel.value;
  clear(sel);
  sel.appendChild(h('option', { value: '', text: t('a.audit.any') }));
  for (const s of S.staff) sel.appendChild(h('option', { value: s.id, selected: s.id === keep, text: s.display_name + ' (' + s.username + ')' }));
}

function renderActionFilter() {
  const sel = $('#af-action');
  const keep = sel.value;
  clear(sel);
  sel.appendChild(h('option', { value: '', text: t('a.audit.any') }));
  for (const a of S.actions) sel.appendChild(h('option', { value: a, selected: a === keep, text: a }));
}

function auditQuery(before) {
  const q = new URLSearchParams();
  const pairs = [['actor', '#af-actor'], ['action', '#af-action'], ['conversation_id', '#af-conv'], ['from', '#af-from'], ['to', '#af-to']];
  for (const [name, sel] of pairs) { const v = $(sel).value.trim(); if (v) q.set(name, v); }
  if (before) q.set('before', String(before));
  return '/api/admin/audit?' + q.toString();
}

async function loadAudit(more) {
  const err = $('#audit-error');
  hide(err);
  try {
    const data = await api(auditQuery(more ? S.nextBefore : null));
    S.audit = more ? S.audit.concat(data.audit) : data.audit;
    S.nextBefore = data.next_before;
    S.actions = data.actions || [];
    renderActionFilter();
    renderAudit();
  } catch (e) {
    setText(err, e instanceof ApiError && e.code === 'bad_field' ? e.message : t('err.generic'));
    show(err);
  }
}

function renderAudit() {
  const body = $('#audit-rows');
  clear(body);
  for (const a of S.audit) {
    body.appendChild(h('tr', { testid: 'audit-row', data: { action: a.action } },
      h('td', { text: fmtWhen(a.at) }),
      h('td', { text: a.actor ? a.actor.display_name + ' (' + a.actor.username + ')' : t('a.audit.system') }),
      h('td', { text: a.action }),
      h('td', { class: 'mono', text: a.conversation_id || '' }),
      h('td', { text: a.reason || '' })));
  }
  show($('#audit-empty'), !S.audit.length);
  show($('#audit-more'), !!S.nextBefore);
}

// ---- retention ----

async function loadRetention() {
  try {
    const r = await api('/api/retention');
    setText($('#retention-body'), t('a.retention.body', { days: r.retention_days, years: Math.round(r.retention_days / 365 * 10) / 10 }));
    setText($('#retention-last'), r.last_run ? t('a.retention.last', { t: fmtWhen(r.last_run.at), n: r.last_run.conversations }) : t('a.retention.never'));
    S.retention = r;
  } catch (e) { /* the section stays empty; the rest of the page works */ }
}

startPage(['admin'], async (me) => {
  S.me = me;
  wireNew();
  $('#audit-form').addEventListener('submit', (ev) => { ev.preventDefault(); loadAudit(false); });
  $('#audit-more').addEventListener('click', () => loadAudit(true));
  onLangChange(() => { renderStaff(); renderActorFilter(); renderActionFilter(); renderAudit(); if (S.retention) loadRetention(); });
  try { await loadStaff(); } catch (e) { toast(t('err.generic')); }
  await Promise.all([loadAudit(false), loadRetention()]);
});
