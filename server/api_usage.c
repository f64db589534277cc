/*
 * api_usage: POST /v1/usage. Each event is decoded and validated (pure, in
 * ingest/), its team and project resolved from the scope cache, its key's
 * scope checked, and priced from the catalog, all on the HTTP thread; then
 * the request's rows go to the writer as one job and the connection is
 * suspended until the writer has committed (or spooled) them. The reply
 * counts outcomes and lists each rejected event with its reason.
 */
#include "api.h"
#include "log.h"
#include "metrics.h"
#include "prices.h"
#include "scopes.h"
#include "writer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct usage_req {
    struct writer_job job; /* first: see api_job_start */
    bool batch;            /* sent as {"events": [...]} */
    size_t total;          /* events in the request */
    json_t *rejected;      /* array of {"index","id","error"} found before writing */
    size_t *index;         /* row -> index of the event in the request */
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void free_usage(struct usage_req *u)
{
    if (!u)
        return;
    for (size_t i = 0; i < u->job.n; i++)
        event_clear(&u->job.rows[i].ev);
    free(u->job.rows);
    free(u->index);
    json_decref(u->rejected);
    free(u);
}

static void reject(struct usage_req *u, size_t index, const json_t *ev, int status,
                   const char *code, const char *field, const char *message)
{
    json_t *id = json_is_object(ev) ? json_object_get(ev, "id") : NULL;
    json_t *e = json_pack("{s:s, s:s, s:o, s:i}", "code", code, "message", message, "field",
                          field && *field ? json_string(field) : json_null(), "status", status);
    json_array_append_new(u->rejected, json_pack("{s:I, s:O?, s:o}", "index", (json_int_t)index,
                                                 "id", json_is_string(id) ? id : NULL, "error", e));
}

/* True if id lies in the key's scope (always, for an unscoped key). */
static bool in_scope(struct http_req *r, int64_t id, bool *db_error)
{
    return !r->key.team_id || scopes_within(r->app->db, id, r->key.team_id, db_error);
}

bool api_usage_resolve_scope(struct http_req *r, struct ingest_row *row, struct event_error *err,
                             bool *db_error)
{
    bool create = strcmp(r->app->cfg->unknown_teams, "create") == 0;
    bool scoped = r->key.team_id != 0, team_in_scope;
    struct scope_team t, p;

    /*
     * A scoped key may not create teams (a new team is never inside its
     * scope), and learns nothing about teams outside its scope: unknown and
     * foreign teams are both 403.
     */
    switch (scopes_team(r->app->db, r->key.org_id, row->ev.team, create && !scoped, &t)) {
    case SCOPES_OK:
        break;
    case SCOPES_NOT_FOUND:
        if (scoped)
            return event_fail(err, 403, "forbidden", "team", "team '%s' is outside this key's team",
                              row->ev.team);
        return event_fail(err, 422, "unknown_team", "team",
                          "no team '%s'; create it with POST /v1/admin/teams", row->ev.team);
    case SCOPES_WRONG_KIND:
        return event_fail(err, 422, "invalid_value", "team", "'%s' is a project, not a team",
                          row->ev.team);
    case SCOPES_DB_ERROR:
        *db_error = true;
        return false;
    }
    team_in_scope = in_scope(r, t.id, db_error);
    if (*db_error)
        return false;
    /* A key scoped to a project is in scope only through that project. */
    if (!team_in_scope && !row->ev.project[0])
        return event_fail(err, 403, "forbidden", "team", "team '%s' is outside this key's team",
                          row->ev.team);
    if (t.archived)
        return event_fail(err, 422, "archived_team", "team", "team '%s' is archived", row->ev.team);
    row->team_id = t.id;
    if (!row->ev.project[0])
        return true;
    switch (scopes_project(r->app->db, r->key.org_id, t.id, row->ev.project,
                           create && team_in_scope, &p)) {
    case SCOPES_OK:
        break;
    case SCOPES_NOT_FOUND:
        if (!team_in_scope)
            return event_fail(err, 403, "forbidden", "project",
                              "project '%s' is outside this key's team", row->ev.project);
        return event_fail(err, 422, "unknown_project", "project", "no project '%s' in team '%s'",
                          row->ev.project, row->ev.team);
    case SCOPES_WRONG_KIND:
        return event_fail(err, 422, "invalid_value", "project",
                          "'%s' is not a project of team '%s'", row->ev.project, row->ev.team);
    case SCOPES_DB_ERROR:
        *db_error = true;
        return false;
    }
    if (!team_in_scope && !in_scope(r, p.id, db_error))
        return *db_error ? false
                         : event_fail(err, 403, "forbidden", "project",
                                      "project '%s' is outside this key's team", row->ev.project);
    if (p.archived)
        return event_fail(err, 422, "archived_team", "project", "project '%s' is archived",
                          row->ev.project);
    row->project_id = p.id;
    return true;
}

/* Resolves the event's team and project; false with the event rejected. */
static bool resolve_scope(struct http_req *r, struct usage_req *u, size_t index, const json_t *obj,
                          struct ingest_row *row, bool *db_error)
{
    struct event_error err;

    if (api_usage_resolve_scope(r, row, &err, db_error))
        return true;
    if (*db_error)
        return false;
    if (err.status == 403) /* outside the key's scope: the whole request, nothing stored */
        http_reply_error(r, 403, err.code, err.field, "event %zu: %s; nothing was stored", index,
                         err.message);
    else
        reject(u, index, obj, err.status, err.code, err.field, err.message);
    return false;
}

/* Builds the reply from what the writer did and what was rejected before. */
static void finish(struct http_req *r)
{
    struct usage_req *u = r->defer_arg;
    size_t accepted = 0, dup = 0, spooled = 0, unavailable = 0, failed = 0;
    json_t *body;

    for (size_t i = 0; i < u->job.n; i++) {
        struct ingest_row *row = &u->job.rows[i];
        json_t *obj = NULL;
        switch (row->outcome) {
        case ROW_ACCEPTED:
            accepted++;
            metrics_add(M_EVENTS_UNPRICED, row->price_id == 0);
            break;
        case ROW_DUPLICATE:
            dup++;
            break;
        case ROW_CONFLICT:
            obj = json_pack("{s:s}", "id", row->ev.id);
            reject(u, u->index[i], obj, 409, "conflict", "id",
                   "this id was stored before with different content; the original is kept");
            json_decref(obj);
            metrics_add(M_EVENTS_CONFLICT, 1);
            break;
        case ROW_SPOOLED:
            spooled++;
            break;
        case ROW_UNAVAILABLE:
            unavailable++;
            break;
        default:
            failed++;
            obj = json_pack("{s:s}", "id", row->ev.id);
            reject(u, u->index[i], obj, 500, "internal", NULL,
                   "the database refused this event; see the server log");
            json_decref(obj);
        }
    }
    metrics_add(M_EVENTS_ACCEPTED, accepted);
    metrics_add(M_EVENTS_DUPLICATE, dup);
    metrics_add(M_EVENTS_SPOOLED, spooled);
    metrics_add(M_EVENTS_UNAVAILABLE, unavailable);
    metrics_add(M_EVENTS_FAILED, failed);
    if (unavailable) {
        snprintf(r->retry_after, sizeof(r->retry_after), "5");
        http_reply_error(r, 503, "unavailable", NULL,
                         "the database is unreachable and the spool is %s; nothing was stored",
                         r->app->cfg->spool_max ? "full" : "off");
        goto out;
    }
    /* A single event's failure is the reply's status; a batch always answers 200/202. */
    if (!u->batch && json_array_size(u->rejected) == 1) {
        json_t *e = json_object_get(json_array_get(u->rejected, 0), "error");
        int status = (int)json_integer_value(json_object_get(e, "status"));
        json_object_del(e, "status");
        json_object_set_new(e, "request_id", json_string(r->id));
        http_reply_json(r, status, json_pack("{s:O}", "error", e));
        goto out;
    }
    for (size_t i = 0; i < json_array_size(u->rejected); i++)
        json_object_del(json_object_get(json_array_get(u->rejected, i), "error"), "status");
    body = json_pack("{s:I, s:I, s:I, s:O}", "accepted", (json_int_t)accepted, "duplicates",
                     (json_int_t)dup, "spooled", (json_int_t)spooled, "rejected", u->rejected);
    http_reply_json(r, spooled ? 202 : 200, body);
out:
    free_usage(u);
    r->defer_arg = NULL;
}

void api_usage_post(struct http_req *r)
{
    json_t *body = http_body_object(r), *events;
    struct usage_req *u = NULL;
    size_t n;
    int64_t now = now_us();
    const struct catalog *cat;
    bool db_error = false;

    if (!body)
        return;
    events = json_object_get(body, "events");
    if (events) {
        if (!json_is_array(events) || json_object_size(body) != 1) {
            http_reply_error(r, 400, json_is_array(events) ? "unknown_field" : "invalid_type",
                             "events", "a batch is {\"events\": [...]} with no other members");
            goto out;
        }
        n = json_array_size(events);
        if (n == 0) {
            http_reply_error(r, 400, "invalid_value", "events", "'events' is empty");
            goto out;
        }
        if ((long)n > r->app->cfg->batch_max) {
            http_reply_error(r, 413, "too_many_events", "events",
                             "%zu events in one request; the limit is %ld", n,
                             r->app->cfg->batch_max);
            goto out;
        }
    } else {
        n = 1;
    }
    u = calloc(1, sizeof(*u));
    if (!u || !(u->job.rows = calloc(n, sizeof(*u->job.rows))) ||
        !(u->index = calloc(n, sizeof(*u->index))) || !(u->rejected = json_array())) {
        http_reply_error(r, 500, "internal", NULL, "out of memory");
        goto out;
    }
    u->batch = events != NULL;
    u->total = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *obj = events ? json_array_get(events, i) : body;
        struct ingest_row *row = &u->job.rows[u->job.n];
        struct event_error err;

        if (!json_is_object(obj)) {
            reject(u, i, obj, 400, "invalid_type", NULL, "an event must be a JSON object");
            continue;
        }
        if (!event_decode(obj, now, &row->ev, &err)) {
            reject(u, i, obj, err.status, err.code, err.field, err.message);
            continue;
        }
        row->org_id = r->key.org_id;
        row->ingest_key = r->key.id;
        if (!resolve_scope(r, u, i, obj, row, &db_error)) {
            event_clear(&row->ev);
            if (db_error || r->replied)
                break;
            continue;
        }
        u->index[u->job.n++] = i;
    }
    if (db_error) {
        http_reply_db_error(r, NULL);
        goto out;
    }
    if (r->replied) /* 403: nothing stored */
        goto out;
    metrics_add(M_EVENTS_REJECTED, json_array_size(u->rejected));
    cat = prices_lock();
    for (size_t i = 0; i < u->job.n; i++) {
        prices_price_row(cat, &u->job.rows[i]);
        writer_hash_row(&u->job.rows[i]);
    }
    prices_unlock();
    u->job.done = api_job_resume;
    u->job.arg = r;
    r->defer_arg = u;
    u = NULL;
    if (((struct usage_req *)r->defer_arg)->job.n == 0) {
        finish(r); /* nothing to write */
        goto out;
    }
    http_defer(r, api_job_start, finish);
out:
    free_usage(u);
    json_decref(body);
}
