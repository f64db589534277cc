/*
 * verdicts: budgets and policies through the admin API and `tollgate
 * policy`, and POST /v1/verdict on a real server with the shipped price
 * catalog: each decision, reservations and their settlement by usage, a
 * change seen by a second instance through NOTIFY, and no overshoot of a
 * hard budget under 64 concurrent clients.
 */
#include "harness.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TH_SUITE(verdicts);

struct fx {
    const char *url;
    const char *admin;
    const char *verdict;
    const char *ingest;
    struct th_server *s;
};

static void start(struct fx *f, const char *const *args)
{
    f->url = th_db_priced();
    f->admin = th_admin_key(f->url);
    f->verdict = th_cli_key(f->url, "verdict", NULL);
    f->ingest = th_cli_key(f->url, "ingest", NULL);
    f->s = th_server_startv(NULL, f->url, args ? args : (const char *const[]){NULL});
    th_create_team(f->s, f->admin, "search", NULL, NULL);
    th_create_team(f->s, f->admin, "ads", NULL, NULL);
}

/* POST /v1/verdict with body; asserts 200 and returns the response. */
static json_t *verdict(struct fx *f, const char *body)
{
    struct th_resp r;
    th_http(f->s, "POST", "/v1/verdict", f->verdict, "application/json", body, &r);
    th_assert_status(&r, 200);
    return r.json;
}

static const char *decision(const json_t *v)
{
    return th_jstr(v, "decision");
}

static const char *reason(const json_t *v)
{
    return th_jstr(json_object_get(v, "reason"), "code");
}

static json_t *budget_status(struct fx *f, const char *name);

/* Creates a budget and waits (10 s at most) until this server's ledger has loaded it. */
static void budget(struct fx *f, const char *body)
{
    struct th_resp r;
    th_http(f->s, "POST", "/v1/admin/budgets", f->admin, "application/json", body, &r);
    th_assert_status(&r, 201);
    const char *name = th_jstr(r.json, "name");
    for (int i = 0; i < 100; i++) {
        json_t *st = budget_status(f, name);
        if (json_is_object(st) && json_is_true(json_object_get(st, "loaded")))
            return;
        usleep(100000);
    }
    cr_assert_fail("budget %s was never loaded into the ledger", name);
}

/* Ingests one gpt-4o event for team with input/output tokens. */
static void usage(struct fx *f, const char *id, const char *team, long in, long out,
                  const char *request_id)
{
    struct th_resp r;
    th_json(f->s, "POST", "/v1/usage", f->ingest, &r,
            "{\"id\":\"%s\",\"team\":\"%s\",\"provider\":\"openai\",\"model\":\"gpt-4o\","
            "\"input_tokens\":%ld,\"output_tokens\":%ld%s%s%s}",
            id, team, in, out, request_id ? ",\"request_id\":\"" : "", request_id ? request_id : "",
            request_id ? "\"" : "");
    th_assert_status(&r, 200);
}

static json_t *budget_status(struct fx *f, const char *name)
{
    struct th_resp r;
    th_http(f->s, "GET", th_fmt("/v1/admin/budgets/%s", name), f->admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    return json_object_get(r.json, "status");
}

Test(verdicts, no_budget_allows_and_prices_the_estimate)
{
    struct fx f;
    start(&f, NULL);
    json_t *v = verdict(&f, "{\"team\":\"search\",\"provider\":\"openai\",\"model\":\"gpt-4o\","
                            "\"input_tokens\":1000,\"max_output_tokens\":500}");
    cr_expect_str_eq(decision(v), "allow");
    cr_expect_str_eq(reason(v), "no_budget");
    cr_expect_str_eq(th_jstr(v, "model"), "gpt-4o");
    /* gpt-4o: USD 2.50 per Mtok in, 10 out: 1000 x 2.5e-6 + 500 x 1e-5 */
    cr_expect_str_eq(th_jstr(v, "estimated_cost_usd"), "0.0075");
    cr_expect(th_jnull(v, "budget"));
}

Test(verdicts, bad_input_gets_clear_errors)
{
    struct fx f;
    struct th_resp r;
    start(&f, NULL);
    th_http(f.s, "POST", "/v1/verdict", f.verdict, "application/json", "{\"team\":\"search\"}", &r);
    th_assert_error(&r, 422, "missing_field", "model");
    th_http(f.s, "POST", "/v1/verdict", f.verdict, "application/json",
            "{\"model\":\"gpt-4o\",\"priority\":\"urgent\"}", &r);
    th_assert_error(&r, 422, "invalid_value", "priority");
    th_http(f.s, "POST", "/v1/verdict", f.verdict, "application/json",
            "{\"model\":\"gpt-4o\",\"reserve\":true}", &r);
    th_assert_error(&r, 422, "missing_field", "request_id");
    th_http(f.s, "POST", "/v1/verdict", f.verdict, "application/json",
            "{\"model\":\"gpt-4o\",\"input_tokens\":-1}", &r);
    th_assert_error(&r, 422, "invalid_value", "input_tokens");
    th_http(f.s, "POST", "/v1/verdict", f.verdict, "application/json",
            "{\"model\":\"gpt-4o\",\"colour\":1}", &r);
    th_assert_error(&r, 400, "unknown_field", "colour");
    th_http(f.s, "POST", "/v1/verdict", f.verdict, "application/json", "{not json", &r);
    th_assert_error(&r, 400, "invalid_json", TH_ANY_FIELD);
    th_http(f.s, "POST", "/v1/verdict", f.ingest, "application/json", "{\"model\":\"gpt-4o\"}", &r);
    th_assert_error(&r, 403, "forbidden", TH_ANY_FIELD);
}

Test(verdicts, unknown_team_follows_the_setting)
{
    struct fx f;
    start(&f, NULL);
    json_t *v = verdict(&f, "{\"team\":\"nobody\",\"model\":\"gpt-4o\"}");
    cr_expect_str_eq(decision(v), "allow");
    cr_expect_str_eq(reason(v), "unknown_scope");
    th_server_stop(f.s);
    f.s = th_server_start(f.url, "--unknown-scope", "deny", NULL);
    v = verdict(&f, "{\"team\":\"nobody\",\"model\":\"gpt-4o\"}");
    cr_expect_str_eq(decision(v), "deny");
    cr_expect_str_eq(reason(v), "unknown_scope");
}

Test(verdicts, budget_crud_validates_and_reports_status)
{
    struct fx f;
    struct th_resp r;
    start(&f, NULL);
    const char *doc = "{\"name\":\"search-month\",\"scope\":{\"team\":\"search\"},"
                      "\"amount_usd\":\"100\",\"period\":\"month\",\"timezone\":\"Europe/Berlin\","
                      "\"thresholds\":[{\"at\":80,\"action\":\"downgrade\"},"
                      "{\"at\":100,\"action\":\"deny\"}]}";
    budget(&f, doc);
    th_http(f.s, "POST", "/v1/admin/budgets", f.admin, "application/json", doc, &r);
    th_assert_error(&r, 409, "conflict", "name");
    th_http(f.s, "POST", "/v1/admin/budgets", f.admin, "application/json",
            "{\"name\":\"x\",\"scope\":{\"team\":\"search\"},\"amount_usd\":\"1\","
            "\"period\":\"month\",\"thresholds\":[{\"at\":80,\"action\":\"panic\"}]}",
            &r);
    th_assert_error(&r, 422, "invalid_document", "thresholds[0].action");
    th_http(f.s, "POST", "/v1/admin/budgets", f.admin, "application/json",
            "{\"name\":\"x\",\"scope\":{\"team\":\"nope\"},\"amount_usd\":\"1\","
            "\"period\":\"month\",\"thresholds\":[{\"at\":100,\"action\":\"deny\"}]}",
            &r);
    th_assert_error(&r, 422, "unknown_scope", "scope");
    th_http(f.s, "POST", "/v1/admin/budgets", f.admin, "application/json",
            "{\"name\":\"x\",\"scope\":{\"team\":\"search\"},\"amount_usd\":\"1\","
            "\"period\":\"month\",\"timezone\":\"Mars/Olympus\","
            "\"thresholds\":[{\"at\":100,\"action\":\"deny\"}]}",
            &r);
    th_assert_error(&r, 422, "invalid_value", "timezone");

    usage(&f, "u1", "search", 1000000, 0, NULL); /* USD 2.50 */
    th_http(f.s, "GET", "/v1/admin/budgets", f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    json_t *b = th_jfind(th_jarray(&r, "budgets"), "name", "search-month");
    cr_assert(b);
    json_t *st = json_object_get(b, "status");
    cr_assert(st && json_is_object(st), "no status: %s", r.body);
    cr_expect_str_eq(th_jstr(st, "spent_usd"), "2.50");
    cr_expect_str_eq(th_jstr(st, "state"), "ok");
    cr_expect_str_eq(th_jstr(b, "timezone"), "Europe/Berlin");

    th_http(f.s, "PUT", "/v1/admin/budgets/search-month", f.admin, "application/json",
            "{\"scope\":{\"team\":\"search\"},\"amount_usd\":\"3\",\"period\":\"month\","
            "\"thresholds\":[{\"at\":80,\"action\":\"downgrade\"}]}",
            &r);
    th_assert_status(&r, 200);
    /* 2.50 of 3 is 83%: over the downgrade threshold. */
    for (int i = 0; i < 50; i++) {
        st = budget_status(&f, "search-month");
        if (st && json_is_object(st) && !strcmp(th_jstr(st, "state"), "downgrade"))
            break;
        usleep(100000);
    }
    cr_expect_str_eq(th_jstr(st, "state"), "downgrade");
    th_http(f.s, "DELETE", "/v1/admin/budgets/search-month", f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    th_http(f.s, "GET", "/v1/admin/budgets/search-month", f.admin, NULL, NULL, &r);
    th_assert_error(&r, 404, "not_found", "name");
}

/* Waits (up to 10 s) until a verdict for body has the expected decision; returns it. */
static json_t *verdict_until(struct fx *f, const char *body, const char *want)
{
    json_t *v = NULL;
    for (int i = 0; i < 100; i++) {
        v = verdict(f, body);
        if (!strcmp(decision(v), want))
            return v;
        usleep(100000);
    }
    return v;
}

Test(verdicts, hard_budget_denies_and_ladder_downgrades)
{
    struct fx f;
    struct th_resp r;
    start(&f, NULL);
    /* USD 3: downgrade from 50%, deny at 100%. */
    budget(&f, "{\"name\":\"search-day\",\"scope\":{\"team\":\"search\"},\"amount_usd\":\"3\","
               "\"period\":\"day\",\"thresholds\":[{\"at\":50,\"action\":\"downgrade\"},"
               "{\"at\":100,\"action\":\"deny\"}]}");
    th_http(f.s, "POST", "/v1/admin/policies", f.admin, "application/json",
            "{\"name\":\"ladder\",\"scope\":{\"org\":\"default\"},"
            "\"ladders\":{\"openai\":[\"gpt-4o\",\"gpt-4o-mini\",null]}}",
            &r);
    th_assert_status(&r, 201);
    const char *call = "{\"team\":\"search\",\"provider\":\"openai\",\"model\":\"gpt-4o\","
                       "\"input_tokens\":100000,\"max_output_tokens\":10000}"; /* USD 0.35 */
    json_t *v = verdict_until(&f, call, "allow");
    cr_expect_str_eq(reason(v), "within_budget");
    cr_expect_str_eq(th_jstr(json_object_get(v, "budget"), "name"), "search-day");

    usage(&f, "s1", "search", 800000, 0, NULL); /* USD 2.00: 67% */
    v = verdict_until(&f, call, "downgrade");
    cr_expect_str_eq(th_jstr(v, "model"), "gpt-4o-mini");
    cr_expect_str_eq(reason(v), "budget_threshold");
    cr_expect_str_eq(th_jstr(json_object_get(v, "budget"), "action"), "downgrade");

    usage(&f, "s2", "search", 400000, 0, NULL); /* USD 3.00: 100% */
    v = verdict_until(&f, call, "deny");
    cr_expect_str_eq(reason(v), "budget_exhausted");
    json_t *b = json_object_get(v, "budget");
    cr_expect_str_eq(th_jstr(b, "spent_usd"), "3.00");
    cr_expect_str_eq(th_jstr(b, "remaining_usd"), "0.00");

    /* The other team has no budget of its own. */
    v = verdict(&f, "{\"team\":\"ads\",\"provider\":\"openai\",\"model\":\"gpt-4o\"}");
    cr_expect_str_eq(decision(v), "allow");
}

Test(verdicts, reservations_hold_settle_and_release)
{
    struct fx f;
    struct th_resp r;
    start(&f, NULL);
    budget(&f, "{\"name\":\"b\",\"scope\":{\"team\":\"search\"},\"amount_usd\":\"1\","
               "\"period\":\"month\",\"thresholds\":[{\"at\":100,\"action\":\"deny\"}]}");
    /* USD 0.35 each: two fit, the third would pass USD 1. */
    const char *fmt = "{\"team\":\"search\",\"provider\":\"openai\",\"model\":\"gpt-4o\","
                      "\"input_tokens\":100000,\"max_output_tokens\":10000,\"reserve\":true,"
                      "\"request_id\":\"%s\"}";
    json_t *a = verdict_until(&f, th_fmt(fmt, "req-a"), "allow");
    json_t *b = verdict(&f, th_fmt(fmt, "req-b"));
    json_t *c = verdict(&f, th_fmt(fmt, "req-c"));
    cr_expect_str_eq(decision(a), "allow");
    cr_expect_str_eq(decision(b), "allow");
    cr_expect_str_eq(decision(c), "deny");
    cr_expect_str_eq(th_jstr(json_object_get(c, "budget"), "reserved_usd"), "0.70");
    const char *rb = th_jstr(b, "reservation_id");
    cr_assert(rb && !strncmp(rb, "rsv_", 4));
    cr_expect(th_jnull(c, "reservation_id") || !json_object_get(c, "reservation_id"));

    /* Releasing b frees room for c. */
    th_http(f.s, "POST", th_fmt("/v1/reservations/%s/release", rb), f.verdict, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_expect_str_eq(th_jstr(r.json, "amount_usd"), "0.35");
    th_http(f.s, "POST", th_fmt("/v1/reservations/%s/release", rb), f.verdict, NULL, NULL, &r);
    th_assert_error(&r, 404, "not_found", "id");
    c = verdict(&f, th_fmt(fmt, "req-c"));
    cr_expect_str_eq(decision(c), "allow");

    /* Usage for req-a settles its hold with the actual cost (USD 0.25). */
    usage(&f, "a1", "search", 100000, 0, "req-a");
    json_t *st = NULL;
    for (int i = 0; i < 50; i++) {
        st = budget_status(&f, "b");
        if (!strcmp(th_jstr(st, "spent_usd"), "0.25"))
            break;
        usleep(100000);
    }
    cr_expect_str_eq(th_jstr(st, "spent_usd"), "0.25");
    cr_expect_str_eq(th_jstr(st, "reserved_usd"), "0.35"); /* c's hold */
    cr_expect_eq(json_integer_value(json_object_get(st, "holds")), 1);
}

Test(verdicts, holds_expire)
{
    struct fx f;
    start(&f, (const char *const[]){"--hold-ttl", "3", NULL});
    budget(&f, "{\"name\":\"b\",\"scope\":{\"team\":\"search\"},\"amount_usd\":\"1\","
               "\"period\":\"month\",\"thresholds\":[{\"at\":100,\"action\":\"deny\"}]}");
    const char *call = "{\"team\":\"search\",\"model\":\"gpt-4o\",\"input_tokens\":300000,"
                       "\"reserve\":true,\"request_id\":\"r1\"}"; /* USD 0.75 */
    cr_expect_str_eq(decision(verdict_until(&f, call, "allow")), "allow");
    cr_expect_str_eq(decision(verdict(&f, th_fmt("%s", "{\"team\":\"search\","
                                                       "\"model\":\"gpt-4o\","
                                                       "\"input_tokens\":300000}"))),
                     "deny");
    json_t *v = verdict_until(
        &f, "{\"team\":\"search\",\"model\":\"gpt-4o\",\"input_tokens\":300000}", "allow");
    cr_expect_str_eq(decision(v), "allow", "the hold did not expire");
}

Test(verdicts, a_change_reaches_another_instance_through_notify)
{
    struct fx f;
    start(&f, NULL);
    struct th_server *other = th_server_start(f.url, NULL);
    struct fx g = f;
    g.s = other;
    const char *call = "{\"team\":\"ads\",\"model\":\"gpt-4o\",\"input_tokens\":1000}";
    cr_expect_str_eq(decision(verdict(&g, call)), "allow");
    budget(&f, "{\"name\":\"ads-zero\",\"scope\":{\"team\":\"ads\"},\"amount_usd\":\"0\","
               "\"period\":\"month\",\"thresholds\":[{\"at\":100,\"action\":\"deny\"}]}");
    json_t *v = verdict_until(&g, call, "deny");
    cr_expect_str_eq(decision(v), "deny", "the second instance never saw the budget");
    cr_expect_str_eq(th_jstr(json_object_get(v, "budget"), "name"), "ads-zero");
    th_server_stop(other);
}

Test(verdicts, policy_check_and_apply)
{
    struct fx f;
    struct th_proc p;
    start(&f, NULL);
    th_run(&p, NULL, "policy", "check", th_repo_file("policies/examples"), NULL);
    cr_expect_eq(p.status, 0, "examples do not check: %s", p.err);

    const char *dir = th_tmpdir();
    FILE *fp = fopen(th_fmt("%s/bad.json", dir), "w");
    fputs("{\n  \"kind\": \"budget\",\n  \"name\": \"b\",\n  \"scope\": {\"team\": \"search\"},\n"
          "  \"amount_usd\": \"5\",\n  \"period\": \"month\",\n"
          "  \"thresholds\": [{\"at\": 100, \"action\": \"stop\"}]\n}\n",
          fp);
    fclose(fp);
    th_run(&p, NULL, "policy", "check", dir, NULL);
    cr_expect_neq(p.status, 0);
    cr_expect(strstr(p.err, "bad.json:7:"), "no line number: %s", p.err);
    cr_expect(strstr(p.err, "thresholds[0].action"), "no path: %s", p.err);

    fp = fopen(th_fmt("%s/bad.json", dir), "w");
    fputs("[{\"kind\":\"budget\",\"name\":\"b\",\"scope\":{\"team\":\"search\"},"
          "\"amount_usd\":\"5\",\"period\":\"month\","
          "\"thresholds\":[{\"at\":100,\"action\":\"deny\"}]},"
          "{\"kind\":\"policy\",\"name\":\"p\",\"scope\":{\"org\":\"default\"},"
          "\"models\":{\"deny\":[\"o1-pro*\"]}}]",
          fp);
    fclose(fp);
    th_run(&p, NULL, "policy", "apply", dir, "--database-url", f.url, NULL);
    cr_assert_eq(p.status, 0, "apply failed: %s", p.err);
    cr_expect(strstr(p.out, "2 created"), "%s", p.out);
    th_run(&p, NULL, "policy", "apply", dir, "--database-url", f.url, NULL);
    cr_expect(strstr(p.out, "0 created, 2 updated, 0 removed"), "%s", p.out);
    json_t *v = verdict_until(&f, "{\"model\":\"o1-pro-2025-03-19\"}", "deny");
    cr_expect_str_eq(reason(v), "model_denied");

    /* A scope that does not exist stops the whole apply, named by file and line. */
    fp = fopen(th_fmt("%s/more.json", dir), "w");
    fputs("[{\"kind\":\"budget\",\"name\":\"c\",\"scope\":{\"team\":\"ads\"},"
          "\"amount_usd\":\"5\",\"period\":\"month\","
          "\"thresholds\":[{\"at\":100,\"action\":\"deny\"}]},\n"
          " {\"kind\":\"budget\",\"name\":\"d\",\"scope\":{\"team\":\"nobody\"},"
          "\"amount_usd\":\"5\",\"period\":\"month\","
          "\"thresholds\":[{\"at\":100,\"action\":\"deny\"}]}]\n",
          fp);
    fclose(fp);
    th_run(&p, NULL, "policy", "apply", dir, "--database-url", f.url, NULL);
    cr_expect_neq(p.status, 0);
    cr_expect(strstr(p.err, "more.json:2:") && strstr(p.err, "no team 'nobody'"), "%s", p.err);
    cr_expect_str_eq(th_sql(f.url, "SELECT count(*) FROM budgets", NULL), "1", "a partial apply");
    remove(th_fmt("%s/more.json", dir));

    remove(th_fmt("%s/bad.json", dir));
    th_run(&p, NULL, "policy", "apply", dir, "--database-url", f.url, NULL);
    cr_expect(strstr(p.out, "2 removed"), "%s", p.out);
    cr_expect_str_eq(th_sql(f.url, "SELECT count(*) FROM budgets", NULL), "0");
    v = verdict_until(&f, "{\"model\":\"o1-pro-2025-03-19\"}", "allow");
    cr_expect_str_eq(decision(v), "allow");
}

/* ---- 64 clients against a hard budget ---- */

#define CLIENTS 64
#define CALLS   12

struct client {
    const struct fx *f;
    int index;
    int allowed, denied, errors;
};

static void *client_main(void *arg)
{
    struct client *c = arg;
    struct th_mt_conn *conn = th_mt_conn_open();
    char reply[4096];

    for (int i = 0; conn && i < CALLS; i++) {
        /* 200k..260k input tokens of gpt-4o: USD 0.50..0.65 estimated. */
        long in = 200000 + ((c->index * 7 + i * 13) % 5) * 15000;
        char rid[64], body[512];
        snprintf(rid, sizeof(rid), "c%d-%d", c->index, i);
        snprintf(body, sizeof(body),
                 "{\"team\":\"search\",\"model\":\"gpt-4o\",\"provider\":\"openai\","
                 "\"input_tokens\":%ld,\"reserve\":true,\"request_id\":\"%s\"}",
                 in, rid);
        long st = th_mt_http(conn, c->f->s->base, "POST", "/v1/verdict", c->f->verdict, body, reply,
                             sizeof(reply));
        if (st != 200) {
            c->errors++;
            continue;
        }
        if (!strstr(reply, "\"decision\": \"allow\"") && !strstr(reply, "\"decision\":\"allow\"")) {
            c->denied++;
            continue;
        }
        c->allowed++;
        /* The call ran and used exactly its estimate. */
        snprintf(body, sizeof(body),
                 "{\"id\":\"%s\",\"team\":\"search\",\"provider\":\"openai\",\"model\":\"gpt-4o\","
                 "\"input_tokens\":%ld,\"request_id\":\"%s\"}",
                 rid, in, rid);
        if (th_mt_http(conn, c->f->s->base, "POST", "/v1/usage", c->f->ingest, body, NULL, 0) !=
            200)
            c->errors++;
    }
    th_mt_conn_close(conn);
    return NULL;
}

Test(verdicts, no_overshoot_under_64_concurrent_clients)
{
    struct fx f;
    struct client cl[CLIENTS];
    pthread_t t[CLIENTS];
    int allowed = 0, errors = 0;

    start(&f, NULL);
    budget(&f, "{\"name\":\"hard\",\"scope\":{\"team\":\"search\"},\"amount_usd\":\"10\","
               "\"period\":\"month\",\"thresholds\":[{\"at\":100,\"action\":\"deny\"}]}");
    verdict_until(&f, "{\"team\":\"search\",\"model\":\"gpt-4o\",\"input_tokens\":99999999}",
                  "deny");
    for (int i = 0; i < CLIENTS; i++) {
        cl[i] = (struct client){.f = &f, .index = i};
        cr_assert_eq(pthread_create(&t[i], NULL, client_main, &cl[i]), 0);
    }
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(t[i], NULL);
        allowed += cl[i].allowed;
        errors += cl[i].errors;
    }
    cr_assert_eq(errors, 0, "%d requests failed", errors);
    const char *spent =
        th_sql(f.url, "SELECT coalesce(sum(effective_cost), 0) FROM usage_events", NULL);
    const char *n = th_sql(f.url, "SELECT count(*) FROM usage_events", NULL);
    /* At most USD 10 plus one call's estimate (0.65); and every allowed call was charged. */
    cr_expect_eq(atoi(n), allowed);
    cr_expect(atof(spent) <= 10.65, "spent %s of a USD 10 budget", spent);
    /* Calls of 0.50..0.65 fill USD 10 with at least 15 of them. */
    cr_expect(allowed >= 15, "only %d calls allowed (spent %s)", allowed, spent);
    cr_expect(atof(spent) > 9.3, "spent only %s: the budget was not used", spent);
}

Test(verdicts, envoy_ext_authz)
{
    struct fx f;
    struct th_resp r;
    start(&f, NULL);
    budget(&f, "{\"name\":\"b\",\"scope\":{\"team\":\"search\"},\"amount_usd\":\"1\","
               "\"period\":\"month\",\"thresholds\":[{\"at\":50,\"action\":\"downgrade\"},"
               "{\"at\":100,\"action\":\"deny\"}]}");
    th_http(f.s, "POST", "/v1/admin/policies", f.admin, "application/json",
            "{\"name\":\"ladder\",\"scope\":{\"org\":\"default\"},"
            "\"tiers\":[\"premium\",\"economy\"],\"ladders\":{\"openai\":[\"gpt-4o\",\"gpt-4o-"
            "mini\"]}}",
            &r);
    th_assert_status(&r, 201);
    /* What Envoy sends: the call's path under the prefix, its body, and the headers it adds. */
    const char *body = "{\"model\":\"gpt-4o\",\"max_tokens\":1000,"
                       "\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}";
    struct th_req req = {.method = "POST",
                         .path = "/v1/ext_authz/v1/chat/completions",
                         .key = f.verdict,
                         .content_type = "application/json",
                         .body = body,
                         .headers = (const char *const[]){"x-tollgate-team: search",
                                                          "x-tollgate-input-tokens: 100000",
                                                          "x-request-id: env-1", NULL}};
    th_http_req(f.s, &req, &r); /* USD 0.26 of 1: allowed as asked */
    th_assert_status(&r, 200);
    cr_expect_str_eq(th_header(&r, "x-tollgate-model"), "gpt-4o");
    cr_expect_str_eq(th_header(&r, "x-tollgate-decision"), "allow");
    usage(&f, "e1", "search", 240000, 0, NULL); /* USD 0.60 */
    for (int i = 0; i < 100; i++) {
        th_http_req(f.s, &req, &r);
        if (r.status == 200 && !strcmp(th_header(&r, "x-tollgate-decision"), "downgrade"))
            break;
        usleep(100000);
    }
    th_assert_status(&r, 200);
    cr_expect_str_eq(th_header(&r, "x-tollgate-model"), "gpt-4o-mini");
    usage(&f, "e2", "search", 160000, 0, NULL); /* USD 1.00 */
    for (int i = 0; i < 100; i++) {
        th_http_req(f.s, &req, &r);
        if (r.status == 403)
            break;
        usleep(100000);
    }
    th_assert_status(&r, 403);
    cr_expect_str_eq(th_header(&r, "x-tollgate-decision"), "deny");
    cr_expect_str_eq(th_jstr(json_object_get(r.json, "reason"), "code"), "budget_exhausted");
    /* No model anywhere: a clear 400. */
    req.body = "{\"messages\":[]}";
    th_http_req(f.s, &req, &r);
    th_assert_error(&r, 400, "missing_field", "model");
}

Test(verdicts, postgres_down_answers_from_memory_then_fail_modes)
{
    struct fx f;
    struct th_proc p;
    const char *dir = th_fmt("%s/pg", th_tmpdir());

    f.url = th_pg_cluster_start(dir);
    th_run(&p, NULL, "migrate", "--database-url", f.url, NULL);
    cr_assert_eq(p.status, 0, "migrate: %s", p.err);
    th_prices_import(f.url);
    f.admin = th_admin_key(f.url);
    f.verdict = th_cli_key(f.url, "verdict", NULL);
    f.ingest = th_cli_key(f.url, "ingest", NULL);
    f.s = th_server_start(f.url, "--ledger-stale", "2", "--ledger-reconcile", "1", "--spool-max",
                          "0", NULL);
    th_create_team(f.s, f.admin, "open", NULL, NULL);
    th_create_team(f.s, f.admin, "closed", NULL, NULL);
    budget(&f, "{\"name\":\"o\",\"scope\":{\"team\":\"open\"},\"amount_usd\":\"100\","
               "\"period\":\"month\",\"fail_mode\":\"open\","
               "\"thresholds\":[{\"at\":100,\"action\":\"deny\"}]}");
    budget(&f, "{\"name\":\"c\",\"scope\":{\"team\":\"closed\"},\"amount_usd\":\"100\","
               "\"period\":\"month\",\"fail_mode\":\"closed\","
               "\"thresholds\":[{\"at\":100,\"action\":\"deny\"}]}");
    const char *open_call = "{\"team\":\"open\",\"model\":\"gpt-4o\",\"input_tokens\":1000}";
    const char *closed_call = "{\"team\":\"closed\",\"model\":\"gpt-4o\",\"input_tokens\":1000}";
    cr_expect_str_eq(reason(verdict(&f, closed_call)), "within_budget");

    th_pg_cluster_stop(dir);
    /* Straight away: the same answers, from memory. */
    cr_expect_str_eq(decision(verdict(&f, closed_call)), "allow");
    /* Past --ledger-stale: each budget's fail mode. */
    json_t *v = verdict_until(&f, closed_call, "deny");
    cr_expect_str_eq(reason(v), "stale_fail_closed");
    v = verdict(&f, open_call);
    cr_expect_str_eq(decision(v), "allow");
    cr_expect_str_eq(reason(v), "stale_fail_open");

    th_pg_cluster_start(dir);
    v = verdict_until(&f, closed_call, "allow");
    cr_expect_str_eq(reason(v), "within_budget", "still stale after Postgres came back");
}

/* The verdict reply is written by hand: names with quotes, backslashes and non-ASCII must come back
 * intact. */
Test(verdicts, reply_escapes_names)
{
    struct fx f;
    struct th_resp r;
    start(&f, NULL);
    th_http(f.s, "POST", "/v1/admin/budgets", f.admin, "application/json",
            "{\"name\":\"say \\\"hi\\\" \\\\ caf\\u00e9\\ttab\",\"scope\":{\"team\":\"search\"},"
            "\"amount_usd\":\"5\",\"period\":\"month\",\"thresholds\":[{\"at\":100,\"action\":"
            "\"deny\"}]}",
            &r);
    th_assert_status(&r, 201);
    json_t *v = NULL;
    for (int i = 0; i < 100; i++) {
        v = verdict(&f, "{\"team\":\"search\",\"model\":\"gpt-4o\"}");
        if (json_is_object(json_object_get(v, "budget")))
            break;
        usleep(100000);
    }
    cr_assert(json_is_object(json_object_get(v, "budget")), "the budget never applied");
    cr_expect_str_eq(th_jstr(json_object_get(v, "budget"), "name"),
                     "say \"hi\" \\ caf\xc3\xa9\ttab");
    cr_expect(strstr(th_jstr(json_object_get(v, "reason"), "message"), "caf\xc3\xa9") != NULL);
}
