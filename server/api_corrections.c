/*
 * api_corrections: GET /v1/usage/{id}, an event as the system understood it
 * (tokens by class, the price row and per-class prices it was billed at,
 * exact costs, its correction history), and POST /v1/usage/{id}/void and
 * /amend, which correct an event and keep an audit trail.
 *
 * A correction is one transaction on a pooled connection. It locks the id's
 * row in usage_event_ids (which serializes corrections of one event), then
 * the latest revision; supersedes it; moves the rollups by signed amounts
 * (rollup.h), in key order like the writer so the two never deadlock; and
 * records a usage_corrections row. An amendment's new revision goes through
 * the writer's COPY line format (writer_stage), so it is stored exactly as
 * ingest would store it. Handlers run on HTTP threads; each owns its state.
 */
#include "api.h"
#include "verdicts.h"
#include "log.h"
#include "prices.h"
#include "rollup.h"
#include "scopes.h"
#include "store.h"
#include "writer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REASON_MAX 1000 /* bytes; usage_corrections.reason allows 1000 characters */
#define TRIES      3    /* attempts of a transaction that lost a deadlock */

// clang-format off
/*
 * The reply of every endpoint here: the latest revision of event $3 of org
 * $1, if the key (scope root $2, 0 = the whole org) may see it: its team or
 * project lies in the key's subtree. Costs and prices are exact decimal
 * strings. usd_per_mtok gives each class at the rate it is billed (a class
 * with no price of its own is billed at the input price, and billed_at_input
 * names it). The history lists revision 1's ingest, then each correction in
 * order, with what the event counted for after it (0 after a void).
 */
static const char get_sql[] =
    STORE_SUBTREE_CTE
    "SELECT json_build_object('id', e.event_id, 'revision', e.revision,"
    " 'state', CASE WHEN e.superseded_at IS NULL THEN 'live' ELSE 'voided' END,"
    " 'timestamp', e.ts, 'received_at', e.received_at, 'team', t.slug, 'project', p.slug,"
    " 'user', u.external_id, 'api_key_id', e.api_key_id, 'provider', e.provider,"
    " 'model', e.model, 'provider_sent', coalesce(e.raw_provider, e.provider),"
    " 'model_sent', coalesce(e.raw_model, e.model), 'requested_model', e.requested_model,"
    " 'request_id', e.request_id, 'call_status', e.status, 'latency_ms', e.latency_ms,"
    " 'mode', e.mode, 'usage_format', e.source, 'tags', e.tags,"
    " 'tokens', json_build_object('input_uncached', e.input_uncached,"
    "  'cache_read', e.cache_read, 'cache_write_5m', e.cache_write_5m,"
    "  'cache_write_1h', e.cache_write_1h, 'output', e.output, 'reasoning', e.reasoning),"
    " 'priced', e.price_id IS NOT NULL,"
    " 'price', CASE WHEN pr.id IS NOT NULL THEN json_build_object('id', pr.id,"
    "  'scope', CASE WHEN pr.org_id IS NULL THEN 'list' ELSE 'org' END,"
    "  'provider', pr.provider, 'model', pr.model, 'effective_from', pr.effective_from,"
    "  'min_prompt_tokens', pr.min_prompt_tokens,"
    "  'usd_per_mtok', json_build_object('input', trim_scale(pr.input)::text,"
    "   'cache_read', trim_scale(coalesce(pr.cache_read, pr.input))::text,"
    "   'cache_write_5m', trim_scale(coalesce(pr.cache_write_5m, pr.input))::text,"
    "   'cache_write_1h', trim_scale(coalesce(pr.cache_write_1h, pr.input))::text,"
    "   'output', trim_scale(pr.output)::text),"
    "  'billed_at_input', array_to_json(array_remove(ARRAY["
    "   CASE WHEN pr.cache_read IS NULL THEN 'cache_read' END,"
    "   CASE WHEN pr.cache_write_5m IS NULL THEN 'cache_write_5m' END,"
    "   CASE WHEN pr.cache_write_1h IS NULL THEN 'cache_write_1h' END], NULL)),"
    "  'mode_multiplier', trim_scale(CASE e.mode"
    "   WHEN 'batch' THEN coalesce(pr.batch_multiplier, 1)"
    "   WHEN 'flex' THEN coalesce(pr.flex_multiplier, 1)"
    "   WHEN 'priority' THEN coalesce(pr.priority_multiplier, 1) ELSE 1 END)::text) END,"
    " 'list_cost', trim_scale(e.list_cost)::text,"
    " 'effective_cost', trim_scale(e.effective_cost)::text, 'currency', 'USD',"
    " 'history', (SELECT json_agg(json_build_object('revision', h.revision,"
    "  'action', h.action, 'at', h.at, 'reason', h.reason, 'effective_cost', h.effective_cost,"
    "  'list_cost', h.list_cost, 'by_key', h.by_key) ORDER BY h.revision, h.ord, h.at)"
    "  FROM (SELECT v.revision, 'ingest' AS action, 0 AS ord, v.received_at AS at,"
    "   NULL::text AS reason, trim_scale(v.effective_cost)::text AS effective_cost,"
    "   trim_scale(v.list_cost)::text AS list_cost, v.api_key_id AS by_key"
    "   FROM usage_events v WHERE v.org_id = $1 AND v.event_id = $3 AND v.revision = 1"
    "   UNION ALL SELECT c.revision, c.action, CASE c.action WHEN 'amend' THEN 1 ELSE 2 END,"
    "   c.at, nullif(c.reason, ''),"
    "   CASE WHEN c.action = 'void' THEN '0' ELSE trim_scale(v.effective_cost)::text END,"
    "   CASE WHEN c.action = 'void' THEN '0' ELSE trim_scale(v.list_cost)::text END,"
    "   c.api_key_id FROM usage_corrections c LEFT JOIN usage_events v"
    "   ON v.org_id = c.org_id AND v.event_id = c.event_id AND v.revision = c.revision"
    "   WHERE c.org_id = $1 AND c.event_id = $3) h))"
    " FROM (SELECT * FROM usage_events WHERE org_id = $1 AND event_id = $3"
    "  ORDER BY revision DESC LIMIT 1) e"
    " LEFT JOIN teams t ON t.id = e.team_id LEFT JOIN teams p ON p.id = e.project_id"
    " LEFT JOIN users u ON u.id = e.user_id LEFT JOIN prices pr ON pr.id = e.price_id"
    " WHERE $2::bigint = 0 OR e.team_id IN (SELECT id FROM sub)"
    " OR e.project_id IN (SELECT id FROM sub)";

/* Locks the id ($1 org, $2 id): corrections of one event take turns here. */
static const char lock_id_sql[] =
    "SELECT 1 FROM usage_event_ids WHERE org_id = $1 AND event_id = $2 FOR UPDATE";

/*
 * Locks the latest revision of event $3 (org $1) and says whether it is live
 * and visible to the key (scope root $2), its time as microseconds and as
 * text, its content hash and its api key.
 */
static const char lock_rev_sql[] =
    STORE_SUBTREE_CTE
    "SELECT e.revision, e.superseded_at IS NULL, $2::bigint = 0"
    " OR e.team_id IN (SELECT id FROM sub) OR e.project_id IN (SELECT id FROM sub),"
    " (extract(epoch FROM e.ts) * 1000000)::bigint, e.ts, encode(e.content_hash, 'hex'),"
    " coalesce(e.api_key_id, 0)"
    " FROM usage_events e WHERE e.org_id = $1 AND e.event_id = $3"
    " ORDER BY e.revision DESC LIMIT 1 FOR UPDATE OF e";

/*
 * Supersedes revision $3 of event $2 (org $1, at time $6) as `prev`. The
 * statements built on it share these parameters, plus $4 the reason and
 * $5 the correcting key.
 */
#define PREV_CTE                                                                                   \
    "WITH prev AS (UPDATE usage_events SET superseded_at = now() WHERE org_id = $1::bigint"        \
    " AND ts = $6::timestamptz AND event_id = $2::text AND revision = $3::int"                     \
    " AND superseded_at IS NULL RETURNING *),"

/* Adds x (usage_events rows, each with a sign n) to the rollups, in the writer's key order. */
#define ROLLUP_DELTA(x)                                                                            \
    " roll AS (INSERT INTO spend_hourly AS h " ROLLUP_COLUMNS                                      \
    " SELECT org_id, date_trunc('hour', ts), team_id, project_id, user_id, provider, model, mode," \
    " sum(n), coalesce(sum(n) FILTER (WHERE status = 'error'), 0),"                                \
    " coalesce(sum(n) FILTER (WHERE price_id IS NULL), 0), sum(n * input_uncached),"               \
    " sum(n * cache_read), sum(n * cache_write_5m), sum(n * cache_write_1h), sum(n * output),"     \
    " sum(n * reasoning), sum(n * list_cost), sum(n * effective_cost) FROM (" x ") x"              \
    " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8" ROLLUP_ADD " RETURNING 1),"

/* The void: prev leaves the rollups, the id is marked voided, and it is logged. */
static const char void_sql[] =
    PREV_CTE
    ROLLUP_DELTA("SELECT -1 AS n, * FROM prev")
    " ids AS (UPDATE usage_event_ids i SET voided_at = now() FROM prev"
    "  WHERE i.org_id = prev.org_id AND i.event_id = prev.event_id RETURNING 1),"
    " log AS (INSERT INTO usage_corrections (org_id, event_id, action, revision, reason,"
    "  api_key_id) SELECT org_id, event_id, 'void', revision, $4::text, $5::bigint FROM prev"
    "  RETURNING 1)"
    " SELECT count(*) FROM prev";

/*
 * The amendment: the staged row (writer_stage) becomes revision $3 + 1 with
 * its user (made just before), replaces prev in the rollups and in
 * usage_event_ids (so a resend of the amended event is a duplicate), and is
 * logged.
 */
static const char amend_sql[] =
    PREV_CTE
    " cur AS (INSERT INTO usage_events (org_id, event_id, ts, revision, team_id, project_id,"
    "  user_id, api_key_id, provider, model, raw_provider, raw_model, requested_model,"
    "  request_id, status, latency_ms, mode, input_uncached, cache_read, cache_write_5m,"
    "  cache_write_1h, output, reasoning, list_cost, effective_cost, price_id, tags, source,"
    "  content_hash)"
    "  SELECT s.org_id, s.event_id, s.ts, prev.revision + 1, s.team_id, s.project_id, u.id,"
    "  coalesce(s.api_key_id, s.ingest_key), s.provider, s.model, s.raw_provider, s.raw_model,"
    "  s.requested_model, s.request_id, s.status, s.latency_ms, s.mode, s.input_uncached,"
    "  s.cache_read, s.cache_write_5m, s.cache_write_1h, s.output, s.reasoning, s.list_cost,"
    "  s.effective_cost, s.price_id, s.tags, s.source, s.content_hash"
    "  FROM ingest_stage s CROSS JOIN prev"
    "  LEFT JOIN users u ON u.org_id = s.org_id AND u.external_id = s.user_ext"
    "  RETURNING *),"
    ROLLUP_DELTA("SELECT -1 AS n, * FROM prev UNION ALL SELECT 1, * FROM cur")
    " ids AS (UPDATE usage_event_ids i SET revision = cur.revision, ts = cur.ts,"
    "  content_hash = cur.content_hash FROM cur"
    "  WHERE i.org_id = cur.org_id AND i.event_id = cur.event_id RETURNING 1),"
    " log AS (INSERT INTO usage_corrections (org_id, event_id, action, revision, reason,"
    "  api_key_id) SELECT org_id, event_id, 'amend', revision, $4::text, $5::bigint FROM cur"
    "  RETURNING 1)"
    " SELECT count(*) FROM cur";

/* The amendment's user, made as the writer makes users (its first team wins). */
static const char amend_user_sql[] =
    "INSERT INTO users (org_id, external_id, team_id) SELECT org_id, user_ext, team_id"
    " FROM ingest_stage WHERE user_ext IS NOT NULL ON CONFLICT DO NOTHING";

/* Drops rollup rows of org $1 in the hours of $2 and $3 that corrections emptied. */
static const char drop_empty_sql[] =
    "DELETE FROM spend_hourly WHERE org_id = $1::bigint"
    " AND hour IN (date_trunc('hour', $2::timestamptz), date_trunc('hour', $3::timestamptz))"
    " AND (requests, errors, unpriced, input_uncached, cache_read, cache_write_5m,"
    " cache_write_1h, output, reasoning, list_cost, effective_cost)"
    " = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)";
// clang-format on

enum outcome {
    DONE = 0,  /* committed */
    SAME,      /* an amendment identical to the live revision: nothing changed */
    NOT_FOUND, /* no such event, or outside the key's scope */
    VOIDED,    /* the event has no live revision */
    RETRY,     /* lost a deadlock: rolled back, try again */
    FAILED,    /* replied already (500/503) */
};

/* One correction: what the handler parsed, and the key's org and scope as text. */
struct correction {
    bool amend;
    const char *id;     /* the event id from the path */
    const char *reason; /* "" when none */
    char org[24];
    char root[24];
    char key[24];
    struct ingest_row row; /* amend: the corrected event, resolved and hashed */
};

/* The event id from the path: replies 404 unless it could be a stored id. */
static const char *path_id(struct http_req *r)
{
    const char *id = route_param(&r->params, "id");
    json_t *probe;

    if (id) {
        for (const unsigned char *p = (const unsigned char *)id; *p; p++)
            if (*p < 0x20 || *p == 0x7f)
                id = NULL;
    }
    /* jansson refuses invalid UTF-8, which Postgres would refuse too */
    probe = id ? json_string(id) : NULL;
    if (!probe) {
        http_reply_error(r, 404, "not_found", NULL, "no such usage event");
        return NULL;
    }
    json_decref(probe);
    return id;
}

static void key_params(struct http_req *r, struct correction *k)
{
    snprintf(k->org, sizeof(k->org), "%" PRId64, r->key.org_id);
    snprintf(k->root, sizeof(k->root), "%" PRId64, r->key.team_id);
    snprintf(k->key, sizeof(k->key), "%" PRId64, r->key.id);
}

/* Replies with the event as GET shows it (404 when it is gone or out of scope). */
static void reply_event(struct http_req *r, struct db_conn *c, const char *id)
{
    char org[24], root[24];
    const char *p[3] = {org, root, id};

    snprintf(org, sizeof(org), "%" PRId64, r->key.org_id);
    snprintf(root, sizeof(root), "%" PRId64, r->key.team_id);
    api_reply_sql_json(r, c, 200, "usage event", get_sql, 3, p);
}

void api_usage_get(struct http_req *r)
{
    const char *id = path_id(r);
    struct db_conn *c;

    if (!id || !(c = api_db(r)))
        return;
    reply_event(r, c, id);
    db_release(r->app->db, &c);
}

/* ---- the correction transaction ---- */

/* A failed statement: RETRY after a deadlock or serialization failure, else reply. */
static enum outcome failed(struct http_req *r, struct db_conn *c)
{
    const char *state = db_conn_sqlstate(c);
    bool retry = !strcmp(state, "40P01") || !strcmp(state, "40001");

    if (!db_conn_lost(c))
        PQclear(PQexec(db_conn_pg(c), "ROLLBACK"));
    if (retry && !db_conn_lost(c)) {
        log_warn(r->id, "correction of a usage event lost a lock race (%s); retrying", state);
        return RETRY;
    }
    http_reply_db_error(r, c);
    return FAILED;
}

/* Runs sql, a statement whose result is not needed; false on failure. */
static bool step(struct db_conn *c, const char *sql, int n, const char *const *p)
{
    PGresult *res = db_query(c, sql, n, p);
    PQclear(res);
    return res != NULL;
}

/*
 * Stages the amendment's row and applies it: its user, the new revision,
 * rollups, ids and the log. prev_ts is the superseded revision's time.
 */
static enum outcome apply_amend(struct http_req *r, struct db_conn *c, struct correction *k,
                                const char *const *p)
{
    PGconn *pg = db_conn_pg(c);
    char err[512];
    PGresult *res;
    bool applied;

    if (!writer_stage(pg, &k->row, 1, err, sizeof(err))) {
        PQclear(PQexec(pg, "ROLLBACK"));
        if (PQstatus(pg) != CONNECTION_OK) {
            snprintf(r->retry_after, sizeof(r->retry_after), "5");
            http_reply_error(r, 503, "unavailable", NULL,
                             "the database is unreachable; retry later");
        } else {
            log_error(r->id, "staging an amended usage event: %s", err);
            http_reply_error(r, 500, "internal", NULL,
                             "the database refused the amended event; see the server log for "
                             "request %s",
                             r->id);
        }
        return FAILED;
    }
    if (!step(c, amend_user_sql, 0, NULL))
        return failed(r, c);
    res = db_query(c, amend_sql, 6, p);
    if (!res)
        return failed(r, c);
    applied = strcmp(PQgetvalue(res, 0, 0), "1") == 0;
    PQclear(res);
    if (!applied) {
        PQclear(PQexec(pg, "ROLLBACK"));
        log_error(r->id, "amending usage event: the locked revision was not superseded");
        http_reply_error(r, 500, "internal", NULL, "the event changed under the amendment");
        return FAILED;
    }
    return DONE;
}

/*
 * One attempt at the correction, in one transaction. On DONE it has
 * committed; on SAME, NOT_FOUND and VOIDED nothing changed; on RETRY it has
 * rolled back; on FAILED it has replied.
 */
static enum outcome correct_once(struct http_req *r, struct db_conn *c, struct correction *k)
{
    const char *lock_id[2] = {k->org, k->id}, *lock_rev[3] = {k->org, k->root, k->id};
    char rev[16], prev_ts[64], new_ts[40], hash[2 * CRYPTO_SHA256_LEN + 1], old_key[24];
    const char *apply[6], *drop[3];
    PGresult *res;
    int64_t ts_us;

    if (!step(c, "BEGIN", 0, NULL))
        return failed(r, c);
    if (!(res = db_query(c, lock_id_sql, 2, lock_id)))
        return failed(r, c);
    if (PQntuples(res) == 0) {
        PQclear(res);
        PQclear(PQexec(db_conn_pg(c), "ROLLBACK"));
        return NOT_FOUND;
    }
    PQclear(res);
    if (!(res = db_query(c, lock_rev_sql, 3, lock_rev)))
        return failed(r, c);
    if (PQntuples(res) == 0 || PQgetvalue(res, 0, 2)[0] != 't' || PQgetvalue(res, 0, 1)[0] != 't') {
        enum outcome o =
            PQntuples(res) == 0 || PQgetvalue(res, 0, 2)[0] != 't' ? NOT_FOUND : VOIDED;
        PQclear(res);
        PQclear(PQexec(db_conn_pg(c), "ROLLBACK"));
        return o;
    }
    snprintf(rev, sizeof(rev), "%s", PQgetvalue(res, 0, 0));
    ts_us = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
    snprintf(prev_ts, sizeof(prev_ts), "%s", PQgetvalue(res, 0, 4));
    snprintf(hash, sizeof(hash), "%s", PQgetvalue(res, 0, 5));
    snprintf(old_key, sizeof(old_key), "%s", PQgetvalue(res, 0, 6));
    PQclear(res);

    apply[0] = k->org, apply[1] = k->id, apply[2] = rev, apply[3] = k->reason;
    apply[4] = k->key, apply[5] = prev_ts;
    drop[0] = k->org, drop[1] = prev_ts, drop[2] = prev_ts;
    if (k->amend) {
        struct ingest_row *row = &k->row;
        char mine[2 * CRYPTO_SHA256_LEN + 1];
        const struct catalog *cat;

        crypto_hex(row->hash, CRYPTO_SHA256_LEN, mine);
        if (strcmp(mine, hash) == 0) {
            PQclear(PQexec(db_conn_pg(c), "ROLLBACK"));
            return SAME;
        }
        /* No timestamp: the call happened when the event said, not now. */
        if (!row->ev.ts_given)
            row->ev.ts_us = ts_us;
        /* No api_key_id: the revision keeps the key of the one it replaces. */
        row->ingest_key = strtoll(old_key, NULL, 10);
        cat = prices_lock();
        prices_price_row(cat, row);
        prices_unlock();
        event_format_time(row->ev.ts_us, new_ts);
        drop[2] = new_ts;
        switch (apply_amend(r, c, k, apply)) {
        case DONE:
            break;
        case RETRY:
            return RETRY;
        default:
            return FAILED;
        }
    } else {
        if (!(res = db_query(c, void_sql, 6, apply)))
            return failed(r, c);
        PQclear(res);
    }
    if (!step(c, drop_empty_sql, 3, drop) || !step(c, "COMMIT", 0, NULL))
        return failed(r, c);
    return DONE;
}

/* Runs the correction (retrying lost lock races) and replies. */
static void correct(struct http_req *r, struct correction *k)
{
    struct db_conn *c = NULL;
    enum outcome o = RETRY;

    key_params(r, k);
    if (k->amend && k->row.ev.ts_given) {
        /* The new revision's month partition, made outside the transaction. */
        char ts[40];
        const char *p[1] = {ts};
        event_format_time(k->row.ev.ts_us, ts);
        if (!(c = api_db(r)))
            return;
        if (!step(c, "SELECT usage_events_ensure_partition($1::timestamptz)", 1, p)) {
            http_reply_db_error(r, c);
            goto out;
        }
    } else if (!(c = api_db(r))) {
        return;
    }
    for (int i = 0; i < TRIES && o == RETRY; i++)
        o = correct_once(r, c, k);
    switch (o) {
    case DONE:
        verdicts_resync();
        reply_event(r, c, k->id);
        break;
    case SAME:
        reply_event(r, c, k->id);
        break;
    case NOT_FOUND:
        http_reply_error(r, 404, "not_found", NULL, "no such usage event");
        break;
    case VOIDED:
        http_reply_error(r, 409, "already_voided", NULL,
                         "this usage event was voided; it has no live revision to correct");
        break;
    case RETRY:
        snprintf(r->retry_after, sizeof(r->retry_after), "1");
        http_reply_error(r, 503, "unavailable", NULL,
                         "the event is being corrected concurrently; retry");
        break;
    case FAILED:
        break;
    }
out:
    db_release(r->app->db, &c);
}

/* ---- handlers ---- */

/* The optional reason member; false when it replied 400/422. */
static bool get_reason(struct http_req *r, json_t *body, const char **out)
{
    if (!api_opt_string(r, body, "reason", REASON_MAX, out))
        return false;
    if (!*out)
        *out = "";
    return true;
}

void api_usage_void(struct http_req *r)
{
    static const char *const fields[] = {"reason", NULL};
    struct correction k = {.amend = false, .reason = ""};
    json_t *body = NULL;

    if (!(k.id = path_id(r)))
        return;
    /* The body is optional: none, or {"reason": ...}. */
    if (r->body_len > 0) {
        if (!(body = http_body_object(r)))
            return;
        if (!api_only_fields(r, body, fields) || !get_reason(r, body, &k.reason))
            goto out;
    }
    correct(r, &k);
out:
    json_decref(body);
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Replies with an event's refusal, naming the member inside "event" ("event.usage..."). */
static void reply_event_error(struct http_req *r, const struct event_error *err)
{
    char field[80];

    snprintf(field, sizeof(field), "event%s%s", err->field[0] ? "." : "", err->field);
    http_reply_error(r, err->status, err->code, field, "event: %s", err->message);
}

/*
 * Decodes the corrected event into k->row as POST /v1/usage would (its id
 * injected when absent), resolves its team and project and checks the key's
 * scope over them. False when it replied.
 */
static bool decode_amendment(struct http_req *r, json_t *ev, struct correction *k)
{
    struct ingest_row *row = &k->row;
    struct event_error err;
    json_t *copy = NULL, *id = json_object_get(ev, "id");
    bool ok = false, db_error = false;

    if (!id || json_is_null(id)) {
        if (!(copy = json_copy(ev)) || json_object_set_new(copy, "id", json_string(k->id)) != 0) {
            http_reply_error(r, 500, "internal", NULL, "out of memory");
            goto out;
        }
        ev = copy;
    }
    if (!event_decode(ev, now_us(), &row->ev, &err)) {
        reply_event_error(r, &err);
        goto out;
    }
    if (strcmp(row->ev.id, k->id) != 0) {
        http_reply_error(r, 422, "invalid_value", "event.id",
                         "the event's id must be omitted or equal the id in the path");
        goto out;
    }
    if (row->ev.latency_ms > INT32_MAX) {
        http_reply_error(r, 422, "invalid_value", "event.latency_ms",
                         "event: latency_ms must be at most %d", INT32_MAX);
        goto out;
    }
    row->org_id = r->key.org_id;
    if (!api_usage_resolve_scope(r, row, &err, &db_error)) {
        if (db_error)
            http_reply_db_error(r, NULL);
        else
            reply_event_error(r, &err);
        goto out;
    }
    writer_hash_row(row);
    ok = true;
out:
    json_decref(copy);
    return ok;
}

void api_usage_amend(struct http_req *r)
{
    static const char *const fields[] = {"event", "reason", NULL};
    struct correction *k = NULL;
    json_t *body, *ev;

    if (!path_id(r) || !(body = http_body_object(r)))
        return;
    if (!api_only_fields(r, body, fields))
        goto out;
    /* struct ingest_row is a few KB: keep it off the HTTP thread's stack */
    if (!(k = calloc(1, sizeof(*k)))) {
        http_reply_error(r, 500, "internal", NULL, "out of memory");
        goto out;
    }
    k->amend = true;
    k->id = route_param(&r->params, "id");
    if (!get_reason(r, body, &k->reason))
        goto out;
    ev = json_object_get(body, "event");
    if (!ev || json_is_null(ev)) {
        http_reply_error(r, 400, "missing_field", "event",
                         "'event' is required: the corrected event, as POST /v1/usage takes it");
        goto out;
    }
    if (!json_is_object(ev)) {
        http_reply_error(r, 400, "invalid_type", "event", "'event' must be an object");
        goto out;
    }
    if (!decode_amendment(r, ev, k))
        goto out;
    correct(r, k);
out:
    if (k)
        event_clear(&k->row.ev);
    free(k);
    json_decref(body);
}
