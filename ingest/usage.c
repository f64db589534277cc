/*
 * usage: decoders from providers' own usage objects to struct tokens, one
 * per format, chosen by name from a table. The FORMATS mapping rows are
 * the spec; each decoder checks types and that parts do not exceed their
 * whole. Allocates nothing; the usage object is only read. Any thread.
 */
#include "usage.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Fills err and returns false. */
__attribute__((format(printf, 5, 6))) static bool
fail(struct event_error *err, int status, const char *code, const char *field, const char *fmt, ...)
{
    va_list ap;

    err->status = status;
    err->code = code;
    snprintf(err->field, sizeof(err->field), "%s", field);
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return false;
}

/* A member's value, with JSON null read as absent (NULL); NULL obj has no members. */
static const json_t *member(const json_t *obj, const char *name)
{
    const json_t *v = obj ? json_object_get(obj, name) : NULL;
    return json_is_null(v) ? NULL : v;
}

/*
 * Reads the token count obj.name (path is its full name for errors) into
 * *out: an integer from 0 to EVENT_MAX_TOKENS. Absent or null is 0 unless
 * required.
 */
static bool count(const json_t *obj, const char *name, const char *path, bool required,
                  int64_t *out, struct event_error *err)
{
    const json_t *v = member(obj, name);
    json_int_t n;

    if (!v) {
        if (required)
            return fail(err, 400, "missing_field", path, "%s is required", path);
        *out = 0;
        return true;
    }
    if (!json_is_integer(v))
        return fail(err, 400, "invalid_type", path, "%s must be an integer", path);
    n = json_integer_value(v);
    if (n < 0 || n > EVENT_MAX_TOKENS)
        return fail(err, 422, "invalid_value", path, "%s must be from 0 to %lld", path,
                    (long long)EVENT_MAX_TOKENS);
    *out = (int64_t)n;
    return true;
}

/* An optional nested object (null reads as absent): *out is NULL when absent. */
static bool details(const json_t *usage, const char *name, const char *path, const json_t **out,
                    struct event_error *err)
{
    const json_t *v = member(usage, name);

    if (v && !json_is_object(v))
        return fail(err, 400, "invalid_type", path, "%s must be an object", path);
    *out = v;
    return true;
}

/* OpenAI's service_tier values, and "batch" for the batch endpoint's calls. */
static const struct {
    const char *name;
    enum usage_mode mode;
} openai_tiers[] = {
    {"default", MODE_STANDARD}, {"auto", MODE_STANDARD},     {"scale", MODE_STANDARD},
    {"flex", MODE_FLEX},        {"priority", MODE_PRIORITY}, {"batch", MODE_BATCH},
};

/* usage.service_tier into *mode, when present and mode is wanted. */
static bool openai_tier(const json_t *usage, enum usage_mode *mode, struct event_error *err)
{
    const json_t *v = member(usage, "service_tier");
    const char *s;

    if (!mode || !v)
        return true;
    if (!json_is_string(v))
        return fail(err, 400, "invalid_type", "usage.service_tier",
                    "usage.service_tier must be a string");
    s = json_string_value(v);
    for (size_t i = 0; i < sizeof(openai_tiers) / sizeof(openai_tiers[0]); i++) {
        if (strcmp(s, openai_tiers[i].name) == 0 && strlen(s) == json_string_length(v)) {
            *mode = openai_tiers[i].mode;
            return true;
        }
    }
    return fail(err, 422, "invalid_value", "usage.service_tier",
                "unknown usage.service_tier (known: default, auto, scale, flex, priority, "
                "batch); give the event's mode explicitly");
}

/*
 * OpenAI Chat Completions `usage` (CompletionUsage): prompt_tokens includes
 * the cached and cache-written tokens, completion_tokens the reasoning.
 * Other members (total_tokens, audio_tokens, prediction tokens) are ignored.
 */
static bool decode_openai_chat(const json_t *usage, struct tokens *t, enum usage_mode *mode,
                               struct event_error *err)
{
    const json_t *ptd = NULL, *ctd = NULL;
    int64_t prompt, completion, cached, cache_write, reasoning;

    if (!count(usage, "prompt_tokens", "usage.prompt_tokens", true, &prompt, err) ||
        !count(usage, "completion_tokens", "usage.completion_tokens", true, &completion, err) ||
        !details(usage, "prompt_tokens_details", "usage.prompt_tokens_details", &ptd, err) ||
        !count(ptd, "cached_tokens", "usage.prompt_tokens_details.cached_tokens", false, &cached,
               err) ||
        !count(ptd, "cache_write_tokens", "usage.prompt_tokens_details.cache_write_tokens", false,
               &cache_write, err) ||
        !details(usage, "completion_tokens_details", "usage.completion_tokens_details", &ctd,
                 err) ||
        !count(ctd, "reasoning_tokens", "usage.completion_tokens_details.reasoning_tokens", false,
               &reasoning, err))
        return false;
    if (cached > prompt)
        return fail(err, 422, "invalid_value", "usage.prompt_tokens_details.cached_tokens",
                    "cached_tokens is part of prompt_tokens and cannot exceed it");
    if (cached + cache_write > prompt)
        return fail(err, 422, "invalid_value", "usage.prompt_tokens_details.cache_write_tokens",
                    "cached_tokens + cache_write_tokens are part of prompt_tokens and cannot "
                    "exceed it");
    if (reasoning > completion)
        return fail(err, 422, "invalid_value", "usage.completion_tokens_details.reasoning_tokens",
                    "reasoning_tokens is part of completion_tokens and cannot exceed it");
    if (!openai_tier(usage, mode, err))
        return false;
    t->input_uncached = prompt - cached - cache_write;
    t->cache_read = cached;
    t->cache_write_5m = cache_write;
    t->cache_write_1h = 0;
    t->output = completion;
    t->reasoning = reasoning;
    return true;
}

static const struct {
    const char *name;
    bool (*decode)(const json_t *usage, struct tokens *t, enum usage_mode *mode,
                   struct event_error *err);
} formats[] = {
    {"openai.chat", decode_openai_chat},
};

bool usage_decode(const char *format, const json_t *usage, struct tokens *t, enum usage_mode *mode,
                  struct event_error *err)
{
    struct tokens out;
    enum usage_mode m = mode ? *mode : MODE_STANDARD;

    for (size_t i = 0; format && i < sizeof(formats) / sizeof(formats[0]); i++) {
        if (strcmp(format, formats[i].name) != 0)
            continue;
        if (!json_is_object(usage))
            return fail(err, 400, "invalid_type", "usage", "usage must be an object");
        if (!formats[i].decode(usage, &out, mode ? &m : NULL, err))
            return false;
        *t = out;
        if (mode)
            *mode = m;
        return true;
    }
    return fail(err, 422, "invalid_value", "usage_format",
                "unknown usage_format (known: \"openai.chat\")");
}
