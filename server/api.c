/*
 * api: the route table and the helpers every handler shares.
 */
#include "api.h"

#include "migrate.h"
#include "writer.h"
#include "metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADMIN ROLE_ADMIN

const struct http_route api_routes[] = {
    {"GET", "/healthz", 0, api_healthz},
    {"GET", "/readyz", 0, api_readyz},
    {"GET", "/metrics", 0, api_metrics},
    {"GET", "/v1/admin/teams", ADMIN, api_teams_list},
    {"POST", "/v1/admin/teams", ADMIN, api_teams_create},
    {"GET", "/v1/admin/teams/{slug}", ADMIN, api_teams_get},
    {"PATCH", "/v1/admin/teams/{slug}", ADMIN, api_teams_update},
    {"DELETE", "/v1/admin/teams/{slug}", ADMIN, api_teams_archive},
    {"GET", "/v1/admin/keys", ADMIN, api_keys_list},
    {"POST", "/v1/admin/keys", ADMIN, api_keys_create},
    {"GET", "/v1/admin/keys/{id}", ADMIN, api_keys_get},
    {"DELETE", "/v1/admin/keys/{id}", ADMIN, api_keys_revoke},
    {"POST", "/v1/admin/keys/{id}/revoke", ADMIN, api_keys_revoke},
    {"POST", "/v1/usage", ROLE_INGEST, api_usage_post},
    {"POST", "/v1/traces", ROLE_INGEST, api_traces_post},
    {"GET", "/v1/usage/{id}", ROLE_READ, api_usage_get},
    {"POST", "/v1/usage/{id}/void", ROLE_INGEST, api_usage_void},
    {"POST", "/v1/usage/{id}/amend", ROLE_INGEST, api_usage_amend},
    {"GET", "/v1/admin/prices", ADMIN, api_prices_list},
    {"POST", "/v1/admin/prices", ADMIN, api_prices_create},
    {"GET", "/v1/reports/unpriced", ROLE_READ, api_reports_unpriced},
    {"GET", "/v1/reports/spend", ROLE_READ, api_reports_spend},
    {"GET", "/v1/reports/budgets", ROLE_READ, api_reports_budgets},
    {"GET", "/v1/reports/savings", ROLE_READ, api_reports_savings},
    {"GET", "/v1/reports/units", ROLE_READ, api_reports_units},
    {"GET", "/v1/reports/top", ROLE_READ, api_reports_top},
    {"GET", "/v1/export/focus", ROLE_READ, api_export_focus},
    {"POST", "/v1/verdict", ROLE_VERDICT, api_verdict_post},
    {"POST", "/v1/reservations/{id}/release", ROLE_VERDICT, api_reservation_release},
    {"POST", "/v1/ext_authz/{path*}", ROLE_VERDICT, api_ext_authz},
    {"GET", "/v1/admin/budgets", ADMIN, api_budgets_list},
    {"POST", "/v1/admin/budgets", ADMIN, api_budgets_create},
    {"GET", "/v1/admin/budgets/{name}", ADMIN, api_budgets_get},
    {"PUT", "/v1/admin/budgets/{name}", ADMIN, api_budgets_put},
    {"DELETE", "/v1/admin/budgets/{name}", ADMIN, api_budgets_delete},
    {"GET", "/v1/admin/policies", ADMIN, api_policies_list},
    {"POST", "/v1/admin/policies", ADMIN, api_policies_create},
    {"GET", "/v1/admin/policies/{name}", ADMIN, api_policies_get},
    {"PUT", "/v1/admin/policies/{name}", ADMIN, api_policies_put},
    {"DELETE", "/v1/admin/policies/{name}", ADMIN, api_policies_delete},
    {"GET", "/v1/admin/webhooks", ADMIN, api_webhooks_list},
    {"POST", "/v1/admin/webhooks", ADMIN, api_webhooks_create},
    {"GET", "/v1/admin/webhooks/{id}", ADMIN, api_webhooks_get},
    {"PATCH", "/v1/admin/webhooks/{id}", ADMIN, api_webhooks_update},
    {"DELETE", "/v1/admin/webhooks/{id}", ADMIN, api_webhooks_delete},
    {"POST", "/v1/admin/webhooks/{id}/rotate", ADMIN, api_webhooks_rotate},
    {"POST", "/v1/admin/webhooks/{id}/test", ADMIN, api_webhooks_test},
    {"GET", "/v1/admin/webhooks/{id}/deliveries", ADMIN, api_webhooks_deliveries},
    {"POST", "/v1/admin/deliveries/{id}/redeliver", ADMIN, api_deliveries_redeliver},
    {"GET", "/v1/alerts", ROLE_READ, api_alerts_list},
};
const int api_routes_count = sizeof(api_routes) / sizeof(api_routes[0]);

bool api_only_fields(struct http_req *r, json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v)
    {
        const char *const *a = allowed;
        while (*a && strcmp(*a, key) != 0)
            a++;
        if (!*a) {
            http_reply_error(r, 400, "unknown_field", key, "unknown field '%.64s'", key);
            return false;
        }
    }
    return true;
}

bool api_opt_string(struct http_req *r, json_t *obj, const char *key, size_t max, const char **out)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v)) {
        http_reply_error(r, 400, "invalid_type", key, "'%s' must be a string", key);
        return false;
    }
    if (json_string_length(v) > max || strlen(json_string_value(v)) != json_string_length(v)) {
        http_reply_error(r, 422, "invalid_value", key,
                         "'%s' must be at most %zu bytes, without NUL", key, max);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

void api_scope_params(struct http_req *r, struct api_scope_params *sp)
{
    snprintf(sp->org, sizeof(sp->org), "%" PRId64, r->key.org_id);
    snprintf(sp->root, sizeof(sp->root), "%" PRId64, r->key.team_id);
}

bool api_id_param(struct http_req *r, const char *what, char out[24])
{
    const char *s = route_param(&r->params, "id");
    char *end;
    long long v = s ? strtoll(s, &end, 10) : 0;

    if (!s || *end || v <= 0 || strlen(s) > 18) {
        http_reply_error(r, 404, "not_found", "id", "no such %s", what);
        return false;
    }
    snprintf(out, 24, "%lld", v);
    return true;
}

struct db_conn *api_db(struct http_req *r)
{
    struct db_conn *c = r->app->db ? db_acquire(r->app->db, 5000) : NULL;
    if (!c)
        http_reply_db_error(r, NULL);
    return c;
}

void api_reply_sql_json(struct http_req *r, struct db_conn *c, int status, const char *what,
                        const char *sql, int n, const char *const *params)
{
    PGresult *res = db_query(c, sql, n, params);
    json_t *v;

    if (!res) {
        http_reply_db_error(r, c);
        return;
    }
    if (PQntuples(res) < 1 || PQgetisnull(res, 0, 0)) {
        PQclear(res);
        http_reply_error(r, 404, "not_found", NULL, "no such %s", what);
        return;
    }
    /* Re-encode through jansson: compact, like every other reply. */
    v = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    http_reply_json(r, status, v);
}

void api_job_start(struct http_req *r)
{
    writer_submit(r->app->writer, (struct writer_job *)r->defer_arg); /* the job is first */
}

void api_job_resume(struct writer_job *job)
{
    http_resume(job->arg);
}

void api_healthz(struct http_req *r)
{
    http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

void api_readyz(struct http_req *r)
{
    char latest[16];
    const char *p[1] = {latest};
    struct db_conn *c;
    PGresult *res;
    bool migrated;

    snprintf(r->retry_after, sizeof(r->retry_after), "5");
    if (atomic_load(&r->app->draining)) {
        http_reply_error(r, 503, "draining", NULL, "the server is shutting down");
        return;
    }
    c = r->app->db ? db_acquire(r->app->db, 2000) : NULL;
    if (!c) {
        http_reply_error(r, 503, "database_unreachable", NULL, "Postgres is unreachable");
        return;
    }
    snprintf(latest, sizeof(latest), "%d", migrate_latest());
    res = db_query(c, "SELECT coalesce((SELECT max(version) FROM schema_migrations), 0) >= $1::int",
                   1, p);
    if (!res) {
        http_reply_error(r, 503, "database_unreachable", NULL, "Postgres query failed: %s",
                         db_conn_error(c));
        db_release(r->app->db, &c);
        return;
    }
    migrated = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    db_release(r->app->db, &c);
    if (!migrated) {
        http_reply_error(r, 503, "not_migrated", NULL,
                         "the database lacks migrations up to %s; run 'tollgate migrate'", latest);
        return;
    }
    http_reply_json(r, 200,
                    json_pack("{s:s, s:i}", "status", "ready", "schema_version", migrate_latest()));
}

void api_metrics(struct http_req *r)
{
    size_t len = 0;
    char *text = metrics_render(&len);

    if (!text) {
        http_reply_error(r, 500, "internal", NULL, "out of memory");
        return;
    }
    http_reply_buf(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}
