/*
 * The shared body of the provider usage fuzz targets (fuzz/usage_*.c). A
 * target defines FORMAT (the usage_format), MEMBER (where a whole response
 * keeps the usage) and TIER_FIELD (the error field of its service tier),
 * includes this file, and then defines the two format-specific checks
 * declared below. See any of those targets for the invariants.
 */
#ifndef TOLLGATE_FUZZ_USAGE_CHECK_H
#define TOLLGATE_FUZZ_USAGE_CHECK_H

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

/* A count the object holds at a path of members (0 when absent or not an integer). */
static int64_t at(const json_t *j, const char *a, const char *b)
{
    const json_t *v = json_object_get(j, a);
    if (b)
        v = json_object_get(v, b);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static void check_failure(const struct event_error *err, const char *prefix)
{
    CHECK(err->status == 400 || err->status == 422);
    CHECK(err->code != NULL);
    CHECK((err->status == 422) == (strcmp(err->code, "invalid_value") == 0));
    CHECK(memchr(err->field, '\0', sizeof(err->field)) != NULL);
    CHECK(strncmp(err->field, prefix, strlen(prefix)) == 0 ||
          strcmp(err->field, "usage_format") == 0);
    CHECK(err->message[0]);
}

static bool known_format(const char *f)
{
    static const char *const formats[] = {"openai.chat", "openai.responses", "anthropic.messages",
                                          "gemini", "bedrock.converse"};
    for (size_t i = 0; f && i < sizeof(formats) / sizeof(formats[0]); i++)
        if (strcmp(f, formats[i]) == 0)
            return true;
    return false;
}

/* The classes against the object's own counts, as the FORMATS mapping row says. */
static void check_sums(const json_t *j, const struct tokens *t);

/* True when the object names no tier, so the decoder leaves the mode alone. */
static bool tier_silent(const json_t *j);

/* Detection: a known format or a 400 on usage_format; what it names decodes as usage_decode. */
static void check_detection(const json_t *j)
{
    static const char *const providers[] = {NULL, "openai", "anthropic", "OpenAI", "aws.bedrock"};

    for (size_t i = 0; i < sizeof(providers) / sizeof(providers[0]); i++) {
        struct event_error err, err2;
        struct tokens t, t2;
        struct usage_response r;
        const char *f = usage_detect(j, providers[i], &err);
        json_t *w;

        if (f) {
            CHECK(known_format(f));
        } else {
            CHECK(err.status == 400);
            CHECK(strcmp(err.field, "usage_format") == 0 || strcmp(err.field, "usage") == 0);
        }
        /* A response holding only this usage: detected from the usage alone. */
        w = json_object();
        json_object_set(w, "usage", (json_t *)j);
        if (usage_decode_response(NULL, w, providers[i], &r, NULL, &err)) {
            CHECK(known_format(r.format));
            CHECK(f != NULL && strcmp(f, r.format) == 0);
            CHECK(usage_decode(r.format, j, &t, NULL, &err2));
            CHECK(memcmp(&t, &r.tokens, sizeof(t)) == 0);
            CHECK(r.model == NULL && r.id == NULL);
        } else {
            check_failure(&err, "response.usage");
            if (f && json_is_object(j)) {
                CHECK(!usage_decode(f, j, &t2, NULL, &err2));
            }
        }
        json_decref(w);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    const struct tokens canary = {-1, -2, -3, -4, -5, -6};
    struct tokens t = canary, t2 = canary;
    enum usage_mode mode = MODE_COUNT; /* a value no decoder writes: shows whether it wrote */
    struct event_error err, err2, err3;
    struct usage_response r;
    json_t *w;
    bool ok, ok2, ok3;

    if (!j)
        return 0;
    ok = usage_decode(FORMAT, j, &t, NULL, &err);
    ok2 = usage_decode(FORMAT, j, &t2, &mode, &err2);
    if (ok) {
        const int64_t v[] = {t.input_uncached, t.cache_read, t.cache_write_5m,
                             t.cache_write_1h, t.output,     t.reasoning};
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
            CHECK(v[i] >= 0 && v[i] <= EVENT_MAX_TOKENS);
        CHECK(t.reasoning <= t.output);
        check_sums(j, &t);
        if (ok2)
            CHECK(memcmp(&t, &t2, sizeof(t)) == 0);
        else
            CHECK(strncmp(err2.field, TIER_FIELD, strlen(TIER_FIELD)) == 0);
    } else {
        check_failure(&err, "usage");
        CHECK(memcmp(&t, &canary, sizeof(t)) == 0);
        /* The tier is read last: the same error with or without it. */
        CHECK(!ok2 && err2.status == err.status && strcmp(err2.field, err.field) == 0);
    }
    if (ok2) {
        CHECK(mode == MODE_COUNT || (unsigned)mode < MODE_COUNT);
        if (mode == MODE_COUNT)
            CHECK(tier_silent(j));
    } else {
        check_failure(&err2, "usage");
        CHECK(mode == MODE_COUNT);
        CHECK(memcmp(&t2, &canary, sizeof(t2)) == 0);
    }

    /* The same usage in a whole response, format given: same tokens, errors under response. */
    if (!json_is_null(j)) {
        memset(&r, 0x5a, sizeof(r));
        w = json_object();
        json_object_set(w, MEMBER, j);
        ok3 = usage_decode_response(FORMAT, w, NULL, &r, NULL, &err3);
        CHECK(ok3 == ok);
        if (ok3) {
            CHECK(strcmp(r.format, FORMAT) == 0);
            CHECK(memcmp(&r.tokens, &t, sizeof(t)) == 0);
        } else {
            char want[80];
            snprintf(want, sizeof(want), "response." MEMBER "%s", err.field + strlen("usage"));
            CHECK(err3.status == err.status && strcmp(err3.code, err.code) == 0);
            CHECK(strncmp(err3.field, want, sizeof(err3.field) - 1) == 0);
        }
        json_decref(w);
    }
    check_detection(j);
    json_decref(j);
    return 0;
}

#endif
