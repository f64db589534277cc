// links: ingest/usage.c ingest/event.c
/*
 * Fuzz target for usage_decode("openai.responses"). Any JSON value goes in. On
 * success the classes must add back up to the object's own counts:
 *   input_tokens = uncached + cache read + cache write (5m),
 *   output_tokens = output, reasoning = reasoning_tokens;
 * and asking for the mode (the tier) may only add failures, never change
 * the tokens. On failure: a 400 or 422 naming a usage member, with *t and
 * *mode untouched. The same object wrapped as a whole response
 * ({"usage": usage}) must decode the same, its errors named under
 * "response.usage". usage_detect and a response's detection must name
 * a known format or refuse with a 400 on usage_format, and what they name
 * must decode as usage_decode does in that format.
 */
#define FORMAT     "openai.responses"
#define MEMBER     "usage" /* where a whole response keeps the usage */
#define TIER_FIELD "usage.service_tier"

#include "usage_check.h"

/* The classes against the object's own counts, as the FORMATS mapping row says. */
static void check_sums(const json_t *j, const struct tokens *t)
{
    CHECK(t->cache_write_1h == 0);
    CHECK(t->input_uncached + t->cache_read + t->cache_write_5m == at(j, "input_tokens", NULL));
    CHECK(t->cache_read == at(j, "input_tokens_details", "cached_tokens"));
    CHECK(t->cache_write_5m == at(j, "input_tokens_details", "cache_write_tokens"));
    CHECK(t->output == at(j, "output_tokens", NULL));
    CHECK(t->reasoning == at(j, "output_tokens_details", "reasoning_tokens"));
}

/* True if the object's tier says nothing about the mode (absent, null, or a silent value). */
static bool tier_silent(const json_t *j)
{
    return json_is_null(json_object_get(j, "service_tier")) || !json_object_get(j, "service_tier");
}
