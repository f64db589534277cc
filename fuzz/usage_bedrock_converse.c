// links: ingest/usage.c ingest/event.c
/*
 * Fuzz target for usage_decode("bedrock.converse"). Any JSON value goes in. On
 * success the classes must add back up to the object's own counts:
 *   inputTokens = uncached, cacheReadInputTokens = cache read,
 *   cache writes = cacheWriteInputTokens (or the cacheDetails),
 *   outputTokens = output;
 * and asking for the mode (the tier) may only add failures, never change
 * the tokens. On failure: a 400 or 422 naming a usage member, with *t and
 * *mode untouched. The same object wrapped as a whole response
 * ({"usage": usage}) must decode the same, its errors named under
 * "response.usage". usage_detect and a response's detection must name
 * a known format or refuse with a 400 on usage_format, and what they name
 * must decode as usage_decode does in that format.
 */
#define FORMAT     "bedrock.converse"
#define MEMBER     "usage" /* where a whole response keeps the usage */
#define TIER_FIELD "usage.serviceTier"

#include "usage_check.h"

/* The classes against the object's own counts, as the FORMATS mapping row says. */
static void check_sums(const json_t *j, const struct tokens *t)
{
    const json_t *total = json_object_get(j, "cacheWriteInputTokens");
    const json_t *details = json_object_get(j, "cacheDetails"), *d;
    int64_t d5m = 0, d1h = 0;
    size_t i;

    json_array_foreach(details, i, d)
    {
        const json_t *ttl = json_object_get(d, "ttl");
        if (strcmp(json_string_value(ttl), "5m") == 0)
            d5m += at(d, "inputTokens", NULL);
        else
            d1h += at(d, "inputTokens", NULL);
    }
    CHECK(t->input_uncached == at(j, "inputTokens", NULL));
    CHECK(t->cache_read == at(j, "cacheReadInputTokens", NULL));
    CHECK(t->cache_write_1h == d1h);
    if (json_is_integer(total))
        CHECK(t->cache_write_5m + t->cache_write_1h == json_integer_value(total) &&
              t->cache_write_5m >= d5m);
    else
        CHECK(t->cache_write_5m == d5m);
    CHECK(t->output == at(j, "outputTokens", NULL));
    CHECK(t->reasoning == 0);
}

/* True if the object's tier says nothing about the mode (absent, null, or a silent value). */
static bool tier_silent(const json_t *j)
{
    const json_t *v = json_object_get(j, "serviceTier");
    if (json_is_object(v))
        v = json_object_get(v, "type");
    return !v || json_is_null(v);
}
