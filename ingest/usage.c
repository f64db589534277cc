/*
 * usage: decoders from providers' own usage objects to struct tokens, one
 * per format, chosen by name from a table; the rules that name a format
 * from an object's shape; and the reading of a provider's whole response
 * (its usage, model, id and service tier). The FORMATS mapping rows are
 * the spec; each decoder checks types and that parts do not exceed their
 * whole. Allocates nothing; the JSON is only read. Any thread.
 */
#include "usage.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define FIELD_MAX sizeof(((struct event_error *)0)->field)

/* The full path of member rel under prefix ("usage" + "a.b" = "usage.a.b"); rel "" is prefix. */
static const char *at(char buf[FIELD_MAX], const char *prefix, const char *rel)
{
    size_t n = strlen(prefix), r = strlen(rel);

    /* Every path this file builds is ASCII and fits; cutting one is only a safeguard. */
    n = n < FIELD_MAX - 1 ? n : FIELD_MAX - 1;
    memcpy(buf, prefix, n);
    if (r && n < FIELD_MAX - 1)
        buf[n++] = '.';
    r = r < FIELD_MAX - 1 - n ? r : FIELD_MAX - 1 - n;
    memcpy(buf + n, rel, r);
    buf[n + r] = '\0';
    return buf;
}

/* A member's value, with JSON null read as absent (NULL); NULL obj has no members. */
static const json_t *member(const json_t *obj, const char *name)
{
    const json_t *v = obj ? json_object_get(obj, name) : NULL;
    return json_is_null(v) ? NULL : v;
}

/* True if the JSON string v is exactly s (no NUL inside). */
static bool str_is(const json_t *v, const char *s)
{
    return json_is_string(v) && strcmp(json_string_value(v), s) == 0 &&
           json_string_length(v) == strlen(s);
}

/*
 * Reads the token count at rel (a path under usage; its last component is
 * the member of obj) into *out: an integer from 0 to EVENT_MAX_TOKENS.
 * Absent or null is 0 unless required. *given tells whether it was there
 * (given may be NULL).
 */
static bool count(const json_t *obj, const char *prefix, const char *rel, bool required,
                  int64_t *out, bool *given, struct event_error *err)
{
    const char *name = strrchr(rel, '.');
    const json_t *v = member(obj, name ? name + 1 : rel);
    char p[FIELD_MAX];
    json_int_t n;

    if (given)
        *given = v != NULL;
    if (!v) {
        if (required)
            return event_fail(err, 400, "missing_field", at(p, prefix, rel), "%s is required", p);
        *out = 0;
        return true;
    }
    if (!json_is_integer(v))
        return event_fail(err, 400, "invalid_type", at(p, prefix, rel), "%s must be an integer", p);
    n = json_integer_value(v);
    if (n < 0 || n > EVENT_MAX_TOKENS)
        return event_fail(err, 422, "invalid_value", at(p, prefix, rel),
                          "%s must be from 0 to %lld", p, (long long)EVENT_MAX_TOKENS);
    *out = (int64_t)n;
    return true;
}

/* An optional nested object at rel (null reads as absent): *out is NULL when absent. */
static bool details(const json_t *usage, const char *prefix, const char *rel, const json_t **out,
                    struct event_error *err)
{
    const json_t *v = member(usage, rel);
    char p[FIELD_MAX];

    if (v && !json_is_object(v))
        return event_fail(err, 400, "invalid_type", at(p, prefix, rel), "%s must be an object", p);
    *out = v;
    return true;
}

/* ---- service tiers to modes ---- */

#define SAYS_NOTHING (-1) /* a tier value that leaves the mode alone */

struct tier {
    const char *name;
    int mode; /* an enum usage_mode, or SAYS_NOTHING */
};

/*
 * OpenAI service_tier (the SDK's 'auto' | 'default' | 'flex' | 'scale' |
 * 'priority'), and "batch" for the batch endpoint's calls. Scale Tier
 * (committed capacity) has no mode of its own: it is priced as standard.
 */
static const struct tier openai_tiers[] = {
    {"default", MODE_STANDARD},
    {"auto", MODE_STANDARD},
    {"scale", MODE_STANDARD},
    {"flex", MODE_FLEX},
    {"priority", MODE_PRIORITY},
    {"batch", MODE_BATCH},
    {NULL, 0},
};

/* Anthropic usage.service_tier: 'standard' | 'priority' | 'batch'. */
static const struct tier anthropic_tiers[] = {
    {"standard", MODE_STANDARD},
    {"priority", MODE_PRIORITY},
    {"batch", MODE_BATCH},
    {NULL, 0},
};

/*
 * Gemini usageMetadata.trafficType (enum TrafficType). Off-peak and
 * provisioned throughput have no mode of their own: they are priced at the
 * standard rates (provisioned throughput's list price is its shadow cost);
 * a client that knows better sends `mode`. UNSPECIFIED says nothing.
 */
static const struct tier gemini_tiers[] = {
    {"ON_DEMAND", MODE_STANDARD},
    {"ON_DEMAND_PRIORITY", MODE_PRIORITY},
    {"ON_DEMAND_FLEX", MODE_FLEX},
    {"ON_DEMAND_OFFPEAK", MODE_STANDARD},
    {"PROVISIONED_THROUGHPUT", MODE_STANDARD},
    {"TRAFFIC_TYPE_UNSPECIFIED", SAYS_NOTHING},
    {NULL, 0},
};

/* Bedrock ServiceTierType: reserved capacity is priced at the standard rates. */
static const struct tier bedrock_tiers[] = {
    {"default", MODE_STANDARD},  {"flex", MODE_FLEX}, {"priority", MODE_PRIORITY},
    {"reserved", MODE_STANDARD}, {NULL, 0},
};

/*
 * The tier v (a string; the member rel under prefix) into *mode by the
 * table; known lists the values for the error message.
 */
static bool tier_string(const json_t *v, const char *prefix, const char *rel,
                        const struct tier *table, const char *known, enum usage_mode *mode,
                        struct event_error *err)
{
    char p[FIELD_MAX];

    if (!json_is_string(v))
        return event_fail(err, 400, "invalid_type", at(p, prefix, rel), "%s must be a string", p);
    for (const struct tier *t = table; t->name; t++) {
        if (str_is(v, t->name)) {
            if (t->mode != SAYS_NOTHING)
                *mode = (enum usage_mode)t->mode;
            return true;
        }
    }
    return event_fail(err, 422, "invalid_value", at(p, prefix, rel),
                      "unknown %s (known: %s); give the event's mode explicitly", p, known);
}

/*
 * A format's tier reader: the tier value v (member rel under prefix, for
 * errors) into *mode; a value that says nothing leaves *mode alone.
 */
typedef bool tier_fn(const json_t *v, const char *prefix, const char *rel, enum usage_mode *mode,
                     struct event_error *err);

static bool openai_tier(const json_t *v, const char *prefix, const char *rel, enum usage_mode *mode,
                        struct event_error *err)
{
    return tier_string(v, prefix, rel, openai_tiers, "default, auto, scale, flex, priority, batch",
                       mode, err);
}

static bool anthropic_tier(const json_t *v, const char *prefix, const char *rel,
                           enum usage_mode *mode, struct event_error *err)
{
    return tier_string(v, prefix, rel, anthropic_tiers, "standard, priority, batch", mode, err);
}

static bool gemini_tier(const json_t *v, const char *prefix, const char *rel, enum usage_mode *mode,
                        struct event_error *err)
{
    return tier_string(v, prefix, rel, gemini_tiers,
                       "ON_DEMAND, ON_DEMAND_PRIORITY, ON_DEMAND_FLEX, ON_DEMAND_OFFPEAK, "
                       "PROVISIONED_THROUGHPUT, TRAFFIC_TYPE_UNSPECIFIED",
                       mode, err);
}

/* Bedrock's serviceTier: the SDK's ServiceTier object {type}, or a bare ServiceTierType. */
static bool bedrock_tier(const json_t *v, const char *prefix, const char *rel,
                         enum usage_mode *mode, struct event_error *err)
{
    char sub[FIELD_MAX];

    if (json_is_object(v)) {
        v = member(v, "type");
        if (!v)
            return true;
        snprintf(sub, sizeof(sub), "%s.type", rel);
        rel = sub;
    }
    return tier_string(v, prefix, rel, bedrock_tiers, "default, flex, priority, reserved", mode,
                       err);
}

/* usage.name as a tier, when present and mode is wanted. Read last by every decoder. */
static bool usage_tier(const json_t *usage, const char *prefix, const char *name, tier_fn *read,
                       enum usage_mode *mode, struct event_error *err)
{
    const json_t *v = member(usage, name);
    return !mode || !v || read(v, prefix, name, mode, err);
}

/* ---- the decoders ---- */

/* The member names of OpenAI's two usage objects (paths relative to usage). */
struct openai_shape {
    const char *in, *out, *in_details, *out_details;
    const char *cached, *cache_write, *reasoning;
};

static const struct openai_shape chat_shape = {
    "prompt_tokens",
    "completion_tokens",
    "prompt_tokens_details",
    "completion_tokens_details",
    "prompt_tokens_details.cached_tokens",
    "prompt_tokens_details.cache_write_tokens",
    "completion_tokens_details.reasoning_tokens",
};

static const struct openai_shape responses_shape = {
    "input_tokens",
    "output_tokens",
    "input_tokens_details",
    "output_tokens_details",
    "input_tokens_details.cached_tokens",
    "input_tokens_details.cache_write_tokens",
    "output_tokens_details.reasoning_tokens",
};

/*
 * OpenAI's usage, in either shape: the input count includes the cached and
 * cache-written tokens, the output count the reasoning. Other members
 * (total_tokens, audio and prediction tokens) are ignored.
 */
static bool decode_openai(const struct openai_shape *s, const json_t *usage, const char *pre,
                          struct tokens *t, enum usage_mode *mode, struct event_error *err)
{
    const json_t *itd = NULL, *otd = NULL;
    int64_t in, out, cached, cache_write, reasoning;
    char p[FIELD_MAX];

    if (!count(usage, pre, s->in, true, &in, NULL, err) ||
        !count(usage, pre, s->out, true, &out, NULL, err) ||
        !details(usage, pre, s->in_details, &itd, err) ||
        !count(itd, pre, s->cached, false, &cached, NULL, err) ||
        !count(itd, pre, s->cache_write, false, &cache_write, NULL, err) ||
        !details(usage, pre, s->out_details, &otd, err) ||
        !count(otd, pre, s->reasoning, false, &reasoning, NULL, err))
        return false;
    if (cached > in)
        return event_fail(err, 422, "invalid_value", at(p, pre, s->cached),
                          "cached_tokens is part of %s and cannot exceed it", s->in);
    if (cached + cache_write > in)
        return event_fail(err, 422, "invalid_value", at(p, pre, s->cache_write),
                          "cached_tokens + cache_write_tokens are part of %s and cannot exceed it",
                          s->in);
    if (reasoning > out)
        return event_fail(err, 422, "invalid_value", at(p, pre, s->reasoning),
                          "reasoning_tokens is part of %s and cannot exceed it", s->out);
    if (!usage_tier(usage, pre, "service_tier", openai_tier, mode, err))
        return false;
    t->input_uncached = in - cached - cache_write;
    t->cache_read = cached;
    t->cache_write_5m = cache_write;
    t->cache_write_1h = 0;
    t->output = out;
    t->reasoning = reasoning;
    return true;
}

/* OpenAI Chat Completions `usage` (CompletionUsage). */
static bool decode_openai_chat(const json_t *usage, const char *pre, struct tokens *t,
                               enum usage_mode *mode, struct event_error *err)
{
    return decode_openai(&chat_shape, usage, pre, t, mode, err);
}

/* OpenAI Responses `usage` (ResponseUsage). */
static bool decode_openai_responses(const json_t *usage, const char *pre, struct tokens *t,
                                    enum usage_mode *mode, struct event_error *err)
{
    return decode_openai(&responses_shape, usage, pre, t, mode, err);
}

/*
 * Anthropic Messages `usage` (Usage): input_tokens excludes the cache.
 * Cache writes by TTL from cache_creation; cache_creation_input_tokens is
 * their total, and any part of it the breakdown does not cover (or all of
 * it, without a breakdown) counts as 5m, the default TTL.
 * output_tokens_details.thinking_tokens is the reasoning inside
 * output_tokens. server_tool_use, inference_geo and speed are ignored.
 */
static bool decode_anthropic_messages(const json_t *usage, const char *pre, struct tokens *t,
                                      enum usage_mode *mode, struct event_error *err)
{
    const json_t *cc = NULL, *otd = NULL;
    int64_t in, out, read, create, e5m, e1h, thinking;
    bool create_given;
    char p[FIELD_MAX];

    if (!count(usage, pre, "input_tokens", true, &in, NULL, err) ||
        !count(usage, pre, "output_tokens", true, &out, NULL, err) ||
        !count(usage, pre, "cache_read_input_tokens", false, &read, NULL, err) ||
        !count(usage, pre, "cache_creation_input_tokens", false, &create, &create_given, err) ||
        !details(usage, pre, "cache_creation", &cc, err) ||
        !count(cc, pre, "cache_creation.ephemeral_5m_input_tokens", false, &e5m, NULL, err) ||
        !count(cc, pre, "cache_creation.ephemeral_1h_input_tokens", false, &e1h, NULL, err) ||
        !details(usage, pre, "output_tokens_details", &otd, err) ||
        !count(otd, pre, "output_tokens_details.thinking_tokens", false, &thinking, NULL, err))
        return false;
    if (create_given && e5m > create)
        return event_fail(
            err, 422, "invalid_value", at(p, pre, "cache_creation.ephemeral_5m_input_tokens"),
            "ephemeral_5m_input_tokens is part of cache_creation_input_tokens and cannot "
            "exceed it");
    if (create_given && e5m + e1h > create)
        return event_fail(err, 422, "invalid_value",
                          at(p, pre, "cache_creation.ephemeral_1h_input_tokens"),
                          "ephemeral_5m_input_tokens + ephemeral_1h_input_tokens are part of "
                          "cache_creation_input_tokens and cannot exceed it");
    if (thinking > out)
        return event_fail(err, 422, "invalid_value",
                          at(p, pre, "output_tokens_details.thinking_tokens"),
                          "thinking_tokens is part of output_tokens and cannot exceed it");
    if (!usage_tier(usage, pre, "service_tier", anthropic_tier, mode, err))
        return false;
    t->input_uncached = in;
    t->cache_read = read;
    t->cache_write_5m = create_given ? create - e1h : e5m;
    t->cache_write_1h = e1h;
    t->output = out;
    t->reasoning = thinking;
    return true;
}

/*
 * Gemini `usageMetadata` (GenerateContentResponseUsageMetadata):
 * promptTokenCount includes the cached content; tool results
 * (toolUsePromptTokenCount) are input outside it; thoughts are output
 * outside candidatesTokenCount. No cache writes (implicit caching).
 * totalTokenCount and the per-modality details are ignored. Counts equal
 * to 0 are often left out (proto3 JSON), so only promptTokenCount is
 * required.
 */
static bool decode_gemini(const json_t *usage, const char *pre, struct tokens *t,
                          enum usage_mode *mode, struct event_error *err)
{
    int64_t prompt, cached, tool, candidates, thoughts;
    char p[FIELD_MAX];

    if (!count(usage, pre, "promptTokenCount", true, &prompt, NULL, err) ||
        !count(usage, pre, "cachedContentTokenCount", false, &cached, NULL, err) ||
        !count(usage, pre, "toolUsePromptTokenCount", false, &tool, NULL, err) ||
        !count(usage, pre, "candidatesTokenCount", false, &candidates, NULL, err) ||
        !count(usage, pre, "thoughtsTokenCount", false, &thoughts, NULL, err))
        return false;
    if (cached > prompt)
        return event_fail(
            err, 422, "invalid_value", at(p, pre, "cachedContentTokenCount"),
            "cachedContentTokenCount is part of promptTokenCount and cannot exceed it");
    if (prompt - cached + tool > EVENT_MAX_TOKENS)
        return event_fail(
            err, 422, "invalid_value", at(p, pre, "toolUsePromptTokenCount"),
            "promptTokenCount - cachedContentTokenCount + toolUsePromptTokenCount must "
            "be at most %lld",
            (long long)EVENT_MAX_TOKENS);
    if (candidates + thoughts > EVENT_MAX_TOKENS)
        return event_fail(err, 422, "invalid_value", at(p, pre, "thoughtsTokenCount"),
                          "candidatesTokenCount + thoughtsTokenCount must be at most %lld",
                          (long long)EVENT_MAX_TOKENS);
    if (!usage_tier(usage, pre, "trafficType", gemini_tier, mode, err))
        return false;
    t->input_uncached = prompt - cached + tool;
    t->cache_read = cached;
    t->cache_write_5m = 0;
    t->cache_write_1h = 0;
    t->output = candidates + thoughts;
    t->reasoning = thoughts;
    return true;
}

/*
 * Bedrock's cacheDetails (CacheDetail[]: {ttl: "5m" | "1h", inputTokens})
 * into *w5m and *w1h. total, when given, is cacheWriteInputTokens: the
 * details may not add up to more.
 */
static bool bedrock_details(const json_t *usage, const char *pre, const int64_t *total,
                            int64_t *w5m, int64_t *w1h, struct event_error *err)
{
    const json_t *arr = member(usage, "cacheDetails");
    char p[FIELD_MAX], rel[FIELD_MAX];
    size_t i;
    const json_t *d;

    *w5m = *w1h = 0;
    if (!arr)
        return true;
    if (!json_is_array(arr))
        return event_fail(err, 400, "invalid_type", at(p, pre, "cacheDetails"),
                          "%s must be an array of {ttl, inputTokens}", p);
    json_array_foreach(arr, i, d)
    {
        const json_t *ttl = member(d, "ttl");
        int64_t n, *sum;

        snprintf(rel, sizeof(rel), "cacheDetails[%zu]", i);
        if (!json_is_object(d))
            return event_fail(err, 400, "invalid_type", at(p, pre, rel), "%s must be an object", p);
        snprintf(rel, sizeof(rel), "cacheDetails[%zu].inputTokens", i);
        if (!count(d, pre, rel, true, &n, NULL, err))
            return false;
        snprintf(rel, sizeof(rel), "cacheDetails[%zu].ttl", i);
        if (!ttl)
            return event_fail(err, 400, "missing_field", at(p, pre, rel), "%s is required", p);
        if (!json_is_string(ttl))
            return event_fail(err, 400, "invalid_type", at(p, pre, rel), "%s must be a string", p);
        if (str_is(ttl, "5m"))
            sum = w5m;
        else if (str_is(ttl, "1h"))
            sum = w1h;
        else
            return event_fail(err, 422, "invalid_value", at(p, pre, rel),
                              "unknown %s (known: 5m, 1h)", p);
        snprintf(rel, sizeof(rel), "cacheDetails[%zu].inputTokens", i);
        if (total && *w5m + *w1h + n > *total)
            return event_fail(err, 422, "invalid_value", at(p, pre, rel),
                              "cacheDetails are part of cacheWriteInputTokens and cannot add up to "
                              "more");
        if (*w5m + *w1h + n > EVENT_MAX_TOKENS)
            return event_fail(err, 422, "invalid_value", at(p, pre, rel),
                              "cacheDetails must add up to at most %lld",
                              (long long)EVENT_MAX_TOKENS);
        *sum += n;
    }
    return true;
}

/*
 * Bedrock Converse `usage` (TokenUsage): inputTokens excludes the cache.
 * Cache writes by TTL from cacheDetails; cacheWriteInputTokens is their
 * total, and any part of it the details do not cover counts as 5m.
 * totalTokens is ignored. The tier is the response's serviceTier, which a
 * client may also put in usage.
 */
static bool decode_bedrock_converse(const json_t *usage, const char *pre, struct tokens *t,
                                    enum usage_mode *mode, struct event_error *err)
{
    int64_t in, out, read, write, w5m, w1h;
    bool write_given;

    if (!count(usage, pre, "inputTokens", true, &in, NULL, err) ||
        !count(usage, pre, "outputTokens", true, &out, NULL, err) ||
        !count(usage, pre, "cacheReadInputTokens", false, &read, NULL, err) ||
        !count(usage, pre, "cacheWriteInputTokens", false, &write, &write_given, err) ||
        !bedrock_details(usage, pre, write_given ? &write : NULL, &w5m, &w1h, err) ||
        !usage_tier(usage, pre, "serviceTier", bedrock_tier, mode, err))
        return false;
    t->input_uncached = in;
    t->cache_read = read;
    t->cache_write_5m = write_given ? write - w1h : w5m;
    t->cache_write_1h = w1h;
    t->output = out;
    t->reasoning = 0;
    return true;
}

/* ---- the formats ---- */

typedef bool decode_fn(const json_t *usage, const char *pre, struct tokens *t,
                       enum usage_mode *mode, struct event_error *err);

/*
 * Each format, with where a whole response keeps its usage, model, id and
 * a tier beside the usage (id_in: the id's parent object, NULL for the top).
 */
static const struct format {
    const char *name;
    decode_fn *decode;
    const char *usage_member;
    const char *model_member; /* NULL: the response names no model */
    const char *id_in, *id_member;
    const char *tier_member; /* NULL: the tier, if any, is inside usage */
    tier_fn *tier;
} formats[] = {
    {"openai.chat", decode_openai_chat, "usage", "model", NULL, "id", "service_tier", openai_tier},
    {"openai.responses", decode_openai_responses, "usage", "model", NULL, "id", "service_tier",
     openai_tier},
    {"anthropic.messages", decode_anthropic_messages, "usage", "model", NULL, "id", NULL, NULL},
    {"gemini", decode_gemini, "usageMetadata", "modelVersion", NULL, "responseId", NULL, NULL},
    /* ConverseResponse has no model or id; the JS SDK's output carries $metadata.requestId. */
    {"bedrock.converse", decode_bedrock_converse, "usage", NULL, "$metadata", "requestId",
     "serviceTier", bedrock_tier},
};

#define N_FORMATS (sizeof(formats) / sizeof(formats[0]))
#define KNOWN     "openai.chat, openai.responses, anthropic.messages, gemini, bedrock.converse"

static const struct format *find_format(const char *name)
{
    for (size_t i = 0; name && i < N_FORMATS; i++)
        if (strcmp(name, formats[i].name) == 0)
            return &formats[i];
    return NULL;
}

static bool unknown_format(struct event_error *err)
{
    return event_fail(err, 422, "invalid_value", "usage_format",
                      "unknown usage_format (known: " KNOWN ")");
}

/* Decodes usage in format f; *t and *mode are written only on success. */
static bool decode_as(const struct format *f, const json_t *usage, const char *pre,
                      struct tokens *t, enum usage_mode *mode, struct event_error *err)
{
    struct tokens out;
    enum usage_mode m = mode ? *mode : MODE_STANDARD;

    if (!json_is_object(usage))
        return event_fail(err, 400, "invalid_type", pre, "%s must be an object", pre);
    if (!f->decode(usage, pre, &out, mode ? &m : NULL, err))
        return false;
    *t = out;
    if (mode)
        *mode = m;
    return true;
}

bool usage_decode(const char *format, const json_t *usage, struct tokens *t, enum usage_mode *mode,
                  struct event_error *err)
{
    const struct format *f = find_format(format);

    if (!f)
        return unknown_format(err);
    return decode_as(f, usage, "usage", t, mode, err);
}

/* ---- telling the format from the shape ---- */

/* True if obj has a member called name, whatever its value (null too): a mark of its shape. */
static bool has(const json_t *obj, const char *name)
{
    return json_object_get(obj, name) != NULL;
}

static bool has_any(const json_t *obj, const char *const *names)
{
    for (; *names; names++)
        if (has(obj, *names))
            return true;
    return false;
}

static const char *const chat_marks[] = {"prompt_tokens", "completion_tokens",
                                         "prompt_tokens_details", "completion_tokens_details",
                                         NULL};
static const char *const gemini_marks[] = {"promptTokenCount",
                                           "candidatesTokenCount",
                                           "cachedContentTokenCount",
                                           "toolUsePromptTokenCount",
                                           "thoughtsTokenCount",
                                           "totalTokenCount",
                                           NULL};
static const char *const bedrock_marks[] = {"inputTokens",          "outputTokens",
                                            "cacheReadInputTokens", "cacheWriteInputTokens",
                                            "cacheDetails",         NULL};
static const char *const io_marks[] = {"input_tokens", "output_tokens", NULL};
/* Members of OpenAI's ResponseUsage that Anthropic's Usage lacks... */
static const char *const responses_marks[] = {"input_tokens_details", "total_tokens", NULL};
/* ...and the other way round. */
static const char *const anthropic_marks[] = {"cache_creation_input_tokens",
                                              "cache_read_input_tokens",
                                              "cache_creation",
                                              "server_tool_use",
                                              "inference_geo",
                                              "speed",
                                              NULL};

/* Provider names (ASCII case aside) whose bare {input_tokens, output_tokens} is theirs. */
static const char *const openai_providers[] = {"openai", "azure", "azure.ai.openai", "azure_openai",
                                               NULL};
static const char *const anthropic_providers[] = {"anthropic", NULL};

static bool provider_in(const char *provider, const char *const *names)
{
    for (; provider && *names; names++)
        if (strcasecmp(provider, *names) == 0)
            return true;
    return false;
}

const char *usage_detect(const json_t *usage, const char *provider, struct event_error *err)
{
    const json_t *otd;
    bool chat, gemini, bedrock, io, resp, anth;

    if (!json_is_object(usage)) {
        event_fail(err, 400, "invalid_type", "usage", "usage must be an object");
        return NULL;
    }
    chat = has_any(usage, chat_marks);
    gemini = has_any(usage, gemini_marks);
    bedrock = has_any(usage, bedrock_marks);
    io = has_any(usage, io_marks);
    if (chat + gemini + bedrock + io == 0) {
        event_fail(err, 400, "missing_field", "usage_format",
                   "usage has no member that names its format; give usage_format (" KNOWN ")");
        return NULL;
    }
    if (chat + gemini + bedrock + io > 1) {
        event_fail(err, 400, "missing_field", "usage_format",
                   "usage has members of several formats; give usage_format (" KNOWN ")");
        return NULL;
    }
    if (chat)
        return "openai.chat";
    if (gemini)
        return "gemini";
    if (bedrock)
        return "bedrock.converse";
    /* input_tokens/output_tokens: OpenAI Responses or Anthropic Messages. */
    otd = json_object_get(usage, "output_tokens_details");
    resp = has_any(usage, responses_marks) || (json_is_object(otd) && has(otd, "reasoning_tokens"));
    anth = has_any(usage, anthropic_marks) || (json_is_object(otd) && has(otd, "thinking_tokens"));
    if (resp && !anth)
        return "openai.responses";
    if (anth && !resp)
        return "anthropic.messages";
    if (!resp && provider_in(provider, openai_providers))
        return "openai.responses";
    if (!resp && provider_in(provider, anthropic_providers))
        return "anthropic.messages";
    event_fail(err, 400, "missing_field", "usage_format",
               resp
                   ? "usage has members of both openai.responses and anthropic.messages; give "
                     "usage_format"
                   : "{input_tokens, output_tokens} may be openai.responses or anthropic.messages, "
                     "and the provider does not tell; give usage_format");
    return NULL;
}

/* ---- whole responses ---- */

/* The format of a whole response: its own marks first, then its usage's shape. */
static const struct format *detect_response(const json_t *response, const char *provider,
                                            struct event_error *err)
{
    const json_t *usage = member(response, "usage");
    const json_t *object = member(response, "object");
    const char *name;

    if (member(response, "usageMetadata")) {
        if (usage) {
            event_fail(err, 400, "missing_field", "usage_format",
                       "the response has both usage and usageMetadata; give usage_format");
            return NULL;
        }
        return find_format("gemini");
    }
    if (!usage) {
        event_fail(err, 400, "missing_field", "response.usage",
                   "the response has no usage (or usageMetadata)");
        return NULL;
    }
    if (str_is(object, "chat.completion") || str_is(object, "chat.completion.chunk"))
        return find_format("openai.chat");
    if (str_is(object, "response"))
        return find_format("openai.responses");
    if (str_is(member(response, "type"), "message"))
        return find_format("anthropic.messages");
    if (!json_is_object(usage)) {
        event_fail(err, 400, "invalid_type", "response.usage", "response.usage must be an object");
        return NULL;
    }
    name = usage_detect(usage, provider, err);
    return name ? find_format(name) : NULL;
}

bool usage_decode_response(const char *format, const json_t *response, const char *provider,
                           struct usage_response *out, enum usage_mode *mode,
                           struct event_error *err)
{
    const struct format *f;
    const json_t *usage, *tier, *id_parent;
    const char *name;
    struct usage_response r = {0};
    enum usage_mode m = mode ? *mode : MODE_STANDARD;
    char pre[FIELD_MAX];

    if (!json_is_object(response))
        return event_fail(err, 400, "invalid_type", "response", "response must be an object");
    f = format ? find_format(format) : detect_response(response, provider, err);
    if (!f)
        return format ? unknown_format(err) : false;
    /* The format's own member, else the other one: a shape told from `usage` reads `usage`. */
    name = f->usage_member;
    if (!member(response, name))
        name = strcmp(name, "usage") == 0 ? "usageMetadata" : "usage";
    if (!(usage = member(response, name))) {
        snprintf(pre, sizeof(pre), "response.%s", f->usage_member);
        return event_fail(err, 400, "missing_field", pre, "%s is required", pre);
    }
    snprintf(pre, sizeof(pre), "response.%s", name);
    if (!decode_as(f, usage, pre, &r.tokens, mode ? &m : NULL, err))
        return false;
    tier = f->tier_member ? member(response, f->tier_member) : NULL;
    if (mode && tier && !f->tier(tier, "response", f->tier_member, &m, err))
        return false;
    r.format = f->name;
    if (f->model_member) {
        r.model = member(response, f->model_member);
        snprintf(r.model_field, sizeof(r.model_field), "response.%s", f->model_member);
    }
    id_parent = f->id_in ? member(response, f->id_in) : response;
    r.id = json_is_object(id_parent) ? member(id_parent, f->id_member) : NULL;
    if (f->id_in)
        snprintf(r.id_field, sizeof(r.id_field), "response.%s.%s", f->id_in, f->id_member);
    else
        snprintf(r.id_field, sizeof(r.id_field), "response.%s", f->id_member);
    *out = r;
    if (mode)
        *mode = m;
    return true;
}
