// Crisis resources on the worker page: the hotlines (in the dialog, the waiting screen
// and the chat), and what happens when the server or the pre-chat screen signals risk.

import { $, h, setText, hide, openDialog } from '../dom.js';
import { t } from '../i18n.js';
import { setServerHotlines } from '../hotlines.js';
import { renderHotlines as renderLists } from '../shell.js';
import { S } from './state.js';
import { renderQueue } from './waiting.js';
import { transcript } from './chat.js';

export function renderHotlines() {
  renderLists(true);
}

export function openHotlines(ev) {
  if (ev) ev.preventDefault();
  setText($('#h-hotlines'), t('hl.title'));
  setText($('#hl-lead'), t('hl.lead'));
  openDialog($('#hotline-dialog'));
}

/** Imminent risk or a positive screen: hotlines at once, gently. */
export function showSafety(list) {
  if (Array.isArray(list) && list.length) setServerHotlines(list);
  renderHotlines();
  const first = !S.safety;
  S.safety = true;
  if (S.screen === 'waiting') {
    hide($('#screen-done'));
    renderQueue();
    const safe = $('#wait-safe');
    if (first) safe.scrollIntoView({ block: 'start', behavior: 'smooth' });
  } else if (S.screen === 'chat') {
    if (!$('[data-testid="hotlines-inline"]', transcript.el)) {
      const list2 = h('ul', { class: 'hotline-list' });
      const box = h('li', { class: 'hl-inline', testid: 'hotlines-inline' },
        h('h2', { text: t('w.hl.now.title') }),
        h('p', { text: t('w.hl.now.body') }),
        list2);
      list2.setAttribute('data-hotlines', '');
      transcript.addNote(box, (S.conv && S.conv.lastSeq) || 0);
      renderHotlines();
      transcript.scrollToEnd();
    }
    if (first) {
      setText($('#h-hotlines'), t('w.hl.now.title'));
      setText($('#hl-lead'), t('w.hl.now.body'));
      openDialog($('#hotline-dialog'));
    }
  } else {
    openDialog($('#hotline-dialog'));
  }
}
