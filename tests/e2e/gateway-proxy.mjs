// End to end: the plain gateway of docs/gateways/proxy.mjs, run as shipped,
// in front of a fake OpenAI server, with the real `openai` SDK as the
// client. A team with a budget that downgrades at 50% and denies at 100%,
// and a ladder gpt-4o -> gpt-4o-mini: the first call runs as asked, the
// next is downgraded (the upstream sees gpt-4o-mini), the last is refused
// with 429; every call that ran is stored with the proxy's request id and
// settles its hold.

import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { ADMIN_KEY, BASE, api, check, createTeam, done, fatal, sql } from './lib.mjs';

const NAME = 'gateway-proxy';
const PROXY = fileURLToPath(new URL('../../docs/gateways/proxy.mjs', import.meta.url));

// The fake upstream answers every chat completion with 200k prompt tokens of
// the model it was asked for: USD 0.50 for gpt-4o, 0.03 for gpt-4o-mini.
const asked = [];
function upstream() {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const model = JSON.parse(body).model;
      asked.push(model);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({
        id: `chatcmpl-${asked.length}`, object: 'chat.completion', created: Math.floor(Date.now() / 1000), model,
        choices: [{ index: 0, message: { role: 'assistant', content: 'ok', refusal: null }, logprobs: null, finish_reason: 'stop' }],
        usage: { prompt_tokens: 200000, completion_tokens: 0, total_tokens: 200000 },
      }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function key(role) {
  const r = await api('POST', '/v1/admin/keys', ADMIN_KEY, { role });
  if (r.status !== 201) throw new Error(`creating a ${role} key answered ${r.status}: ${r.text}`);
  return r.json.secret;
}

async function waitFor(what, probe) {
  for (let i = 0; i < 100; i++) {
    if (await probe()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function main() {
  await createTeam('search');
  // The policy first: the reload that brings the budget in then has it too.
  let r = await api('POST', '/v1/admin/policies', ADMIN_KEY, {
    name: 'ladder', scope: { org: 'default' }, tiers: ['premium', 'economy'],
    ladders: { openai: ['gpt-4o', 'gpt-4o-mini'] },
  });
  if (r.status !== 201) throw new Error(`policy: ${r.status} ${r.text}`);
  r = await api('POST', '/v1/admin/budgets', ADMIN_KEY, {
    name: 'search', scope: { team: 'search' }, amount_usd: '1', period: 'month',
    thresholds: [{ at: 50, action: 'downgrade' }, { at: 100, action: 'deny' }],
  });
  if (r.status !== 201) throw new Error(`budget: ${r.status} ${r.text}`);
  await waitFor('the budget to load', async () =>
    (await api('GET', '/v1/admin/budgets/search', ADMIN_KEY)).json?.status?.loaded === true);

  const up = await upstream();
  const port = 20000 + Math.floor(Math.random() * 20000);
  const proxy = spawn(process.execPath, [PROXY], {
    env: {
      ...process.env, PORT: String(port), TOLLGATE_URL: BASE, UPSTREAM: `http://127.0.0.1:${up.address().port}`,
      TOLLGATE_VERDICT_KEY: await key('verdict'), TOLLGATE_INGEST_KEY: await key('ingest'),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((resolve, reject) => {
    proxy.stdout.on('data', (d) => String(d).includes('proxy on') && resolve());
    proxy.on('exit', (c) => reject(new Error(`the proxy exited (${c})`)));
  });
  try {
    const client = new OpenAI({
      apiKey: 'sk-test', baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0,
      defaultHeaders: { 'x-tollgate-team': 'search' },
    });
    const call = () => client.chat.completions.create({
      model: 'gpt-4o', max_tokens: 10, messages: [{ role: 'user', content: 'x'.repeat(8000) }],
    });
    const spent = () => sql("SELECT coalesce(sum(effective_cost), 0)::numeric(10,2) FROM usage_events");

    // 1: the estimate (2,000 tokens in) stays under 50%: runs as asked.
    check('first call model', (await call()).model, 'gpt-4o');
    await waitFor('the first event', async () => spent() === '0.50');
    // 2: 0.50 spent plus the estimate is over 50%: downgraded; the upstream sees gpt-4o-mini.
    check('second call model', (await call()).model, 'gpt-4o-mini');
    await waitFor('the second event', async () => spent() === '0.53');
    // 3, 4: downgraded until the budget is spent past 100%, then refused.
    let refused = null;
    for (let i = 0; i < 40 && !refused; i++) {
      try {
        await call();
      } catch (e) {
        refused = e;
      }
    }
    check('refused with 429', refused?.status, 429);
    check('refusal code', refused?.error?.code, 'budget_exhausted');
    check('upstream saw', asked.slice(0, 2), ['gpt-4o', 'gpt-4o-mini']);
    check('only the calls that ran are stored', Number(sql('SELECT count(*) FROM usage_events')), asked.length);
    check('every stored call has the proxy request id',
      Number(sql('SELECT count(*) FROM usage_events WHERE request_id IS NOT NULL')), asked.length);
    check('routed calls name the requested model',
      Number(sql("SELECT count(*) FROM usage_events WHERE model = 'gpt-4o-mini' AND requested_model = 'gpt-4o'")),
      asked.filter((m) => m === 'gpt-4o-mini').length);
    const st = (await api('GET', '/v1/admin/budgets/search', ADMIN_KEY)).json.status;
    check('no hold left after settlement', st.holds, 0);
  } finally {
    proxy.kill();
    up.close();
  }
  done(NAME);
}

main().catch(fatal);
