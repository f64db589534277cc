/*
 * api_webhooks: /v1/admin/webhooks (endpoints, their secrets, test events,
 * delivery logs), /v1/admin/deliveries/{id}/redeliver and GET /v1/alerts.
 * A key scoped to a team sees and manages only the webhooks and alerts of
 * its team's subtree (org-wide ones are for unscoped keys). Secrets appear
 * only in the replies that make them (create and rotate).
 */
#include "api.h"
#include "delivery.h"
#include "event.h"
#include "store.h"
#include "webhooks.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define URL_MAX 2048

/* SQL for one webhook as JSON, over `w` joined to `t` (its team); never the secrets. */
#define WEBHOOK_JSON                                                                               \
    "json_build_object('id', w.id, 'url', w.url, 'kinds', w.kinds, 'team', t.slug, 'format', "     \
    "w.format, 'enabled', w.enabled, 'disabled_reason', w.disabled_reason, "                       \
    "'previous_secret_expires_at', CASE WHEN w.previous_secret IS NOT NULL AND "                   \
    "w.previous_expires_at > now() THEN w.previous_expires_at END, 'created_at', w.created_at, "   \
    "'updated_at', w.updated_at)"

/* SQL for one delivery as JSON, over `d` joined to `a` (its alert). */
#define DELIVERY_JSON                                                                              \
    "json_build_object('id', d.id, 'webhook_id', d.webhook_id, 'alert_id', d.alert_id, "           \
    "'alert_kind', a.kind, 'msg_id', d.msg_id, 'status', d.status, 'attempts', d.attempts, "       \
    "'last_status', d.last_status, 'last_error', d.last_error, 'next_attempt_at', CASE WHEN "      \
    "d.status = 'pending' THEN d.next_attempt_at END, 'created_at', d.created_at, "                \
    "'delivered_at', d.delivered_at)"

static const char *const kinds_all[] = {"threshold", "forecast", "denial", "unpriced", NULL};

/* Checks an endpoint URL: http(s), a host, at most URL_MAX bytes. Replies 422 otherwise. */
static bool url_valid(struct http_req *r, const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    bool ok = false;

    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        ok = (!strcmp(scheme, "http") || !strcmp(scheme, "https")) && *host &&
             (!strncmp(url, "http://", 7) || !strncmp(url, "https://", 8));
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    if (!ok)
        http_reply_error(r, 422, "invalid_value", "url",
                         "'url' must be an absolute http:// or https:// URL with a host");
    return ok;
}

/*
 * Reads "kinds" (absent: *out NULL) into a Postgres array text. Replies and
 * returns false on a bad value.
 */
static bool kinds_param(struct http_req *r, json_t *body, char *out, size_t cap, bool *given)
{
    json_t *arr = json_object_get(body, "kinds"), *v;
    size_t i, len = 1;
    bool seen[4] = {false};

    *given = arr != NULL;
    if (!arr)
        return true;
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        http_reply_error(r, 422, "invalid_value", "kinds",
                         "'kinds' must be a non-empty array of threshold, forecast, denial, "
                         "unpriced");
        return false;
    }
    out[0] = '{';
    json_array_foreach(arr, i, v)
    {
        int k = 0;
        const char *s = json_string_value(v);
        while (s && kinds_all[k] && strcmp(kinds_all[k], s) != 0)
            k++;
        if (!s || !kinds_all[k]) {
            http_reply_error(r, 422, "invalid_value", "kinds",
                             "'kinds' members must be threshold, forecast, denial or unpriced");
            return false;
        }
        if (seen[k])
            continue;
        seen[k] = true;
        len += (size_t)snprintf(out + len, cap - len, "%s%s", len > 1 ? "," : "", s);
    }
    snprintf(out + len, cap - len, "}");
    return true;
}

static bool format_param(struct http_req *r, json_t *body, const char **out)
{
    if (!api_opt_string(r, body, "format", 16, out))
        return false;
    if (*out && strcmp(*out, "standard") != 0 && strcmp(*out, "slack") != 0) {
        http_reply_error(r, 422, "invalid_value", "format", "'format' must be standard or slack");
        return false;
    }
    return true;
}

static bool enabled_param(struct http_req *r, json_t *body, const char **out)
{
    json_t *v = json_object_get(body, "enabled");
    *out = NULL;
    if (!v)
        return true;
    if (!json_is_boolean(v)) {
        http_reply_error(r, 400, "invalid_type", "enabled", "'enabled' must be true or false");
        return false;
    }
    *out = json_is_true(v) ? "t" : "f";
    return true;
}

/* Replies with webhook id (as visible to the key), adding secret when not NULL. */
static void reply_webhook(struct http_req *r, struct db_conn *c, int status, const char *id,
                          const char *secret)
{
    struct api_scope_params sp;
    const char *p[3];
    PGresult *res;
    json_t *v;

    api_scope_params(r, &sp);
    p[0] = sp.org, p[1] = sp.root, p[2] = id;
    res = db_query(c,
                   STORE_SUBTREE_CTE
                   "SELECT " WEBHOOK_JSON " FROM webhooks w LEFT JOIN teams t ON t.id = w.team_id"
                   " WHERE w.org_id = $1 AND w.id = $3::bigint AND " API_VISIBLE("w.team_id"),
                   3, p);
    if (!res) {
        http_reply_db_error(r, c);
        return;
    }
    if (PQntuples(res) < 1) {
        PQclear(res);
        http_reply_error(r, 404, "not_found", NULL, "no such webhook");
        return;
    }
    v = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    if (v && secret)
        json_object_set_new(v, "secret", json_string(secret));
    http_reply_json(r, status, v);
}

void api_webhooks_list(struct http_req *r)
{
    struct api_scope_params sp;
    const char *p[2];
    struct db_conn *c;

    api_scope_params(r, &sp);
    p[0] = sp.org, p[1] = sp.root;
    if (!(c = api_db(r)))
        return;
    api_reply_sql_json(r, c, 200, "webhooks",
                       STORE_SUBTREE_CTE
                       "SELECT json_build_object('webhooks', coalesce(json_agg(" WEBHOOK_JSON
                       " ORDER BY w.id), '[]')) FROM webhooks w LEFT JOIN teams t"
                       " ON t.id = w.team_id WHERE w.org_id = $1 AND " API_VISIBLE("w.team_id"),
                       2, p);
    db_release(r->app->db, &c);
}

void api_webhooks_get(struct http_req *r)
{
    char id[24];
    struct db_conn *c;

    if (!api_id_param(r, "webhook", id) || !(c = api_db(r)))
        return;
    reply_webhook(r, c, 200, id, NULL);
    db_release(r->app->db, &c);
}

void api_webhooks_create(struct http_req *r)
{
    static const char *const fields[] = {"url", "kinds", "team", "format", "enabled", NULL};
    const char *url, *team, *format, *enabled;
    char kinds[80], org[24], tid[24], secret[DELIVERY_SECRET_LEN + 1];
    bool kinds_given;
    struct store_team t = {0};
    const char *p[7];
    struct db_conn *c = NULL;
    json_t *body = http_body_object(r);
    PGresult *res;

    if (!body)
        return;
    if (!api_only_fields(r, body, fields) || !api_opt_string(r, body, "url", URL_MAX, &url) ||
        !api_opt_string(r, body, "team", 63, &team) || !format_param(r, body, &format) ||
        !enabled_param(r, body, &enabled) ||
        !kinds_param(r, body, kinds, sizeof(kinds), &kinds_given))
        goto out;
    if (!url) {
        http_reply_error(r, 422, "missing_field", "url", "'url' is required");
        goto out;
    }
    if (!url_valid(r, url))
        goto out;
    if (!team && r->key.team_id) {
        http_reply_error(r, 422, "missing_field", "team",
                         "a team-scoped key can only make webhooks for a 'team' in its scope");
        goto out;
    }
    if (!delivery_secret_new(secret)) {
        http_reply_error(r, 500, "internal", NULL, "no randomness for the secret");
        goto out;
    }
    if (!(c = api_db(r)))
        goto out;
    if (team && !api_resolve_team(r, c, "team", team, &t))
        goto out;
    snprintf(org, sizeof(org), "%" PRId64, r->key.org_id);
    snprintf(tid, sizeof(tid), "%" PRId64, t.id);
    p[0] = org, p[1] = url, p[2] = kinds_given ? kinds : NULL, p[3] = team ? tid : NULL;
    p[4] = format, p[5] = secret, p[6] = enabled;
    res = db_query(c,
                   "INSERT INTO webhooks (org_id, url, kinds, team_id, format, secret, enabled)"
                   " VALUES ($1, $2, coalesce($3::text[], '{threshold,forecast,denial,unpriced}'),"
                   " $4, coalesce($5, 'standard'), $6, coalesce($7::bool, true)) RETURNING id",
                   7, p);
    if (!res) {
        http_reply_db_error(r, c);
        goto out;
    }
    snprintf(r->location, sizeof(r->location), "/v1/admin/webhooks/%s", PQgetvalue(res, 0, 0));
    snprintf(tid, sizeof(tid), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    reply_webhook(r, c, 201, tid, secret);
out:
    json_decref(body);
    db_release(r->app->db, &c);
}

void api_webhooks_update(struct http_req *r)
{
    static const char *const fields[] = {"url", "kinds", "team", "format", "enabled", NULL};
    const char *url, *team, *format, *enabled;
    char id[24], kinds[80], tid[24];
    bool kinds_given, team_clear;
    struct store_team t = {0};
    struct api_scope_params sp;
    const char *p[9];
    struct db_conn *c = NULL;
    json_t *body = NULL;
    PGresult *res;

    if (!api_id_param(r, "webhook", id) || !(body = http_body_object(r)))
        return;
    if (!api_only_fields(r, body, fields) || !api_opt_string(r, body, "url", URL_MAX, &url) ||
        !api_opt_string(r, body, "team", 63, &team) || !format_param(r, body, &format) ||
        !enabled_param(r, body, &enabled) ||
        !kinds_param(r, body, kinds, sizeof(kinds), &kinds_given))
        goto out;
    if (url && !url_valid(r, url))
        goto out;
    team_clear = json_is_null(json_object_get(body, "team"));
    if (team_clear && r->key.team_id) {
        http_reply_error(r, 403, "forbidden", "team",
                         "a team-scoped key cannot make a webhook org-wide");
        goto out;
    }
    if (!(c = api_db(r)))
        goto out;
    if (team && !api_resolve_team(r, c, "team", team, &t))
        goto out;
    api_scope_params(r, &sp);
    snprintf(tid, sizeof(tid), "%" PRId64, t.id);
    p[0] = sp.org, p[1] = sp.root, p[2] = id, p[3] = url, p[4] = kinds_given ? kinds : NULL;
    p[5] = team ? tid : NULL, p[6] = team_clear ? "t" : "f", p[7] = format, p[8] = enabled;
    res =
        db_query(c,
                 STORE_SUBTREE_CTE
                 "UPDATE webhooks w SET url = coalesce($4, w.url),"
                 " kinds = coalesce($5::text[], w.kinds),"
                 " team_id = CASE WHEN $7::bool THEN NULL ELSE coalesce($6::bigint, w.team_id) END,"
                 " format = coalesce($8, w.format), enabled = coalesce($9::bool, w.enabled),"
                 " disabled_reason = CASE WHEN $9::bool THEN NULL ELSE w.disabled_reason END,"
                 " updated_at = now()"
                 " WHERE w.org_id = $1 AND w.id = $3::bigint AND " API_VISIBLE(
                     "w.team_id") " RETURNING w.id",
                 9, p);
    if (!res) {
        http_reply_db_error(r, c);
        goto out;
    }
    if (PQntuples(res) < 1)
        http_reply_error(r, 404, "not_found", NULL, "no such webhook");
    else
        reply_webhook(r, c, 200, id, NULL);
    PQclear(res);
    if (enabled && enabled[0] == 't')
        webhooks_poke(); /* deliveries held while it was disabled may go now */
out:
    json_decref(body);
    db_release(r->app->db, &c);
}

void api_webhooks_delete(struct http_req *r)
{
    struct api_scope_params sp;
    char id[24];
    const char *p[3];
    struct db_conn *c;

    if (!api_id_param(r, "webhook", id) || !(c = api_db(r)))
        return;
    api_scope_params(r, &sp);
    p[0] = sp.org, p[1] = sp.root, p[2] = id;
    api_reply_sql_json(
        r, c, 200, "webhook",
        STORE_SUBTREE_CTE
        ", w AS (DELETE FROM webhooks w WHERE w.org_id = $1 AND w.id = $3::bigint"
        " AND " API_VISIBLE("w.team_id") " RETURNING w.*)"
                                         " SELECT " WEBHOOK_JSON
                                         " FROM w LEFT JOIN teams t ON t.id = w.team_id",
        3, p);
    db_release(r->app->db, &c);
}

void api_webhooks_rotate(struct http_req *r)
{
    struct api_scope_params sp;
    char id[24], secret[DELIVERY_SECRET_LEN + 1];
    const char *p[4];
    struct db_conn *c;
    PGresult *res;

    if (!api_id_param(r, "webhook", id))
        return;
    if (!delivery_secret_new(secret)) {
        http_reply_error(r, 500, "internal", NULL, "no randomness for the secret");
        return;
    }
    if (!(c = api_db(r)))
        return;
    api_scope_params(r, &sp);
    p[0] = sp.org, p[1] = sp.root, p[2] = id, p[3] = secret;
    /* The old secret keeps signing for 24 hours, beside the new one. */
    res = db_query(c,
                   STORE_SUBTREE_CTE
                   "UPDATE webhooks w SET previous_secret = w.secret,"
                   " previous_expires_at = now() + interval '24 hours', secret = $4,"
                   " updated_at = now()"
                   " WHERE w.org_id = $1 AND w.id = $3::bigint AND " API_VISIBLE(
                       "w.team_id") " RETURNING w.id",
                   4, p);
    if (!res)
        http_reply_db_error(r, c);
    else if (PQntuples(res) < 1)
        http_reply_error(r, 404, "not_found", NULL, "no such webhook");
    else
        reply_webhook(r, c, 200, id, secret);
    PQclear(res);
    db_release(r->app->db, &c);
}

/* Replies with delivery id as JSON. */
static void reply_delivery(struct http_req *r, struct db_conn *c, int status, const char *id)
{
    const char *p[1] = {id};
    api_reply_sql_json(r, c, status, "delivery",
                       "SELECT " DELIVERY_JSON " FROM webhook_deliveries d"
                       " JOIN alerts a ON a.id = d.alert_id WHERE d.id = $1::bigint",
                       1, p);
}

/* Reads the webhook's enabled flag as the key sees it: 1 on, 0 off, -1 replied (404 or error). */
static int webhook_enabled(struct http_req *r, struct db_conn *c, const char *id)
{
    struct api_scope_params sp;
    const char *p[3];
    PGresult *res;
    int on;

    api_scope_params(r, &sp);
    p[0] = sp.org, p[1] = sp.root, p[2] = id;
    res = db_query(c,
                   STORE_SUBTREE_CTE "SELECT w.enabled FROM webhooks w WHERE w.org_id = $1"
                                     " AND w.id = $3::bigint AND " API_VISIBLE("w.team_id"),
                   3, p);
    if (!res) {
        http_reply_db_error(r, c);
        return -1;
    }
    if (PQntuples(res) < 1) {
        PQclear(res);
        http_reply_error(r, 404, "not_found", NULL, "no such webhook");
        return -1;
    }
    on = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return on;
}

void api_webhooks_test(struct http_req *r)
{
    char id[24], org[24];
    const char *p[2] = {org, id};
    struct db_conn *c;
    PGresult *res;
    int on;

    if (!api_id_param(r, "webhook", id) || !(c = api_db(r)))
        return;
    if ((on = webhook_enabled(r, c, id)) < 0)
        goto out;
    if (!on) {
        http_reply_error(r, 409, "webhook_disabled", NULL,
                         "the webhook is disabled; enable it first");
        goto out;
    }
    snprintf(org, sizeof(org), "%" PRId64, r->key.org_id);
    /* A 'test' alert of its own (unique dedup key) and one delivery to this endpoint only. */
    res = db_query(
        c,
        "WITH n AS (SELECT nextval(pg_get_serial_sequence('alerts', 'id')) AS id),"
        " a AS (INSERT INTO alerts (id, org_id, kind, team_id, dedup_key, payload)"
        " OVERRIDING SYSTEM VALUE"
        " SELECT n.id, $1, 'test', w.team_id, 'test:' || n.id, jsonb_build_object('type', 'test',"
        " 'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " 'data', jsonb_build_object('alert_id', n.id, 'kind', 'test', 'budget', NULL::jsonb,"
        " 'team', t.slug, 'period', NULL::jsonb, 'limit_usd', NULL::text, 'spent_usd', NULL::text,"
        " 'forecast_usd', NULL::text, 'threshold_percent', NULL::text, 'used_percent', NULL::text,"
        " 'model', NULL::jsonb, 'message', 'Test event from Tollgate for webhook ' || w.id,"
        " 'dashboard_url', NULL::text))"
        " FROM n, webhooks w LEFT JOIN teams t ON t.id = w.team_id WHERE w.id = $2::bigint"
        " RETURNING id)"
        " INSERT INTO webhook_deliveries (alert_id, webhook_id, msg_id)"
        " SELECT a.id, $2::bigint, 'msg_' || replace(gen_random_uuid()::text, '-', '') FROM a"
        " RETURNING id",
        2, p);
    if (!res) {
        http_reply_db_error(r, c);
        goto out;
    }
    snprintf(id, sizeof(id), "%s", PQntuples(res) ? PQgetvalue(res, 0, 0) : "0");
    PQclear(res);
    webhooks_poke();
    snprintf(r->location, sizeof(r->location), "/v1/admin/deliveries/%s", id);
    reply_delivery(r, c, 201, id);
out:
    db_release(r->app->db, &c);
}

void api_webhooks_deliveries(struct http_req *r)
{
    static const char *const statuses[] = {"pending", "delivered", "dead", "disabled", NULL};
    const char *status = http_query(r, "status");
    struct api_scope_params sp;
    char id[24];
    const char *p[4];
    struct db_conn *c;

    if (!api_id_param(r, "webhook", id))
        return;
    if (status) {
        int k = 0;
        while (statuses[k] && strcmp(statuses[k], status) != 0)
            k++;
        if (!statuses[k]) {
            http_reply_error(r, 400, "invalid_query", "status",
                             "'status' must be pending, delivered, dead or disabled");
            return;
        }
    }
    if (!(c = api_db(r)))
        return;
    api_scope_params(r, &sp);
    p[0] = sp.org, p[1] = sp.root, p[2] = id, p[3] = status;
    api_reply_sql_json(
        r, c, 200, "webhook",
        STORE_SUBTREE_CTE
        "SELECT json_build_object('deliveries', coalesce((SELECT json_agg(x.j ORDER BY x.id DESC)"
        " FROM (SELECT d.id, " DELIVERY_JSON " j FROM webhook_deliveries d JOIN alerts a"
        " ON a.id = d.alert_id WHERE d.webhook_id = w.id AND ($4::text IS NULL OR d.status = $4)"
        " ORDER BY d.id DESC LIMIT 100) x), '[]'))"
        " FROM webhooks w WHERE w.org_id = $1 AND w.id = $3::bigint AND " API_VISIBLE("w.team_id"),
        4, p);
    db_release(r->app->db, &c);
}

void api_deliveries_redeliver(struct http_req *r)
{
    struct api_scope_params sp;
    char id[24];
    const char *p[3];
    struct db_conn *c;
    PGresult *res;

    if (!api_id_param(r, "delivery", id) || !(c = api_db(r)))
        return;
    api_scope_params(r, &sp);
    p[0] = sp.org, p[1] = sp.root, p[2] = id;
    res = db_query(c,
                   STORE_SUBTREE_CTE
                   "SELECT d.status, w.enabled FROM webhook_deliveries d JOIN webhooks w"
                   " ON w.id = d.webhook_id WHERE w.org_id = $1 AND d.id = $3::bigint"
                   " AND " API_VISIBLE("w.team_id"),
                   3, p);
    if (!res) {
        http_reply_db_error(r, c);
        goto out;
    }
    if (PQntuples(res) < 1) {
        http_reply_error(r, 404, "not_found", NULL, "no such delivery");
    } else if (PQgetvalue(res, 0, 1)[0] != 't') {
        http_reply_error(r, 409, "webhook_disabled", NULL,
                         "the delivery's webhook is disabled; enable it first");
    } else if (!strcmp(PQgetvalue(res, 0, 0), "pending")) {
        http_reply_error(r, 409, "pending", NULL, "the delivery is already pending");
    } else {
        const char *q[1] = {id};
        PGresult *upd = db_query(c,
                                 "UPDATE webhook_deliveries SET status = 'pending', attempts = 0,"
                                 " next_attempt_at = now(), last_status = NULL, last_error = NULL,"
                                 " delivered_at = NULL WHERE id = $1::bigint",
                                 1, q);
        if (!upd) {
            http_reply_db_error(r, c);
        } else {
            webhooks_poke();
            reply_delivery(r, c, 200, id);
        }
        PQclear(upd);
    }
    PQclear(res);
out:
    db_release(r->app->db, &c);
}

/* ---- GET /v1/alerts ---- */

void api_alerts_list(struct http_req *r)
{
    static const char *const kinds[] = {"threshold", "forecast", "denial",
                                        "unpriced",  "test",     NULL};
    const char *kind = http_query(r, "kind"), *team = http_query(r, "team");
    const char *from = http_query(r, "from"), *to = http_query(r, "to");
    const char *lim_s = http_query(r, "limit");
    struct api_scope_params sp;
    char lim[16] = "100";
    const char *p[7];
    struct db_conn *c;
    PGresult *res;

    if (kind) {
        int k = 0;
        while (kinds[k] && strcmp(kinds[k], kind) != 0)
            k++;
        if (!kinds[k]) {
            http_reply_error(r, 400, "invalid_query", "kind",
                             "'kind' must be threshold, forecast, denial, unpriced or test");
            return;
        }
    }
    if (team && !event_slug_valid(team)) {
        http_reply_error(r, 400, "invalid_query", "team", "'team' must be a team slug");
        return;
    }
    if (lim_s) {
        char *end;
        long v = strtol(lim_s, &end, 10);
        if (*end || end == lim_s || v < 1 || v > 1000) {
            http_reply_error(r, 400, "invalid_query", "limit", "'limit' must be 1 to 1000");
            return;
        }
        snprintf(lim, sizeof(lim), "%ld", v);
    }
    if (!(c = api_db(r)))
        return;
    /* Validate the times apart, so a bad one is a 400 naming it rather than a query error. */
    for (int i = 0; i < 2; i++) {
        const char *v = i ? to : from;
        const char *q[1] = {v};
        if (!v)
            continue;
        if (!(res = db_query(c, "SELECT $1::timestamptz", 1, q))) {
            if (!strncmp(db_conn_sqlstate(c), "22", 2))
                http_reply_error(r, 400, "invalid_query", i ? "to" : "from",
                                 "'%s' must be an RFC 3339 time", i ? "to" : "from");
            else
                http_reply_db_error(r, c);
            goto out;
        }
        PQclear(res);
    }
    api_scope_params(r, &sp);
    p[0] = sp.org, p[1] = sp.root, p[2] = kind, p[3] = team, p[4] = from, p[5] = to, p[6] = lim;
    api_reply_sql_json(
        r, c, 200, "alerts",
        "WITH RECURSIVE sub AS (SELECT id FROM teams WHERE id = $2::bigint"
        " UNION ALL SELECT c.id FROM teams c JOIN sub ON c.parent_id = sub.id),"
        " tsub AS (SELECT id FROM teams WHERE org_id = $1 AND slug = $4"
        " UNION ALL SELECT c.id FROM teams c JOIN tsub ON c.parent_id = tsub.id)"
        " SELECT json_build_object('alerts', coalesce(json_agg(x.j ORDER BY x.id DESC), '[]'))"
        " FROM (SELECT a.id, json_build_object('id', a.id, 'kind', a.kind, 'team', t.slug,"
        " 'budget_id', a.budget_id, 'period_start', a.period_start, 'threshold', a.threshold,"
        " 'created_at', a.created_at, 'payload', a.payload, 'deliveries', coalesce((SELECT"
        " json_agg(json_build_object('id', d.id, 'webhook_id', d.webhook_id, 'msg_id', d.msg_id,"
        " 'status', d.status, 'attempts', d.attempts, 'last_status', d.last_status,"
        " 'delivered_at', d.delivered_at) ORDER BY d.id) FROM webhook_deliveries d"
        " WHERE d.alert_id = a.id), '[]')) j"
        " FROM alerts a LEFT JOIN teams t ON t.id = a.team_id"
        " WHERE a.org_id = $1 AND " API_VISIBLE(
            "a.team_id") " AND ($3::text IS NULL OR a.kind = $3)"
                         " AND ($4::text IS NULL OR a.team_id IN (SELECT id FROM tsub))"
                         " AND ($5::timestamptz IS NULL OR a.created_at >= $5::timestamptz)"
                         " AND ($6::timestamptz IS NULL OR a.created_at < $6::timestamptz)"
                         " ORDER BY a.id DESC LIMIT $7::int) x",
        7, p);
out:
    db_release(r->app->db, &c);
}
