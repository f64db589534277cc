// links: ingest/event.c ingest/usage.c
/*
 * Fuzz target for event_decode, event_canonical and the RFC 3339 times.
 * The bytes are parsed as JSON; an object goes through event_decode, and
 * the result must satisfy the event's invariants: on success every field
 * within its limits and a canonical text that is stable and survives a
 * round trip through the normalized form; on failure a 400 or 422 with a
 * known code and a valid UTF-8 field. An event that came as a whole
 * response must mean the same as its usage object sent with the id,
 * model, mode and format it was given, and a usage object whose format
 * was detected the same as with that format named. Bytes that are no
 * JSON object are tried as a timestamp: what parses must format and parse
 * back the same.
 */
#include "event.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1795773600000000LL /* 2026-11-27T10:00:00Z */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* abort() with a reason: libFuzzer reports it as a crash with the input. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool utf8_valid(const char *s)
{
    json_t *j = json_string(s); /* jansson checks UTF-8 */
    bool ok = j != NULL;
    json_decref(j);
    return ok;
}

static bool slug(const char *s, bool may_be_empty)
{
    size_t n = strlen(s);
    if (n == 0)
        return may_be_empty;
    if (n > EVENT_SLUG_MAX || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static void check_tokens(const struct tokens *t)
{
    const int64_t v[] = {t->input_uncached, t->cache_read, t->cache_write_5m,
                         t->cache_write_1h, t->output,     t->reasoning};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        CHECK(v[i] >= 0 && v[i] <= EVENT_MAX_TOKENS);
    CHECK(t->reasoning <= t->output);
}

/* The event as normalized JSON members, in another order: it must decode to the same text. */
static json_t *renormalize(const struct usage_event *ev)
{
    static const char *const modes[] = {"standard", "batch", "flex", "priority"};
    json_t *o = json_object();
    char ts[40];

    json_object_set_new(o, "reasoning_tokens", json_integer(ev->tokens.reasoning));
    json_object_set_new(o, "output_tokens", json_integer(ev->tokens.output));
    json_object_set_new(o, "cache_write_1h_tokens", json_integer(ev->tokens.cache_write_1h));
    json_object_set_new(o, "cache_write_5m_tokens", json_integer(ev->tokens.cache_write_5m));
    json_object_set_new(o, "cache_read_tokens", json_integer(ev->tokens.cache_read));
    json_object_set_new(o, "input_tokens", json_integer(ev->tokens.input_uncached));
    json_object_set_new(o, "mode", json_string(modes[ev->mode]));
    if (ev->latency_ms >= 0)
        json_object_set_new(o, "latency_ms", json_integer(ev->latency_ms));
    json_object_set_new(o, "status", json_string(ev->status == EVENT_ERROR ? "error" : "ok"));
    if (ev->request_id[0])
        json_object_set_new(o, "request_id", json_string(ev->request_id));
    json_object_set_new(o, "requested_model", json_string(ev->requested_model));
    json_object_set_new(o, "model", json_string(ev->model));
    json_object_set_new(o, "provider", json_string(ev->provider));
    json_object_set(o, "tags", ev->tags);
    if (ev->api_key_id)
        json_object_set_new(o, "api_key_id", json_integer(ev->api_key_id));
    if (ev->user[0])
        json_object_set_new(o, "user", json_string(ev->user));
    if (ev->project[0])
        json_object_set_new(o, "project", json_string(ev->project));
    json_object_set_new(o, "team", json_string(ev->team));
    if (ev->ts_given) {
        event_format_time(ev->ts_us, ts);
        json_object_set_new(o, "timestamp", json_string(ts));
    }
    json_object_set_new(o, "id", json_string(ev->id));
    return o;
}

static void check_success(const struct usage_event *ev)
{
    static char text[EVENT_CANONICAL_MAX], again[EVENT_CANONICAL_MAX];
    struct usage_event ev2;
    struct event_error err;
    const char *key;
    json_t *v, *o;
    size_t n;

    CHECK(strlen(ev->id) >= 1 && strlen(ev->id) <= EVENT_ID_MAX && utf8_valid(ev->id));
    CHECK(slug(ev->team, false) && slug(ev->project, true));
    CHECK(ev->provider[0] && ev->model[0] && ev->requested_model[0]);
    CHECK(ev->api_key_id >= 0 && ev->latency_ms >= -1);
    CHECK((unsigned)ev->mode < MODE_COUNT);
    CHECK(ev->status == EVENT_OK || ev->status == EVENT_ERROR);
    if (ev->ts_given)
        CHECK(ev->ts_us >= 946684800000000LL && ev->ts_us <= NOW + EVENT_FUTURE_SLACK);
    else
        CHECK(ev->ts_us == NOW);
    check_tokens(&ev->tokens);
    CHECK(ev->usage_format[0]);
    CHECK(json_is_object(ev->tags) && json_object_size(ev->tags) <= EVENT_TAGS_MAX);
    json_object_foreach(ev->tags, key, v)
        CHECK(json_is_string(v) && json_string_length(v) <= EVENT_TAG_VAL_MAX);

    n = event_canonical(ev, text, sizeof(text));
    CHECK(n > 0 && n == strlen(text));
    CHECK(event_canonical(ev, again, sizeof(again)) == n && memcmp(text, again, n) == 0);
    CHECK(event_canonical(ev, again, n) == 0);

    /* Same content sent as normalized fields: same text (and a later receive time is no matter). */
    o = renormalize(ev);
    CHECK(event_decode(o, ev->ts_given ? NOW + 1000 : NOW, &ev2, &err));
    CHECK(event_canonical(&ev2, again, sizeof(again)) == n && memcmp(text, again, n) == 0);
    event_clear(&ev2);
    json_decref(o);
}

/* Decodes o (at the receive time now) and checks its canonical text is text[0..n). */
static void check_same(json_t *o, int64_t now, const char *text, size_t n)
{
    static char again[EVENT_CANONICAL_MAX];
    struct usage_event ev2;
    struct event_error err;

    if (!event_decode(o, now, &ev2, &err)) {
        fprintf(stderr, "refused: %d %s %s: %s\n", err.status, err.code, err.field, err.message);
        CHECK(!"the same event in another form is refused");
    }
    CHECK(event_canonical(&ev2, again, sizeof(again)) == n && memcmp(text, again, n) == 0);
    event_clear(&ev2);
}

/*
 * The other usage forms of a decoded event j: a whole response as its
 * usage object (the response's usage, id, model and tier made explicit),
 * a detected usage object with its format named. Both give the same text.
 */
static void check_forms(const json_t *j, const struct usage_event *ev)
{
    static const char *const modes[] = {"standard", "batch", "flex", "priority"};
    static char text[EVENT_CANONICAL_MAX];
    const json_t *response = json_object_get(j, "response");
    const json_t *usage = json_object_get(j, "usage");
    int64_t now = ev->ts_given ? NOW + 1000 : NOW;
    size_t n = event_canonical(ev, text, sizeof(text));
    json_t *o;

    if (json_is_object(response)) {
        /* The format's own usage member, else the other (usage.h). */
        bool gemini = strcmp(ev->usage_format, "gemini") == 0;
        const json_t *u = json_object_get(response, gemini ? "usageMetadata" : "usage");
        if (!u || json_is_null(u))
            u = json_object_get(response, gemini ? "usage" : "usageMetadata");
        o = json_copy((json_t *)j);
        json_object_del(o, "response");
        json_object_set(o, "usage", (json_t *)u);
        json_object_set_new(o, "usage_format", json_string(ev->usage_format));
        json_object_set_new(o, "id", json_string(ev->id));
        json_object_set_new(o, "model", json_string(ev->model));
        json_object_set_new(o, "requested_model", json_string(ev->requested_model));
        json_object_set_new(o, "mode", json_string(modes[ev->mode]));
        check_same(o, now, text, n);
        json_decref(o);
    } else if (json_is_object(usage) && !json_object_get(j, "usage_format")) {
        o = json_copy((json_t *)j);
        json_object_set_new(o, "usage_format", json_string(ev->usage_format));
        check_same(o, now, text, n);
        json_decref(o);
    }
}

static void check_failure(const struct usage_event *ev, const struct event_error *err)
{
    static const char *const codes[] = {"missing_field", "invalid_type", "unknown_field",
                                        "conflicting_fields", "invalid_value"};
    bool known = false;

    CHECK(err->status == 400 || err->status == 422);
    CHECK(err->code != NULL);
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        known |= strcmp(err->code, codes[i]) == 0;
    CHECK(known);
    CHECK((err->status == 422) == (strcmp(err->code, "invalid_value") == 0));
    CHECK(memchr(err->field, '\0', sizeof(err->field)) != NULL && utf8_valid(err->field));
    CHECK(err->message[0] && utf8_valid(err->message));
    CHECK(ev->tags == NULL);
}

/* A timestamp that parses formats and parses back to the same instant. */
static void check_time(const uint8_t *data, size_t size)
{
    char s[64], back[40];
    int64_t us, us2;

    if (size >= sizeof(s))
        return;
    memcpy(s, data, size);
    s[size] = '\0';
    if (!event_parse_time(s, &us))
        return;
    event_format_time(us, back);
    if (us >= 946684800000000LL && us < 253402300800000000LL) {
        CHECK(event_parse_time(back, &us2));
        CHECK(us2 == us);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *)data, size, JSON_ALLOW_NUL, NULL);
    struct usage_event ev;
    struct event_error err;

    if (!json_is_object(j)) {
        check_time(data, size);
        json_decref(j);
        return 0;
    }
    if (event_decode(j, NOW, &ev, &err)) {
        check_success(&ev);
        check_forms(j, &ev);
        event_clear(&ev);
        CHECK(ev.tags == NULL);
    } else {
        check_failure(&ev, &err);
    }
    json_decref(j);
    return 0;
}
