/*
 * api_traces: POST /v1/traces, OTLP/HTTP. The body (protobuf or OTLP/JSON,
 * gunzipped by the HTTP layer) is decoded and its GenAI spans mapped to
 * usage events in the pure core (ingest/otlp.h, ingest/genai.h); then each
 * event takes the same road as POST /v1/usage: team and project resolved
 * and checked against the key's scope, priced, and group-committed by the
 * writer (or spooled). Replies follow the OTLP spec: 200 with an
 * ExportTraceServiceResponse in the request's encoding, partial_success
 * when some spans were rejected; 400/413 with a google.rpc.Status; 503
 * with Retry-After when the database is unreachable and the spool is full.
 */
#include "api.h"
#include "log.h"
#include "metrics.h"
#include "otlp.h"
#include "prices.h"
#include "writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct traces_req {
    struct writer_job job; /* first: see api_job_start */
    enum otlp_encoding enc;
    struct genai_batch batch;
    size_t rejected; /* spans refused here: scope, conflicts, database refusals */
    char message[512];
};

static void free_traces(struct traces_req *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->job.n; i++)
        event_clear(&t->job.rows[i].ev);
    free(t->job.rows);
    genai_batch_clear(&t->batch);
    free(t);
}

/* Replies with a body the OTLP encoders made, or 500 when they could not. */
static void reply_otlp(struct http_req *r, int status, enum otlp_encoding enc, enum otlp_status st,
                       uint8_t *body, size_t len)
{
    if (st != OTLP_OK) {
        http_reply_error(r, 500, "internal", NULL, "out of memory");
        return;
    }
    http_reply_buf(r, status, otlp_content_type_name(enc), (char *)body, len);
}

static void reply_status(struct http_req *r, int status, enum otlp_encoding enc, int32_t code,
                         const char *message)
{
    uint8_t *body = NULL;
    size_t len = 0;
    enum otlp_status st = otlp_encode_status(enc, code, message, &body, &len);
    reply_otlp(r, status, enc, st, body, len);
}

/* Notes one more span refused here, keeping the first reasons for error_message. */
static void refuse_span(struct traces_req *t, const char *id, const char *why)
{
    size_t n = strlen(t->message);
    t->rejected++;
    if (n + 4 < sizeof(t->message))
        snprintf(t->message + n, sizeof(t->message) - n, "%s%s: %s", n ? "; " : "", id, why);
}

static void finish(struct http_req *r)
{
    struct traces_req *t = r->defer_arg;
    size_t accepted = 0, dup = 0, spooled = 0, unavailable = 0;
    char summary[1024];
    uint8_t *body = NULL;
    size_t len = 0;
    enum otlp_status st;

    for (size_t i = 0; i < t->job.n; i++) {
        struct ingest_row *row = &t->job.rows[i];
        switch (row->outcome) {
        case ROW_ACCEPTED:
            accepted++;
            metrics_add(M_EVENTS_UNPRICED, row->price_id == 0);
            break;
        case ROW_DUPLICATE: /* a re-export: acknowledged, never counted twice */
            dup++;
            break;
        case ROW_SPOOLED:
            spooled++;
            break;
        case ROW_UNAVAILABLE:
            unavailable++;
            break;
        case ROW_CONFLICT:
            refuse_span(t, row->ev.id, "this span id was stored before with other usage");
            metrics_add(M_EVENTS_CONFLICT, 1);
            break;
        default:
            refuse_span(t, row->ev.id, "the database refused it; see the server log");
            metrics_add(M_EVENTS_FAILED, 1);
        }
    }
    metrics_add(M_EVENTS_ACCEPTED, accepted);
    metrics_add(M_EVENTS_DUPLICATE, dup);
    metrics_add(M_EVENTS_SPOOLED, spooled);
    metrics_add(M_EVENTS_UNAVAILABLE, unavailable);
    if (unavailable) {
        snprintf(r->retry_after, sizeof(r->retry_after), "5");
        reply_status(r, 503, t->enc, OTLP_RPC_UNAVAILABLE,
                     "the database is unreachable and the spool is full or off; retry later");
        goto out;
    }
    genai_batch_summary(&t->batch, summary, 512);
    if (t->rejected) {
        size_t n = strlen(summary);
        snprintf(summary + n, sizeof(summary) - n, "%s%s", n ? "; " : "", t->message);
    }
    st = otlp_encode_response(t->enc, (int64_t)(t->batch.rejected + t->rejected), summary, &body,
                              &len);
    reply_otlp(r, 200, t->enc, st, body, len);
out:
    free_traces(t);
    r->defer_arg = NULL;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void api_traces_post(struct http_req *r)
{
    const char *ct = http_header(r, "Content-Type");
    const struct otlp_limits limits = {(size_t)r->app->cfg->max_body, OTLP_DEFAULT_MAX_MEMORY};
    const char *team = r->app->cfg->otlp_default_team;
    struct traces_req *t = calloc(1, sizeof(*t));
    struct otlp_error oerr;
    const struct catalog *cat;
    bool db_error = false;

    if (!t) {
        http_reply_error(r, 503, "unavailable", NULL, "out of memory");
        return;
    }
    if (!ct || !otlp_content_type(ct, &t->enc)) {
        http_reply_error(r, 415, "unsupported_media_type", NULL,
                         "send application/x-protobuf or application/json");
        goto out;
    }
    switch (otlp_decode_traces(r->app->genai, t->enc, r->body, r->body_len, &limits, now_us(),
                               team && *team ? team : NULL, &t->batch, &oerr)) {
    case OTLP_OK:
        break;
    case OTLP_EPARSE:
        reply_status(r, 400, t->enc, OTLP_RPC_INVALID_ARGUMENT, oerr.message);
        goto out;
    case OTLP_ETOOBIG:
        reply_status(r, 413, t->enc, OTLP_RPC_RESOURCE_EXHAUSTED, oerr.message);
        goto out;
    case OTLP_ENOMEM:
        snprintf(r->retry_after, sizeof(r->retry_after), "5");
        reply_status(r, 503, t->enc, OTLP_RPC_UNAVAILABLE, oerr.message);
        goto out;
    default:
        http_reply_error(r, 500, "internal", NULL, "%s", oerr.message);
        goto out;
    }
    metrics_add(M_EVENTS_REJECTED, t->batch.rejected);
    t->job.rows = calloc(t->batch.n_events ? t->batch.n_events : 1, sizeof(*t->job.rows));
    if (!t->job.rows) {
        snprintf(r->retry_after, sizeof(r->retry_after), "5");
        reply_status(r, 503, t->enc, OTLP_RPC_UNAVAILABLE, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < t->batch.n_events; i++) {
        struct ingest_row *row = &t->job.rows[t->job.n];
        struct event_error err;

        row->ev = t->batch.events[i]; /* moved: the batch no longer owns its tags */
        t->batch.events[i].tags = NULL;
        row->org_id = r->key.org_id;
        row->ingest_key = r->key.id;
        if (!api_usage_resolve_scope(r, row, &err, &db_error)) {
            if (db_error) {
                event_clear(&row->ev);
                http_reply_db_error(r, NULL);
                goto out;
            }
            refuse_span(t, row->ev.id, err.message);
            event_clear(&row->ev);
            continue;
        }
        t->job.n++;
    }
    cat = prices_lock();
    for (size_t i = 0; i < t->job.n; i++) {
        prices_price_row(cat, &t->job.rows[i]);
        writer_hash_row(&t->job.rows[i]);
    }
    prices_unlock();
    t->job.done = api_job_resume;
    t->job.arg = r;
    r->defer_arg = t;
    if (t->job.n == 0) {
        finish(r); /* nothing to write: answer now */
        return;
    }
    http_defer(r, api_job_start, finish);
    return;
out:
    free_traces(t);
}
