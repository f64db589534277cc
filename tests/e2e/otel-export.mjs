// End to end with the OpenTelemetry JS SDK: GenAI spans made by
// @opentelemetry/sdk-trace-base and exported by the stock OTLP exporters,
// @opentelemetry/exporter-trace-otlp-proto (protobuf, gzip) and
// @opentelemetry/exporter-trace-otlp-http (JSON), to a running tollgate.
// Checks that every span with usage became one event with exactly its tokens
// (uncached input = input - cache read - cache write), its provider, model,
// team, project and user (from resource and span attributes, README
// "OpenTelemetry"), and its cost from the catalog snapshot; that spans
// without usage were ignored; and that exporting the same spans again is
// acknowledged as duplicates and counts nothing twice.

import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { context, trace } from '@opentelemetry/api';
import {
  INGEST_KEY, TRACES_URL, api, check, createTeam, done, eventId, eventsTotal, exportAgain, fatal, sql,
  usage,
} from './lib.mjs';

const NAME = 'otel-export';
const headers = { Authorization: `Bearer ${INGEST_KEY}` };

// Each sender: its exporter, its resource, and the calls it reports. want
// holds what tollgate must store: the catalog's provider and model the
// strings sent resolve to, tokens by class, the team, project and user the
// attributes map to, and the cost worked out by hand from
// prices/genai-prices.json (USD per million tokens).
const senders = [
  {
    name: 'protobuf, gzip',
    exporter: () => new ProtoExporter({ url: TRACES_URL, headers, compression: 'gzip' }),
    // The team from service.namespace (tollgate.team is absent), the
    // project from tollgate.project.
    resource: { 'service.name': 'ranker', 'service.namespace': 'search', 'tollgate.project': 'search-ranking' },
    calls: [
      {
        // gpt-4o: 1000 x 2.50 + 2000 x 1.25 + 500 x 10 = $0.01; list 3000 x 2.50 + 500 x 10
        attrs: {
          'gen_ai.provider.name': 'openai', 'gen_ai.operation.name': 'chat',
          'gen_ai.request.model': 'gpt-4o', 'gen_ai.response.model': 'gpt-4o-2024-08-06',
          'gen_ai.usage.input_tokens': 3000, 'gen_ai.usage.cache_read.input_tokens': 2000,
          'gen_ai.usage.output_tokens': 500, 'user.id': 'alice@example.com',
        },
        want: {
          provider: 'openai', model: 'gpt-4o', team: 'search', project: 'search-ranking',
          user: 'alice@example.com',
          tokens: { input_uncached: 1000, cache_read: 2000, cache_write_5m: 0, cache_write_1h: 0, output: 500, reasoning: 0 },
          effective_cost: '0.01', list_cost: '0.0125',
        },
      },
      {
        // gpt-4o-mini, no cache: 1200 x 0.15 + 300 x 0.60 = $0.00036
        attrs: {
          'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o-mini',
          'gen_ai.response.model': 'gpt-4o-mini', 'gen_ai.usage.input_tokens': 1200,
          'gen_ai.usage.output_tokens': 300, 'user.id': 'carol@example.com',
        },
        want: {
          provider: 'openai', model: 'gpt-4o-mini', team: 'search', project: 'search-ranking',
          user: 'carol@example.com',
          tokens: { input_uncached: 1200, cache_read: 0, cache_write_5m: 0, cache_write_1h: 0, output: 300, reasoning: 0 },
          effective_cost: '0.00036', list_cost: '0.00036',
        },
      },
      {
        // gpt-5-mini with reasoning (inside output): 904 x 0.25 + 4096 x 0.025
        // + 2000 x 2 = $0.0043284; list 5000 x 0.25 + 2000 x 2 = $0.00525
        attrs: {
          'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-5-mini',
          'gen_ai.response.model': 'gpt-5-mini-2025-08-07', 'gen_ai.usage.input_tokens': 5000,
          'gen_ai.usage.cache_read.input_tokens': 4096, 'gen_ai.usage.output_tokens': 2000,
          'gen_ai.usage.reasoning.output_tokens': 1500, 'user.id': 'alice@example.com',
        },
        want: {
          provider: 'openai', model: 'gpt-5-mini', team: 'search', project: 'search-ranking',
          user: 'alice@example.com',
          tokens: { input_uncached: 904, cache_read: 4096, cache_write_5m: 0, cache_write_1h: 0, output: 2000, reasoning: 1500 },
          effective_cost: '0.0043284', list_cost: '0.00525',
        },
      },
    ],
  },
  {
    name: 'JSON',
    exporter: () => new JsonExporter({ url: TRACES_URL, headers }),
    // tollgate.team wins over service.namespace.
    resource: {
      'service.name': 'support-bot', 'service.namespace': 'no-such-team', 'tollgate.team': 'support',
      'tollgate.project': 'support-bot',
    },
    calls: [
      {
        // claude-sonnet-4-5, input including the cache (the spec's reading):
        // 2000 x 3 + 8000 x 0.30 + 2000 x 3.75 + 800 x 15 = $0.0279;
        // list (12000 at the input price) 12000 x 3 + 800 x 15 = $0.048
        attrs: {
          'gen_ai.provider.name': 'anthropic', 'gen_ai.request.model': 'claude-sonnet-4-5',
          'gen_ai.response.model': 'claude-sonnet-4-5-20250929', 'gen_ai.usage.input_tokens': 12000,
          'gen_ai.usage.cache_read.input_tokens': 8000,
          'gen_ai.usage.cache_creation.input_tokens': 2000, 'gen_ai.usage.output_tokens': 800,
          'enduser.id': 'bob',
        },
        want: {
          provider: 'anthropic', model: 'claude-sonnet-4-5', team: 'support', project: 'support-bot',
          user: 'bob',
          tokens: { input_uncached: 2000, cache_read: 8000, cache_write_5m: 2000, cache_write_1h: 0, output: 800, reasoning: 0 },
          effective_cost: '0.0279', list_cost: '0.048',
        },
      },
      {
        // gpt-4.1-mini with the names before 1.27 (gen_ai.system,
        // prompt_tokens, completion_tokens) and a cache read:
        // 700 x 0.40 + 1024 x 0.10 + 250 x 1.60 = $0.0007824; list 1724 x 0.40 + 250 x 1.60
        attrs: {
          'gen_ai.system': 'openai', 'gen_ai.request.model': 'gpt-4.1-mini',
          'gen_ai.usage.prompt_tokens': 1724, 'gen_ai.usage.cache_read.input_tokens': 1024,
          'gen_ai.usage.completion_tokens': 250, 'tollgate.user': 'dave',
        },
        want: {
          provider: 'openai', model: 'gpt-4.1-mini', team: 'support', project: 'support-bot', user: 'dave',
          tokens: { input_uncached: 700, cache_read: 1024, cache_write_5m: 0, cache_write_1h: 0, output: 250, reasoning: 0 },
          effective_cost: '0.0007824', list_cost: '0.0010896',
        },
      },
    ],
  },
];

// Sends each sender's calls: an "agent" span without usage, with the calls
// as its children; the exporter sends them, and an in-memory exporter keeps
// a copy to send again.
async function send(sender) {
  const exporter = sender.exporter();
  const kept = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes(sender.resource),
    spanProcessors: [new SimpleSpanProcessor(exporter), new SimpleSpanProcessor(kept)],
  });
  const tracer = provider.getTracer('tollgate-e2e', '1.0.0');
  const parent = tracer.startSpan('agent run');
  const ctx = trace.setSpan(context.active(), parent);
  for (const call of sender.calls) {
    const span = tracer.startSpan(`chat ${call.attrs['gen_ai.request.model']}`, { attributes: call.attrs }, ctx);
    call.id = eventId(span);
    span.end();
  }
  parent.end();
  await provider.forceFlush();
  return { provider, spans: kept.getFinishedSpans(), again: sender.exporter() };
}

async function main() {
  await createTeam('search');
  await createTeam('search-ranking', 'search');
  await createTeam('support');
  await createTeam('support-bot', 'support');

  const sent = [];
  for (const s of senders) sent.push(await send(s));

  const calls = senders.flatMap((s) => s.calls);
  for (const [i, s] of senders.entries()) {
    for (const call of s.calls) {
      const ev = await usage(call.id);
      const where = `${s.name} call ${call.id}`;
      if (!ev) {
        check(`${where}: stored`, false, true);
        continue;
      }
      check(`${where}: tokens`, ev.tokens, call.want.tokens);
      check(`${where}: provider`, ev.provider, call.want.provider);
      // The model as sent, and the catalog's model it resolved to.
      check(`${where}: model`, [ev.model_sent, ev.model],
        [call.attrs['gen_ai.response.model'] ?? call.attrs['gen_ai.request.model'], call.want.model]);
      check(`${where}: requested model`, ev.requested_model, call.attrs['gen_ai.request.model']);
      check(`${where}: team/project/user`, [ev.team, ev.project, ev.user],
        [call.want.team, call.want.project, call.want.user]);
      check(`${where}: priced`, ev.priced, true);
      check(`${where}: effective cost`, ev.effective_cost, call.want.effective_cost);
      check(`${where}: list cost`, ev.list_cost, call.want.list_cost);
      check(`${where}: usage_format`, ev.usage_format, 'otlp');
      check(`${where}: scope tag`, ev.tags?.['otel.scope'], 'tollgate-e2e');
    }
    check(`${s.name}: spans the exporter sent`, sent[i].spans.length, s.calls.length + 1);
  }
  // Only the calls: the "agent" spans carry no usage.
  const sum = (k) => String(calls.reduce((a, c) => a + c.want.tokens[k], 0));
  check('events stored', sql('SELECT count(*) FROM usage_events'), String(calls.length));
  check('tokens stored, summed',
    sql('SELECT sum(input_uncached) || \' \' || sum(cache_read) || \' \' || sum(cache_write_5m) || \' \' || sum(output) FROM usage_events'),
    `${sum('input_uncached')} ${sum('cache_read')} ${sum('cache_write_5m')} ${sum('output')}`);
  check('requests in the rollups', sql('SELECT sum(requests) FROM spend_hourly'), String(calls.length));

  // A re-export (a retry, or a collector sending twice) of the very same
  // spans, through new exporters: acknowledged, stored once.
  const dupBefore = await eventsTotal('duplicate');
  for (const [i, s] of senders.entries()) {
    const r = await exportAgain(sent[i].again, sent[i].spans);
    check(`${s.name}: re-export result code`, r.code, 0);
    await sent[i].again.shutdown();
  }
  check('re-export: duplicates counted', (await eventsTotal('duplicate')) - dupBefore, calls.length);
  check('re-export: events stored', sql('SELECT count(*) FROM usage_events'), String(calls.length));
  check('re-export: requests in the rollups', sql('SELECT sum(requests) FROM spend_hourly'), String(calls.length));
  check('re-export: effective cost summed', sql('SELECT trim_scale(sum(effective_cost))::text FROM spend_hourly'),
    sql('SELECT trim_scale(sum(effective_cost))::text FROM usage_events'));
  check('re-export: cost total', sql('SELECT trim_scale(sum(effective_cost))::text FROM usage_events'),
    '0.0433708'); // 0.01 + 0.00036 + 0.0043284 + 0.0279 + 0.0007824

  // OTLP metrics are not ingested (README, "OpenTelemetry"): no such route.
  const m = await api('POST', '/v1/metrics', INGEST_KEY, { resourceMetrics: [] });
  check('POST /v1/metrics', m.status, 404);

  for (const s of sent) await s.provider.shutdown();
  done(NAME);
}

main().catch(fatal);
