/*
 * POST /v1/traces: OTLP/JSON exports (the protobuf decoder is covered by
 * tests/unit/otlp.c and genai.c) through the real server into Postgres.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

TH_SUITE(traces);

#define TRACE "5b8efff798038103d269b633813fc60c"

/* An export: one GenAI span (3000 input of which 2000 cached, 500 output), one plain span. */
static const char *export_json(const char *resource_team, const char *span_id)
{
    return th_fmt(
        "{\"resourceSpans\":[{\"resource\":{\"attributes\":["
        "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"checkout\"}}%s]},"
        "\"scopeSpans\":[{\"scope\":{\"name\":\"test\"},\"spans\":["
        "{\"traceId\":\"" TRACE "\",\"spanId\":\"%s\",\"name\":\"chat gpt-4o\","
        "\"startTimeUnixNano\":\"1764280000000000000\",\"endTimeUnixNano\":\"1764280001000000000\","
        "\"attributes\":[{\"key\":\"gen_ai.provider.name\",\"value\":{\"stringValue\":\"openai\"}},"
        "{\"key\":\"gen_ai.response.model\",\"value\":{\"stringValue\":\"gpt-4o\"}},"
        "{\"key\":\"gen_ai.usage.input_tokens\",\"value\":{\"intValue\":\"3000\"}},"
        "{\"key\":\"gen_ai.usage.cache_read.input_tokens\",\"value\":{\"intValue\":2000}},"
        "{\"key\":\"gen_ai.usage.output_tokens\",\"value\":{\"intValue\":\"500\"}}]},"
        "{\"traceId\":\"" TRACE "\",\"spanId\":\"aaaaaaaaaaaaaaaa\",\"name\":\"GET /\"}"
        "]}]}]}",
        resource_team ? th_fmt(",{\"key\":\"tollgate.team\",\"value\":{\"stringValue\":\"%s\"}}",
                               resource_team)
                      : "",
        span_id);
}

struct fx {
    const char *url, *admin, *ingest;
    struct th_server *s;
};

static void start(struct fx *f, const char *extra)
{
    f->url = th_db_priced();
    f->admin = th_admin_key(f->url);
    f->ingest = th_cli_key(f->url, "ingest", NULL);
    f->s = th_server_start(f->url, "--spool-dir", th_tmpdir(), extra, NULL);
    th_create_team(f->s, f->admin, "search", NULL, NULL);
}

static void post(struct fx *f, const char *key, const char *body, struct th_resp *r)
{
    th_http(f->s, "POST", "/v1/traces", key, "application/json", body, r);
}

Test(traces, a_genai_span_becomes_an_exact_event_and_a_reexport_is_a_duplicate)
{
    struct fx f;
    struct th_resp r;

    start(&f, NULL);
    post(&f, f.ingest, export_json("search", "eee19b7ec3c1b174"), &r);
    th_assert_status(&r, 200);
    cr_assert_str_eq(r.body, "{}", "nothing rejected: no partialSuccess");
    cr_assert_str_eq(th_header(&r, "Content-Type"), "application/json");
    /* gpt-4o: 1000 uncached x $2.50 + 2000 cached x $1.25 + 500 x $10 per million = $0.01 */
    cr_assert_str_eq(
        th_sql(f.url,
               "SELECT event_id || '|' || input_uncached || '|' || cache_read || '|'"
               " || output || '|' || effective_cost || '|' || list_cost || '|' || source"
               " FROM usage_events",
               NULL),
        TRACE "-eee19b7ec3c1b174|1000|2000|500|0.01|0.0125|otlp");
    post(&f, f.ingest, export_json("search", "eee19b7ec3c1b174"), &r);
    th_assert_status(&r, 200);
    cr_assert_str_eq(th_sql(f.url, "SELECT sum(requests)::text FROM spend_hourly", NULL), "1",
                     "a re-export must not count twice");
    th_server_stop(f.s);
}

Test(traces, partial_success_names_rejected_spans_and_bad_bodies_get_a_status)
{
    struct fx f;
    struct th_resp r;

    start(&f, NULL);
    /* no team anywhere and no default team: the span is rejected, the request still 200 */
    post(&f, f.ingest, export_json(NULL, "eee19b7ec3c1b177"), &r);
    th_assert_status(&r, 200);
    cr_assert_not_null(r.json);
    json_t *ps = json_object_get(r.json, "partialSuccess");
    cr_assert_str_eq(json_string_value(json_object_get(ps, "rejectedSpans")), "1");
    cr_assert_not_null(strstr(json_string_value(json_object_get(ps, "errorMessage")), "team"));
    /* an unknown team is a rejected span too */
    post(&f, f.ingest, export_json("nope", "eee19b7ec3c1b178"), &r);
    th_assert_status(&r, 200);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "partialSuccess"),
                                                       "rejectedSpans")),
                     "1");
    /* undecodable: 400 with a google.rpc.Status in JSON */
    post(&f, f.ingest, "{\"resourceSpans\":7}", &r);
    th_assert_status(&r, 400);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "code")), 3);
    /* wrong content type, no key */
    th_http(f.s, "POST", "/v1/traces", f.ingest, "text/plain", "x", &r);
    th_assert_error(&r, 415, "unsupported_media_type", NULL);
    th_http(f.s, "POST", "/v1/traces", NULL, "application/json", "{}", &r);
    th_assert_error(&r, 401, "unauthenticated", NULL);
    cr_assert_str_eq(th_sql(f.url, "SELECT count(*) FROM usage_events", NULL), "0");
    th_server_stop(f.s);
}

Test(traces, the_default_team_takes_spans_that_name_none)
{
    struct fx f;
    struct th_resp r;

    start(&f, "--otlp-default-team=search");
    post(&f, f.ingest, export_json(NULL, "eee19b7ec3c1b179"), &r);
    th_assert_status(&r, 200);
    cr_assert_str_eq(r.body, "{}");
    cr_assert_str_eq(
        th_sql(f.url, "SELECT t.slug FROM usage_events e JOIN teams t ON t.id = e.team_id", NULL),
        "search");
    th_server_stop(f.s);
}

Test(traces, a_scoped_key_cannot_write_another_teams_spans)
{
    struct fx f;
    struct th_resp r;
    const char *scoped;

    start(&f, NULL);
    th_create_team(f.s, f.admin, "other", NULL, NULL);
    scoped = th_cli_key(f.url, "ingest", "other");
    post(&f, scoped, export_json("search", "eee19b7ec3c1b17a"), &r);
    th_assert_status(&r, 200);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "partialSuccess"),
                                                       "rejectedSpans")),
                     "1");
    cr_assert_str_eq(th_sql(f.url, "SELECT count(*) FROM usage_events", NULL), "0");
    th_server_stop(f.s);
}
