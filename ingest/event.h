/*
 * event: decodes and validates one usage event, a JSON object as clients
 * send it to POST /v1/usage, into the normalized record. Usage comes either
 * as normalized fields or as a provider's own usage object named by
 * usage_format (see usage.h). Pure: no I/O, no clock (the caller passes the
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

enum event_status { EVENT_OK = 0, EVENT_ERROR };

struct usage_event {
    char id[EVENT_ID_MAX + 1];
    int64_t ts_us;  /* event time, microseconds since the epoch, UTC */
    bool ts_given;  /* false: ts_us is the receive time */
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
    char usage_format[32]; /* "normalized" or the provider format used */
    json_t *tags;          /* an object of string values (owned; never NULL after decode) */
};

/* Why an event was refused: an HTTP status (400 or 422), a code, the field. */
struct event_error {
    int status;
    const char *code;  /* static string, e.g. "invalid_value" */
    char field[64];    /* the JSON member at fault, e.g. "usage.prompt_tokens"; may be "" */
    char message[256];
};

/*
 * Decodes obj into *ev. now_us is the receive time: the default timestamp,
 * and the reference for the 5-minute future limit. On failure returns
 * false with err filled, and *ev holds nothing to free. On success free
 * ev with event_clear.
 */
bool event_decode(const json_t *obj, int64_t now_us, struct usage_event *ev,
                  struct event_error *err) __attribute__((warn_unused_result));

/* Frees what ev owns (its tags) and zeroes it. */
void event_clear(struct usage_event *ev);

/*
 * Writes the canonical text of ev's content: every field that defines the
 * event, in a fixed order, with the timestamp only when the client gave
 * one. Two sends of the same event give the same text whatever their
 * member order or usage form; the server hashes it to tell a retry from a
 * conflicting reuse of an id. Returns the length written (excluding the
 * NUL), or 0 if cap is too small.
 */
size_t event_canonical(const struct usage_event *ev, char *buf, size_t cap);

/* Parses RFC 3339 ("2026-11-27T10:00:00Z", "...+01:00", fractions up to ns). */
bool event_parse_time(const char *s, int64_t *us) __attribute__((warn_unused_result));

/* Formats microseconds since the epoch as RFC 3339 UTC with microseconds. */
void event_format_time(int64_t us, char buf[40]);

#endif
