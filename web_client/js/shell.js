// The shell every page shares, around what the page itself does: the zh-CN copy in the
// HTML applied (or switched to English) by every language toggle, and on the worker's
// pages the quick exit and the hotlines. The header markup stays in each HTML file, so a
// page reads in Chinese before any script has run.

import { beacon } from './api.js';
import { $$, h, clear, telHref } from './dom.js';
import { t, applyI18n, toggleLang, getLang } from './i18n.js';
import { getHotlines } from './hotlines.js';

const TOGGLES = '[data-lang-toggle], [data-testid="lang-toggle"]';

/** Apply the current language to the page and wire every language toggle on it. */
export function wireLanguage() {
  for (const b of $$(TOGGLES)) b.addEventListener('click', toggleLang);
  applyI18n(document);
}

/** Leave at once for a neutral page, forgetting this device's session and storage.
 *  `beforeLeave` lets a page close what it holds open (a socket). */
export function quickExit(beforeLeave) {
  document.body.classList.add('exiting');
  beacon('/api/worker/signout', { forget_device: true });
  if (beforeLeave) { try { beforeLeave(); } catch (e) { /* leave anyway */ } }
  try { sessionStorage.clear(); } catch (e) { /* ignore */ }
  try { localStorage.clear(); } catch (e) { /* ignore */ }
  location.replace('/neutral.html');
}

/** Wire the quick-exit button, if the page has one. */
export function wireQuickExit(beforeLeave) {
  for (const b of $$('[data-testid="quick-exit"]')) b.addEventListener('click', () => quickExit(beforeLeave));
}

/** Fill every [data-hotlines] list; `detailed` adds the hours and a spoken label (the
 *  worker page's dialog), the self-service pages show name and number only. */
export function renderHotlines(detailed) {
  const en = getLang() === 'en';
  for (const list of $$('[data-hotlines]')) {
    clear(list);
    for (const line of getHotlines()) {
      const name = en && line.name_en ? line.name_en : line.name;
      const hours = en && line.hours_en ? line.hours_en : line.hours;
      list.appendChild(h('li', null,
        h('a', {
          class: ['hotline', line.emergency ? 'hotline-emergency' : ''],
          href: telHref(line.phone),
          testid: 'hotline',
          'aria-label': detailed ? t('hl.call', { phone: line.phone }) + ' · ' + name : null,
        },
        h('span', { class: 'hotline-name', text: name }),
        h('span', { class: 'hotline-phone', text: line.phone }),
        detailed && hours ? h('span', { class: 'hotline-hours', text: hours }) : null)));
    }
  }
}
