// Reports (supervisor, admin): a month or any range. Figures only (never a word anyone
// wrote); counts under 5 arrive from the server as "<5". Charts are drawn by uPlot
// (web_client/vendor/uplot, a global loaded before this module); CSV and XLSX come from
// the server so the files and the page show the same numbers.

import { $, h, clear, setText, show, hide } from './dom.js';
import { api, ApiError } from './api.js';
import { t, onLangChange } from './i18n.js';
import { toast } from './staff.js';
import { startPage, localDate, download } from './manage.js';
import './strings-crisis.js';

const S = { query: '', report: null, charts: [] };
const LEVEL_KEYS = ['watch', 'high', 'imminent'];

function secs(v) { return v === null || v === undefined ? t('p.withheld') : t('p.sec', { n: v }); }
function mins(v) { return v === null || v === undefined ? t('p.withheld') : t('p.min', { n: v }); }
function num(v) { return v === null || v === undefined ? t('p.withheld') : String(v); }

function figure(key, label, value) {
  return h('div', { class: 'figure', testid: 'figure', data: { key: key } },
    h('span', { class: 'label', text: label }),
    h('span', { class: 'value', testid: 'figure-value', text: value }));
}

function fill(id, items) {
  const box = $(id);
  clear(box);
  for (const [key, label, value] of items) box.appendChild(figure(key, label, value));
}

function render() {
  const r = S.report;
  if (!r) return;
  setText($('#h-range'), r.from + ' – ' + r.to);
  const c = r.conversations;
  fill('#fig-conversations', [
    ['conversations.total', t('p.conv.total'), num(c.total)],
    ['conversations.distinct_workers', t('p.conv.workers'), num(c.distinct_workers)],
    ['conversations.matched', t('p.conv.matched'), num(c.matched)],
    ['conversations.left_before_match', t('p.conv.left'), num(c.left_before_match)],
    ['conversations.wait_seconds.p50', t('p.wait') + ' · ' + t('p.p50'), secs(c.wait_seconds.p50)],
    ['conversations.wait_seconds.p90', t('p.wait') + ' · ' + t('p.p90'), secs(c.wait_seconds.p90)],
    ['conversations.length_minutes.p50', t('p.length') + ' · ' + t('p.p50'), mins(c.length_minutes.p50)],
    ['conversations.length_minutes.p90', t('p.length') + ' · ' + t('p.p90'), mins(c.length_minutes.p90)],
  ]);
  const g = r.ratings;
  fill('#fig-ratings', [
    ['ratings.count', t('p.ratings.count'), num(g.count)],
    ['ratings.mean', t('p.ratings.mean'), num(g.mean)],
  ].concat([1, 2, 3, 4, 5].map((s) => ['ratings.distribution.' + s, t('p.ratings.star', { n: s }), num(g.distribution[String(s)])])));
  const per = g.per_counselor;
  show($('#per-counselor'), !!per);
  const rows = $('#per-counselor-rows');
  clear(rows);
  for (const p of per || []) {
    rows.appendChild(h('tr', { testid: 'per-counselor-row' }, h('td', { text: p.counselor }),
      h('td', { class: 'num', text: num(p.count) }), h('td', { class: 'num', text: num(p.mean) })));
  }
  const e = r.escalations;
  fill('#fig-escalations', [
    ['escalations.total', t('p.esc.total'), num(e.total)],
  ].concat(LEVEL_KEYS.map((k) => ['escalations.by_level.' + k, t('p.level.' + k), num(e.by_level[k])])).concat([
    ['escalations.ack_seconds.p50', t('p.esc.ack') + ' · ' + t('p.p50'), secs(e.ack_seconds.p50)],
    ['escalations.ack_seconds.p90', t('p.esc.ack') + ' · ' + t('p.p90'), secs(e.ack_seconds.p90)],
    ['escalations.breaches', t('p.esc.breaches'), num(e.breaches)],
  ]));
  fill('#fig-referrals', [['referrals.total', t('p.ref.total'), num(r.referrals.total)]].concat(
    Object.keys(r.referrals.by_status).map((k) => ['referrals.by_status.' + k, t('x.ref.status.' + k), num(r.referrals.by_status[k])])));
  fill('#fig-followups', [
    ['followups.due', t('p.fu.due'), num(r.followups.due)],
    ['followups.done', t('p.fu.done'), num(r.followups.done)],
    ['followups.done_on_time', t('p.fu.on_time'), num(r.followups.done_on_time)],
  ]);
  fill('#fig-hours', [
    ['hours.service_hours', t('p.hours.service'), num(r.hours.service_hours)],
    ['hours.roster_covered', t('p.hours.roster'), num(r.hours.roster_covered)],
    ['hours.on_duty', t('p.hours.duty'), num(r.hours.on_duty)],
  ]);
  fill('#fig-retention', [
    ['retention.shredded_by_retention', t('p.ret.retention'), num(r.retention.shredded_by_retention)],
    ['retention.deleted_by_workers', t('p.ret.workers'), num(r.retention.deleted_by_workers)],
  ]);
  show($('#report'));
  drawCharts();
}

// ---- charts: "<5" is drawn as 0 with the exact label in the figures above ----

// A withheld count ("<5") is left out of the bar (null), never drawn as a guess.
function plain(v) { return typeof v === 'number' ? v : null; }

function barChart(el, xs, ys, label, xValues) {
  const width = Math.max(280, el.clientWidth || 400);
  const opts = {
    width: width, height: 200, legend: { show: false }, cursor: { show: false },
    scales: { x: { time: false, range: [xs[0] - 0.7, xs[xs.length - 1] + 0.7] }, y: { range: (u, min, max) => [0, Math.max(5, max)] } },
    axes: [{ values: (u, splits) => splits.map((s) => (xValues[s] !== undefined ? xValues[s] : '')), splits: () => xs, gap: 4 }, { size: 40 }],
    series: [{}, { label: label, stroke: '#2f6b66', fill: 'rgba(47,107,102,0.35)', width: 1, paths: window.uPlot.paths.bars({ size: [0.7, 48] }), points: { show: false } }],
  };
  return new window.uPlot(opts, [xs, ys], el);
}

function drawCharts() {
  for (const c of S.charts) c.destroy();
  S.charts = [];
  const r = S.report;
  if (!window.uPlot) return;  // the figures above still carry every number
  const daily = r.conversations.daily;
  const dx = daily.map((_, i) => i + 1);
  const dl = {};
  // Every fifth day labelled: thirty labels would run into each other.
  daily.forEach((d, i) => { if (i % 5 === 0 || i === daily.length - 1) dl[i + 1] = Number(d.date.slice(8)); });
  S.charts.push(barChart(clear($('#chart-daily')), dx, daily.map((d) => plain(d.count)), t('p.daily'), dl));
  const rx = [1, 2, 3, 4, 5];
  const rl = { 1: '1★', 2: '2★', 3: '3★', 4: '4★', 5: '5★' };
  S.charts.push(barChart(clear($('#chart-ratings')), rx, rx.map((s) => plain(r.ratings.distribution[String(s)])), t('p.ratings.dist'), rl));
  const lx = [1, 2, 3];
  const ll = { 1: t('p.level.watch'), 2: t('p.level.high'), 3: t('p.level.imminent') };
  S.charts.push(barChart(clear($('#chart-levels')), lx, LEVEL_KEYS.map((k) => plain(r.escalations.by_level[k])), t('p.esc'), ll));
}

// ---- range ----

function query() {
  const from = $('#rf-from').value;
  const to = $('#rf-to').value;
  if (from && to) return 'from=' + from + '&to=' + to;
  return 'month=' + ($('#rf-month').value || localDate().slice(0, 7));
}

async function load() {
  hide($('#report-error'));
  S.query = query();
  try {
    S.report = await api('/api/reports?' + S.query);
    render();
  } catch (e) {
    setText($('#report-error'), e instanceof ApiError && e.code === 'bad_field' ? e.message : t('err.generic'));
    show($('#report-error'));
  }
}

startPage(['supervisor', 'admin'], () => {
  const q = new URLSearchParams(location.search);
  $('#rf-month').value = /^\d{4}-\d{2}$/.test(q.get('month') || '') ? q.get('month') : localDate().slice(0, 7);
  $('#rf-month').addEventListener('change', () => { $('#rf-from').value = ''; $('#rf-to').value = ''; });
  $('#range-form').addEventListener('submit', (ev) => { ev.preventDefault(); load(); });
  const name = (ext) => 'yizhan-report-' + (S.report ? S.report.from + '-' + S.report.to : 'range') + '.' + ext;
  $('#export-csv').addEventListener('click', () => download('/api/reports.csv?' + S.query, name('csv')).catch(() => toast(t('m.failed'))));
  $('#export-xlsx').addEventListener('click', () => download('/api/reports.xlsx?' + S.query, name('xlsx')).catch(() => toast(t('m.failed'))));
  onLangChange(render);
  window.addEventListener('resize', () => { if (S.report) drawCharts(); });
  load();
});
