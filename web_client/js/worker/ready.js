// Signed in, no conversation yet: the ready screen (talk now, rate the last one, earlier
// conversations) and the history of earlier conversations.

import { $, byTestId, h, clear, setText, show, hide } from '../dom.js';
import { api, ApiError } from '../api.js';
import { t, fmtWhen } from '../i18n.js';
import { resetForget } from '../forget.js';
import { S, go } from './state.js';
import { renderBubble } from './bubbles.js';

export function renderReady() {
  setText($('#ready-alias'), S.alias ? t('w.ready.alias', { alias: S.alias }) : '');
  show($('#open-history'), S.historyAccess);
  const st = S.status;
  const soon = !!(st && st.no_counselor_scheduled_soon);
  const ready = $('#ready-none');
  setText(ready, soon ? t('w.wait.none_soon') : t('w.ready.none'));
  show(ready, !!(st && st.open && (soon || st.estimated_wait_s === null || !st.counselors_on_duty)));
  show($('#last-ended'), !!(S.lastEnded && S.lastEnded.id && S.rateId !== S.lastEnded.id));
  byTestId('request-chat').disabled = !(S.conn && S.conn.isReady());
}

export function requestChat() {
  const err = $('#ready-error');
  hide(err);
  if (!S.conn || !S.conn.isReady()) {
    setText(err, t('conn.reconnecting'));
    show(err);
    return;
  }
  S.requesting = true;
  byTestId('request-chat').disabled = true;
  // A conversation opened on another device is never shown to this one (docs/PROTOCOL.md).
  S.conn.send({ type: 'request_chat', ref: 'request_chat' });
}

export async function openHistory() {
  resetForget();
  const body = $('#history-body');
  clear(body);
  body.appendChild(h('p', { class: 'muted', text: t('loading') }));
  go('history');
  try {
    const data = await api('/api/worker/history');
    clear(body);
    const convs = (data && data.conversations) || [];
    if (!convs.length) {
      body.appendChild(h('p', { class: 'empty', testid: 'history-empty', text: t('w.history.empty') }));
      return;
    }
    for (const c of convs) {
      const title = (c.counselor ? t('w.history.with', { name: c.counselor }) : t('w.history.title')) +
        ' · ' + fmtWhen(c.started_at);
      const list = h('ol', { class: 'chat-log chat-log-static' });
      for (const m of c.messages || []) list.appendChild(renderBubble({ seq: m.seq, from: m.from, text: m.text, at: m.at }, 'sent'));
      body.appendChild(h('details', { class: 'card history-item', testid: 'history-item' },
        h('summary', null, title, c.ended_at ? null : h('span', { class: 'badge', text: t('w.history.open') })),
        list));
    }
  } catch (e) {
    clear(body);
    const locked = e instanceof ApiError && e.code === 'history_locked';
    body.appendChild(h('p', { class: locked ? 'notice notice-warm' : 'form-error', text: locked ? t('w.history.locked') : t('err.generic') }));
  }
}
