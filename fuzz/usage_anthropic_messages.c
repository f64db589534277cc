// links: ingest/usage.c ingest/event.c
/*
 * Fuzz target for usage_decode("anthropic.messages"). Any JSON value goes in. On
 * success the classes must add back up to the object's own counts:
 *   input_tokens = uncached, cache_read_input_tokens = cache read,
 *   cache writes = cache_creation_input_tokens (or the breakdown),
 *   output_tokens = output, thinking_tokens = reasoning;
 * and asking for the mode (the tier) may only add failures, never change
 * the tokens. On failure: a 400 or 422 naming a usage member, with *t and
 * *mode untouched. The same object wrapped as a whole response
 * ({"usage": usage}) must decode the same, its errors named under
 * "response.usage". usage_detect and a response's detection must name
 * a known format or refuse with a 400 on usage_format, and what they name
 * must decode as usage_decode does in that format.
 */
#define FORMAT     "anthropic.messages"
#define MEMBER     "usage" /* where a whole response keeps the usage */
#define TIER_FIELD "usage.service_tier"

#include "usage_check.h"

/* The classes against the object's own counts, as the FORMATS mapping row says. */
static void check_sums(const json_t *j, const struct tokens *t)
{
    const json_t *total = json_object_get(j, "cache_creation_input_tokens");
    int64_t e5m = at(j, "cache_creation", "ephemeral_5m_input_tokens");
    int64_t e1h = at(j, "cache_creation", "ephemeral_1h_input_tokens");

    CHECK(t->input_uncached == at(j, "input_tokens", NULL));
    CHECK(t->cache_read == at(j, "cache_read_input_tokens", NULL));
    CHECK(t->cache_write_1h == e1h);
    if (json_is_integer(total))
        CHECK(t->cache_write_5m + t->cache_write_1h == json_integer_value(total) &&
              t->cache_write_5m >= e5m);
    else
        CHECK(t->cache_write_5m == e5m);
    CHECK(t->output == at(j, "output_tokens", NULL));
    CHECK(t->reasoning == at(j, "output_tokens_details", "thinking_tokens"));
}

/* True if the object's tier says nothing about the mode (absent, null, or a silent value). */
static bool tier_silent(const json_t *j)
{
    return json_is_null(json_object_get(j, "service_tier")) || !json_object_get(j, "service_tier");
}
