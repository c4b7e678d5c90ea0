// Counselor console additions from the self-service: the self-checks a worker chose to
// share (side panel), and recommending self-help items after a conversation (note view).
// It watches the console's DOM (the selected tab, the note view) instead of changing
// counselor.js.

import { api } from './api.js';
import { $, h, clear, show } from './dom.js';
import { t, getLang, fmtWhen, onLangChange } from './i18n.js';
import './strings-services.js';

const TITLES = { phq9: 'PHQ-9', gad7: 'GAD-7', stress: 'PSS-10' };
const S = { active: null, shared: [], library: null };

function activeId() {
  const tab = document.querySelector('#tabs [role="tab"][aria-selected="true"]');
  return tab ? tab.getAttribute('data-conv-id') : null;
}

function renderShared() {
  const box = $('#svc-shared');
  if (!box) return;
  clear(box);
  show(box, S.shared.length > 0);
  if (!S.shared.length) return;
  box.appendChild(h('h3', { class: 'panel-title', text: t('cs.shared.title') }));
  box.appendChild(h('ul', { class: 'plain-list' }, S.shared.map((a) => h('li', { testid: 'shared-assessment', data: { band: a.band } },
    t('cs.shared.row', { title: TITLES[a.scale] || a.scale, score: a.score, band: t('as.band.' + a.scale + '.' + a.band), when: fmtWhen(a.created_at, new Date()) })))));
}

async function loadShared(id) {
  S.shared = [];
  renderShared();
  if (!id) return;
  try {
    const r = await api('/api/staff/conversations/' + id + '/assessments');
    if (S.active === id) { S.shared = r.assessments || []; renderShared(); }
  } catch (e) { /* nothing shared to show */ }
}

async function renderRecommend() {
  const box = $('#svc-recommend');
  const view = $('#note-view');
  if (!box || !view) return;
  const id = S.active;
  if (view.hasAttribute('hidden') || !id) { show(box, false); return; }
  if (!S.library) {
    try { S.library = (await api('/api/library')).items || []; } catch (e) { S.library = []; }
  }
  clear(box);
  if (!S.library.length) { show(box, false); return; }
  const checks = S.library.map((item) => h('span', { class: 'chip' },
    h('input', { type: 'checkbox', value: item.id, id: 'rec-' + item.id, testid: 'recommend-item' }),
    h('label', { for: 'rec-' + item.id, text: getLang() === 'en' && item.title_en ? item.title_en : item.title })));
  const note = h('p', { class: 'notice notice-ok small', role: 'status', hidden: true });
  const send = h('button', { type: 'button', class: 'btn btn-secondary', testid: 'recommend-send', on: { click: async () => {
    const ids = checks.map((c) => c.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
    if (!ids.length) return;
    try {
      const r = await api('/api/staff/conversations/' + id + '/recommendations', { method: 'POST', body: { item_ids: ids } });
      note.textContent = t('cs.rec.done', { n: r.added });
    } catch (e) {
      note.textContent = t('err.generic');
    }
    show(note);
  } } }, t('cs.rec.send'));
  box.appendChild(h('h2', { text: t('cs.rec.title') }));
  box.appendChild(h('p', { class: 'muted small', text: t('cs.rec.lead') }));
  box.appendChild(h('div', { class: 'chips' }, checks));
  box.appendChild(send);
  box.appendChild(note);
  show(box, true);
}

function check() {
  const id = activeId();
  if (id !== S.active) {
    S.active = id;
    loadShared(id);
  }
  renderRecommendIfChanged();
}

let lastRecommend = '';
function renderRecommendIfChanged() {
  const view = $('#note-view');
  const key = (S.active || '') + '|' + (view && !view.hasAttribute('hidden'));
  if (key === lastRecommend) return;
  lastRecommend = key;
  renderRecommend();
}

function start() {
  const obs = new MutationObserver(check);
  obs.observe(document.body, { subtree: true, attributes: true, attributeFilter: ['aria-selected', 'hidden'], childList: true });
  onLangChange(() => { renderShared(); lastRecommend = ''; renderRecommendIfChanged(); });
  check();
}

start();
