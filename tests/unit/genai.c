// links: ingest/genai.c ingest/otlp.c build/gen/otlp.pb-c.c ingest/event.c ingest/usage.c
/*
 * genai: the GenAI attribute mapping over a table of OTLP requests. Each
 * row describes spans (name, scope, ids, times, attributes in a small
 * notation) and what must come out: the counts, and each event's id,
 * tokens worked out by hand, team, project, user, provider and models, or
 * the rejection. Every row is built as a real request three times: packed
 * with the generated protobuf-c code, and written as OTLP/JSON with 64-bit
 * integers once as strings and once as numbers; all three must give the
 * same batch. Attribute notation: "key=T:value;..." with T one of s
 * (string), i (int), d (double), b (bool), n (a value with nothing set).
 */
#include "otlp.h"

#include "otlp.pb-c.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW_US     1795773600000000LL      /* 2026-11-27T10:00:00Z */
#define END_NS     1795773540123456789ULL  /* a minute before NOW, ns */
#define END_US     1795773540123456LL      /* END_NS truncated to us */
#define START_NS   (END_NS - 840000000ULL) /* 840 ms earlier */
#define TRACE      "0af7651916cd43dd8448eb211c80319c"
#define TRACE2     "4bf92f3577b34da6a3ce929d0e0e4736"
#define SPAN(n)    "b7ad6b71692033a" #n
#define ID(n)      TRACE "-" SPAN(n)
#define RESOURCE   "service.namespace=s:search;service.name=s:ranker"
#define MAX_SPANS  5
#define MAX_EVENTS 4

struct span_spec {
    const char *attrs;  /* NULL ends the list of spans */
    const char *name;   /* NULL: "chat" */
    const char *scope;  /* NULL: "test.scope" */
    const char *trace;  /* NULL: TRACE; hex */
    const char *id;     /* NULL: SPAN(i) for the i-th span; hex */
    const char *parent; /* NULL: none; hex */
    uint64_t end_ns;    /* 0: END_NS; UINT64_MAX: 0 (no end time) */
    int status;         /* span status code */
};

struct want_event {
    const char *id;
    int64_t tok[6]; /* input_uncached, cache_read, 5m, 1h, output, reasoning */
    const char *provider, *model, *requested;
    const char *team, *project, *user; /* NULL: "search", "ranker", "" */
};

struct genai_case {
    const char *name;
    const char *resource; /* NULL: RESOURCE; "" none */
    struct span_spec spans[MAX_SPANS];
    size_t events, ignored, aggregates, duplicates, rejected;
    struct want_event ev[MAX_EVENTS];
    const char *code, *message; /* of the first reject */
};

#define ONE_EVENT(nm, scope_, attrs_, i, cr, w5, o, r, prov, mdl, req)                             \
    {                                                                                              \
        .name = nm, .spans = {{.attrs = attrs_, .scope = scope_}}, .events = 1, .ev = {            \
            {ID(0), {i, cr, w5, 0, o, r}, prov, mdl, req}                                          \
        }                                                                                          \
    }
#define REJECT(nm, attrs_, cd, msg)                                                                \
    {                                                                                              \
        .name = nm, .spans = {{.attrs = attrs_}}, .rejected = 1, .code = cd, .message = msg        \
    }
#define OPENAI "gen_ai.provider.name=s:openai;gen_ai.request.model=s:gpt-4o;"
/* A Vercel AI SDK leaf span with usage and no provider; and a row for its provider id. */
#define VERCEL_LEAF                                                                                \
    "ai.operationId=s:ai.generateText.doGenerate;ai.model.id=s:m-1;ai.usage.inputTokens=i:10;"     \
    "ai.usage.outputTokens=i:5;"
#define VERCEL_PROVIDER(sent, want)                                                                \
    ONE_EVENT("vercel provider: " sent, NULL, VERCEL_LEAF "gen_ai.system=s:" sent, 10, 0, 0, 5, 0, \
              want, "m-1", "m-1")

static struct genai_case genai_cases[] = {
    /* OTel GenAI semconv 1.40+ */
    ONE_EVENT("otel: cache read", NULL,
              OPENAI "gen_ai.response.model=s:gpt-4o-2024-08-06;gen_ai.usage.input_tokens=i:2006;"
                     "gen_ai.usage.cache_read.input_tokens=i:1920;gen_ai.usage.output_tokens=i:300;"
                     "gen_ai.usage.reasoning.output_tokens=i:0",
              86, 1920, 0, 300, 0, "openai", "gpt-4o-2024-08-06", "gpt-4o"),
    ONE_EVENT("otel: cache read, write and reasoning", NULL,
              "gen_ai.provider.name=s:anthropic;gen_ai.request.model=s:claude-sonnet-4-5;"
              "gen_ai.usage.input_tokens=i:5000;gen_ai.usage.cache_read.input_tokens=i:1000;"
              "gen_ai.usage.cache_creation.input_tokens=i:3000;gen_ai.usage.output_tokens=i:800;"
              "gen_ai.usage.reasoning.output_tokens=i:512",
              1000, 1000, 3000, 800, 512, "anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5"),
    ONE_EVENT("otel: provider from gen_ai.system (before 1.37)", NULL,
              "gen_ai.system=s:OpenAI;gen_ai.request.model=s:gpt-4o-mini;"
              "gen_ai.usage.input_tokens=i:10;gen_ai.usage.output_tokens=i:5",
              10, 0, 0, 5, 0, "OpenAI", "gpt-4o-mini", "gpt-4o-mini"),
    ONE_EVENT("otel: provider.name wins over system", NULL,
              "gen_ai.system=s:az.ai.inference;gen_ai.provider.name=s:azure.ai.openai;"
              "gen_ai.request.model=s:gpt-4o;gen_ai.usage.input_tokens=i:1;"
              "gen_ai.usage.output_tokens=i:1",
              1, 0, 0, 1, 0, "azure.ai.openai", "gpt-4o", "gpt-4o"),
    ONE_EVENT("otel: model from the response only", NULL,
              "gen_ai.provider.name=s:x_ai;gen_ai.response.model=s:grok-4;"
              "gen_ai.usage.input_tokens=i:3;gen_ai.usage.output_tokens=i:4",
              3, 0, 0, 4, 0, "x_ai", "grok-4", "grok-4"),
    ONE_EVENT("otel: names before 1.27", NULL,
              "gen_ai.system=s:openai;gen_ai.request.model=s:gpt-4;"
              "gen_ai.usage.prompt_tokens=i:19;gen_ai.usage.completion_tokens=i:10",
              19, 0, 0, 10, 0, "openai", "gpt-4", "gpt-4"),
    ONE_EVENT("otel: current names win over old ones", NULL,
              OPENAI "gen_ai.usage.prompt_tokens=i:999;gen_ai.usage.input_tokens=i:19;"
                     "gen_ai.usage.completion_tokens=i:999;gen_ai.usage.output_tokens=i:10",
              19, 0, 0, 10, 0, "openai", "gpt-4o", "gpt-4o"),
    ONE_EVENT("otel: embeddings, input only", NULL,
              "gen_ai.operation.name=s:embeddings;gen_ai.provider.name=s:openai;"
              "gen_ai.request.model=s:text-embedding-3-small;gen_ai.usage.input_tokens=i:42",
              42, 0, 0, 0, 0, "openai", "text-embedding-3-small", "text-embedding-3-small"),
    ONE_EVENT("otel: integral doubleValue counts", NULL,
              OPENAI "gen_ai.usage.input_tokens=d:19;gen_ai.usage.output_tokens=d:10", 19, 0, 0, 10,
              0, "openai", "gpt-4o", "gpt-4o"),
    ONE_EVENT("otel: output only", NULL, OPENAI "gen_ai.usage.output_tokens=i:7", 0, 0, 0, 7, 0,
              "openai", "gpt-4o", "gpt-4o"),
    ONE_EVENT("otel: max counts", NULL,
              OPENAI "gen_ai.usage.input_tokens=i:10000000000;"
                     "gen_ai.usage.cache_read.input_tokens=i:10000000000;"
                     "gen_ai.usage.output_tokens=i:10000000000;"
                     "gen_ai.usage.reasoning.output_tokens=i:10000000000",
              0, 10000000000LL, 0, 10000000000LL, 10000000000LL, "openai", "gpt-4o", "gpt-4o"),
    ONE_EVENT("otel: empty model strings fall through", NULL,
              "gen_ai.provider.name=s:;gen_ai.system=s:openai;gen_ai.response.model=s:;"
              "gen_ai.request.model=s:gpt-4o;gen_ai.usage.input_tokens=i:1",
              1, 0, 0, 0, 0, "openai", "gpt-4o", "gpt-4o"),

    /* Traceloop / OpenLLMetry */
    ONE_EVENT("traceloop: older cache and reasoning names", "@traceloop/instrumentation-openai",
              OPENAI "gen_ai.usage.input_tokens=i:5000;gen_ai.usage.cache_read_input_tokens=i:1000;"
                     "gen_ai.usage.cache_creation_input_tokens=i:3000;"
                     "gen_ai.usage.output_tokens=i:800;gen_ai.usage.reasoning_tokens=i:512;"
                     "llm.usage.total_tokens=i:5800",
              1000, 1000, 3000, 800, 512, "openai", "gpt-4o", "gpt-4o"),
    ONE_EVENT("traceloop: current cache names win over older ones", NULL,
              OPENAI "gen_ai.usage.input_tokens=i:100;gen_ai.usage.cache_read_input_tokens=i:90;"
                     "gen_ai.usage.cache_read.input_tokens=i:40;gen_ai.usage.output_tokens=i:1",
              60, 40, 0, 1, 0, "openai", "gpt-4o", "gpt-4o"),
    ONE_EVENT("traceloop anthropic: the scope says input excludes the cache",
              "@traceloop/instrumentation-anthropic",
              "gen_ai.provider.name=s:anthropic;gen_ai.request.model=s:claude-3-5-haiku;"
              "gen_ai.usage.input_tokens=i:100;gen_ai.usage.cache_read.input_tokens=i:50;"
              "gen_ai.usage.cache_creation.input_tokens=i:20;gen_ai.usage.output_tokens=i:10;"
              "gen_ai.usage.total_tokens=i:110",
              100, 50, 20, 10, 0, "anthropic", "claude-3-5-haiku", "claude-3-5-haiku"),
    ONE_EVENT("anthropic: cache above input, so input excludes it", NULL,
              "gen_ai.provider.name=s:anthropic;gen_ai.request.model=s:claude-sonnet-4;"
              "gen_ai.usage.input_tokens=i:12;gen_ai.usage.cache_read.input_tokens=i:4000;"
              "gen_ai.usage.cache_creation.input_tokens=i:900;gen_ai.usage.output_tokens=i:300",
              12, 4000, 900, 300, 0, "anthropic", "claude-sonnet-4", "claude-sonnet-4"),
    ONE_EVENT("anthropic: cache equal to input is inclusive", NULL,
              "gen_ai.provider.name=s:anthropic;gen_ai.request.model=s:claude-sonnet-4;"
              "gen_ai.usage.input_tokens=i:1000;gen_ai.usage.cache_read.input_tokens=i:1000;"
              "gen_ai.usage.output_tokens=i:1",
              0, 1000, 0, 1, 0, "anthropic", "claude-sonnet-4", "claude-sonnet-4"),
    ONE_EVENT("anthropic: cache without input", NULL,
              "gen_ai.provider.name=s:anthropic;gen_ai.request.model=s:claude-sonnet-4;"
              "gen_ai.usage.cache_read.input_tokens=i:7;gen_ai.usage.output_tokens=i:1",
              0, 7, 0, 1, 0, "anthropic", "claude-sonnet-4", "claude-sonnet-4"),

    /* OpenInference */
    ONE_EVENT("openinference: cache and reasoning", "openinference.instrumentation.openai",
              "llm.provider=s:openai;llm.system=s:openai;llm.model_name=s:o3-mini;"
              "llm.token_count.prompt=i:5000;llm.token_count.prompt_details.cache_read=i:1000;"
              "llm.token_count.prompt_details.cache_write=i:3000;"
              "llm.token_count.completion=i:800;"
              "llm.token_count.completion_details.reasoning=i:512;llm.token_count.total=i:5800",
              1000, 1000, 3000, 800, 512, "openai", "o3-mini", "o3-mini"),
    ONE_EVENT("openinference: provider from llm.system", NULL,
              "llm.system=s:anthropic;llm.model_name=s:claude-3-opus;"
              "llm.token_count.prompt=i:30;llm.token_count.completion=i:20",
              30, 0, 0, 20, 0, "anthropic", "claude-3-opus", "claude-3-opus"),
    ONE_EVENT("openinference: response and request model names", NULL,
              "llm.provider=s:google;llm.model_name=s:gemini-2.5;"
              "llm.request.model_name=s:gemini-2.5-pro;"
              "llm.response.model_name=s:gemini-2.5-pro-002;"
              "llm.token_count.prompt=i:30;llm.token_count.completion=i:20",
              30, 0, 0, 20, 0, "google", "gemini-2.5-pro-002", "gemini-2.5-pro"),
    ONE_EVENT("openinference wins over gen_ai on the same span", NULL,
              OPENAI "llm.token_count.prompt=i:30;llm.token_count.completion=i:20;"
                     "gen_ai.usage.input_tokens=i:999;gen_ai.usage.output_tokens=i:999",
              30, 0, 0, 20, 0, "openai", "gpt-4o", "gpt-4o"),

    /* Vercel AI SDK */
    {.name = "vercel v6: doGenerate",
     .spans = {{.name = "ai.generateText.doGenerate",
                .scope = "ai",
                .attrs = "ai.operationId=s:ai.generateText.doGenerate;operation.name=s:"
                         "ai.generateText.doGenerate;ai.model.provider=s:openai.chat;"
                         "ai.model.id=s:gpt-4o;gen_ai.system=s:openai.chat;"
                         "gen_ai.request.model=s:gpt-4o;gen_ai.response.model=s:gpt-4o-2024-08-06;"
                         "gen_ai.response.id=s:chatcmpl-1;ai.usage.inputTokens=i:2006;"
                         "ai.usage.inputTokenDetails.noCacheTokens=i:86;"
                         "ai.usage.inputTokenDetails.cacheReadTokens=i:1920;"
                         "ai.usage.outputTokens=i:300;"
                         "ai.usage.outputTokenDetails.textTokens=i:300;"
                         "ai.usage.outputTokenDetails.reasoningTokens=i:0;"
                         "ai.usage.totalTokens=i:2306;ai.usage.cachedInputTokens=i:1920;"
                         "gen_ai.usage.input_tokens=i:2006;gen_ai.usage.output_tokens=i:300"}},
     .events = 1,
     .ev = {{ID(0), {86, 1920, 0, 0, 300, 0}, "openai", "gpt-4o-2024-08-06", "gpt-4o"}}},
    {.name = "vercel v6: doStream, cache write and reasoning, no noCacheTokens",
     .spans = {{.name = "ai.streamText.doStream",
                .attrs =
                    "ai.operationId=s:ai.streamText.doStream;gen_ai.system=s:anthropic.messages;"
                    "gen_ai.request.model=s:claude-sonnet-4-5;ai.usage.inputTokens=i:5000;"
                    "ai.usage.inputTokenDetails.cacheReadTokens=i:1000;"
                    "ai.usage.inputTokenDetails.cacheWriteTokens=i:3000;"
                    "ai.usage.outputTokens=i:800;"
                    "ai.usage.outputTokenDetails.reasoningTokens=i:512"}},
     .events = 1,
     .ev = {{ID(0),
             {1000, 1000, 3000, 0, 800, 512},
             "anthropic",
             "claude-sonnet-4-5",
             "claude-sonnet-4-5"}}},
    {.name = "vercel v5 anthropic: input excludes the cache",
     .spans = {{.name = "ai.generateText.doGenerate",
                .attrs = "gen_ai.system=s:anthropic.messages;gen_ai.request.model=s:claude-3-7;"
                         "ai.usage.inputTokens=i:10;ai.usage.cachedInputTokens=i:3000;"
                         "ai.usage.outputTokens=i:50;ai.usage.reasoningTokens=i:20"}},
     .events = 1,
     .ev = {{ID(0), {10, 3000, 0, 0, 50, 20}, "anthropic", "claude-3-7", "claude-3-7"}}},
    {.name = "vercel v4: prompt and completion tokens, names from ai.model.*",
     .spans = {{.name = "ai.generateObject.doGenerate",
                .attrs = "ai.model.provider=s:mistral.chat;ai.model.id=s:mistral-large;"
                         "ai.usage.promptTokens=i:11;ai.usage.completionTokens=i:22"}},
     .events = 1,
     .ev = {{ID(0), {11, 0, 0, 0, 22, 0}, "mistral", "mistral-large", "mistral-large"}}},
    {.name = "vercel: an outer span alone is an aggregate",
     .spans = {{.name = "ai.generateText",
                .attrs = "ai.operationId=s:ai.generateText;ai.model.provider=s:openai.chat;"
                         "ai.model.id=s:gpt-4o;ai.usage.inputTokens=i:2006;"
                         "ai.usage.outputTokens=i:300"}},
     .aggregates = 1},
    {.name = "vercel: the operation id decides, not the name",
     .spans = {{.name = "ai.streamText.doStream",
                .attrs =
                    "ai.operationId=s:ai.streamText;ai.model.provider=s:openai.chat;"
                    "ai.model.id=s:gpt-4o;ai.usage.inputTokens=i:1;ai.usage.outputTokens=i:1"}},
     .aggregates = 1},
    {.name = "vercel: outer span and two steps",
     .spans = {{.name = "ai.generateText",
                .attrs = "ai.operationId=s:ai.generateText;ai.model.provider=s:openai.chat;"
                         "ai.model.id=s:gpt-4o;ai.usage.inputTokens=i:30;"
                         "ai.usage.outputTokens=i:12"},
               {.name = "ai.generateText.doGenerate",
                .parent = SPAN(0),
                .attrs = "ai.operationId=s:ai.generateText.doGenerate;"
                         "gen_ai.system=s:openai.chat;gen_ai.request.model=s:gpt-4o;"
                         "gen_ai.response.id=s:chatcmpl-a;ai.usage.inputTokens=i:10;"
                         "ai.usage.inputTokenDetails.noCacheTokens=i:10;"
                         "ai.usage.outputTokens=i:5"},
               {.name = "ai.toolCall", .parent = SPAN(0), .attrs = "ai.toolCall.name=s:weather"},
               {.name = "ai.generateText.doGenerate",
                .parent = SPAN(0),
                .attrs = "ai.operationId=s:ai.generateText.doGenerate;"
                         "gen_ai.system=s:openai.chat;gen_ai.request.model=s:gpt-4o;"
                         "gen_ai.response.id=s:chatcmpl-b;ai.usage.inputTokens=i:20;"
                         "ai.usage.inputTokenDetails.noCacheTokens=i:20;"
                         "ai.usage.outputTokens=i:7"}},
     .events = 2,
     .ignored = 1,
     .aggregates = 1,
     .ev = {{ID(1), {10, 0, 0, 0, 5, 0}, "openai", "gpt-4o", "gpt-4o"},
            {ID(3), {20, 0, 0, 0, 7, 0}, "openai", "gpt-4o", "gpt-4o"}}},

    /* the AI SDK's provider ids: the provider part, in the catalog's names */
    VERCEL_PROVIDER("openai.chat", "openai"),
    VERCEL_PROVIDER("openai.responses", "openai"),
    VERCEL_PROVIDER("anthropic.messages", "anthropic"),
    VERCEL_PROVIDER("google.generative-ai", "google"),
    VERCEL_PROVIDER("google.vertex.chat", "google"),
    VERCEL_PROVIDER("vertex.anthropic.messages", "google"),
    VERCEL_PROVIDER("amazon-bedrock", "aws"),
    VERCEL_PROVIDER("azure.responses", "azure"),
    VERCEL_PROVIDER("xai.chat", "xai"),
    VERCEL_PROVIDER("groq.chat", "groq"),
    VERCEL_PROVIDER("togetherai.chat", "together"),
    VERCEL_PROVIDER("perplexity", "perplexity"),
    VERCEL_PROVIDER(".chat", ".chat"),
    ONE_EVENT("vercel provider: from ai.model.provider too", NULL,
              VERCEL_LEAF "ai.model.provider=s:azure.chat", 10, 0, 0, 5, 0, "azure", "m-1", "m-1"),
    ONE_EVENT("not vercel: gen_ai.system kept as sent", NULL,
              "gen_ai.system=s:openai.chat;gen_ai.request.model=s:m-1;"
              "gen_ai.usage.input_tokens=i:10;gen_ai.usage.output_tokens=i:5",
              10, 0, 0, 5, 0, "openai.chat", "m-1", "m-1"),

    /* the parent rule and the dedupe */
    {.name = "parent rule: a wrapper span over an instrumented call",
     .spans = {{.name = "litellm_request",
                .attrs = OPENAI "gen_ai.usage.input_tokens=i:100;gen_ai.usage.output_tokens=i:10"},
               {.name = "openai.chat",
                .parent = SPAN(0),
                .attrs = OPENAI "gen_ai.usage.input_tokens=i:100;gen_ai.usage.output_tokens=i:10"}},
     .events = 1,
     .aggregates = 1,
     .ev = {{ID(1), {100, 0, 0, 0, 10, 0}, "openai", "gpt-4o", "gpt-4o"}}},
    {.name = "parent rule: the same span id in another trace is no parent",
     .spans = {{.attrs = OPENAI "gen_ai.usage.input_tokens=i:1"},
               {.trace = TRACE2,
                .parent = SPAN(0),
                .attrs = OPENAI "gen_ai.usage.input_tokens=i:2"}},
     .events = 2,
     .ev = {{ID(0), {1, 0, 0, 0, 0, 0}, "openai", "gpt-4o", "gpt-4o"},
            {TRACE2 "-" SPAN(1), {2, 0, 0, 0, 0, 0}, "openai", "gpt-4o", "gpt-4o"}}},
    {.name = "parent rule: a parent without usage is just ignored",
     .spans = {{.name = "agent.run", .attrs = "gen_ai.operation.name=s:invoke_agent"},
               {.parent = SPAN(0), .attrs = OPENAI "gen_ai.usage.input_tokens=i:2"}},
     .events = 1,
     .ignored = 1,
     .ev = {{ID(1), {2, 0, 0, 0, 0, 0}, "openai", "gpt-4o", "gpt-4o"}}},
    {.name = "dedupe: two instrumentations, one gen_ai.response.id",
     .spans = {{.scope = "openinference.instrumentation.openai",
                .attrs = "llm.provider=s:openai;llm.model_name=s:gpt-4o;"
                         "gen_ai.response.id=s:chatcmpl-9;llm.token_count.prompt=i:8;"
                         "llm.token_count.completion=i:2"},
               {.scope = "@traceloop/instrumentation-openai",
                .attrs = OPENAI "gen_ai.response.id=s:chatcmpl-9;"
                                "gen_ai.usage.input_tokens=i:8;gen_ai.usage.output_tokens=i:2"}},
     .events = 1,
     .duplicates = 1,
     .ev = {{ID(0), {8, 0, 0, 0, 2, 0}, "openai", "gpt-4o", "gpt-4o"}}},
    {.name = "dedupe: other response ids all count",
     .spans = {{.attrs = OPENAI "gen_ai.response.id=s:a;gen_ai.usage.input_tokens=i:1"},
               {.attrs = OPENAI "gen_ai.response.id=s:b;gen_ai.usage.input_tokens=i:2"},
               {.attrs = OPENAI "gen_ai.response.id=s:;gen_ai.usage.input_tokens=i:3"},
               {.attrs = OPENAI "gen_ai.response.id=s:;gen_ai.usage.input_tokens=i:4"}},
     .events = 4,
     .ev = {{ID(0), {1, 0, 0, 0, 0, 0}, "openai", "gpt-4o", "gpt-4o"},
            {ID(1), {2, 0, 0, 0, 0, 0}, "openai", "gpt-4o", "gpt-4o"},
            {ID(2), {3, 0, 0, 0, 0, 0}, "openai", "gpt-4o", "gpt-4o"},
            {ID(3), {4, 0, 0, 0, 0, 0}, "openai", "gpt-4o", "gpt-4o"}}},

    /* no usage */
    {.name = "an HTTP span is ignored",
     .spans = {{.name = "GET /",
                .attrs = "http.request.method=s:GET;http.response.status_code=i:200"}},
     .ignored = 1},
    {.name = "total tokens alone are no usage",
     .spans = {{.attrs = OPENAI "llm.usage.total_tokens=i:100;gen_ai.usage.total_tokens=i:100;"
                                "llm.token_count.total=i:100"}},
     .ignored = 1},
    {.name = "a usage attribute with no value set is no usage",
     .spans = {{.attrs = OPENAI "gen_ai.usage.input_tokens=n:"}},
     .ignored = 1},
    {.name = "no spans at all", .spans = {{0}}},

    /* team, project, user, request id */
    {.name = "tollgate.team on the span wins over the resource",
     .resource = "tollgate.team=s:platform;service.namespace=s:search;tollgate.project=s:p1",
     .spans = {{.attrs = OPENAI "tollgate.team=s:search-a;gen_ai.usage.input_tokens=i:1"}},
     .events = 1,
     .ev = {{ID(0), {1, 0, 0, 0, 0, 0}, "openai", "gpt-4o", "gpt-4o", "search-a", "p1"}}},
    {.name = "tollgate.team on the resource wins over service.namespace",
     .resource = "tollgate.team=s:platform;service.namespace=s:search;service.name=s:svc",
     .spans = {{.attrs = OPENAI "service.namespace=s:other;gen_ai.usage.input_tokens=i:1"}},
     .events = 1,
     .ev = {{ID(0), {1, 0, 0, 0, 0, 0}, "openai", "gpt-4o", "gpt-4o", "platform", "svc"}}},
    {.name = "user from user.id, else enduser.id; request id",
     .spans = {{.attrs = OPENAI "user.id=s:alice@example.com;enduser.id=s:bob;"
                                "tollgate.request_id=s:req_1;gen_ai.usage.input_tokens=i:1"},
               {.attrs = OPENAI "enduser.id=i:4711;gen_ai.usage.input_tokens=i:1"}},
     .events = 2,
     .ev = {{ID(0),
             {1, 0, 0, 0, 0, 0},
             "openai",
             "gpt-4o",
             "gpt-4o",
             NULL,
             NULL,
             "alice@example.com"},
            {ID(1), {1, 0, 0, 0, 0, 0}, "openai", "gpt-4o", "gpt-4o", NULL, NULL, "4711"}}},
    {.name = "the SDK's unknown_service placeholder is no project",
     .resource = "service.namespace=s:search;service.name=s:unknown_service:node",
     .spans = {{.attrs = OPENAI "gen_ai.usage.input_tokens=i:1"}},
     .events = 1,
     .ev = {{ID(0), {1, 0, 0, 0, 0, 0}, "openai", "gpt-4o", "gpt-4o", "search", ""}}},
    {.name = "no team",
     .resource = "service.name=s:ranker",
     .spans = {{.attrs = OPENAI "gen_ai.usage.input_tokens=i:1"}},
     .rejected = 1,
     .code = "missing_field",
     .message = "no team: none of tollgate.team,service.namespace is set"},
    {.name = "a team that is no slug",
     .resource = "service.namespace=s:Search Team",
     .spans = {{.attrs = OPENAI "gen_ai.usage.input_tokens=i:1"}},
     .rejected = 1,
     .code = "invalid_value",
     .message = "service.namespace = \"Search Team\" (the team) is not a slug"},
    {.name = "a project that is no slug",
     .resource = "service.namespace=s:search;service.name=s:My Service",
     .spans = {{.attrs = OPENAI "gen_ai.usage.input_tokens=i:1"}},
     .rejected = 1,
     .code = "invalid_value",
     .message = "service.name = \"My Service\" (the project) is not a slug"},
    {.name = "a team that is no string",
     .resource = "service.namespace=i:7",
     .spans = {{.attrs = OPENAI "gen_ai.usage.input_tokens=i:1"}},
     .rejected = 1,
     .code = "invalid_type",
     .message = "service.namespace (the team) must be a string"},
    REJECT("a user with a control character", OPENAI "user.id=s:a\tb;gen_ai.usage.input_tokens=i:1",
           "invalid_value", "user.id (the user) must be 1 to 256 bytes, no control characters"),

    /* rejected spans */
    REJECT("no provider", "gen_ai.request.model=s:gpt-4o;gen_ai.usage.input_tokens=i:1",
           "missing_field", "no provider"),
    REJECT("no model", "gen_ai.provider.name=s:openai;gen_ai.usage.input_tokens=i:1",
           "missing_field", "no model"),
    REJECT("a model that is no string",
           "gen_ai.provider.name=s:openai;gen_ai.request.model=i:4;"
           "gen_ai.usage.input_tokens=i:1",
           "invalid_type", "gen_ai.request.model must be a string"),
    REJECT("a model with a control character",
           "gen_ai.provider.name=s:openai;gen_ai.request.model=s:gpt\x01;"
           "gen_ai.usage.input_tokens=i:1",
           "invalid_value", "gen_ai.request.model holds control characters"),
    REJECT("a count as a string", OPENAI "gen_ai.usage.input_tokens=s:19", "invalid_type",
           "gen_ai.usage.input_tokens must be an integer"),
    REJECT("a count as a boolean", OPENAI "gen_ai.usage.output_tokens=b:true", "invalid_type",
           "gen_ai.usage.output_tokens must be an integer"),
    REJECT("a negative count", OPENAI "gen_ai.usage.input_tokens=i:-1", "invalid_value",
           "gen_ai.usage.input_tokens must be from 0 to 10000000000"),
    REJECT("a count above the maximum", OPENAI "llm.token_count.completion=i:10000000001",
           "invalid_value", "llm.token_count.completion must be from 0 to 10000000000"),
    REJECT("a fractional count", OPENAI "gen_ai.usage.input_tokens=d:1.5", "invalid_value",
           "gen_ai.usage.input_tokens must be a whole number"),
    REJECT("reasoning above output",
           OPENAI "gen_ai.usage.output_tokens=i:10;gen_ai.usage.reasoning.output_tokens=i:11",
           "invalid_value", "reasoning tokens (11) exceed output tokens (10)"),
    {.name = "a trace id of 15 bytes",
     .spans = {{.trace = "0af7651916cd43dd8448eb211c8031",
                .attrs = OPENAI "gen_ai.usage.input_tokens=i:1"}},
     .rejected = 1,
     .code = "invalid_value",
     .message = "trace_id must be 16 bytes, not all zero (got 15)"},
    {.name = "an all-zero span id",
     .spans = {{.id = "0000000000000000", .attrs = OPENAI "gen_ai.usage.input_tokens=i:1"}},
     .rejected = 1,
     .code = "invalid_value",
     .message = "span_id must be 8 bytes, not all zero (got 8)"},
    {.name = "no end time",
     .spans = {{.end_ns = UINT64_MAX, .attrs = OPENAI "gen_ai.usage.input_tokens=i:1"}},
     .rejected = 1,
     .code = "missing_field",
     .message = "the span has no end_time_unix_nano"},
    {.name = "an end time before 2000",
     .spans = {{.end_ns = 946684799999999999ULL, .attrs = OPENAI "gen_ai.usage.input_tokens=i:1"}},
     .rejected = 1,
     .code = "invalid_value",
     .message = "end_time_unix_nano is before 2000-01-01"},
    {.name = "an end time more than 5 minutes ahead",
     .spans = {{.end_ns = (NOW_US + 300000001LL) * 1000ULL,
                .attrs = OPENAI "gen_ai.usage.input_tokens=i:1"}},
     .rejected = 1,
     .code = "invalid_value",
     .message = "end_time_unix_nano is more than 5 minutes ahead"},
    {.name = "one bad span does not lose the others",
     .spans = {{.attrs = OPENAI "gen_ai.usage.input_tokens=s:x"},
               {.attrs = OPENAI "gen_ai.usage.input_tokens=i:5"},
               {.name = "GET /", .attrs = "http.request.method=s:GET"}},
     .events = 1,
     .ignored = 1,
     .rejected = 1,
     .ev = {{ID(1), {5, 0, 0, 0, 0, 0}, "openai", "gpt-4o", "gpt-4o"}},
     .code = "invalid_type",
     .message = "gen_ai.usage.input_tokens must be an integer"},
};

/* ---- building the request ---- */

static char *dup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    cr_assert(d);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static ProtobufCBinaryData unhex(const char *h)
{
    ProtobufCBinaryData b = {strlen(h) / 2, NULL};
    b.data = malloc(b.len + 1);
    for (size_t i = 0; i < b.len; i++) {
        unsigned v;
        cr_assert(sscanf(h + 2 * i, "%2x", &v) == 1);
        b.data[i] = (uint8_t)v;
    }
    return b;
}

/* Parses "k=T:v;..." into n new KeyValues (malloc'd, for protobuf-c's free). */
static Otlp__KeyValue **parse_attrs(const char *spec, size_t *n)
{
    Otlp__KeyValue **kvs = calloc(64, sizeof(*kvs));
    const char *p = spec;

    *n = 0;
    while (p && *p) {
        const char *end = strchr(p, ';'), *eq = strchr(p, '=');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        Otlp__KeyValue *kv = malloc(sizeof(*kv));
        Otlp__AnyValue *v = malloc(sizeof(*v));
        char *val;

        cr_assert(eq && eq + 2 < p + len + 1 && eq[2] == ':', "bad attribute spec: %s", p);
        otlp__key_value__init(kv);
        otlp__any_value__init(v);
        kv->key = dup(p, (size_t)(eq - p));
        kv->value = v;
        val = dup(eq + 3, len - (size_t)(eq + 3 - p));
        switch (eq[1]) {
        case 's':
            v->value_case = OTLP__ANY_VALUE__VALUE_STRING_VALUE;
            v->string_value = val;
            val = NULL;
            break;
        case 'i':
            v->value_case = OTLP__ANY_VALUE__VALUE_INT_VALUE;
            v->int_value = strtoll(val, NULL, 10);
            break;
        case 'd':
            v->value_case = OTLP__ANY_VALUE__VALUE_DOUBLE_VALUE;
            v->double_value = strtod(val, NULL);
            break;
        case 'b':
            v->value_case = OTLP__ANY_VALUE__VALUE_BOOL_VALUE;
            v->bool_value = strcmp(val, "true") == 0;
            break;
        default: /* n: nothing set */
            break;
        }
        free(val);
        kvs[(*n)++] = kv;
        p = end ? end + 1 : NULL;
    }
    return kvs;
}

/* The row as a protobuf-c request (malloc'd; free with free_unpacked and no allocator). */
static Otlp__ExportTraceServiceRequest *build(const struct genai_case *tc)
{
    Otlp__ExportTraceServiceRequest *req = malloc(sizeof(*req));
    Otlp__ResourceSpans *rs = malloc(sizeof(*rs));
    Otlp__Resource *res = malloc(sizeof(*res));
    size_t nspans = 0;

    otlp__export_trace_service_request__init(req);
    otlp__resource_spans__init(rs);
    otlp__resource__init(res);
    res->attributes = parse_attrs(tc->resource ? tc->resource : RESOURCE, &res->n_attributes);
    rs->resource = res;
    req->resource_spans = malloc(sizeof(*req->resource_spans));
    req->resource_spans[0] = rs;
    req->n_resource_spans = 1;
    while (nspans < MAX_SPANS && tc->spans[nspans].attrs)
        nspans++;
    /* One ScopeSpans per span, so each may have its own scope. */
    rs->scope_spans = calloc(nspans + 1, sizeof(*rs->scope_spans));
    for (size_t i = 0; i < nspans; i++) {
        const struct span_spec *sp = &tc->spans[i];
        Otlp__ScopeSpans *ss = malloc(sizeof(*ss));
        Otlp__InstrumentationScope *scope = malloc(sizeof(*scope));
        Otlp__Span *s = malloc(sizeof(*s));
        char id[17];

        otlp__scope_spans__init(ss);
        otlp__instrumentation_scope__init(scope);
        otlp__span__init(s);
        scope->name = strdup(sp->scope ? sp->scope : "test.scope");
        scope->version = strdup("1.0.0");
        ss->scope = scope;
        ss->spans = malloc(sizeof(*ss->spans));
        ss->spans[0] = s;
        ss->n_spans = 1;
        snprintf(id, sizeof(id), "b7ad6b71692033a%c", (char)('0' + i % 10));
        s->trace_id = unhex(sp->trace ? sp->trace : TRACE);
        s->span_id = unhex(sp->id ? sp->id : id);
        if (sp->parent)
            s->parent_span_id = unhex(sp->parent);
        s->name = strdup(sp->name ? sp->name : "chat");
        s->end_time_unix_nano = sp->end_ns == UINT64_MAX ? 0 : sp->end_ns ? sp->end_ns : END_NS;
        s->start_time_unix_nano = s->end_time_unix_nano ? START_NS : 0;
        s->attributes = parse_attrs(sp->attrs, &s->n_attributes);
        if (sp->status) {
            s->status = malloc(sizeof(*s->status));
            otlp__status__init(s->status);
            s->status->code = sp->status;
        }
        rs->scope_spans[rs->n_scope_spans++] = ss;
    }
    return req;
}

static json_t *int_json(uint64_t v, bool as_string)
{
    char buf[24];
    if (!as_string)
        return json_integer((json_int_t)v);
    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    return json_string(buf);
}

static char *hex_of(const ProtobufCBinaryData *b, bool upper)
{
    char *s = malloc(2 * b->len + 1);
    for (size_t i = 0; i < b->len; i++)
        sprintf(s + 2 * i, upper ? "%02X" : "%02x", b->data[i]);
    s[2 * b->len] = '\0';
    return s;
}

static json_t *attrs_json(Otlp__KeyValue **kvs, size_t n, bool as_string)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const Otlp__AnyValue *v = kvs[i]->value;
        json_t *jv = json_object();
        switch (v->value_case) {
        case OTLP__ANY_VALUE__VALUE_STRING_VALUE:
            json_object_set_new(jv, "stringValue", json_string(v->string_value));
            break;
        case OTLP__ANY_VALUE__VALUE_INT_VALUE:
            if (as_string) {
                char num[24];
                snprintf(num, sizeof(num), "%" PRId64, v->int_value);
                json_object_set_new(jv, "intValue", json_string(num));
            } else {
                json_object_set_new(jv, "intValue", json_integer(v->int_value));
            }
            break;
        case OTLP__ANY_VALUE__VALUE_DOUBLE_VALUE:
            json_object_set_new(jv, "doubleValue", json_real(v->double_value));
            break;
        case OTLP__ANY_VALUE__VALUE_BOOL_VALUE:
            json_object_set_new(jv, "boolValue", json_boolean(v->bool_value));
            break;
        default:
            break;
        }
        json_array_append_new(arr, json_pack("{s:s, s:o}", "key", kvs[i]->key, "value", jv));
    }
    return arr;
}

/* The same request as OTLP/JSON text (hex ids, in upper case when as_string, to check case). */
static char *to_json(const Otlp__ExportTraceServiceRequest *req, bool as_string)
{
    json_t *rss = json_array();
    char *text;

    for (size_t i = 0; i < req->n_resource_spans; i++) {
        const Otlp__ResourceSpans *rs = req->resource_spans[i];
        json_t *sss = json_array();
        for (size_t j = 0; j < rs->n_scope_spans; j++) {
            const Otlp__ScopeSpans *ss = rs->scope_spans[j];
            json_t *spans = json_array();
            for (size_t k = 0; k < ss->n_spans; k++) {
                const Otlp__Span *s = ss->spans[k];
                char *t = hex_of(&s->trace_id, as_string), *sid = hex_of(&s->span_id, false),
                     *p = hex_of(&s->parent_span_id, false);
                json_t *js =
                    json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:i}", "traceId", t, "spanId",
                              sid, "parentSpanId", p, "name", s->name, "startTimeUnixNano",
                              int_json(s->start_time_unix_nano, as_string), "endTimeUnixNano",
                              int_json(s->end_time_unix_nano, as_string), "attributes",
                              attrs_json(s->attributes, s->n_attributes, as_string), "kind", 3);
                if (s->status)
                    json_object_set_new(js, "status", json_pack("{s:i}", "code", s->status->code));
                json_array_append_new(spans, js);
                free(t);
                free(sid);
                free(p);
            }
            json_array_append_new(sss,
                                  json_pack("{s:{s:s, s:s}, s:o}", "scope", "name", ss->scope->name,
                                            "version", ss->scope->version, "spans", spans));
        }
        json_array_append_new(
            rss,
            json_pack("{s:{s:o}, s:o, s:s}", "resource", "attributes",
                      attrs_json(rs->resource->attributes, rs->resource->n_attributes, as_string),
                      "scopeSpans", sss, "schemaUrl", "https://opentelemetry.io/schemas/1.4"));
    }
    json_t *root = json_pack("{s:o}", "resourceSpans", rss);
    text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}

/* ---- checking ---- */

static void check_batch(const struct genai_case *tc, const struct genai_batch *b, const char *how)
{
    cr_expect_eq(b->n_events, tc->events, "%s (%s): %zu events", tc->name, how, b->n_events);
    cr_expect_eq(b->ignored, tc->ignored, "%s (%s): %zu ignored", tc->name, how, b->ignored);
    cr_expect_eq(b->aggregates, tc->aggregates, "%s (%s): %zu aggregates", tc->name, how,
                 b->aggregates);
    cr_expect_eq(b->duplicates, tc->duplicates, "%s (%s): %zu duplicates", tc->name, how,
                 b->duplicates);
    cr_expect_eq(b->rejected, tc->rejected, "%s (%s): %zu rejected", tc->name, how, b->rejected);
    cr_expect_eq(b->spans, b->n_events + b->ignored + b->aggregates + b->duplicates + b->rejected);
    for (size_t i = 0; i < b->n_events && i < tc->events; i++) {
        const struct usage_event *ev = &b->events[i];
        const struct want_event *w = &tc->ev[i];
        const int64_t got[6] = {ev->tokens.input_uncached, ev->tokens.cache_read,
                                ev->tokens.cache_write_5m, ev->tokens.cache_write_1h,
                                ev->tokens.output,         ev->tokens.reasoning};
        cr_expect_str_eq(ev->id, w->id, "%s (%s): id", tc->name, how);
        for (int k = 0; k < 6; k++)
            cr_expect_eq(got[k], w->tok[k], "%s (%s): event %zu token class %d: %" PRId64, tc->name,
                         how, i, k, got[k]);
        cr_expect_str_eq(ev->provider, w->provider, "%s (%s)", tc->name, how);
        cr_expect_str_eq(ev->model, w->model, "%s (%s)", tc->name, how);
        cr_expect_str_eq(ev->requested_model, w->requested, "%s (%s)", tc->name, how);
        cr_expect_str_eq(ev->team, w->team ? w->team : "search", "%s (%s)", tc->name, how);
        cr_expect_str_eq(ev->project, w->project ? w->project : "ranker", "%s (%s)", tc->name, how);
        cr_expect_str_eq(ev->user, w->user ? w->user : "", "%s (%s)", tc->name, how);
        cr_expect_eq(ev->ts_us, END_US, "%s (%s)", tc->name, how);
        cr_expect(ev->ts_given);
        cr_expect_eq(ev->latency_ms, 840, "%s (%s)", tc->name, how);
        cr_expect_eq(ev->mode, MODE_STANDARD);
        cr_expect_eq(ev->api_key_id, 0);
        cr_expect_str_eq(ev->usage_format, "otlp");
        cr_expect(json_is_object(ev->tags));
    }
    if (tc->code) {
        cr_assert_geq(b->n_rejects, 1, "%s (%s)", tc->name, how);
        cr_expect_str_eq(b->rejects[0].code, tc->code, "%s (%s): %s", tc->name, how,
                         b->rejects[0].message);
        cr_expect(strstr(b->rejects[0].message, tc->message) != NULL,
                  "%s (%s): message \"%s\" lacks \"%s\"", tc->name, how, b->rejects[0].message,
                  tc->message);
    }
}

static void same_events(const struct genai_batch *a, const struct genai_batch *b, const char *name)
{
    cr_assert_eq(a->n_events, b->n_events, "%s", name);
    for (size_t i = 0; i < a->n_events; i++) {
        const struct usage_event *x = &a->events[i], *y = &b->events[i];
        cr_expect_str_eq(x->id, y->id, "%s", name);
        cr_expect_eq(x->ts_us, y->ts_us, "%s", name);
        cr_expect_eq(x->status, y->status, "%s", name);
        cr_expect_eq(memcmp(&x->tokens, &y->tokens, sizeof(x->tokens)), 0, "%s", name);
        cr_expect_str_eq(x->request_id, y->request_id, "%s", name);
        cr_expect(json_equal(x->tags, y->tags), "%s: tags", name);
    }
    for (size_t i = 0; i < a->n_rejects && i < b->n_rejects; i++)
        cr_expect_str_eq(a->rejects[i].message, b->rejects[i].message, "%s", name);
}

static struct genai_mapping *mapping;

static void setup(void)
{
    mapping = genai_mapping_new();
    cr_assert(mapping);
}

static void teardown(void)
{
    genai_mapping_free(&mapping);
}

#define N_CASES (sizeof(genai_cases) / sizeof(genai_cases[0]))

/*
 * The parameters are row numbers: Criterion copies parameters into the
 * test's process, where the pointers inside a row would not be valid, but
 * the table itself is.
 */
ParameterizedTestParameters(genai, map)
{
    static size_t rows[N_CASES];
    for (size_t i = 0; i < N_CASES; i++)
        rows[i] = i;
    return cr_make_param_array(size_t, rows, N_CASES);
}

ParameterizedTest(size_t *row, genai, map, .init = setup, .fini = teardown)
{
    const struct genai_case *tc = &genai_cases[*row];
    Otlp__ExportTraceServiceRequest *req = build(tc);
    size_t n = otlp__export_trace_service_request__get_packed_size(req);
    uint8_t *bytes = malloc(n + 1);
    struct genai_batch pb, js, jn;
    struct otlp_error err;
    char *text;

    otlp__export_trace_service_request__pack(req, bytes);
    cr_assert_eq(
        otlp_decode_traces(mapping, OTLP_PROTOBUF, bytes, n, NULL, NOW_US, NULL, &pb, &err),
        OTLP_OK, "%s: %s", tc->name, err.message);
    check_batch(tc, &pb, "protobuf");

    text = to_json(req, true);
    cr_assert_eq(
        otlp_decode_traces(mapping, OTLP_JSON, text, strlen(text), NULL, NOW_US, NULL, &js, &err),
        OTLP_OK, "%s: %s", tc->name, err.message);
    check_batch(tc, &js, "json, strings");
    same_events(&pb, &js, tc->name);
    free(text);

    text = to_json(req, false);
    cr_assert_eq(
        otlp_decode_traces(mapping, OTLP_JSON, text, strlen(text), NULL, NOW_US, NULL, &jn, &err),
        OTLP_OK, "%s: %s", tc->name, err.message);
    check_batch(tc, &jn, "json, numbers");
    same_events(&pb, &jn, tc->name);
    free(text);

    genai_batch_clear(&pb);
    genai_batch_clear(&js);
    genai_batch_clear(&jn);
    cr_expect_eq(pb.events, NULL);
    free(bytes);
    protobuf_c_message_free_unpacked(&req->base, NULL);
}

/* ---- one request, looked at closely ---- */

/* Decodes a JSON request with the default mapping. */
static struct genai_batch decode_json(const char *json, const char *default_team)
{
    struct genai_batch b;
    struct otlp_error err;
    cr_assert_eq(otlp_decode_traces(mapping, OTLP_JSON, json, strlen(json), NULL, NOW_US,
                                    default_team, &b, &err),
                 OTLP_OK, "%s", err.message);
    return b;
}

#define SPAN_JSON(attrs)                                                                           \
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":["                                          \
    "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"ranker\"}},"                           \
    "{\"key\":\"service.version\",\"value\":{\"stringValue\":\"2.1.0\"}},"                         \
    "{\"key\":\"deployment.environment.name\",\"value\":{\"stringValue\":\"prod\"}}]},"            \
    "\"scopeSpans\":[{\"scope\":{\"name\":\"opentelemetry.instrumentation.openai\"},"              \
    "\"spans\":[{\"traceId\":\"" TRACE "\",\"spanId\":\"" SPAN(                                    \
        0) "\","                                                                                   \
           "\"name\":\"chat gpt-4o\",\"startTimeUnixNano\":\"1795773539283456789\","               \
           "\"endTimeUnixNano\":\"1795773540123456789\",\"status\":{\"code\":2},"                  \
           "\"attributes\":[" attrs "]}]}]}]}"
#define ATTR_S(k, v) "{\"key\":\"" k "\",\"value\":{\"stringValue\":\"" v "\"}}"
#define ATTR_I(k, v) "{\"key\":\"" k "\",\"value\":{\"intValue\":\"" v "\"}}"
#define USAGE_ATTRS                                                                                \
    ATTR_S("gen_ai.provider.name", "openai")                                                       \
    "," ATTR_S("gen_ai.request.model", "gpt-4o") "," ATTR_I(                                       \
        "gen_ai.usage.input_tokens", "12") "," ATTR_S("gen_ai.operation.name", "chat")

Test(genai, event_fields, .init = setup, .fini = teardown)
{
    struct genai_batch b =
        decode_json(SPAN_JSON(USAGE_ATTRS "," ATTR_S("tollgate.team", "search") "," ATTR_S(
                        "tollgate.request_id", "req_42") "," ATTR_I("user.id", "7")),
                    NULL);
    const struct usage_event *ev = &b.events[0];
    json_t *want =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "otel.scope", "opentelemetry.instrumentation.openai",
                  "service.name", "ranker", "service.version", "2.1.0",
                  "deployment.environment.name", "prod", "gen_ai.operation.name", "chat");

    cr_assert_eq(b.n_events, 1);
    cr_expect_str_eq(ev->id, ID(0));
    cr_expect_eq(ev->ts_us, END_US);
    cr_expect_eq(ev->latency_ms, 840);
    cr_expect_eq(ev->status, EVENT_ERROR);
    cr_expect_str_eq(ev->team, "search");
    cr_expect_str_eq(ev->project, "ranker");
    cr_expect_str_eq(ev->user, "7");
    cr_expect_str_eq(ev->request_id, "req_42");
    cr_expect(json_equal(ev->tags, want), "tags: %s", json_dumps(ev->tags, 0));
    json_decref(want);
    genai_batch_clear(&b);
}

Test(genai, default_team, .init = setup, .fini = teardown)
{
    struct genai_batch b = decode_json(SPAN_JSON(USAGE_ATTRS), "platform");
    struct otlp_error err;

    cr_assert_eq(b.n_events, 1);
    cr_expect_str_eq(b.events[0].team, "platform");
    genai_batch_clear(&b);
    /* an attribute still wins over the default */
    b = decode_json(SPAN_JSON(USAGE_ATTRS "," ATTR_S("tollgate.team", "search")), "platform");
    cr_expect_str_eq(b.events[0].team, "search");
    genai_batch_clear(&b);
    /* without a default: rejected */
    b = decode_json(SPAN_JSON(USAGE_ATTRS), NULL);
    cr_expect_eq(b.rejected, 1);
    genai_batch_clear(&b);
    /* a default that is no slug is the caller's error */
    cr_expect_eq(
        otlp_decode_traces(mapping, OTLP_JSON, "{}", 2, NULL, NOW_US, "Bad Team", &b, &err),
        OTLP_EINVAL);
    cr_expect_eq(b.events, NULL);
}

Test(genai, custom_mapping, .init = setup, .fini = teardown)
{
    char err[128], buf[256];
    struct genai_batch b;

    cr_assert(genai_mapping_set(mapping, GENAI_TEAM, " k8s.namespace.name ,tollgate.team", err,
                                sizeof(err)),
              "%s", err);
    cr_assert(genai_mapping_set(mapping, GENAI_PROJECT, "", err, sizeof(err)), "%s", err);
    cr_assert(genai_mapping_set(mapping, GENAI_TAGS, "service.version", err, sizeof(err)));
    genai_mapping_format(mapping, GENAI_TEAM, buf, sizeof(buf));
    cr_expect_str_eq(buf, "k8s.namespace.name,tollgate.team");
    genai_mapping_format(mapping, GENAI_PROJECT, buf, sizeof(buf));
    cr_expect_str_eq(buf, "");

    b = decode_json(SPAN_JSON(USAGE_ATTRS "," ATTR_S("k8s.namespace.name",
                                                     "ml") "," ATTR_S("tollgate.team", "search")),
                    NULL);
    cr_assert_eq(b.n_events, 1);
    cr_expect_str_eq(b.events[0].team, "ml");
    cr_expect_str_eq(b.events[0].project, "");
    cr_expect_eq(json_object_size(b.events[0].tags), 2); /* otel.scope, service.version */
    genai_batch_clear(&b);

    /* the exclusive-scope list */
    cr_assert(genai_mapping_set(mapping, GENAI_EXCLUSIVE_SCOPE,
                                "opentelemetry.instrumentation.openai", err, sizeof(err)));
    b = decode_json(SPAN_JSON(USAGE_ATTRS "," ATTR_S("tollgate.team", "search") "," ATTR_I(
                        "gen_ai.usage.cache_read.input_tokens", "5")),
                    NULL);
    cr_expect_eq(b.events[0].tokens.input_uncached, 12);
    cr_expect_eq(b.events[0].tokens.cache_read, 5);
    genai_batch_clear(&b);
}

Test(genai, mapping_set_errors, .init = setup, .fini = teardown)
{
    char err[128], before[256], after[256];
    char long_name[GENAI_NAME_MAX + 2];

    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    genai_mapping_format(mapping, GENAI_TEAM, before, sizeof(before));
    cr_expect_str_eq(before, "tollgate.team,service.namespace");
    cr_expect_not(genai_mapping_set(mapping, GENAI_TEAM, "a,,b", err, sizeof(err)));
    cr_expect_str_eq(err, "team: an empty name in the list");
    cr_expect_not(genai_mapping_set(mapping, GENAI_TEAM, "a,", err, sizeof(err)));
    cr_expect_not(genai_mapping_set(mapping, GENAI_TEAM, "a b", err, sizeof(err)));
    cr_expect_not(genai_mapping_set(mapping, GENAI_TEAM, "a,b,c,d,e,f,g,h,i", err, sizeof(err)));
    cr_expect_str_eq(err, "team: at most 8 names");
    cr_expect_not(genai_mapping_set(mapping, GENAI_TEAM, long_name, err, sizeof(err)));
    cr_expect_not(genai_mapping_set(mapping, GENAI_TAGS,
                                    "a23456789012345678901234567890123456789012345678901234567890"
                                    "12345",
                                    err, sizeof(err)));
    cr_expect_not(genai_mapping_set(mapping, GENAI_FIELD_COUNT, "a", err, sizeof(err)));
    cr_expect_not(genai_mapping_set(mapping, GENAI_USER, "caf\xc3\xa9", err, sizeof(err)));
    genai_mapping_format(mapping, GENAI_TEAM, after, sizeof(after));
    cr_expect_str_eq(after, before);
    /* format never writes half a name */
    genai_mapping_format(mapping, GENAI_TEAM, after, 20);
    cr_expect_str_eq(after, "tollgate.team");
}

/* A request of n spans, each rejected (no team): the reject list is capped, the count is not. */
Test(genai, many_rejects_and_summary, .init = setup, .fini = teardown)
{
    size_t n = GENAI_REJECTS_MAX + 50;
    json_t *spans = json_array();
    char *text, summary[300];
    struct genai_batch b;

    for (size_t i = 0; i < n; i++) {
        char sid[17];
        snprintf(sid, sizeof(sid), "%016zx", i + 1);
        json_array_append_new(
            spans,
            json_pack("{s:s, s:s, s:s, s:[{s:s, s:{s:s}}, {s:s, s:{s:s}}, {s:s, s:{s:i}}]}",
                      "traceId", TRACE, "spanId", sid, "endTimeUnixNano", "1795773540123456789",
                      "attributes", "key", "gen_ai.provider.name", "value", "stringValue", "openai",
                      "key", "gen_ai.request.model", "value", "stringValue", "gpt-4o", "key",
                      "gen_ai.usage.input_tokens", "value", "intValue", 3));
    }
    json_t *root = json_pack("{s:[{s:[{s:o}]}]}", "resourceSpans", "scopeSpans", "spans", spans);
    text = json_dumps(root, 0);
    json_decref(root);
    b = decode_json(text, NULL);
    free(text);
    cr_expect_eq(b.spans, n);
    cr_expect_eq(b.rejected, n);
    cr_expect_eq(b.n_rejects, GENAI_REJECTS_MAX);
    cr_expect_eq(b.rejects[GENAI_REJECTS_MAX - 1].span, GENAI_REJECTS_MAX - 1);
    cr_expect_str_eq(b.rejects[1].event_id, TRACE "-0000000000000002");

    genai_batch_summary(&b, summary, sizeof(summary));
    const char *prefix = "150 of 150 spans rejected: span 0 (" TRACE "-0000000000000001): "
                         "no team: none of tollgate.team,service.namespace is set; span 1 (";
    cr_expect_eq(strncmp(summary, prefix, strlen(prefix)), 0, "%s", summary);
    cr_expect(strlen(summary) < sizeof(summary));
    cr_expect_str_eq(summary + strlen(summary) - 5, "; ...");
    genai_batch_summary(&b, summary, 10);
    cr_expect_str_eq(summary, "150 of 15");
    genai_batch_clear(&b);

    /* nothing rejected: an empty summary */
    genai_batch_summary(&b, summary, sizeof(summary));
    cr_expect_str_eq(summary, "");
}

Test(genai, slugs)
{
    cr_expect(event_slug_valid("search"));
    cr_expect(event_slug_valid("a.b_c-9"));
    cr_expect(event_slug_valid("0"));
    cr_expect_not(event_slug_valid(""));
    cr_expect_not(event_slug_valid(NULL));
    cr_expect_not(event_slug_valid("-a"));
    cr_expect_not(event_slug_valid("Search"));
    cr_expect_not(event_slug_valid("a b"));
    cr_expect_not(event_slug_valid(
        "a234567890123456789012345678901234567890123456789012345678901234")); /* 64 */
}
