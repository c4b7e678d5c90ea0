// The worker home page's links to the self-service pages, and the booking reminder once
// the worker is signed in (worker.js marks the screen on <body data-screen>).

import { h, clear } from './dom.js';
import { t, onLangChange } from './i18n.js';
import { startReminder } from './reminder.js';
import './strings-services.js';

const LINKS = [
  ['assess', '/assess.html'], ['selfhelp', '/selfhelp.html'],
  ['booking', '/booking.html'], ['opendays', '/opendays.html'],
];

function render() {
  for (const nav of document.querySelectorAll('[data-more-services]')) {
    clear(nav);
    nav.appendChild(h('h2', { text: t('ss.more') }));
    nav.appendChild(h('ul', null, LINKS.map(([key, href]) => h('li', null,
      h('a', { href, testid: 'service-' + key },
        h('strong', { text: t('ss.nav.' + key) }), h('span', { text: t('ss.nav.' + key + '.d') }))))));
  }
}

const SIGNED_IN = new Set(['ready', 'waiting', 'chat', 'after']);

function watch() {
  const check = () => {
    if (SIGNED_IN.has(document.body.getAttribute('data-screen'))) startReminder();
  };
  new MutationObserver(check).observe(document.body, { attributes: true, attributeFilter: ['data-screen'] });
  check();
}

render();
onLangChange(render);
watch();
