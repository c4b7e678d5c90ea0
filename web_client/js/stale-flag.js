// On the supervisor board: how many directory entries wait to be verified (not checked
// for 90 days), as a link to the directory. Looks once the board is shown, then every
// ten minutes; a failure leaves the flag hidden (the board itself must never suffer).

import { $, setText, show } from './dom.js';
import { api } from './api.js';
import { t, onLangChange } from './i18n.js';
import './strings-admin.js';

const EVERY_MS = 10 * 60 * 1000;
let count = 0;
let timer = null;

function render() {
  const el = $('#directory-stale');
  if (!el) return;
  setText(el, t('d.board', { n: count }));
  el.setAttribute('data-count', String(count));
  show(el, count > 0);
}

async function look() {
  try {
    const data = await api('/api/directory');
    count = data.stale || 0;
  } catch (e) {
    count = 0;
  }
  render();
}

function onView() {
  if (document.body.getAttribute('data-view') !== 'app') return;
  look();
  clearInterval(timer);
  timer = setInterval(look, EVERY_MS);
}

new MutationObserver(onView).observe(document.body, { attributes: true, attributeFilter: ['data-view'] });
onLangChange(render);
onView();
