// links: policies/alerts.c policies/policy.c policies/period.c policies/tz.c ingest/money.c ingest/event.c ingest/usage.c
/*
 * alerts: which alerts a budget's spend makes due, from a table of budgets
 * and spend (thresholds none, one, several at once, exactly at the limit,
 * amount 0; forecasts too early, with no spend, firing, already over, a
 * fixed window, a day period), dedup keys that change with the period, the
 * messages and the webhook payload.
 */
#include "alerts.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define HOUR  3600LL
#define DAY   86400LL
#define MONTH 1772323200LL /* 2026-03-01T00:00:00Z */
#define APRIL 1775001600LL /* 2026-04-01T00:00:00Z */

static money_t usd(const char *s)
{
    money_t v = 0;
    cr_assert(money_parse_usd(s, 15, &v), "bad amount %s", s);
    return v;
}

/* A month budget on team search, id 7, with thresholds "50,80,100" (percent x100 allowed). */
static struct budget make_budget(const char *amount, const int32_t *pcts, size_t n)
{
    struct budget b = {0};
    b.id = 7;
    b.org_id = 1;
    snprintf(b.name, sizeof(b.name), "search-month");
    b.scope.kind = SCOPE_TEAM;
    snprintf(b.scope.name, sizeof(b.scope.name), "search");
    b.scope.id = 10;
    b.amount = usd(amount);
    b.period = PERIOD_MONTH;
    snprintf(b.timezone, sizeof(b.timezone), "UTC");
    b.anchor = 1;
    for (size_t i = 0; i < n; i++) {
        b.thresholds[i].percent_x100 = pcts[i];
        b.thresholds[i].action = i + 1 == n ? ACTION_DENY : ACTION_ALERT;
    }
    b.n_thresholds = n;
    b.enabled = true;
    return b;
}

static const int32_t STD[] = {5000, 8000, 10000};

struct due_case {
    const char *name;
    const char *amount;
    const char *spent;
    const char *recent;      /* spend in [recent_from, now) */
    int64_t start, end, now; /* the period and the instant */
    int64_t recent_from;     /* 0: alerts_rate_from(start, now) */
    const char *keys;        /* the keys due, joined by ' ' */
    const char *forecast;    /* the projected spend of a forecast alert, or NULL */
};

static const struct due_case due_cases[] = {
    {"nothing spent", "100", "0", "0", MONTH, APRIL, MONTH + 10 * DAY, 0, "", NULL},
    {"below every threshold", "100", "49.99", "0", MONTH, APRIL, MONTH + 28 * DAY, 0, "", NULL},
    {"one threshold", "100", "50", "0", MONTH, APRIL, MONTH + 28 * DAY, 0,
     "threshold:7:1772323200:5000", NULL},
    {"several at once", "100", "99.99", "0", MONTH, APRIL, MONTH + 30 * DAY, 0,
     "threshold:7:1772323200:5000 threshold:7:1772323200:8000", NULL},
    {"exactly at the limit", "100", "100", "0", MONTH, APRIL, MONTH + 30 * DAY, 0,
     "threshold:7:1772323200:5000 threshold:7:1772323200:8000 threshold:7:1772323200:10000", NULL},
    {"amount 0, nothing spent", "0", "0", "0", MONTH, APRIL, MONTH + DAY, 0, "", NULL},
    {"amount 0, any spend crosses all", "0", "0.01", "0", MONTH, APRIL, MONTH + DAY, 0,
     "threshold:7:1772323200:5000 threshold:7:1772323200:8000 threshold:7:1772323200:10000", NULL},
    /* March has 31 days: a tenth is 3.1 days, so no forecast on day 3. */
    {"forecast guard: too early", "100", "30", "30", MONTH, APRIL, MONTH + 3 * DAY, 0, "", NULL},
    {"forecast guard: no spend", "100", "0", "0", MONTH, APRIL, MONTH + 10 * DAY, 0, "", NULL},
    /* 10 days in, 40 spent, 10 in the last day: 40 + 10 x 21 = 250. */
    {"forecast fires", "100", "40", "10", MONTH, APRIL, MONTH + 10 * DAY, 0,
     "forecast:7:1772323200", "250.00"},
    /* 40 + 2 x 21 = 82: under the limit. */
    {"forecast under the limit", "100", "40", "2", MONTH, APRIL, MONTH + 10 * DAY, 0, "", NULL},
    {"no forecast once over", "100", "120", "50", MONTH, APRIL, MONTH + 10 * DAY, 0,
     "threshold:7:1772323200:5000 threshold:7:1772323200:8000 threshold:7:1772323200:10000", NULL},
    /* A rate window rounded down to the hour by the caller: 36 over 36 h. */
    {"forecast over a rounded window", "100", "40", "36", MONTH, APRIL, MONTH + 10 * DAY,
     MONTH + 10 * DAY - 36 * HOUR, "forecast:7:1772323200", "544.00"},
    /* A fixed window of 10 days: the guard is one day; 12 h in is too early. */
    {"fixed window too early", "100", "20", "20", MONTH, MONTH + 10 * DAY, MONTH + 12 * HOUR, 0, "",
     NULL},
    /* 2 days in, 30 spent, 20 in the last 24 h, 8 days left: 30 + 160 = 190. */
    {"fixed window fires", "100", "30", "20", MONTH, MONTH + 10 * DAY, MONTH + 2 * DAY, 0,
     "forecast:7:1772323200", "190.00"},
    /* A day: the guard is 6 h; at 05:59 nothing, at 06:00 the rate of 6 h. */
    {"day period before 6 h", "100", "40", "40", MONTH, MONTH + DAY, MONTH + 6 * HOUR - 1, 0, "",
     NULL},
    {"day period after 6 h", "100", "40", "40", MONTH, MONTH + DAY, MONTH + 6 * HOUR, 0,
     "forecast:7:1772323200", "160.00"},
};

Test(alerts, budget_due_table)
{
    for (size_t i = 0; i < ARRAY_LEN(due_cases); i++) {
        const struct due_case *c = &due_cases[i];
        struct budget b = make_budget(c->amount, STD, ARRAY_LEN(STD));
        struct alert out[ALERTS_PER_BUDGET];
        struct alerts_budget_state s = {.b = &b,
                                        .start = c->start,
                                        .end = c->end,
                                        .now = c->now,
                                        .spent = usd(c->spent),
                                        .recent = usd(c->recent)};
        char keys[2048] = "", got[MONEY_BUF];
        const char *fc = NULL;

        if (c->end - c->start < 20 * DAY)
            b.period = c->end - c->start == DAY ? PERIOD_DAY : PERIOD_FIXED;
        s.recent_from = c->recent_from ? c->recent_from : alerts_rate_from(c->start, c->now);
        size_t n = alerts_budget_due(&s, out);
        for (size_t j = 0; j < n; j++) {
            size_t len = strlen(keys);
            snprintf(keys + len, sizeof(keys) - len, "%s%s", j ? " " : "", out[j].key);
            if (out[j].kind == ALERT_FORECAST) {
                cr_expect(out[j].has_forecast, "%s", c->name);
                money_format_usd(out[j].forecast, 2, got);
                fc = got;
            }
            cr_expect_eq(out[j].spent, s.spent, "%s", c->name);
            cr_expect_eq(out[j].period_end, c->end, "%s", c->name);
        }
        cr_expect_str_eq(keys, c->keys, "%s", c->name);
        if (c->forecast)
            cr_expect(fc && !strcmp(fc, c->forecast), "%s: forecast %s, expected %s", c->name,
                      fc ? fc : "none", c->forecast);
        else
            cr_expect_null(fc, "%s: unexpected forecast %s", c->name, fc);
    }
}

Test(alerts, same_percent_fires_once)
{
    static const int32_t pcts[] = {8000, 8000, 10000};
    struct budget b = make_budget("10", pcts, ARRAY_LEN(pcts));
    struct alert out[ALERTS_PER_BUDGET];
    struct alerts_budget_state s = {&b, MONTH, APRIL, MONTH + DAY, usd("10"), 0, MONTH};
    cr_expect_eq(alerts_budget_due(&s, out), 2);
    cr_expect_eq(out[0].threshold_x100, 8000);
    cr_expect_eq(out[1].threshold_x100, 10000);
}

Test(alerts, rate_window)
{
    cr_expect_eq(alerts_rate_from(MONTH, MONTH + 5 * HOUR), MONTH);
    cr_expect_eq(alerts_rate_from(MONTH, MONTH + DAY), MONTH);
    cr_expect_eq(alerts_rate_from(MONTH, MONTH + 3 * DAY), MONTH + 2 * DAY);
}

Test(alerts, keys_change_with_the_period)
{
    struct budget b = make_budget("100", STD, ARRAY_LEN(STD));
    struct alert a1[ALERTS_PER_BUDGET], a2[ALERTS_PER_BUDGET], d1, d2, u1, u2, u3;
    struct alerts_budget_state s1 = {&b,        MONTH,     APRIL,          MONTH + 10 * DAY,
                                     usd("60"), usd("30"), MONTH + 9 * DAY};
    struct alerts_budget_state s2 = {&b,        APRIL,     APRIL + 30 * DAY, APRIL + 10 * DAY,
                                     usd("60"), usd("30"), APRIL + 9 * DAY};
    int64_t m0, m1;

    cr_assert_eq(alerts_budget_due(&s1, a1), 2);
    cr_assert_eq(alerts_budget_due(&s2, a2), 2);
    cr_expect_str_eq(a1[0].key, "threshold:7:1772323200:5000");
    cr_expect_str_eq(a2[0].key, "threshold:7:1775001600:5000");
    cr_expect_str_eq(a1[1].key, "forecast:7:1772323200");
    cr_expect_str_eq(a2[1].key, "forecast:7:1775001600");
    alerts_denial(&b, MONTH, APRIL, usd("101"), &d1);
    alerts_denial(&b, APRIL, APRIL + 30 * DAY, usd("101"), &d2);
    cr_expect_str_eq(d1.key, "denial:7:1772323200");
    cr_expect_str_eq(d2.key, "denial:7:1775001600");
    alerts_month(MONTH + 20 * DAY + 5, &m0, &m1);
    cr_expect_eq(m0, MONTH);
    cr_expect_eq(m1, APRIL);
    alerts_unpriced("openai", "gpt-9", m0, m1, 3, &u1);
    alerts_month(APRIL + 3, &m0, &m1);
    alerts_unpriced("openai", "gpt-9", m0, m1, 1, &u2);
    alerts_unpriced("openai", "gpt-9-mini", m0, m1, 1, &u3);
    cr_expect_str_eq(u1.key, "unpriced:openai:gpt-9:2026-03");
    cr_expect_str_eq(u2.key, "unpriced:openai:gpt-9:2026-04");
    cr_expect_str_eq(u3.key, "unpriced:openai:gpt-9-mini:2026-04");
}

Test(alerts, messages)
{
    struct budget b = make_budget("5000", STD, ARRAY_LEN(STD));
    struct alert a[ALERTS_PER_BUDGET], d, u;
    struct alerts_budget_state s = {
        &b, MONTH, APRIL, MONTH + 10 * DAY, usd("4012.5"), usd("500"), MONTH + 9 * DAY};
    char m[ALERTS_MESSAGE_MAX];

    cr_assert_eq(alerts_budget_due(&s, a), 3);
    cr_expect_str_eq(alerts_message(&a[1], m, sizeof(m)),
                     "Budget \"search-month\" (team search) has spent USD 4012.50 of USD 5000.00"
                     " (80.25%), reaching its 80% threshold.");
    cr_expect_str_eq(alerts_message(&a[2], m, sizeof(m)),
                     "Budget \"search-month\" (team search) is on course to spend USD 14512.50"
                     " by the end of its period, over its limit of USD 5000.00"
                     " (USD 4012.50 spent so far).");
    alerts_denial(&b, MONTH, APRIL, usd("5000.10"), &d);
    cr_expect_str_eq(alerts_message(&d, m, sizeof(m)),
                     "Budget \"search-month\" (team search) denied a call: USD 5000.10 of"
                     " USD 5000.00 spent.");
    alerts_unpriced("openai", "gpt-9", MONTH, APRIL, 1, &u);
    cr_expect_str_eq(alerts_message(&u, m, sizeof(m)),
                     "Usage of openai/gpt-9 has no price: 1 event this month is stored unpriced.");
    cr_expect_str_eq(alerts_message(&u, m, 12), "Usage of op");
}

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(12));
    json_decref(j);
    return s;
}

Test(alerts, payload)
{
    struct budget b = make_budget("5000", STD, ARRAY_LEN(STD));
    struct alert a[ALERTS_PER_BUDGET], u;
    struct alerts_budget_state s = {
        &b, MONTH, APRIL, MONTH + 10 * DAY, usd("4012.5"), usd("0"), MONTH + 9 * DAY};
    char *text;

    cr_assert_eq(alerts_budget_due(&s, a), 2);
    text = dump(alerts_payload(&a[1], 42, MONTH + 10 * DAY, "https://tg.example"));
    cr_expect_str_eq(
        text, "{\"data\":{\"alert_id\":42,\"budget\":{\"id\":7,\"name\":\"search-month\","
              "\"scope\":{\"kind\":\"team\",\"name\":\"search\"}},"
              "\"dashboard_url\":\"https://tg.example/#/teams/search\",\"forecast_usd\":null,"
              "\"kind\":\"threshold\",\"limit_usd\":\"5000.00\",\"message\":\"Budget "
              "\\\"search-month\\\" (team search) has spent USD 4012.50 of USD 5000.00 (80.25%),"
              " reaching its 80% threshold.\",\"model\":null,\"period\":{\"end\":"
              "\"2026-04-01T00:00:00Z\",\"start\":\"2026-03-01T00:00:00Z\"},\"spent_usd\":"
              "\"4012.50\",\"team\":\"search\",\"threshold_percent\":80,\"used_percent\":80.25},"
              "\"timestamp\":\"2026-03-11T00:00:00Z\",\"type\":\"budget.threshold\"}");
    free(text);

    alerts_unpriced("openai", "gpt-9", MONTH, APRIL, 2, &u);
    text = dump(alerts_payload(&u, 0, MONTH + 60, "http://127.0.0.1:8080"));
    cr_expect_str_eq(
        text, "{\"data\":{\"alert_id\":null,\"budget\":null,"
              "\"dashboard_url\":\"http://127.0.0.1:8080/#/\",\"forecast_usd\":null,"
              "\"kind\":\"unpriced\",\"limit_usd\":null,\"message\":\"Usage of openai/gpt-9 has"
              " no price: 2 events this month are stored unpriced.\",\"model\":{\"model\":"
              "\"gpt-9\",\"provider\":\"openai\"},\"period\":{\"end\":\"2026-04-01T00:00:00Z\","
              "\"start\":\"2026-03-01T00:00:00Z\"},\"spent_usd\":null,\"team\":null,"
              "\"threshold_percent\":null,\"used_percent\":null},"
              "\"timestamp\":\"2026-03-01T00:01:00Z\",\"type\":\"usage.unpriced\"}");
    free(text);

    /* An org budget has no team; a tag scope is named key=value. */
    b.scope.kind = SCOPE_TAG;
    snprintf(b.scope.name, sizeof(b.scope.name), "env");
    snprintf(b.scope.tag_value, sizeof(b.scope.tag_value), "prod");
    json_t *p = alerts_payload(&a[0], 1, MONTH, "http://x");
    json_t *data = json_object_get(p, "data");
    cr_expect(json_is_null(json_object_get(data, "team")));
    cr_expect_str_eq(json_string_value(json_object_get(data, "dashboard_url")), "http://x/#/");
    cr_expect_str_eq(json_string_value(json_object_get(
                         json_object_get(json_object_get(data, "budget"), "scope"), "name")),
                     "env=prod");
    json_decref(p);
}
