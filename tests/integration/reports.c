/*
 * reports: the finance reports and the FOCUS export on a real server with
 * the shipped price catalog. Every figure is checked against events the
 * test ingests, priced by hand from the catalog (gpt-4o USD 2.50 in, 1.25
 * cache read, 10 out per Mtok; gpt-4o-mini 0.15 / 0.60; batch x0.5); CSV,
 * bad parameters, and a key scoped to one team seeing nothing of another.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

TH_SUITE(reports);

struct fx {
    const char *url, *admin, *ingest;
    struct th_server *s;
    char day[16], next[16]; /* yesterday (UTC) and today, YYYY-MM-DD */
    char range[64];         /* "from=DAY&to=NEXT" */
};

static void ymd(time_t t, char buf[16])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 16, "%Y-%m-%d", &tm);
}

static void event(struct fx *f, const char *id, const char *hour, const char *body)
{
    struct th_resp r;
    th_json(f->s, "POST", "/v1/usage", f->ingest, &r,
            "{\"id\":\"%s\",\"timestamp\":\"%sT%s:10:00Z\",\"provider\":\"openai\",%s}", id, f->day,
            hour, body);
    th_assert_status(&r, 200);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "accepted")), 1, "%s", r.body);
}

/*
 * Teams alpha (with project alpha-app) and beta, and yesterday's events:
 *   a1 alpha/alpha-app, user u1, gpt-4o, 1M in, 2M cache read, 0.1M out, env=prod:
 *      effective 2.50 + 2.50 + 1.00 = 6.00; list 7.50 + 1.00 = 8.50; caching 2.50
 *   a2 alpha, user u2, gpt-4o-mini asked as gpt-4o, 1M in, 1M out, env=prod:
 *      effective 0.15 + 0.60 = 0.75; list (gpt-4o) 2.50 + 10.00 = 12.50
 *   a3 alpha, gpt-4o-mini batch, 2M in: effective 0.15; list 0.30; batch 0.15
 *   b1 beta, user u9, gpt-4o, 1M in, env=prod: effective = list = 2.50
 */
static void start(struct fx *f)
{
    time_t y = time(NULL) - 86400;

    f->url = th_db_priced();
    f->admin = th_admin_key(f->url);
    f->ingest = th_cli_key(f->url, "ingest", NULL);
    f->s = th_server_start(f->url, NULL);
    th_create_team(f->s, f->admin, "alpha", NULL, NULL);
    th_create_team(f->s, f->admin, "alpha-app", "project", "alpha");
    th_create_team(f->s, f->admin, "beta", NULL, NULL);
    ymd(y, f->day);
    ymd(y + 86400, f->next);
    snprintf(f->range, sizeof(f->range), "from=%s&to=%s", f->day, f->next);
    event(f, "a1", "01",
          "\"team\":\"alpha\",\"project\":\"alpha-app\",\"user\":\"u1\",\"model\":\"gpt-4o\","
          "\"input_tokens\":1000000,\"cache_read_tokens\":2000000,\"output_tokens\":100000,"
          "\"tags\":{\"env\":\"prod\"}");
    event(f, "a2", "02",
          "\"team\":\"alpha\",\"user\":\"u2\",\"model\":\"gpt-4o-mini\","
          "\"requested_model\":\"gpt-4o\",\"input_tokens\":1000000,\"output_tokens\":1000000,"
          "\"tags\":{\"env\":\"prod\"}");
    event(f, "a3", "02",
          "\"team\":\"alpha\",\"model\":\"gpt-4o-mini\",\"mode\":\"batch\","
          "\"input_tokens\":2000000,\"output_tokens\":0");
    event(f, "b1", "03",
          "\"team\":\"beta\",\"user\":\"u9\",\"model\":\"gpt-4o\",\"input_tokens\":1000000,"
          "\"output_tokens\":0,\"tags\":{\"env\":\"prod\"}");
}

static struct th_resp *get(struct fx *f, const char *key, const char *path, long status)
{
    struct th_resp *r = th_keep(calloc(1, sizeof(*r)));
    th_http(f->s, "GET", path, key, NULL, NULL, r);
    th_assert_status(r, status);
    return r;
}

static json_t *row(const json_t *rows, size_t i)
{
    json_t *o = json_array_get(rows, i);
    cr_assert(json_is_object(o), "no row %zu", i);
    return o;
}

static long long jint(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static double jnum(const json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

Test(reports, spend_by_every_grouping)
{
    struct fx f;
    start(&f);
    struct th_resp *r =
        get(&f, f.admin, th_fmt("/v1/reports/spend?group_by=team&interval=none&%s", f.range), 200);
    json_t *rows = th_jarray(r, "rows"), *a = row(rows, 0), *b = row(rows, 1);
    cr_assert_eq(json_array_size(rows), 2);
    cr_expect_str_eq(th_jstr(r->json, "from"), th_fmt("%sT00:00:00Z", f.day));
    cr_expect_str_eq(th_jstr(r->json, "group_by"), "team");
    cr_expect(!json_object_get(a, "period"));
    cr_expect_str_eq(th_jstr(a, "key"), "alpha");
    cr_expect_eq(jint(a, "requests"), 3);
    cr_expect_eq(jint(a, "errors"), 0);
    cr_expect_str_eq(th_jstr(a, "effective_cost_usd"), "6.90");
    cr_expect_str_eq(th_jstr(a, "list_cost_usd"), "21.30");
    json_t *t = json_object_get(a, "tokens");
    cr_expect_eq(jint(t, "input_uncached"), 4000000);
    cr_expect_eq(jint(t, "cache_read"), 2000000);
    cr_expect_eq(jint(t, "output"), 1100000);
    cr_expect_eq(jint(t, "cache_write_5m"), 0);
    cr_expect_str_eq(th_jstr(b, "key"), "beta");
    cr_expect_str_eq(th_jstr(b, "effective_cost_usd"), "2.50");
    json_t *tot = json_object_get(r->json, "totals");
    cr_expect_eq(jint(tot, "requests"), 4);
    cr_expect_str_eq(th_jstr(tot, "effective_cost_usd"), "9.40");
    cr_expect_str_eq(th_jstr(tot, "list_cost_usd"), "23.80");

    r = get(&f, f.admin, th_fmt("/v1/reports/spend?group_by=model&interval=day&%s", f.range), 200);
    rows = th_jarray(r, "rows");
    cr_assert_eq(json_array_size(rows), 2);
    cr_expect_str_eq(th_jstr(row(rows, 0), "period"), th_fmt("%sT00:00:00Z", f.day));
    cr_expect_str_eq(th_jstr(row(rows, 0), "key"), "openai/gpt-4o");
    cr_expect_str_eq(th_jstr(row(rows, 0), "effective_cost_usd"), "8.50");
    cr_expect_str_eq(th_jstr(row(rows, 1), "key"), "openai/gpt-4o-mini");
    cr_expect_str_eq(th_jstr(row(rows, 1), "effective_cost_usd"), "0.90");

    r = get(&f, f.admin, th_fmt("/v1/reports/spend?group_by=project&interval=none&%s", f.range),
            200);
    rows = th_jarray(r, "rows");
    cr_assert_eq(json_array_size(rows), 2);
    cr_expect_str_eq(th_jstr(row(rows, 0), "key"), "alpha-app");
    cr_expect_str_eq(th_jstr(row(rows, 0), "effective_cost_usd"), "6.00");
    cr_expect(th_jnull(row(rows, 1), "key"));
    cr_expect_str_eq(th_jstr(row(rows, 1), "effective_cost_usd"), "3.40");

    r = get(&f, f.admin, th_fmt("/v1/reports/spend?group_by=mode&interval=none&%s", f.range), 200);
    rows = th_jarray(r, "rows");
    cr_expect_str_eq(th_jstr(row(rows, 0), "key"), "standard");
    cr_expect_str_eq(th_jstr(row(rows, 0), "effective_cost_usd"), "9.25");
    cr_expect_str_eq(th_jstr(row(rows, 1), "key"), "batch");
    cr_expect_str_eq(th_jstr(row(rows, 1), "effective_cost_usd"), "0.15");

    r = get(&f, f.admin, th_fmt("/v1/reports/spend?group_by=user&interval=none&%s", f.range), 200);
    rows = th_jarray(r, "rows");
    cr_assert_eq(json_array_size(rows), 4);
    cr_expect_str_eq(th_jstr(row(rows, 0), "key"), "u1");
    cr_expect_str_eq(th_jstr(row(rows, 1), "key"), "u9");

    r = get(&f, f.admin, th_fmt("/v1/reports/spend?group_by=tag:env&interval=none&%s", f.range),
            200);
    rows = th_jarray(r, "rows");
    cr_assert_eq(json_array_size(rows), 2);
    cr_expect_str_eq(th_jstr(row(rows, 0), "key"), "prod");
    cr_expect_eq(jint(row(rows, 0), "requests"), 3);
    cr_expect_str_eq(th_jstr(row(rows, 0), "effective_cost_usd"), "9.25");
    cr_expect(th_jnull(row(rows, 1), "key"));
    cr_expect_str_eq(th_jstr(row(rows, 1), "effective_cost_usd"), "0.15");

    /* hourly: one row per hour, in time order; the team filter keeps alpha's subtree */
    r = get(&f, f.admin,
            th_fmt("/v1/reports/spend?group_by=team&interval=hour&team=alpha&%s", f.range), 200);
    rows = th_jarray(r, "rows");
    cr_assert_eq(json_array_size(rows), 2);
    cr_expect_str_eq(th_jstr(row(rows, 0), "period"), th_fmt("%sT01:00:00Z", f.day));
    cr_expect_str_eq(th_jstr(row(rows, 1), "period"), th_fmt("%sT02:00:00Z", f.day));
    cr_expect_str_eq(th_jstr(row(rows, 1), "effective_cost_usd"), "0.90");
    cr_expect_str_eq(th_jstr(json_object_get(r->json, "totals"), "effective_cost_usd"), "6.90");

    /* from and to are exclusive of what lies outside: only hour 02 */
    r = get(
        &f, f.admin,
        th_fmt("/v1/reports/spend?group_by=team&interval=none&from=%sT02:00:00Z&to=%sT03:00:00Z",
               f.day, f.day),
        200);
    rows = th_jarray(r, "rows");
    cr_assert_eq(json_array_size(rows), 1);
    cr_expect_str_eq(th_jstr(row(rows, 0), "effective_cost_usd"), "0.90");
}

Test(reports, csv_has_a_header_and_flattened_rows)
{
    struct fx f;
    start(&f);
    struct th_resp *r =
        get(&f, f.admin,
            th_fmt("/v1/reports/spend?group_by=team&interval=day&format=csv&%s", f.range), 200);
    cr_expect(th_matches(th_header(r, "Content-Type"), "^text/csv"));
    cr_expect_str_eq(r->body,
                     th_fmt("period,key,requests,errors,unpriced,list_cost_usd,effective_cost_usd,"
                            "tokens_input_uncached,tokens_cache_read,tokens_cache_write_5m,"
                            "tokens_cache_write_1h,tokens_output,tokens_reasoning\r\n"
                            "%sT00:00:00Z,alpha,3,0,0,21.30,6.90,4000000,2000000,0,0,1100000,0\r\n"
                            "%sT00:00:00Z,beta,1,0,0,2.50,2.50,1000000,0,0,0,0,0\r\n",
                            f.day, f.day));

    /* Accept: text/csv works too; interval none drops the period column */
    struct th_resp a;
    th_http_req(f.s,
                &(struct th_req){.method = "GET",
                                 .path = th_fmt("/v1/reports/top?by=team&%s", f.range),
                                 .key = f.admin,
                                 .headers = (const char *const[]){"Accept: text/csv", NULL}},
                &a);
    th_assert_status(&a, 200);
    cr_expect_str_eq(a.body, "key,effective_cost_usd,requests\r\nalpha,6.90,3\r\nbeta,2.50,1\r\n");

    /* a field with a comma or a quote is quoted (RFC 4180) */
    th_sql(f.url, "UPDATE users SET external_id = 'Doe, \"J\"' WHERE external_id = 'u1'", NULL);
    r = get(&f, f.admin, th_fmt("/v1/reports/top?by=user&limit=1&format=csv&%s", f.range), 200);
    cr_expect_str_eq(r->body, "key,effective_cost_usd,requests\r\n\"Doe, \"\"J\"\"\",6.00,1\r\n");
}

Test(reports, savings_split_by_lever)
{
    struct fx f;
    struct th_resp p;
    start(&f);
    th_http(f.s, "POST", "/v1/admin/policies", f.admin, "application/json",
            "{\"name\":\"default-70-20-10\",\"scope\":{\"org\":\"default\"},"
            "\"tiers\":[\"premium\",\"standard\",\"economy\"],"
            "\"ladders\":{\"openai\":[[\"gpt-4o\",\"gpt-4o-mini\",null]]},"
            "\"target_mix\":{\"premium\":10,\"standard\":20,\"economy\":70,\"by\":\"spend\"}}",
            &p);
    th_assert_status(&p, 201);
    /* verdict counts as the server flushes them: 3 context downgrades for alpha, a deny for beta */
    th_sql(f.url,
           "INSERT INTO verdict_hourly (org_id, hour, team_id, provider, requested_model, model,"
           " decision, reason, verdicts, estimated_requested, estimated_chosen)"
           " SELECT 1, $1::date + interval '1 hour', t.id, 'openai', 'gpt-4o', 'gpt-4o-mini',"
           " 'downgrade', 'input_token_cap', 3, 1.20, 0.20 FROM teams t WHERE slug = 'alpha'"
           " UNION ALL SELECT 1, $1::date + interval '3 hours', t.id, 'openai', 'gpt-4o', 'gpt-4o',"
           " 'deny', 'budget_exhausted', 2, 0.50, 0 FROM teams t WHERE slug = 'beta'",
           f.day, NULL);

    struct th_resp *r = get(&f, f.admin, th_fmt("/v1/reports/savings?%s", f.range), 200);
    cr_expect_str_eq(th_jstr(r->json, "list_cost_usd"), "23.80");
    cr_expect_str_eq(th_jstr(r->json, "effective_cost_usd"), "9.40");
    cr_expect_str_eq(th_jstr(r->json, "saved_usd"), "14.40");
    json_t *lv = json_object_get(r->json, "levers");
    cr_expect_str_eq(th_jstr(lv, "caching_usd"), "2.50");
    cr_expect_str_eq(th_jstr(lv, "batch_usd"), "0.15");
    cr_expect_str_eq(th_jstr(lv, "routing_usd"), "11.75");
    cr_expect_str_eq(th_jstr(lv, "context_usd"), "1.00");
    json_t *bt = th_jarray(r, "by_team");
    cr_assert_eq(json_array_size(bt), 2);
    cr_expect_str_eq(th_jstr(row(bt, 0), "team"), "alpha");
    cr_expect_str_eq(th_jstr(row(bt, 0), "saved_usd"), "14.40");
    cr_expect_str_eq(th_jstr(row(bt, 0), "routing_usd"), "11.75");
    cr_expect_str_eq(th_jstr(row(bt, 1), "team"), "beta");
    cr_expect_str_eq(th_jstr(row(bt, 1), "saved_usd"), "0.00");
    json_t *v = json_object_get(r->json, "verdicts");
    cr_expect_eq(jint(v, "downgrade"), 3);
    cr_expect_eq(jint(v, "deny"), 2);
    cr_expect_eq(jint(v, "allow"), 0);
    /* tier mix by spend: premium gpt-4o 8.50, standard gpt-4o-mini 0.90 of 9.40 */
    json_t *mix = th_jarray(r, "tier_mix");
    cr_assert_eq(json_array_size(mix), 1);
    cr_expect_str_eq(th_jstr(row(mix, 0), "policy"), "default-70-20-10");
    cr_expect_str_eq(th_jstr(row(mix, 0), "by"), "spend");
    json_t *tiers = json_object_get(row(mix, 0), "tiers");
    cr_assert_eq(json_array_size(tiers), 3);
    cr_expect_str_eq(th_jstr(row(tiers, 0), "tier"), "premium");
    cr_expect_eq(jnum(row(tiers, 0), "target_percent"), 10);
    cr_expect_eq(jnum(row(tiers, 0), "actual_percent"), 90.4);
    cr_expect_str_eq(th_jstr(row(tiers, 0), "spend_usd"), "8.50");
    cr_expect_eq(jint(row(tiers, 0), "requests"), 2);
    cr_expect_eq(jnum(row(tiers, 1), "actual_percent"), 9.6);
    cr_expect_eq(jnum(row(tiers, 2), "actual_percent"), 0);

    /* for alpha alone (team filter): its own figures, its verdicts */
    r = get(&f, f.admin, th_fmt("/v1/reports/savings?team=alpha&%s", f.range), 200);
    cr_expect_str_eq(th_jstr(r->json, "saved_usd"), "14.40");
    cr_expect_eq(jint(json_object_get(r->json, "verdicts"), "deny"), 0);
    cr_expect_eq(json_array_size(th_jarray(r, "by_team")), 1);
}

Test(reports, units_and_top)
{
    struct fx f;
    start(&f);
    struct th_resp *r =
        get(&f, f.admin, th_fmt("/v1/reports/units?group_by=team&%s", f.range), 200);
    json_t *a = row(th_jarray(r, "rows"), 0);
    cr_expect_str_eq(th_jstr(a, "key"), "alpha");
    cr_expect_eq(jint(a, "requests"), 3);
    cr_expect_eq(jint(a, "users"), 2);
    cr_expect_eq(jint(a, "tokens"), 7100000);
    cr_expect_str_eq(th_jstr(a, "effective_cost_usd"), "6.90");
    cr_expect_str_eq(th_jstr(a, "cost_per_request_usd"), "2.30");
    cr_expect_str_eq(th_jstr(a, "cost_per_mtok_usd"), "0.971831"); /* 6.90 / 7.1, 6 decimals */
    cr_expect_str_eq(th_jstr(a, "cost_per_user_usd"), "3.45");

    r = get(&f, f.admin, th_fmt("/v1/reports/units?group_by=model&format=csv&%s", f.range), 200);
    cr_expect(th_matches(r->body, "^key,requests,users,tokens,effective_cost_usd,"
                                  "cost_per_request_usd,cost_per_mtok_usd,cost_per_user_usd\r\n"
                                  "openai/gpt-4o,2,2,4100000,8.50,4.25,"));

    r = get(&f, f.admin, th_fmt("/v1/reports/top?by=model&limit=1&%s", f.range), 200);
    json_t *rows = th_jarray(r, "rows");
    cr_assert_eq(json_array_size(rows), 1);
    cr_expect_str_eq(th_jstr(row(rows, 0), "key"), "openai/gpt-4o");
    cr_expect_str_eq(th_jstr(row(rows, 0), "effective_cost_usd"), "8.50");
    cr_expect_eq(jint(row(rows, 0), "requests"), 2);
    r = get(&f, f.admin, th_fmt("/v1/reports/top?by=project&%s", f.range), 200);
    cr_expect_str_eq(th_jstr(row(th_jarray(r, "rows"), 0), "key"), "alpha-app");
}

Test(reports, focus_export)
{
    struct fx f;
    start(&f);
    struct th_resp *r = get(&f, f.admin, th_fmt("/v1/export/focus?%s", f.range), 200);
    char month[8], next_month[32];
    int y, m;
    cr_expect(th_matches(th_header(r, "Content-Type"), "^text/csv"));
    cr_assert_eq(sscanf(f.day, "%4d-%2d", &y, &m), 2);
    snprintf(month, sizeof(month), "%.7s", f.day);
    snprintf(next_month, sizeof(next_month), "%04d-%02d", m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1);
    /* the header, then alpha's gpt-4o, gpt-4o-mini standard and batch, and beta's gpt-4o */
    cr_expect_eq(th_count_lines(r->body), 5);
    const char *hdr =
        "BilledCost,EffectiveCost,ListCost,ContractedCost,BillingCurrency,BillingPeriodStart,"
        "BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ChargeClass,"
        "ChargeDescription,ConsumedQuantity,ConsumedUnit,PricingQuantity,PricingUnit,"
        "ServiceCategory,ServiceName,ProviderName,PublisherName,InvoiceIssuerName,SubAccountId,"
        "SubAccountName,ResourceId,ResourceName,Tags\r\n";
    cr_expect(!strncmp(r->body, hdr, strlen(hdr)), "%s", r->body);
    const char *alpha = th_sql(f.url, "SELECT id FROM teams WHERE slug = 'alpha'", NULL);
    cr_expect(strstr(r->body, th_fmt("6.00,6.00,8.50,6.00,USD,%s-01T00:00:00Z,%s-01T00:00:00Z,"
                                     "%sT00:00:00Z,%sT00:00:00Z,Usage,,1 calls to gpt-4o "
                                     "(standard),3100000,Tokens,3.1,1M Tokens,AI and Machine "
                                     "Learning,OpenAI API,OpenAI,OpenAI,OpenAI,%s,alpha,gpt-4o,"
                                     "gpt-4o,\"{\"\"mode\"\":\"\"standard\"\"}\"\r\n",
                                     month, next_month, f.day, f.next, alpha)),
              "%s", r->body);
    cr_expect(strstr(r->body, ",1 calls to gpt-4o-mini (batch),2000000,Tokens,2,1M Tokens,"), "%s",
              r->body);
    cr_expect(strstr(r->body, "0.15,0.15,0.30,0.15,USD,"), "%s", r->body);
}

Test(reports, budgets_from_the_ledger)
{
    struct fx f;
    struct th_resp p;
    start(&f);
    th_http(f.s, "POST", "/v1/admin/budgets", f.admin, "application/json",
            "{\"name\":\"Alpha monthly\",\"scope\":{\"team\":\"alpha\"},\"amount_usd\":\"1000\","
            "\"period\":\"month\",\"thresholds\":[{\"at\":80,\"action\":\"downgrade\"},"
            "{\"at\":100,\"action\":\"deny\"}]}",
            &p);
    th_assert_status(&p, 201);
    th_http(f.s, "POST", "/v1/admin/budgets", f.admin, "application/json",
            "{\"name\":\"Beta monthly\",\"scope\":{\"team\":\"beta\"},\"amount_usd\":\"1\","
            "\"period\":\"month\",\"thresholds\":[{\"at\":50,\"action\":\"alert\"}]}",
            &p);
    th_assert_status(&p, 201);
    /* now: 1M gpt-4o input tokens each, USD 2.50 */
    th_json(f.s, "POST", "/v1/usage", f.ingest, &p,
            "{\"events\":[{\"id\":\"n1\",\"team\":\"alpha\",\"provider\":\"openai\","
            "\"model\":\"gpt-4o\",\"input_tokens\":1000000},{\"id\":\"n2\",\"team\":\"beta\","
            "\"provider\":\"openai\",\"model\":\"gpt-4o\",\"input_tokens\":1000000}]}");
    th_assert_status(&p, 200);

    /* the period is this month: yesterday's events count when yesterday is in it */
    const char *month_start = th_sql(f.url,
                                     "SELECT to_char(date_trunc('month', now() AT TIME"
                                     " ZONE 'UTC'), 'YYYY-MM-DD')",
                                     NULL);
    bool same_month = strcmp(f.day, month_start) >= 0;
    const char *a_spent = same_month ? "9.40" : "2.50", *b_spent = same_month ? "5.00" : "2.50";
    json_t *a = NULL, *b = NULL;
    for (int i = 0; i < 100; i++) {
        struct th_resp *r = get(&f, f.admin, "/v1/reports/budgets", 200);
        json_t *arr = th_jarray(r, "budgets");
        a = th_jfind(arr, "name", "Alpha monthly");
        b = th_jfind(arr, "name", "Beta monthly");
        if (a && b && !strcmp(th_jstr(a, "spent_usd"), a_spent) &&
            !strcmp(th_jstr(b, "spent_usd"), b_spent))
            break;
        usleep(100000);
    }
    cr_assert(a && b);
    cr_expect_str_eq(th_jstr(a, "spent_usd"), a_spent);
    cr_expect_str_eq(th_jstr(a, "limit_usd"), "1000.00");
    cr_expect_str_eq(th_jstr(a, "reserved_usd"), "0.00");
    cr_expect_str_eq(th_jstr(a, "remaining_usd"), same_month ? "990.60" : "997.50");
    cr_expect_str_eq(th_jstr(a, "state"), "ok");
    cr_expect_str_eq(th_jstr(json_object_get(a, "scope"), "kind"), "team");
    cr_expect_str_eq(th_jstr(json_object_get(a, "scope"), "name"), "alpha");
    json_t *per = json_object_get(a, "period");
    cr_expect_str_eq(th_jstr(per, "kind"), "month");
    cr_expect_str_eq(th_jstr(per, "start"), th_fmt("%sT00:00:00Z", month_start));
    cr_expect_str_eq(th_jstr(per, "timezone"), "UTC");
    json_t *th = json_object_get(a, "thresholds");
    cr_assert_eq(json_array_size(th), 2);
    cr_expect_eq(jint(row(th, 0), "at"), 80);
    cr_expect_str_eq(th_jstr(row(th, 0), "action"), "downgrade");
    cr_expect(jnum(a, "days_left") > 0 && jnum(a, "days_left") <= 31);
    cr_expect(json_is_number(json_object_get(a, "used_percent")));
    /* the forecast is a decimal string or null (too little of the period gone) */
    json_t *fc = json_object_get(a, "forecast_usd");
    cr_expect(json_is_null(fc) || json_is_string(fc));
    cr_expect_str_eq(th_jstr(b, "spent_usd"), b_spent);
    cr_expect_str_eq(th_jstr(b, "state"), "over");
    cr_expect_eq(jnum(b, "used_percent"), same_month ? 500 : 250);

    /* CSV: one line per budget */
    struct th_resp *c = get(&f, f.admin, "/v1/reports/budgets?format=csv", 200);
    cr_expect(th_matches(c->body, "^id,name,scope_kind,scope_name,period_kind,"));
    cr_expect(strstr(c->body, ",Beta monthly,team,beta,month,"));
    cr_expect(strstr(c->body, ",over,50:alert\r\n"));
}

Test(reports, bad_parameters)
{
    struct fx f;
    start(&f);
    struct th_resp *r = get(&f, f.admin, "/v1/reports/spend?group_by=colour", 400);
    th_assert_error(r, 400, "invalid_query", "group_by");
    r = get(&f, f.admin, "/v1/reports/spend?group_by=tag:", 400);
    th_assert_error(r, 400, "invalid_query", "group_by");
    r = get(&f, f.admin, "/v1/reports/spend?interval=week", 400);
    th_assert_error(r, 400, "invalid_query", "interval");
    r = get(&f, f.admin, "/v1/reports/spend?from=yesterday", 400);
    th_assert_error(r, 400, "invalid_query", "from");
    r = get(&f, f.admin, "/v1/reports/savings?to=2026-13-01", 400);
    th_assert_error(r, 400, "invalid_query", "to");
    r = get(&f, f.admin, "/v1/reports/spend?from=2026-11-02&to=2026-11-01", 422);
    th_assert_error(r, 422, "invalid_value", "from");
    r = get(&f, f.admin, "/v1/reports/spend?team=nobody", 422);
    th_assert_error(r, 422, "unknown_team", "team");
    r = get(&f, f.admin, "/v1/reports/top?limit=0", 400);
    th_assert_error(r, 400, "invalid_query", "limit");
    r = get(&f, f.admin, "/v1/reports/top?by=mode", 400);
    th_assert_error(r, 400, "invalid_query", "by");
    r = get(&f, f.admin, "/v1/reports/units?group_by=user", 400);
    th_assert_error(r, 400, "invalid_query", "group_by");
    r = get(&f, f.admin, "/v1/reports/budgets?format=xml", 400);
    th_assert_error(r, 400, "invalid_query", "format");
    r = get(&f, f.ingest, "/v1/reports/spend", 403);
    th_assert_error(r, 403, "forbidden", TH_ANY_FIELD);
    r = get(&f, f.ingest, "/v1/export/focus", 403);
    th_assert_error(r, 403, "forbidden", TH_ANY_FIELD);
}

Test(reports, a_team_key_sees_only_its_team)
{
    struct fx f;
    struct th_resp p;
    start(&f);
    const char *ka = th_create_key(f.s, f.admin, "read", "alpha");
    th_http(f.s, "POST", "/v1/admin/budgets", f.admin, "application/json",
            "{\"name\":\"Beta monthly\",\"scope\":{\"team\":\"beta\"},\"amount_usd\":\"10\","
            "\"period\":\"month\",\"thresholds\":[{\"at\":100,\"action\":\"deny\"}]}",
            &p);
    th_assert_status(&p, 201);
    th_http(f.s, "POST", "/v1/admin/budgets", f.admin, "application/json",
            "{\"name\":\"Org monthly\",\"scope\":{\"org\":\"default\"},\"amount_usd\":\"10\","
            "\"period\":\"month\",\"thresholds\":[{\"at\":100,\"action\":\"alert\"}]}",
            &p);
    th_assert_status(&p, 201);
    th_http(f.s, "POST", "/v1/admin/budgets", f.admin, "application/json",
            "{\"name\":\"Alpha monthly\",\"scope\":{\"team\":\"alpha\"},\"amount_usd\":\"10\","
            "\"period\":\"month\",\"thresholds\":[{\"at\":100,\"action\":\"deny\"}]}",
            &p);
    th_assert_status(&p, 201);
    th_sql(f.url,
           "INSERT INTO verdict_hourly (org_id, hour, team_id, provider, requested_model, model,"
           " decision, reason, verdicts) SELECT 1, $1::date + interval '3 hours', t.id, 'openai',"
           " 'gpt-4o', 'gpt-4o', 'deny', 'budget_exhausted', 2 FROM teams t WHERE slug = 'beta'",
           f.day, NULL);

    static const char *const groups[] = {"team",     "project", "user",   "model",
                                         "provider", "mode",    "tag:env"};
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
        struct th_resp *r =
            get(&f, ka,
                th_fmt("/v1/reports/spend?group_by=%s&interval=none&%s", groups[i], f.range), 200);
        cr_expect_str_eq(th_jstr(json_object_get(r->json, "totals"), "effective_cost_usd"), "6.90",
                         "group_by=%s", groups[i]);
        cr_expect(!strstr(r->body, "beta") && !strstr(r->body, "u9"), "%s", r->body);
    }
    struct th_resp *r = get(&f, ka, th_fmt("/v1/reports/spend?team=beta&%s", f.range), 403);
    th_assert_error(r, 403, "forbidden", "team");
    static const char *const others[] = {"/v1/reports/savings", "/v1/reports/units",
                                         "/v1/reports/top", "/v1/export/focus"};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        r = get(&f, ka, th_fmt("%s?%s", others[i], f.range), 200);
        cr_expect(!strstr(r->body, "beta") && !strstr(r->body, "u9"), "%s: %s", others[i], r->body);
        r = get(&f, ka, th_fmt("%s?team=beta&%s", others[i], f.range), 403);
        th_assert_error(r, 403, "forbidden", "team");
    }
    r = get(&f, ka, th_fmt("/v1/reports/savings?%s", f.range), 200);
    cr_expect_str_eq(th_jstr(r->json, "saved_usd"), "14.40");
    cr_expect_eq(jint(json_object_get(r->json, "verdicts"), "deny"), 0);
    r = get(&f, ka, "/v1/reports/budgets", 200);
    json_t *arr = th_jarray(r, "budgets");
    cr_expect_eq(json_array_size(arr), 1, "%s", r->body);
    cr_expect(th_jfind(arr, "name", "Alpha monthly") != NULL, "%s", r->body);
}
