/*
 * The invariants of an OTLP decode, shared by fuzz/otlp_proto.c and
 * fuzz/otlp_json.c: whatever the bytes, a batch's counts add up, every
 * event is one event_decode would accept (ids, slugs, lengths, no control
 * characters, UTF-8, token ranges, times), every reject names a known code
 * with a UTF-8 message, and the reply encoders take the summary. A failed
 * decode is a known status with a UTF-8 message. abort() on a violation,
 * which libFuzzer reports with the input.
 */
#ifndef TOLLGATE_FUZZ_OTLP_CHECK_H
#define TOLLGATE_FUZZ_OTLP_CHECK_H

#include "otlp.h"

#include "otlp.pb-c.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1795773600000000LL /* 2026-11-27T10:00:00Z */

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool utf8_ok(const char *s)
{
    json_t *j = json_string(s); /* jansson checks UTF-8 */
    bool ok = j != NULL;
    json_decref(j);
    return ok;
}

static bool clean(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max || !utf8_ok(s))
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
            return false;
    return true;
}

static bool is_id(const char *s)
{
    if (strlen(s) != GENAI_EVENT_ID_LEN || s[32] != '-')
        return false;
    for (int i = 0; i < GENAI_EVENT_ID_LEN; i++)
        if (i != 32 && !strchr("0123456789abcdef", s[i]))
            return false;
    return true;
}

static void check_event(const struct usage_event *ev)
{
    const int64_t v[] = {ev->tokens.input_uncached, ev->tokens.cache_read,
                         ev->tokens.cache_write_5m, ev->tokens.cache_write_1h,
                         ev->tokens.output,         ev->tokens.reasoning};
    const char *key;
    json_t *val;

    CHECK(is_id(ev->id));
    CHECK(ev->ts_given && ev->ts_us >= 946684800000000LL && ev->ts_us <= NOW + EVENT_FUTURE_SLACK);
    CHECK(event_slug_valid(ev->team));
    CHECK(ev->project[0] == '\0' || event_slug_valid(ev->project));
    CHECK(ev->user[0] == '\0' || clean(ev->user, 1, EVENT_USER_MAX));
    CHECK(ev->api_key_id == 0);
    CHECK(clean(ev->provider, 1, EVENT_NAME_MAX));
    CHECK(clean(ev->model, 1, EVENT_NAME_MAX));
    CHECK(clean(ev->requested_model, 1, EVENT_NAME_MAX));
    CHECK(ev->request_id[0] == '\0' || clean(ev->request_id, 1, EVENT_NAME_MAX));
    CHECK(ev->status == EVENT_OK || ev->status == EVENT_ERROR);
    CHECK(ev->latency_ms >= -1 && ev->latency_ms <= INT32_MAX);
    CHECK(ev->mode == MODE_STANDARD);
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        CHECK(v[i] >= 0 && v[i] <= EVENT_MAX_TOKENS);
    CHECK(ev->tokens.cache_write_1h == 0);
    CHECK(ev->tokens.reasoning <= ev->tokens.output);
    CHECK(strcmp(ev->usage_format, "otlp") == 0);
    CHECK(json_is_object(ev->tags) && json_object_size(ev->tags) <= EVENT_TAGS_MAX);
    json_object_foreach(ev->tags, key, val)
    {
        CHECK(clean(key, 1, EVENT_TAG_KEY_MAX));
        CHECK(json_is_string(val) && clean(json_string_value(val), 1, EVENT_TAG_VAL_MAX));
    }
}

static void check_reply(const struct genai_batch *b)
{
    char summary[1024];
    uint8_t *out;
    size_t len;
    json_t *j;

    genai_batch_summary(b, summary, sizeof(summary));
    CHECK(utf8_ok(summary));
    CHECK((summary[0] != '\0') == (b->rejected > 0));
    CHECK(otlp_encode_response(OTLP_PROTOBUF, (int64_t)b->rejected, summary, &out, &len) ==
          OTLP_OK);
    CHECK((len == 0) == (b->rejected == 0));
    free(out);
    CHECK(otlp_encode_response(OTLP_JSON, (int64_t)b->rejected, summary, &out, &len) == OTLP_OK);
    j = json_loadb((const char *)out, len, 0, NULL);
    CHECK(json_is_object(j));
    CHECK((json_object_get(j, "partialSuccess") != NULL) == (b->rejected > 0));
    json_decref(j);
    free(out);
}

static void check_batch(const struct genai_batch *b)
{
    static const char *const codes[] = {"missing_field", "invalid_type", "invalid_value"};

    CHECK(b->spans == b->n_events + b->ignored + b->aggregates + b->duplicates + b->rejected);
    CHECK(b->n_rejects == (b->rejected < GENAI_REJECTS_MAX ? b->rejected : GENAI_REJECTS_MAX));
    for (size_t i = 0; i < b->n_events; i++)
        check_event(&b->events[i]);
    for (size_t i = 0; i < b->n_rejects; i++) {
        const struct genai_reject *r = &b->rejects[i];
        bool known = false;
        CHECK(r->span < b->spans);
        CHECK(i == 0 || r->span > b->rejects[i - 1].span);
        CHECK(r->event_id[0] == '\0' || is_id(r->event_id));
        for (size_t k = 0; k < sizeof(codes) / sizeof(codes[0]); k++)
            known |= r->code && strcmp(r->code, codes[k]) == 0;
        CHECK(known);
        CHECK(r->message[0] && utf8_ok(r->message));
    }
    check_reply(b);
}

static void check_error(enum otlp_status st, const struct otlp_error *err)
{
    CHECK(st == OTLP_EPARSE || st == OTLP_ETOOBIG);
    CHECK(err->status == st);
    CHECK(err->message[0] && utf8_ok(err->message));
}

/* Two batches of the same request, one per encoding, hold the same events. */
static void check_same(const struct genai_batch *a, const struct genai_batch *b)
{
    CHECK(a->spans == b->spans && a->n_events == b->n_events && a->ignored == b->ignored &&
          a->aggregates == b->aggregates && a->duplicates == b->duplicates &&
          a->rejected == b->rejected);
    for (size_t i = 0; i < a->n_events; i++) {
        const struct usage_event *x = &a->events[i], *y = &b->events[i];
        CHECK(strcmp(x->id, y->id) == 0 && x->ts_us == y->ts_us && x->latency_ms == y->latency_ms);
        CHECK(memcmp(&x->tokens, &y->tokens, sizeof(x->tokens)) == 0);
        CHECK(strcmp(x->team, y->team) == 0 && strcmp(x->project, y->project) == 0 &&
              strcmp(x->user, y->user) == 0 && strcmp(x->model, y->model) == 0 &&
              strcmp(x->provider, y->provider) == 0);
        CHECK(json_equal(x->tags, y->tags));
    }
    for (size_t i = 0; i < a->n_rejects; i++)
        CHECK(strcmp(a->rejects[i].message, b->rejects[i].message) == 0);
}

/*
 * Decodes data in enc with the default mapping, checks the result, and
 * returns the parsed request's protobuf bytes (malloc'd) when it parsed,
 * for a round trip; NULL otherwise.
 */
static uint8_t *decode_and_check(enum otlp_encoding enc, const uint8_t *data, size_t size,
                                 struct genai_batch *out, size_t *pb_len)
{
    static struct genai_mapping *m;
    /* 512 to 16,832 bytes: some inputs fit, others run out midway */
    struct otlp_limits tight = {OTLP_DEFAULT_MAX_BODY, 512 + (size ? data[size - 1] : 0) * 64};
    struct otlp_request *r = NULL;
    struct otlp_error err;
    enum otlp_status st;
    uint8_t *pb;

    if (!m)
        m = genai_mapping_new();
    CHECK(m);
    /* A tight memory cap: refused or parsed, never a leak or a crash. */
    st = otlp_parse(enc, data, size, &tight, &r, &err);
    if (st != OTLP_OK)
        check_error(st, &err);
    otlp_request_free(&r);
    CHECK(r == NULL);

    st = otlp_decode_traces(m, enc, data, size, NULL, NOW, size % 2 ? "fallback" : NULL, out, &err);
    if (st != OTLP_OK) {
        check_error(st, &err);
        CHECK(out->events == NULL && out->spans == 0);
        return NULL;
    }
    check_batch(out);
    if (size % 2) /* a default team: no span lacks one */
        for (size_t i = 0; i < out->n_rejects; i++)
            CHECK(strncmp(out->rejects[i].message, "no team", 7) != 0);

    CHECK(otlp_parse(enc, data, size, NULL, &r, &err) == OTLP_OK);
    *pb_len = protobuf_c_message_get_packed_size(&otlp_request_message(r)->base);
    pb = malloc(*pb_len ? *pb_len : 1);
    CHECK(pb);
    protobuf_c_message_pack(&otlp_request_message(r)->base, pb);
    otlp_request_free(&r);
    return pb;
}

/* Decodes the re-packed protobuf bytes and checks they give the same batch as before. */
static void check_round_trip(const uint8_t *pb, size_t len, const struct genai_batch *first,
                             bool odd)
{
    static struct genai_mapping *m;
    struct genai_batch again;
    struct otlp_error err;

    if (!m)
        m = genai_mapping_new();
    CHECK(otlp_decode_traces(m, OTLP_PROTOBUF, pb, len, NULL, NOW, odd ? "fallback" : NULL, &again,
                             &err) == OTLP_OK);
    check_same(first, &again);
    genai_batch_clear(&again);
}

#endif
