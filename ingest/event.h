/*
 * event: decodes and validates one usage event, a JSON object as clients
 * send it to POST /v1/usage, into the normalized record. Usage comes in one
 * of three forms: normalized fields; a provider's own usage object (`usage`,
 * its format named by usage_format or told from its shape); or a provider's
 * whole response body (`response`), which may also supply the id and the
 * model (see usage.h). Pure: no I/O, no clock (the caller passes the
 * receive time); any thread.
 */
#ifndef TOLLGATE_EVENT_H
#define TOLLGATE_EVENT_H

#include "pricing.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EVENT_ID_MAX       256 /* bytes of a client id */
#define EVENT_SLUG_MAX     63
#define EVENT_USER_MAX     256
#define EVENT_NAME_MAX     200 /* provider, model, request id */
#define EVENT_TAGS_MAX     32
#define EVENT_TAG_KEY_MAX  64
#define EVENT_TAG_VAL_MAX  256
#define EVENT_FUTURE_SLACK (5LL * 60 * 1000000) /* microseconds a timestamp may lie ahead */
#define EVENT_MAX_TOKENS   10000000000LL        /* per class: 1e10, far above any context */

/* A buffer this size always holds event_canonical's text (the longest is about 12.6 KB). */
#define EVENT_CANONICAL_MAX 16384

enum event_status { EVENT_OK = 0, EVENT_ERROR };

struct usage_event {
    char id[EVENT_ID_MAX + 1];
    int64_t ts_us; /* event time, microseconds since the epoch, UTC */
    bool ts_given; /* false: ts_us is the receive time */
    char team[EVENT_SLUG_MAX + 1];
    char project[EVENT_SLUG_MAX + 1]; /* "" when absent */
    char user[EVENT_USER_MAX + 1];    /* "" when absent */
    int64_t api_key_id;               /* 0 when absent */
    char provider[EVENT_NAME_MAX + 1];
    char model[EVENT_NAME_MAX + 1];           /* the model that ran */
    char requested_model[EVENT_NAME_MAX + 1]; /* the one asked for; = model when absent */
    char request_id[EVENT_NAME_MAX + 1];      /* "" when absent */
    enum event_status status;
    int64_t latency_ms; /* -1 when absent */
    enum usage_mode mode;
    struct tokens tokens;
    char usage_format[32]; /* "normalized" or the provider format used (given or detected) */
    json_t *tags;          /* an object of string values (owned; never NULL after decode) */
};

/*
 * Why an event was refused: an HTTP status, a code, the field. Codes:
 *   400 missing_field, invalid_type, unknown_field, conflicting_fields
 *       (two usage forms given: normalized token members, `usage`,
 *       `response`); missing_field "usage_format" also when the shape of
 *       a usage object or response does not tell its format;
 *   422 invalid_value (well-typed but out of range or malformed);
 *   503 out_of_memory (an allocation failed; the event itself may be fine).
 * field and message are valid UTF-8 (field is cut at a character boundary).
 */
struct event_error {
    int status;
    const char *code; /* static string, e.g. "invalid_value" */
    char field[64];   /* the JSON member at fault, e.g. "usage.prompt_tokens"; may be "" */
    char message[256];
};

/*
 * Decodes obj into *ev. now_us is the receive time: the default timestamp,
 * and the reference for the 5-minute future limit. A member whose value is
 * JSON null counts as absent. Strings are refused (422) if they hold
 * control characters (C0, DEL, C1), NUL included.
 *
 * Usage: the normalized token members; or `usage`, a provider's usage
 * object, in the format usage_format names or, without usage_format, the
 * one usage_detect tells from its shape and the event's provider; or
 * `response`, a provider's whole response body (usage_decode_response),
 * in the format usage_format names or told from its shape. Only one form
 * per event (400 conflicting_fields). With a response, `id` and `model`
 * may be left out: they are then the response's id and model (checked as
 * the event's own, errors naming e.g. "response.id"), and requested_model
 * defaults to that model; an event's own id and model win. The mode is
 * the event's `mode`, else the tier the usage or response states, else
 * standard. ev->usage_format is the format used.
 *
 * On failure returns false with err filled and *ev zeroed: it holds
 * nothing to free. On success err is untouched; free ev with event_clear.
 */
bool event_decode(const json_t *obj, int64_t now_us, struct usage_event *ev,
                  struct event_error *err) __attribute__((warn_unused_result));

/*
 * Fills err (status, code, field as a member path, printf-style message) and
 * returns false, so a failing check reads `return event_fail(...)`. Control
 * bytes in field become '?', and a path too long is cut at a UTF-8
 * character boundary. For every decoder that reports an event_error.
 */
bool event_fail(struct event_error *err, int status, const char *code, const char *field,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * True if s is a slug, the name of an org, team or project:
 * [a-z0-9][a-z0-9._-]{0,62}. The one definition of the grammar.
 */
bool event_slug_valid(const char *s);

/* Frees what ev owns (its tags) and zeroes it. */
void event_clear(struct usage_event *ev);

/*
 * Writes the canonical text of ev's content: every field that defines the
 * event, in a fixed order, with the timestamp only when the client gave
 * one. Two sends of the same event give the same text whatever their
 * member order or usage form (normalized counts, a usage object, a whole
 * response, with the same counts, mode, id and model); the usage format
 * is not part of it. The server hashes it to tell a retry from a
 * conflicting reuse of an id. Every string is length-prefixed, so distinct
 * events never share a text. Returns the length written (excluding the
 * NUL), or 0 (and buf "" if cap > 0) if cap is too small; EVENT_CANONICAL_MAX
 * is always enough.
 */
size_t event_canonical(const struct usage_event *ev, char *buf, size_t cap);

/*
 * Parses RFC 3339 ("2026-11-27T10:00:00Z", "...+01:00", fractions up to ns,
 * truncated to microseconds; 'T', 't' or ' ' between date and time; 'Z' or
 * 'z'). Refuses years outside 2000..9999, dates that do not exist, hour 24
 * and leap seconds. Pure arithmetic, no time zone. *us set only on success.
 */
bool event_parse_time(const char *s, int64_t *us) __attribute__((warn_unused_result));

/*
 * Formats microseconds since the epoch as RFC 3339 UTC with microseconds,
 * "2026-11-27T10:00:00.000000Z"; event_parse_time reads years 2000..9999
 * back exactly.
 */
void event_format_time(int64_t us, char buf[40]);

/*
 * The same for whole seconds since the epoch (|s| below 9e12), without a
 * fraction: "2026-11-27T10:00:00Z".
 */
void event_format_seconds(int64_t s, char buf[40]);

#endif
