// The end of a conversation and the case note (topics, risk level, text) written before
// the seat is offered to the next worker, with a short optional pause.

import { $, $$, byTestId, h, clear, setText, show, hide, closeDialog } from '../dom.js';
import { api } from '../api.js';
import { t, fmtClock } from '../i18n.js';
import { toast } from '../staff.js';
import { RISKS, TOPICS, S, removeConv } from './state.js';
import { renderTabs, select } from './tabs.js';
import { renderPane, addNote, outbox } from './pane.js';

export function endActive() {
  closeDialog($('#end-dialog'));
  const c = S.active && S.convs.get(S.active);
  if (!c) return;
  if (S.conn) S.conn.send({ type: 'end', conversation_id: c.id });
}

export function onEnded(f) {
  const c = S.convs.get(f.conversation_id);
  if (!c) return;
  c.ended = true;
  c.status = 'ended';
  if (f.wrapup_until) c.wrapupUntil = f.wrapup_until;
  c.draft = S.active === c.id ? byTestId('chat-input').value : c.draft;
  addNote(c, f.by === 'worker_gone' ? t('pr.released', { n: releasedMinutes(c) }) : t('c.chat.ended'));
  if (f.by === 'worker_gone') toast(t('pr.released', { n: releasedMinutes(c) }), 12000);
  for (const item of outbox.items.filter((x) => x.conversation_id === c.id)) outbox.drop(item.client_id);
  if (!S.active || S.active === c.id) select(c.id);
  else renderTabs();
}

function releasedMinutes(c) {
  const p = c.presence;
  if (p && p.away_since && p.release_at) return Math.round((new Date(p.release_at) - new Date(p.away_since)) / 60000);
  return 10;
}

export function renderNoteForm(c) {
  if (S.noteFor === c.id) return;
  S.noteFor = c.id;
  show($('#note-form'));
  hide($('#note-done'));
  hide($('#note-error'));
  setText($('#note-alias'), c.alias);
  const topics = $('#note-topics');
  clear(topics);
  for (const key of TOPICS) {
    const id = 'topic-' + key;
    topics.appendChild(h('span', { class: 'chip' },
      h('input', { type: 'checkbox', id: id, value: t('c.topic.' + key), data: { topic: key }, testid: 'note-topic' }),
      h('label', { for: id, text: t('c.topic.' + key) })));
  }
  const risks = $('#note-risk');
  clear(risks);
  for (const lv of RISKS) {
    const id = 'note-risk-' + lv;
    const input = h('input', { type: 'radio', name: 'note-risk', id: id, value: lv, testid: 'note-risk-' + lv });
    if (lv === c.risk) input.checked = true;
    risks.appendChild(h('span', { class: ['chip', 'chip-risk-' + lv] }, input, h('label', { for: id, text: t('s.risk.' + lv) })));
  }
  $('#note-text').value = c.scratch || '';
  renderWrapup();
  const heading = $('#h-note');
  if (heading) heading.focus();
}

export function renderWrapup() {
  const el = $('#wrapup');
  const c = S.noteFor && S.convs.get(S.noteFor);
  if (!c || !c.wrapupUntil) { hide(el); return; }
  const over = new Date(c.wrapupUntil).getTime() <= Date.now();
  setText(el, over ? t('c.wrapup.over') : t('c.wrapup', { t: fmtClock(c.wrapupUntil) }));
  show(el);
}

export async function submitNote(ev) {
  ev.preventDefault();
  const id = S.noteFor;
  const c = id && S.convs.get(id);
  if (!c) return;
  const topics = $$('input[type="checkbox"]', $('#note-topics')).filter((x) => x.checked).map((x) => x.value);
  const riskInput = $$('input[name="note-risk"]', $('#note-risk')).find((x) => x.checked);
  const body = { topics: topics, risk_level: riskInput ? riskInput.value : 'none', text: $('#note-text').value };
  const btn = byTestId('note-submit');
  btn.disabled = true;
  hide($('#note-error'));
  try {
    await api('/api/staff/conversations/' + encodeURIComponent(id) + '/note', { method: 'PUT', body: body });
    removeConv(id);
    S.noteFor = '__done__';
    hide($('#note-form'));
    show($('#note-done'));
    // Show the "saved / pause / keep going" card until the counselor chooses.
    show($('#note-view'));
    hide($('#pane-empty'));
    hide($('#chat'));
    renderTabs();
    show($('#side-empty')); hide($('#side-body'));
    byTestId('keep-going').focus();
  } catch (e) {
    const err = $('#note-error');
    setText(err, t('c.note.err'));
    show(err);
  } finally {
    btn.disabled = false;
  }
}

export function afterNote(pause) {
  S.noteFor = null;
  hide($('#note-view'));
  if (pause && S.duty.on) S.conn.send({ type: 'duty', on: false });
  const next = S.order.find((id) => S.convs.get(id).ended) || S.order[0];
  if (next) select(next);
  else renderPane();
}
