// links: server/delivery.c server/crypto.c server/textbuf.c
/*
 * delivery: Standard Webhooks signatures against the spec's published
 * vector (the one the standardwebhooks packages test with), two signatures
 * during a rotation, secrets, the retry schedule and its jitter bounds,
 * Retry-After in both forms, address classes and the Slack body's shape.
 */
#include "delivery.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- signatures ---- */

#define SPEC_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SPEC_ID     "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SPEC_TS     1614265330
#define SPEC_BODY   "{\"test\": 2432232314}"
#define SPEC_SIG    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

Test(delivery, signs_the_spec_vector)
{
    char sig[DELIVERY_SIG_MAX];
    cr_assert(delivery_sign(SPEC_SECRET, NULL, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), sig,
                            sizeof(sig)));
    cr_expect_str_eq(sig, SPEC_SIG);
}

Test(delivery, rotation_sends_the_new_signature_then_the_old)
{
    char both[DELIVERY_SIG_MAX], old[DELIVERY_SIG_MAX], fresh[DELIVERY_SIG_MAX];
    char secret[DELIVERY_SECRET_LEN + 1];

    cr_assert(delivery_secret_new(secret));
    cr_assert(delivery_sign(secret, SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY),
                            both, sizeof(both)));
    cr_assert(delivery_sign(secret, NULL, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), fresh,
                            sizeof(fresh)));
    cr_assert(delivery_sign(SPEC_SECRET, NULL, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), old,
                            sizeof(old)));
    char want[2 * DELIVERY_SIG_MAX];
    snprintf(want, sizeof(want), "%s %s", fresh, old);
    cr_expect_str_eq(both, want);
    cr_expect_str_eq(old, SPEC_SIG);
}

Test(delivery, new_secrets_have_the_whsec_shape)
{
    char a[DELIVERY_SECRET_LEN + 1], b[DELIVERY_SECRET_LEN + 1], sig[DELIVERY_SIG_MAX];

    cr_assert(delivery_secret_new(a));
    cr_assert(delivery_secret_new(b));
    cr_expect_eq(strlen(a), DELIVERY_SECRET_LEN);
    cr_expect(!strncmp(a, "whsec_", 6));
    cr_expect(strcmp(a, b) != 0);
    cr_expect(delivery_sign(a, NULL, "msg_1", 1, "{}", 2, sig, sizeof(sig)));
    cr_expect(!strncmp(sig, "v1,", 3) && strlen(sig) == 3 + 44);
}

Test(delivery, malformed_secrets_and_short_buffers_fail)
{
    char sig[DELIVERY_SIG_MAX];
    const char *bad[] = {
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",       /* no prefix */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa$w", /* not base64 */
        "whsec_c2hvcnQ=",                         /* "short": under 24 bytes */
        "whsec_",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect(!delivery_sign(bad[i], NULL, "msg_1", 1, "{}", 2, sig, sizeof(sig)), "%s",
                  bad[i]);
    cr_expect(!delivery_sign(SPEC_SECRET, bad[0], "msg_1", 1, "{}", 2, sig, sizeof(sig)));
    cr_expect(!delivery_sign(SPEC_SECRET, NULL, "msg_1", 1, "{}", 2, sig, 40));
    cr_expect(!delivery_sign(SPEC_SECRET, SPEC_SECRET, "msg_1", 1, "{}", 2, sig, 60));
}

/* ---- the retry schedule ---- */

Test(delivery, backoff_follows_the_schedule_within_20_percent)
{
    static const int64_t s[] = {5, 300, 1800, 7200, 18000, 36000, 36000};
    for (int a = 1; a < DELIVERY_ATTEMPTS; a++) {
        int64_t base = s[a - 1] * 1000;
        cr_expect_eq(delivery_backoff_ms(a, 100, 0.0), base * 8 / 10, "attempt %d", a);
        cr_expect_eq(delivery_backoff_ms(a, 100, 0.5), base, "attempt %d", a);
        cr_expect_leq(delivery_backoff_ms(a, 100, 0.999999), base * 12 / 10, "attempt %d", a);
        cr_expect_gt(delivery_backoff_ms(a, 100, 0.999999), base * 119 / 100, "attempt %d", a);
        for (int k = 0; k < 100; k++) {
            int64_t v = delivery_backoff_ms(a, 100, (double)rand() / ((double)RAND_MAX + 1));
            cr_expect(v >= base * 8 / 10 && v <= base * 12 / 10, "attempt %d: %lld", a,
                      (long long)v);
        }
    }
    cr_expect_eq(delivery_backoff_ms(DELIVERY_ATTEMPTS, 100, 0.5), -1);
    cr_expect_eq(delivery_backoff_ms(DELIVERY_ATTEMPTS + 5, 100, 0.5), -1);
}

Test(delivery, backoff_scales_by_percent)
{
    cr_expect_eq(delivery_backoff_ms(1, 1, 0.5), 50);
    cr_expect_eq(delivery_backoff_ms(2, 10, 0.5), 30000);
    cr_expect_eq(delivery_backoff_ms(1, 100, 7.0), 5000); /* a jitter out of range counts as 0.5 */
}

/* ---- Retry-After ---- */

struct ra_case {
    char value[48];
    int64_t now;
    int64_t want;
};

/* 784111777 is Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example). */
static struct ra_case ra_cases[] = {
    {"120", 0, 120},
    {" 5 ", 0, 5},
    {"0", 0, 0},
    {"99999999999999999999", 0, DELIVERY_RETRY_AFTER},
    {"Sun, 06 Nov 1994 08:49:37 GMT", 784111777 - 30, 30},
    {"Sun, 06 Nov 1994 08:49:37 GMT\r\n", 784111777 - 30, 30},
    {"Sun, 06 Nov 1994 08:49:37 GMT", 784111777 + 30, 0},
    {"Sun, 06 Nov 1994 08:49:37 GMT", 0, DELIVERY_RETRY_AFTER},
    {"", 0, -1},
    {"-1", 0, -1},
    {"12abc", 0, -1},
    {"soon", 0, -1},
    {"Sun, 06 Nov 1994 08:49:37 PST", 0, -1},
};

ParameterizedTestParameters(delivery, retry_after)
{
    return cr_make_param_array(struct ra_case, ra_cases, sizeof(ra_cases) / sizeof(ra_cases[0]));
}

ParameterizedTest(struct ra_case *c, delivery, retry_after)
{
    cr_expect_eq(delivery_retry_after(c->value, c->now), c->want, "'%s'", c->value);
}

/* ---- addresses ---- */

struct addr_case {
    char addr[48];
    enum delivery_addr want;
};

static struct addr_case addr_cases[] = {
    {"8.8.8.8", DELIVERY_ADDR_PUBLIC},
    {"93.184.216.34", DELIVERY_ADDR_PUBLIC},
    {"127.0.0.1", DELIVERY_ADDR_LOOPBACK},
    {"127.255.0.9", DELIVERY_ADDR_LOOPBACK},
    {"10.1.2.3", DELIVERY_ADDR_PRIVATE},
    {"172.16.0.1", DELIVERY_ADDR_PRIVATE},
    {"172.31.255.255", DELIVERY_ADDR_PRIVATE},
    {"172.32.0.1", DELIVERY_ADDR_PUBLIC},
    {"172.15.255.255", DELIVERY_ADDR_PUBLIC},
    {"192.168.1.1", DELIVERY_ADDR_PRIVATE},
    {"100.64.0.1", DELIVERY_ADDR_PRIVATE},
    {"100.128.0.1", DELIVERY_ADDR_PUBLIC},
    {"169.254.169.254", DELIVERY_ADDR_LINK_LOCAL},
    {"0.0.0.0", DELIVERY_ADDR_UNSPECIFIED},
    {"224.0.0.1", DELIVERY_ADDR_OTHER},
    {"255.255.255.255", DELIVERY_ADDR_OTHER},
    {"2606:4700::1111", DELIVERY_ADDR_PUBLIC},
    {"::1", DELIVERY_ADDR_LOOPBACK},
    {"::", DELIVERY_ADDR_UNSPECIFIED},
    {"fe80::1", DELIVERY_ADDR_LINK_LOCAL},
    {"febf::1", DELIVERY_ADDR_LINK_LOCAL},
    {"fec0::1", DELIVERY_ADDR_PRIVATE},
    {"fc00::1", DELIVERY_ADDR_UNIQUE_LOCAL},
    {"fd12:3456::1", DELIVERY_ADDR_UNIQUE_LOCAL},
    {"ff02::1", DELIVERY_ADDR_OTHER},
    {"::ffff:127.0.0.1", DELIVERY_ADDR_LOOPBACK},
    {"::ffff:10.0.0.1", DELIVERY_ADDR_PRIVATE},
    {"::ffff:169.254.1.1", DELIVERY_ADDR_LINK_LOCAL},
    {"::ffff:8.8.8.8", DELIVERY_ADDR_PUBLIC},
    {"64:ff9b::192.168.0.1", DELIVERY_ADDR_PRIVATE},
    {"::127.0.0.1", DELIVERY_ADDR_LOOPBACK},
};

ParameterizedTestParameters(delivery, addr_class)
{
    return cr_make_param_array(struct addr_case, addr_cases,
                               sizeof(addr_cases) / sizeof(addr_cases[0]));
}

ParameterizedTest(struct addr_case *c, delivery, addr_class)
{
    struct sockaddr_storage ss = {0};
    if (strchr(c->addr, ':')) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        cr_assert_eq(inet_pton(AF_INET6, c->addr, &in6->sin6_addr), 1, "%s", c->addr);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        cr_assert_eq(inet_pton(AF_INET, c->addr, &in->sin_addr), 1, "%s", c->addr);
    }
    cr_expect_eq(delivery_addr_class((struct sockaddr *)&ss), c->want, "%s: %s", c->addr,
                 delivery_addr_name(delivery_addr_class((struct sockaddr *)&ss)));
}

Test(delivery, unknown_families_are_refused)
{
    struct sockaddr sa = {.sa_family = AF_UNIX};
    cr_expect_eq(delivery_addr_class(&sa), DELIVERY_ADDR_OTHER);
}

/* ---- Slack ---- */

static json_t *slack(const char *payload)
{
    char *s = delivery_slack_body(payload);
    json_t *v;
    cr_assert_not_null(s, "no body for %s", payload);
    v = json_loads(s, 0, NULL);
    free(s);
    cr_assert(json_is_object(v));
    return v;
}

Test(delivery, slack_body_has_text_a_mrkdwn_section_and_a_context)
{
    json_t *v = slack(
        "{\"type\":\"budget.threshold\",\"timestamp\":\"2026-08-01T10:00:00Z\",\"data\":"
        "{\"alert_id\":7,\"kind\":\"threshold\",\"budget\":{\"id\":3,\"name\":\"search-monthly\","
        "\"scope\":{\"kind\":\"team\",\"name\":\"search\"}},\"team\":\"search\",\"period\":"
        "{\"start\":\"2026-08-01\",\"end\":\"2026-09-01\"},\"limit_usd\":\"100.00\",\"spent_usd\":"
        "\"80.25\",\"forecast_usd\":\"140.10\",\"threshold_percent\":80,\"used_percent\":\"80.25\","
        "\"model\":null,\"message\":\"search-monthly <passed> 80% & more\",\"dashboard_url\":"
        "\"https://tollgate.example/budgets/search-monthly\"}}");
    json_t *blocks = json_object_get(v, "blocks"), *sec, *ctx;
    const char *text;

    cr_expect_str_eq(json_string_value(json_object_get(v, "text")),
                     "search-monthly <passed> 80% & more");
    cr_assert_eq(json_array_size(blocks), 2);
    sec = json_array_get(blocks, 0);
    cr_expect_str_eq(json_string_value(json_object_get(sec, "type")), "section");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(sec, "text"), "type")),
                     "mrkdwn");
    text = json_string_value(json_object_get(json_object_get(sec, "text"), "text"));
    cr_assert_not_null(text);
    cr_expect(strstr(text, "*search-monthly &lt;passed&gt; 80% &amp; more*"), "%s", text);
    cr_expect(strstr(text, "*Spent:* $80.25 of $100.00 (80.25%)"), "%s", text);
    cr_expect(strstr(text, "*Forecast:* $140.10"), "%s", text);
    cr_expect(strstr(text, "*Budget:* search-monthly (team search)"), "%s", text);
    cr_expect(strstr(text, "*Threshold:* 80%"), "%s", text);
    ctx = json_array_get(blocks, 1);
    cr_expect_str_eq(json_string_value(json_object_get(ctx, "type")), "context");
    cr_assert_eq(json_array_size(json_object_get(ctx, "elements")), 1);
    text = json_string_value(
        json_object_get(json_array_get(json_object_get(ctx, "elements"), 0), "text"));
    cr_expect(strstr(text, "<https://tollgate.example/budgets/search-monthly|Open in Tollgate>"),
              "%s", text);
    json_decref(v);
}

Test(delivery, slack_body_of_a_bare_payload_still_has_every_block)
{
    json_t *v = slack("{\"type\":\"test\",\"data\":{\"message\":null,\"dashboard_url\":null}}");
    json_t *blocks = json_object_get(v, "blocks");
    cr_expect_str_eq(json_string_value(json_object_get(v, "text")), "test");
    cr_expect_eq(json_array_size(blocks), 2);
    json_decref(v);
    cr_expect_null(delivery_slack_body("[1,2]"));
    cr_expect_null(delivery_slack_body("not json"));
}
