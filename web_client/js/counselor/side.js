// The counselor's side panel for the selected conversation: risk and the flag to a
// supervisor, whispers from a supervisor (never sent to the worker), and the referral
// directory (a card may be sent once the conversation has an escalation).

import { $, $$, byTestId, h, clear, setText, show, hide, telHref } from '../dom.js';
import { api } from '../api.js';
import { t, fmtClock } from '../i18n.js';
import { getHotlines } from '../hotlines.js';
import { reasonsText } from '../reasons.js';
import { RISKS, S } from './state.js';
import { renderTabs } from './tabs.js';

export function renderWhispers(c) {
  const list = $('#whispers');
  clear(list);
  if (!c.whispers.length) { list.appendChild(h('li', { class: 'muted small', text: t('c.whispers.empty') })); return; }
  for (const w of c.whispers) {
    list.appendChild(h('li', { class: 'whisper', testid: 'whisper' },
      h('p', { class: 'whisper-meta', text: (w.from || t('c.from.supervisor')) + ' · ' + fmtClock(w.at) }),
      h('p', { class: 'whisper-text', text: w.text })));
  }
}

/** Under the level: the escalation's status and grounds, and the pre-chat screen. */
export function renderRiskDetail(c) {
  const esc = byTestId('risk-escalation');
  setText(esc, c.escStatus ? t('c.esc.status.' + c.escStatus) : '');
  show(esc, !!c.escStatus);
  esc.className = 'small esc-status esc-status-' + (c.escStatus || 'none');
  const reasons = byTestId('risk-reasons');
  setText(reasons, c.escReasons.length ? t('c.esc.reasons', { r: reasonsText(c.escReasons) }) : '');
  show(reasons, c.escReasons.length > 0);
  const screen = byTestId('risk-screen');
  const sc = c.screen;
  setText(screen, sc ? t('c.screen', { n: sc.phq2 }) + ' · ' + t(sc.item9_positive ? 'c.screen.item9.pos' : 'c.screen.item9.neg') : t('c.screen.none'));
  screen.className = 'small' + (sc && sc.item9_positive ? ' screen-positive' : ' muted');
}

export async function loadResources() {
  try {
    const data = await api('/api/referrals/resources', { timeout: 8000 });
    S.resources = ((data && data.resources) || []).filter((r) => !r.disabled);
    S.resourcesError = false;
  } catch (e) {
    S.resourcesError = true;
  }
  renderReferrals();
}

/** Escalations of my own conversations (counselors see only theirs): to know where a
 *  referral card may be sent. */
export async function loadMyEscalations() {
  try {
    const data = await api('/api/supervisor/escalations?status=active', { timeout: 8000 });
    for (const e of (data && data.escalations) || []) {
      const c = S.convs.get(e.conversation_id);
      if (c) { c.escId = e.id; c.escStatus = e.status; c.escReasons = e.reasons || []; }
    }
    renderReferrals();
    const c = S.active && S.convs.get(S.active);
    if (c) renderRiskDetail(c);
  } catch (e) { /* the directory stays read-only */ }
}

export function renderReferrals() {
  const list = $('#referrals');
  const c = S.active && S.convs.get(S.active);
  const canSend = !!(c && c.escId && !c.ended && S.resources && S.resources.length);
  clear(list);
  const hint = $('#referral-hint');
  if (!S.resources) {
    setText(hint, S.resourcesError ? t('x.dir.error') : t('x.dir.loading'));
    if (S.resourcesError) {
      for (const line of getHotlines()) {
        list.appendChild(h('li', null, h('span', { text: line.name }), ' ', h('a', { href: telHref(line.phone), text: line.phone })));
      }
    }
    hide($('#referral-form'));
    return;
  }
  setText(hint, !S.resources.length ? t('x.dir.empty') : canSend ? t('c.referral.hint.esc') : t('c.referral.hint.noesc'));
  for (const r of S.resources) {
    const meta = [t('x.kind.' + (r.kind || 'other')), r.hours, r.region].filter(Boolean).join(' · ');
    if (canSend) {
      const id = 'cres-' + r.id;
      list.appendChild(h('li', { class: 'dir-item' },
        h('input', { type: 'radio', name: 'c-resource', id: id, value: r.id, testid: 'referral-resource' }),
        h('label', { for: id },
          h('span', { class: 'dir-name', text: r.name }),
          h('span', { class: 'dir-phone', text: r.phone }),
          h('span', { class: 'dir-meta muted small', text: meta }))));
    } else {
      list.appendChild(h('li', { class: 'dir-row', testid: 'referral-resource-ro' },
        h('span', { class: 'dir-name', text: r.name }), ' ',
        h('a', { class: 'dir-phone', href: telHref(r.phone), text: r.phone }),
        h('span', { class: 'dir-meta muted small', text: meta })));
    }
  }
  show($('#referral-form'), canSend);
}

export async function sendReferral(ev) {
  ev.preventDefault();
  const c = S.active && S.convs.get(S.active);
  const chosen = $$('input[name="c-resource"]', $('#referrals')).find((x) => x.checked);
  const status = $('#referral-status');
  if (!c || !c.escId || !chosen) { setText(status, t('v.refer.need')); show(status); return; }
  const btn = byTestId('referral-send');
  btn.disabled = true;
  try {
    await api('/api/escalations/' + encodeURIComponent(c.escId) + '/referrals', {
      method: 'POST', body: { resource_id: chosen.value, note: $('#referral-note').value.trim().slice(0, 500) },
    });
    setText(status, t('c.referral.sent'));
    $('#referral-note').value = '';
    chosen.checked = false;
  } catch (e) {
    setText(status, t('c.referral.err'));
  } finally {
    show(status);
    btn.disabled = false;
  }
}

export function sendFlag(ev) {
  ev.preventDefault();
  const c = S.active && S.convs.get(S.active);
  if (!c || !S.conn) return;
  const level = $('#flag-level').value;
  const reason = $('#flag-reason').value.trim();
  const status = $('#flag-status');
  if (!reason) { setText(status, t('c.flag.need_reason')); show(status); $('#flag-reason').focus(); return; }
  if (!S.conn.isReady()) { setText(status, t('conn.reconnecting')); show(status); return; }
  const ref = 'flag:' + c.id.slice(-40);
  S.conn.send({ type: 'flag', conversation_id: c.id, level: level, reason: reason.slice(0, 500), ref: ref });
  // Optimistic: the risk shows at once; the `flagged` answer confirms, an error undoes the message.
  if (RISKS.indexOf(level) > RISKS.indexOf(c.risk)) c.risk = level;
  c.flagMsg = t('c.flag.sent');
  setText(status, c.flagMsg);
  show(status);
  hide($('#flag-form'));
  $('#flag-button').setAttribute('aria-expanded', 'false');
  $('#flag-reason').value = '';
  renderTabs();
  $('#risk-select').value = c.risk;
  const risk = $('#chat-risk');
  risk.className = 'badge risk-' + c.risk;
  setText(risk, t('s.risk.' + c.risk));
}
