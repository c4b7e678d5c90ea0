// The worker knows when a counselor has come or written (issue 21): a vibration where the
// phone allows it, the page title, and a banner above any open sheet (the hotline sheet
// never hides that a counselor is here).

import { h, setText, show, hide, closeDialog } from './dom.js';
import { t } from './i18n.js';
import './strings-alerts.js';

let unseen = 0;     // counselor messages (or the arrival) not yet seen
let arrived = false;
let banner = null;

function pageSeen() {
  return document.visibilityState === 'visible' && !document.body.classList.contains('has-modal');
}

function ensureBanner() {
  if (banner) return banner;
  banner = h('div', { class: 'arrival', role: 'alert', testid: 'arrival-banner', hidden: true },
    h('span', { class: 'arrival-text' }),
    h('button', { type: 'button', class: 'btn btn-primary btn-small', testid: 'arrival-open', text: t('w.alert.open'),
      on: { click: () => { closeDialog(); seen(); } } }));
  document.body.appendChild(banner);
  // The sheet closed by itself (its ✕ or Escape): the chat is in view again.
  new MutationObserver(() => { if (!document.body.classList.contains('has-modal')) hide(banner); })
    .observe(document.body, { attributes: true, attributeFilter: ['class'] });
  return banner;
}

export function renderTitle() {
  const base = t('w.title');
  if (!unseen) { document.title = base; return; }
  document.title = (arrived ? t('w.alert.matched') : '(' + unseen + ') ' + t('w.alert.message')) + ' · ' + base;
}

function seen() {
  unseen = 0;
  arrived = false;
  if (banner) hide(banner);
  renderTitle();
}

/** kind: 'matched' or 'message'. */
export function workerAlert(kind) {
  const hidden = !pageSeen();
  if (hidden && navigator.vibrate) {
    try { navigator.vibrate(kind === 'matched' ? [200, 100, 200] : 150); } catch (e) { /* not allowed: fine */ }
  }
  if (kind === 'matched') arrived = true;
  if (hidden) unseen += 1;
  if (document.body.classList.contains('has-modal')) {
    const b = ensureBanner();
    setText(b.firstChild, kind === 'matched' ? t('w.alert.matched.banner') : t('w.alert.message.banner'));
    setText(b.lastChild, t('w.alert.open'));
    show(b);
  }
  renderTitle();
}

document.addEventListener('visibilitychange', () => { if (pageSeen()) seen(); });
