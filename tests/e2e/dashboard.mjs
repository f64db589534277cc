// End to end: the dashboard in a real browser (Debian's chromium, headless,
// driven by playwright-core) against the real server and its reports API.
// Seeds three teams' calls through the API (several models, cache reads, a
// batch call, a routed call, one call last month), a team budget and a read
// key; then signs in (a wrong key first), checks the overview's charts are
// drawn and the teams table's spend equals what ingest priced, drills into
// a team by mouse and another by keyboard, changes the date range, and
// downloads the CSV and FOCUS exports. Any console error, page error or
// failed request fails it (except the 401 of the wrong key). Screenshots go to
// build/artifacts/dashboard-*.png.

import { mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { ADMIN_KEY, BASE, INGEST_KEY, api, check, createTeam, done, fatal, usage } from './lib.mjs';

const NAME = 'dashboard';
const ARTIFACTS = fileURLToPath(new URL('../../build/artifacts/', import.meta.url));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

// ---- exact money, independent of the page's own formatting ----------------

const SCALE = 18;
function toUnits(s) {
  const neg = s.startsWith('-');
  const [i, f = ''] = (neg ? s.slice(1) : s).split('.');
  const n = BigInt(i || '0') * 10n ** BigInt(SCALE) + BigInt(f.padEnd(SCALE, '0').slice(0, SCALE) || '0');
  return neg ? -n : n;
}
// "$1,234.57": rounded half up to cents, as the page shows money.
function dollars(units) {
  const unit = 10n ** BigInt(SCALE - 2);
  const cents = (units + unit / 2n) / unit;
  const s = cents.toString().padStart(3, '0');
  return `$${s.slice(0, -2).replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${s.slice(-2)}`;
}

// ---- seeding -------------------------------------------------------------

const now = new Date();
const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
const lastMonthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
const day = (d) => d.toISOString().slice(0, 10);
// In this month, however early in it the test runs.
const ts = new Date(Math.max(monthStart.getTime(), now.getTime() - 60000)).toISOString();
const lastMonthTs = new Date(monthStart.getTime() - 2 * 86400000).toISOString();

const EVENTS = [
  { id: 'dash-1', timestamp: ts, team: 'search', project: 'search-ranking', user: 'alice', provider: 'openai',
    model: 'gpt-4o', input_tokens: 100000, cache_read_tokens: 200000, output_tokens: 5000 },
  { id: 'dash-2', timestamp: ts, team: 'search', user: 'bob', provider: 'openai', model: 'gpt-4o-mini',
    requested_model: 'gpt-4o', input_tokens: 50000, output_tokens: 2000 },
  { id: 'dash-3', timestamp: ts, team: 'support', user: 'carol', provider: 'anthropic', model: 'claude-sonnet-4-5',
    input_tokens: 20000, cache_read_tokens: 100000, cache_write_5m_tokens: 10000, output_tokens: 3000 },
  { id: 'dash-4', timestamp: ts, team: 'support', provider: 'openai', model: 'gpt-4o', mode: 'batch',
    input_tokens: 300000, output_tokens: 20000 },
  { id: 'dash-5', timestamp: ts, team: 'ads', user: 'dave', provider: 'openai', model: 'gpt-4o-mini',
    input_tokens: 1000000, output_tokens: 100000 },
  { id: 'dash-6', timestamp: lastMonthTs, team: 'ads', provider: 'openai', model: 'gpt-4o',
    input_tokens: 40000, output_tokens: 1000 },
];

async function seed() {
  for (const t of ['search', 'support', 'ads']) await createTeam(t);
  await createTeam('search-ranking', 'search');
  let r = await api('POST', '/v1/usage', INGEST_KEY, { events: EVENTS });
  if (r.status !== 200 || r.json.accepted !== EVENTS.length) throw new Error(`ingest: ${r.status} ${r.text}`);
  r = await api('POST', '/v1/admin/budgets', ADMIN_KEY, {
    name: 'Search monthly', scope: { team: 'search' }, amount_usd: '5', period: 'month',
    thresholds: [{ at: 80, action: 'alert' }, { at: 100, action: 'deny' }],
  });
  if (r.status !== 201) throw new Error(`budget: ${r.status} ${r.text}`);
  r = await api('POST', '/v1/admin/keys', ADMIN_KEY, { role: 'read', name: 'dashboard' });
  if (r.status !== 201) throw new Error(`read key: ${r.status} ${r.text}`);
  const readKey = r.json.secret;

  // What ingest priced each event at, summed per team: this month, and last.
  const spend = { month: {}, last: {} };
  for (const e of EVENTS) {
    const got = await usage(e.id);
    if (!got?.effective_cost) throw new Error(`${e.id} has no effective cost: ${JSON.stringify(got)}`);
    const bucket = e.timestamp === lastMonthTs ? spend.last : spend.month;
    bucket[e.team] = (bucket[e.team] ?? 0n) + toUnits(got.effective_cost);
  }
  return { readKey, spend };
}

// ---- the browser -----------------------------------------------------------

async function main() {
  const { readKey, spend } = await seed();
  mkdirSync(ARTIFACTS, { recursive: true });

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root (CI) chromium refuses to start without this.
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
  const problems = [];
  let page = null;
  let expect401 = false;
  const allowed = (url, status) => status === 401 && expect401;
  try {
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, acceptDownloads: true });
    // No external network: anything not served by tollgate fails the test.
    await context.route('**/*', (route) =>
      route.request().url().startsWith(BASE) || route.request().url().startsWith('blob:')
        ? route.continue()
        : (problems.push(`external request: ${route.request().url()}`), route.abort())
    );
    page = await context.newPage();
    page.setDefaultTimeout(10000);
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      const url = m.location()?.url ?? '';
      const st = Number((m.text().match(/status of (\d{3})/) ?? [])[1]);
      if (st && url && allowed(url, st)) return;
      problems.push(`console error: ${m.text()} (${url})`);
    });
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    page.on('response', (r) => {
      if (r.status() >= 400 && !allowed(r.url(), r.status())) problems.push(`HTTP ${r.status()} for ${r.url()}`);
    });
    let renders = 0;
    // Waits for a render newer than the last one seen, and for the view.
    const rendered = async (view) => {
      await page.waitForFunction(
        ([n, v]) => Number(document.body.dataset.rendered || 0) > n && document.body.dataset.view === v,
        [renders, view],
        { timeout: 20000 }
      );
      renders = Number(await page.evaluate(() => document.body.dataset.rendered));
      const errs = await page.locator('#main .error').allTextContents();
      check(`${view}: parts that failed to load`, errs, []);
    };
    const shot = (name) => page.screenshot({ path: `${ARTIFACTS}dashboard-${name}.png`, fullPage: true });

    // Sign in: a wrong key first.
    await page.goto(`${BASE}/`);
    await page.getByLabel('Read key').waitFor();
    expect401 = true;
    await page.getByLabel('Read key').fill('tg_' + 'A'.repeat(43));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForFunction(() => document.getElementById('signin-error').textContent !== '');
    check('wrong key message', await page.textContent('#signin-error'),
      'That key was not accepted: it is unknown, revoked or mistyped.');
    await shot('signin');
    expect401 = false;
    await page.getByLabel('Read key').fill(readKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await rendered('overview');
    if (!(await page.$('#teams-table'))) {
      await shot('overview');
      throw new Error(`the overview has no teams table: ${(await page.textContent('#main')).slice(0, 600)}`);
    }
    check('key kept in session storage', await page.evaluate(() => sessionStorage.getItem('tollgate.readKey')), readKey);

    // Charts: every canvas drawn, with pixels on it.
    const charts = await page.$$eval('#main canvas', (cs) =>
      cs.map((c) => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let inked = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i] > 0) inked++;
        return { label: c.getAttribute('aria-label'), w: c.width, h: c.height, inked };
      })
    );
    check('overview charts (burn-down, by team, by model, levers)', charts.length >= 4, true);
    for (const c of charts) check(`chart "${c.label}" is drawn`, c.w > 0 && c.h > 0 && c.inked > 500, true);
    check('a burn-down chart for the budget',
      charts.some((c) => c.label?.startsWith('Burn-down of Search monthly')), true);

    // The teams table: each seeded team with what ingest priced.
    const teams = await page.$$eval('#teams-table tbody tr', (rows) =>
      rows.map((r) => [...r.cells].map((c) => c.textContent.trim()))
    );
    const byTeam = Object.fromEntries(teams.map((r) => [r[0], r]));
    for (const t of ['search', 'support', 'ads']) check(`teams table: ${t}'s spend`, byTeam[t]?.[1], dollars(spend.month[t]));
    check('teams table: search has its budget', byTeam.search?.[3], '$5.00');
    const total = Object.values(spend.month).reduce((a, b) => a + b, 0n);
    check('total spend card', (await page.textContent('#total-spend dd'))?.trim(), dollars(total));
    await shot('overview');

    // Drill into a team with the mouse.
    await page.locator('#teams-table a', { hasText: 'support' }).click();
    await rendered('team:support');
    check('team URL', new URL(page.url()).hash, '#/teams/support');
    const models = await page.$$eval('#models-table tbody tr td:first-child', (c) => c.map((x) => x.textContent.trim()));
    check('support models', models.sort(), ['anthropic/claude-sonnet-4-5', 'openai/gpt-4o']);
    check('support spend card', (await page.textContent('#total-spend dd'))?.trim(), dollars(spend.month.support));
    check('team page: the savings levers', (await page.$$('#savings-levers tbody tr')).length, 4);
    await shot('team');

    // Back to the overview, then by keyboard only to the teams table.
    await page.goBack();
    await rendered('overview');
    await page.evaluate(() => document.activeElement?.blur());
    let reached = false;
    for (let i = 0; i < 80 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => {
        const a = document.activeElement;
        return !!a?.closest('#teams-table') && a.textContent === 'search';
      });
    }
    check('Tab reaches the teams table link', reached, true);
    const ring = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    check('the focused link shows its focus', ring !== 'none', true);
    await page.keyboard.press('Enter');
    await rendered('team:search');
    check('Enter opens the team', new URL(page.url()).hash, '#/teams/search');
    check('search budget burn-down', (await page.$$('#budgets canvas')).length, 1);

    // The date range: last month, on the overview, through the picker.
    await page.getByRole('link', { name: 'Overview' }).click();
    await rendered('overview');
    await page.getByLabel('From').fill(day(lastMonthStart));
    await page.getByLabel(/^To/).fill(day(monthStart));
    await page.getByRole('button', { name: 'Apply' }).click();
    await rendered('overview');
    check('range in the URL', new URL(page.url()).hash, `#/?from=${day(lastMonthStart)}&to=${day(monthStart)}`);
    const last = await page.$$eval('#teams-table tbody tr', (rows) =>
      rows.filter((r) => r.cells[1].textContent.trim() !== '$0.00').map((r) => [r.cells[0].textContent.trim(), r.cells[1].textContent.trim()])
    );
    check('last month: only ads spent', last, [['ads', dollars(spend.last.ads)]]);
    await shot('range');

    // A shared link opens the same view.
    await page.goto(`${BASE}/#/teams/ads?from=${day(lastMonthStart)}&to=${day(monthStart)}`);
    await page.waitForFunction(() => document.body.dataset.view === 'team:ads', null, { timeout: 20000 });
    renders = 0;
    check('deep link: the range inputs', [await page.inputValue('#from'), await page.inputValue('#to')],
      [day(lastMonthStart), day(monthStart)]);
    check('deep link: ads spend last month', (await page.textContent('#total-spend dd'))?.trim(), dollars(spend.last.ads));

    // Exports: downloads made with the key.
    const csv = await downloadText(page, '#export-csv');
    const lines = csv.text.trim().split(/\r?\n/);
    check('CSV export: a .csv file', csv.name.endsWith('.csv'), true);
    check('CSV export: a header row and data', lines.length >= 2 && /[a-z]/i.test(lines[0]) && lines[0].includes(','), true);
    const focus = await downloadText(page, '#export-focus');
    check('FOCUS export: FOCUS columns', /BilledCost/.test(focus.text.split(/\r?\n/)[0]), true);

    // Sign out forgets the key.
    await page.getByRole('button', { name: 'Sign out' }).click();
    check('signed out', await page.evaluate(() => sessionStorage.getItem('tollgate.readKey')), null);
  } catch (e) {
    check('the browser run', e.message, 'completed');
    if (page) await page.screenshot({ path: `${ARTIFACTS}dashboard-failure.png`, fullPage: true }).catch(() => {});
  } finally {
    await browser.close();
  }
  check('console errors, page errors and failed requests', problems, []);
}

async function downloadText(page, selector) {
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 20000 }), page.click(selector)]);
  const path = await dl.path();
  return { name: dl.suggestedFilename(), text: readFileSync(path, 'utf8') };
}

main()
  .then(() => done(NAME))
  .catch(fatal);
