// End to end with a real instrumentation: the `openai` npm SDK, instrumented
// by OpenInference (@arizeai/openinference-instrumentation-openai, which
// records the cache read from usage.prompt_tokens_details.cached_tokens),
// calls a fake OpenAI server in this process; the spans go to tollgate
// through the stock OTLP protobuf exporter. Checks that each call became one
// event with the model, the tokens of the usage object the server answered
// (uncached input = prompt_tokens - cached_tokens) and their cost.
//
// openai 6.x: the newest major that supports Node 20 (7.x wants Node 22).
// The SDK is loaded with require(), after the instrumentation is enabled, as
// in a CommonJS app: the instrumentation patches it on load.

import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OpenAIInstrumentation } from '@arizeai/openinference-instrumentation-openai';
import { INGEST_KEY, TRACES_URL, check, createTeam, done, fatal, sql, usage } from './lib.mjs';

const NAME = 'otel-openai';
const require = createRequire(import.meta.url);

// What the fake server answers, per requested model, and what tollgate must
// store: tokens by class and the cost from prices/genai-prices.json (USD per
// million tokens), worked out by hand.
const calls = [
  {
    request: 'gpt-4o',
    response: {
      id: 'chatcmpl-e2e-0001', model: 'gpt-4o-2024-08-06',
      usage: {
        prompt_tokens: 2500, completion_tokens: 420, total_tokens: 2920,
        prompt_tokens_details: { cached_tokens: 1536, audio_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 },
      },
    },
    // 964 x 2.50 + 1536 x 1.25 + 420 x 10 = $0.00853; list 2500 x 2.50 + 420 x 10
    want: {
      model: 'gpt-4o', model_sent: 'gpt-4o-2024-08-06',
      tokens: { input_uncached: 964, cache_read: 1536, cache_write_5m: 0, cache_write_1h: 0, output: 420, reasoning: 0 },
      effective_cost: '0.00853', list_cost: '0.01045',
    },
  },
  {
    request: 'o4-mini',
    response: {
      id: 'chatcmpl-e2e-0002', model: 'o4-mini-2025-04-16',
      usage: {
        prompt_tokens: 10000, completion_tokens: 3000, total_tokens: 13000,
        prompt_tokens_details: { cached_tokens: 8192, audio_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 2304, audio_tokens: 0 },
      },
    },
    // 1808 x 1.10 + 8192 x 0.275 + 3000 x 4.40 = $0.0174416; list 10000 x 1.10 + 3000 x 4.40
    want: {
      model: 'o4-mini', model_sent: 'o4-mini-2025-04-16',
      tokens: { input_uncached: 1808, cache_read: 8192, cache_write_5m: 0, cache_write_1h: 0, output: 3000, reasoning: 2304 },
      effective_cost: '0.0174416', list_cost: '0.0242',
    },
  },
];

// A fake OpenAI: POST /v1/chat/completions answers the response of the
// requested model as a chat.completion. Records the models asked for.
function fakeOpenAI() {
  const asked = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const call = req.method === 'POST' && req.url === '/v1/chat/completions'
        ? calls.find((c) => c.request === JSON.parse(body).model) : undefined;
      if (!call) {
        res.writeHead(404, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `no fake for ${req.method} ${req.url}`, type: 'invalid_request_error' } }));
        return;
      }
      asked.push(call.request);
      res.writeHead(200, { 'Content-Type': 'application/json', 'x-request-id': `req_${call.response.id}` });
      res.end(JSON.stringify({
        object: 'chat.completion', created: Math.floor(Date.now() / 1000), service_tier: 'default',
        system_fingerprint: 'fp_e2e', ...call.response,
        choices: [{ index: 0, message: { role: 'assistant', content: 'Tollgate says hi.', refusal: null }, logprobs: null, finish_reason: 'stop' }],
      }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, asked })));
}

async function main() {
  await createTeam('research');
  await createTeam('research-agents', 'research');

  const kept = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': 'research-agent', 'tollgate.team': 'research', 'tollgate.project': 'research-agents',
      'enduser.id': 'erin@example.com',
    }),
    spanProcessors: [
      new SimpleSpanProcessor(new OTLPTraceExporter({ url: TRACES_URL, headers: { Authorization: `Bearer ${INGEST_KEY}` } })),
      new SimpleSpanProcessor(kept),
    ],
  });
  const instrumentation = new OpenAIInstrumentation();
  instrumentation.setTracerProvider(provider);
  instrumentation.enable();
  const { OpenAI } = require('openai');
  const openaiVersion = require('openai/version').VERSION;

  const fake = await fakeOpenAI();
  const client = new OpenAI({ apiKey: 'sk-e2e', baseURL: `http://127.0.0.1:${fake.server.address().port}/v1`, maxRetries: 0 });
  for (const call of calls) {
    const r = await client.chat.completions.create({
      model: call.request, messages: [{ role: 'user', content: 'Say hi.' }],
    });
    check(`${call.request}: the SDK read the fake's usage`, r.usage, call.response.usage);
  }
  await provider.forceFlush();
  fake.server.close();
  check('the fake was called for each model', fake.asked, calls.map((c) => c.request));

  const spans = kept.getFinishedSpans();
  if (spans.length !== calls.length) {
    check(`spans from the instrumentation (openai ${openaiVersion} patched?)`, spans.length, calls.length);
    done(NAME);
    return;
  }
  for (const [i, call] of calls.entries()) {
    const span = spans[i];
    const id = `${span.spanContext().traceId}-${span.spanContext().spanId}`;
    const where = `${call.request} (span "${span.name}", ${id})`;
    check(`${where}: instrumentation scope`, span.instrumentationScope.name, '@arizeai/openinference-instrumentation-openai');
    const ev = await usage(id);
    if (!ev) {
      check(`${where}: stored`, false, true);
      continue;
    }
    check(`${where}: provider`, ev.provider, 'openai');
    check(`${where}: model sent and resolved`, [ev.model_sent, ev.model], [call.want.model_sent, call.want.model]);
    check(`${where}: tokens`, ev.tokens, call.want.tokens);
    check(`${where}: team/project/user`, [ev.team, ev.project, ev.user], ['research', 'research-agents', 'erin@example.com']);
    check(`${where}: priced`, ev.priced, true);
    check(`${where}: effective cost`, ev.effective_cost, call.want.effective_cost);
    check(`${where}: list cost`, ev.list_cost, call.want.list_cost);
  }
  check('events stored', sql('SELECT count(*) FROM usage_events'), String(calls.length));
  check('cost total', sql('SELECT trim_scale(sum(effective_cost))::text FROM spend_hourly'), '0.0259716');

  instrumentation.disable();
  await provider.shutdown();
  done(NAME);
}

main().catch(fatal);
