/*
 * alerts: the alert evaluator on a real server and database. Spend pushed
 * past 50, 80 and 100% writes exactly one alert per threshold, each with
 * one pending delivery per matching endpoint (no dispatcher runs here, so
 * deliveries stay pending), also with a second instance on the same
 * database; a forecast alert for a budget whose last day's rate projects
 * over its amount, and none for one too young to forecast; a denial alert
 * after a denied verdict; an unpriced alert after an event for a model
 * without a price. Endpoints are rows inserted by SQL.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

TH_SUITE(alerts);

struct fx {
    const char *url;
    const char *admin, *verdict, *ingest;
    struct th_server *s;
};

static const char *const SERVE_ARGS[] = {
    "--alert-interval",    "1", "--ledger-reconcile", "1", "--public-url",
    "https://tg.example/", NULL};

static void start(struct fx *f)
{
    f->url = th_db_priced();
    f->admin = th_admin_key(f->url);
    f->verdict = th_cli_key(f->url, "verdict", NULL);
    f->ingest = th_cli_key(f->url, "ingest", NULL);
    f->s = th_server_startv(NULL, f->url, SERVE_ARGS);
    th_create_team(f->s, f->admin, "search", NULL, NULL);
    th_create_team(f->s, f->admin, "ads", NULL, NULL);
}

/* Inserts an endpoint; team may be NULL, kinds a Postgres array literal. Returns its id. */
static const char *endpoint(struct fx *f, const char *team, const char *kinds)
{
    return th_sql(f->url,
                  "INSERT INTO webhooks (org_id, url, secret, team_id, kinds)"
                  " VALUES (1, 'http://127.0.0.1:9/x', 'whsec_dGVzdA==',"
                  " (SELECT id FROM teams WHERE slug = nullif($1, '')), $2::text[]) RETURNING id",
                  team ? team : "", kinds, NULL);
}

/* Creates a budget and waits until the server's ledger has loaded it; returns its id. */
static const char *budget(struct fx *f, const char *body)
{
    struct th_resp r;
    th_http(f->s, "POST", "/v1/admin/budgets", f->admin, "application/json", body, &r);
    th_assert_status(&r, 201);
    const char *name = th_jstr(r.json, "name");
    for (int i = 0; i < 100; i++) {
        th_http(f->s, "GET", th_fmt("/v1/admin/budgets/%s", name), f->admin, NULL, NULL, &r);
        json_t *st = json_object_get(r.json, "status");
        if (json_is_object(st) && json_is_true(json_object_get(st, "loaded")))
            return th_sql(f->url, "SELECT id FROM budgets WHERE name = $1", name, NULL);
        usleep(100000);
    }
    cr_assert_fail("budget %s was never loaded", name);
    return NULL;
}

/* Ingests one event through s: input tokens of model (gpt-4o: USD 2.50 per million). */
static void usage(const struct th_server *s, struct fx *f, const char *id, const char *team,
                  const char *model, long input, long ago)
{
    struct th_resp r;
    char ts[32];
    time_t t = time(NULL) - ago;
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    th_json(s, "POST", "/v1/usage", f->ingest, &r,
            "{\"id\":\"%s\",\"team\":\"%s\",\"provider\":\"openai\",\"model\":\"%s\","
            "\"input_tokens\":%ld,\"output_tokens\":0,\"timestamp\":\"%s\"}",
            id, team, model, input, ts);
    th_assert_status(&r, 200);
}

/* Waits (20 s at most) until the query's count is at least n; returns the last count. */
static long wait_count(struct fx *f, long n, const char *sql, const char *arg)
{
    long got = 0;
    for (int i = 0; i < 200; i++) {
        got = atol(th_sql(f->url, sql, arg, NULL));
        if (got >= n)
            return got;
        usleep(100000);
    }
    th_server_dump(f->s, "waiting for alerts");
    cr_assert_fail("waited for %ld, have %ld: %s (%s)", n, got, sql, arg);
    return got;
}

/* The payload of the alert with this key, parsed: a new reference the test releases. */
static json_t *payload(struct fx *f, const char *key)
{
    const char *text =
        th_sql(f->url, "SELECT payload::text FROM alerts WHERE dedup_key = $1", key, NULL);
    cr_assert(text && *text, "no alert %s", key);
    json_t *j = json_loads(text, 0, NULL);
    cr_assert(j, "payload of %s is not JSON: %s", key, text);
    return j;
}

#define THRESHOLDS_SQL                                                                             \
    "SELECT count(*) FROM alerts WHERE kind = 'threshold' AND budget_id = $1::bigint"

Test(alerts, thresholds_fire_once_each_with_pending_deliveries)
{
    struct fx f;
    start(&f);
    const char *all = endpoint(&f, NULL, "{threshold,forecast,denial,unpriced}");
    const char *search = endpoint(&f, "search", "{threshold}");
    endpoint(&f, "ads", "{threshold}");        /* another team: never */
    endpoint(&f, NULL, "{forecast,unpriced}"); /* other kinds: never */
    th_sql(f.url,
           "INSERT INTO webhooks (org_id, url, secret, enabled)"
           " VALUES (1, 'http://127.0.0.1:9/off', 'whsec_dGVzdA==', false)",
           NULL);
    /* A window that began an hour ago: too young for a forecast, so thresholds only. */
    char ws[32], we[32];
    time_t t0 = time(NULL) - 3600, t1 = t0 + 30 * 86400;
    strftime(ws, sizeof(ws), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t0));
    strftime(we, sizeof(we), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t1));
    const char *id =
        budget(&f, th_fmt("{\"name\":\"search-sprint\",\"scope\":{\"team\":\"search\"},"
                          "\"amount_usd\":\"10\",\"period\":\"fixed\",\"window\":{\"start\":"
                          "\"%s\",\"end\":\"%s\"},\"thresholds\":[{\"at\":50,\"action\":"
                          "\"alert\"},{\"at\":80,\"action\":\"alert\"},"
                          "{\"at\":100,\"action\":\"deny\"}]}",
                          ws, we));
    const char *start_s = th_fmt("%lld", (long long)t0);
    struct th_server *s2 = th_server_startv(NULL, f.url, SERVE_ARGS);

    usage(f.s, &f, "e1", "search", "gpt-4o", 1900000, 0); /* 4.75: 47.5% */
    usage(s2, &f, "e2", "search", "gpt-4o", 100000, 0);   /* 5.00: exactly 50% */
    cr_expect_eq(wait_count(&f, 1, THRESHOLDS_SQL, id), 1);
    usage(s2, &f, "e3", "search", "gpt-4o", 1210000, 0); /* 8.025: 80.25% */
    cr_expect_eq(wait_count(&f, 2, THRESHOLDS_SQL, id), 2);
    usage(f.s, &f, "e4", "search", "gpt-4o", 790000, 0); /* 10.00: at the limit */
    cr_expect_eq(wait_count(&f, 3, THRESHOLDS_SQL, id), 3);

    /* Both instances have seen all the spend for a few rounds: still one each. */
    sleep(3);
    cr_expect_str_eq(th_sql(f.url, THRESHOLDS_SQL, id, NULL), "3");
    const char *k50 = th_fmt("threshold:%s:%s:5000", id, start_s);
    const char *k80 = th_fmt("threshold:%s:%s:8000", id, start_s);
    const char *k100 = th_fmt("threshold:%s:%s:10000", id, start_s);
    cr_expect_str_eq(th_sql(f.url,
                            "SELECT string_agg(dedup_key || '@' || threshold, ' ' ORDER BY id)"
                            " FROM alerts WHERE kind = 'threshold'",
                            NULL),
                     th_fmt("%s@50.00 %s@80.00 %s@100.00", k50, k80, k100));

    json_t *p = payload(&f, k80), *d = json_object_get(p, "data");
    const char *alert_id = th_sql(f.url, "SELECT id FROM alerts WHERE dedup_key = $1", k80, NULL);
    cr_expect_str_eq(th_jstr(p, "type"), "budget.threshold");
    cr_expect(th_matches(th_jstr(p, "timestamp"), "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$"));
    cr_expect_eq(json_integer_value(json_object_get(d, "alert_id")), atoll(alert_id));
    cr_expect_str_eq(th_jstr(d, "kind"), "threshold");
    cr_expect_str_eq(th_jstr(d, "team"), "search");
    cr_expect_str_eq(th_jstr(d, "limit_usd"), "10.00");
    cr_expect_str_eq(th_jstr(d, "spent_usd"), "8.025");
    cr_expect(th_jnull(d, "forecast_usd"));
    cr_expect(th_jnull(d, "model"));
    cr_expect_eq(json_integer_value(json_object_get(d, "threshold_percent")), 80);
    cr_expect_str_eq(th_sql(f.url,
                            "SELECT payload->'data'->>'used_percent' FROM alerts"
                            " WHERE dedup_key = $1",
                            k80, NULL),
                     "80.25");
    cr_expect_str_eq(th_jstr(d, "dashboard_url"), "https://tg.example/#/teams/search");
    json_t *b = json_object_get(d, "budget");
    cr_expect_eq(json_integer_value(json_object_get(b, "id")), atoll(id));
    cr_expect_str_eq(th_jstr(b, "name"), "search-sprint");
    cr_expect_str_eq(th_jstr(json_object_get(b, "scope"), "kind"), "team");
    cr_expect_str_eq(th_jstr(json_object_get(b, "scope"), "name"), "search");
    cr_expect(th_matches(th_jstr(d, "message"), "80% threshold"), "%s", th_jstr(d, "message"));
    cr_expect_str_eq(th_jstr(json_object_get(d, "period"), "start"), ws);
    cr_expect_str_eq(th_jstr(json_object_get(d, "period"), "end"), we);

    /* Each alert went to the org-wide endpoint and the search endpoint only (the dispatcher may
     * have tried them already). */
    cr_expect_str_eq(th_sql(f.url,
                            "SELECT string_agg(DISTINCT webhook_id::text, ',' ORDER BY"
                            " webhook_id::text) FROM webhook_deliveries",
                            NULL),
                     atoll(all) < atoll(search) ? th_fmt("%s,%s", all, search)
                                                : th_fmt("%s,%s", search, all));
    cr_expect_str_eq(th_sql(f.url, "SELECT count(*) FROM webhook_deliveries", NULL), "6");
    cr_expect_str_eq(th_sql(f.url,
                            "SELECT count(*) FROM webhook_deliveries"
                            " WHERE msg_id ~ '^msg_[0-9a-f]{24}$'",
                            NULL),
                     "6");
    cr_expect_str_eq(th_sql(f.url,
                            "SELECT count(DISTINCT (alert_id, webhook_id))"
                            " FROM webhook_deliveries",
                            NULL),
                     "6");
    json_decref(p);
    th_server_stop(s2);
}

Test(alerts, forecast_fires_for_a_fast_rate_and_not_too_early)
{
    struct fx f;
    char ws[32], we[32], ys[32], ye[32];
    time_t now = time(NULL), t;
    start(&f);
    endpoint(&f, NULL, "{forecast}");
    /* A 10-day window that began 2 days ago: a day of data is enough. */
    t = now - 2 * 86400;
    strftime(ws, sizeof(ws), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    t = now + 8 * 86400;
    strftime(we, sizeof(we), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    /* One that began an hour ago: too early, whatever the rate. */
    t = now - 3600;
    strftime(ys, sizeof(ys), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    t = now + 9 * 86400;
    strftime(ye, sizeof(ye), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    const char *fast = budget(
        &f, th_fmt("{\"name\":\"search-sprint\",\"scope\":{\"team\":\"search\"},"
                   "\"amount_usd\":\"100\",\"period\":\"fixed\",\"window\":{\"start\":\"%s\","
                   "\"end\":\"%s\"},\"thresholds\":[{\"at\":80,\"action\":\"alert\"}]}",
                   ws, we));
    const char *young = budget(
        &f, th_fmt("{\"name\":\"ads-sprint\",\"scope\":{\"team\":\"ads\"},"
                   "\"amount_usd\":\"100\",\"period\":\"fixed\",\"window\":{\"start\":\"%s\","
                   "\"end\":\"%s\"},\"thresholds\":[{\"at\":80,\"action\":\"alert\"}]}",
                   ys, ye));
    /* USD 20 in the last few hours: 20 + 20 x 8 days well over 100; 20% spent. */
    usage(f.s, &f, "s1", "search", "gpt-4o", 4000000, 3 * 3600);
    usage(f.s, &f, "s2", "search", "gpt-4o", 4000000, 60);
    usage(f.s, &f, "a1", "ads", "gpt-4o", 8000000, 60);

    wait_count(&f, 1,
               "SELECT count(*) FROM alerts WHERE kind = 'forecast' AND budget_id = $1::bigint",
               fast);
    sleep(2); /* a few more rounds for the young one */
    cr_expect_str_eq(
        th_sql(f.url, "SELECT count(*) FROM alerts WHERE budget_id = $1::bigint", young, NULL),
        "0");
    const char *key = th_sql(f.url, "SELECT dedup_key FROM alerts WHERE kind = 'forecast'", NULL);
    cr_expect(th_matches(key, th_fmt("^forecast:%s:[0-9]+$", fast)), "%s", key);
    json_t *p = payload(&f, key), *d = json_object_get(p, "data");
    cr_expect_str_eq(th_jstr(d, "kind"), "forecast");
    cr_expect_str_eq(th_jstr(d, "spent_usd"), "20.00");
    cr_expect_str_eq(th_jstr(d, "limit_usd"), "100.00");
    const char *fc = th_jstr(d, "forecast_usd");
    cr_assert(fc);
    cr_expect(atof(fc) > 100.0, "forecast %s", fc);
    cr_expect(th_jnull(d, "threshold_percent"));
    cr_expect_str_eq(th_sql(f.url,
                            "SELECT count(*) FROM webhook_deliveries d JOIN alerts a ON"
                            " a.id = d.alert_id WHERE a.kind = 'forecast' AND d.status = 'pending'",
                            NULL),
                     "1");
    json_decref(p);
}

Test(alerts, denial_after_a_denied_verdict)
{
    struct fx f;
    struct th_resp r;
    start(&f);
    endpoint(&f, "ads", "{denial}");
    const char *id = budget(&f, "{\"name\":\"ads-day\",\"scope\":{\"team\":\"ads\"},"
                                "\"amount_usd\":\"1\",\"period\":\"day\","
                                "\"thresholds\":[{\"at\":100,\"action\":\"deny\"}]}");
    usage(f.s, &f, "d1", "ads", "gpt-4o", 1000000, 0); /* 2.50 of 1 */
    for (int i = 0; i < 100; i++) {
        th_http(f.s, "POST", "/v1/verdict", f.verdict, "application/json",
                "{\"team\":\"ads\",\"provider\":\"openai\",\"model\":\"gpt-4o\","
                "\"input_tokens\":1000}",
                &r);
        th_assert_status(&r, 200);
        if (!strcmp(th_jstr(r.json, "decision"), "deny"))
            break;
        usleep(100000);
    }
    cr_assert_str_eq(th_jstr(r.json, "decision"), "deny", "%s", r.body);
    wait_count(&f, 1,
               "SELECT count(*) FROM alerts WHERE kind = 'denial' AND budget_id = $1::bigint", id);
    /* More denials in the same period: still one alert. */
    th_http(f.s, "POST", "/v1/verdict", f.verdict, "application/json",
            "{\"team\":\"ads\",\"provider\":\"openai\",\"model\":\"gpt-4o\"}", &r);
    sleep(2);
    cr_expect_str_eq(th_sql(f.url, "SELECT count(*) FROM alerts WHERE kind = 'denial'", NULL), "1");
    const char *key = th_sql(f.url, "SELECT dedup_key FROM alerts WHERE kind = 'denial'", NULL);
    cr_expect(th_matches(key, th_fmt("^denial:%s:[0-9]+$", id)), "%s", key);
    json_t *p = payload(&f, key);
    cr_expect_str_eq(th_jstr(p, "type"), "budget.denial");
    cr_expect_str_eq(th_jstr(json_object_get(p, "data"), "spent_usd"), "2.50");
    json_decref(p);
    cr_expect_str_eq(th_sql(f.url,
                            "SELECT count(*) FROM webhook_deliveries d JOIN alerts a"
                            " ON a.id = d.alert_id WHERE a.kind = 'denial'",
                            NULL),
                     "1");
}

Test(alerts, unpriced_model_fires_once_a_month)
{
    struct fx f;
    start(&f);
    endpoint(&f, NULL, "{unpriced}");
    endpoint(&f, "search", "{unpriced}"); /* team endpoints do not get org-wide alerts */
    usage(f.s, &f, "u1", "search", "gpt-nonexistent-9", 1000, 0);
    usage(f.s, &f, "u2", "search", "gpt-nonexistent-9", 1000, 0);
    const char *month = th_sql(f.url, "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM')", NULL);
    const char *key = th_fmt("unpriced:openai:gpt-nonexistent-9:%s", month);
    wait_count(&f, 1, "SELECT count(*) FROM alerts WHERE dedup_key = $1", key);
    usage(f.s, &f, "u3", "search", "gpt-nonexistent-9", 1000, 0);
    sleep(2);
    cr_expect_str_eq(th_sql(f.url, "SELECT count(*) FROM alerts WHERE kind = 'unpriced'", NULL),
                     "1");
    json_t *p = payload(&f, key), *d = json_object_get(p, "data");
    cr_expect_str_eq(th_jstr(p, "type"), "usage.unpriced");
    cr_expect(th_jnull(d, "budget"));
    cr_expect(th_jnull(d, "team"));
    cr_expect_str_eq(th_jstr(json_object_get(d, "model"), "provider"), "openai");
    cr_expect_str_eq(th_jstr(json_object_get(d, "model"), "model"), "gpt-nonexistent-9");
    cr_expect_str_eq(th_jstr(d, "dashboard_url"), "https://tg.example/#/");
    cr_expect_str_eq(th_sql(f.url, "SELECT count(*) FROM webhook_deliveries", NULL), "1");
    json_decref(p);
}
