/*
 * usage: GET /v1/usage/{id}, POST /v1/usage/{id}/void and /amend on a real
 * server with the shipped price catalog: exact costs and prices as the
 * server understood them, scoping, the audit trail, and rollups that always
 * equal the sum of the live revisions.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

TH_SUITE(usage);

struct fx {
    const char *url;   /* a migrated database of its own, with the price catalog */
    const char *admin; /* an unscoped admin key */
    struct th_server *s;
};

/* The checkout's root, from TOLLGATE_BIN (ROOT/build/MODE/tollgate). */
static const char *repo_root(void)
{
    char *root = th_fmt("%s", th_bin()), *b = strstr(root, "/build/");
    cr_assert(b, "TOLLGATE_BIN %s is not under a build/ folder", root);
    *b = '\0';
    return root;
}

/* Imports the shipped catalog and starts a server; teams search and ads. */
static void start(struct fx *f)
{
    struct th_proc p;

    f->url = th_db_migrated();
    f->admin = th_admin_key(f->url);
    th_run(&p, NULL, "prices", "import", th_fmt("%s/prices/genai-prices.json", repo_root()),
           "--database-url", f->url, NULL);
    cr_assert_eq(p.status, 0, "prices import failed: %s", p.err);
    f->s = th_server_start(f->url, "--spool-max", "0", NULL);
    th_create_team(f->s, f->admin, "search", NULL, NULL);
    th_create_team(f->s, f->admin, "ads", NULL, NULL);
}

/* An RFC 3339 time, whole minutes, `minutes` ago (UTC). */
static const char *ago(long minutes)
{
    time_t t = time(NULL) - minutes * 60;
    struct tm tm;
    char buf[40];

    t -= t % 60;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return th_fmt("%s", buf);
}

/* Two hours ago at minute 15: well inside one hour bucket. */
static const char *event_time(void)
{
    time_t t = time(NULL) - 2 * 3600;
    struct tm tm;
    char buf[40];

    gmtime_r(&t, &tm);
    tm.tm_min = 15;
    tm.tm_sec = 0;
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return th_fmt("%s", buf);
}

/* A gpt-4o event: effective = in*2.5 + cached*1.25 + out*10 USD per Mtok. */
static const char *gpt4o(const char *id, const char *ts, const char *team, long in, long cached,
                         long out)
{
    return th_fmt("{%s%s%s\"timestamp\":\"%s\",\"team\":\"%s\",\"user\":\"alice\","
                  "\"provider\":\"openai\",\"model\":\"gpt-4o\",\"input_tokens\":%ld,"
                  "\"cache_read_tokens\":%ld,\"output_tokens\":%ld}",
                  id ? "\"id\":\"" : "", id ? id : "", id ? "\"," : "", ts, team, in, cached, out);
}

static void ingest(struct fx *f, const char *event)
{
    struct th_resp r;
    th_json(f->s, "POST", "/v1/usage", f->admin, &r, "%s", event);
    th_assert_status(&r, 200);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "accepted")), 1, "%s", r.body);
}

static void get(struct fx *f, const char *key, const char *id, struct th_resp *r)
{
    th_http(f->s, "GET", th_fmt("/v1/usage/%s", id), key, NULL, NULL, r);
}

/* Totals of the live revisions and of the rollups of org 1, as comparable text. */
#define TOTALS(req, err, unp, tab, where)                                                          \
    "SELECT concat_ws(' ', " req ", " err ", " unp ", sum(input_uncached), sum(cache_read),"       \
    " sum(cache_write_5m), sum(cache_write_1h), sum(output), sum(reasoning),"                      \
    " trim_scale(coalesce(sum(list_cost), 0)), trim_scale(coalesce(sum(effective_cost), 0)))"      \
    " FROM " tab " WHERE org_id = 1" where

static const char *live_totals(struct fx *f)
{
    return th_sql(f->url,
                  TOTALS("count(*)", "count(*) FILTER (WHERE status = 'error')",
                         "count(*) FILTER (WHERE price_id IS NULL)", "usage_events",
                         " AND superseded_at IS NULL"),
                  NULL);
}

static const char *rollup_totals(struct fx *f)
{
    return th_sql(f->url,
                  TOTALS("coalesce(sum(requests), 0)", "coalesce(sum(errors), 0)",
                         "coalesce(sum(unpriced), 0)", "spend_hourly", ""),
                  NULL);
}

/*
 * Rollups equal the live revisions: in total, and row by row (hour, team,
 * project, user, provider, model, mode), with no empty rows left behind.
 */
static void assert_rollups_match(struct fx *f)
{
    const char *live = live_totals(f), *roll = rollup_totals(f);
    cr_assert_str_eq(roll, live, "rollups %s != live events %s", roll, live);
    cr_assert_str_eq(
        th_sql(f->url,
               "WITH l AS (SELECT org_id, date_trunc('hour', ts) AS hour, team_id, project_id,"
               " user_id, provider, model, mode, count(*) AS requests, sum(input_uncached) AS iu,"
               " sum(cache_read) AS cr, sum(output) AS o, sum(list_cost) AS lc,"
               " sum(effective_cost) AS ec FROM usage_events WHERE superseded_at IS NULL"
               " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8),"
               " h AS (SELECT org_id, hour, team_id, project_id, user_id, provider, model, mode,"
               " requests, input_uncached, cache_read, output, list_cost, effective_cost"
               " FROM spend_hourly)"
               " SELECT count(*) FROM ((TABLE l EXCEPT TABLE h) UNION ALL"
               " (TABLE h EXCEPT TABLE l)) d",
               NULL),
        "0", "rollup rows differ from the live events grouped the same way");
}

/* The sums of one hour's rollups (requests, tokens, list, effective). */
static const char *hour_sums(struct fx *f, const char *ts)
{
    return th_sql(f->url,
                  "SELECT concat_ws(' ', coalesce(sum(requests), 0), coalesce(sum(input_uncached),"
                  " 0), coalesce(sum(cache_read), 0), coalesce(sum(output), 0),"
                  " trim_scale(coalesce(sum(list_cost), 0)),"
                  " trim_scale(coalesce(sum(effective_cost), 0)))"
                  " FROM spend_hourly WHERE hour = date_trunc('hour', $1::timestamptz)",
                  ts, NULL);
}

static long jint(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    cr_assert(json_is_integer(v), "'%s' is not an integer", key);
    return (long)json_integer_value(v);
}

/* ---- GET ---- */

Test(usage, get_shows_exact_costs_and_the_price_used)
{
    const char *ts = event_time();
    struct fx f;
    struct th_resp r;
    json_t *tok, *price, *mtok, *hist, *h0;

    start(&f);
    ingest(&f, th_fmt("{\"id\":\"call-1\",\"timestamp\":\"%s\",\"team\":\"search\","
                      "\"user\":\"alice\",\"provider\":\"OpenAI\",\"model\":\"gpt-4o-2024-08-06\","
                      "\"input_tokens\":1000,\"cache_read_tokens\":2000,\"output_tokens\":500,"
                      "\"request_id\":\"req-9\",\"latency_ms\":420,\"tags\":{\"feature\":\"qa\"}}",
                      ts));
    get(&f, f.admin, "call-1", &r);
    th_assert_status(&r, 200);
    cr_assert_str_eq(th_jstr(r.json, "id"), "call-1");
    cr_assert_eq(jint(r.json, "revision"), 1);
    cr_assert_str_eq(th_jstr(r.json, "state"), "live");
    cr_assert_str_eq(th_jstr(r.json, "team"), "search");
    cr_assert(th_jnull(r.json, "project"), "%s", r.body);
    cr_assert_str_eq(th_jstr(r.json, "user"), "alice");
    cr_assert_eq(jint(r.json, "api_key_id"), atol(th_key_id(f.url, f.admin)));
    /* canonical as priced, and as sent */
    cr_assert_str_eq(th_jstr(r.json, "provider"), "openai");
    cr_assert_str_eq(th_jstr(r.json, "model"), "gpt-4o");
    cr_assert_str_eq(th_jstr(r.json, "provider_sent"), "OpenAI");
    cr_assert_str_eq(th_jstr(r.json, "model_sent"), "gpt-4o-2024-08-06");
    cr_assert_str_eq(th_jstr(r.json, "requested_model"), "gpt-4o-2024-08-06");
    cr_assert_str_eq(th_jstr(r.json, "request_id"), "req-9");
    cr_assert_str_eq(th_jstr(r.json, "call_status"), "ok");
    cr_assert_eq(jint(r.json, "latency_ms"), 420);
    cr_assert_str_eq(th_jstr(r.json, "mode"), "standard");
    cr_assert_str_eq(th_jstr(r.json, "usage_format"), "normalized");
    cr_assert_str_eq(th_jstr(json_object_get(r.json, "tags"), "feature"), "qa");
    cr_assert(th_matches(th_jstr(r.json, "timestamp"), "T[0-9]{2}:15:00"), "%s", r.body);
    cr_assert(th_jstr(r.json, "received_at"), "%s", r.body);

    tok = json_object_get(r.json, "tokens");
    cr_assert_eq(jint(tok, "input_uncached"), 1000);
    cr_assert_eq(jint(tok, "cache_read"), 2000);
    cr_assert_eq(jint(tok, "cache_write_5m"), 0);
    cr_assert_eq(jint(tok, "cache_write_1h"), 0);
    cr_assert_eq(jint(tok, "output"), 500);
    cr_assert_eq(jint(tok, "reasoning"), 0);

    /* 1000 x 2.5 + 2000 x 1.25 + 500 x 10 = 10000 USD/Mtok-tokens = $0.01;
       list: all 3000 input at 2.5 + 500 x 10 = $0.0125 */
    cr_assert(json_is_true(json_object_get(r.json, "priced")), "%s", r.body);
    cr_assert_str_eq(th_jstr(r.json, "effective_cost"), "0.01");
    cr_assert_str_eq(th_jstr(r.json, "list_cost"), "0.0125");
    cr_assert_str_eq(th_jstr(r.json, "currency"), "USD");

    price = json_object_get(r.json, "price");
    cr_assert(json_is_object(price), "%s", r.body);
    cr_assert_str_eq(
        th_fmt("%ld", jint(price, "id")),
        th_sql(f.url, "SELECT price_id FROM usage_events WHERE event_id = 'call-1'", NULL));
    cr_assert_str_eq(th_jstr(price, "scope"), "list");
    cr_assert_str_eq(th_jstr(price, "provider"), "openai");
    cr_assert_str_eq(th_jstr(price, "model"), "gpt-4o");
    cr_assert_eq(jint(price, "min_prompt_tokens"), 0);
    cr_assert(th_jstr(price, "effective_from"), "%s", r.body);
    cr_assert_str_eq(th_jstr(price, "mode_multiplier"), "1");
    mtok = json_object_get(price, "usd_per_mtok");
    cr_assert_str_eq(th_jstr(mtok, "input"), "2.5");
    cr_assert_str_eq(th_jstr(mtok, "cache_read"), "1.25");
    cr_assert_str_eq(th_jstr(mtok, "cache_write_5m"), "2.5"); /* none of its own: input */
    cr_assert_str_eq(th_jstr(mtok, "cache_write_1h"), "2.5");
    cr_assert_str_eq(th_jstr(mtok, "output"), "10");
    {
        json_t *want = json_pack("[ss]", "cache_write_5m", "cache_write_1h");
        cr_assert(json_equal(json_object_get(price, "billed_at_input"), want), "%s", r.body);
        json_decref(want);
    }

    hist = json_object_get(r.json, "history");
    cr_assert_eq(json_array_size(hist), 1, "%s", r.body);
    h0 = json_array_get(hist, 0);
    cr_assert_str_eq(th_jstr(h0, "action"), "ingest");
    cr_assert_eq(jint(h0, "revision"), 1);
    cr_assert_str_eq(th_jstr(h0, "effective_cost"), "0.01");
    cr_assert_str_eq(th_jstr(h0, "list_cost"), "0.0125");
    cr_assert(th_jnull(h0, "reason"), "%s", r.body);
    th_server_stop(f.s);
}

Test(usage, get_batch_mode_shows_its_multiplier)
{
    struct fx f;
    struct th_resp r;

    start(&f);
    ingest(&f, th_fmt("{\"id\":\"b1\",\"timestamp\":\"%s\",\"team\":\"search\","
                      "\"provider\":\"openai\",\"model\":\"gpt-4o\",\"mode\":\"batch\","
                      "\"input_tokens\":1000,\"cache_read_tokens\":2000,\"output_tokens\":500}",
                      event_time()));
    get(&f, f.admin, "b1", &r);
    th_assert_status(&r, 200);
    cr_assert_str_eq(th_jstr(json_object_get(r.json, "price"), "mode_multiplier"), "0.5");
    cr_assert_str_eq(th_jstr(r.json, "effective_cost"), "0.005");
    cr_assert_str_eq(th_jstr(r.json, "list_cost"), "0.0125");
    th_server_stop(f.s);
}

Test(usage, get_unpriced_event_has_no_price)
{
    struct fx f;
    struct th_resp r;

    start(&f);
    ingest(&f, th_fmt("{\"id\":\"u1\",\"timestamp\":\"%s\",\"team\":\"search\","
                      "\"provider\":\"acme\",\"model\":\"acme-llm-9000\",\"input_tokens\":10,"
                      "\"output_tokens\":5,\"status\":\"error\"}",
                      event_time()));
    get(&f, f.admin, "u1", &r);
    th_assert_status(&r, 200);
    cr_assert(json_is_false(json_object_get(r.json, "priced")), "%s", r.body);
    cr_assert(th_jnull(r.json, "price"), "%s", r.body);
    cr_assert_str_eq(th_jstr(r.json, "effective_cost"), "0");
    cr_assert_str_eq(th_jstr(r.json, "list_cost"), "0");
    cr_assert_str_eq(th_jstr(r.json, "model"), "acme-llm-9000");
    cr_assert_str_eq(th_jstr(r.json, "model_sent"), "acme-llm-9000");
    cr_assert_str_eq(th_jstr(r.json, "call_status"), "error");
    th_server_stop(f.s);
}

Test(usage, get_404_for_unknown_and_out_of_scope_403_for_wrong_role)
{
    struct fx f;
    struct th_resp r;
    const char *ads_read, *search_read, *ingest_key;

    start(&f);
    ingest(&f, gpt4o("s1", event_time(), "search", 1000, 0, 100));
    ads_read = th_create_key(f.s, f.admin, "read", "ads");
    search_read = th_create_key(f.s, f.admin, "read", "search");
    ingest_key = th_create_key(f.s, f.admin, "ingest", NULL);

    get(&f, f.admin, "nope", &r);
    th_assert_error(&r, 404, "not_found", NULL);
    get(&f, ads_read, "s1", &r); /* exists, but not for this key: never 403 */
    th_assert_error(&r, 404, "not_found", NULL);
    get(&f, ads_read, "nope", &r);
    th_assert_error(&r, 404, "not_found", NULL);
    get(&f, search_read, "s1", &r);
    th_assert_status(&r, 200);
    cr_assert_str_eq(th_jstr(r.json, "id"), "s1");
    get(&f, ingest_key, "s1", &r);
    th_assert_error(&r, 403, "forbidden", NULL);
    get(&f, NULL, "s1", &r);
    th_assert_error(&r, 401, "unauthenticated", NULL);
    /* percent-escapes are decoded; a control byte or bad UTF-8 is simply not an event */
    get(&f, f.admin, "s%31", &r);
    th_assert_status(&r, 200);
    get(&f, f.admin, "s1%0A", &r);
    th_assert_error(&r, 404, "not_found", NULL);
    get(&f, f.admin, "s1%FF", &r);
    th_assert_error(&r, 404, "not_found", NULL);
    th_server_stop(f.s);
}

/* ---- void ---- */

Test(usage, void_removes_exactly_the_event_from_rollups)
{
    const char *ts = event_time(), *e1 = gpt4o("v1", ts, "search", 1000, 2000, 500);
    struct fx f;
    struct th_resp r;
    json_t *hist, *last;

    start(&f);
    ingest(&f, e1);
    ingest(&f, gpt4o("v2", ts, "search", 4000, 0, 1000)); /* 0.01 + 0.01 */
    /* requests, input_uncached, cache_read, output, list, effective */
    cr_assert_str_eq(hour_sums(&f, ts), "2 5000 2000 1500 0.0325 0.03");
    assert_rollups_match(&f);

    th_json(f.s, "POST", "/v1/usage/v1/void", f.admin, &r, "{\"reason\":\"test traffic\"}");
    th_assert_status(&r, 200);
    cr_assert_str_eq(th_jstr(r.json, "state"), "voided");
    cr_assert_eq(jint(r.json, "revision"), 1);
    hist = json_object_get(r.json, "history");
    cr_assert_eq(json_array_size(hist), 2, "%s", r.body);
    last = json_array_get(hist, 1);
    cr_assert_str_eq(th_jstr(last, "action"), "void");
    cr_assert_str_eq(th_jstr(last, "reason"), "test traffic");
    cr_assert_str_eq(th_jstr(last, "effective_cost"), "0");
    cr_assert_eq(jint(last, "by_key"), atol(th_key_id(f.url, f.admin)));
    cr_assert_str_eq(hour_sums(&f, ts), "1 4000 0 1000 0.02 0.02");
    assert_rollups_match(&f);
    cr_assert_str_eq(th_sql(f.url,
                            "SELECT action || ':' || revision || ':' || reason"
                            " FROM usage_corrections WHERE event_id = 'v1'",
                            NULL),
                     "void:1:test traffic");
    cr_assert(th_sql(f.url, "SELECT voided_at FROM usage_event_ids WHERE event_id = 'v1'", NULL));

    /* GET shows it voided too */
    get(&f, f.admin, "v1", &r);
    th_assert_status(&r, 200);
    cr_assert_str_eq(th_jstr(r.json, "state"), "voided");
    cr_assert_str_eq(th_jstr(r.json, "effective_cost"), "0.01"); /* what it was */

    /* a second void, and an amendment, find nothing live */
    th_http(f.s, "POST", "/v1/usage/v1/void", f.admin, NULL, NULL, &r);
    th_assert_error(&r, 409, "already_voided", NULL);
    th_json(f.s, "POST", "/v1/usage/v1/amend", f.admin, &r, "{\"event\":%s}",
            gpt4o(NULL, ts, "search", 1, 0, 1));
    th_assert_error(&r, 409, "already_voided", NULL);

    /* the original resent is still a duplicate: not counted again */
    th_json(f.s, "POST", "/v1/usage", f.admin, &r, "%s", e1);
    th_assert_status(&r, 200);
    cr_assert_eq(jint(r.json, "duplicates"), 1, "%s", r.body);
    cr_assert_eq(jint(r.json, "accepted"), 0, "%s", r.body);
    cr_assert_str_eq(hour_sums(&f, ts), "1 4000 0 1000 0.02 0.02");
    assert_rollups_match(&f);
    th_server_stop(f.s);
}

Test(usage, void_of_the_only_event_leaves_no_empty_rollup)
{
    const char *ts = event_time();
    struct fx f;
    struct th_resp r;

    start(&f);
    ingest(&f, th_fmt("{\"id\":\"w1\",\"timestamp\":\"%s\",\"team\":\"ads\",\"provider\":"
                      "\"acme\",\"model\":\"unpriced-x\",\"input_tokens\":7,\"status\":\"error\"}",
                      ts));
    cr_assert_str_eq(th_sql(f.url, "SELECT count(*) FROM spend_hourly", NULL), "1");
    th_http(f.s, "POST", "/v1/usage/w1/void", f.admin, NULL, NULL, &r); /* no body */
    th_assert_status(&r, 200);
    cr_assert_str_eq(th_jstr(r.json, "state"), "voided");
    cr_assert(th_jnull(json_array_get(json_object_get(r.json, "history"), 1), "reason"), "%s",
              r.body);
    cr_assert_str_eq(th_sql(f.url, "SELECT count(*) FROM spend_hourly", NULL), "0");
    assert_rollups_match(&f);
    th_server_stop(f.s);
}

Test(usage, void_validates_and_checks_scope_and_role)
{
    const char *long_reason = th_fmt("%01001d", 0);
    struct fx f;
    struct th_resp r;
    const char *ads_ingest, *search_ingest, *reader;

    start(&f);
    ingest(&f, gpt4o("x1", event_time(), "search", 100, 0, 10));
    ads_ingest = th_create_key(f.s, f.admin, "ingest", "ads");
    search_ingest = th_create_key(f.s, f.admin, "ingest", "search");
    reader = th_create_key(f.s, f.admin, "read", NULL);

    th_http(f.s, "POST", "/v1/usage/nope/void", f.admin, NULL, NULL, &r);
    th_assert_error(&r, 404, "not_found", NULL);
    th_json(f.s, "POST", "/v1/usage/x1/void", f.admin, &r, "{\"why\":\"x\"}");
    th_assert_error(&r, 400, "unknown_field", "why");
    th_json(f.s, "POST", "/v1/usage/x1/void", f.admin, &r, "{\"reason\":5}");
    th_assert_error(&r, 400, "invalid_type", "reason");
    th_json(f.s, "POST", "/v1/usage/x1/void", f.admin, &r, "{\"reason\":\"%s\"}", long_reason);
    th_assert_error(&r, 422, "invalid_value", "reason");
    th_json(f.s, "POST", "/v1/usage/x1/void", f.admin, &r, "[1]");
    th_assert_error(&r, 400, "invalid_json", NULL);
    th_json(f.s, "POST", "/v1/usage/x1/void", f.admin, &r, "{\"reason\":");
    th_assert_error(&r, 400, "invalid_json", NULL);
    th_http(f.s, "POST", "/v1/usage/x1/void", reader, NULL, NULL, &r);
    th_assert_error(&r, 403, "forbidden", NULL);
    th_http(f.s, "POST", "/v1/usage/x1/void", ads_ingest, NULL, NULL, &r);
    th_assert_error(&r, 404, "not_found", NULL);
    cr_assert_str_eq(th_sql(f.url, "SELECT count(*) FROM usage_corrections", NULL), "0",
                     "a refused void must change nothing");
    assert_rollups_match(&f);

    /* the reason may be exactly 1000 bytes; the team's own key may void */
    th_json(f.s, "POST", "/v1/usage/x1/void", search_ingest, &r, "{\"reason\":\"%s\"}",
            long_reason + 1);
    th_assert_status(&r, 200);
    cr_assert_str_eq(th_jstr(r.json, "state"), "voided");
    assert_rollups_match(&f);
    th_server_stop(f.s);
}

/* ---- amend ---- */

Test(usage, amend_replaces_the_event_in_rollups)
{
    const char *ts = event_time();
    struct fx f;
    struct th_resp r, d;
    json_t *hist, *h1;

    start(&f);
    ingest(&f, gpt4o("a1", ts, "search", 1000, 2000, 500));
    ingest(&f, gpt4o("a2", ts, "search", 4000, 0, 1000));
    ingest(&f, th_fmt("{\"id\":\"a3\",\"timestamp\":\"%s\",\"team\":\"ads\",\"provider\":"
                      "\"acme\",\"model\":\"unpriced-x\",\"input_tokens\":7}",
                      ts));
    assert_rollups_match(&f);

    /* more output: 1000 x 2.5 + 2000 x 1.25 + 1500 x 10 = $0.02; list $0.0225 */
    th_json(f.s, "POST", "/v1/usage/a1/amend", f.admin, &r,
            "{\"event\":%s,\"reason\":\"gateway under-reported output\"}",
            gpt4o(NULL, ts, "search", 1000, 2000, 1500));
    th_assert_status(&r, 200);
    cr_assert_eq(jint(r.json, "revision"), 2, "%s", r.body);
    cr_assert_str_eq(th_jstr(r.json, "state"), "live");
    cr_assert_eq(jint(json_object_get(r.json, "tokens"), "output"), 1500);
    cr_assert_str_eq(th_jstr(r.json, "effective_cost"), "0.02");
    cr_assert_str_eq(th_jstr(r.json, "list_cost"), "0.0225");
    hist = json_object_get(r.json, "history");
    cr_assert_eq(json_array_size(hist), 2, "%s", r.body);
    cr_assert_str_eq(th_jstr(json_array_get(hist, 0), "action"), "ingest");
    cr_assert_str_eq(th_jstr(json_array_get(hist, 0), "effective_cost"), "0.01");
    h1 = json_array_get(hist, 1);
    cr_assert_str_eq(th_jstr(h1, "action"), "amend");
    cr_assert_eq(jint(h1, "revision"), 2);
    cr_assert_str_eq(th_jstr(h1, "reason"), "gateway under-reported output");
    cr_assert_str_eq(th_jstr(h1, "effective_cost"), "0.02");
    cr_assert_str_eq(th_jstr(h1, "list_cost"), "0.0225");
    cr_assert(th_jstr(h1, "at"), "%s", r.body);
    /* the key the event was sent with stays its key */
    cr_assert_eq(jint(r.json, "api_key_id"), atol(th_key_id(f.url, f.admin)));
    cr_assert_str_eq(hour_sums(&f, ts), "3 5007 2000 2500 0.0425 0.04");
    assert_rollups_match(&f);

    /* GET says the same */
    get(&f, f.admin, "a1", &d);
    th_assert_status(&d, 200);
    cr_assert(json_equal(d.json, r.json), "GET %s differs from the amend reply %s", d.body, r.body);

    /* the unpriced one becomes a priced model in another team: rollups move */
    th_json(f.s, "POST", "/v1/usage/a3/amend", f.admin, &r,
            "{\"event\":{\"id\":\"a3\",\"timestamp\":\"%s\",\"team\":\"search\",\"user\":\"bob\","
            "\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"input_tokens\":1000,"
            "\"output_tokens\":100,\"status\":\"error\"}}",
            ts);
    th_assert_status(&r, 200);
    cr_assert(json_is_true(json_object_get(r.json, "priced")), "%s", r.body);
    cr_assert_str_eq(th_jstr(r.json, "team"), "search");
    cr_assert_str_eq(th_jstr(r.json, "user"), "bob");
    cr_assert_str_eq(th_jstr(r.json, "effective_cost"), "0.00021"); /* 1000 x .15 + 100 x .6 */
    cr_assert(th_jnull(json_array_get(json_object_get(r.json, "history"), 1), "reason"), "%s",
              r.body);
    cr_assert_str_eq(th_sql(f.url, "SELECT sum(unpriced) FROM spend_hourly", NULL), "0");
    cr_assert_str_eq(th_sql(f.url, "SELECT sum(errors) FROM spend_hourly", NULL), "1");
    assert_rollups_match(&f);

    /* amend again, then void: every revision is kept, rollups follow */
    th_json(f.s, "POST", "/v1/usage/a1/amend", f.admin, &r, "{\"event\":%s}",
            gpt4o("a1", ts, "search", 10, 0, 10));
    th_assert_status(&r, 200);
    cr_assert_eq(jint(r.json, "revision"), 3, "%s", r.body);
    assert_rollups_match(&f);
    th_http(f.s, "POST", "/v1/usage/a1/void", f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_assert_eq(jint(r.json, "revision"), 3, "%s", r.body);
    hist = json_object_get(r.json, "history");
    cr_assert_eq(json_array_size(hist), 4, "%s", r.body);
    cr_assert_str_eq(th_jstr(json_array_get(hist, 3), "action"), "void");
    cr_assert_eq(jint(json_array_get(hist, 3), "revision"), 3);
    cr_assert_str_eq(th_sql(f.url, "SELECT count(*) FROM usage_events WHERE event_id = 'a1'", NULL),
                     "3");
    assert_rollups_match(&f);
    th_server_stop(f.s);
}

Test(usage, amend_identical_makes_no_new_revision)
{
    const char *ts = event_time(), *ev = gpt4o("i1", ts, "search", 1000, 2000, 500);
    struct fx f;
    struct th_resp r;

    start(&f);
    ingest(&f, ev);
    /* the same content (with or without its id) is not a correction */
    th_json(f.s, "POST", "/v1/usage/i1/amend", f.admin, &r, "{\"event\":%s}", ev);
    th_assert_status(&r, 200);
    cr_assert_eq(jint(r.json, "revision"), 1, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "history")), 1, "%s", r.body);
    th_json(f.s, "POST", "/v1/usage/i1/amend", f.admin, &r, "{\"event\":%s,\"reason\":\"x\"}",
            gpt4o(NULL, ts, "search", 1000, 2000, 500));
    th_assert_status(&r, 200);
    cr_assert_eq(jint(r.json, "revision"), 1, "%s", r.body);

    /* a real amendment, then its retry: one new revision only */
    for (int i = 0; i < 2; i++) {
        th_json(f.s, "POST", "/v1/usage/i1/amend", f.admin, &r, "{\"event\":%s}",
                gpt4o(NULL, ts, "search", 1000, 2000, 600));
        th_assert_status(&r, 200);
        cr_assert_eq(jint(r.json, "revision"), 2, "%s", r.body);
    }
    cr_assert_str_eq(th_sql(f.url, "SELECT count(*) FROM usage_events", NULL), "2");
    cr_assert_str_eq(th_sql(f.url, "SELECT count(*) FROM usage_corrections", NULL), "1");
    assert_rollups_match(&f);

    /* ingest now sees the amended content as the id's: a resend of it is a duplicate,
       and the original content is a conflicting reuse of the id */
    th_json(f.s, "POST", "/v1/usage", f.admin, &r, "%s",
            gpt4o("i1", ts, "search", 1000, 2000, 600));
    th_assert_status(&r, 200);
    cr_assert_eq(jint(r.json, "duplicates"), 1, "%s", r.body);
    th_json(f.s, "POST", "/v1/usage", f.admin, &r, "%s", ev);
    th_assert_error(&r, 409, "conflict", "id");
    assert_rollups_match(&f);
    th_server_stop(f.s);
}

Test(usage, amend_moves_the_event_to_another_month)
{
    const char *ts = event_time(), *old = ago(100L * 24 * 60); /* a month with no partition yet */
    struct fx f;
    struct th_resp r;

    start(&f);
    ingest(&f, gpt4o("m1", ts, "search", 1000, 2000, 500));
    th_json(f.s, "POST", "/v1/usage/m1/amend", f.admin, &r,
            "{\"event\":%s,\"reason\":\"clock skew\"}",
            gpt4o(NULL, old, "search", 1000, 2000, 500));
    th_assert_status(&r, 200);
    cr_assert_eq(jint(r.json, "revision"), 2, "%s", r.body);
    cr_assert_str_eq(th_jstr(r.json, "effective_cost"), "0.01");
    cr_assert_str_eq(hour_sums(&f, ts), "0 0 0 0 0 0");
    cr_assert_str_eq(hour_sums(&f, old), "1 1000 2000 500 0.0125 0.01");
    cr_assert_str_eq(
        th_sql(f.url, "SELECT ts = $1::timestamptz FROM usage_event_ids WHERE event_id = 'm1'", old,
               NULL),
        "t");
    assert_rollups_match(&f);

    /* without a timestamp the amendment keeps the event's time, not now */
    th_json(f.s, "POST", "/v1/usage/m1/amend", f.admin, &r, "{\"event\":%s}",
            th_fmt("{\"team\":\"search\",\"provider\":\"openai\",\"model\":\"gpt-4o\","
                   "\"input_tokens\":5}"));
    th_assert_status(&r, 200);
    cr_assert_eq(jint(r.json, "revision"), 3, "%s", r.body);
    cr_assert_str_eq(hour_sums(&f, old), "1 5 0 0 0.0000125 0.0000125");
    assert_rollups_match(&f);
    th_server_stop(f.s);
}

Test(usage, amend_validates_its_input)
{
    const char *ts = event_time();
    const struct {
        const char *body;
        long status;
        const char *code, *field;
    } cases[] = {
        {"{}", 400, "missing_field", "event"},
        {"{\"event\":null}", 400, "missing_field", "event"},
        {"{\"event\":[]}", 400, "invalid_type", "event"},
        {"{\"event\":{},\"note\":1}", 400, "unknown_field", "note"},
        {"{\"event\":{},\"reason\":[]}", 400, "invalid_type", "reason"},
        {"{\"event\":{\"id\":\"other\",\"team\":\"search\",\"provider\":\"openai\","
         "\"model\":\"gpt-4o\"}}",
         422, "invalid_value", "event.id"},
        {"{\"event\":{\"id\":7,\"team\":\"search\",\"provider\":\"openai\","
         "\"model\":\"gpt-4o\"}}",
         400, "invalid_type", "event.id"},
        {"{\"event\":{\"team\":\"search\",\"provider\":\"openai\"}}", 400, "missing_field",
         "event.model"},
        {"{\"event\":{\"team\":\"search\",\"provider\":\"openai\",\"model\":\"gpt-4o\","
         "\"input_tokens\":-1}}",
         422, "invalid_value", "event.input_tokens"},
        {"{\"event\":{\"team\":\"search\",\"provider\":\"openai\",\"model\":\"gpt-4o\","
         "\"colour\":1}}",
         400, "unknown_field", "event.colour"},
        {"{\"event\":{\"team\":\"nosuch\",\"provider\":\"openai\",\"model\":\"gpt-4o\"}}", 422,
         "unknown_team", "event.team"},
        {"{\"event\":{\"team\":\"search\",\"project\":\"nosuch\",\"provider\":\"openai\","
         "\"model\":\"gpt-4o\"}}",
         422, "unknown_project", "event.project"},
        {"{\"event\":{\"team\":\"search\",\"provider\":\"openai\",\"model\":\"gpt-4o\","
         "\"latency_ms\":3000000000}}",
         422, "invalid_value", "event.latency_ms"},
    };
    struct fx f;
    struct th_resp r;

    start(&f);
    ingest(&f, gpt4o("k1", ts, "search", 1000, 2000, 500));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        th_json(f.s, "POST", "/v1/usage/k1/amend", f.admin, &r, "%s", cases[i].body);
        th_assert_error(&r, cases[i].status, cases[i].code, cases[i].field);
    }
    th_http(f.s, "POST", "/v1/usage/k1/amend", f.admin, "application/json", NULL, &r);
    th_assert_error(&r, 400, "invalid_json", NULL);
    th_json(f.s, "POST", "/v1/usage/nope/amend", f.admin, &r, "{\"event\":%s}",
            gpt4o(NULL, ts, "search", 1, 0, 1));
    th_assert_error(&r, 404, "not_found", NULL);
    cr_assert_str_eq(th_sql(f.url, "SELECT count(*) FROM usage_events", NULL), "1",
                     "a refused amendment must change nothing");
    cr_assert_str_eq(th_sql(f.url, "SELECT count(*) FROM usage_corrections", NULL), "0");
    assert_rollups_match(&f);
    th_server_stop(f.s);
}

Test(usage, amend_checks_the_old_and_the_new_team_scope)
{
    const char *ts = event_time();
    struct fx f;
    struct th_resp r;
    const char *ads_ingest, *search_ingest, *reader;

    start(&f);
    ingest(&f, gpt4o("sc1", ts, "search", 1000, 0, 100));
    ads_ingest = th_create_key(f.s, f.admin, "ingest", "ads");
    search_ingest = th_create_key(f.s, f.admin, "ingest", "search");
    reader = th_create_key(f.s, f.admin, "read", NULL);

    /* another team's event: 404, whatever the new content says */
    th_json(f.s, "POST", "/v1/usage/sc1/amend", ads_ingest, &r, "{\"event\":%s}",
            gpt4o(NULL, ts, "ads", 1, 0, 1));
    th_assert_error(&r, 404, "not_found", NULL);
    /* moving its own event to a team outside its scope: 403 */
    th_json(f.s, "POST", "/v1/usage/sc1/amend", search_ingest, &r, "{\"event\":%s}",
            gpt4o(NULL, ts, "ads", 1, 0, 1));
    th_assert_error(&r, 403, "forbidden", "event.team");
    th_json(f.s, "POST", "/v1/usage/sc1/amend", reader, &r, "{\"event\":%s}",
            gpt4o(NULL, ts, "search", 1, 0, 1));
    th_assert_error(&r, 403, "forbidden", NULL);
    cr_assert_str_eq(th_sql(f.url, "SELECT count(*) FROM usage_events", NULL), "1");

    th_json(f.s, "POST", "/v1/usage/sc1/amend", search_ingest, &r, "{\"event\":%s}",
            gpt4o(NULL, ts, "search", 1, 0, 1));
    th_assert_status(&r, 200);
    cr_assert_eq(jint(r.json, "revision"), 2, "%s", r.body);
    cr_assert_eq(jint(json_array_get(json_object_get(r.json, "history"), 1), "by_key"),
                 atol(th_key_id(f.url, search_ingest)));
    /* the event keeps the key it was sent with; the correction names its own */
    cr_assert_eq(jint(r.json, "api_key_id"), atol(th_key_id(f.url, f.admin)));
    assert_rollups_match(&f);
    th_server_stop(f.s);
}
