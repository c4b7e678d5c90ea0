// Ratings per counselor over the last weeks; low ratings stand out.

import { $, byTestId, h, clear, setText, show } from '../dom.js';
import { api } from '../api.js';
import { t } from '../i18n.js';
import { RATING_WEEKS, LOW_AVERAGE, S } from './state.js';

export async function loadRatings() {
  try {
    S.ratings = await api('/api/supervisor/ratings?weeks=' + RATING_WEEKS, { timeout: 8000 });
    S.ratingsError = false;
  } catch (e) {
    S.ratingsError = true;
  }
  renderRatings();
}

/** ISO week label ("2026-W48") of a moment, in the service time zone (UTC+8, no DST). */
function isoWeek(ms) {
  const d = new Date(ms + 8 * 3600 * 1000);
  const day = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const dow = day.getUTCDay() || 7;
  day.setUTCDate(day.getUTCDate() + 4 - dow);
  const y = day.getUTCFullYear();
  const w = Math.ceil(((day.getTime() - Date.UTC(y, 0, 1)) / 86400000 + 1) / 7);
  return y + '-W' + (w < 10 ? '0' : '') + w;
}

function fmtAvg(a) {
  return typeof a === 'number' && !isNaN(a) ? a.toFixed(1) : '–';
}

export function renderRatings() {
  const table = byTestId('ratings');
  const body = $('#ratings-body');
  const empty = byTestId('ratings-empty');
  const status = byTestId('ratings-status');
  clear(body);
  const r = S.ratings;
  const people = (r && Array.isArray(r.counselors) ? r.counselors : []).slice()
    .sort((a, b) => (a.average === null) - (b.average === null) || (a.average || 0) - (b.average || 0));
  const weeks = (r && r.weeks) || RATING_WEEKS;
  const lowScore = (r && r.low_score) || 2;
  // The strip's columns: the last `weeks` ISO weeks, plus an older partial one if it has data.
  const labels = [];
  for (let i = weeks - 1; i >= 0; i--) labels.push(isoWeek(Date.now() - i * 7 * 86400000));
  const older = people.flatMap((p) => (p.weeks || []).map((w) => w.week)).filter((w) => w < labels[0]);
  if (older.length) labels.unshift(older.sort()[0]);
  for (const p of people) {
    const low = Number(p.low) || 0;
    const lowAvg = typeof p.average === 'number' && p.average < LOW_AVERAGE;
    const byWeek = new Map((p.weeks || []).map((w) => [w.week, w]));
    const strip = h('ol', { class: 'week-strip', testid: 'rating-weeks' });
    for (const label of labels) {
      const w = byWeek.get(label);
      const text = w
        ? t('v.ratings.week', { w: label, a: fmtAvg(w.average), n: w.count, l: w.low })
        : t('v.ratings.week.none', { w: label });
      const step = w && typeof w.average === 'number' ? Math.min(50, Math.max(10, Math.round(w.average * 2) * 5)) : 0;
      strip.appendChild(h('li', {
        class: ['wk', w ? '' : 'is-none', w && w.average < LOW_AVERAGE ? 'is-low' : '', w && w.low > 0 ? 'has-low' : ''],
        title: text, data: { week: label, step: step || null },
      }, h('span', { class: 'wk-bar', 'aria-hidden': 'true' }), h('span', { class: 'visually-hidden', text: text })));
    }
    body.appendChild(h('tr', {
      class: ['rating-row', lowAvg ? 'is-low' : '', low > 0 ? 'has-low' : ''],
      testid: 'rating-row', data: { 'staff-id': p.id, average: p.average, low: low },
    },
    h('th', { scope: 'row', class: 'rating-name', text: p.display_name || '' }),
    h('td', { class: 'num' }, h('span', { class: ['avg', lowAvg ? 'is-low' : ''], testid: 'rating-average', text: fmtAvg(p.average) })),
    h('td', { class: 'num muted', testid: 'rating-count', text: String(p.count || 0) }),
    h('td', { class: 'num' }, h('span', { class: ['low', low > 0 ? 'is-low' : ''], testid: 'rating-low', data: { low: low }, text: String(low) })),
    h('td', {}, strip)));
  }
  show(table, people.length > 0);
  show(empty, !!r && !S.ratingsError && people.length === 0);
  setText(status, S.ratingsError ? t('v.ratings.error') : !r ? t('loading') : t('v.ratings.note', { n: weeks, low: lowScore }));
}
