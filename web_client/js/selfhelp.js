// The self-help library: what counselors and the latest self-check suggest, then everything.

import { api, ApiError, t, h, $, clear, setText, show, getLang, wireChrome, errorText } from './selfservice.js';

const S = { items: [], forYou: [] };

function card(item, note) {
  const name = getLang() === 'en' && item.title_en ? item.title_en : item.title;
  const external = item.url.startsWith('https://');
  return h('li', { class: 'item-card', testid: 'library-item', data: { kind: item.kind } },
    h('span', { class: 'tag', text: t('sh.kind.' + item.kind) }),
    h('strong', { text: name }),
    note ? h('p', { class: 'meta', text: note }) : null,
    item.summary ? h('p', { class: 'meta', text: item.summary }) : null,
    h('div', { class: 'actions' }, h('a', {
      class: 'btn btn-secondary btn-small', href: item.url,
      rel: external ? 'noopener noreferrer' : null,
    }, t('sh.open') + (external ? ' ' + t('sh.external') : ''))));
}

function render() {
  const all = $('#all-items');
  clear(all);
  for (const item of S.items) all.appendChild(card(item));
  const mine = $('#for-you-list');
  clear(mine);
  const seen = new Set();
  for (const x of S.forYou) {
    if (seen.has(x.item.id)) continue;
    seen.add(x.item.id);
    mine.appendChild(card(x.item, x.note));
  }
  show($('#for-you'), seen.size > 0);
}

async function optional(path) {
  try { return await api(path); } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null; // not signed in: fine here
    throw e;
  }
}

async function main() {
  wireChrome(render);
  try {
    S.items = (await api('/api/library')).items || [];
    const recs = await optional('/api/worker/recommendations');
    for (const it of (recs && recs.items) || []) {
      S.forYou.push({ item: it, note: t('sh.from_counselor', { name: it.counselor }) });
    }
    const mine = await optional('/api/worker/assessments');
    const latest = mine && mine.assessments && mine.assessments[0];
    if (latest) {
      const suits = (await api('/api/library?suits=' + encodeURIComponent(latest.scale + ':' + latest.band + ',' + latest.band))).items || [];
      for (const it of suits) S.forYou.push({ item: it, note: '' });
    }
  } catch (e) {
    setText($('#page-error'), errorText(e));
    show($('#page-error'));
  }
  render();
}

main();
