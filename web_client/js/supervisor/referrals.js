// Referrals from an escalation (the directory, what was already referred, status
// changes) and the follow-ups due today.

import { $, $$, byTestId, h, clear, setText, show, hide, openDialog } from '../dom.js';
import { api, ApiError } from '../api.js';
import { t, fmtClock } from '../i18n.js';
import { toast } from '../staff.js';
import { NEXT_STATUS, S, kindLabel, resOf } from './state.js';

async function loadResources() {
  if (S.resources) return S.resources;
  const data = await api('/api/referrals/resources');
  S.resources = ((data && data.resources) || []).filter((r) => !r.disabled);
  return S.resources;
}

export async function openRefer(id) {
  const e = S.escalations.get(id);
  if (!e) return;
  S.dialogEsc = id;
  setText($('#refer-alias'), e.alias || '');
  hide($('#refer-error')); hide($('#refer-ok'));
  $('#refer-note').value = '';
  const dir = $('#refer-directory');
  clear(dir);
  dir.appendChild(h('li', { class: 'muted', text: t('x.dir.loading') }));
  renderReferralsMade();
  openDialog($('#refer-dialog'));
  loadReferrals(id).then(() => { if (S.dialogEsc === id) renderReferralsMade(); });
  try {
    const list = await loadResources();
    clear(dir);
    if (!list.length) dir.appendChild(h('li', { class: 'muted', text: t('x.dir.empty') }));
    for (const r of list) {
      const inputId = 'res-' + r.id;
      dir.appendChild(h('li', { class: 'dir-item' },
        h('input', { type: 'radio', name: 'resource', id: inputId, value: r.id, testid: 'refer-resource' }),
        h('label', { for: inputId },
          h('span', { class: 'dir-name', text: r.name }),
          h('span', { class: 'dir-phone', text: r.phone }),
          h('span', { class: 'dir-meta muted small', text: [kindLabel(r.kind), r.hours, r.region].filter(Boolean).join(' · ') }),
          r.verify_before_launch ? h('span', { class: 'pill pill-verify', text: t('x.verify') }) : null)));
    }
  } catch (err) {
    clear(dir);
    dir.appendChild(h('li', { class: 'form-error', text: t('err.generic') }));
  }
}

export async function submitRefer(ev) {
  ev.preventDefault();
  const id = S.dialogEsc;
  const chosen = $$('input[name="resource"]', $('#refer-directory')).find((x) => x.checked);
  const err = $('#refer-error');
  hide(err); hide($('#refer-ok'));
  if (!chosen) { setText(err, t('v.refer.need')); show(err); return; }
  const btn = byTestId('refer-submit');
  btn.disabled = true;
  try {
    const ref = await api('/api/escalations/' + encodeURIComponent(id) + '/referrals', {
      method: 'POST', body: { resource_id: chosen.value, note: $('#refer-note').value.trim().slice(0, 500) },
    });
    const list = S.referrals.get(id) || [];
    list.push(ref);
    S.referrals.set(id, list);
    const ok = $('#refer-ok');
    setText(ok, ref && ref.message_seq !== null && ref.message_seq !== undefined ? t('v.refer.sent') : t('v.refer.sent_later'));
    show(ok);
    $('#refer-note').value = '';
    chosen.checked = false;
    renderReferralsMade();
    loadFollowups();
  } catch (e) {
    setText(err, e instanceof ApiError && e.code === 'not_found' ? t('v.err.not_found') : t('err.generic'));
    show(err);
  } finally {
    btn.disabled = false;
  }
}

function statusButtons(referralId, status, onDone) {
  const wrap = h('span', { class: 'status-actions' });
  for (const next of NEXT_STATUS[status] || []) {
    wrap.appendChild(h('button', {
      type: 'button', class: 'btn btn-secondary btn-small', testid: 'referral-to-' + next, text: t('x.ref.to.' + next),
      on: { click: (ev) => setReferralStatus(referralId, next, ev.currentTarget, onDone) },
    }));
  }
  return wrap;
}

async function followupDone(id, btn) {
  // The follow-up call was made: it leaves the list (who and when are recorded).
  btn.disabled = true;
  try {
    await api('/api/supervisor/followups/' + encodeURIComponent(id) + '/done', { method: 'POST', body: {} });
  } catch (e) {
    toast(e instanceof ApiError && e.code === 'not_found' ? t('v.follow.gone') : t('err.generic'));
  }
  loadFollowups();
}

async function setReferralStatus(referralId, status, btn, onDone) {
  if (btn) btn.disabled = true;
  try {
    const updated = await api('/api/referrals/' + encodeURIComponent(referralId) + '/status', { method: 'POST', body: { status: status } });
    for (const list of S.referrals.values()) {
      const i = list.findIndex((r) => r.id === referralId);
      // Keep the phone and kind we had: the answer names the resource only.
      if (i >= 0) list[i] = Object.assign({}, list[i], updated, { resource: Object.assign({}, resOf(list[i].resource), resOf(updated.resource)) });
    }
    if (onDone) onDone(updated);
  } catch (e) {
    if (e instanceof ApiError && e.code === 'conflict') toast(t('v.refer.conflict', { s: t('x.ref.status.' + (e.problem.status_now || '')) }));
    else toast(t('err.generic'));
    if (btn) btn.disabled = false;
  }
}

/** Referrals already made for an escalation (server first, so they survive a reload);
 *  ones added here meanwhile are kept. */
export async function loadReferrals(id) {
  S.referralsLoading = id;
  if (S.referralsError === id) S.referralsError = null;
  try {
    const data = await api('/api/escalations/' + encodeURIComponent(id) + '/referrals', { timeout: 8000 });
    const server = (data && data.referrals) || [];
    const seen = new Set(server.map((r) => r.id));
    const local = (S.referrals.get(id) || []).filter((r) => !seen.has(r.id));
    S.referrals.set(id, server.concat(local));
  } catch (e) {
    S.referralsError = id;
  } finally {
    if (S.referralsLoading === id) S.referralsLoading = null;
  }
}

function renderReferralsMade() {
  const list = $('#refer-made');
  clear(list);
  const refs = S.referrals.get(S.dialogEsc) || [];
  const loading = S.referralsLoading === S.dialogEsc && !refs.length;
  const failed = S.referralsError === S.dialogEsc;
  const st = $('#refer-made-status');
  setText(st, loading ? t('v.refer.loading') : failed ? t('err.generic') : '');
  show(st, loading || failed);
  show($('#refer-made-wrap'), refs.length > 0 || loading || failed);
  for (const r of refs) {
    const res = resOf(r.resource);
    list.appendChild(h('li', { class: 'card referral-row', testid: 'referral', data: { id: r.id, status: r.status } },
      h('span', { class: 'dir-name', text: res.name || '' }), ' ',
      h('span', { class: 'muted', text: res.phone || '' }), ' ',
      h('span', { class: 'pill', testid: 'referral-status', text: t('x.ref.status.' + r.status) }),
      statusButtons(r.id, r.status, () => { renderReferralsMade(); loadFollowups(); })));
  }
}

export async function loadFollowups() {
  try {
    const data = await api('/api/supervisor/followups?due=today', { timeout: 8000 });
    S.followups = (data && data.followups) || [];
    S.followupsError = false;
  } catch (e) {
    S.followupsError = true;
  }
  renderFollowups();
}

export function renderFollowups() {
  const list = byTestId('followups');
  clear(list);
  const items = (S.followups || []).slice().sort((a, b) => String(a.due_at).localeCompare(String(b.due_at)));
  for (const f of items) {
    const res = resOf(f.resource);
    const overdue = new Date(f.due_at).getTime() < Date.now();
    list.appendChild(h('li', { class: ['card', 'followup', overdue ? 'is-overdue' : ''], testid: 'followup', data: { id: f.id, referral: f.referral_id } },
      h('div', { class: 'esc-top' },
        h('strong', { text: t('v.follow.label.' + f.label) }),
        h('span', { class: 'muted', text: (res.name || '') + (res.phone ? ' · ' + res.phone : '') }),
        h('span', { class: 'pill', testid: 'followup-status', text: t('x.ref.status.' + f.referral_status) }),
        h('span', { class: ['due', overdue ? 'is-overdue' : ''], text: overdue ? t('v.follow.overdue') : t('v.follow.due', { t: fmtClock(f.due_at) }) })),
      h('span', { class: 'status-actions' },
        statusButtons(f.referral_id, f.referral_status, () => loadFollowups()),
        h('button', {
          type: 'button', class: 'btn btn-primary btn-small', testid: 'followup-done', text: t('v.follow.done'),
          on: { click: (ev) => followupDone(f.id, ev.currentTarget) },
        }))));
  }
  const empty = byTestId('followups-empty');
  setText(empty, S.followupsError ? t('v.follow.error') : S.followups === null ? t('loading') : t('v.followups.empty'));
  show(empty, items.length === 0);
}
