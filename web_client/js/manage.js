// The shell of the staff management pages (admin, roster, directory, reports): sign-in
// (with the two-factor step), the role check, the navigation between them, sign-out.

import { $, h, clear, setText } from './dom.js';
import { onLangChange, t } from './i18n.js';
import { wireLanguage } from './shell.js';
import { currentStaff, showSignin, showView, signOut, wireSignin } from './staff.js';
import './strings-admin.js';

// Which page each role may open, in the order of the navigation.
const PAGES = [
  { href: 'supervisor.html', key: 'm.nav.board', roles: ['supervisor'] },
  { href: 'roster.html', key: 'm.nav.roster', roles: ['supervisor', 'admin'] },
  { href: 'directory.html', key: 'm.nav.directory', roles: ['supervisor', 'admin'] },
  { href: 'reports.html', key: 'm.nav.reports', roles: ['supervisor', 'admin'] },
  { href: 'admin.html', key: 'm.nav.admin', roles: ['admin'] },
];

function renderNav(staff) {
  const nav = $('#manage-nav');
  clear(nav);
  const here = location.pathname.split('/').pop();
  for (const p of PAGES) {
    if (p.roles.indexOf(staff.role) < 0) continue;
    const current = p.href === here;
    nav.appendChild(h('a', { href: p.href, class: current ? 'nav-link is-current' : 'nav-link', 'aria-current': current ? 'page' : null, text: t(p.key) }));
  }
}

/**
 * Boot a management page: `roles` may open it; `ready(staff)` runs once, after sign-in.
 */
export function startPage(roles, ready) {
  let started = false;
  let current = null;
  wireLanguage();
  const enter = (staff) => {
    if (roles.indexOf(staff.role) < 0) {
      setText($('#denied-text'), t('m.denied'));
      showView('denied');
      return;
    }
    current = staff;
    setText($('[data-testid="staff-name"]'), staff.display_name || '');
    renderNav(staff);
    showView('app');
    if (!started) { started = true; ready(staff); }
  };
  wireSignin(enter);
  onLangChange(() => { if (current) renderNav(current); });
  for (const b of document.querySelectorAll('[data-signout]')) {
    b.addEventListener('click', async () => { await signOut(); location.reload(); });
  }
  currentStaff().then((staff) => {
    if (!staff) { showSignin(); return; }
    enter(staff);
  }).catch(() => showSignin(t('err.network')));
}

/** "2026-12-03" in the service's zone (Asia/Shanghai), for date inputs. */
export function localDate(d) {
  const f = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' });
  return f.format(d || new Date());
}

/** A filename-safe download of a fetched body. */
export async function download(url, fallbackName) {
  const res = await fetch(url, { credentials: 'same-origin', cache: 'no-store' });
  if (!res.ok) throw new Error('HTTP ' + res.status);
  const blob = await res.blob();
  const a = h('a', { href: URL.createObjectURL(blob), download: fallbackName });
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}
