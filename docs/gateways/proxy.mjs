// A plain proxy in front of an OpenAI-compatible API that asks Tollgate
// before each chat completion and reports the usage after it. No
// dependencies: Node 20 or later.
//
//   TOLLGATE_URL=http://127.0.0.1:8080 TOLLGATE_VERDICT_KEY=tg_... \
//   TOLLGATE_INGEST_KEY=tg_... UPSTREAM=https://api.openai.com \
//   node docs/gateways/proxy.mjs            # listens on PORT (default 8787)
//
// Clients name their team in x-tollgate-team (and optionally
// x-tollgate-user, x-tollgate-priority). A deny becomes 429 with
// Tollgate's reason; a downgrade swaps the model in the request body.
import http from 'node:http';
import { randomUUID } from 'node:crypto';

const TOLLGATE = process.env.TOLLGATE_URL ?? 'http://127.0.0.1:8080';
const UPSTREAM = process.env.UPSTREAM ?? 'https://api.openai.com';
const VERDICT_KEY = process.env.TOLLGATE_VERDICT_KEY;
const INGEST_KEY = process.env.TOLLGATE_INGEST_KEY;

async function tollgate(path, key, body) {
  const r = await fetch(TOLLGATE + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: r.status, json: await r.json().catch(() => null) };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

async function handle(req, res) {
  const raw = await readBody(req);
  const upstreamHeaders = { 'content-type': 'application/json' };
  if (req.headers.authorization) upstreamHeaders.authorization = req.headers.authorization;
  let call = null;
  try { call = JSON.parse(raw); } catch { /* not JSON: pass through */ }
  const isChat = req.method === 'POST' && req.url.startsWith('/v1/chat/completions') && call;
  const team = req.headers['x-tollgate-team'];
  const requestId = randomUUID();
  let reservation = null;

  if (isChat) {
    const text = (call.messages ?? []).map((m) => JSON.stringify(m.content ?? '')).join('');
    const v = await tollgate('/v1/verdict', VERDICT_KEY, {
      ...(team ? { team } : {}),
      ...(req.headers['x-tollgate-user'] ? { user: req.headers['x-tollgate-user'] } : {}),
      priority: req.headers['x-tollgate-priority'] ?? 'interactive',
      model: call.model,
      input_tokens: Math.ceil(text.length / 4),
      max_output_tokens: call.max_completion_tokens ?? call.max_tokens ?? 1024,
      reserve: true,
      request_id: requestId,
    }).catch((e) => {
      console.error(`tollgate: no verdict (${e.cause?.message ?? e.message}); the call goes ahead`);
      return null;
    });
    if (v && v.status !== 200)
      console.error(`tollgate: verdict answered ${v.status}; the call goes ahead`);
    if (v?.status === 200 && v.json.decision === 'deny') {
      res.writeHead(429, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: v.json.reason.message, type: 'budget', code: v.json.reason.code } }));
      return;
    }
    if (v?.status === 200) {
      call.model = v.json.model; // allow or downgrade
      reservation = v.json.reservation_id ?? null;
    }
  }

  const up = await fetch(UPSTREAM + req.url, {
    method: req.method,
    headers: upstreamHeaders,
    body: req.method === 'GET' || req.method === 'HEAD' ? undefined : isChat ? JSON.stringify(call) : raw,
  });
  const answer = Buffer.from(await up.arrayBuffer());
  res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/json' });
  res.end(answer);

  if (reservation && !up.ok) {
    // The call failed: give the held budget back at once.
    await tollgate(`/v1/reservations/${reservation}/release`, VERDICT_KEY, {}).catch(() => null);
  }
  if (isChat && up.ok) {
    // The whole response: Tollgate takes its usage, model and id.
    let response = null;
    try { response = JSON.parse(answer); } catch { return; }
    await tollgate('/v1/usage', INGEST_KEY, {
      id: requestId,
      request_id: requestId,
      ...(team ? { team } : {}),
      provider: 'openai',
      requested_model: JSON.parse(raw).model,
      response,
      usage_format: 'openai.chat',
    }).catch(() => null);
  }
}

const port = Number(process.env.PORT ?? 8787);
http.createServer((req, res) => {
  handle(req, res).catch((e) => {
    res.writeHead(502, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: String(e) } }));
  });
}).listen(port, '127.0.0.1', () => console.log(`proxy on http://127.0.0.1:${port} -> ${UPSTREAM}`));
