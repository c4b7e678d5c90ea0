// Self-assessment: one question a screen, a warm report, the trend. Answers go to the
// server once, at the end; nothing is kept in the browser's storage.

import {
  api, t, h, $, clear, setText, show, getLang, wireChrome, currentWorker, errorText, when,
} from './selfservice.js';

const S = { scales: {}, order: [], scale: null, answers: [], index: 0, result: null, screen: 'pick' };

function go(name) {
  S.screen = name;
  for (const sec of document.querySelectorAll('section.screen[data-screen]')) {
    show(sec, sec.getAttribute('data-screen') === name);
  }
  window.scrollTo(0, 0);
}

function label(pair) {
  return getLang() === 'en' ? pair.en : pair.zh;
}

function title(scale) {
  return getLang() === 'en' ? scale.title_en : scale.title;
}

function renderPick() {
  const list = $('#scale-list');
  clear(list);
  for (const id of S.order) {
    const sc = S.scales[id];
    list.appendChild(h('li', null, h('button', {
      type: 'button', testid: 'scale-' + id, on: { click: () => start(id) },
    }, h('strong', { text: title(sc) }),
    h('span', { class: 'small muted', text: t('as.items', { n: sc.items.length, m: Math.max(2, Math.ceil(sc.items.length / 3)) }) }))));
  }
}

function start(id) {
  S.scale = S.scales[id];
  S.answers = new Array(S.scale.items.length).fill(null);
  S.index = 0;
  renderQuestion();
  go('question');
}

function renderQuestion() {
  const sc = S.scale;
  if (!sc) return;
  const n = sc.items.length;
  setText($('#q-progress'), t('as.progress', { i: S.index + 1, n }));
  $('#q-bar').style.width = Math.round((S.index / n) * 100) + '%';
  setText($('#q-stem'), getLang() === 'en' ? sc.stem_en : sc.stem);
  setText($('#q-text'), label(sc.items[S.index]));
  const box = $('#q-options');
  clear(box);
  for (const opt of sc.options) {
    box.appendChild(h('button', {
      type: 'button', class: 'btn btn-secondary btn-block', testid: 'opt-' + opt.value,
      'aria-pressed': S.answers[S.index] === opt.value ? 'true' : 'false',
      on: { click: () => answer(opt.value) },
    }, label(opt)));
  }
  show($('#q-prev'), S.index > 0);
  $('#q-text').focus();
}

async function answer(value) {
  S.answers[S.index] = value;
  if (S.index < S.scale.items.length - 1) {
    S.index += 1;
    renderQuestion();
    return;
  }
  for (const b of document.querySelectorAll('#q-options button')) b.disabled = true;
  try {
    S.result = await api('/api/worker/assessments', {
      method: 'POST', body: { scale: S.scale.id, answers: S.answers },
    });
    renderReport();
    go('report');
    const focus = S.result.self_harm ? $('#report-crisis') : $('#report-title');
    if (focus) { focus.setAttribute('tabindex', '-1'); focus.focus(); }
  } catch (e) {
    showError(e);
    for (const b of document.querySelectorAll('#q-options button')) b.disabled = false;
  }
}

function itemLink(item) {
  const name = getLang() === 'en' && item.title_en ? item.title_en : item.title;
  return h('li', { class: 'item-card', testid: 'library-item' },
    h('strong', { text: name }),
    item.summary ? h('p', { class: 'meta', text: item.summary }) : null,
    h('div', { class: 'actions' }, h('a', {
      class: 'btn btn-secondary btn-small', href: item.url,
      rel: item.url.startsWith('https://') ? 'noopener noreferrer' : null,
    }, t('sh.open'))));
}

function renderReport() {
  const r = S.result;
  if (!r) return;
  const sc = S.scales[r.scale];
  show($('#report-crisis'), !!r.self_harm);
  setText($('#report-scale'), title(sc));
  setText($('#report-score'), t('as.score', { score: r.score, max: r.max_score }));
  setText($('#report-band'), t('as.band.' + r.scale + '.' + r.band));
  $('#report-band').setAttribute('data-band', r.band);
  $('#report-marker').style.left = Math.round((r.score / r.max_score) * 100) + '%';
  setText($('#report-means'), t('as.mean.' + r.band));
  const list = $('#report-items');
  clear(list);
  for (const item of r.recommended || []) list.appendChild(itemLink(item));
  $('#share-toggle').checked = !!r.share_next;
}

async function renderTrend() {
  const box = $('#trend');
  clear(box);
  let items = [];
  try {
    items = (await api('/api/worker/assessments')).assessments || [];
  } catch (e) {
    showError(e);
    return;
  }
  show($('#trend-empty'), items.length === 0);
  for (const id of S.order) {
    const mine = items.filter((a) => a.scale === id).reverse(); // oldest first
    if (!mine.length) continue;
    const rows = h('ol', { class: 'trend-rows' });
    for (const a of mine) {
      const bar = h('span');
      bar.style.width = Math.max(2, Math.round((a.score / a.max_score) * 100)) + '%';
      rows.appendChild(h('li', { class: 'trend-row', testid: 'trend-row', data: { scale: id, band: a.band } },
        h('span', { class: 'muted', text: when(a.created_at) }),
        h('span', { class: 'trend-bar', title: t('as.band.' + id + '.' + a.band) }, bar),
        h('span', { text: String(a.score) })));
    }
    box.appendChild(h('section', { class: 'trend-scale card' }, h('h2', { text: title(S.scales[id]) }), rows));
  }
}

function showError(e) {
  const el = $('#page-error');
  setText(el, errorText(e));
  show(el);
}

function rerender() {
  renderPick();
  if (S.screen === 'question') renderQuestion();
  if (S.screen === 'report') renderReport();
  if (S.screen === 'trend') renderTrend();
}

async function main() {
  wireChrome(rerender);
  $('#q-prev').addEventListener('click', () => {
    if (S.index > 0) { S.index -= 1; renderQuestion(); }
  });
  $('#back-to-list').addEventListener('click', () => go('pick'));
  $('#trend-back').addEventListener('click', () => go('pick'));
  $('#open-trend').addEventListener('click', async () => { go('trend'); await renderTrend(); });
  $('#share-toggle').addEventListener('change', async (ev) => {
    if (!S.result) return;
    try {
      const r = await api('/api/worker/assessments/' + S.result.id, {
        method: 'PUT', body: { share_next: ev.target.checked },
      });
      S.result.share_next = r.share_next;
      setText($('#share-saved'), t('as.share.saved'));
      show($('#share-saved'));
    } catch (e) {
      ev.target.checked = !ev.target.checked;
      showError(e);
    }
  });
  try {
    const me = await currentWorker();
    if (!me) return;
    const data = await api('/api/assessments/scales');
    for (const sc of data.scales) { S.scales[sc.id] = sc; S.order.push(sc.id); }
  } catch (e) {
    showError(e);
    return;
  }
  renderPick();
  const wanted = new URLSearchParams(location.search).get('scale');
  if (wanted && S.scales[wanted]) start(wanted);
  else go('pick');
}

main();
