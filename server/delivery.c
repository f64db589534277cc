/*
 * delivery: see delivery.h. Everything here computes; nothing reads a
 * clock, the network or Postgres (the caller passes now and the jitter).
 */
#include "delivery.h"

#include "crypto.h"
#include "textbuf.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SECRET_PREFIX   "whsec_"
#define SECRET_KEY_MAX  64 /* bytes of key a secret may hold */
#define SECRET_KEY_MIN  24
#define SECRET_KEY_MAKE 24

bool delivery_secret_new(char out[DELIVERY_SECRET_LEN + 1])
{
    uint8_t key[SECRET_KEY_MAKE];

    if (!crypto_random(key, sizeof(key)))
        return false;
    memcpy(out, SECRET_PREFIX, 6);
    crypto_b64(key, sizeof(key), out + 6);
    return true;
}

/* Appends "v1,<signature by secret>" to out at *len; false on a bad secret or no room. */
static bool sign_one(const char *secret, const char *msg_id, const char *ts, const char *body,
                     size_t body_len, char *out, size_t cap, size_t *len)
{
    uint8_t key[SECRET_KEY_MAX + 3], mac[CRYPTO_SHA256_LEN];
    char b64[4 * ((CRYPTO_SHA256_LEN + 2) / 3) + 1];
    size_t keylen;
    const void *parts[5] = {msg_id, ".", ts, ".", body};
    size_t lens[5] = {strlen(msg_id), 1, strlen(ts), 1, body_len};
    int n;

    if (strncmp(secret, SECRET_PREFIX, 6) != 0 ||
        !crypto_b64_decode(secret + 6, key, sizeof(key), &keylen) || keylen < SECRET_KEY_MIN ||
        keylen > SECRET_KEY_MAX)
        return false;
    if (!crypto_hmac_sha256(key, keylen, parts, lens, 5, mac))
        return false;
    crypto_b64(mac, sizeof(mac), b64);
    n = snprintf(out + *len, cap - *len, "%sv1,%s", *len ? " " : "", b64);
    if (n < 0 || (size_t)n >= cap - *len)
        return false;
    *len += (size_t)n;
    return true;
}

bool delivery_sign(const char *secret, const char *previous, const char *msg_id, int64_t timestamp,
                   const char *body, size_t body_len, char *out, size_t cap)
{
    char ts[24];
    size_t len = 0;

    if (!cap)
        return false;
    out[0] = '\0';
    snprintf(ts, sizeof(ts), "%" PRId64, timestamp);
    if (!sign_one(secret, msg_id, ts, body, body_len, out, cap, &len))
        return false;
    return !previous || sign_one(previous, msg_id, ts, body, body_len, out, cap, &len);
}

int64_t delivery_backoff_ms(int attempts, long percent, double r)
{
    static const int64_t schedule_s[DELIVERY_ATTEMPTS - 1] = {
        5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600,
    };
    double ms;

    if (attempts < 1)
        attempts = 1;
    if (attempts >= DELIVERY_ATTEMPTS)
        return -1;
    if (r < 0 || r >= 1)
        r = 0.5;
    ms = (double)schedule_s[attempts - 1] * 1000.0 * (double)percent / 100.0;
    return (int64_t)(ms * (0.8 + 0.4 * r));
}

int64_t delivery_retry_after(const char *value, int64_t now)
{
    const char *p = value;
    struct tm tm = {0};
    char *end;
    int64_t v;

    while (*p == ' ' || *p == '\t')
        p++;
    if (*p >= '0' && *p <= '9') {
        long long n = 0;
        for (; *p >= '0' && *p <= '9'; p++)
            if ((n = n * 10 + (*p - '0')) > DELIVERY_RETRY_AFTER)
                n = DELIVERY_RETRY_AFTER + 1;
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        if (*p)
            return -1;
        return n > DELIVERY_RETRY_AFTER ? DELIVERY_RETRY_AFTER : n;
    }
    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (strptime reads English names in the C locale)
     */
    end = strptime(p, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end)
        return -1;
    while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
        end++;
    if (*end)
        return -1;
    v = (int64_t)timegm(&tm) - now;
    if (v < 0)
        return 0;
    return v > DELIVERY_RETRY_AFTER ? DELIVERY_RETRY_AFTER : v;
}

static enum delivery_addr class_v4(uint32_t a)
{
    if ((a >> 24) == 0)
        return DELIVERY_ADDR_UNSPECIFIED;
    if ((a >> 24) == 127)
        return DELIVERY_ADDR_LOOPBACK;
    if ((a >> 24) == 10 || (a >> 20) == (172u << 4 | 1) || (a >> 16) == (192u << 8 | 168) ||
        (a >> 22) == (100u << 2 | 1))
        return DELIVERY_ADDR_PRIVATE;
    if ((a >> 16) == (169u << 8 | 254))
        return DELIVERY_ADDR_LINK_LOCAL;
    if ((a >> 28) >= 14) /* 224/4 multicast, 240/4 reserved and broadcast */
        return DELIVERY_ADDR_OTHER;
    return DELIVERY_ADDR_PUBLIC;
}

enum delivery_addr delivery_addr_class(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return class_v4(ntohl(in->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        const uint8_t *b = in6->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b};
        static const uint8_t zero[16];
        uint32_t v4 = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];

        if (!memcmp(b, mapped, 12) || !memcmp(b, nat64, 12))
            return class_v4(v4);
        if (!memcmp(b, zero, 16))
            return DELIVERY_ADDR_UNSPECIFIED;
        if (!memcmp(b, zero, 15) && b[15] == 1)
            return DELIVERY_ADDR_LOOPBACK;
        if (!memcmp(b, zero, 12)) /* IPv4-compatible (deprecated): judge the IPv4 part */
            return class_v4(v4);
        if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
            return DELIVERY_ADDR_LINK_LOCAL;
        if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
            return DELIVERY_ADDR_PRIVATE; /* site-local, deprecated but still private */
        if ((b[0] & 0xfe) == 0xfc)
            return DELIVERY_ADDR_UNIQUE_LOCAL;
        if (b[0] == 0xff)
            return DELIVERY_ADDR_OTHER;
        return DELIVERY_ADDR_PUBLIC;
    }
    return DELIVERY_ADDR_OTHER;
}

const char *delivery_addr_name(enum delivery_addr a)
{
    switch (a) {
    case DELIVERY_ADDR_PUBLIC:
        return "public";
    case DELIVERY_ADDR_LOOPBACK:
        return "loopback";
    case DELIVERY_ADDR_PRIVATE:
        return "private";
    case DELIVERY_ADDR_LINK_LOCAL:
        return "link-local";
    case DELIVERY_ADDR_UNIQUE_LOCAL:
        return "unique-local";
    case DELIVERY_ADDR_UNSPECIFIED:
        return "unspecified";
    case DELIVERY_ADDR_OTHER:
        break;
    }
    return "multicast or reserved";
}

/* ---- the Slack body ---- */

/* Appends s with Slack's three control characters escaped (&, <, >). */
static void puts_esc(struct textbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '&')
            textbuf_puts(b, "&amp;");
        else if (*s == '<')
            textbuf_puts(b, "&lt;");
        else if (*s == '>')
            textbuf_puts(b, "&gt;");
        else
            textbuf_put(b, s, 1);
    }
}

/* A payload value as text: strings as they are, numbers printed; NULL for null or absent. */
static const char *text_of(json_t *v, char *tmp, size_t cap)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(tmp, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return tmp;
    }
    if (json_is_real(v)) {
        snprintf(tmp, cap, "%.15g", json_real_value(v));
        return tmp;
    }
    return NULL;
}

/* Appends "\n*label* value" when value is present. */
static void line(struct textbuf *b, const char *label, const char *pre, json_t *v, const char *post)
{
    char tmp[64];
    const char *s = text_of(v, tmp, sizeof(tmp));

    if (!s)
        return;
    textbuf_puts(b, "\n*");
    textbuf_puts(b, label);
    textbuf_puts(b, ":* ");
    textbuf_puts(b, pre);
    puts_esc(b, s);
    textbuf_puts(b, post);
}

static void section_text(struct textbuf *b, json_t *root, json_t *data)
{
    const char *type = json_string_value(json_object_get(root, "type"));
    const char *msg = json_string_value(json_object_get(data, "message"));
    json_t *budget = json_object_get(data, "budget"), *model = json_object_get(data, "model");
    json_t *period = json_object_get(data, "period");
    char tmp[64];

    textbuf_puts(b, "*");
    puts_esc(b, msg && *msg ? msg : type ? type : "Tollgate alert");
    textbuf_puts(b, "*");
    if (json_is_object(budget)) {
        json_t *scope = json_object_get(budget, "scope");
        const char *sk = json_string_value(json_object_get(scope, "kind"));
        const char *sn = json_string_value(json_object_get(scope, "name"));
        line(b, "Budget", "", json_object_get(budget, "name"), "");
        if (sk && sn) {
            textbuf_puts(b, " (");
            puts_esc(b, sk);
            textbuf_puts(b, " ");
            puts_esc(b, sn);
            textbuf_puts(b, ")");
        }
    }
    line(b, "Team", "", json_object_get(data, "team"), "");
    if (text_of(json_object_get(data, "spent_usd"), tmp, sizeof(tmp))) {
        const char *v;
        line(b, "Spent", "$", json_object_get(data, "spent_usd"), "");
        if ((v = text_of(json_object_get(data, "limit_usd"), tmp, sizeof(tmp)))) {
            textbuf_puts(b, " of $");
            puts_esc(b, v);
        }
        if ((v = text_of(json_object_get(data, "used_percent"), tmp, sizeof(tmp)))) {
            textbuf_puts(b, " (");
            puts_esc(b, v);
            textbuf_puts(b, "%)");
        }
    } else {
        line(b, "Limit", "$", json_object_get(data, "limit_usd"), "");
    }
    line(b, "Forecast", "$", json_object_get(data, "forecast_usd"), "");
    line(b, "Threshold", "", json_object_get(data, "threshold_percent"), "%");
    if (json_is_object(model)) {
        line(b, "Model", "", json_object_get(model, "provider"), "/");
        {
            char t2[64];
            const char *m = text_of(json_object_get(model, "model"), t2, sizeof(t2));
            if (m)
                puts_esc(b, m);
        }
    }
    if (json_is_object(period)) {
        line(b, "Period", "", json_object_get(period, "start"), " to ");
        {
            char t2[64];
            const char *e = text_of(json_object_get(period, "end"), t2, sizeof(t2));
            if (e)
                puts_esc(b, e);
        }
    }
}

char *delivery_slack_body(const char *payload)
{
    json_t *root = json_loads(payload, 0, NULL), *data, *out = NULL;
    const char *type, *msg, *url;
    struct textbuf text = {0}, ctx = {0};
    char *s = NULL;

    if (!json_is_object(root))
        goto out;
    data = json_object_get(root, "data");
    type = json_string_value(json_object_get(root, "type"));
    msg = json_string_value(json_object_get(data, "message"));
    url = json_string_value(json_object_get(data, "dashboard_url"));
    section_text(&text, root, data);
    textbuf_puts(&ctx, "Tollgate");
    if (type) {
        textbuf_puts(&ctx, " | `");
        puts_esc(&ctx, type);
        textbuf_puts(&ctx, "`");
    }
    if (url && *url && !strpbrk(url, "<>|")) {
        textbuf_puts(&ctx, " | <");
        puts_esc(&ctx, url);
        textbuf_puts(&ctx, "|Open in Tollgate>");
    }
    if (text.oom || ctx.oom)
        goto out;
    if (text.len > 3000) { /* Slack's limit for a section's text; cut on a UTF-8 boundary */
        size_t cut = 2997;
        while (cut > 0 && (text.buf[cut] & 0xc0) == 0x80)
            cut--;
        memcpy(text.buf + cut, "...", 4);
    }
    out = json_pack("{s:s, s:[{s:s, s:{s:s, s:s}}, {s:s, s:[{s:s, s:s}]}]}", "text",
                    msg && *msg ? msg
                    : type      ? type
                                : "Tollgate alert",
                    "blocks", "type", "section", "text", "type", "mrkdwn", "text", text.buf, "type",
                    "context", "elements", "type", "mrkdwn", "text", ctx.buf);
    if (out)
        s = json_dumps(out, JSON_COMPACT);
out:
    json_decref(out);
    json_decref(root);
    free(text.buf);
    free(ctx.buf);
    return s;
}
