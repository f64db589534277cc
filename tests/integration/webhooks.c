/*
 * webhooks: endpoints through the admin API, and delivery to a real
 * receiver nobody here wrote the checks of: tests/webhooks/receiver.mjs
 * verifies every request with the npm package standardwebhooks. Cases: a
 * test event delivered and verified; 500 twice then 200 delivered on retry
 * under the same webhook-id; a crash mid-send retried after the lease; 410
 * disables the endpoint; both signatures during a rotation; the Slack
 * body's shape; private addresses refused by default; an alert written as
 * the evaluator writes it (alerts + webhook_deliveries rows); validation
 * and team scope. Servers run with --webhook-backoff-percent 1 (retries
 * after 50 ms, then 3 s).
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

TH_SUITE(webhooks);

struct rx {
    struct th_server srv; /* only base, port and log are used: the harness's HTTP client */
    const char *dir;
};

/* Starts the receiver; fails the test clearly when node or node_modules is missing. */
static struct rx *rx_start(void)
{
    struct rx *rx = th_keep(calloc(1, sizeof(*rx)));
    const char *script = th_repo_file("tests/webhooks/receiver.mjs");
    const char *log, *port;

    rx->dir = th_tmpdir();
    log = th_fmt("%s/receiver.log", rx->dir);
    port = th_fmt("%s/port", rx->dir);
    /* th_spawn runs tollgate only: fork node here; it dies with this test's process. */
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execlp("node", "node", script, rx->dir, (char *)NULL);
        dprintf(STDERR_FILENO, "cannot run node: %s\n", strerror(errno));
        _exit(127);
    }
    for (int i = 0; i < 200 && th_file_size(port) <= 0; i++)
        usleep(50000);
    if (th_file_size(port) <= 0) {
        FILE *f = fopen(log, "r");
        char buf[2048] = "";
        size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        buf[n] = '\0';
        if (f)
            fclose(f);
        cr_assert_fail("the webhook receiver did not start (is node installed and `npm ci` "
                       "run?): %s",
                       buf);
    }
    {
        FILE *f = fopen(port, "r");
        cr_assert(f && fscanf(f, "%d", &rx->srv.port) == 1);
        fclose(f);
    }
    snprintf(rx->srv.base, sizeof(rx->srv.base), "http://127.0.0.1:%d", rx->srv.port);
    rx->srv.log = log;
    return rx;
}

static void rx_secrets(struct rx *rx, const char *path, const char *secrets_json)
{
    struct th_resp r;
    th_json(&rx->srv, "PUT", th_fmt("/_admin/secrets?path=%s", path), NULL, &r, "{\"secrets\":%s}",
            secrets_json);
    th_assert_status(&r, 204);
}

static void rx_plan(struct rx *rx, const char *path, const char *answers_json)
{
    struct th_resp r;
    th_json(&rx->srv, "PUT", th_fmt("/_admin/plan?path=%s", path), NULL, &r, "{\"answers\":%s}",
            answers_json);
    th_assert_status(&r, 204);
}

static json_t *rx_received(struct rx *rx, const char *path)
{
    struct th_resp r;
    th_http(&rx->srv, "GET", th_fmt("/_admin/received?path=%s", path), NULL, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_assert(json_is_array(r.json));
    return r.json;
}

/* Waits (timeout_ms at most) until the receiver has at least n requests on path. */
static json_t *rx_wait(struct rx *rx, const char *path, size_t n, int timeout_ms)
{
    json_t *a = NULL;
    for (int waited = 0; waited <= timeout_ms; waited += 100) {
        a = rx_received(rx, path);
        if (json_array_size(a) >= n)
            return a;
        usleep(100000);
    }
    cr_assert_fail("the receiver got %zu requests on %s, not %zu", json_array_size(a), path, n);
    return NULL;
}

struct fx {
    const char *url;
    const char *admin;
    struct th_server *s;
    struct rx *rx;
};

static const char *const fast[] = {"--webhook-allow-private", "--webhook-backoff-percent", "1",
                                   NULL};

static void start(struct fx *f, const char *const *args)
{
    f->url = th_db_migrated();
    f->admin = th_admin_key(f->url);
    f->s = th_server_startv(NULL, f->url, args);
    f->rx = rx_start();
}

/* Creates a webhook to the receiver's path (extra JSON members may follow); returns it. */
static json_t *webhook(struct fx *f, const char *path, const char *extra)
{
    struct th_resp r;
    th_json(f->s, "POST", "/v1/admin/webhooks", f->admin, &r, "{\"url\":\"%s%s\"%s}",
            f->rx->srv.base, path, extra ? extra : "");
    th_assert_status(&r, 201);
    cr_assert(th_jstr(r.json, "secret") && !strncmp(th_jstr(r.json, "secret"), "whsec_", 6));
    rx_secrets(f->rx, path, th_fmt("[\"%s\"]", th_jstr(r.json, "secret")));
    return r.json;
}

static long long id_of(const json_t *v)
{
    return (long long)json_integer_value(json_object_get(v, "id"));
}

static json_t *send_test(struct fx *f, long long webhook_id)
{
    struct th_resp r;
    th_http(f->s, "POST", th_fmt("/v1/admin/webhooks/%lld/test", webhook_id), f->admin, NULL, NULL,
            &r);
    th_assert_status(&r, 201);
    cr_expect_str_eq(th_jstr(r.json, "alert_kind"), "test");
    cr_expect(th_matches(th_jstr(r.json, "msg_id"), "^msg_[0-9a-f]{32}$"));
    return r.json;
}

/* Waits until delivery id has status (10 s at most); returns the delivery row as JSON. */
static json_t *wait_status(struct fx *f, long long webhook_id, long long id, const char *status,
                           int timeout_ms)
{
    json_t *d = NULL;
    for (int waited = 0; waited <= timeout_ms; waited += 100) {
        struct th_resp r;
        th_http(f->s, "GET", th_fmt("/v1/admin/webhooks/%lld/deliveries", webhook_id), f->admin,
                NULL, NULL, &r);
        th_assert_status(&r, 200);
        d = NULL;
        for (size_t i = 0; i < json_array_size(th_jarray(&r, "deliveries")); i++)
            if (id_of(json_array_get(th_jarray(&r, "deliveries"), i)) == id)
                d = json_array_get(th_jarray(&r, "deliveries"), i);
        if (d && !strcmp(th_jstr(d, "status"), status))
            return d;
        usleep(100000);
    }
    th_server_dump(f->s, "delivery did not reach its status");
    cr_assert_fail("delivery %lld is %s, not %s (last_error %s)", id,
                   d ? th_jstr(d, "status") : "missing", status,
                   d && th_jstr(d, "last_error") ? th_jstr(d, "last_error") : "none");
    return NULL;
}

Test(webhooks, test_event_is_delivered_signed_and_verified)
{
    struct fx f;
    start(&f, fast);
    json_t *w = webhook(&f, "/h1", NULL);
    json_t *d = send_test(&f, id_of(w));
    json_t *got = rx_wait(f.rx, "/h1", 1, 10000), *req = json_array_get(got, 0), *body;

    cr_expect(json_is_true(json_object_get(req, "verified")), "signature not verified: %s",
              th_jstr(req, "signature"));
    cr_expect_str_eq(th_jstr(req, "id"), th_jstr(d, "msg_id"));
    cr_expect_str_eq(th_jstr(req, "content_type"), "application/json");
    cr_expect(th_matches(th_jstr(req, "signature"), "^v1,[A-Za-z0-9+/]{43}=$"));
    body = json_loads(th_jstr(req, "body"), 0, NULL);
    cr_assert(json_is_object(body));
    cr_expect_str_eq(th_jstr(body, "type"), "test");
    cr_expect(th_matches(th_jstr(body, "timestamp"), "^[0-9]{4}-[0-9]{2}-[0-9]{2}T.*Z$"));
    cr_expect_str_eq(th_jstr(json_object_get(body, "data"), "kind"), "test");
    json_decref(body);

    d = wait_status(&f, id_of(w), id_of(d), "delivered", 10000);
    cr_expect_eq(json_integer_value(json_object_get(d, "attempts")), 1);
    cr_expect_eq(json_integer_value(json_object_get(d, "last_status")), 200);
    cr_expect(th_jnull(d, "next_attempt_at"));
    /* listed under /v1/alerts with the delivery's status, for a read key too */
    {
        struct th_resp r;
        const char *read = th_cli_key(f.url, "read", NULL);
        th_http(f.s, "GET", "/v1/alerts?kind=test", read, NULL, NULL, &r);
        th_assert_status(&r, 200);
        json_t *a = json_array_get(th_jarray(&r, "alerts"), 0);
        cr_assert_not_null(a);
        cr_expect_str_eq(th_jstr(a, "kind"), "test");
        cr_expect_str_eq(th_jstr(json_array_get(json_object_get(a, "deliveries"), 0), "status"),
                         "delivered");
        th_http(f.s, "GET", "/v1/alerts?kind=threshold", read, NULL, NULL, &r);
        th_assert_status(&r, 200);
        cr_expect_eq(json_array_size(th_jarray(&r, "alerts")), 0);
    }
}

Test(webhooks, retried_after_two_500s_with_the_same_webhook_id)
{
    struct fx f;
    start(&f, fast);
    json_t *w = webhook(&f, "/flaky", NULL);
    rx_plan(f.rx, "/flaky", "[{\"status\":500},{\"status\":503}]");
    json_t *d = send_test(&f, id_of(w));
    json_t *got = rx_wait(f.rx, "/flaky", 3, 15000);

    for (size_t i = 0; i < 3; i++) {
        json_t *req = json_array_get(got, i);
        cr_expect_str_eq(th_jstr(req, "id"), th_jstr(d, "msg_id"));
        cr_expect(json_is_true(json_object_get(req, "verified")), "request %zu", i);
    }
    d = wait_status(&f, id_of(w), id_of(d), "delivered", 5000);
    cr_expect_eq(json_integer_value(json_object_get(d, "attempts")), 3);
    cr_expect_eq(json_array_size(rx_received(f.rx, "/flaky")), 3);
}

Test(webhooks, a_crash_mid_send_is_retried_after_the_lease)
{
    struct fx f;
    start(&f, fast);
    json_t *w = webhook(&f, "/slow", NULL);
    rx_plan(f.rx, "/slow", "[{\"status\":200,\"delay_ms\":4000}]");
    json_t *d = send_test(&f, id_of(w));
    const char *id = th_fmt("%lld", id_of(d));

    rx_wait(f.rx, "/slow", 1, 10000); /* it is on the wire, unanswered */
    th_server_crash(f.s);
    cr_expect_str_eq(th_sql(f.url,
                            "SELECT status || ' ' || attempts || ' ' ||"
                            " (next_attempt_at > now() + interval '30 seconds')"
                            " FROM webhook_deliveries WHERE id = $1",
                            id, NULL),
                     "pending 0 true"); /* leased for a minute */
    /* Let the lease run out now rather than in a minute, then restart. */
    th_sql(f.url, "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE id = $1", id, NULL);
    f.s = th_server_startv(NULL, f.url, fast);
    wait_status(&f, id_of(w), id_of(d), "delivered", 10000);
    json_t *got = rx_received(f.rx, "/slow");
    cr_expect_eq(json_array_size(got), 2);
    cr_expect_str_eq(th_jstr(json_array_get(got, 1), "id"), th_jstr(d, "msg_id"));
}

Test(webhooks, a_delivery_queued_while_down_goes_out_after_restart)
{
    struct fx f;
    start(&f, fast);
    json_t *w = webhook(&f, "/later", NULL);
    th_server_crash(f.s);
    const char *wid = th_fmt("%lld", id_of(w));
    /* as the alert evaluator writes it: the alert and its delivery in one transaction */
    th_sql(f.url,
           "WITH a AS (INSERT INTO alerts (org_id, kind, dedup_key, payload) SELECT org_id,"
           " 'unpriced', 'unpriced:x', '{\"type\":\"usage.unpriced\",\"timestamp\":"
           "\"2026-08-01T00:00:00Z\",\"data\":{\"kind\":\"unpriced\",\"message\":\"x\"}}'"
           " FROM webhooks WHERE id = $1::bigint RETURNING id)"
           " INSERT INTO webhook_deliveries (alert_id, webhook_id, msg_id)"
           " SELECT a.id, $1::bigint, 'msg_later1' FROM a",
           wid, NULL);
    f.s = th_server_startv(NULL, f.url, fast);
    json_t *req = json_array_get(rx_wait(f.rx, "/later", 1, 10000), 0);
    cr_expect_str_eq(th_jstr(req, "id"), "msg_later1");
    cr_expect(json_is_true(json_object_get(req, "verified")));
}

Test(webhooks, gone_410_disables_the_endpoint)
{
    struct fx f;
    struct th_resp r;
    start(&f, fast);
    json_t *w = webhook(&f, "/gone", NULL);
    rx_plan(f.rx, "/gone", "[{\"status\":410}]");
    json_t *d = send_test(&f, id_of(w));
    d = wait_status(&f, id_of(w), id_of(d), "disabled", 10000);
    cr_expect_eq(json_integer_value(json_object_get(d, "last_status")), 410);

    th_http(f.s, "GET", th_fmt("/v1/admin/webhooks/%lld", id_of(w)), f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_expect(json_is_false(json_object_get(r.json, "enabled")));
    cr_expect(strstr(th_jstr(r.json, "disabled_reason"), "410"));
    cr_expect_null(th_jstr(r.json, "secret"));

    th_http(f.s, "POST", th_fmt("/v1/admin/deliveries/%lld/redeliver", id_of(d)), f.admin, NULL,
            NULL, &r);
    th_assert_error(&r, 409, "webhook_disabled", NULL);
    th_http(f.s, "POST", th_fmt("/v1/admin/webhooks/%lld/test", id_of(w)), f.admin, NULL, NULL, &r);
    th_assert_error(&r, 409, "webhook_disabled", NULL);

    /* enabled again, the delivery can be sent again by hand */
    th_json(f.s, "PATCH", th_fmt("/v1/admin/webhooks/%lld", id_of(w)), f.admin, &r,
            "{\"enabled\":true}");
    th_assert_status(&r, 200);
    cr_expect(th_jnull(r.json, "disabled_reason"));
    th_http(f.s, "POST", th_fmt("/v1/admin/deliveries/%lld/redeliver", id_of(d)), f.admin, NULL,
            NULL, &r);
    th_assert_status(&r, 200);
    cr_expect(th_matches(th_jstr(r.json, "status"), "^(pending|delivered)$")); /* it may be quick */
    d = wait_status(&f, id_of(w), id_of(d), "delivered", 10000);
    cr_expect_eq(json_integer_value(json_object_get(d, "attempts")), 1);
    th_http(f.s, "POST", th_fmt("/v1/admin/deliveries/%lld/redeliver", id_of(d)), f.admin, NULL,
            NULL, &r);
    th_assert_status(&r, 200); /* a delivered one may be sent again too */
}

Test(webhooks, rotation_signs_with_both_secrets)
{
    struct fx f;
    struct th_resp r;
    start(&f, fast);
    json_t *w = webhook(&f, "/rot", NULL);
    const char *old = th_jstr(w, "secret");

    th_http(f.s, "POST", th_fmt("/v1/admin/webhooks/%lld/rotate", id_of(w)), f.admin, NULL, NULL,
            &r);
    th_assert_status(&r, 200);
    const char *fresh = th_jstr(r.json, "secret");
    cr_assert(fresh && strcmp(fresh, old) != 0);
    cr_expect(th_jstr(r.json, "previous_secret_expires_at"));
    rx_secrets(f.rx, "/rot", th_fmt("[\"%s\",\"%s\"]", fresh, old));
    send_test(&f, id_of(w));
    json_t *req = json_array_get(rx_wait(f.rx, "/rot", 1, 10000), 0);
    json_t *by = json_object_get(req, "verified_by");

    cr_expect(th_matches(th_jstr(req, "signature"), "^v1,[^ ]{44} v1,[^ ]{44}$"), "%s",
              th_jstr(req, "signature"));
    cr_expect(json_is_true(json_array_get(by, 0)), "the new secret does not verify");
    cr_expect(json_is_true(json_array_get(by, 1)), "the old secret does not verify");

    /* once the old secret expires, only the new one signs */
    th_sql(f.url, "UPDATE webhooks SET previous_expires_at = now() - interval '1 second'", NULL);
    send_test(&f, id_of(w));
    req = json_array_get(rx_wait(f.rx, "/rot", 2, 10000), 1);
    cr_expect(th_matches(th_jstr(req, "signature"), "^v1,[^ ]{44}$"));
    cr_expect(json_is_true(json_array_get(json_object_get(req, "verified_by"), 0)));
    cr_expect(json_is_false(json_array_get(json_object_get(req, "verified_by"), 1)));
}

Test(webhooks, slack_format_has_slacks_block_shape)
{
    struct fx f;
    start(&f, fast);
    json_t *w = webhook(&f, "/slack", ",\"format\":\"slack\"");
    cr_expect_str_eq(th_jstr(w, "format"), "slack");
    send_test(&f, id_of(w));
    json_t *req = json_array_get(rx_wait(f.rx, "/slack", 1, 10000), 0);
    json_t *body = json_loads(th_jstr(req, "body"), 0, NULL), *blocks, *b;
    size_t i;

    cr_expect(json_is_true(json_object_get(req, "verified")));
    cr_assert(json_is_object(body), "%s", th_jstr(req, "body"));
    cr_expect(th_jstr(body, "text") && *th_jstr(body, "text"));
    blocks = json_object_get(body, "blocks");
    cr_assert(json_is_array(blocks) && json_array_size(blocks) >= 1);
    json_array_foreach(blocks, i, b)
    {
        const char *type = th_jstr(b, "type");
        cr_assert_not_null(type);
        if (!strcmp(type, "section")) {
            json_t *t = json_object_get(b, "text");
            cr_expect_str_eq(th_jstr(t, "type"), "mrkdwn");
            cr_expect(th_jstr(t, "text") && strlen(th_jstr(t, "text")) <= 3000);
        } else {
            cr_expect_str_eq(type, "context");
            json_t *els = json_object_get(b, "elements");
            cr_expect(json_is_array(els) && json_array_size(els) >= 1 &&
                      json_array_size(els) <= 10);
        }
    }
    cr_expect_str_eq(th_jstr(json_array_get(blocks, 0), "type"), "section");
    json_decref(body);
}

Test(webhooks, private_addresses_are_refused_by_default)
{
    struct fx f;
    start(&f, (const char *const[]){"--webhook-backoff-percent", "1", NULL});
    json_t *w = webhook(&f, "/private", NULL);
    json_t *d = send_test(&f, id_of(w));
    const char *id = th_fmt("%lld", id_of(d));

    for (int i = 0; i < 100 && strcmp(th_sql(f.url,
                                             "SELECT attempts FROM webhook_deliveries"
                                             " WHERE id = $1",
                                             id, NULL),
                                      "0") == 0;
         i++)
        usleep(100000);
    cr_expect(th_matches(th_sql(f.url, "SELECT last_error FROM webhook_deliveries WHERE id = $1",
                                id, NULL),
                         "refused to connect to 127\\.0\\.0\\.1: a loopback address"),
              "%s",
              th_sql(f.url, "SELECT last_error FROM webhook_deliveries WHERE id = $1", id, NULL));
    cr_expect_str_eq(th_sql(f.url, "SELECT status FROM webhook_deliveries WHERE id = $1", id, NULL),
                     "pending");
    cr_expect_eq(json_array_size(rx_received(f.rx, "/private")), 0);
}

Test(webhooks, threshold_alert_written_by_the_evaluator_is_delivered_once)
{
    struct fx f;
    start(&f, fast);
    th_create_team(f.s, f.admin, "search", NULL, NULL);
    json_t *w = webhook(&f, "/budget", ",\"kinds\":[\"threshold\"],\"team\":\"search\"");
    const char *wid = th_fmt("%lld", id_of(w));
    const char *payload =
        "{\"type\":\"budget.threshold\",\"timestamp\":\"2026-08-01T10:00:00Z\",\"data\":"
        "{\"alert_id\":1,\"kind\":\"threshold\",\"budget\":{\"id\":1,\"name\":\"search-monthly\","
        "\"scope\":{\"kind\":\"team\",\"name\":\"search\"}},\"team\":\"search\",\"period\":"
        "{\"start\":\"2026-08-01T00:00:00Z\",\"end\":\"2026-09-01T00:00:00Z\"},\"limit_usd\":"
        "\"100.00\",\"spent_usd\":\"80.10\",\"forecast_usd\":\"120.00\",\"threshold_percent\":80,"
        "\"used_percent\":\"80.10\",\"model\":null,\"message\":\"search-monthly passed 80%\","
        "\"dashboard_url\":null}}";

    /* the contract of the evaluator (branch alerts): one alert and one pending delivery */
    th_sql(f.url,
           "WITH a AS (INSERT INTO alerts (org_id, kind, team_id, threshold, dedup_key, payload)"
           " SELECT w.org_id, 'threshold', w.team_id, 80, 'b1:2026-08:80', $2::jsonb"
           " FROM webhooks w WHERE w.id = $1::bigint RETURNING id)"
           " INSERT INTO webhook_deliveries (alert_id, webhook_id, msg_id)"
           " SELECT a.id, $1::bigint, 'msg_threshold80' FROM a",
           wid, payload, NULL);
    json_t *req = json_array_get(rx_wait(f.rx, "/budget", 1, 10000), 0);
    json_t *sent = json_loads(th_jstr(req, "body"), 0, NULL), *want = json_loads(payload, 0, NULL);
    cr_expect(json_equal(sent, want), "%s", th_jstr(req, "body"));
    cr_expect(json_is_true(json_object_get(req, "verified")));
    json_decref(sent);
    json_decref(want);
    sleep(2);
    cr_expect_eq(json_array_size(rx_received(f.rx, "/budget")), 1);
    {
        struct th_resp r;
        th_http(f.s, "GET", "/v1/alerts?team=search&kind=threshold", f.admin, NULL, NULL, &r);
        th_assert_status(&r, 200);
        cr_expect_eq(json_array_size(th_jarray(&r, "alerts")), 1);
        th_http(f.s, "GET", "/v1/alerts?from=yesterday-ish", f.admin, NULL, NULL, &r);
        th_assert_error(&r, 400, "invalid_query", "from");
    }
}

Test(webhooks, admin_api_validates_and_hides_secrets)
{
    struct fx f;
    struct th_resp r;
    start(&f, fast);
    th_create_team(f.s, f.admin, "search", NULL, NULL);
    th_create_team(f.s, f.admin, "ads", NULL, NULL);

    th_json(f.s, "POST", "/v1/admin/webhooks", f.admin, &r, "{}");
    th_assert_error(&r, 422, "missing_field", "url");
    th_json(f.s, "POST", "/v1/admin/webhooks", f.admin, &r, "{\"url\":\"ftp://x.example/\"}");
    th_assert_error(&r, 422, "invalid_value", "url");
    th_json(f.s, "POST", "/v1/admin/webhooks", f.admin, &r, "{\"url\":\"not a url\"}");
    th_assert_error(&r, 422, "invalid_value", "url");
    th_json(f.s, "POST", "/v1/admin/webhooks", f.admin, &r,
            "{\"url\":\"https://x.example/\",\"kinds\":[\"threshold\",\"sometimes\"]}");
    th_assert_error(&r, 422, "invalid_value", "kinds");
    th_json(f.s, "POST", "/v1/admin/webhooks", f.admin, &r,
            "{\"url\":\"https://x.example/\",\"kinds\":[]}");
    th_assert_error(&r, 422, "invalid_value", "kinds");
    th_json(f.s, "POST", "/v1/admin/webhooks", f.admin, &r,
            "{\"url\":\"https://x.example/\",\"format\":\"teams\"}");
    th_assert_error(&r, 422, "invalid_value", "format");
    th_json(f.s, "POST", "/v1/admin/webhooks", f.admin, &r,
            "{\"url\":\"https://x.example/\",\"team\":\"nobody\"}");
    th_assert_error(&r, 422, "unknown_team", "team");
    th_json(f.s, "POST", "/v1/admin/webhooks", f.admin, &r,
            "{\"url\":\"https://x.example/\",\"secret\":\"whsec_x\"}");
    th_assert_error(&r, 400, "unknown_field", "secret");
    th_json(f.s, "POST", "/v1/admin/webhooks", f.admin, &r,
            "{\"url\":\"https://x.example/\",\"enabled\":\"yes\"}");
    th_assert_error(&r, 400, "invalid_type", "enabled");

    th_json(f.s, "POST", "/v1/admin/webhooks", f.admin, &r,
            "{\"url\":\"https://x.example/hook\",\"kinds\":[\"denial\",\"denial\"],"
            "\"team\":\"search\"}");
    th_assert_status(&r, 201);
    cr_expect_eq(json_array_size(json_object_get(r.json, "kinds")), 1);
    cr_expect_str_eq(th_jstr(r.json, "team"), "search");
    cr_expect(th_matches(th_jstr(r.json, "secret"), "^whsec_[A-Za-z0-9+/]{32}$"));
    long long id = id_of(r.json);
    th_json(f.s, "POST", "/v1/admin/webhooks", f.admin, &r, "{\"url\":\"https://y.example/\"}");
    th_assert_status(&r, 201);
    cr_expect_eq(json_array_size(json_object_get(r.json, "kinds")), 4);

    th_http(f.s, "GET", "/v1/admin/webhooks", f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_expect_eq(json_array_size(th_jarray(&r, "webhooks")), 2);
    cr_expect_null(strstr(r.body, "whsec_"));
    th_http(f.s, "GET", "/v1/admin/webhooks/999999", f.admin, NULL, NULL, &r);
    th_assert_error(&r, 404, "not_found", NULL);
    th_http(f.s, "GET", "/v1/admin/webhooks/abc", f.admin, NULL, NULL, &r);
    th_assert_error(&r, 404, "not_found", "id");

    th_json(f.s, "PATCH", th_fmt("/v1/admin/webhooks/%lld", id), f.admin, &r,
            "{\"format\":\"slack\",\"kinds\":[\"threshold\",\"forecast\"]}");
    th_assert_status(&r, 200);
    cr_expect_str_eq(th_jstr(r.json, "format"), "slack");
    cr_expect_eq(json_array_size(json_object_get(r.json, "kinds")), 2);
    cr_expect_str_eq(th_jstr(r.json, "url"), "https://x.example/hook");
    th_json(f.s, "PATCH", th_fmt("/v1/admin/webhooks/%lld", id), f.admin, &r,
            "{\"url\":\"javascript:alert(1)\"}");
    th_assert_error(&r, 422, "invalid_value", "url");

    /* a key scoped to ads sees neither search's webhook nor the org-wide one */
    const char *ads = th_create_key(f.s, f.admin, "admin", "ads");
    th_http(f.s, "GET", "/v1/admin/webhooks", ads, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_expect_eq(json_array_size(th_jarray(&r, "webhooks")), 0);
    th_http(f.s, "GET", th_fmt("/v1/admin/webhooks/%lld", id), ads, NULL, NULL, &r);
    th_assert_error(&r, 404, "not_found", NULL);
    th_http(f.s, "DELETE", th_fmt("/v1/admin/webhooks/%lld", id), ads, NULL, NULL, &r);
    th_assert_error(&r, 404, "not_found", NULL);
    th_json(f.s, "POST", "/v1/admin/webhooks", ads, &r, "{\"url\":\"https://z.example/\"}");
    th_assert_error(&r, 422, "missing_field", "team");
    th_json(f.s, "POST", "/v1/admin/webhooks", ads, &r,
            "{\"url\":\"https://z.example/\",\"team\":\"search\"}");
    th_assert_error(&r, 403, "forbidden", "team");
    th_json(f.s, "POST", "/v1/admin/webhooks", ads, &r,
            "{\"url\":\"https://z.example/\",\"team\":\"ads\"}");
    th_assert_status(&r, 201);
    th_http(f.s, "GET", "/v1/alerts", th_create_key(f.s, f.admin, "ingest", NULL), NULL, NULL, &r);
    th_assert_status(&r, 403);

    th_http(f.s, "DELETE", th_fmt("/v1/admin/webhooks/%lld", id), f.admin, NULL, NULL, &r);
    th_assert_status(&r, 200);
    th_http(f.s, "GET", th_fmt("/v1/admin/webhooks/%lld", id), f.admin, NULL, NULL, &r);
    th_assert_error(&r, 404, "not_found", NULL);
}

/* Ingest pushes a team past 50, 80 and 100% of its budget: each threshold is delivered once,
 * signed. */
Test(webhooks, real_spend_fires_each_threshold_once)
{
    struct fx f;
    struct th_resp r;
    f.url = th_db_priced();
    f.admin = th_admin_key(f.url);
    f.s = th_server_start(f.url, "--webhook-allow-private", "--webhook-backoff-percent", "1",
                          "--alert-interval", "1", NULL);
    f.rx = rx_start();
    const char *ingest = th_cli_key(f.url, "ingest", NULL);
    th_create_team(f.s, f.admin, "search", NULL, NULL);
    webhook(&f, "/spend", ",\"kinds\":[\"threshold\"],\"team\":\"search\"");
    th_http(f.s, "POST", "/v1/admin/budgets", f.admin, "application/json",
            "{\"name\":\"search-month\",\"scope\":{\"team\":\"search\"},\"amount_usd\":\"1\","
            "\"period\":\"month\",\"thresholds\":[{\"at\":50,\"action\":\"alert\"},"
            "{\"at\":80,\"action\":\"downgrade\"},{\"at\":100,\"action\":\"deny\"}]}",
            &r);
    th_assert_status(&r, 201);
    for (int i = 0; i < 100; i++) {
        th_http(f.s, "GET", "/v1/admin/budgets/search-month", f.admin, NULL, NULL, &r);
        if (json_is_true(json_object_get(json_object_get(r.json, "status"), "loaded")))
            break;
        usleep(100000);
    }
    /* gpt-4o, 100,000 input tokens: USD 0.25 a call. */
    for (int i = 0; i < 5; i++) {
        th_json(f.s, "POST", "/v1/usage", ingest, &r,
                "{\"id\":\"s%d\",\"team\":\"search\",\"provider\":\"openai\",\"model\":\"gpt-4o\","
                "\"input_tokens\":100000}",
                i);
        th_assert_status(&r, 200);
        if (i == 2) /* USD 0.75: past 50% only */
            rx_wait(f.rx, "/spend", 1, 15000);
    }
    json_t *got = rx_wait(f.rx, "/spend", 3, 15000); /* USD 1.25: 80% and 100% too */
    sleep(3);                                        /* a few more evaluator rounds */
    got = rx_received(f.rx, "/spend");
    cr_assert_eq(json_array_size(got), 3, "%zu deliveries, not 3", json_array_size(got));
    bool seen[3] = {false};
    for (size_t i = 0; i < 3; i++) {
        json_t *req = json_array_get(got, i);
        json_t *body = json_loads(th_jstr(req, "body"), 0, NULL),
               *data = json_object_get(body, "data");
        long pct = (long)json_number_value(json_object_get(data, "threshold_percent"));
        cr_expect(json_is_true(json_object_get(req, "verified")), "an unverified signature");
        cr_expect_str_eq(th_jstr(body, "type"), "budget.threshold");
        cr_expect_str_eq(th_jstr(data, "limit_usd"), "1.00");
        seen[0] |= pct == 50, seen[1] |= pct == 80, seen[2] |= pct == 100;
        json_decref(body);
    }
    cr_expect(seen[0] && seen[1] && seen[2], "thresholds seen: 50 %d, 80 %d, 100 %d", seen[0],
              seen[1], seen[2]);
}
