// Chart.js (web/vendor/chart.umd.js, loaded as a classic script before the
// modules; it defines window.Chart) behind three small builders. Every chart
// made is kept so that a new view can destroy the old ones first.

import { h, num, usd } from './ui.js';

const Chart = window.Chart;
const live = [];
let pending = [];

const PALETTE = ['#2f6fde', '#e8833a', '#2a9d6f', '#c43d6b', '#7a5cc7', '#c9a227', '#3aa6b9', '#8c6d46', '#6b7a8f'];

if (Chart) {
  Chart.defaults.animation = false; /* draw at once: no motion, stable screenshots */
  Chart.defaults.font.family = 'system-ui, sans-serif';
  Chart.defaults.maintainAspectRatio = false;
}

export function destroyCharts() {
  while (live.length) live.pop().destroy();
}

// Draws the charts built since the last call whose canvas is now in the
// document (Chart.js needs its size): call it after inserting a view.
export function drawCharts() {
  const todo = pending;
  pending = [];
  for (const [canvas, config] of todo) if (Chart && canvas.isConnected) live.push(new Chart(canvas, config()));
}

// A figure with a canvas and a text alternative (the chart's data is in the
// tables next to it; the label says what the chart shows).
function figure(label, draw) {
  const canvas = h('canvas', { role: 'img', 'aria-label': label });
  const fig = h('figure', { class: 'chart' }, h('div', { class: 'chart-box' }, canvas), h('figcaption', {}, label));
  pending.push([canvas, draw]);
  return fig;
}

const money = {
  ticks: { callback: (v) => usd(String(v), Math.abs(v) < 10 ? 2 : 0) },
};
const tooltipMoney = {
  callbacks: { label: (c) => `${c.dataset.label}: ${usd(String(c.parsed.y), 2)}` },
};

// Stacked bars of effective cost: rows of the spend report (period, key,
// effective_cost_usd); the top `top` keys get their own colour, the rest "other".
export function stackedSpend(label, rows, top = 8) {
  const periods = [...new Set(rows.map((r) => r.period))].sort();
  const totals = new Map();
  for (const r of rows) totals.set(r.key ?? '(none)', (totals.get(r.key ?? '(none)') ?? 0) + num(r.effective_cost_usd));
  const keys = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a));
  const shown = keys.slice(0, top);
  const series = new Map(shown.map((k) => [k, periods.map(() => 0)]));
  if (keys.length > top) series.set('other', periods.map(() => 0));
  for (const r of rows) {
    const k = r.key ?? '(none)';
    const s = series.get(shown.includes(k) ? k : 'other');
    s[periods.indexOf(r.period)] += num(r.effective_cost_usd);
  }
  const labels = periods.map((p) => (p ?? '').slice(0, 10));
  return figure(label, () => ({
    type: 'bar',
    data: {
      labels,
      datasets: [...series].map(([k, data], i) => ({ label: k, data, backgroundColor: PALETTE[i % PALETTE.length] })),
    },
    options: {
      scales: { x: { stacked: true }, y: { stacked: true, ...money } },
      plugins: { tooltip: tooltipMoney },
    },
  }));
}

// A budget's burn-down: what is left each day of its period (from daily
// spend), the ideal straight line to zero, and the forecast from now to the
// period's end.
export function burnDown(budget, dailyRows) {
  const start = new Date(budget.period.start);
  const end = new Date(budget.period.end);
  const limit = num(budget.limit_usd);
  const days = [];
  for (let d = new Date(start); d < end; d = new Date(d.getTime() + 86400000)) days.push(d);
  const byDay = new Map();
  for (const r of dailyRows) {
    const k = (r.period ?? '').slice(0, 10);
    byDay.set(k, (byDay.get(k) ?? 0) + num(r.effective_cost_usd));
  }
  const now = Date.now();
  let left = limit;
  const actual = [];
  const forecast = [];
  for (const d of days) {
    const key = d.toISOString().slice(0, 10);
    if (d.getTime() <= now) {
      left -= byDay.get(key) ?? 0;
      actual.push(left);
    } else actual.push(null);
    forecast.push(null);
  }
  // The forecast runs from today's remaining (as the budget reports it) to
  // what would remain at the end at the forecast rate.
  const today = days.findLastIndex((d) => d.getTime() <= now);
  if (budget.forecast_usd !== null && budget.forecast_usd !== undefined && today >= 0) {
    const from = limit - num(budget.spent_usd);
    const to = limit - num(budget.forecast_usd);
    const n = days.length - today;
    for (let i = today; i < days.length; i++) forecast[i] = from + ((to - from) * (i - today + 1)) / n;
    forecast[today] = from;
  }
  const ideal = days.map((_, i) => limit - (limit * (i + 1)) / days.length);
  const label = `Burn-down of ${budget.name}: remaining budget by day, with the forecast to ${budget.period.end.slice(0, 10)}`;
  return figure(label, () => ({
    type: 'line',
    data: {
      labels: days.map((d) => d.toISOString().slice(5, 10)),
      datasets: [
        { label: 'Remaining', data: actual, borderColor: PALETTE[0], backgroundColor: PALETTE[0], pointRadius: 2 },
        {
          label: 'Forecast',
          data: forecast,
          borderColor: PALETTE[1],
          backgroundColor: PALETTE[1],
          borderDash: [6, 4],
          pointRadius: 0,
        },
        { label: 'Even pace', data: ideal, borderColor: '#9aa3b0', borderWidth: 1, pointRadius: 0 },
      ],
    },
    options: { scales: { y: money }, plugins: { tooltip: tooltipMoney } },
  }));
}

// Horizontal bars of the savings levers.
export function leverBars(label, levers) {
  const names = [
    ['routing_usd', 'Routing'],
    ['caching_usd', 'Caching'],
    ['batch_usd', 'Batch'],
    ['context_usd', 'Context'],
  ];
  return figure(label, () => ({
    type: 'bar',
    data: {
      labels: names.map(([, n]) => n),
      datasets: [
        { label: 'Saved', data: names.map(([k]) => num(levers?.[k])), backgroundColor: PALETTE.slice(2, 6) },
      ],
    },
    options: {
      indexAxis: 'y',
      scales: { x: money },
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { label: (c) => `Saved: ${usd(String(c.parsed.x), 2)}` } },
      },
    },
  }));
}
