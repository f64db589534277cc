/*
 * delivery: the pure rules of webhook delivery, with no I/O, so that each is
 * unit-tested alone: Standard Webhooks secrets and signatures, the retry
 * schedule with its jitter, Retry-After, which addresses a webhook may not
 * reach, and the Slack body made from an alert's payload. Stateless and
 * thread-safe; webhooks.c does the sending.
 */
#ifndef TOLLGATE_DELIVERY_H
#define TOLLGATE_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define DELIVERY_ATTEMPTS    8           /* the first try and seven retries */
#define DELIVERY_SECRET_LEN  38          /* "whsec_" + base64 of 24 bytes (32 characters) */
#define DELIVERY_SECRET_MAX  100         /* "whsec_" + base64 of 64 bytes, and room */
#define DELIVERY_SIG_MAX     128         /* "v1,<44> v1,<44>" and room */
#define DELIVERY_RETRY_AFTER (24 * 3600) /* the longest Retry-After honoured, in seconds */

/* Makes a new secret: "whsec_" + base64 of 24 random bytes. False if no randomness. */
bool delivery_secret_new(char out[DELIVERY_SECRET_LEN + 1]) __attribute__((warn_unused_result));

/*
 * The webhook-signature header value for one attempt: "v1,<base64 of
 * HMAC-SHA256(key, msg_id "." timestamp "." body)>", where key is the base64
 * after "whsec_" in secret; with previous not NULL (a rotation in progress)
 * a second signature by it follows after a space. Returns false, leaving
 * out unspecified, when a secret is malformed or out (cap bytes) is short.
 */
bool delivery_sign(const char *secret, const char *previous, const char *msg_id, int64_t timestamp,
                   const char *body, size_t body_len, char *out, size_t cap)
    __attribute__((warn_unused_result));

/*
 * Milliseconds to wait after attempt number attempts (1-based) failed:
 * about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, times percent/100, with
 * the jitter r in [0, 1) spreading it over -20%..+20%. Returns -1 when no
 * attempt is left (attempts >= DELIVERY_ATTEMPTS).
 */
int64_t delivery_backoff_ms(int attempts, long percent, double r);

/*
 * The seconds a Retry-After value asks for (delta seconds, or an HTTP date
 * in IMF-fixdate form measured from now), capped at DELIVERY_RETRY_AFTER;
 * a date in the past gives 0. Returns -1 when value is neither.
 */
int64_t delivery_retry_after(const char *value, int64_t now);

/* Where an address lies, for the private-address rule. */
enum delivery_addr {
    DELIVERY_ADDR_PUBLIC = 0,
    DELIVERY_ADDR_LOOPBACK,     /* 127/8, ::1 */
    DELIVERY_ADDR_PRIVATE,      /* 10/8, 172.16/12, 192.168/16, 100.64/10, fec0::/10 */
    DELIVERY_ADDR_LINK_LOCAL,   /* 169.254/16, fe80::/10 */
    DELIVERY_ADDR_UNIQUE_LOCAL, /* fc00::/7 */
    DELIVERY_ADDR_UNSPECIFIED,  /* 0/8, :: */
    DELIVERY_ADDR_OTHER,        /* multicast, broadcast, reserved, or an unknown family */
};

/*
 * Classifies sa (AF_INET or AF_INET6; an IPv4-mapped or NAT64 IPv6 address
 * is classified by the IPv4 address inside it).
 */
enum delivery_addr delivery_addr_class(const struct sockaddr *sa);

/* A short name of a class ("loopback", "private", ...). */
const char *delivery_addr_name(enum delivery_addr a);

/*
 * The Slack incoming-webhook body for an alert payload (the Standard
 * Webhooks JSON text): {"text": fallback, "blocks": [a section in mrkdwn
 * with the message and the numbers, a context with the type and a link to
 * dashboard_url]}. Returns a malloc'd NUL-terminated JSON text, or NULL
 * when payload is not a JSON object or memory ran out.
 */
char *delivery_slack_body(const char *payload);

#endif
