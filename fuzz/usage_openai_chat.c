// links: ingest/usage.c ingest/event.c
/*
 * Fuzz target for usage_decode("openai.chat"). Any JSON value goes in; on
 * success the classes must add back up to the object's own prompt_tokens
 * and completion_tokens, and asking for the mode (service_tier) may only
 * add failures, never change the tokens. On failure: a 400 or 422 naming
 * a usage member, with *t and *mode untouched.
 */
#include "usage.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void check_failure(const struct event_error *err)
{
    CHECK(err->status == 400 || err->status == 422);
    CHECK(err->code != NULL);
    CHECK(memchr(err->field, '\0', sizeof(err->field)) != NULL);
    CHECK(strncmp(err->field, "usage", 5) == 0);
    CHECK(err->message[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    const struct tokens canary = {-1, -2, -3, -4, -5, -6};
    struct tokens t = canary, t2 = canary;
    enum usage_mode mode = MODE_COUNT; /* a value no decoder writes: shows whether it wrote */
    struct event_error err, err2;
    bool ok, ok2;

    if (!j)
        return 0;
    ok = usage_decode("openai.chat", j, &t, NULL, &err);
    ok2 = usage_decode("openai.chat", j, &t2, &mode, &err2);
    if (ok) {
        const int64_t v[] = {t.input_uncached, t.cache_read, t.cache_write_5m,
                             t.cache_write_1h, t.output,     t.reasoning};
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
            CHECK(v[i] >= 0 && v[i] <= EVENT_MAX_TOKENS);
        CHECK(t.reasoning <= t.output);
        CHECK(t.cache_write_1h == 0);
        CHECK(t.input_uncached + t.cache_read + t.cache_write_5m ==
              json_integer_value(json_object_get(j, "prompt_tokens")));
        CHECK(t.output == json_integer_value(json_object_get(j, "completion_tokens")));
        if (ok2)
            CHECK(memcmp(&t, &t2, sizeof(t)) == 0);
        else
            CHECK(strcmp(err2.field, "usage.service_tier") == 0);
    } else {
        check_failure(&err);
        CHECK(memcmp(&t, &canary, sizeof(t)) == 0);
        /* The tier is read last: the same error with or without it. */
        CHECK(!ok2 && err2.status == err.status && strcmp(err2.field, err.field) == 0);
    }
    if (ok2) {
        CHECK(mode == MODE_COUNT || (unsigned)mode < MODE_COUNT);
        if (mode == MODE_COUNT)
            CHECK(json_is_null(json_object_get(j, "service_tier")) ||
                  !json_object_get(j, "service_tier"));
    } else {
        check_failure(&err2);
        CHECK(mode == MODE_COUNT);
        CHECK(memcmp(&t2, &canary, sizeof(t2)) == 0);
    }
    json_decref(j);
    return 0;
}
