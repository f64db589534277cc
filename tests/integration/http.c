/*
 * http: the HTTP layer of a real `tollgate serve`: health and readiness,
 * routing errors, authentication and roles, body limits and parsing,
 * request ids, metrics, and shutdown.
 */
#include "harness.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

TH_SUITE(http);

/* A well-formed key that no database holds. */
#define UNKNOWN_KEY "tg_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

static const char *json_int(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? th_fmt("%lld", (long long)json_integer_value(v)) : "(none)";
}

/* ---- health ---- */

Test(http, healthz_answers_200_json)
{
    struct th_server *s = th_server_start(th_db_migrated(), NULL);
    struct th_resp r;

    th_http(s, "GET", "/healthz", NULL, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_assert_str_eq(th_header(&r, "Content-Type"), "application/json");
    cr_assert_str_eq(th_jstr(r.json, "status"), "ok");
    cr_assert_str_eq(th_header(&r, "X-Content-Type-Options"), "nosniff");
    th_http(s, "HEAD", "/healthz", NULL, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_assert_eq(r.body_len, 0, "HEAD should send no body");
    th_server_stop(s);
}

Test(http, readyz_reports_the_schema_version)
{
    const char *url = th_db_migrated();
    struct th_server *s = th_server_start(url, NULL);
    struct th_resp r;

    th_http(s, "GET", "/readyz", NULL, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_assert_str_eq(th_jstr(r.json, "status"), "ready");
    cr_assert_str_eq(json_int(r.json, "schema_version"),
                     th_sql(url, "SELECT max(version) FROM schema_migrations", NULL));
    th_server_stop(s);
}

Test(http, readyz_is_503_when_a_migration_goes_missing)
{
    const char *url = th_db_migrated();
    struct th_server *s = th_server_start(url, NULL);
    struct th_resp r;

    th_sql(url,
           "DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM"
           " schema_migrations)",
           NULL);
    th_http(s, "GET", "/readyz", NULL, NULL, NULL, &r);
    th_assert_error(&r, 503, "not_migrated", NULL);
    th_server_stop(s);
}

Test(http, readyz_is_503_and_healthz_200_when_the_database_is_gone)
{
    const char *url = th_db_migrated(), *key = th_admin_key(url);
    struct th_server *s = th_server_start(url, NULL);
    struct th_resp r;

    th_http(s, "GET", "/readyz", NULL, NULL, NULL, &r);
    th_assert_status(&r, 200);
    th_db_drop(url);              /* terminates the server's sessions too */
    for (int i = 0; i < 2; i++) { /* the first finds a dead session, the second cannot connect */
        th_http(s, "GET", "/readyz", NULL, NULL, NULL, &r);
        th_assert_error(&r, 503, "database_unreachable", NULL);
    }
    th_http(s, "GET", "/healthz", NULL, NULL, NULL, &r);
    th_assert_status(&r, 200);
    th_http(s, "GET", "/v1/admin/teams", key, NULL, NULL, &r);
    th_assert_error(&r, 503, "unavailable", NULL);
    cr_assert_str_eq(th_header(&r, "Retry-After"), "5");
    th_server_stop(s);
}

Test(http, a_clean_run_logs_only_json_info_lines)
{
    struct th_server *s = th_server_start(th_db_migrated(), NULL);
    struct th_resp r;
    const char *log;
    char *line, *save = NULL;
    int n = 0;

    th_http(s, "GET", "/nope", NULL, NULL, NULL, &r);
    th_http(s, "GET", "/v1/admin/teams", NULL, NULL, NULL, &r);
    log = th_server_stop(s);
    for (line = strtok_r(th_fmt("%s", log), "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(line, 0, NULL);
        const char *level = th_jstr(j, "level");
        bool ok = j && th_jstr(j, "ts") && th_jstr(j, "msg") && level && !strcmp(level, "info");
        json_decref(j);
        cr_assert(ok, "a clean run should log JSON info lines with ts and msg only:\n%s\nlog:\n%s",
                  line, log);
        n++;
    }
    cr_assert_geq(n, 5, "too few log lines (start, 4 requests, stop):\n%s", log);
}

/* ---- routing ---- */

Test(http, unknown_routes_are_404_json)
{
    static const char *const paths[] = {"/nope", "/v1/nope", "/v1/admin/teams/", "/v1/admin",
                                        "/healthz/x"};
    struct th_server *s = th_server_start(th_db_migrated(), NULL);

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct th_resp r;
        th_http(s, "GET", paths[i], NULL, NULL, NULL, &r);
        th_assert_error(&r, 404, "not_found", NULL);
    }
    th_server_stop(s);
}

/* True if the Allow header lists exactly the methods in want (", "-separated, any order). */
static bool allow_is(const char *allow, const char *want)
{
    char *a = th_fmt("%s", allow), *w = th_fmt("%s", want), *tok, *save = NULL;
    int na = 0, nw = 0;

    for (tok = strtok_r(w, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save), nw++)
        if (!strstr(th_fmt(", %s, ", a), th_fmt(" %s,", tok)))
            return false;
    save = NULL;
    for (tok = strtok_r(a, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
        na++;
    return na == nw;
}

Test(http, wrong_methods_are_405_with_an_allow_header)
{
    static const struct {
        const char *method, *path, *allow;
    } cases[] = {
        {"POST", "/healthz", "GET"},
        {"DELETE", "/readyz", "GET"},
        {"PUT", "/v1/admin/teams", "GET, POST"},
        {"POST", "/v1/admin/teams/eng", "GET, PATCH, DELETE"},
        {"PATCH", "/v1/admin/keys", "GET, POST"},
        {"GET", "/v1/admin/keys/1/revoke", "POST"},
        {"PUT", "/v1/admin/keys/1", "GET, DELETE"},
    };
    const char *url = th_db_migrated(), *key = th_admin_key(url);
    struct th_server *s = th_server_start(url, NULL);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct th_resp r;
        th_http(s, cases[i].method, cases[i].path, key, NULL, NULL, &r);
        th_assert_error(&r, 405, "method_not_allowed", NULL);
        if (!th_header(&r, "Allow") || !allow_is(th_header(&r, "Allow"), cases[i].allow))
            th_fail_resp(&r, "Allow should be '%s'", cases[i].allow);
    }
    th_server_stop(s);
}

/* ---- authentication and roles ---- */

Test(http, admin_routes_need_a_key)
{
    static const char *const auths[] = {NULL, "Authorization: Basic YWRtaW46YWRtaW4=",
                                        "Authorization: Bearer", "Authorization: tg_x"};
    struct th_server *s = th_server_start(th_db_migrated(), NULL);

    for (size_t i = 0; i < sizeof(auths) / sizeof(auths[0]); i++) {
        const char *hdrs[] = {auths[i], NULL};
        struct th_req req = {.method = "GET", .path = "/v1/admin/teams", .headers = hdrs};
        struct th_resp r;
        th_http_req(s, &req, &r);
        th_assert_error(&r, 401, "unauthenticated", NULL);
        cr_assert_str_eq(th_header(&r, "Cache-Control"), "no-store");
    }
    th_server_stop(s);
}

Test(http, malformed_and_unknown_keys_are_401)
{
    const char *url = th_db_migrated(), *key = th_admin_key(url);
    const char *const keys[] = {
        "abc",
        "tg_short",
        th_fmt("%s=", key),
        th_fmt("%sA", key),
        th_fmt("xx%s", key + 2),
        th_fmt("%.45s!", key),
        UNKNOWN_KEY,
    };
    struct th_server *s = th_server_start(url, NULL);

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        struct th_resp r;
        th_http(s, "GET", "/v1/admin/keys", keys[i], NULL, NULL, &r);
        th_assert_error(&r, 401, "unauthenticated", NULL);
    }
    /* The scheme is case-insensitive and extra spaces before the key are fine. */
    const char *hdrs[] = {th_fmt("Authorization: bearer   %s", key), NULL};
    struct th_req req = {.method = "GET", .path = "/v1/admin/keys", .headers = hdrs};
    struct th_resp r;
    th_http_req(s, &req, &r);
    th_assert_status(&r, 200);
    th_server_stop(s);
}

Test(http, non_admin_roles_are_403_on_admin_routes)
{
    static const char *const roles[] = {"ingest", "read", "verdict"};
    static const struct {
        const char *method, *path, *body;
    } routes[] = {
        {"GET", "/v1/admin/teams", NULL},     {"POST", "/v1/admin/teams", "{\"slug\":\"x\"}"},
        {"GET", "/v1/admin/keys", NULL},      {"POST", "/v1/admin/keys", "{\"role\":\"admin\"}"},
        {"DELETE", "/v1/admin/keys/1", NULL},
    };
    const char *url = th_db_migrated();
    struct th_server *s = th_server_start(url, NULL);

    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
        const char *key = th_cli_key(url, roles[i], NULL);
        for (size_t j = 0; j < sizeof(routes) / sizeof(routes[0]); j++) {
            struct th_resp r;
            th_http(s, routes[j].method, routes[j].path, key,
                    routes[j].body ? "application/json" : NULL, routes[j].body, &r);
            th_assert_error(&r, 403, "forbidden", NULL);
        }
    }
    cr_assert_str_eq(th_sql(url, "SELECT count(*) FROM teams", NULL), "0");
    cr_assert_str_eq(
        th_sql(url, "SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL", NULL), "0");
    th_server_stop(s);
}

/* ---- bodies ---- */

/* A JSON object creating team slug, padded with spaces to exactly len bytes. */
static char *padded_team(const char *slug, size_t len)
{
    char *b = th_fmt("{\"slug\":\"%s\"}%*s", slug, (int)(len - strlen(slug) - 11), "");
    cr_assert_eq(strlen(b), len);
    return b;
}

Test(http, bodies_over_max_body_are_413_with_content_length_or_chunked)
{
    const char *url = th_db_migrated(), *key = th_admin_key(url);
    struct th_server *s = th_server_start(url, "--max-body", "2048", NULL);

    for (int chunked = 0; chunked <= 1; chunked++) {
        struct th_req req = {.method = "POST",
                             .path = "/v1/admin/teams",
                             .key = key,
                             .content_type = "application/json",
                             .chunked = chunked,
                             .piece = chunked ? 700 : 0};
        struct th_resp r;

        req.body = padded_team(chunked ? "big-chunked" : "big", 4096);
        th_http_req(s, &req, &r);
        th_assert_error(&r, 413, "payload_too_large", NULL);
        req.body = padded_team(chunked ? "over-chunked" : "over", 2049);
        th_http_req(s, &req, &r);
        th_assert_error(&r, 413, "payload_too_large", NULL);
        /* exactly the limit is fine */
        req.body = padded_team(chunked ? "edge-chunked" : "edge", 2048);
        th_http_req(s, &req, &r);
        th_assert_status(&r, 201);
    }
    cr_assert_str_eq(th_sql(url, "SELECT string_agg(slug, ',' ORDER BY slug) FROM teams", NULL),
                     "edge,edge-chunked");
    th_server_stop(s);
}

Test(http, invalid_json_is_400)
{
    static const char *const bodies[] = {
        "{x",
        "",
        "[]",
        "\"slug\"",
        "null",
        "{\"slug\":\"a\"} {}",
        "{\"slug\":\"a\",\"slug\":\"b\"}",
        "{\"slug\":\"a\"",
    };
    const char *url = th_db_migrated(), *key = th_admin_key(url);
    struct th_server *s = th_server_start(url, NULL);

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct th_req req = {.method = "POST",
                             .path = "/v1/admin/teams",
                             .key = key,
                             .content_type = "application/json",
                             .body = bodies[i]};
        struct th_resp r;
        th_http_req(s, &req, &r);
        th_assert_error(&r, 400, "invalid_json", NULL);
    }
    cr_assert_str_eq(th_sql(url, "SELECT count(*) FROM teams", NULL), "0");
    th_server_stop(s);
}

Test(http, content_type_must_be_json)
{
    static const char *const bad[] = {"text/plain", "application/x-www-form-urlencoded",
                                      "multipart/form-data; boundary=x"};
    const char *url = th_db_migrated(), *key = th_admin_key(url);
    struct th_server *s = th_server_start(url, NULL);
    struct th_resp r;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        th_http(s, "POST", "/v1/admin/teams", key, bad[i], "{\"slug\":\"a\"}", &r);
        th_assert_error(&r, 415, "unsupported_media_type", NULL);
    }
    th_http(s, "POST", "/v1/admin/teams", key, "application/json; charset=utf-8",
            "{\"slug\":\"a\"}", &r);
    th_assert_status(&r, 201);
    th_server_stop(s);
}

/* ---- request ids ---- */

Test(http, every_response_has_a_request_id_and_valid_ones_are_echoed)
{
    const char *long_ok = th_fmt("%064d", 7), *long_bad = th_fmt("%065d", 7);
    static const char *const valid[] = {"abc-123", "A.b_c:d-9", "x"};
    const char *const invalid[] = {"a b", "abc/def", "é", long_bad, "<script>"};
    const char *url = th_db_migrated();
    struct th_server *s = th_server_start(url, NULL);
    struct th_resp r;
    const char *first;

    /* Generated ids: on success and on errors, and different each time. */
    th_http(s, "GET", "/healthz", NULL, NULL, NULL, &r);
    first = th_header(&r, "X-Request-Id");
    cr_assert(first && th_matches(first, "^[0-9a-f]{16}$"), "generated id '%s'", first);
    th_http(s, "GET", "/nope", NULL, NULL, NULL, &r);
    th_assert_error(&r, 404, "not_found", NULL); /* checks error.request_id = header */
    cr_assert_str_neq(th_header(&r, "X-Request-Id"), first, "request ids should differ");
    th_http(s, "GET", "/metrics", NULL, NULL, NULL, &r);
    cr_assert(th_header(&r, "X-Request-Id"), "/metrics has no X-Request-Id");

    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]) + 1; i++) {
        const char *id = i < sizeof(valid) / sizeof(valid[0]) ? valid[i] : long_ok;
        const char *hdrs[] = {th_fmt("X-Request-Id: %s", id), NULL};
        struct th_req req = {.method = "GET", .path = "/v1/admin/teams", .headers = hdrs};
        th_http_req(s, &req, &r);
        th_assert_error(&r, 401, "unauthenticated", NULL);
        cr_assert_str_eq(th_header(&r, "X-Request-Id"), id, "a valid id should be echoed");
        cr_assert(th_server_log_wait(s, th_fmt("\"req\":\"%s\"", id), 2000),
                  "the log should carry the request id %s", id);
    }
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        const char *hdrs[] = {th_fmt("X-Request-Id: %s", invalid[i]), NULL};
        struct th_req req = {.method = "GET", .path = "/nope", .headers = hdrs};
        th_http_req(s, &req, &r);
        th_assert_error(&r, 404, "not_found", NULL);
        cr_assert(th_matches(th_header(&r, "X-Request-Id"), "^[0-9a-f]{16}$"),
                  "invalid id '%s' should be replaced, got '%s'", invalid[i],
                  th_header(&r, "X-Request-Id"));
    }
    th_server_stop(s);
}

/* ---- metrics ---- */

/* The value of the metrics sample line "series value", or NULL. */
static const char *sample(const char *text, const char *series)
{
    const char *p = text, *want = th_fmt("%s ", series);

    while ((p = strstr(p, want)) != NULL) {
        if (p == text || p[-1] == '\n') {
            p += strlen(want);
            return th_fmt("%.*s", (int)strcspn(p, "\n"), p);
        }
        p++;
    }
    return NULL;
}

/* Polls /metrics until series reads value: a request is counted just after its reply is sent. */
static const char *metrics_until(struct th_server *s, const char *series, const char *value)
{
    struct th_resp r;
    for (int i = 0; i < 100; i++) {
        th_http(s, "GET", "/metrics", NULL, NULL, NULL, &r);
        th_assert_status(&r, 200);
        const char *v = sample(r.body, series);
        if (v && !strcmp(v, value))
            return r.body;
        usleep(20000);
    }
    th_fail_resp(&r, "%s should be %s (is %s)", series, value,
                 sample(r.body, series) ? sample(r.body, series) : "absent");
}

Test(http, metrics_count_requests_by_route_method_and_code)
{
    static const char *const series[][2] = {
        {"tollgate_http_requests_total{route=\"/readyz\",method=\"GET\",code=\"200\"}", "3"},
        {"tollgate_http_requests_total{route=\"unmatched\",method=\"GET\",code=\"404\"}", "2"},
        {"tollgate_http_requests_total{route=\"/v1/admin/teams\",method=\"GET\",code=\"401\"}",
         "1"},
        {"tollgate_http_requests_total{route=\"/v1/admin/teams\",method=\"POST\",code=\"201\"}",
         "1"},
        {"tollgate_http_requests_total{route=\"/v1/admin/teams/{slug}\",method=\"PATCH\","
         "code=\"404\"}",
         "1"},
        {"tollgate_http_request_duration_seconds_count{route=\"/readyz\"}", "3"},
        {"tollgate_http_request_duration_seconds_bucket{route=\"/readyz\",le=\"+Inf\"}", "3"},
    };
    const char *url = th_db_migrated(), *key = th_admin_key(url), *text = NULL, *p;
    struct th_server *s = th_server_start(url, NULL);
    struct th_resp r;
    double prev = 0;
    int buckets = 0;

    for (int i = 0; i < 3; i++)
        th_http(s, "GET", "/readyz", NULL, NULL, NULL, &r);
    for (int i = 0; i < 2; i++)
        th_http(s, "GET", "/nope", NULL, NULL, NULL, &r);
    th_http(s, "GET", "/v1/admin/teams", NULL, NULL, NULL, &r);
    th_json(s, "POST", "/v1/admin/teams", key, &r, "{\"slug\":\"m\"}");
    th_assert_status(&r, 201);
    th_json(s, "PATCH", "/v1/admin/teams/zz", key, &r, "{\"name\":\"Z\"}");
    th_assert_status(&r, 404);
    th_http(s, "POST", "/healthz", NULL, NULL, NULL, &r);
    th_assert_status(&r, 405);

    for (size_t i = 0; i < sizeof(series) / sizeof(series[0]); i++)
        text = metrics_until(s, series[i][0], series[i][1]);
    th_http(s, "GET", "/metrics", NULL, NULL, NULL, &r);
    cr_assert(!strncmp(th_header(&r, "Content-Type"), "text/plain", 10), "Content-Type %s",
              th_header(&r, "Content-Type"));
    cr_assert(strstr(text, "# TYPE tollgate_http_requests_total counter\n"), "%s", text);
    cr_assert(strstr(text, "# TYPE tollgate_http_request_duration_seconds histogram\n"), "%s",
              text);
    cr_assert(strstr(text, "method=\"POST\",code=\"405\"} 1\n"), "the 405 is not counted:\n%s",
              text);
    /* The histogram of /readyz: cumulative buckets ending at the count, and a sum. */
    for (p = text; (p = strstr(p, "tollgate_http_request_duration_seconds_bucket{route=\"/readyz\","
                                  "le=\"")) != NULL;
         p++) {
        double v = atof(strchr(p, '}') + 2);
        cr_assert(v >= prev && v <= 3, "buckets must be cumulative:\n%s", text);
        prev = v;
        buckets++;
    }
    cr_assert_geq(buckets, 2, "too few buckets:\n%s", text);
    p = sample(text, "tollgate_http_request_duration_seconds_sum{route=\"/readyz\"}");
    cr_assert(p && atof(p) > 0, "no duration sum for /readyz:\n%s", text);
    th_server_stop(s);
}

/* ---- shutdown ---- */

Test(http, sigterm_while_idle_exits_0_and_logs_stopped)
{
    static const int sigs[] = {SIGTERM, SIGINT};
    const char *url = th_db_migrated();

    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct th_server *s = th_server_start(url, NULL);
        int port = s->port;

        th_server_kill(s, sigs[i]);
        cr_assert_eq(th_server_wait(s, 5000), 0, "exit status after signal %d", sigs[i]);
        const char *log = th_server_stop(s); /* checks status 0 and no sanitizer report */
        cr_assert(strstr(log, sigs[i] == SIGTERM ? "SIGTERM received" : "SIGINT received"),
                  "log:\n%s", log);
        cr_assert(strstr(log, "\"msg\":\"stopped\""), "no 'stopped' line in the log:\n%s", log);
        cr_assert(!th_port_open(port), "port %d still accepts connections", port);
    }
}

struct in_flight {
    struct th_server *s;
    bool refused; /* a new connection was refused while draining */
};

/* Before the second piece of the body: SIGTERM, then wait until the server drains. */
static void sigterm_mid_body(void *arg, int piece)
{
    struct in_flight *f = arg;

    if (piece != 1)
        return;
    th_server_kill(f->s, SIGTERM);
    cr_assert(th_server_log_wait(f->s, "SIGTERM received", 5000), "no 'SIGTERM received' logged");
    for (int i = 0; i < 100 && !f->refused; i++) {
        f->refused = !th_port_open(f->s->port);
        if (!f->refused)
            usleep(10000);
    }
}

Test(http, sigterm_lets_a_request_in_flight_finish_and_refuses_new_ones)
{
    const char *url = th_db_migrated(), *key = th_admin_key(url);
    struct th_server *s = th_server_start(url, NULL);
    struct in_flight f = {s, false};
    struct th_req req = {.method = "POST",
                         .path = "/v1/admin/teams",
                         .key = key,
                         .content_type = "application/json",
                         .body = "{\"slug\":\"inflight\",\"name\":\"In flight\"}",
                         .piece = 10,
                         .between = sigterm_mid_body,
                         .arg = &f};
    struct th_resp r;

    th_http_req(s, &req, &r);
    th_assert_status(&r, 201);
    cr_assert(f.refused, "new connections were still accepted while draining");
    cr_assert_eq(th_server_wait(s, 15000), 0, "the server should exit 0 after draining");
    const char *log = th_server_stop(s);
    cr_assert(strstr(log, "\"msg\":\"stopped\""), "log:\n%s", log);
    cr_assert_str_eq(th_sql(url, "SELECT name FROM teams WHERE slug = 'inflight'", NULL),
                     "In flight");
}

Test(http, sigterm_does_not_wait_for_idle_keepalive_connections)
{
    struct th_server *s = th_server_start(th_db_migrated(), "--shutdown-timeout", "10", NULL);
    struct th_req req = {.method = "GET", .path = "/healthz", .conn = th_conn_open()};
    struct th_resp r;

    th_http_req(s, &req, &r);
    th_assert_status(&r, 200);
    th_server_kill(s, SIGTERM);
    cr_assert_eq(th_server_wait(s, 3000), 0,
                 "an idle keep-alive connection kept the server running 3 s after SIGTERM");
    th_server_stop(s);
}

/* ---- Content-Encoding ---- */

/* gzip of s (zlib's gzip wrapper), in a buffer the test frees with free(). */
static char *gzip_of(const char *s, size_t *len)
{
    z_stream z = {0};
    size_t cap = strlen(s) + 256;
    char *out = malloc(cap);

    cr_assert_not_null(out);
    cr_assert_eq(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)s;
    z.avail_in = (uInt)strlen(s);
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    *len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

Test(http, gzip_bodies_are_decompressed_and_capped_after_decompression)
{
    const char *url = th_db_migrated(), *key = th_admin_key(url);
    struct th_server *s = th_server_start(url, "--max-body", "2048", NULL);
    static const char *const gz[] = {"Content-Encoding: gzip", NULL};
    static const char *const br[] = {"Content-Encoding: br", NULL};
    char big[4096];
    size_t len;
    char *body = gzip_of("{\"slug\":\"zipped\"}", &len);
    struct th_req req = {.method = "POST",
                         .path = "/v1/admin/teams",
                         .key = key,
                         .content_type = "application/json",
                         .body = body,
                         .body_len = len,
                         .headers = gz};
    struct th_resp r;

    th_http_req(s, &req, &r);
    th_assert_status(&r, 201);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "slug")), "zipped");
    free(body);

    /* 4 KiB of JSON squeezes far below the 2 KiB cap, but its decompressed size counts */
    memset(big, ' ', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "{\"slug\":\"z2\"", 12);
    big[sizeof(big) - 2] = '}';
    body = gzip_of(big, &len);
    cr_assert_lt(len, 2048);
    req.body = body, req.body_len = len;
    th_http_req(s, &req, &r);
    th_assert_error(&r, 413, "payload_too_large", NULL);
    free(body);

    req.body = "not gzip at all", req.body_len = 0;
    th_http_req(s, &req, &r);
    th_assert_error(&r, 400, "invalid_encoding", NULL);

    req.headers = br, req.body = "{\"slug\":\"z3\"}";
    th_http_req(s, &req, &r);
    th_assert_error(&r, 415, "unsupported_encoding", NULL);
    cr_assert_str_eq(th_sql(url, "SELECT count(*) FROM teams WHERE slug IN ('z2', 'z3')", NULL),
                     "0");
    th_server_stop(s);
}
