// Escalations, newest and most severe first, each with a countdown to its acknowledgement
// deadline and its actions; the alert while any is unacknowledged; the set-level and
// resolve dialogs.

import { $, $$, byTestId, h, clear, setText, show, hide, openDialog } from '../dom.js';
import { t, fmtClock, fmtDuration } from '../i18n.js';
import { toast } from '../staff.js';
import { reasonLabel } from '../reasons.js';
import {
  REPEAT_CHIME_MS, RISKS, SEVERITY, OUTCOMES, S, alerts, chime, send, levelOf, badge, secondsLeft,
  sortedEscalations, nameOf,
} from './state.js';
import { renderRisk } from './board.js';
import { startWatch, renderWatchHead } from './watch.js';
import { openRefer, loadReferrals } from './referrals.js';


function countdownText(e) {
  const left = secondsLeft(e);
  if (left === null) return '';
  return left > 0 ? t('v.esc.deadline', { t: left < 60 ? left + 's' : fmtDuration(left) }) : t('v.esc.overdue');
}

export function renderEscalations() {
  const list = $('#esc-list');
  const focusedAction = document.activeElement && list.contains(document.activeElement)
    ? [document.activeElement.closest('[data-id]') && document.activeElement.closest('[data-id]').getAttribute('data-id'), document.activeElement.getAttribute('data-testid')]
    : null;
  clear(list);
  const items = sortedEscalations();
  for (const e of items) {
    const lv = levelOf(e);
    const open = e.status === 'open';
    const left = secondsLeft(e);
    const meta = [
      e.counselor ? t('v.esc.counselor', { name: nameOf(e.counselor) }) : t('v.esc.nocounselor'),
      t('v.esc.source.' + (e.source || 'message')),
      t('v.esc.opened', { t: fmtClock(e.opened_at) }),
    ].join(' · ');
    const reasons = (e.reasons || []).map(reasonLabel).join('、');
    const actions = h('div', { class: 'esc-actions' },
      open ? h('button', { type: 'button', class: 'btn btn-danger btn-small', testid: 'esc-ack', text: t('v.esc.ack'), on: { click: () => ack(e.id) } }) : null,
      h('button', { type: 'button', class: 'btn btn-secondary btn-small', testid: 'esc-watch', text: t('v.esc.watch'), on: { click: () => startWatch(e) } }),
      h('button', { type: 'button', class: 'btn btn-secondary btn-small', testid: 'esc-level', text: t('v.esc.level'), on: { click: () => openLevel(e.id) } }),
      h('button', { type: 'button', class: 'btn btn-secondary btn-small', testid: 'esc-refer', text: t('v.esc.refer'), on: { click: () => openRefer(e.id) } }),
      h('button', { type: 'button', class: 'btn btn-quiet btn-small', testid: 'esc-resolve', text: t('v.esc.resolve'), on: { click: () => openResolve(e.id) } }));
    const quiet = isQuiet(e);
    const li = h('li', {
      class: ['card', 'escalation', 'esc-' + lv, open ? 'is-open' : 'is-acked', quiet ? 'is-quiet' : '', open && left !== null && left <= 0 ? 'is-overdue' : '', S.watch && S.watch.convId === e.conversation_id ? 'is-watched' : ''],
      testid: 'escalation', data: { id: e.id, level: lv, status: e.status, conversation: e.conversation_id, alert: quiet ? 'others' : 'me' },
    },
    h('div', { class: 'esc-top' },
      badge(lv, 'esc-level-badge'),
      h('strong', { class: 'esc-alias', text: e.alias || '' }),
      h('span', { class: ['pill', open ? 'pill-open' : 'pill-acked'], testid: 'esc-status',
        text: open ? t('v.esc.status.open') : (e.owner ? t('v.esc.owner', { name: nameOf(e.owner) }) : t('v.esc.status.' + e.status)) }),
      e.realerted && open ? h('span', { class: 'pill pill-open', text: t('v.esc.realerted') }) : null,
      quiet ? h('span', { class: 'pill pill-quiet', testid: 'esc-alert-other', text: t('v.esc.alert_other') }) : null,
      open && left !== null ? h('span', { class: 'countdown', testid: 'ack-countdown', data: { deadline: e.ack_deadline }, 'aria-live': 'off', text: countdownText(e) }) : null),
    h('p', { class: 'esc-meta small', text: meta }),
    reasons ? h('p', { class: 'esc-reasons small' }, h('span', { class: 'muted', text: t('v.esc.reasons') + '：' }), reasons) : null,
    actions);
    list.appendChild(li);
  }
  if (focusedAction && focusedAction[0]) {
    const back = $('[data-id="' + focusedAction[0] + '"] [data-testid="' + focusedAction[1] + '"]', list);
    if (back) back.focus();
  }
  // Loud: open and alerting me (not only the on-shift supervisor).
  const loud = items.some((e) => e.status === 'open' && !isQuiet(e));
  setText(byTestId('escalation-count'), String(items.length));
  byTestId('escalation-count').classList.toggle('risk-imminent', loud);
  show($('#esc-empty'), items.length === 0);
  $('[data-panel="escalations"]').classList.toggle('has-items', items.length > 0);
  $('[data-panel="escalations"]').classList.toggle('has-alert', loud);
  alerts.setUrgent(loud);
  renderRisk();
}

/** Tick: only the countdown texts change, so focus and hover are not disturbed. */
export function tickCountdowns() {
  let needRerender = false;
  for (const el of $$('[data-deadline]', $('#esc-list'))) {
    const li = el.closest('[data-id]');
    const e = li && S.escalations.get(li.getAttribute('data-id'));
    if (!e) continue;
    setText(el, countdownText(e));
    const over = secondsLeft(e) <= 0;
    if (over !== li.classList.contains('is-overdue')) needRerender = true;
  }
  if (needRerender) renderEscalations();
  // Keep reminding, gently, while anything is unacknowledged.
  const anyOpen = sortedEscalations().some((e) => e.status === 'open' && !isQuiet(e));
  if (anyOpen && Date.now() - S.lastChime > REPEAT_CHIME_MS) chime(false);
}

/** Listed quietly: a new escalation whose alert went to the on-shift supervisor(s) only,
 *  until it is re-alerted (a missed deadline rings for everyone). */
function isQuiet(e) {
  return !!e && e.status === 'open' && S.quietEsc.has(e.id);
}

/** Whether this frame's alert is for me: `alert_to` null means everyone. */
export function alertsMe(alertTo) {
  if (!Array.isArray(alertTo)) return true;
  return !!(S.staff && S.staff.id) && alertTo.map(String).indexOf(String(S.staff.id)) >= 0;
}

export function upsertEscalation(e, opts) {
  const o = opts || {};
  if (!e || !e.id) return;
  const before = S.escalations.get(e.id);
  if (o.realert) S.quietEsc.delete(e.id);
  else if (o.opened && !before && o.alertMe === false) S.quietEsc.add(e.id);
  if (e.status === 'resolved') {
    S.escalations.delete(e.id);
    S.quietEsc.delete(e.id);
    if (before) toast(t('v.esc.resolved_toast', { alias: e.alias || '' }));
  } else {
    S.escalations.set(e.id, e);
  }
  if (o.realert) {
    chime(true, true);
    toast(t('v.esc.realert', { alias: e.alias || '' }), 8000);
  } else if (S.quietEsc.has(e.id)) {
    // The on-shift supervisor was alerted: list it, no chime, no toast.
  } else if (o.opened || (!before && e.status === 'open' && !o.quiet)) {
    chime(e.level === 'imminent', true);
    toast(t('v.esc.new', { alias: e.alias || '' }), 8000);
  } else if (before && SEVERITY[e.level] > SEVERITY[before.level] && e.status === 'open') {
    chime(e.level === 'imminent');
  }
  if (S.watch && S.watch.convId === e.conversation_id) {
    S.watch.escId = e.status === 'resolved' ? null : e.id;
    renderWatchHead();
  }
  renderEscalations();
}

function ack(id) {
  send({ type: 'ack', escalation_id: id }, { kind: 'ack', id: id });
}

function openLevel(id) {
  const e = S.escalations.get(id);
  if (!e) return;
  S.dialogEsc = id;
  const wrap = $('#level-choices');
  clear(wrap);
  for (const lv of RISKS) {
    const inputId = 'lv-' + lv;
    const input = h('input', { type: 'radio', name: 'level', id: inputId, value: lv, testid: 'level-' + lv });
    if (lv === e.level) input.checked = true;
    wrap.appendChild(h('span', { class: ['chip', 'chip-risk-' + lv] }, input, h('label', { for: inputId, text: t('s.risk.' + lv) })));
  }
  $('#level-reason').value = '';
  hide($('#level-error'));
  openDialog($('#level-dialog'));
}

export function submitLevel(ev) {
  ev.preventDefault();
  const id = S.dialogEsc;
  const chosen = $$('input[name="level"]', $('#level-choices')).find((x) => x.checked);
  const reason = $('#level-reason').value.trim();
  const err = $('#level-error');
  if (!reason) { setText(err, t('v.level.reason')); show(err); $('#level-reason').focus(); return; }
  send({ type: 'set_level', escalation_id: id, level: chosen ? chosen.value : 'high', reason: reason.slice(0, 500) }, { kind: 'set_level', id: id, dialog: 'level' });
}

function openResolve(id) {
  if (!S.escalations.get(id)) return;
  S.dialogEsc = id;
  const wrap = $('#outcome-choices');
  clear(wrap);
  for (const o of OUTCOMES) {
    const inputId = 'oc-' + o;
    wrap.appendChild(h('span', { class: 'chip' },
      h('input', { type: 'radio', name: 'outcome', id: inputId, value: o, testid: 'outcome-' + o }),
      h('label', { for: inputId, text: t('v.outcome.' + o) })));
  }
  const preselect = () => {
    const refs = S.referrals.get(id);
    const any = $$('input[name="outcome"]', wrap).some((x) => x.checked);
    if (refs && refs.length && !any && S.dialogEsc === id) $('#oc-referred').checked = true;
  };
  preselect();
  if (!S.referrals.has(id)) loadReferrals(id).then(preselect);
  $('#resolve-note').value = '';
  hide($('#resolve-error'));
  openDialog($('#resolve-dialog'));
}

export function submitResolve(ev) {
  ev.preventDefault();
  const id = S.dialogEsc;
  const chosen = $$('input[name="outcome"]', $('#outcome-choices')).find((x) => x.checked);
  const err = $('#resolve-error');
  if (!chosen) { setText(err, t('v.resolve.outcome')); show(err); return; }
  const frame = { type: 'resolve', escalation_id: id, outcome: chosen.value };
  const note = $('#resolve-note').value.trim();
  if (note) frame.note = note.slice(0, 500);
  send(frame, { kind: 'resolve', id: id, dialog: 'resolve' });
}
