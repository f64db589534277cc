// What the end-to-end scripts share: the settings tests/e2e/run.sh hands
// them, the admin API calls they need, the stored event by id, SQL through
// psql, and a check() that collects every mismatch and fails the script with
// all of them at the end (exit 1), so one run shows everything that is off.

import { execFileSync } from 'node:child_process';
import { isDeepStrictEqual, inspect } from 'node:util';

function env(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} is not set: run this through tests/e2e/run.sh (make e2e)`);
    process.exit(2);
  }
  return v;
}

export const BASE = env('TOLLGATE_URL');
export const ADMIN_KEY = env('TOLLGATE_ADMIN_KEY');
export const INGEST_KEY = env('TOLLGATE_INGEST_KEY');
export const DB_URL = env('TOLLGATE_DB_URL');
export const TRACES_URL = `${BASE}/v1/traces`;

const failures = [];

// Records a failure unless got deep-equals want.
export function check(what, got, want) {
  if (!isDeepStrictEqual(got, want))
    failures.push(`${what}: got ${inspect(got, { depth: 6 })}, want ${inspect(want, { depth: 6 })}`);
}

// Prints every failure and exits 1, or says ok.
export function done(name) {
  if (failures.length) {
    console.error(`${name}: ${failures.length} check(s) failed:`);
    for (const f of failures) console.error(`  - ${f}`);
    process.exit(1);
  }
  console.log(`${name}: all checks passed`);
}

// Any uncaught error fails the script loudly.
export function fatal(e) {
  console.error(e);
  process.exit(1);
}

export async function api(method, path, key, body) {
  const res = await fetch(`${BASE}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON: the caller sees status and text */
  }
  return { status: res.status, json, text };
}

// Creates a team, or a project under parent.
export async function createTeam(slug, parent) {
  const body = parent ? { slug, kind: 'project', parent } : { slug };
  const r = await api('POST', '/v1/admin/teams', ADMIN_KEY, body);
  if (r.status !== 201) throw new Error(`creating ${slug} answered ${r.status}: ${r.text}`);
}

// The stored event by id (GET /v1/usage/{id}), or null when there is none.
export async function usage(id) {
  const r = await api('GET', `/v1/usage/${encodeURIComponent(id)}`, ADMIN_KEY);
  if (r.status === 404) return null;
  if (r.status !== 200) throw new Error(`GET /v1/usage/${id} answered ${r.status}: ${r.text}`);
  return r.json;
}

// One value from SQL on the test's database, as text.
export function sql(query) {
  return execFileSync('psql', [DB_URL, '-XAtq', '-v', 'ON_ERROR_STOP=1', '-c', query], {
    encoding: 'utf8',
  }).trim();
}

// The value of tollgate_usage_events_total{outcome=...} in GET /metrics.
export async function eventsTotal(outcome) {
  const text = await (await fetch(`${BASE}/metrics`)).text();
  const re = new RegExp(`^tollgate_usage_events_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm');
  const m = text.match(re);
  return m ? Number(m[1]) : 0;
}

// The event id tollgate gives a span: trace id, "-", span id (lower-case hex).
export function eventId(span) {
  const c = span.spanContext();
  return `${c.traceId}-${c.spanId}`;
}

// Exports spans through exporter once more, as a retry would, and resolves
// with the export result.
export function exportAgain(exporter, spans) {
  return new Promise((resolve) => exporter.export(spans, resolve));
}
