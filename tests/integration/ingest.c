/*
 * ingest: POST /v1/usage on a real server and a real Postgres: exact costs
 * and rollups, provider usage objects, idempotency (retries, conflicts,
 * concurrent senders, month partitions), per-event rejections in batches,
 * malformed bodies, team-scoped keys, unpriced events priced later,
 * durability across kill -9, the spool while Postgres is down (on a
 * cluster of the test's own, which it stops and starts), and the admin
 * prices API that feeds them. Tests marked TH_KNOWN_BUG pin server bugs.
 *
 * Every test has its own database (a copy of a template with the price
 * catalog imported: th_db_priced) and its own server with its own spool
 * folder. Costs are checked against sums worked by hand in the comments,
 * from the catalog snapshot's prices (USD per million tokens).
 */
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

TH_SUITE(ingest);

#define USAGE "/v1/usage"

struct fx {
    const char *url;    /* a priced database of its own */
    const char *admin;  /* an unscoped admin key, made by the CLI */
    const char *ingest; /* an unscoped ingest key */
    const char *spool;  /* the server's --spool-dir */
    struct th_server *s;
};

/*
 * Starts a server on a fresh priced database with extra flags (NULL-
 * terminated, may be NULL), and makes team "search" with project "ranking"
 * and team "billing", and an ingest key.
 */
static void start_with(struct fx *f, const char *const *extra)
{
    const char *args[16] = {"--spool-dir", NULL};
    int n = 2;

    f->url = th_db_priced();
    f->admin = th_admin_key(f->url);
    f->spool = th_fmt("%s/spool", th_tmpdir());
    args[1] = f->spool;
    for (; extra && *extra; extra++)
        args[n++] = *extra;
    args[n] = NULL;
    f->s = th_server_startv(NULL, f->url, args);
    th_create_team(f->s, f->admin, "search", NULL, NULL);
    th_create_team(f->s, f->admin, "ranking", "project", "search");
    th_create_team(f->s, f->admin, "billing", NULL, NULL);
    f->ingest = th_create_key(f->s, f->admin, "ingest", NULL);
}

static void start(struct fx *f)
{
    start_with(f, NULL);
}

/* RFC 3339 UTC of now + offset seconds. */
static const char *iso(long offset)
{
    time_t t = time(NULL) + offset;
    struct tm tm;
    char buf[32];

    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return th_fmt("%s", buf);
}

/*
 * An event for team search, openai gpt-4o, 1000 uncached input, 2000 cache
 * read and 500 output tokens; extra (may be "") adds members. It must not
 * repeat one: the server refuses duplicate keys.
 */
static const char *event(const char *id, const char *extra)
{
    return th_fmt("{\"id\":\"%s\",\"team\":\"search\",\"provider\":\"openai\",\"model\":\"gpt-4o\","
                  "\"input_tokens\":1000,\"cache_read_tokens\":2000,\"output_tokens\":500%s%s}",
                  id, *extra ? "," : "", extra);
}

/* An event with every member given by the caller (fields: the members, without braces). */
static const char *event_raw(const char *id, const char *fields)
{
    return th_fmt("{\"id\":\"%s\",%s}", id, fields);
}

static void post(struct fx *f, const char *key, const char *body, struct th_resp *r)
{
    th_http(f->s, "POST", USAGE, key, "application/json", body, r);
}

static long long jint(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/*
 * Fails unless r is status with exactly {"accepted","duplicates","spooled",
 * "rejected"} holding these counts and n_rejected rejections.
 */
#define assert_counts(r, status, acc, dup, spooled, n_rejected)                                    \
    assert_counts_at(__FILE__, __LINE__, r, status, acc, dup, spooled, n_rejected)
static void assert_counts_at(const char *file, int line, const struct th_resp *r, long status,
                             long long acc, long long dup, long long spooled, size_t n_rejected)
{
    json_t *rej = r->json ? json_object_get(r->json, "rejected") : NULL;

    if (r->status != status)
        th_fail_resp_at(file, line, r, "expected status %ld", status);
    if (!json_is_object(r->json) || json_object_size(r->json) != 4 || !json_is_array(rej))
        th_fail_resp_at(file, line, r,
                        "expected {\"accepted\",\"duplicates\",\"spooled\",\"rejected\":[...]}");
    if (jint(r->json, "accepted") != acc || jint(r->json, "duplicates") != dup ||
        jint(r->json, "spooled") != spooled || json_array_size(rej) != n_rejected)
        th_fail_resp_at(file, line, r,
                        "expected accepted %lld, duplicates %lld, spooled %lld, %zu rejected", acc,
                        dup, spooled, n_rejected);
}

/*
 * Fails unless the rejection at position pos of r's "rejected" is event
 * index with this id (NULL: JSON null), code and field (NULL: null), with a
 * message and nothing else.
 */
#define assert_rejected(r, pos, index, id, code, field)                                            \
    assert_rejected_at(__FILE__, __LINE__, r, pos, index, id, code, field)
static void assert_rejected_at(const char *file, int line, const struct th_resp *r, size_t pos,
                               long long index, const char *id, const char *code, const char *field)
{
    json_t *e = json_array_get(json_object_get(r->json, "rejected"), pos);
    json_t *err = json_object_get(e, "error");
    const char *msg = th_jstr(err, "message");

    if (!json_is_object(e) || jint(e, "index") != index)
        th_fail_resp_at(file, line, r, "rejected[%zu] should be event %lld", pos, index);
    if (id ? !th_jstr(e, "id") || strcmp(th_jstr(e, "id"), id) != 0 : !th_jnull(e, "id"))
        th_fail_resp_at(file, line, r, "rejected[%zu].id should be %s", pos, id ? id : "null");
    if (!th_jstr(err, "code") || strcmp(th_jstr(err, "code"), code) != 0)
        th_fail_resp_at(file, line, r, "rejected[%zu].error.code should be %s", pos, code);
    if (field ? !th_jstr(err, "field") || strcmp(th_jstr(err, "field"), field) != 0
              : !th_jnull(err, "field"))
        th_fail_resp_at(file, line, r, "rejected[%zu].error.field should be %s", pos,
                        field ? field : "null");
    if (!msg || !*msg || json_object_size(err) != 3 || json_object_size(e) != 3)
        th_fail_resp_at(file, line, r,
                        "rejected[%zu] should be {index, id, error: {code, message, field}}", pos);
}

static const char *q1(const struct fx *f, const char *sql)
{
    return th_sql(f->url, sql, NULL);
}

static const char *count_events(const struct fx *f)
{
    return q1(f, "SELECT count(*) FROM usage_events");
}

/* The sums of spend_hourly, as one text: what must not change on a duplicate. */
static const char *rollup_sums(const struct fx *f)
{
    return q1(f, "SELECT concat_ws('|', count(*), sum(requests), sum(errors), sum(unpriced),"
                 " sum(input_uncached), sum(cache_read), sum(cache_write_5m), sum(cache_write_1h),"
                 " sum(output), sum(reasoning), sum(list_cost), sum(effective_cost))"
                 " FROM spend_hourly");
}

/* The same sums over the live events: rollups must always equal them. */
static const char *event_sums(const struct fx *f)
{
    return q1(f, "SELECT concat_ws('|', (SELECT count(*) FROM spend_hourly), count(*),"
                 " count(*) FILTER (WHERE status = 'error'), count(*) FILTER (WHERE price_id IS"
                 " NULL), sum(input_uncached), sum(cache_read), sum(cache_write_5m),"
                 " sum(cache_write_1h), sum(output), sum(reasoning), sum(list_cost),"
                 " sum(effective_cost)) FROM usage_events WHERE superseded_at IS NULL");
}

/* The value of an unlabelled metric in /metrics, or NULL when absent. */
static const char *metric(const struct th_server *s, const char *name)
{
    struct th_resp r;
    const char *line;

    th_http(s, "GET", "/metrics", NULL, NULL, NULL, &r);
    th_assert_status(&r, 200);
    for (line = r.body; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        size_t n = strlen(name);
        if (!strncmp(line, name, n) && line[n] == ' ')
            return th_fmt("%.*s", (int)strcspn(line + n + 1, "\n"), line + n + 1);
    }
    return NULL;
}

/* ---- 1. one event ---- */

Test(ingest, single_event_is_stored_with_exact_costs_and_rolled_up)
{
    struct fx f;
    struct th_resp r;
    const char *ts = iso(-120), *body;

    start(&f);
    body = event("evt-1", th_fmt("\"timestamp\":\"%s\",\"project\":\"ranking\","
                                 "\"user\":\"alice@example.com\",\"tags\":{\"env\":\"prod\"},"
                                 "\"latency_ms\":840,\"request_id\":\"req-1\"",
                                 ts));
    post(&f, f.ingest, body, &r);
    assert_counts(&r, 200, 1, 0, 0, 0);
    cr_assert_str_eq(r.body, "{\"accepted\":1,\"duplicates\":0,\"spooled\":0,\"rejected\":[]}");

    /*
     * openai gpt-4o: input $2.50, cache read $1.25, output $10 per million.
     * effective = 1000 x 2.5e-6 + 2000 x 1.25e-6 + 500 x 10e-6
     *           = 0.0025 + 0.0025 + 0.005 = 0.01
     * list      = (1000 + 2000) x 2.5e-6 + 500 x 10e-6 (no cache discount)
     *           = 0.0075 + 0.005 = 0.0125
     */
    cr_assert_str_eq(
        th_sql(f.url,
               "SELECT concat_ws('|', e.provider, e.model, e.raw_provider, e.raw_model,"
               " e.requested_model, t.slug, p.slug, u.external_id, e.api_key_id = k.id,"
               " e.ts = $2::timestamptz, e.status, e.mode, e.latency_ms, e.request_id,"
               " e.input_uncached, e.cache_read, e.cache_write_5m, e.cache_write_1h, e.output,"
               " e.reasoning, e.list_cost = 0.0125, e.effective_cost = 0.01, e.list_cost,"
               " e.effective_cost, pr.provider || '/' || pr.model, pr.org_id IS NULL,"
               " e.tags::text, e.source, e.revision, e.superseded_at IS NULL)"
               " FROM usage_events e JOIN teams t ON t.id = e.team_id"
               " JOIN teams p ON p.id = e.project_id JOIN users u ON u.id = e.user_id"
               " JOIN prices pr ON pr.id = e.price_id"
               " JOIN api_keys k ON k.secret_hash = sha256(convert_to($3, 'UTF8'))"
               " WHERE e.event_id = $1",
               "evt-1", ts, f.ingest, NULL),
        "openai|gpt-4o|openai|gpt-4o|gpt-4o|search|ranking|alice@example.com|t|t|ok|standard|840|"
        "req-1|1000|2000|0|0|500|0|t|t|0.0125|0.01|openai/gpt-4o|t|{\"env\": \"prod\"}|"
        "normalized|1|t");
    cr_assert_str_eq(count_events(&f), "1");
    cr_assert_str_eq(q1(&f, "SELECT count(*) FROM usage_event_ids WHERE event_id = 'evt-1'"), "1");

    /* the rollup: one row for that hour and scope path, with the same amounts */
    cr_assert_str_eq(q1(&f, "SELECT count(*) FROM spend_hourly"), "1");
    cr_assert_str_eq(
        th_sql(f.url,
               "SELECT concat_ws('|', h.hour = date_trunc('hour', $1::timestamptz), t.slug,"
               " p.slug, u.external_id, h.provider, h.model, h.mode, h.requests, h.errors,"
               " h.unpriced, h.input_uncached, h.cache_read, h.cache_write_5m, h.cache_write_1h,"
               " h.output, h.reasoning, h.list_cost = 0.0125, h.effective_cost = 0.01)"
               " FROM spend_hourly h JOIN teams t ON t.id = h.team_id"
               " JOIN teams p ON p.id = h.project_id JOIN users u ON u.id = h.user_id",
               ts, NULL),
        "t|search|ranking|alice@example.com|openai|gpt-4o|standard|1|0|0|1000|2000|0|0|500|0|t|t");
    th_server_stop(f.s);
}

/* ---- 2. provider usage objects and model names ---- */

Test(ingest, openai_chat_usage_matches_the_normalized_form)
{
    struct fx f;
    struct th_resp r;
    const char *ts = iso(-60);
    const char *row_sql =
        "SELECT concat_ws('|', provider, model, input_uncached, cache_read, cache_write_5m,"
        " cache_write_1h, output, reasoning, mode, list_cost, effective_cost, price_id)"
        " FROM usage_events WHERE event_id = $1";

    start(&f);
    /* normalized: 1000 uncached input, 2000 cache read, 500 output (100 of it reasoning) */
    post(&f, f.ingest, event("norm", th_fmt("\"timestamp\":\"%s\",\"reasoning_tokens\":100", ts)),
         &r);
    assert_counts(&r, 200, 1, 0, 0, 0);
    /* OpenAI's own object: prompt_tokens counts the cached ones, completion the reasoning */
    post(&f, f.ingest,
         event_raw("chat",
                   th_fmt("\"timestamp\":\"%s\",\"team\":\"search\",\"provider\":\"OpenAI\","
                          "\"model\":\"gpt-4o-2024-08-06\",\"usage_format\":\"openai.chat\","
                          "\"usage\":{\"prompt_tokens\":3000,\"completion_tokens\":500,"
                          "\"total_tokens\":3500,\"prompt_tokens_details\":{\"cached_tokens\":"
                          "2000,\"audio_tokens\":0},\"completion_tokens_details\":"
                          "{\"reasoning_tokens\":100,\"audio_tokens\":0}}",
                          ts)),
         &r);
    assert_counts(&r, 200, 1, 0, 0, 0);

    const char *norm = th_sql(f.url, row_sql, "norm", NULL);
    cr_assert_str_eq(th_sql(f.url, row_sql, "chat", NULL), norm,
                     "the openai.chat form should store what the normalized form stores");
    cr_assert(th_matches(norm, "^openai\\|gpt-4o\\|1000\\|2000\\|0\\|0\\|500\\|100\\|standard\\|"
                               "0\\.0125\\|0\\.01\\|[0-9]+$"),
              "normalized row: %s", norm);
    /* the strings as sent are kept beside the catalog's names */
    cr_assert_str_eq(q1(&f, "SELECT concat_ws('|', raw_provider, raw_model, source) FROM"
                            " usage_events WHERE event_id = 'chat'"),
                     "OpenAI|gpt-4o-2024-08-06|openai.chat");
    cr_assert_str_eq(q1(&f, "SELECT concat_ws('|', raw_provider, raw_model, source) FROM"
                            " usage_events WHERE event_id = 'norm'"),
                     "openai|gpt-4o|normalized");
    /* both land in one rollup row: same hour, team, provider, model, mode */
    cr_assert_str_eq(q1(&f, "SELECT concat_ws('|', count(*), sum(requests), sum(input_uncached),"
                            " sum(cache_read), sum(output), sum(reasoning), sum(list_cost) = 0.025,"
                            " sum(effective_cost) = 0.02) FROM spend_hourly"),
                     "1|2|2000|4000|1000|200|t|t");
    th_server_stop(f.s);
}

Test(ingest, costs_follow_routing_cache_writes_modes_and_tiers)
{
    struct fx f;
    struct th_resp r;
    const char *cost_sql = "SELECT concat_ws('|', provider, model, mode, list_cost, effective_cost)"
                           " FROM usage_events WHERE event_id = $1";

    start(&f);
    post(&f, f.ingest,
         th_fmt("{\"events\":[%s,%s,%s,%s,%s,%s]}",
                event_raw("routed", "\"team\":\"search\",\"provider\":\"openai\",\"model\":"
                                    "\"gpt-4o-mini\",\"requested_model\":\"gpt-4o\","
                                    "\"input_tokens\":1000,\"cache_read_tokens\":2000,"
                                    "\"output_tokens\":500"),
                event("batch", "\"mode\":\"batch\""),
                event_raw("writes", "\"team\":\"search\",\"provider\":\"anthropic\",\"model\":"
                                    "\"claude-sonnet-4-5\",\"input_tokens\":1000,"
                                    "\"cache_read_tokens\":2000,\"cache_write_5m_tokens\":400,"
                                    "\"cache_write_1h_tokens\":100,\"output_tokens\":500"),
                event_raw("tier-base", "\"team\":\"search\",\"provider\":\"anthropic\",\"model\":"
                                       "\"claude-sonnet-4-5\",\"input_tokens\":199000,"
                                       "\"cache_read_tokens\":1000,\"output_tokens\":100"),
                event_raw("tier-long", "\"team\":\"search\",\"provider\":\"anthropic\",\"model\":"
                                       "\"claude-sonnet-4-5\",\"input_tokens\":199001,"
                                       "\"cache_read_tokens\":1000,\"output_tokens\":100"),
                event_raw("priority", "\"team\":\"search\",\"provider\":\"google\",\"model\":"
                                      "\"gemini-2.5-pro\",\"mode\":\"priority\","
                                      "\"input_tokens\":1000,\"output_tokens\":500")),
         &r);
    assert_counts(&r, 200, 6, 0, 0, 0);
    /*
     * Routed to gpt-4o-mini ($0.15 in, $0.075 cache read, $0.60 out), asked for gpt-4o:
     * effective = 1000 x 0.15e-6 + 2000 x 0.075e-6 + 500 x 0.6e-6 = 0.0006
     * list      = gpt-4o at list: 3000 x 2.5e-6 + 500 x 10e-6 = 0.0125
     */
    cr_assert_str_eq(th_sql(f.url, cost_sql, "routed", NULL),
                     "openai|gpt-4o-mini|standard|0.0125|0.0006");
    /* batch halves every class (openai batch 0.5): 0.01 x 0.5; list has no batch discount */
    cr_assert_str_eq(th_sql(f.url, cost_sql, "batch", NULL), "openai|gpt-4o|batch|0.0125|0.005");
    /*
     * claude-sonnet-4-5: $3 in, $0.30 cache read, $3.75 5-minute write, $6 1-hour write, $15 out.
     * effective = 1000 x 3 + 2000 x 0.3 + 400 x 3.75 + 100 x 6 + 500 x 15 (e-6)
     *           = 0.003 + 0.0006 + 0.0015 + 0.0006 + 0.0075 = 0.0132
     * list      = 3500 x 3e-6 + 500 x 15e-6 = 0.0105 + 0.0075 = 0.018
     */
    cr_assert_str_eq(th_sql(f.url, cost_sql, "writes", NULL),
                     "anthropic|claude-sonnet-4-5|standard|0.018|0.0132");
    /*
     * The long-context row (prompts of 200001 tokens and more: $6 in, $0.60 cache read, $22.50
     * out) prices the whole request once input + cache reach it.
     * 200000: 199000 x 3e-6 + 1000 x 0.3e-6 + 100 x 15e-6 = 0.597 + 0.0003 + 0.0015 = 0.5988
     *         list 200000 x 3e-6 + 100 x 15e-6 = 0.6015
     * 200001: 199001 x 6e-6 + 1000 x 0.6e-6 + 100 x 22.5e-6 = 1.194006 + 0.0006 + 0.00225
     *         = 1.196856; list 200001 x 6e-6 + 100 x 22.5e-6 = 1.200006 + 0.00225 = 1.202256
     */
    cr_assert_str_eq(th_sql(f.url, cost_sql, "tier-base", NULL),
                     "anthropic|claude-sonnet-4-5|standard|0.6015|0.5988");
    cr_assert_str_eq(th_sql(f.url, cost_sql, "tier-long", NULL),
                     "anthropic|claude-sonnet-4-5|standard|1.202256|1.196856");
    /*
     * gemini-2.5-pro priority (x1.8): (1000 x 1.25 + 500 x 10) e-6 x 1.8 = 0.00625 x 1.8
     * = 0.01125; list 0.00625
     */
    cr_assert_str_eq(th_sql(f.url, cost_sql, "priority", NULL),
                     "google|gemini-2.5-pro|priority|0.00625|0.01125");
    cr_assert_str_eq(rollup_sums(&f), event_sums(&f));
    th_server_stop(f.s);
}

Test(ingest, list_cost_is_at_list_price_even_with_an_org_price)
{
    struct fx f;
    struct th_resp r;

    start(&f);
    th_json(f.s, "POST", "/v1/admin/prices", f.admin, &r,
            "{\"provider\":\"openai\",\"model\":\"gpt-4o\",\"input\":\"2\",\"cache_read\":\"1\","
            "\"output\":\"8\",\"effective_from\":\"2020-01-01T00:00:00Z\"}");
    th_assert_status(&r, 201);
    /* the catalog is reloaded within a moment: wait until events are priced at it */
    for (int i = 0; i < 100; i++) {
        post(&f, f.ingest, event(th_fmt("probe-%d", i), ""), &r);
        assert_counts(&r, 200, 1, 0, 0, 0);
        if (!strcmp(th_sql(f.url,
                           "SELECT p.org_id IS NOT NULL FROM usage_events e JOIN prices p"
                           " ON p.id = e.price_id WHERE e.event_id = $1",
                           th_fmt("probe-%d", i), NULL),
                    "t"))
            break;
        usleep(100 * 1000);
    }
    post(&f, f.ingest, event("negotiated", ""), &r);
    assert_counts(&r, 200, 1, 0, 0, 0);
    /*
     * effective at the org's price: 1000 x 2e-6 + 2000 x 1e-6 + 500 x 8e-6 = 0.008
     * list at the list price: 3000 x 2.5e-6 + 500 x 10e-6 = 0.0125
     */
    cr_assert_str_eq(q1(&f, "SELECT effective_cost || '|' || list_cost FROM usage_events"
                            " WHERE event_id = 'negotiated'"),
                     "0.008|0.0125");
    th_server_stop(f.s);
}

/* ---- 3. duplicates and conflicts ---- */

Test(ingest, a_resent_id_is_a_duplicate_and_other_content_a_conflict)
{
    struct fx f;
    struct th_resp r;
    const char *sums;

    start(&f);
    post(&f, f.ingest, event("dup-1", ""), &r);
    assert_counts(&r, 200, 1, 0, 0, 0);
    sums = rollup_sums(&f);

    /* the same content, members in another order: a retry */
    post(&f, f.ingest,
         "{\"output_tokens\":500,\"cache_read_tokens\":2000,\"input_tokens\":1000,\"model\":"
         "\"gpt-4o\",\"provider\":\"openai\",\"team\":\"search\",\"id\":\"dup-1\"}",
         &r);
    assert_counts(&r, 200, 0, 1, 0, 0);
    cr_assert_str_eq(rollup_sums(&f), sums, "a duplicate must not be counted again");
    cr_assert_str_eq(count_events(&f), "1");

    /* the same id with other content: 409, the original kept */
    post(&f, f.ingest,
         event_raw("dup-1", "\"team\":\"search\",\"provider\":\"openai\",\"model\":\"gpt-4o\","
                            "\"input_tokens\":1000,\"cache_read_tokens\":2000,"
                            "\"output_tokens\":999"),
         &r);
    th_assert_error(&r, 409, "conflict", "id");
    cr_assert_str_eq(rollup_sums(&f), sums);
    cr_assert_str_eq(q1(&f, "SELECT string_agg(output::text, ',') FROM usage_events"), "500");

    /*
     * A batch: a new id, a conflict, a duplicate, the new id again (a
     * duplicate within the batch), another new id, then that id with other
     * content (a conflict within the batch).
     */
    post(&f, f.ingest,
         th_fmt("{\"events\":[%s,%s,%s,%s,%s,%s]}", event("dup-2", ""),
                event("dup-1", "\"mode\":\"batch\""), event("dup-1", ""), event("dup-2", ""),
                event("dup-3", ""), event("dup-3", "\"status\":\"error\"")),
         &r);
    assert_counts(&r, 200, 2, 2, 0, 2);
    assert_rejected(&r, 0, 1, "dup-1", "conflict", "id");
    assert_rejected(&r, 1, 5, "dup-3", "conflict", "id");
    cr_assert_str_eq(q1(&f, "SELECT string_agg(event_id || ':' || mode || ':' || status, ','"
                            " ORDER BY event_id) FROM usage_events"),
                     "dup-1:standard:ok,dup-2:standard:ok,dup-3:standard:ok");
    cr_assert_str_eq(q1(&f, "SELECT sum(requests) || '|' || sum(errors) FROM spend_hourly"), "3|0");
    cr_assert_str_eq(rollup_sums(&f), event_sums(&f));
    th_server_stop(f.s);
}

/* ---- 4. a batch with bad events ---- */

Test(ingest, a_batch_keeps_the_good_events_and_lists_the_bad)
{
    struct fx f;
    struct th_resp r;

    start(&f);
    post(&f, f.ingest,
         th_fmt("{\"events\":[%s,%s,%s,%s,%s,42,%s,%s,%s]}",
                /* 0 */ event("good-0", ""),
                /* 1 */ event("bad-type", "\"latency_ms\":\"fast\""),
                /* 2 */
                event_raw("bad-team", "\"team\":\"nope\",\"provider\":\"openai\","
                                      "\"model\":\"gpt-4o\",\"input_tokens\":1"),
                /* 3 */ event("bad-future", th_fmt("\"timestamp\":\"%s\"", iso(600))),
                /* 4 */ event("bad-member", "\"colour\":\"red\""),
                /* 5: 42, not an object */
                /* 6 */ event("good-6", "\"project\":\"ranking\""),
                /* 7 */ event_raw("bad-missing", "\"team\":\"search\",\"provider\":\"openai\""),
                /* 8 */ event("bad-tokens", "\"reasoning_tokens\":501")),
         &r);
    assert_counts(&r, 200, 2, 0, 0, 7);
    assert_rejected(&r, 0, 1, "bad-type", "invalid_type", "latency_ms");
    assert_rejected(&r, 1, 2, "bad-team", "unknown_team", "team");
    assert_rejected(&r, 2, 3, "bad-future", "invalid_value", "timestamp");
    assert_rejected(&r, 3, 4, "bad-member", "unknown_field", "colour");
    assert_rejected(&r, 4, 5, NULL, "invalid_type", NULL);
    assert_rejected(&r, 5, 7, "bad-missing", "missing_field", "model");
    assert_rejected(&r, 6, 8, "bad-tokens", "invalid_value", "reasoning_tokens");
    cr_assert_str_eq(q1(&f, "SELECT string_agg(event_id, ',' ORDER BY event_id) FROM usage_events"),
                     "good-0,good-6");
    cr_assert_str_eq(q1(&f, "SELECT string_agg(event_id, ',' ORDER BY event_id) FROM"
                            " usage_event_ids"),
                     "good-0,good-6");
    cr_assert_str_eq(rollup_sums(&f), event_sums(&f));

    /* a single bad event is the reply's own status */
    post(&f, f.ingest, event("bad-future", th_fmt("\"timestamp\":\"%s\"", iso(600))), &r);
    th_assert_error(&r, 422, "invalid_value", "timestamp");
    post(&f, f.ingest, event("bad-member", "\"colour\":\"red\""), &r);
    th_assert_error(&r, 400, "unknown_field", "colour");
    /* 4 minutes ahead is within the 5 allowed */
    post(&f, f.ingest, event("near-future", th_fmt("\"timestamp\":\"%s\"", iso(240))), &r);
    assert_counts(&r, 200, 1, 0, 0, 0);
    cr_assert_str_eq(count_events(&f), "3");
    th_server_stop(f.s);
}

Test(ingest, a_value_postgres_cannot_hold_is_refused_alone)
{
    struct fx f;
    struct th_resp r;

    /* fixed in b04b7ba: the writer's COPY used to fail and sink the whole request (500s) */
    start(&f);
    post(&f, f.ingest,
         th_fmt("{\"events\":[%s,%s,%s]}", event("ok-1", ""),
                event("too-slow", "\"latency_ms\":3000000000"), event("ok-2", "")),
         &r);
    assert_counts(&r, 200, 2, 0, 0, 1);
    assert_rejected(&r, 0, 1, "too-slow", "invalid_value", "latency_ms");
    post(&f, f.ingest, event("too-slow", "\"latency_ms\":3000000000"), &r);
    th_assert_error(&r, 422, "invalid_value", "latency_ms");
    cr_assert_str_eq(q1(&f, "SELECT string_agg(event_id, ',' ORDER BY event_id) FROM usage_events"),
                     "ok-1,ok-2");
    th_server_stop(f.s);
}

Test(ingest, text_is_stored_as_sent_and_tag_order_does_not_matter)
{
    struct fx f;
    struct th_resp r;
    /* backslashes, quotes, COPY's "\N", non-ASCII: each must arrive byte for byte */
    const char *id = "id \\\\N \\\"q\\\" \\u00fcn\\u00efcode/\\\\t";
    const char *id_text = "id \\N \"q\" \xc3\xbcn\xc3\xaf"
                          "code/\\t";
    const char *fields =
        "\"team\":\"search\",\"provider\":\"vllm\",\"model\":\"My-FT\\\\x \\u2713\","
        "\"user\":\"CORP\\\\alice\",\"request_id\":\"\\\\N\",\"input_tokens\":1,"
        "\"tags\":{\"path\":\"C:\\\\dir\\\\new\",\"b\":\"2\",\"a\":\"\"}";
    const char *swapped =
        "\"tags\":{\"a\":\"\",\"path\":\"C:\\\\dir\\\\new\",\"b\":\"2\"},\"input_tokens\":1,"
        "\"request_id\":\"\\\\N\",\"user\":\"CORP\\\\alice\",\"model\":\"My-FT\\\\x \\u2713\","
        "\"provider\":\"vllm\",\"team\":\"search\"";

    start(&f);
    post(&f, f.ingest, th_fmt("{\"id\":\"%s\",%s}", id, fields), &r);
    assert_counts(&r, 200, 1, 0, 0, 0);
    cr_assert_str_eq(
        th_sql(f.url,
               "SELECT concat_ws('|', e.model, e.raw_model, u.external_id,"
               " e.request_id, e.tags->>'path', e.tags->>'a' = '', e.tags->>'b')"
               " FROM usage_events e JOIN users u ON u.id = e.user_id"
               " WHERE e.event_id = $1",
               id_text, NULL),
        "My-FT\\x \xe2\x9c\x93|My-FT\\x \xe2\x9c\x93|CORP\\alice|\\N|C:\\dir\\new|t|2");
    post(&f, f.ingest, th_fmt("{\"id\":\"%s\",%s}", id, swapped), &r);
    assert_counts(&r, 200, 0, 1, 0, 0);
    /* one tag more is other content */
    post(&f, f.ingest,
         th_fmt("{\"id\":\"%s\",%s}", id,
                "\"team\":\"search\",\"provider\":\"vllm\",\"model\":\"My-FT\\\\x \\u2713\","
                "\"user\":\"CORP\\\\alice\",\"request_id\":\"\\\\N\",\"input_tokens\":1,"
                "\"tags\":{\"path\":\"C:\\\\dir\\\\new\",\"b\":\"2\",\"a\":\"\",\"c\":\"3\"}"),
         &r);
    th_assert_error(&r, 409, "conflict", "id");
    cr_assert_str_eq(count_events(&f), "1");
    th_server_stop(f.s);
}

/* ---- 5. malformed requests ---- */

Test(ingest, malformed_bodies_are_refused_and_store_nothing)
{
    static const char *const extra[] = {"--max-body", "4096", "--batch-max", "3", NULL};
    struct fx f;
    struct th_resp r;
    const char *ev = event("m-1", "");
    const char *padded = th_fmt("%s%5000s", ev, ""); /* valid JSON, 5 KB: over --max-body */
    struct th_req chunked = {.method = "POST",
                             .path = USAGE,
                             .content_type = "application/json",
                             .body = padded,
                             .chunked = true};

    start_with(&f, extra);
    chunked.key = f.ingest;

    post(&f, f.ingest, "this is not JSON", &r);
    th_assert_error(&r, 400, "invalid_json", NULL);
    post(&f, f.ingest, "{\"id\":\"m-1\",", &r);
    th_assert_error(&r, 400, "invalid_json", NULL);
    post(&f, f.ingest, th_fmt("[%s]", ev), &r);
    th_assert_error(&r, 400, "invalid_json", NULL);
    th_http(f.s, "POST", USAGE, f.ingest, "text/plain", ev, &r);
    th_assert_error(&r, 415, "unsupported_media_type", NULL);
    post(&f, f.ingest, padded, &r);
    th_assert_error(&r, 413, "payload_too_large", NULL);
    th_http_req(f.s, &chunked, &r);
    th_assert_error(&r, 413, "payload_too_large", NULL);
    post(&f, f.ingest,
         th_fmt("{\"events\":[%s,%s,%s,%s]}", event("m-1", ""), event("m-2", ""), event("m-3", ""),
                event("m-4", "")),
         &r);
    th_assert_error(&r, 413, "too_many_events", "events");
    post(&f, f.ingest, "{\"events\":[]}", &r);
    th_assert_error(&r, 400, "invalid_value", "events");
    post(&f, f.ingest, "{\"events\":{}}", &r);
    th_assert_error(&r, 400, "invalid_type", "events");
    post(&f, f.ingest, th_fmt("{\"events\":[%s],\"team\":\"search\"}", ev), &r);
    th_assert_error(&r, 400, "unknown_field", "events");
    cr_assert_str_eq(count_events(&f), "0");
    cr_assert_str_eq(q1(&f, "SELECT count(*) FROM usage_event_ids"), "0");
    cr_assert_str_eq(q1(&f, "SELECT count(*) FROM spend_hourly"), "0");

    /* the limits are limits, not lower: 3 events in under 4 KB go in */
    post(&f, f.ingest,
         th_fmt("{\"events\":[%s,%s,%s]}", event("m-1", ""), event("m-2", ""), event("m-3", "")),
         &r);
    assert_counts(&r, 200, 3, 0, 0, 0);
    cr_assert_str_eq(count_events(&f), "3");
    th_server_stop(f.s);
}

/* ---- 6. team-scoped keys ---- */

Test(ingest, a_scoped_key_sends_only_its_teams_events)
{
    struct fx f;
    struct th_resp r;
    const char *key;

    start(&f);
    th_create_team(f.s, f.admin, "search-eu", NULL, "search"); /* a sub-team */
    key = th_create_key(f.s, f.admin, "ingest", "search");

    post(&f, key, event("s-team", ""), &r);
    assert_counts(&r, 200, 1, 0, 0, 0);
    post(&f, key, event("s-project", "\"project\":\"ranking\""), &r);
    assert_counts(&r, 200, 1, 0, 0, 0);
    post(&f, key,
         event_raw("s-subteam", "\"team\":\"search-eu\",\"provider\":\"openai\","
                                "\"model\":\"gpt-4o\",\"input_tokens\":1"),
         &r);
    assert_counts(&r, 200, 1, 0, 0, 0);

    /* one event of another team: 403 for the whole request, nothing stored */
    post(&f, key,
         th_fmt("{\"events\":[%s,%s,%s]}", event("s-ok-1", ""),
                event_raw("s-billing", "\"team\":\"billing\",\"provider\":\"openai\","
                                       "\"model\":\"gpt-4o\",\"input_tokens\":1"),
                event("s-ok-2", "")),
         &r);
    th_assert_error(&r, 403, "forbidden", "team");
    post(&f, key,
         event_raw("s-billing", "\"team\":\"billing\",\"provider\":\"openai\","
                                "\"model\":\"gpt-4o\",\"input_tokens\":1"),
         &r);
    th_assert_error(&r, 403, "forbidden", "team");
    cr_assert_str_eq(q1(&f, "SELECT string_agg(event_id, ',' ORDER BY event_id) FROM usage_events"),
                     "s-project,s-subteam,s-team");
    cr_assert_str_eq(q1(&f, "SELECT count(*) FROM usage_event_ids"), "3");
    cr_assert_str_eq(q1(&f, "SELECT sum(requests) FROM spend_hourly"), "3");

    /* the unscoped key may send billing's event: the refusal was the scope */
    post(&f, f.ingest, th_fmt("{\"events\":[%s]}", event("s-ok-1", "")), &r);
    assert_counts(&r, 200, 1, 0, 0, 0);
    th_server_stop(f.s);
}

Test(ingest, a_scoped_key_cannot_create_teams_outside_its_scope)
{
    static const char *const extra[] = {"--unknown-teams", "create", NULL};
    struct fx f;
    struct th_resp r;
    const char *key;

    start_with(&f, extra);
    key = th_create_key(f.s, f.admin, "ingest", "search");
    /* within its scope, a new project is made */
    post(&f, key, event("c-1", "\"project\":\"new-project\""), &r);
    assert_counts(&r, 200, 1, 0, 0, 0);
    cr_assert_str_eq(q1(&f, "SELECT p.kind || ':' || t.slug FROM teams p JOIN teams t ON"
                            " t.id = p.parent_id WHERE p.slug = 'new-project'"),
                     "project:search");
    /* outside it: 403, and no team made */
    post(&f, key,
         event_raw("c-2", "\"team\":\"brand-new\",\"provider\":\"openai\",\"model\":\"gpt-4o\","
                          "\"input_tokens\":1"),
         &r);
    th_assert_error(&r, 403, "forbidden", "team");
    cr_assert_str_eq(q1(&f, "SELECT count(*) FROM teams WHERE slug = 'brand-new'"), "0",
                     "a 403 must leave nothing behind, not even a team");
    th_server_stop(f.s);
}

Test(ingest, unknown_teams_create_makes_teams_and_projects)
{
    static const char *const extra[] = {"--unknown-teams", "create", NULL};
    struct fx f;
    struct th_resp r;

    start_with(&f, extra);
    post(&f, f.ingest,
         th_fmt("{\"events\":[%s,%s,%s]}",
                event_raw("n-1", "\"team\":\"new-team\",\"project\":\"new-proj\","
                                 "\"provider\":\"openai\",\"model\":\"gpt-4o\",\"input_tokens\":1"),
                event_raw("n-2", "\"team\":\"new-team\",\"provider\":\"openai\","
                                 "\"model\":\"gpt-4o\",\"input_tokens\":1"),
                /* a project is not a team, even here */
                event_raw("n-3", "\"team\":\"ranking\",\"provider\":\"openai\","
                                 "\"model\":\"gpt-4o\",\"input_tokens\":1")),
         &r);
    assert_counts(&r, 200, 2, 0, 0, 1);
    assert_rejected(&r, 0, 2, "n-3", "invalid_value", "team");
    cr_assert_str_eq(q1(&f, "SELECT string_agg(t.slug || ':' || t.kind || ':' ||"
                            " coalesce(p.slug, '-'), ',' ORDER BY t.slug) FROM teams t"
                            " LEFT JOIN teams p ON p.id = t.parent_id"
                            " WHERE t.slug IN ('new-team', 'new-proj')"),
                     "new-proj:project:new-team,new-team:team:-");
    cr_assert_str_eq(q1(&f, "SELECT string_agg(e.event_id || ':' || t.slug || ':' ||"
                            " coalesce(p.slug, '-'), ',' ORDER BY e.event_id) FROM usage_events e"
                            " JOIN teams t ON t.id = e.team_id"
                            " LEFT JOIN teams p ON p.id = e.project_id"),
                     "n-1:new-team:new-proj,n-2:new-team:-");
    th_server_stop(f.s);
}

Test(ingest, events_for_an_archived_team_are_refused_at_once)
{
    struct fx f;
    struct th_resp r;

    start(&f);
    post(&f, f.ingest,
         event_raw("a-1", "\"team\":\"billing\",\"provider\":\"openai\",\"model\":\"gpt-4o\","
                          "\"input_tokens\":1"),
         &r);
    assert_counts(&r, 200, 1, 0, 0, 0);
    th_http(f.s, "DELETE", "/v1/admin/teams/billing", f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    post(&f, f.ingest,
         event_raw("a-2", "\"team\":\"billing\",\"provider\":\"openai\",\"model\":\"gpt-4o\","
                          "\"input_tokens\":1"),
         &r);
    th_assert_error(&r, 422, "archived_team", "team");
    th_server_stop(f.s);
}

/* ---- 7. concurrent senders ---- */

#define N_THREADS 8
#define N_SAME    200

struct sender {
    const char *base, *key, *prefix;
    int thread, n;         /* n: events to send (same ids in every thread), or 0 */
    double until;          /* else send distinct ids until this time (CLOCK_MONOTONIC s) */
    pthread_barrier_t *go; /* all start together */
    /* results */
    long accepted, duplicates, not_200, no_reply, sent;
    long odd; /* 200 replies that did not count exactly one event, without rejections */
    long bad_status;
    char bad_body[300];
    int *acked; /* indexes of the events that got a 2xx */
    size_t n_acked, cap_acked;
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *send_events(void *arg)
{
    struct sender *s = arg;
    struct th_mt_conn *c = th_mt_conn_open();
    char body[512], reply[512];

    pthread_barrier_wait(s->go);
    for (int i = 0; c && (s->n ? i < s->n : mono_s() < s->until); i++) {
        long st;
        json_t *j;

        snprintf(body, sizeof(body),
                 "{\"id\":\"%s-%d\",\"team\":\"search\",\"provider\":\"openai\","
                 "\"model\":\"gpt-4o\",\"input_tokens\":10,\"output_tokens\":5}",
                 s->prefix, i);
        st = th_mt_http(c, s->base, "POST", USAGE, s->key, body, reply, sizeof(reply));
        s->sent++;
        if (st == 0) {
            s->no_reply++;
            continue;
        }
        if (st != 200) {
            if (!s->not_200++) {
                s->bad_status = st;
                snprintf(s->bad_body, sizeof(s->bad_body), "%.290s", reply);
            }
            continue;
        }
        j = json_loads(reply, 0, NULL);
        s->accepted += jint(j, "accepted");
        s->duplicates += jint(j, "duplicates");
        s->odd += jint(j, "accepted") + jint(j, "duplicates") != 1 || jint(j, "spooled") != 0 ||
                  json_array_size(json_object_get(j, "rejected")) != 0;
        json_decref(j);
        if (s->n_acked == s->cap_acked) {
            s->cap_acked = s->cap_acked ? 2 * s->cap_acked : 1024;
            s->acked = realloc(s->acked, s->cap_acked * sizeof(*s->acked));
            if (!s->acked)
                abort();
        }
        s->acked[s->n_acked++] = i;
    }
    th_mt_conn_close(c);
    return NULL;
}

Test(ingest, concurrent_senders_of_the_same_ids_store_each_once)
{
    struct fx f;
    struct sender snd[N_THREADS];
    pthread_t t[N_THREADS];
    pthread_barrier_t go;
    long accepted = 0, duplicates = 0;

    start(&f);
    pthread_barrier_init(&go, NULL, N_THREADS);
    for (int i = 0; i < N_THREADS; i++) {
        snd[i] = (struct sender){.base = f.s->base,
                                 .key = f.ingest,
                                 .prefix = "same",
                                 .thread = i,
                                 .n = N_SAME,
                                 .go = &go};
        cr_assert(pthread_create(&t[i], NULL, send_events, &snd[i]) == 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < N_THREADS; i++) {
        free(snd[i].acked);
        cr_assert(snd[i].no_reply == 0 && snd[i].not_200 == 0,
                  "thread %d: %ld requests got no reply, %ld not 200 (first: %ld %s)", i,
                  snd[i].no_reply, snd[i].not_200, snd[i].bad_status, snd[i].bad_body);
        cr_assert_eq(snd[i].sent, N_SAME);
        cr_assert_eq(snd[i].odd, 0, "thread %d: a reply should count exactly one event", i);
        cr_assert_eq(snd[i].accepted + snd[i].duplicates, N_SAME,
                     "thread %d: every reply should be accepted or a duplicate", i);
        accepted += snd[i].accepted;
        duplicates += snd[i].duplicates;
    }
    cr_assert_eq(accepted, N_SAME, "accepted across threads: %ld", accepted);
    cr_assert_eq(duplicates, (N_THREADS - 1) * N_SAME);
    cr_assert_str_eq(count_events(&f), th_fmt("%d", N_SAME));
    cr_assert_str_eq(q1(&f, "SELECT count(DISTINCT event_id) FROM usage_events"),
                     th_fmt("%d", N_SAME));
    cr_assert_str_eq(q1(&f, "SELECT count(*) FROM usage_event_ids"), th_fmt("%d", N_SAME));
    cr_assert_str_eq(q1(&f, "SELECT sum(requests) || '|' || sum(input_uncached) || '|' ||"
                            " sum(output) FROM spend_hourly"),
                     th_fmt("%d|%d|%d", N_SAME, 10 * N_SAME, 5 * N_SAME));
    cr_assert_str_eq(rollup_sums(&f), event_sums(&f));
    th_server_stop(f.s);
}

Test(ingest, two_instances_on_one_database_store_each_id_once)
{
    struct fx f;
    struct th_server *s2;
    struct sender snd[N_THREADS];
    pthread_t t[N_THREADS];
    pthread_barrier_t go;
    long accepted = 0;

    start(&f);
    s2 = th_server_start(f.url, "--spool-dir", th_fmt("%s/spool", th_tmpdir()), NULL);
    pthread_barrier_init(&go, NULL, N_THREADS);
    for (int i = 0; i < N_THREADS; i++) {
        snd[i] = (struct sender){.base = i % 2 ? s2->base : f.s->base,
                                 .key = f.ingest,
                                 .prefix = "two",
                                 .thread = i,
                                 .n = N_SAME / 2,
                                 .go = &go};
        cr_assert(pthread_create(&t[i], NULL, send_events, &snd[i]) == 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < N_THREADS; i++) {
        free(snd[i].acked);
        cr_assert(snd[i].no_reply == 0 && snd[i].not_200 == 0,
                  "thread %d: %ld requests got no reply, %ld not 200 (first: %ld %s)", i,
                  snd[i].no_reply, snd[i].not_200, snd[i].bad_status, snd[i].bad_body);
        cr_assert_eq(snd[i].odd, 0, "thread %d: a reply should count exactly one event", i);
        cr_assert_eq(snd[i].accepted + snd[i].duplicates, N_SAME / 2);
        accepted += snd[i].accepted;
    }
    cr_assert_eq(accepted, N_SAME / 2, "accepted across both servers: %ld", accepted);
    cr_assert_str_eq(count_events(&f), th_fmt("%d", N_SAME / 2));
    cr_assert_str_eq(q1(&f, "SELECT sum(requests) FROM spend_hourly"), th_fmt("%d", N_SAME / 2));
    cr_assert_str_eq(rollup_sums(&f), event_sums(&f));
    th_server_stop(s2);
    th_server_stop(f.s);
}

/* ---- 8. month partitions ---- */

Test(ingest, ids_are_unique_across_month_partitions)
{
    struct fx f;
    struct th_resp r;
    const char *now = iso(-60), *d40 = iso(-40L * 86400), *d400 = iso(-400L * 86400);
    const char *e_now = event("p-now", th_fmt("\"timestamp\":\"%s\"", now));
    const char *e_40 = event("p-40", th_fmt("\"timestamp\":\"%s\"", d40));
    const char *e_400 = event("p-400", th_fmt("\"timestamp\":\"%s\"", d400));

    start(&f);
    /* 400 days back has no partition yet: the writer makes it */
    cr_assert_null(th_sql(f.url,
                          "SELECT to_regclass('usage_events_' || to_char($1::timestamptz"
                          " AT TIME ZONE 'UTC', 'YYYY_MM'))",
                          d400, NULL));
    post(&f, f.ingest, th_fmt("{\"events\":[%s,%s,%s]}", e_now, e_40, e_400), &r);
    assert_counts(&r, 200, 3, 0, 0, 0);
    /* each in the partition of its month */
    cr_assert_str_eq(q1(&f, "SELECT string_agg(event_id || ':' || (tableoid::regclass::text ="
                            " 'usage_events_' || to_char(ts AT TIME ZONE 'UTC', 'YYYY_MM')),"
                            " ',' ORDER BY ts) FROM usage_events"),
                     "p-400:true,p-40:true,p-now:true");
    cr_assert_str_eq(q1(&f, "SELECT count(DISTINCT tableoid) FROM usage_events"), "3");

    /* re-sent, alone or together: duplicates, whatever the month */
    post(&f, f.ingest, e_400, &r);
    assert_counts(&r, 200, 0, 1, 0, 0);
    post(&f, f.ingest, e_40, &r);
    assert_counts(&r, 200, 0, 1, 0, 0);
    post(&f, f.ingest, th_fmt("{\"events\":[%s,%s,%s]}", e_40, e_400, e_now), &r);
    assert_counts(&r, 200, 0, 3, 0, 0);
    /* the id of the 400-day-old event with this month's time: another event, refused */
    post(&f, f.ingest, event("p-400", th_fmt("\"timestamp\":\"%s\"", now)), &r);
    th_assert_error(&r, 409, "conflict", "id");
    cr_assert_str_eq(count_events(&f), "3");
    cr_assert_str_eq(th_sql(f.url,
                            "SELECT ts = $1::timestamptz FROM usage_events"
                            " WHERE event_id = 'p-400'",
                            d400, NULL),
                     "t");
    cr_assert_str_eq(q1(&f, "SELECT count(*) || '|' || sum(requests) FROM spend_hourly"), "3|3");
    cr_assert_str_eq(rollup_sums(&f), event_sums(&f));
    th_server_stop(f.s);
}

/* ---- 9. unpriced events ---- */

/* Waits up to 10 s for event id to have a price; returns whether it did. */
static bool wait_priced(const struct fx *f, const char *id)
{
    for (int i = 0; i < 200; i++) {
        if (!strcmp(th_sql(f->url,
                           "SELECT count(*) FROM usage_events WHERE event_id = $1 AND"
                           " price_id IS NOT NULL",
                           id, NULL),
                    "1"))
            return true;
        usleep(50 * 1000);
    }
    return false;
}

/* The custom model's event: 1000 uncached input, 2000 cache read, 500 output. */
static const char *vllm_event(const char *id, const char *ts)
{
    return event_raw(id, th_fmt("\"timestamp\":\"%s\",\"team\":\"search\",\"provider\":\"vllm\","
                                "\"model\":\"my-ft\",\"input_tokens\":1000,"
                                "\"cache_read_tokens\":2000,\"output_tokens\":500",
                                ts));
}

/* Sends an unpriced event and a priced one; checks the unpriced one is shown as such. */
static void send_unpriced(struct fx *f, const char *read_key)
{
    struct th_resp r;
    json_t *m;

    post(f, f->ingest, vllm_event("u-1", iso(-600)), &r);
    assert_counts(&r, 200, 1, 0, 0, 0);
    post(f, f->ingest, event("u-priced", ""), &r);
    assert_counts(&r, 200, 1, 0, 0, 0);
    cr_assert_str_eq(q1(f, "SELECT concat_ws('|', provider, model, price_id IS NULL, list_cost,"
                           " effective_cost) FROM usage_events WHERE event_id = 'u-1'"),
                     "vllm|my-ft|t|0|0");
    cr_assert_str_eq(metric(f->s, "tollgate_usage_events_unpriced_total"), "1");
    th_http(f->s, "GET", "/v1/reports/unpriced", read_key, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_assert_eq(jint(r.json, "events"), 1, "%s", r.body);
    cr_assert_eq(json_array_size(th_jarray(&r, "models")), 1, "%s", r.body);
    m = th_jfind(th_jarray(&r, "models"), "model", "my-ft");
    cr_assert(m && !strcmp(th_jstr(m, "provider"), "vllm") && jint(m, "events") == 1 &&
                  jint(m, "input_tokens") == 3000 && jint(m, "output_tokens") == 500,
              "the unpriced report should list vllm/my-ft: %s", r.body);
}

/* Checks u-1 has price price_id and its exact cost, and nothing is unpriced any more. */
static void check_repriced(struct fx *f, const char *read_key, const char *price_id)
{
    struct th_resp r;

    /*
     * vllm my-ft at the org's price: input $1, cache read $0.50, output $2 per million.
     * effective = 1000 x 1e-6 + 2000 x 0.5e-6 + 500 x 2e-6 = 0.001 + 0.001 + 0.001 = 0.003
     * list      = (1000 + 2000) x 1e-6 + 500 x 2e-6 = 0.003 + 0.001 = 0.004
     */
    cr_assert_str_eq(th_sql(f->url,
                            "SELECT concat_ws('|', provider, model, price_id = $1::bigint,"
                            " list_cost = 0.004, effective_cost = 0.003, list_cost,"
                            " effective_cost) FROM usage_events WHERE event_id = 'u-1'",
                            price_id, NULL),
                     "vllm|my-ft|t|t|t|0.004|0.003");
    th_http(f->s, "GET", "/v1/reports/unpriced", read_key, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_assert(jint(r.json, "events") == 0 && json_array_size(th_jarray(&r, "models")) == 0,
              "nothing should be unpriced now: %s", r.body);
    cr_assert_str_eq(q1(f, "SELECT count(*) FROM spend_hourly WHERE unpriced <> 0"), "0");
    cr_assert_str_eq(rollup_sums(f), event_sums(f), "the rollups should equal the live events");
    cr_assert_str_eq(q1(f, "SELECT concat_ws('|', requests, unpriced, input_uncached, cache_read,"
                           " output, list_cost = 0.004, effective_cost = 0.003) FROM"
                           " spend_hourly WHERE provider = 'vllm'"),
                     "1|0|1000|2000|500|t|t");
    cr_assert_str_eq(metric(f->s, "tollgate_usage_events_repriced_total"), "1");
}

Test(ingest, an_unpriced_event_is_priced_when_its_price_arrives)
{
    struct fx f;
    struct th_resp r;
    const char *read_key, *price_id;

    start(&f);
    read_key = th_create_key(f.s, f.admin, "read", NULL);
    send_unpriced(&f, read_key);

    th_json(f.s, "POST", "/v1/admin/prices", f.admin, &r,
            "{\"provider\":\"vllm\",\"model\":\"my-ft\",\"input\":\"1\",\"cache_read\":\"0.5\","
            "\"output\":\"2\",\"effective_from\":\"2020-01-01T00:00:00Z\"}");
    th_assert_status(&r, 201);
    price_id = th_fmt("%lld", jint(r.json, "id"));
    cr_assert(wait_priced(&f, "u-1"), "u-1 was not priced within 10 s of its price");
    check_repriced(&f, read_key, price_id);

    /* a new event for it is priced at once */
    post(&f, f.ingest, vllm_event("u-2", iso(-60)), &r);
    assert_counts(&r, 200, 1, 0, 0, 0);
    cr_assert_str_eq(th_sql(f.url,
                            "SELECT price_id = $1::bigint AND effective_cost = 0.003 FROM"
                            " usage_events WHERE event_id = 'u-2'",
                            price_id, NULL),
                     "t");
    cr_assert_str_eq(rollup_sums(&f), event_sums(&f));
    th_server_stop(f.s);
}

Test(ingest, a_price_posted_without_effective_from_prices_waiting_events)
{
    struct fx f;
    struct th_resp r;
    const char *read_key, *price_id;

    start(&f);
    read_key = th_create_key(f.s, f.admin, "read", NULL);
    send_unpriced(&f, read_key);
    th_json(f.s, "POST", "/v1/admin/prices", f.admin, &r,
            "{\"provider\":\"vllm\",\"model\":\"my-ft\",\"input\":\"1\",\"cache_read\":\"0.5\","
            "\"output\":\"2\"}");
    th_assert_status(&r, 201);
    price_id = th_fmt("%lld", jint(r.json, "id"));
    cr_assert(wait_priced(&f, "u-1"), "u-1 was not priced within 10 s of its price");
    check_repriced(&f, read_key, price_id);
    th_server_stop(f.s);
}

/* ---- 10. kill -9 ---- */

/* A Postgres text[] literal of the ids prefix-i for every acked i of every sender. */
static const char *acked_array(struct sender *snd, int n, size_t *count)
{
    size_t len = 0, cap = 1024;
    char *a = malloc(cap);

    cr_assert(a);
    *count = 0;
    len += (size_t)snprintf(a, cap, "{");
    for (int t = 0; t < n; t++) {
        for (size_t i = 0; i < snd[t].n_acked; i++) {
            if (len + 64 > cap) {
                cap *= 2;
                a = realloc(a, cap);
                cr_assert(a);
            }
            len += (size_t)snprintf(a + len, cap - len, "%s%s-%d", *count ? "," : "", snd[t].prefix,
                                    snd[t].acked[i]);
            ++*count;
        }
    }
    snprintf(a + len, cap - len, "}");
    return th_keep(a);
}

Test(ingest, every_acknowledged_event_survives_kill_9)
{
    struct fx f;
    struct sender snd[N_THREADS];
    pthread_t t[N_THREADS];
    pthread_barrier_t go;
    const char *ids;
    struct th_resp r;
    size_t acked;
    long sent = 0, no_reply = 0;

    start(&f);
    pthread_barrier_init(&go, NULL, N_THREADS + 1);
    for (int i = 0; i < N_THREADS; i++) {
        snd[i] = (struct sender){.base = f.s->base,
                                 .key = f.ingest,
                                 .prefix = th_fmt("k9-%d", i),
                                 .thread = i,
                                 .until = mono_s() + 2.5,
                                 .go = &go};
        cr_assert(pthread_create(&t[i], NULL, send_events, &snd[i]) == 0);
    }
    pthread_barrier_wait(&go);
    usleep(1200 * 1000);
    th_server_crash(f.s); /* mid-load: requests are in flight */
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < N_THREADS; i++) {
        cr_assert(snd[i].not_200 == 0, "thread %d: a reply other than 200: %ld %s", i,
                  snd[i].bad_status, snd[i].bad_body);
        cr_assert(snd[i].odd == 0 && snd[i].accepted == (long)snd[i].n_acked,
                  "thread %d: each 200 should accept its one new event", i);
        sent += snd[i].sent;
        no_reply += snd[i].no_reply;
    }
    ids = acked_array(snd, N_THREADS, &acked);
    for (int i = 0; i < N_THREADS; i++)
        free(snd[i].acked);
    cr_assert(acked >= 50, "the load was too light to mean anything: %zu acknowledged", acked);
    cr_assert(no_reply > 0, "the kill should have cut requests short (%ld sent)", sent);

    /* the same database and spool folder */
    f.s = th_server_start(f.url, "--spool-dir", f.spool, NULL);
    cr_assert_str_eq(th_sql(f.url,
                            "SELECT count(*) FROM usage_events WHERE event_id = ANY($1::text[])",
                            ids, NULL),
                     th_fmt("%zu", acked), "every acknowledged event must be stored, once");
    cr_assert_str_eq(q1(&f, "SELECT count(*) FROM (SELECT event_id FROM usage_events"
                            " GROUP BY event_id HAVING count(*) > 1) x"),
                     "0");
    cr_assert_str_eq(q1(&f, "SELECT count(*) FROM usage_event_ids"), count_events(&f));
    cr_assert_str_eq(q1(&f, "SELECT coalesce(sum(requests), 0) FROM spend_hourly"),
                     count_events(&f));
    cr_assert_str_eq(rollup_sums(&f), event_sums(&f));

    /* and the restarted server knows them */
    post(&f, f.ingest,
         th_fmt("{\"id\":\"%s-%d\",\"team\":\"search\",\"provider\":\"openai\","
                "\"model\":\"gpt-4o\",\"input_tokens\":10,\"output_tokens\":5}",
                snd[0].prefix, 0),
         &r);
    assert_counts(&r, 200, 0, 1, 0, 0);
    th_server_stop(f.s);
}

/* ---- 11. Postgres down: the spool ---- */

/* A Postgres cluster of the test's own, which it can stop under a running server. */
struct own_pg {
    const char *tmp;   /* a folder for the cluster and the spools */
    const char *dir;   /* the cluster's folder */
    const char *url;   /* its database, migrated, with the catalog */
    const char *admin; /* an unscoped admin key */
};

static void own_pg_start(struct own_pg *pg)
{
    struct th_proc p;

    pg->tmp = th_tmpdir();
    pg->dir = th_fmt("%s/pg", pg->tmp);
    pg->url = th_pg_cluster_start(pg->dir);
    th_run(&p, NULL, "migrate", "--database-url", pg->url, NULL);
    cr_assert(p.status == 0, "tollgate migrate failed (%d): %s", p.status, p.err);
    th_prices_import(pg->url);
    pg->admin = th_admin_key(pg->url);
}

/*
 * A server of pg spooling to TMP/spool-NAME (spool_max NULL: the default),
 * with keys cached for key_ttl seconds.
 */
static struct th_server *own_pg_server(const struct own_pg *pg, const char *name,
                                       const char *spool_max, const char *key_ttl)
{
    const char *spool = th_fmt("%s/spool-%s", pg->tmp, name);
    if (spool_max)
        return th_server_start(pg->url, "--spool-dir", spool, "--spool-max", spool_max,
                               "--key-cache-ttl", key_ttl, NULL);
    return th_server_start(pg->url, "--spool-dir", spool, "--key-cache-ttl", key_ttl, NULL);
}

static void send_to(const struct th_server *s, const char *key, const char *body, struct th_resp *r)
{
    th_http(s, "POST", USAGE, key, "application/json", body, r);
}

/* Waits up to 10 s for the spool file to be empty. */
static bool wait_spool_empty(const char *file)
{
    for (int i = 0; i < 200; i++) {
        if (th_file_size(file) == 0)
            return true;
        usleep(50 * 1000);
    }
    return false;
}

Test(ingest, events_spool_while_postgres_is_down_and_replay_once)
{
    enum { N = 5 };
    struct own_pg pg;
    struct th_server *a, *b;
    struct th_resp r;
    const char *key, *file_a, *like_down = "down-%", *like_crash = "crash-%";
    long long size = 0;

    own_pg_start(&pg);
    file_a = th_fmt("%s/spool-a/usage.spool", pg.tmp);
    /* keys are cached 300 s and teams 60 s: both must be known before Postgres goes */
    a = own_pg_server(&pg, "a", NULL, "300");
    b = own_pg_server(&pg, "b", "0", "300"); /* no spool */
    th_create_team(a, pg.admin, "search", NULL, NULL);
    key = th_create_key(a, pg.admin, "ingest", NULL);
    send_to(a, key, event("before-a", ""), &r);
    assert_counts(&r, 200, 1, 0, 0, 0);
    send_to(b, key, event("before-b", ""), &r);
    assert_counts(&r, 200, 1, 0, 0, 0);
    cr_assert_eq(th_file_size(file_a), 0);

    th_pg_cluster_stop(pg.dir);
    for (int i = 0; i < N; i++) {
        send_to(a, key, event(th_fmt("down-%d", i), ""), &r);
        assert_counts(&r, 202, 0, 0, 1, 0);
        cr_assert_gt(th_file_size(file_a), size, "the spool should grow with each event");
        size = th_file_size(file_a);
    }
    /* no spool: refused, with a hint to retry */
    send_to(b, key, event("down-b", ""), &r);
    th_assert_error(&r, 503, "unavailable", NULL);
    cr_assert(th_header(&r, "Retry-After"), "a 503 should carry Retry-After");

    th_pg_cluster_start(pg.dir);
    cr_assert(wait_spool_empty(file_a), "the spool was not replayed within 10 s");
    cr_assert_str_eq(th_sql(pg.url,
                            "SELECT count(*) || '|' || count(DISTINCT event_id) FROM usage_events"
                            " WHERE event_id LIKE $1",
                            like_down, NULL),
                     th_fmt("%d|%d", N, N), "every spooled event stored, once");
    cr_assert_str_eq(
        th_sql(pg.url, "SELECT count(*) FROM usage_events WHERE event_id = 'down-b'", NULL), "0",
        "a 503 must store nothing");
    cr_assert_str_eq(th_sql(pg.url,
                            "SELECT count(*) || '|' || (SELECT sum(requests) FROM spend_hourly)"
                            " || '|' || (SELECT count(*) FROM usage_event_ids) FROM usage_events",
                            NULL),
                     th_fmt("%d|%d|%d", N + 2, N + 2, N + 2));

    /* re-sent now: duplicates; the refused one was never stored */
    for (int i = 0; i < N; i++) {
        send_to(a, key, event(th_fmt("down-%d", i), ""), &r);
        assert_counts(&r, 200, 0, 1, 0, 0);
    }
    send_to(b, key, event("down-b", ""), &r);
    assert_counts(&r, 200, 1, 0, 0, 0);
    th_server_stop(b);

    /* a spool left by a server that died is replayed by the next one on that folder */
    th_pg_cluster_stop(pg.dir);
    for (int i = 0; i < N; i++) {
        send_to(a, key, event(th_fmt("crash-%d", i), ""), &r);
        assert_counts(&r, 202, 0, 0, 1, 0);
    }
    cr_assert_gt(th_file_size(file_a), 0);
    th_server_crash(a);
    th_pg_cluster_start(pg.dir);
    a = own_pg_server(&pg, "a", NULL, "300");
    cr_assert(wait_spool_empty(file_a), "the dead server's spool was not replayed within 10 s");
    cr_assert_str_eq(th_sql(pg.url,
                            "SELECT count(*) || '|' || count(DISTINCT event_id) FROM usage_events"
                            " WHERE event_id LIKE $1",
                            like_crash, NULL),
                     th_fmt("%d|%d", N, N));
    cr_assert_str_eq(th_sql(pg.url,
                            "SELECT count(*) || '|' || (SELECT sum(requests) FROM spend_hourly)"
                            " FROM usage_events",
                            NULL),
                     th_fmt("%d|%d", 2 * N + 3, 2 * N + 3));
    th_server_stop(a);
    th_pg_cluster_destroy(pg.dir);
}

Test(ingest, a_spool_line_postgres_refuses_does_not_block_ingest)
{
    struct fx f;
    struct th_resp r;
    FILE *spool;

    start(&f);
    th_server_stop(f.s);
    spool = fopen(th_fmt("%s/usage.spool", f.spool), "w");
    cr_assert(spool, "cannot write the spool file");
    fputs("0\tnot\ta\tspooled\tevent\n", spool);
    fclose(spool);
    f.s = th_server_start(f.url, "--spool-dir", f.spool, NULL);
    post(&f, f.ingest, event("after", ""), &r);
    assert_counts(&r, 200, 1, 0, 0, 0);
    cr_assert_str_eq(count_events(&f), "1");
    th_server_stop(f.s);
}

Test(ingest, the_spool_outlives_the_key_cache)
{
    struct own_pg pg;
    struct th_server *s;
    struct th_resp r;
    const char *key;

    own_pg_start(&pg);
    s = own_pg_server(&pg, "s", NULL, "1");
    th_create_team(s, pg.admin, "search", NULL, NULL);
    key = th_create_key(s, pg.admin, "ingest", NULL);
    send_to(s, key, event("before", ""), &r);
    assert_counts(&r, 200, 1, 0, 0, 0);
    th_pg_cluster_stop(pg.dir);
    sleep(2); /* the key's cache entry (1 s) has expired; the team's (60 s) has not */
    send_to(s, key, event("down", ""), &r);
    assert_counts(&r, 202, 0, 0, 1, 0);
    th_pg_cluster_start(pg.dir);
    th_server_stop(s);
    th_pg_cluster_destroy(pg.dir);
}

Test(ingest, metrics_show_the_spool_and_the_commits)
{
    struct own_pg pg;
    struct th_server *s;
    struct th_resp r;
    const char *key, *file, *commits, *spool_bytes;

    own_pg_start(&pg);
    file = th_fmt("%s/spool-s/usage.spool", pg.tmp);
    s = own_pg_server(&pg, "s", NULL, "300");
    th_create_team(s, pg.admin, "search", NULL, NULL);
    key = th_create_key(s, pg.admin, "ingest", NULL);
    send_to(s, key, event("m-1", ""), &r);
    assert_counts(&r, 200, 1, 0, 0, 0);
    commits = metric(s, "tollgate_ingest_commits_total");
    th_pg_cluster_stop(pg.dir);
    send_to(s, key, event("m-2", ""), &r);
    assert_counts(&r, 202, 0, 0, 1, 0);
    cr_assert_gt(th_file_size(file), 0);
    spool_bytes = metric(s, "tollgate_spool_bytes");
    cr_assert(commits && !strcmp(commits, "1") && spool_bytes &&
                  !strcmp(spool_bytes, th_fmt("%lld", th_file_size(file))),
              "after one commit and one spooled event: tollgate_ingest_commits_total %s (want 1),"
              " tollgate_spool_bytes %s (want the spool's size, %lld)",
              commits ? commits : "absent", spool_bytes ? spool_bytes : "absent",
              th_file_size(file));
    th_pg_cluster_start(pg.dir);
    th_server_stop(s);
    th_pg_cluster_destroy(pg.dir);
}

/* ---- 12. the admin prices API ---- */

Test(ingest, admin_prices_validate_and_list)
{
    struct fx f;
    struct th_resp r;
    const char *scoped;
    json_t *list, *mine;

    start(&f);
    scoped = th_create_key(f.s, f.admin, "admin", "search");
    th_json(f.s, "POST", "/v1/admin/prices", f.admin, &r,
            "{\"provider\":\"vllm\",\"model\":\"m\",\"output\":\"1\"}");
    th_assert_error(&r, 400, "missing_field", "input");
    th_json(f.s, "POST", "/v1/admin/prices", f.admin, &r,
            "{\"provider\":\"vllm\",\"model\":\"m\",\"input\":\"0.1234567\",\"output\":\"1\"}");
    th_assert_error(&r, 422, "invalid_value", "input");
    th_json(f.s, "POST", "/v1/admin/prices", f.admin, &r,
            "{\"provider\":\"vllm\",\"model\":\"m\",\"input\":\"1\",\"output\":\"1\","
            "\"batch_multiplier\":\"0.5555\"}");
    th_assert_error(&r, 422, "invalid_value", "batch_multiplier");
    th_json(f.s, "POST", "/v1/admin/prices", f.admin, &r,
            "{\"provider\":\"VLLM\",\"model\":\"m\",\"input\":\"1\",\"output\":\"1\"}");
    th_assert_error(&r, 422, "invalid_value", "provider");
    th_json(f.s, "POST", "/v1/admin/prices", f.admin, &r,
            "{\"model\":\"m\",\"input\":\"1\",\"output\":\"1\"}");
    th_assert_error(&r, 400, "missing_field", "provider");
    th_json(f.s, "POST", "/v1/admin/prices", f.admin, &r,
            "{\"provider\":\"vllm\",\"model\":\"m\",\"input\":\"1\",\"output\":\"1\","
            "\"discount\":\"1\"}");
    th_assert_error(&r, 400, "unknown_field", "discount");
    th_json(f.s, "POST", "/v1/admin/prices", scoped, &r,
            "{\"provider\":\"vllm\",\"model\":\"m\",\"input\":\"1\",\"output\":\"1\"}");
    th_assert_error(&r, 403, "forbidden", NULL);
    th_json(f.s, "POST", "/v1/admin/prices", f.ingest, &r,
            "{\"provider\":\"vllm\",\"model\":\"m\",\"input\":\"1\",\"output\":\"1\"}");
    th_assert_error(&r, 403, "forbidden", NULL);
    cr_assert_str_eq(q1(&f, "SELECT count(*) FROM prices WHERE org_id IS NOT NULL"), "0");

    /* six decimals are fine; the same provider, model, time and tier again is a conflict */
    th_json(f.s, "POST", "/v1/admin/prices", f.admin, &r,
            "{\"provider\":\"vllm\",\"model\":\"m\",\"input\":\"0.123456\",\"output\":1.5,"
            "\"cache_read\":\"0.05\",\"batch_multiplier\":\"0.5\","
            "\"effective_from\":\"2026-01-01T00:00:00Z\"}");
    th_assert_status(&r, 201);
    cr_assert(th_jstr(r.json, "input") && !strcmp(th_jstr(r.json, "input"), "0.123456") &&
                  th_jstr(r.json, "output") && !strcmp(th_jstr(r.json, "output"), "1.5") &&
                  !strcmp(th_jstr(r.json, "scope"), "org"),
              "%s", r.body);
    th_json(f.s, "POST", "/v1/admin/prices", f.admin, &r,
            "{\"provider\":\"vllm\",\"model\":\"m\",\"input\":\"9\",\"output\":\"9\","
            "\"effective_from\":\"2026-01-01T00:00:00Z\"}");
    th_assert_error(&r, 409, "conflict", "effective_from");
    /* another tier at that time is not */
    th_json(f.s, "POST", "/v1/admin/prices", f.admin, &r,
            "{\"provider\":\"vllm\",\"model\":\"m\",\"input\":\"2\",\"output\":\"3\","
            "\"min_prompt_tokens\":200000,\"effective_from\":\"2026-01-01T00:00:00Z\"}");
    th_assert_status(&r, 201);
    cr_assert_str_eq(q1(&f, "SELECT count(*) FROM prices WHERE org_id IS NOT NULL"), "2");

    th_http(f.s, "GET", "/v1/admin/prices?provider=vllm&model=m", f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    list = th_jarray(&r, "prices");
    cr_assert_eq(json_array_size(list), 2, "%s", r.body);
    mine = json_array_get(list, 0);
    cr_assert(!strcmp(th_jstr(mine, "scope"), "org") &&
                  !strcmp(th_jstr(mine, "provider"), "vllm") &&
                  !strcmp(th_jstr(mine, "model"), "m") && jint(mine, "min_prompt_tokens") == 0 &&
                  !strcmp(th_jstr(mine, "input"), "0.123456") &&
                  !strcmp(th_jstr(mine, "cache_read"), "0.05") &&
                  !strcmp(th_jstr(mine, "output"), "1.5") &&
                  !strcmp(th_jstr(mine, "batch_multiplier"), "0.5"),
              "GET should list the org's price: %s", r.body);
    /* the list prices are there too */
    th_http(f.s, "GET", "/v1/admin/prices?provider=openai&model=gpt-4o", f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    mine = json_array_get(th_jarray(&r, "prices"), 0);
    cr_assert(mine && !strcmp(th_jstr(mine, "scope"), "list") &&
                  !strcmp(th_jstr(mine, "input"), "2.5") && !strcmp(th_jstr(mine, "output"), "10"),
              "%s", r.body);
    th_server_stop(f.s);
}
