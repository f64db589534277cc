// links: ingest/usage.c ingest/event.c
/*
 * Fuzz target for usage_decode("gemini"). Any JSON value goes in. On
 * success the classes must add back up to the object's own counts:
 *   promptTokenCount + toolUsePromptTokenCount = uncached + cache read,
 *   candidatesTokenCount + thoughtsTokenCount = output, thoughts = reasoning;
 * and asking for the mode (the tier) may only add failures, never change
 * the tokens. On failure: a 400 or 422 naming a usage member, with *t and
 * *mode untouched. The same object wrapped as a whole response
 * ({"usageMetadata": usage}) must decode the same, its errors named under
 * "response.usageMetadata". usage_detect and a response's detection must name
 * a known format or refuse with a 400 on usage_format, and what they name
 * must decode as usage_decode does in that format.
 */
#define FORMAT     "gemini"
#define MEMBER     "usageMetadata" /* where a whole response keeps the usage */
#define TIER_FIELD "usage.trafficType"

#include "usage_check.h"

/* The classes against the object's own counts, as the FORMATS mapping row says. */
static void check_sums(const json_t *j, const struct tokens *t)
{
    CHECK(t->cache_write_5m == 0 && t->cache_write_1h == 0);
    CHECK(t->input_uncached + t->cache_read ==
          at(j, "promptTokenCount", NULL) + at(j, "toolUsePromptTokenCount", NULL));
    CHECK(t->cache_read == at(j, "cachedContentTokenCount", NULL));
    CHECK(t->output == at(j, "candidatesTokenCount", NULL) + at(j, "thoughtsTokenCount", NULL));
    CHECK(t->reasoning == at(j, "thoughtsTokenCount", NULL));
}

/* True if the object's tier says nothing about the mode (absent, null, or a silent value). */
static bool tier_silent(const json_t *j)
{
    const json_t *v = json_object_get(j, "trafficType");
    return !v || json_is_null(v) ||
           (json_is_string(v) && strcmp(json_string_value(v), "TRAFFIC_TYPE_UNSPECIFIED") == 0);
}
