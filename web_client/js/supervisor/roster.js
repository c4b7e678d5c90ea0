// Today's roster on the board: coverage by hour (gaps stand out), who is scheduled now,
// who is scheduled but not on duty.

import { byTestId, h, clear, setText, show, hide } from '../dom.js';
import { api } from '../api.js';
import { t, fmtClock } from '../i18n.js';
import { S } from './state.js';
import { renderCounselors } from './board.js';

export async function loadRoster() {
  try {
    S.roster = await api('/api/roster/today', { timeout: 8000 });
    S.rosterError = false;
  } catch (e) {
    S.rosterError = true;
  }
  renderRoster();
  renderCounselors();
}

export function renderRoster() {
  const strip = byTestId('coverage');
  const line = byTestId('coverage-line');
  const missing = byTestId('roster-missing');
  const now = byTestId('roster-now');
  clear(strip); clear(missing); clear(now);
  const gapsBadge = byTestId('roster-gaps');
  const r = S.roster;
  if (!r) { setText(line, S.rosterError ? t('v.roster.error') : t('loading')); hide(gapsBadge); return; }
  const hours = (r.coverage || []).slice().sort((a, b) => String(a.date + a.hour).localeCompare(String(b.date + b.hour)));
  const nowHour = fmtClock(new Date()).slice(0, 2);
  // No roster kept at all: say so instead of painting every hour as a gap.
  const anyone = hours.some((hr) => (hr.counselors || []).length || (hr.supervisors || []).length);
  strip.classList.toggle('is-empty', !anyone);
  for (const hr of hours) {
    const miss = hr.missing || {};
    const label = hr.gap
      ? t('v.roster.hour.gap', { h: hr.hour, c: miss.counselors || 0, s: miss.supervisors || 0 })
      : hr.hour + ' ✓';
    strip.appendChild(h('li', {
      class: ['cover-hour', hr.gap ? 'is-gap' : 'is-ok', String(hr.hour).slice(0, 2) === nowHour ? 'is-now' : ''],
      title: label, 'aria-label': label, testid: 'coverage-hour', data: { hour: hr.hour, gap: hr.gap ? '1' : '0' },
    }, h('span', { text: String(hr.hour).slice(0, 2) })));
  }
  const gaps = r.gaps || 0;
  setText(gapsBadge, t('v.roster.gaps', { n: gaps }));
  gapsBadge.className = 'badge ' + (gaps ? 'risk-watch' : 'risk-none');
  show(gapsBadge, gaps > 0);
  setText(line, !hours.length || !anyone ? t('v.roster.none') : gaps ? t('v.roster.gaps', { n: gaps }) : t('v.roster.nogaps'));
  if (!anyone) hide(gapsBadge);
  const people = (list, arr, cls, emptyText) => {
    if (!arr.length) { list.appendChild(h('li', { class: 'muted small', text: emptyText })); return; }
    for (const s of arr) {
      list.appendChild(h('li', { class: ['person', cls], testid: cls === 'is-missing' ? 'roster-missing-person' : 'roster-person' },
        h('span', { class: ['dot', cls === 'is-missing' ? 'dot-warn' : 'dot-ok'], 'aria-hidden': 'true' }),
        h('span', { text: s.display_name || s.username || '' }),
        h('span', { class: 'muted small', text: t('s.role.' + s.role) === 's.role.' + s.role ? s.role : t('s.role.' + s.role) }),
        h('span', { class: 'muted small', text: fmtClock(s.start) + '–' + fmtClock(s.end) })));
    }
  };
  people(missing, r.scheduled_not_on_duty || [], 'is-missing', t('v.roster.missing.none'));
  people(now, r.scheduled_now || [], 'is-now', t('v.roster.none'));
}
