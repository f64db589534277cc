// The finance dashboard: sign-in with a read key, then two views routed by
// the URL hash, #/ (overview) and #/teams/SLUG (one team), with the date
// range as hash query parameters (#/teams/search?from=2026-11-01&to=2026-11-28)
// so that every view is a shareable link. Reads only /v1/reports/...,
// /v1/alerts and /v1/export/focus; renders with plain DOM and Chart.js.

import { ApiError, clearKey, download, getJson, getKey, setKey } from './api.js';
import { burnDown, destroyCharts, drawCharts, leverBars, stackedSpend } from './charts.js';
import { h, int, keyName, pct, section, stateBadge, sumDecimal, table, usd, usdUnit } from './ui.js';

const $ = (id) => document.getElementById(id);
let generation = 0; /* a newer render makes older, slower ones drop their result */
let current = null; /* {route, range}: what the export buttons export */

// ---- routing -------------------------------------------------------------

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = raw.split('?');
  const q = new URLSearchParams(query);
  const range = { from: q.get('from') || '', to: q.get('to') || '' };
  const m = path.match(/^\/teams\/([^/]+)\/?$/);
  const route = m ? { name: 'team', slug: decodeURIComponent(m[1]) } : { name: 'overview' };
  return { route, range };
}

function hashFor(route, range) {
  const path = route.name === 'team' ? `/teams/${encodeURIComponent(route.slug)}` : '/';
  const q = new URLSearchParams();
  if (range.from) q.set('from', range.from);
  if (range.to) q.set('to', range.to);
  const s = q.toString();
  return `#${path}${s ? '?' + s : ''}`;
}

const teamLink = (slug, range) => h('a', { href: hashFor({ name: 'team', slug }, range) }, slug);

// ---- status line ---------------------------------------------------------

function status(text, bad = false) {
  const el = $('status');
  el.textContent = text;
  el.className = bad ? 'bad' : '';
}

function failure(what, e) {
  if (e instanceof ApiError && e.status === 401) {
    signOut('Your key is no longer accepted (unknown or revoked). Sign in again.');
    return null;
  }
  const msg = e instanceof ApiError ? e.message : String(e);
  return h('p', { class: 'error', role: 'alert' }, `${what} could not be loaded: ${msg}`);
}

// Loads every named request at once; a failed one gives {error} in its
// slot instead of failing the others.
async function loadAll(requests) {
  const names = Object.keys(requests);
  const results = await Promise.allSettled(names.map((n) => requests[n]));
  const out = {};
  names.forEach((n, i) => {
    out[n] = results[i].status === 'fulfilled' ? results[i].value : { error: results[i].reason };
  });
  return out;
}

async function alerts(params) {
  return (await getJson('/v1/alerts', params)).alerts ?? [];
}

// ---- sign-in -------------------------------------------------------------

function signOut(message) {
  clearKey();
  destroyCharts();
  $('main').replaceChildren();
  $('app').hidden = true;
  $('signout').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = message ?? '';
  $('key').value = '';
  $('key').focus();
}

async function signIn(ev) {
  ev.preventDefault();
  const key = $('key').value.trim();
  const err = $('signin-error');
  err.textContent = '';
  if (!key) {
    err.textContent = 'Enter a read key (it starts with tg_).';
    $('key').focus();
    return;
  }
  $('signin-submit').disabled = true;
  try {
    await getJson('/v1/reports/unpriced', {}, key);
    setKey(key);
    $('key').value = '';
    showApp();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401)
      err.textContent = 'That key was not accepted: it is unknown, revoked or mistyped.';
    else if (e instanceof ApiError && e.status === 403)
      err.textContent = 'That key cannot read reports: use a key with the read (or admin) role.';
    else err.textContent = `Sign-in failed: ${e.message}`;
    $('key').focus();
  } finally {
    $('signin-submit').disabled = false;
  }
}

function showApp() {
  $('signin').hidden = true;
  $('app').hidden = false;
  $('signout').hidden = false;
  render();
}

// ---- the date range ------------------------------------------------------

const isoDay = (d) => d.toISOString().slice(0, 10);

function monthStart(d = new Date()) {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
}

function showRange(range, answered) {
  // Without from/to in the URL the server's defaults apply (this month up
  // to now); the inputs show what it answered.
  $('from').value = range.from || (answered?.from ?? '').slice(0, 10);
  $('to').value = range.to || (answered?.to ? isoDay(new Date(Date.parse(answered.to) + 86399999)) : '');
  const words = range.from || range.to ? `${$('from').value} to ${$('to').value} (not included)` : 'this month so far';
  $('range-now').textContent = words;
}

function applyRange(from, to) {
  const { route } = parseHash();
  if (from && to && from >= to) {
    status('The start of the range must be before its end.', true);
    $('from').focus();
    return;
  }
  location.hash = hashFor(route, { from, to });
}

function preset(name) {
  const now = new Date();
  const today = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  const tomorrow = new Date(today.getTime() + 86400000);
  if (name === 'month') applyRange(isoDay(monthStart(now)), isoDay(tomorrow));
  else if (name === 'last-month') {
    const start = monthStart(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1)));
    applyRange(isoDay(start), isoDay(monthStart(now)));
  } else if (name === '7d') applyRange(isoDay(new Date(tomorrow.getTime() - 7 * 86400000)), isoDay(tomorrow));
  else if (name === '30d') applyRange(isoDay(new Date(tomorrow.getTime() - 30 * 86400000)), isoDay(tomorrow));
}

// ---- shared pieces -------------------------------------------------------

function cards(items) {
  return h(
    'dl',
    { class: 'cards' },
    items.map(([label, value, note, id]) =>
      h('div', { class: 'card', id }, h('dt', {}, label), h('dd', {}, value), note ? h('p', { class: 'note' }, note) : null)
    )
  );
}

// The day-by-day spend behind one budget, read with the scope it has.
function budgetDaily(b) {
  const span = { interval: 'day', from: b.period.start, to: b.period.end };
  const kind = b.scope?.kind;
  const name = b.scope?.name;
  const pick = (rows, key) => rows.filter((r) => String(r.key) === String(key));
  if (kind === 'org') return getJson('/v1/reports/spend', { ...span, group_by: 'team' }).then((r) => r.rows);
  if (kind === 'team' || kind === 'project')
    return getJson('/v1/reports/spend', { ...span, group_by: 'team', team: name }).then((r) => r.rows);
  if (kind === 'user')
    return getJson('/v1/reports/spend', { ...span, group_by: 'user' }).then((r) => pick(r.rows, name));
  if (kind === 'tag' && String(name).includes('=')) {
    const [k, v] = String(name).split('=');
    return getJson('/v1/reports/spend', { ...span, group_by: `tag:${k}` }).then((r) => pick(r.rows, v));
  }
  return Promise.resolve([]);
}

function budgetPanel(budgets, heading, id) {
  if (!budgets.length) return section(heading, id, h('p', { class: 'empty' }, 'No budget applies here.'));
  return section(
    heading,
    id,
    h(
      'div',
      { class: 'budgets' },
      budgets.map(({ budget: b, daily }) =>
        h(
          'article',
          { class: 'budget', 'aria-label': `Budget ${b.name}` },
          h('h3', {}, b.name, ' ', stateBadge(b.state)),
          h(
            'p',
            { class: 'note' },
            `${b.scope?.kind ?? ''} ${b.scope?.name ?? ''} · ${b.period.kind} to ${b.period.end.slice(0, 10)}` +
              (b.days_left !== null && b.days_left !== undefined ? ` · ${Number(b.days_left).toFixed(1)} days left` : '')
          ),
          h(
            'p',
            {},
            h('strong', {}, usd(b.spent_usd)),
            ` of ${usd(b.limit_usd)} (${pct(b.used_percent)})`,
            b.forecast_usd !== null && b.forecast_usd !== undefined ? ` · forecast ${usd(b.forecast_usd)}` : ' · no forecast yet'
          ),
          daily.error ? failure('Its daily spend', daily.error) : burnDown(b, daily)
        )
      )
    )
  );
}

async function withDaily(budgets) {
  return Promise.all(
    budgets.map(async (budget) => {
      try {
        return { budget, daily: await budgetDaily(budget) };
      } catch (e) {
        return { budget, daily: { error: e } };
      }
    })
  );
}

function savingsPanel(s, title, id) {
  if (s.error) return section(title, id, failure('Savings', s.error));
  const lv = s.levers ?? {};
  const rows = [
    ['Routing', 'cheaper models chosen by policy', lv.routing_usd],
    ['Caching', 'cached input instead of full price', lv.caching_usd],
    ['Batch', 'batch calls at the batch discount', lv.batch_usd],
    ['Context', 'fewer input tokens sent', lv.context_usd],
  ];
  return section(
    title,
    id,
    cards([
      ['List price', usd(s.list_cost_usd)],
      ['Paid', usd(s.effective_cost_usd)],
      ['Saved', usd(s.saved_usd), null, `${id}-saved`],
    ]),
    h(
      'div',
      { class: 'split' },
      table(
        `${id}-levers`,
        'Savings by lever',
        [
          { label: 'Lever', get: (r) => r[0] },
          { label: 'What', get: (r) => r[1] },
          { label: 'Saved', get: (r) => usd(r[2]), num: true },
        ],
        rows
      ),
      leverBars('Savings by lever: routing, caching, batch and context', lv)
    ),
    s.verdicts
      ? h(
          'p',
          { class: 'note' },
          `Verdicts in this range: ${int(s.verdicts.allow)} allowed, ${int(s.verdicts.downgrade)} downgraded, ${int(s.verdicts.deny)} denied.`
        )
      : null
  );
}

function alertsPanel(list, range) {
  if (list.error) return section('Recent alerts', 'alerts', failure('Alerts', list.error));
  if (!list.length) return section('Recent alerts', 'alerts', h('p', { class: 'empty' }, 'No alerts in this range.'));
  const rows = [...list].sort((a, b) => String(b.created_at).localeCompare(String(a.created_at))).slice(0, 20);
  return section(
    'Recent alerts',
    'alerts',
    table('alerts-table', 'Recent alerts', [
      { label: 'When', get: (a) => String(a.created_at ?? '').replace('T', ' ').slice(0, 16) },
      { label: 'Kind', get: (a) => a.kind },
      { label: 'Team', get: (a) => (a.team ? teamLink(a.team, range) : '–') },
      { label: 'Budget', get: (a) => a.budget?.name ?? '–' },
      { label: 'Message', get: (a) => a.payload?.data?.message ?? '' },
      { label: 'Delivery', get: (a) => (a.deliveries ?? []).map((d) => d.status).join(', ') || '–' },
    ], rows)
  );
}

function spendTable(id, caption, rows, keyLabel, linkTeams, range) {
  const sorted = [...rows].sort((a, b) => Number(b.effective_cost_usd) - Number(a.effective_cost_usd));
  return table(id, caption, [
    { label: keyLabel, get: (r) => (linkTeams && r.key !== null ? teamLink(r.key, range) : keyName(r.key)) },
    { label: 'Spend', get: (r) => usd(r.effective_cost_usd), num: true },
    { label: 'List price', get: (r) => usd(r.list_cost_usd), num: true },
    { label: 'Requests', get: (r) => int(r.requests), num: true },
    { label: 'Errors', get: (r) => int(r.errors), num: true },
  ], sorted);
}

// ---- the overview --------------------------------------------------------

async function overview(range, gen) {
  const q = { from: range.from, to: range.to };
  const d = await loadAll({
    totals: getJson('/v1/reports/spend', { ...q, group_by: 'team', interval: 'none' }),
    byTeam: getJson('/v1/reports/spend', { ...q, group_by: 'team', interval: 'day' }),
    byModel: getJson('/v1/reports/spend', { ...q, group_by: 'model', interval: 'day' }),
    budgets: getJson('/v1/reports/budgets').then(async (r) => withDaily(r.budgets ?? [])),
    savings: getJson('/v1/reports/savings', q),
    unpriced: getJson('/v1/reports/unpriced'),
    alerts: alerts(q),
  });
  if (gen !== generation) return null;
  const out = [];
  const budgets = d.budgets.error ? [] : d.budgets;

  // Headline figures.
  if (d.totals.error) out.push(section('Spend this period', 'summary', failure('Spend', d.totals.error)));
  else {
    const t = d.totals.totals ?? {};
    const withForecast = budgets.filter((x) => x.budget.forecast_usd !== null && x.budget.forecast_usd !== undefined);
    const over = withForecast.filter((x) => Number(x.budget.forecast_usd) > Number(x.budget.limit_usd));
    out.push(
      section(
        'Spend this period',
        'summary',
        cards([
          ['Total spend', usd(t.effective_cost_usd), `${int(t.requests)} requests, ${int(t.errors)} errors`, 'total-spend'],
          ['At list price', usd(t.list_cost_usd), 'before caching, batch and routing'],
          [
            'Forecast vs budgets',
            withForecast.length
              ? `${usd(sumDecimal(withForecast.map((x) => x.budget.forecast_usd)))} of ${usd(sumDecimal(withForecast.map((x) => x.budget.limit_usd)))}`
              : '–',
            d.budgets.error
              ? 'budgets could not be loaded'
              : `${budgets.length} budget(s); ${over.length} forecast over the limit`,
            'forecast',
          ],
          ['Unpriced events', int(d.unpriced.error ? null : d.unpriced.events), 'models without a price yet'],
        ])
      )
    );
    showRange(range, d.totals);
  }

  out.push(d.budgets.error ? section('Budgets', 'budgets', failure('Budgets', d.budgets.error)) : budgetPanel(budgets, 'Budgets', 'budgets'));

  out.push(
    section(
      'Spend over time',
      'over-time',
      h(
        'div',
        { class: 'split' },
        d.byTeam.error ? failure('Spend by team', d.byTeam.error) : stackedSpend('Daily spend by team (stacked)', d.byTeam.rows ?? []),
        d.byModel.error ? failure('Spend by model', d.byModel.error) : stackedSpend('Daily spend by model (stacked)', d.byModel.rows ?? [])
      )
    )
  );

  // Teams: spend in the range joined with each team's own budget.
  if (d.totals.error) out.push(section('Teams', 'teams', failure('Teams', d.totals.error)));
  else {
    const teamBudget = new Map(
      budgets.filter((x) => x.budget.scope?.kind === 'team').map((x) => [x.budget.scope.name, x.budget])
    );
    const rows = (d.totals.rows ?? []).map((r) => ({ ...r, budget: teamBudget.get(r.key) }));
    for (const [slug, b] of teamBudget)
      if (!rows.some((r) => r.key === slug)) rows.push({ key: slug, effective_cost_usd: '0', requests: 0, budget: b });
    rows.sort((a, b) => Number(b.effective_cost_usd) - Number(a.effective_cost_usd));
    out.push(
      section(
        'Teams',
        'teams',
        table('teams-table', 'Spend by team, with budgets', [
          { label: 'Team', get: (r) => (r.key === null ? '(none)' : teamLink(r.key, range)) },
          { label: 'Spend', get: (r) => usd(r.effective_cost_usd), num: true },
          { label: 'Requests', get: (r) => int(r.requests), num: true },
          { label: 'Budget', get: (r) => (r.budget ? usd(r.budget.limit_usd) : '–'), num: true },
          { label: '% used', get: (r) => (r.budget ? pct(r.budget.used_percent) : '–'), num: true },
          { label: 'Forecast', get: (r) => (r.budget ? usd(r.budget.forecast_usd) : '–'), num: true },
          { label: 'State', get: (r) => (r.budget ? stateBadge(r.budget.state) : '–') },
        ], rows, 'No team has spent anything in this range.')
      )
    );
  }

  out.push(savingsPanel(d.savings, 'Savings', 'savings'));

  if (d.unpriced.error) out.push(section('Unpriced events', 'unpriced', failure('Unpriced events', d.unpriced.error)));
  else
    out.push(
      section(
        'Unpriced events',
        'unpriced',
        h('p', { class: 'note' }, 'Calls to models the price catalog does not know yet; they are priced once a price arrives.'),
        table('unpriced-table', 'Models without a price', [
          { label: 'Provider', get: (m) => m.provider },
          { label: 'Model', get: (m) => m.model },
          { label: 'Events', get: (m) => int(m.events), num: true },
          { label: 'Input tokens', get: (m) => int(m.input_tokens), num: true },
          { label: 'Output tokens', get: (m) => int(m.output_tokens), num: true },
          { label: 'Last seen', get: (m) => String(m.last_seen ?? '').replace('T', ' ').slice(0, 16) },
        ], d.unpriced.models ?? [], 'Every event has a price.')
      )
    );

  out.push(alertsPanel(d.alerts, range));
  return { title: 'Overview', nodes: out };
}

// ---- one team ------------------------------------------------------------

async function teamView(slug, range, gen) {
  const q = { from: range.from, to: range.to, team: slug };
  const d = await loadAll({
    totals: getJson('/v1/reports/spend', { ...q, group_by: 'team', interval: 'none' }),
    models: getJson('/v1/reports/spend', { ...q, group_by: 'model', interval: 'none' }),
    users: getJson('/v1/reports/spend', { ...q, group_by: 'user', interval: 'none' }),
    projects: getJson('/v1/reports/spend', { ...q, group_by: 'project', interval: 'none' }),
    daily: getJson('/v1/reports/spend', { ...q, group_by: 'model', interval: 'day' }),
    budgets: getJson('/v1/reports/budgets').then((r) =>
      withDaily((r.budgets ?? []).filter((b) => b.scope?.kind === 'team' && b.scope?.name === slug))
    ),
    savings: getJson('/v1/reports/savings', q),
    alerts: alerts(q),
  });
  if (gen !== generation) return null;
  const out = [];
  if (d.totals.error) out.push(section('Spend', 'summary', failure('Spend', d.totals.error)));
  else {
    const t = d.totals.totals ?? {};
    out.push(
      section(
        'Spend',
        'summary',
        cards([
          ['Team spend', usd(t.effective_cost_usd), `${int(t.requests)} requests, ${int(t.errors)} errors`, 'total-spend'],
          ['At list price', usd(t.list_cost_usd), 'before caching, batch and routing'],
          ['Saved', d.savings.error ? '–' : usd(d.savings.saved_usd), 'list price minus what was paid'],
          ['Unpriced events', int(t.unpriced), 'calls without a price yet'],
        ])
      )
    );
    showRange(range, d.totals);
  }
  out.push(d.budgets.error ? section('Budget', 'budgets', failure('Budgets', d.budgets.error)) : budgetPanel(d.budgets, 'Budget', 'budgets'));
  out.push(
    section(
      'Spend over time',
      'over-time',
      d.daily.error ? failure('Daily spend', d.daily.error) : stackedSpend(`Daily spend of ${slug} by model (stacked)`, d.daily.rows ?? [])
    )
  );
  const part = (key, title, label) =>
    section(title, key, d[key].error ? failure(title, d[key].error) : spendTable(`${key}-table`, title, d[key].rows ?? [], label));
  out.push(h('div', { class: 'split' }, part('models', 'Models', 'Model'), part('users', 'Users', 'User')));
  out.push(part('projects', 'Projects', 'Project'));

  // Tier mix against each policy's target.
  const mix = d.savings.error ? null : d.savings.tier_mix ?? [];
  out.push(
    section(
      'Tier mix vs target',
      'tier-mix',
      d.savings.error
        ? failure('Tier mix', d.savings.error)
        : mix.length
          ? mix.map((p) =>
              h(
                'div',
                {},
                h('h3', {}, `Policy ${p.policy}`, h('span', { class: 'note' }, ` (share of ${p.by})`)),
                table(`tier-mix-${p.policy}`, `Tier mix of policy ${p.policy}`, [
                  { label: 'Tier', get: (t) => t.tier },
                  { label: 'Target', get: (t) => (t.target_percent === null ? '–' : pct(t.target_percent)), num: true },
                  {
                    label: 'Actual',
                    get: (t) => {
                      const over = t.target_percent !== null && t.actual_percent > t.target_percent;
                      return h('span', { class: over ? 'bad' : null }, pct(t.actual_percent), over ? ' (above target)' : '');
                    },
                    num: true,
                  },
                  { label: 'Spend', get: (t) => usd(t.spend_usd), num: true },
                  { label: 'Requests', get: (t) => int(t.requests), num: true },
                ], p.tiers ?? [])
              )
            )
          : h('p', { class: 'empty' }, 'No routing policy with a target mix applies to this team.')
    )
  );
  out.push(savingsPanel(d.savings, 'Savings', 'savings'));
  out.push(alertsPanel(d.alerts, range));
  return { title: `Team ${slug}`, nodes: out };
}

// ---- rendering -----------------------------------------------------------

async function render() {
  if (!getKey()) return signOut();
  const { route, range } = parseHash();
  const gen = ++generation;
  current = { route, range };
  showRange(range, null);
  const crumbs = $('crumbs');
  crumbs.replaceChildren(
    h('a', { href: hashFor({ name: 'overview' }, range), 'aria-current': route.name === 'overview' ? 'page' : null }, 'Overview'),
    ...(route.name === 'team' ? [h('span', {}, ' / ', h('span', { 'aria-current': 'page' }, `Team ${route.slug}`))] : [])
  );
  status('Loading…');
  $('main').setAttribute('aria-busy', 'true');
  let view;
  try {
    view = route.name === 'team' ? await teamView(route.slug, range, gen) : await overview(range, gen);
  } catch (e) {
    view = { title: 'Error', nodes: [failure('This view', e)] };
  }
  if (gen !== generation || !getKey()) return;
  destroyCharts();
  document.title = `${view.title} · Tollgate`;
  $('view-title').textContent = view.title;
  $('main').replaceChildren(...view.nodes.filter(Boolean));
  drawCharts();
  $('main').setAttribute('aria-busy', 'false');
  // For tests and scripts: which view is on screen, and how many renders
  // have completed.
  document.body.dataset.view = route.name === 'team' ? `team:${route.slug}` : 'overview';
  document.body.dataset.rendered = String(gen);
  const errors = $('main').querySelectorAll('.error').length;
  status(errors ? `${view.title}: loaded, ${errors} part(s) could not be loaded.` : `${view.title}: loaded.`, errors > 0);
}

// The CSV of what the view shows: spend by team and day on the overview,
// by model and day on a team's page.
async function exportCsv() {
  const { route, range } = current ?? parseHash();
  const team = route.name === 'team' ? route.slug : undefined;
  const name = `tollgate-spend-${team ? team + '-' : ''}${range.from || 'month'}${range.to ? '-' + range.to : ''}.csv`;
  await runExport(() =>
    download(
      '/v1/reports/spend',
      { group_by: team ? 'model' : 'team', interval: 'day', from: range.from, to: range.to, team, format: 'csv' },
      name
    )
  );
}

async function exportFocus() {
  const { range } = current ?? parseHash();
  const name = `tollgate-focus-${range.from || 'month'}${range.to ? '-' + range.to : ''}.csv`;
  await runExport(() => download('/v1/export/focus', { from: range.from, to: range.to }, name));
}

async function runExport(fn) {
  status('Preparing the download…');
  try {
    await fn();
    status('Download ready.');
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return signOut('Your key is no longer accepted. Sign in again.');
    status(`The export failed: ${e.message}`, true);
  }
}

// The server's readiness, in the footer.
async function serverStatus() {
  const el = $('server-status');
  try {
    const r = await fetch('/readyz');
    const body = await r.json().catch(() => ({}));
    el.textContent = r.ok ? `ready (schema version ${body.schema_version})` : `not ready: ${body.error?.message ?? r.status}`;
    el.className = r.ok ? 'ok' : 'bad';
  } catch {
    el.textContent = 'unreachable';
    el.className = 'bad';
  }
}

function start() {
  $('signin-form').addEventListener('submit', signIn);
  $('signout').addEventListener('click', () => signOut('Signed out.'));
  $('range').addEventListener('submit', (ev) => {
    ev.preventDefault();
    applyRange($('from').value, $('to').value);
  });
  for (const b of document.querySelectorAll('[data-preset]')) b.addEventListener('click', () => preset(b.dataset.preset));
  $('export-csv').addEventListener('click', exportCsv);
  $('export-focus').addEventListener('click', exportFocus);
  $('skip').addEventListener('click', (ev) => {
    ev.preventDefault();
    $('main').focus();
  });
  window.addEventListener('hashchange', () => {
    if (!getKey()) return;
    render().then(() => {
      // Move focus to the new view's heading, so keyboard and screen
      // reader users land on what changed.
      if (document.activeElement === document.body || !document.activeElement?.closest('#range'))
        $('view-title').focus();
    });
  });
  serverStatus();
  if (getKey()) showApp();
  else signOut();
}

start();
