/*
 * api: the HTTP handlers, one file per area, and the route table that
 * binds them (api.c). Handlers run on MHD worker threads and may block on
 * Postgres through the app's pool.
 */
#ifndef TOLLGATE_API_H
#define TOLLGATE_API_H

#include "http.h"

#include <jansson.h>

/* The route table of the server, and its length. */
extern const struct http_route api_routes[];
extern const int api_routes_count;

/*
 * Checks that obj has no member outside allowed (a NULL-terminated list).
 * On failure replies 400 naming the member and returns false.
 */
bool api_only_fields(struct http_req *r, json_t *obj, const char *const *allowed);

/*
 * Reads an optional string member: *out is NULL when absent or null. Replies
 * 400 and returns false when it is present but not a string, or longer than
 * max bytes.
 */
bool api_opt_string(struct http_req *r, json_t *obj, const char *key, size_t max, const char **out);

/*
 * The two leading parameters of every team-scoped query: $1 the key's org,
 * $2 its scope root (0 = the whole org); with STORE_SUBTREE_CTE, API_VISIBLE
 * is the condition that a team id expression lies inside the key's scope.
 */
struct api_scope_params {
    char org[24];
    char root[24];
};
void api_scope_params(struct http_req *r, struct api_scope_params *sp);
#define API_VISIBLE(e) "($2::bigint = 0 OR " e " IN (SELECT id FROM sub))"

/*
 * The path's positive integer {id} into out as text; replies 404 ("no such
 * what") and returns false otherwise.
 */
bool api_id_param(struct http_req *r, const char *what, char out[24]);

/*
 * Borrows a connection for the request; replies 503 and returns NULL when
 * none can be had.
 */
struct db_conn *api_db(struct http_req *r);

/*
 * Runs a query whose one row and column is a JSON text, and replies with it
 * (status on a row; 404 naming what when there is none).
 */
void api_reply_sql_json(struct http_req *r, struct db_conn *c, int status, const char *what,
                        const char *sql, int n, const char *const *params);

struct store_team;

/*
 * Resolves team slug of the key's org into t (api_admin.c). Replies 422
 * (unknown or archived), 403 (outside the key's scope) or a database
 * error naming field, and returns false, when it cannot be used.
 */
bool api_resolve_team(struct http_req *r, struct db_conn *c, const char *field, const char *slug,
                      struct store_team *t);

struct ingest_row;
struct event_error;

/*
 * Resolves the team and project slugs of row->ev in the key's org into
 * row->team_id and row->project_id, creating missing ones when the server
 * runs with --unknown-teams create (api_usage.c; shared by ingest and
 * amendments). Returns false on a refusal, with err filled (422
 * unknown_team, unknown_project, invalid_value or archived_team), or on a
 * database error, with *db_error set and err untouched. Does not check the
 * key's scope.
 */
bool api_usage_resolve_scope(struct http_req *r, struct ingest_row *row, struct event_error *err,
                             bool *db_error);

/*
 * Handing a request's rows to the writer without an HTTP thread waiting:
 * r->defer_arg points at the handler's state, whose first member is the
 * struct writer_job, with job.arg = r and job.done = api_job_resume. Then
 * http_defer(r, api_job_start, finish) submits the job once the connection
 * is suspended, and the writer's completion resumes it.
 */
struct writer_job;
void api_job_start(struct http_req *r);
void api_job_resume(struct writer_job *job);

/* Handlers. */
void api_healthz(struct http_req *r);
void api_readyz(struct http_req *r);
void api_metrics(struct http_req *r);
void api_teams_list(struct http_req *r);
void api_teams_create(struct http_req *r);
void api_teams_get(struct http_req *r);
void api_teams_update(struct http_req *r);
void api_teams_archive(struct http_req *r);
void api_keys_list(struct http_req *r);
void api_keys_create(struct http_req *r);
void api_keys_get(struct http_req *r);
void api_keys_revoke(struct http_req *r);
void api_usage_post(struct http_req *r);
void api_traces_post(struct http_req *r);
void api_usage_get(struct http_req *r);
void api_usage_void(struct http_req *r);
void api_usage_amend(struct http_req *r);
void api_prices_list(struct http_req *r);
void api_prices_create(struct http_req *r);
void api_reports_unpriced(struct http_req *r);
void api_reports_spend(struct http_req *r);
void api_reports_budgets(struct http_req *r);
void api_reports_savings(struct http_req *r);
void api_reports_units(struct http_req *r);
void api_reports_top(struct http_req *r);
void api_export_focus(struct http_req *r);
void api_verdict_post(struct http_req *r);
void api_reservation_release(struct http_req *r);
void api_ext_authz(struct http_req *r);
void api_budgets_list(struct http_req *r);
void api_budgets_create(struct http_req *r);
void api_budgets_get(struct http_req *r);
void api_budgets_put(struct http_req *r);
void api_budgets_delete(struct http_req *r);
void api_policies_list(struct http_req *r);
void api_policies_create(struct http_req *r);
void api_policies_get(struct http_req *r);
void api_policies_put(struct http_req *r);
void api_policies_delete(struct http_req *r);
void api_webhooks_list(struct http_req *r);
void api_webhooks_create(struct http_req *r);
void api_webhooks_get(struct http_req *r);
void api_webhooks_update(struct http_req *r);
void api_webhooks_delete(struct http_req *r);
void api_webhooks_rotate(struct http_req *r);
void api_webhooks_test(struct http_req *r);
void api_webhooks_deliveries(struct http_req *r);
void api_deliveries_redeliver(struct http_req *r);
void api_alerts_list(struct http_req *r);

#endif
