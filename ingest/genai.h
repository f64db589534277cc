/*
 * genai: maps the spans of a parsed OTLP trace request (otlp.h) that carry
 * GenAI token usage to usage events, following the attribute sets of
 * ../shared FORMATS (OTel GenAI semconv, its names before 1.27, Traceloop /
 * OpenLLMetry, OpenInference, Vercel AI SDK), and the mapping config for
 * team, project, user, request id and tags. Pure: no I/O, no clock. A
 * mapping is built once and then read-only: any number of threads may
 * share it. A batch owns its events (their tags) until genai_batch_clear.
 *
 * The rules, span by span, in document order (request -> resource_spans ->
 * scope_spans -> spans; "span N" counts from 0 across the whole request):
 *
 * 1. Usage. A span has usage when it carries a token attribute of one of
 *    these sets; the first set present wins:
 *    - Vercel AI SDK: ai.usage.inputTokens, .outputTokens,
 *      .inputTokenDetails.{noCacheTokens,cacheReadTokens,cacheWriteTokens},
 *      .outputTokenDetails.reasoningTokens; v5's .cachedInputTokens and
 *      .reasoningTokens, v4's .promptTokens and .completionTokens.
 *      uncached = noCacheTokens, else inputTokens (promptTokens) less the
 *      cache (rule 6); cache read = cacheReadTokens (cachedInputTokens);
 *      cache write = cacheWriteTokens; output = outputTokens
 *      (completionTokens); reasoning = reasoningTokens.
 *    - OpenInference: llm.token_count.prompt less the cache (rule 6),
 *      .prompt_details.cache_read, .prompt_details.cache_write,
 *      .completion, .completion_details.reasoning.
 *    - OTel GenAI: gen_ai.usage.input_tokens (before 1.27: prompt_tokens)
 *      less the cache (rule 6), gen_ai.usage.cache_read.input_tokens,
 *      gen_ai.usage.cache_creation.input_tokens, gen_ai.usage.output_tokens
 *      (before 1.27: completion_tokens), gen_ai.usage.reasoning.output_tokens.
 *      Traceloop's older names stand in when the current ones are absent:
 *      gen_ai.usage.cache_read_input_tokens, .cache_creation_input_tokens,
 *      .reasoning_tokens (llm.usage.total_tokens alone is no usage).
 *    A cache write is a 5-minute write (cache_write_5m). Counts are
 *    intValue or an integral doubleValue, 0..EVENT_MAX_TOKENS; reasoning
 *    may not exceed output. A span without usage is counted in `ignored`.
 * 2. Vercel leaf rule. The AI SDK repeats usage on its outer spans
 *    (ai.generateText, ai.streamText, ai.generateObject, ...): a span with
 *    ai.usage.* counts only if its ai.operationId attribute (else its
 *    name) ends in ".doGenerate" or ".doStream". Others: `aggregates`.
 *    This holds whatever the batching: it needs no other span.
 * 3. Parent rule. A span that is the parent (same trace id, its span id as
 *    parent_span_id) of another span with usage in the same request is an
 *    aggregate or a second instrumentation of the same call: `aggregates`.
 *    Only spans in the same request are seen.
 * 4. Dedupe. Of the spans left with the same gen_ai.response.id, the first
 *    counts and the others are `duplicates` (two instrumentations of one
 *    call). Within one request only.
 * 5. Event. Id: the trace id in lowercase hex, "-", the span id in hex (so
 *    a re-export is a duplicate); both ids must have their OTLP length
 *    (16 and 8 bytes) and not be all zero. Timestamp: the span's end time
 *    (ns -> us, truncated), from 2000 to now + EVENT_FUTURE_SLACK.
 *    latency_ms: end - start when both are set. status: error when the
 *    span status code is ERROR (2). mode: standard. Model:
 *    gen_ai.response.model, llm.response.model_name, llm.model_name,
 *    ai.response.model, gen_ai.request.model, llm.request.model_name,
 *    ai.model.id (first set); requested_model: gen_ai.request.model,
 *    llm.request.model_name, ai.model.id, else the model. Provider:
 *    gen_ai.provider.name, gen_ai.system (before 1.37), llm.provider,
 *    llm.system, ai.model.provider, kept as sent (the catalog resolves
 *    aliases), except on spans with Vercel AI SDK usage: the AI SDK names
 *    its providers "<provider>.<api>" ("openai.chat", "azure.responses",
 *    "google.vertex.chat"), so only the part before the first '.' is kept,
 *    and its names "amazon-bedrock", "togetherai" and "vertex" become the
 *    catalog's "aws", "together" and "google". usage_format "otlp".
 *    Team, project, user, request id: the mapping's attribute names in
 *    order, each looked up on the span, then on the resource (so a
 *    tollgate.* span attribute wins over the resource, and over
 *    service.*). Team and project must be slugs; "unknown_service" and
 *    "unknown_service:*" (the SDKs' placeholder service.name) count as
 *    absent. A span with no team takes the default team, if the caller
 *    gave one. Tags: "otel.scope" (the scope name) and the mapping's tag
 *    attributes (span first, then resource; string, integer or boolean
 *    values), at most EVENT_TAGS_MAX; values that are too long are left
 *    out.
 *    A span that breaks any of these is rejected, with a reason.
 * 6. Anthropic input. Under the spec, OpenInference and the AI SDK v6 the
 *    input count includes the cache; Traceloop's Anthropic instrumentation
 *    and AI SDK v5 send Anthropic's own count, which excludes it. The
 *    input is taken as exclusive (uncached = input) when the span's
 *    instrumentation scope name is in the mapping's exclusive-scope list,
 *    or when cache read + cache write exceed it; otherwise uncached =
 *    input - cache read - cache write.
 *
 * spans = n_events + ignored + aggregates + duplicates + rejected, always.
 */
#ifndef TOLLGATE_GENAI_H
#define TOLLGATE_GENAI_H

#include "event.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The fields of the mapping config, each a list of attribute names. */
enum genai_field {
    GENAI_TEAM = 0,        /* default: tollgate.team, service.namespace */
    GENAI_PROJECT,         /* default: tollgate.project, service.name */
    GENAI_USER,            /* default: tollgate.user, user.id, enduser.id */
    GENAI_REQUEST_ID,      /* default: tollgate.request_id */
    GENAI_TAGS,            /* default: service.name, service.version, deployment.environment.name,
                              deployment.environment, gen_ai.operation.name */
    GENAI_EXCLUSIVE_SCOPE, /* scope names whose input count excludes the cache; default:
                              @traceloop/instrumentation-anthropic */
    GENAI_FIELD_COUNT
};

#define GENAI_NAMES_MAX    8   /* names per field */
#define GENAI_NAME_MAX     128 /* bytes per name (tag names: EVENT_TAG_KEY_MAX) */
#define GENAI_REJECTS_MAX  100 /* rejected spans described in a batch (all are counted) */
#define GENAI_EVENT_ID_LEN 49  /* 32 hex + '-' + 16 hex */

struct genai_mapping;

/* A mapping with the defaults above; NULL when out of memory. */
struct genai_mapping *genai_mapping_new(void);

/* Frees *mp and sets it to NULL; NULL is fine. */
void genai_mapping_free(struct genai_mapping **mp);

/*
 * Sets field f to the comma-separated attribute names in names (blanks
 * around each are ignored; "" empties the list). Each name is 1 to
 * GENAI_NAME_MAX bytes of printable ASCII without blanks or commas (tag
 * names at most EVENT_TAG_KEY_MAX), at most GENAI_NAMES_MAX of them.
 * Returns false with the reason in err (and the field unchanged) otherwise.
 */
bool genai_mapping_set(struct genai_mapping *m, enum genai_field f, const char *names, char *err,
                       size_t errlen) __attribute__((warn_unused_result));

/* Writes field f as the comma-separated list genai_mapping_set takes (for a config dump). */
void genai_mapping_format(const struct genai_mapping *m, enum genai_field f, char *buf, size_t cap);

/* A span that had usage but could not become an event. */
struct genai_reject {
    size_t span;                           /* its index in the request, from 0 */
    char event_id[GENAI_EVENT_ID_LEN + 1]; /* "" when its ids were unusable */
    const char *code;                      /* static: missing_field, invalid_type, invalid_value */
    char message[224];                     /* valid UTF-8, names the attribute */
};

/*
 * What a request held. events[0..n_events) are complete, validated events
 * (the rules of event_decode hold for them). The caller may move one out:
 * copy the struct and set events[i].tags to NULL.
 */
struct genai_batch {
    struct usage_event *events;
    size_t n_events;
    size_t spans;      /* every span in the request */
    size_t ignored;    /* spans without GenAI usage */
    size_t aggregates; /* usage spans not counted: Vercel outer spans, parents of usage spans */
    size_t duplicates; /* usage spans repeating an earlier gen_ai.response.id */
    size_t rejected;   /* usage spans that could not become events */
    struct genai_reject *rejects; /* the first GENAI_REJECTS_MAX of them */
    size_t n_rejects;
};

struct Otlp__ExportTraceServiceRequest;

enum genai_status {
    GENAI_OK = 0,
    GENAI_ENOMEM,  /* an allocation failed */
    GENAI_ETOOBIG, /* the events would take more than max_bytes */
};

/* The bytes an event is counted as against max_bytes: the struct and its tags. */
#define GENAI_EVENT_COST (sizeof(struct usage_event) + 512)

/*
 * Maps req's spans to *out (zeroed first) by the rules above. now_us is
 * the receive time. default_team is NULL or a slug (not checked here: see
 * otlp_decode_traces). max_bytes caps the batch: spans that would become
 * events, times GENAI_EVENT_COST (a usage_event is about 1.6 KB, so a
 * request of tiny spans could otherwise take far more memory than its
 * body). On GENAI_ENOMEM or GENAI_ETOOBIG *out is zeroed (nothing to free).
 */
enum genai_status genai_map(const struct genai_mapping *m,
                            const struct Otlp__ExportTraceServiceRequest *req, int64_t now_us,
                            const char *default_team, size_t max_bytes, struct genai_batch *out)
    __attribute__((warn_unused_result));

/* Frees what b holds (events and their tags, rejects) and zeroes it. */
void genai_batch_clear(struct genai_batch *b);

/*
 * Writes a one-line account of b's rejections for partial_success's
 * error_message: "2 of 7 spans rejected: span 3 (<id>): <reason>; span 5
 * ...", as many as fit in cap bytes (cut at a character boundary, with
 * "..."). "" when nothing was rejected. Always NUL-terminates (cap > 0).
 */
void genai_batch_summary(const struct genai_batch *b, char *buf, size_t cap);

#endif
