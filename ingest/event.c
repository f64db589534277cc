/*
 * event: decodes one usage event (a JSON object) into struct usage_event,
 * checking every member, and writes its canonical text and its times.
 * Memory: a decoded event owns its tags object (free with event_clear);
 * the input object is only read. Pure and reentrant: any thread.
 */
#include "event.h"
#include "calendar.h"

#include "usage.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define US_PER_S      1000000LL
#define MIN_EVENT_US  (946684800LL * US_PER_S) /* 2000-01-01T00:00:00Z */
#define SEC_PER_DAY   86400LL
#define FIELD_MAX     64 /* sizeof(struct event_error.field) */
#define N_TOKEN_FIELD 6

/* Every member an event may have; anything else is unknown_field. */
static const char *const known_members[] = {
    "id",
    "timestamp",
    "team",
    "project",
    "user",
    "api_key_id",
    "tags",
    "provider",
    "model",
    "requested_model",
    "request_id",
    "status",
    "latency_ms",
    "mode",
    "usage",
    "usage_format",
    "response",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
};

/* The normalized usage members, in the order of struct tokens. */
static const char *const token_members[N_TOKEN_FIELD] = {
    "input_tokens",          "cache_read_tokens", "cache_write_5m_tokens",
    "cache_write_1h_tokens", "output_tokens",     "reasoning_tokens",
};

/* Names of enum usage_mode, indexed by it (kept here so event.c links alone). */
static const char *const mode_names[MODE_COUNT] = {"standard", "batch", "flex", "priority"};

/*
 * Copies prefix then name (name_len bytes, which may hold anything a JSON
 * key can) into dst as a field path: control bytes become '?', and a path
 * too long for dst is cut at a UTF-8 character boundary, so the result is
 * always valid UTF-8 when name is.
 */
static void set_field(char dst[FIELD_MAX], const char *prefix, const char *name, size_t name_len)
{
    size_t n = 0;
    size_t plen = strlen(prefix);

    for (size_t i = 0; i < plen && n < FIELD_MAX - 1; i++)
        dst[n++] = prefix[i];
    for (size_t i = 0; i < name_len && n < FIELD_MAX - 1; i++) {
        unsigned char c = (unsigned char)name[i];
        dst[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (n == FIELD_MAX - 1 && plen + name_len > n) {
        /* Cut: drop a partial multi-byte character at the end. */
        size_t end = n;
        while (end > 0 && ((unsigned char)dst[end - 1] & 0xc0) == 0x80)
            end--;
        if (end > 0 && ((unsigned char)dst[end - 1] & 0x80)) {
            unsigned char lead = (unsigned char)dst[end - 1];
            size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
            if (n - (end - 1) < need)
                n = end - 1;
        }
    }
    dst[n] = '\0';
}

bool event_fail(struct event_error *err, int status, const char *code, const char *field,
                const char *fmt, ...)
{
    va_list ap;

    err->status = status;
    err->code = code;
    set_field(err->field, "", field, strlen(field));
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return false;
}

/* A member's value, with JSON null read as absent (NULL). */
static const json_t *member(const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    return json_is_null(v) ? NULL : v;
}

/*
 * True if s[0..len) holds no control character: C0 (including NUL, which
 * would cut a C string short), DEL, or C1 (U+0080..U+009F, UTF-8 C2 80..9F).
 */
static bool no_controls(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
        if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
            (unsigned char)s[i + 1] <= 0x9f)
            return false;
    }
    return true;
}

/* The slug grammar of teams and projects: [a-z0-9][a-z0-9._-]{0,62}. */
static bool slug_valid(const char *s, size_t len)
{
    if (len < 1 || len > EVENT_SLUG_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return false;
    }
    return true;
}

bool event_slug_valid(const char *s)
{
    return s && slug_valid(s, strlen(s));
}

/*
 * Copies the string v (field names it in errors) into dst (max bytes, plus
 * a NUL): 1..max bytes with no control characters, or a slug when slug is
 * set.
 */
static bool copy_string(const json_t *v, const char *field, bool slug, size_t max, char *dst,
                        struct event_error *err)
{
    const char *s;
    size_t len;

    if (!json_is_string(v))
        return event_fail(err, 400, "invalid_type", field, "%s must be a string", field);
    s = json_string_value(v);
    len = json_string_length(v);
    if (slug) {
        if (!slug_valid(s, len))
            return event_fail(err, 422, "invalid_value", field,
                              "%s must be a slug: [a-z0-9][a-z0-9._-]{0,62}", field);
    } else {
        if (len < 1 || len > max)
            return event_fail(err, 422, "invalid_value", field, "%s must be 1 to %zu bytes", field,
                              max);
        if (!no_controls(s, len))
            return event_fail(err, 422, "invalid_value", field,
                              "%s must not hold control characters", field);
    }
    memcpy(dst, s, len);
    dst[len] = '\0';
    return true;
}

/*
 * Reads the optional string member name of obj into dst as copy_string
 * does. *given tells whether it was there (absent or null: dst untouched).
 */
static bool get_string(const json_t *obj, const char *name, bool required, bool slug, size_t max,
                       char *dst, bool *given, struct event_error *err)
{
    const json_t *v = member(obj, name);

    *given = false;
    if (!v) {
        if (required)
            return event_fail(err, 400, "missing_field", name, "%s is required", name);
        return true;
    }
    if (!copy_string(v, name, slug, max, dst, err))
        return false;
    *given = true;
    return true;
}

/*
 * Reads the optional integer member name of obj into *out, which must lie
 * in lo..hi. Reals (1.5, 1e3) are refused like strings and booleans: a
 * count or an id is never fractional. *given tells whether it was there.
 */
static bool get_int(const json_t *obj, const char *name, int64_t lo, int64_t hi, int64_t *out,
                    bool *given, struct event_error *err)
{
    const json_t *v = member(obj, name);
    json_int_t n;

    *given = false;
    if (!v)
        return true;
    if (!json_is_integer(v))
        return event_fail(err, 400, "invalid_type", name, "%s must be an integer", name);
    n = json_integer_value(v);
    if (n < lo || n > hi)
        return event_fail(err, 422, "invalid_value", name, "%s must be from %lld to %lld", name,
                          (long long)lo, (long long)hi);
    *out = (int64_t)n;
    *given = true;
    return true;
}

/* The first member of obj that is not an event member: unknown_field. */
static bool check_members(const json_t *obj, struct event_error *err)
{
    const char *key;
    const json_t *v;

    json_object_foreach((json_t *)obj, key, v)
    {
        size_t klen = json_object_iter_key_len(json_object_key_to_iter(key));
        bool known = false;
        (void)v;
        for (size_t i = 0; i < sizeof(known_members) / sizeof(known_members[0]); i++) {
            if (klen == strlen(known_members[i]) && memcmp(key, known_members[i], klen) == 0) {
                known = true;
                break;
            }
        }
        if (!known) {
            event_fail(err, 400, "unknown_field", "",
                       "unknown member (the event format has no such field)");
            set_field(err->field, "", key, klen);
            return false;
        }
    }
    return true;
}

/*
 * Validates the tags object and copies it into *out (a new object of
 * strings): at most EVENT_TAGS_MAX tags, keys 1..EVENT_TAG_KEY_MAX bytes,
 * values up to EVENT_TAG_VAL_MAX, neither with control characters.
 */
static bool get_tags(const json_t *obj, json_t **out, struct event_error *err)
{
    const json_t *tags = member(obj, "tags");
    json_t *copy = NULL;
    const char *key;
    const json_t *v;
    bool ok = false;

    if (tags && !json_is_object(tags))
        return event_fail(err, 400, "invalid_type", "tags", "tags must be an object of strings");
    if (tags && json_object_size(tags) > EVENT_TAGS_MAX)
        return event_fail(err, 422, "invalid_value", "tags", "at most %d tags", EVENT_TAGS_MAX);
    copy = json_object();
    if (!copy)
        return event_fail(err, 503, "out_of_memory", "tags", "out of memory");
    json_object_foreach((json_t *)tags, key, v)
    {
        size_t klen = json_object_iter_key_len(json_object_key_to_iter(key));
        size_t vlen;

        if (klen < 1 || klen > EVENT_TAG_KEY_MAX || !no_controls(key, klen)) {
            event_fail(err, 422, "invalid_value", "",
                       "a tag key must be 1 to %d bytes, no control characters", EVENT_TAG_KEY_MAX);
            set_field(err->field, "tags.", key, klen);
            goto out;
        }
        if (!json_is_string(v)) {
            event_fail(err, 400, "invalid_type", "", "tag values must be strings");
            set_field(err->field, "tags.", key, klen);
            goto out;
        }
        vlen = json_string_length(v);
        if (vlen > EVENT_TAG_VAL_MAX || !no_controls(json_string_value(v), vlen)) {
            event_fail(err, 422, "invalid_value", "",
                       "a tag value must be at most %d bytes, no control characters",
                       EVENT_TAG_VAL_MAX);
            set_field(err->field, "tags.", key, klen);
            goto out;
        }
        if (json_object_set_new(copy, key, json_stringn(json_string_value(v), vlen)) != 0) {
            event_fail(err, 503, "out_of_memory", "tags", "out of memory");
            goto out;
        }
    }
    *out = copy;
    copy = NULL;
    ok = true;
out:
    json_decref(copy);
    return ok;
}

/* The normalized usage members into t: each 0..EVENT_MAX_TOKENS, reasoning <= output. */
static bool get_normalized(const json_t *obj, struct tokens *t, struct event_error *err)
{
    int64_t *dst[N_TOKEN_FIELD] = {&t->input_uncached, &t->cache_read, &t->cache_write_5m,
                                   &t->cache_write_1h, &t->output,     &t->reasoning};
    bool given;

    for (int i = 0; i < N_TOKEN_FIELD; i++) {
        *dst[i] = 0;
        if (!get_int(obj, token_members[i], 0, EVENT_MAX_TOKENS, dst[i], &given, err))
            return false;
    }
    if (t->reasoning > t->output)
        return event_fail(err, 422, "invalid_value", "reasoning_tokens",
                          "reasoning_tokens is part of output_tokens and cannot exceed it");
    return true;
}

/*
 * A whole provider response into ev: its usage (and tier, when the event
 * gave no mode), and its id and model where the event gave none. fmt is
 * usage_format, or NULL to tell the format from the response.
 */
static bool get_response(const json_t *response, const char *fmt, struct usage_event *ev,
                         bool mode_given, bool id_given, bool model_given, struct event_error *err)
{
    struct usage_response r;

    if (!usage_decode_response(fmt, response, ev->provider, &r, mode_given ? NULL : &ev->mode, err))
        return false;
    if (!id_given) {
        if (!r.id)
            return event_fail(err, 400, "missing_field", "id",
                              "id is required: the response carries no id (%s)",
                              r.id_field[0] ? r.id_field : "none in this format");
        if (!copy_string(r.id, r.id_field, false, EVENT_ID_MAX, ev->id, err))
            return false;
    }
    if (!model_given) {
        if (!r.model)
            return event_fail(err, 400, "missing_field", "model",
                              "model is required: the response names no model (%s)",
                              r.model_field[0] ? r.model_field : "none in this format");
        if (!copy_string(r.model, r.model_field, false, EVENT_NAME_MAX, ev->model, err))
            return false;
    }
    ev->tokens = r.tokens;
    snprintf(ev->usage_format, sizeof(ev->usage_format), "%s", r.format);
    return true;
}

/*
 * The usage, in one of its three forms (normalized members, a provider's
 * usage object, a provider's whole response), into ev->tokens, and
 * ev->mode when the event gave no mode. id_given and model_given: whether
 * the event had them (a response may supply them).
 */
static bool get_usage(const json_t *obj, struct usage_event *ev, bool mode_given, bool id_given,
                      bool model_given, struct event_error *err)
{
    const json_t *usage = member(obj, "usage");
    const json_t *format = member(obj, "usage_format");
    const json_t *response = member(obj, "response");
    const char *fmt = NULL;

    if (!usage && !format && !response) {
        snprintf(ev->usage_format, sizeof(ev->usage_format), "normalized");
        return get_normalized(obj, &ev->tokens, err);
    }
    if (!usage && !response)
        return event_fail(err, 400, "missing_field", "usage",
                          "usage_format is given without usage or response");
    for (int i = 0; i < N_TOKEN_FIELD; i++) {
        if (member(obj, token_members[i]))
            return event_fail(err, 400, "conflicting_fields", token_members[i],
                              "give usage either as normalized token fields or as %s, not both",
                              usage ? "usage (a provider's usage object)"
                                    : "response (a provider's whole response)");
    }
    if (usage && response)
        return event_fail(err, 400, "conflicting_fields", "usage",
                          "give either usage (a provider's usage object) or response (its whole "
                          "response), not both");
    if (usage && !json_is_object(usage))
        return event_fail(err, 400, "invalid_type", "usage", "usage must be an object");
    if (format) {
        if (!json_is_string(format))
            return event_fail(err, 400, "invalid_type", "usage_format",
                              "usage_format must be a string");
        fmt = json_string_value(format);
        if (strlen(fmt) != json_string_length(format) || strlen(fmt) >= sizeof(ev->usage_format))
            return event_fail(err, 422, "invalid_value", "usage_format", "unknown usage_format");
    }
    if (response)
        return get_response(response, fmt, ev, mode_given, id_given, model_given, err);
    if (!fmt && !(fmt = usage_detect(usage, ev->provider, err)))
        return false;
    if (!usage_decode(fmt, usage, &ev->tokens, mode_given ? NULL : &ev->mode, err))
        return false;
    snprintf(ev->usage_format, sizeof(ev->usage_format), "%s", fmt);
    return true;
}

/* The optional timestamp: RFC 3339, from 2000 on, at most EVENT_FUTURE_SLACK ahead of now. */
static bool get_timestamp(const json_t *obj, int64_t now_us, struct usage_event *ev,
                          struct event_error *err)
{
    const json_t *v = member(obj, "timestamp");
    const char *s;
    int64_t ts;

    ev->ts_us = now_us;
    ev->ts_given = false;
    if (!v)
        return true;
    if (!json_is_string(v))
        return event_fail(err, 400, "invalid_type", "timestamp",
                          "timestamp must be an RFC 3339 string");
    s = json_string_value(v);
    if (strlen(s) != json_string_length(v) || !event_parse_time(s, &ts))
        return event_fail(err, 422, "invalid_value", "timestamp",
                          "timestamp must be an RFC 3339 time, e.g. 2026-11-27T10:00:00Z");
    if (ts < MIN_EVENT_US)
        return event_fail(err, 422, "invalid_value", "timestamp", "timestamp is before 2000-01-01");
    if (now_us <= INT64_MAX - EVENT_FUTURE_SLACK && ts > now_us + EVENT_FUTURE_SLACK)
        return event_fail(err, 422, "invalid_value", "timestamp",
                          "timestamp is more than 5 minutes in the future");
    ev->ts_us = ts;
    ev->ts_given = true;
    return true;
}

/* status and mode: small enums spelled as strings. */
static bool get_enums(const json_t *obj, struct usage_event *ev, bool *mode_given,
                      struct event_error *err)
{
    const json_t *v = member(obj, "status");

    ev->status = EVENT_OK;
    if (v) {
        if (!json_is_string(v))
            return event_fail(err, 400, "invalid_type", "status", "status must be a string");
        if (strcmp(json_string_value(v), "error") == 0 && json_string_length(v) == 5)
            ev->status = EVENT_ERROR;
        else if (strcmp(json_string_value(v), "ok") != 0 || json_string_length(v) != 2)
            return event_fail(err, 422, "invalid_value", "status",
                              "status must be \"ok\" or \"error\"");
    }
    ev->mode = MODE_STANDARD;
    *mode_given = false;
    v = member(obj, "mode");
    if (v) {
        if (!json_is_string(v))
            return event_fail(err, 400, "invalid_type", "mode", "mode must be a string");
        for (int m = 0; m < MODE_COUNT; m++) {
            if (strcmp(json_string_value(v), mode_names[m]) == 0 &&
                json_string_length(v) == strlen(mode_names[m])) {
                ev->mode = (enum usage_mode)m;
                *mode_given = true;
            }
        }
        if (!*mode_given)
            return event_fail(err, 422, "invalid_value", "mode",
                              "mode must be \"standard\", \"batch\", \"flex\" or \"priority\"");
    }
    return true;
}

/*
 * Decodes obj into *ev (zeroed first; tags left NULL on failure). With a
 * whole response, id and model may come from it, so their absence is
 * checked once the response is read.
 */
static bool decode(const json_t *obj, int64_t now_us, struct usage_event *ev,
                   struct event_error *err)
{
    const json_t *response;
    bool given, mode_given, id_given, model_given, requested_given;

    if (!json_is_object(obj))
        return event_fail(err, 400, "invalid_type", "", "an event must be a JSON object");
    if (!check_members(obj, err))
        return false;
    response = member(obj, "response");
    if (response && !json_is_object(response))
        return event_fail(err, 400, "invalid_type", "response",
                          "response must be an object (a provider's whole response body)");
    if (!get_string(obj, "id", !response, false, EVENT_ID_MAX, ev->id, &id_given, err) ||
        !get_timestamp(obj, now_us, ev, err) ||
        !get_string(obj, "team", true, true, EVENT_SLUG_MAX, ev->team, &given, err) ||
        !get_string(obj, "project", false, true, EVENT_SLUG_MAX, ev->project, &given, err) ||
        !get_string(obj, "user", false, false, EVENT_USER_MAX, ev->user, &given, err))
        return false;
    ev->api_key_id = 0;
    if (!get_int(obj, "api_key_id", 1, INT64_MAX, &ev->api_key_id, &given, err) ||
        !get_string(obj, "provider", true, false, EVENT_NAME_MAX, ev->provider, &given, err) ||
        !get_string(obj, "model", !response, false, EVENT_NAME_MAX, ev->model, &model_given, err) ||
        !get_string(obj, "requested_model", false, false, EVENT_NAME_MAX, ev->requested_model,
                    &requested_given, err) ||
        !get_string(obj, "request_id", false, false, EVENT_NAME_MAX, ev->request_id, &given, err) ||
        !get_enums(obj, ev, &mode_given, err))
        return false;
    ev->latency_ms = -1;
    /* latency_ms is stored as a 32-bit integer: about 24 days is plenty */
    if (!get_int(obj, "latency_ms", 0, INT32_MAX, &ev->latency_ms, &given, err) ||
        !get_usage(obj, ev, mode_given, id_given, model_given, err))
        return false;
    if (!requested_given)
        memcpy(ev->requested_model, ev->model, sizeof(ev->model));
    /* Tags last: the only member that allocates, so nothing before needs undoing. */
    return get_tags(obj, &ev->tags, err);
}

bool event_decode(const json_t *obj, int64_t now_us, struct usage_event *ev,
                  struct event_error *err)
{
    memset(ev, 0, sizeof(*ev));
    if (!decode(obj, now_us, ev, err)) {
        json_decref(ev->tags);
        memset(ev, 0, sizeof(*ev));
        return false;
    }
    return true;
}

void event_clear(struct usage_event *ev)
{
    if (!ev)
        return;
    json_decref(ev->tags);
    memset(ev, 0, sizeof(*ev));
}

/* ---- canonical text ---- */

/* An appender that stops (and remembers it) when the buffer is full. */
struct out {
    char *buf;
    size_t cap, len;
    bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->full || n >= o->cap - o->len) {
        o->full = true;
        return;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

/* Writes v in decimal (as %lld does) at p, without a terminator; returns its length. */
static size_t put_digits_i64(char *p, int64_t v)
{
    char rev[20];
    size_t n = 0, len = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    do {
        rev[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    if (v < 0)
        p[len++] = '-';
    while (n)
        p[len++] = rev[--n];
    return len;
}

/* "name=" then v then end (one character); name is a short member name. */
static void put_named(struct out *o, const char *name, int64_t v, char end)
{
    char line[64];
    size_t n = strlen(name);

    if (n > sizeof(line) - 24) {
        o->full = true;
        return;
    }
    memcpy(line, name, n);
    line[n++] = '=';
    n += put_digits_i64(line + n, v);
    line[n++] = end;
    put(o, line, n);
}

/* "name=N:bytes\n": the length prefix keeps any bytes from posing as a separator. */
static void put_str(struct out *o, const char *name, const char *s, size_t n)
{
    put_named(o, name, (int64_t)n, ':');
    put(o, s, n);
    put(o, "\n", 1);
}

static void put_cstr(struct out *o, const char *name, const char *s)
{
    put_str(o, name, s, strlen(s));
}

static void put_int(struct out *o, const char *name, int64_t v)
{
    put_named(o, name, v, '\n');
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

size_t event_canonical(const struct usage_event *ev, char *buf, size_t cap)
{
    struct out o = {buf, cap, 0, false};
    const char *keys[EVENT_TAGS_MAX];
    size_t n_keys = 0;
    const char *key;
    const json_t *v;
    const int64_t counts[N_TOKEN_FIELD] = {ev->tokens.input_uncached, ev->tokens.cache_read,
                                           ev->tokens.cache_write_5m, ev->tokens.cache_write_1h,
                                           ev->tokens.output,         ev->tokens.reasoning};

    if (cap == 0)
        return 0;
    buf[0] = '\0';
    put(&o, "tollgate.event.v1\n", 18);
    put_cstr(&o, "id", ev->id);
    if (ev->ts_given)
        put_int(&o, "ts", ev->ts_us);
    put_cstr(&o, "team", ev->team);
    put_cstr(&o, "project", ev->project);
    put_cstr(&o, "user", ev->user);
    put_int(&o, "api_key_id", ev->api_key_id);
    put_cstr(&o, "provider", ev->provider);
    put_cstr(&o, "model", ev->model);
    put_cstr(&o, "requested_model", ev->requested_model);
    put_cstr(&o, "request_id", ev->request_id);
    put_cstr(&o, "status", ev->status == EVENT_ERROR ? "error" : "ok");
    put_int(&o, "latency_ms", ev->latency_ms);
    put_cstr(&o, "mode", (unsigned)ev->mode < MODE_COUNT ? mode_names[ev->mode] : "invalid");
    for (int i = 0; i < N_TOKEN_FIELD; i++)
        put_int(&o, token_members[i], counts[i]);

    json_object_foreach((json_t *)ev->tags, key, v)
    {
        if (n_keys == EVENT_TAGS_MAX)
            break; /* decode never keeps more */
        keys[n_keys++] = key;
    }
    qsort(keys, n_keys, sizeof(keys[0]), cmp_keys);
    put_int(&o, "tags", (int64_t)n_keys);
    for (size_t i = 0; i < n_keys; i++) {
        const json_t *val = json_object_get(ev->tags, keys[i]);
        put_cstr(&o, "k", keys[i]);
        if (json_is_string(val))
            put_str(&o, "v", json_string_value(val), json_string_length(val));
        else
            put_str(&o, "v", "", 0);
    }
    if (o.full) {
        buf[0] = '\0';
        return 0;
    }
    return o.len;
}

/* ---- times ---- */

/* Reads exactly n decimal digits at *p into *out and advances *p. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool expect(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

bool event_parse_time(const char *s, int64_t *us)
{
    const char *p = s;
    int y, mo, d, h, mi, sec, frac = 0, oh = 0, om = 0, sign = 0;

    if (!s)
        return false;
    if (!digits(&p, 4, &y) || !expect(&p, '-') || !digits(&p, 2, &mo) || !expect(&p, '-') ||
        !digits(&p, 2, &d))
        return false;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return false;
    p++;
    if (!digits(&p, 2, &h) || !expect(&p, ':') || !digits(&p, 2, &mi) || !expect(&p, ':') ||
        !digits(&p, 2, &sec))
        return false;
    if (*p == '.') {
        int n = 0;
        p++;
        while (*p >= '0' && *p <= '9') {
            if (++n > 9)
                return false;
            if (n <= 6)
                frac = frac * 10 + (*p - '0');
            p++;
        }
        if (n == 0)
            return false;
        for (; n < 6; n++)
            frac *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        p++;
        if (!digits(&p, 2, &oh) || !expect(&p, ':') || !digits(&p, 2, &om))
            return false;
    } else {
        return false;
    }
    if (*p != '\0')
        return false;
    if (y < 2000 || mo < 1 || mo > 12 || d < 1 || d > calendar_month_days(y, mo) || h > 23 ||
        mi > 59 || sec > 59 || oh > 23 || om > 59)
        return false;
    int64_t t = ((calendar_days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60 + sec;
    t -= (int64_t)sign * (oh * 60 + om) * 60;
    *us = t * US_PER_S + frac;
    return true;
}

/* Writes sep, then v (>= 0) as exactly n decimal digits; returns the end. */
static char *put_digits(char *p, char sep, int64_t v, int n)
{
    *p++ = sep;
    for (int i = n - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
    return p + n;
}

void event_format_time(int64_t us, char buf[40])
{
    int64_t secs = us / US_PER_S, frac = us % US_PER_S;
    if (frac < 0) {
        frac += US_PER_S;
        secs--;
    }
    int64_t days = secs / SEC_PER_DAY, rem = secs % SEC_PER_DAY;
    if (rem < 0) {
        rem += SEC_PER_DAY;
        days--;
    }
    int64_t y;
    int m, d;
    calendar_civil_from_days(days, &y, &m, &d);
    /* |y| < 300000 for any int64 of microseconds, so the text stays under 40 bytes. */
    char *p = buf;
    p += snprintf(buf, 16, "%04d", (int)y);
    p = put_digits(p, '-', m, 2);
    p = put_digits(p, '-', d, 2);
    p = put_digits(p, 'T', rem / 3600, 2);
    p = put_digits(p, ':', rem / 60 % 60, 2);
    p = put_digits(p, ':', rem % 60, 2);
    p = put_digits(p, '.', frac, 6);
    p[0] = 'Z';
    p[1] = '\0';
}

void event_format_seconds(int64_t s, char buf[40])
{
    size_t n;

    event_format_time(s * US_PER_S, buf);
    n = strlen(buf);
    /* "...:00.000000Z" -> "...:00Z" */
    memcpy(buf + n - 8, "Z", 2);
}
