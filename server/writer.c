/*
 * writer: see writer.h. One thread, one connection. Rows travel to Postgres
 * as COPY text lines into a temporary staging table; the same lines are the
 * spool file's records, so a replay is the same code path as a live write.
 * Only the writer thread touches its connection and the spool file.
 */
#include "writer.h"

#include "log.h"
#include "metrics.h"
#include "verdicts.h"
#include "rollup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define GROUP_MAX_ROWS 20000 /* rows per transaction; more wait for the next */

#define MAX_LANES 16

struct writer;

/* One writer thread and its own connection. */
struct lane {
    struct writer *w;
    PGconn *pg;
    bool staged;         /* the staging table exists on pg */
    time_t next_connect; /* back off reconnects while Postgres is down */
    pthread_t thread;
    bool started;
};

struct writer {
    char *url;
    struct lane lanes[MAX_LANES];
    int n_lanes;
    pthread_mutex_t mu;       /* the queue and the counters */
    pthread_mutex_t spool_mu; /* the spool file: one lane appends or replays at a time */
    pthread_cond_t cv;
    struct writer_job *head, *tail;
    bool stopping;
    char *spool_path;
    long long spool_max;
    int spool_fd;
    long long spool_size;
    struct writer_stats st;
};

/* The staging table; the column order is the COPY line's field order. */
static const char stage_sql[] =
    "CREATE TEMP TABLE IF NOT EXISTS ingest_stage ("
    " seq integer, org_id bigint, event_id text, ts timestamptz, team_id bigint,"
    " project_id bigint, user_ext text, api_key_id bigint, ingest_key bigint, provider text,"
    " model text, raw_provider text, raw_model text, requested_model text, request_id text,"
    " status text, latency_ms integer, mode text, input_uncached bigint, cache_read bigint,"
    " cache_write_5m bigint, cache_write_1h bigint, output bigint, reasoning bigint,"
    " list_cost numeric, effective_cost numeric, price_id bigint, tags jsonb, source text,"
    " content_hash bytea) ON COMMIT DELETE ROWS";

static const char copy_sql[] =
    "COPY ingest_stage (seq, org_id, event_id, ts, team_id, project_id, user_ext, api_key_id,"
    " ingest_key, provider, model, raw_provider, raw_model, requested_model, request_id, status,"
    " latency_ms, mode, input_uncached, cache_read, cache_write_5m, cache_write_1h, output,"
    " reasoning, list_cost, effective_cost, price_id, tags, source, content_hash) FROM STDIN";

/*
 * The set-based write, after the COPY. First the month partitions and the
 * users the rows need. Then one statement: claim the new ids (the first row
 * of each id in the group), insert the events, add them to the rollups,
 * and name the rows not accepted: the same content as the stored id
 * (duplicate, 't') or not (conflict, 'f'). An id first seen in this very
 * group is not yet visible to the statement's own reads, so a repeat of it
 * is compared with the group's first row of that id. Rows are taken in key
 * order so that concurrent writers lock in the same order.
 */
static const char apply_sql[] =
    "SELECT usage_events_ensure_partition(m) FROM (SELECT DISTINCT date_trunc('month', ts) m"
    " FROM ingest_stage) x"
    " WHERE to_regclass('usage_events_' || to_char(m AT TIME ZONE 'UTC', 'YYYY_MM')) IS NULL;\n"
    /* users first, in their own statement: the next one's snapshot must see them, also
       when another writer made one of them concurrently */
    "INSERT INTO users (org_id, external_id, team_id)"
    " SELECT DISTINCT ON (org_id, user_ext) org_id, user_ext, team_id FROM ingest_stage"
    " WHERE user_ext IS NOT NULL ORDER BY org_id, user_ext ON CONFLICT DO NOTHING;\n"
    "WITH first AS (SELECT DISTINCT ON (org_id, event_id) * FROM ingest_stage"
    "  ORDER BY org_id, event_id, seq),"
    " new AS (INSERT INTO usage_event_ids (org_id, event_id, ts, content_hash)"
    "  SELECT org_id, event_id, ts, content_hash FROM first"
    "  ON CONFLICT DO NOTHING RETURNING org_id, event_id),"
    " acc AS (SELECT f.* FROM first f JOIN new USING (org_id, event_id)),"
    " ev AS (INSERT INTO usage_events (org_id, event_id, ts, team_id, project_id, user_id,"
    "  api_key_id, provider, model, raw_provider, raw_model, requested_model, request_id, status,"
    "  latency_ms, mode, input_uncached, cache_read, cache_write_5m, cache_write_1h, output,"
    "  reasoning, list_cost, effective_cost, price_id, tags, source, content_hash)"
    "  SELECT a.org_id, a.event_id, a.ts, a.team_id, a.project_id, u.id,"
    "  coalesce(a.api_key_id, a.ingest_key), a.provider, a.model, a.raw_provider, a.raw_model,"
    "  a.requested_model, a.request_id, a.status, a.latency_ms, a.mode, a.input_uncached,"
    "  a.cache_read, a.cache_write_5m, a.cache_write_1h, a.output, a.reasoning, a.list_cost,"
    "  a.effective_cost, a.price_id, a.tags, a.source, a.content_hash FROM acc a"
    "  LEFT JOIN users u ON u.org_id = a.org_id AND u.external_id = a.user_ext RETURNING *),"
    " rollup AS (INSERT INTO spend_hourly AS h " ROLLUP_COLUMNS
    "  SELECT org_id, date_trunc('hour', ts), team_id, project_id, user_id, provider, model, mode,"
    "  count(*), count(*) FILTER (WHERE status = 'error'), count(*) FILTER (WHERE price_id IS "
    "NULL),"
    "  sum(input_uncached), sum(cache_read), sum(cache_write_5m), sum(cache_write_1h), sum(output),"
    "  sum(reasoning), sum(list_cost), sum(effective_cost)"
    "  FROM ev GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8" ROLLUP_ADD ")"
    " SELECT s.seq, coalesce(i.content_hash, f.content_hash) = s.content_hash FROM ingest_stage s"
    " JOIN first f USING (org_id, event_id)"
    " LEFT JOIN usage_event_ids i ON i.org_id = s.org_id AND i.event_id = s.event_id"
    " WHERE NOT EXISTS (SELECT 1 FROM acc a WHERE a.seq = s.seq)";

/* ---- COPY lines ---- */

struct line {
    char *p;
    size_t len, cap;
    bool oom;
};

static void put(struct line *l, const char *s, size_t n)
{
    if (l->oom)
        return;
    if (l->len + n + 1 > l->cap) {
        size_t cap = l->cap ? l->cap : 1024;
        while (cap < l->len + n + 1)
            cap *= 2;
        char *np = realloc(l->p, cap);
        if (!np) {
            l->oom = true;
            return;
        }
        l->p = np;
        l->cap = cap;
    }
    memcpy(l->p + l->len, s, n);
    l->len += n;
    l->p[l->len] = '\0';
}

/* A text field, escaped for COPY's text format; NULL or "" (when empty_null) is \N. */
static void field_text(struct line *l, const char *s, bool empty_null)
{
    if (l->len)
        put(l, "\t", 1);
    if (!s || (empty_null && !*s)) {
        put(l, "\\N", 2);
        return;
    }
    while (*s) { /* plain runs at once; only \\, tab, newline and return need escapes */
        size_t run = strcspn(s, "\\\t\n\r");
        put(l, s, run);
        s += run;
        if (!*s)
            break;
        put(l, *s == '\\' ? "\\\\" : *s == '\t' ? "\\t" : *s == '\n' ? "\\n" : "\\r", 2);
        s++;
    }
}

static void field_int(struct line *l, int64_t v, bool zero_null)
{
    char buf[24];
    if (zero_null && v == 0) {
        field_text(l, NULL, false);
        return;
    }
    snprintf(buf, sizeof(buf), "%" PRId64, v);
    field_text(l, buf, false);
}

static void field_money(struct line *l, money_t v)
{
    char buf[MONEY_BUF];
    money_format_usd(v, 0, buf);
    field_text(l, buf, false);
}

/* The staging line of one row (without the trailing newline). */
static void row_line(const struct ingest_row *r, int seq, struct line *l)
{
    char ts[40], hash[2 * CRYPTO_SHA256_LEN + 3] = "\\x";
    char *tags = json_dumps(r->ev.tags, JSON_COMPACT | JSON_SORT_KEYS);

    l->len = 0;
    field_int(l, seq, false);
    field_int(l, r->org_id, false);
    field_text(l, r->ev.id, false);
    event_format_time(r->ev.ts_us, ts);
    field_text(l, ts, false);
    field_int(l, r->team_id, false);
    field_int(l, r->project_id, true);
    field_text(l, r->ev.user, true);
    field_int(l, r->ev.api_key_id, true);
    field_int(l, r->ingest_key, true);
    field_text(l, r->provider, false);
    field_text(l, r->model, false);
    field_text(l, r->ev.provider, false);
    field_text(l, r->ev.model, false);
    field_text(l, r->ev.requested_model, false);
    field_text(l, r->ev.request_id, true);
    field_text(l, r->ev.status == EVENT_ERROR ? "error" : "ok", false);
    if (r->ev.latency_ms < 0)
        field_text(l, NULL, false);
    else
        field_int(l, r->ev.latency_ms, false);
    field_text(l, pricing_mode_name(r->ev.mode), false);
    field_int(l, r->ev.tokens.input_uncached, false);
    field_int(l, r->ev.tokens.cache_read, false);
    field_int(l, r->ev.tokens.cache_write_5m, false);
    field_int(l, r->ev.tokens.cache_write_1h, false);
    field_int(l, r->ev.tokens.output, false);
    field_int(l, r->ev.tokens.reasoning, false);
    field_money(l, r->list_cost);
    field_money(l, r->effective_cost);
    field_int(l, r->price_id, true);
    field_text(l, tags ? tags : "{}", false);
    field_text(l, r->ev.usage_format, false);
    crypto_hex(r->hash, CRYPTO_SHA256_LEN, hash + 2);
    /* "\x" must reach Postgres as a literal backslash: escape it for COPY */
    if (l->len)
        put(l, "\t\\\\", 3);
    put(l, hash + 1, strlen(hash + 1));
    free(tags);
}

void writer_hash_row(struct ingest_row *row)
{
    char buf[4096];
    size_t n = event_canonical(&row->ev, buf, sizeof(buf));
    char *big = NULL;

    if (n == 0) {
        /* Large tags: size the buffer to fit. */
        size_t cap = 1 << 16;
        while (!n && cap <= (1u << 24) && (big = realloc(big, cap)) != NULL) {
            n = event_canonical(&row->ev, big, cap);
            cap *= 4;
        }
        crypto_sha256(big ? big : "", n, row->hash);
        free(big);
        return;
    }
    crypto_sha256(buf, n, row->hash);
}

/* ---- one transaction ---- */

static bool run(PGconn *pg, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

    if (!ok)
        snprintf(err, errlen, "%.*s", (int)strcspn(PQerrorMessage(pg), "\n"), PQerrorMessage(pg));
    PQclear(r);
    return ok;
}

/* Sends lines (already joined, each ending in '\n') through COPY. */
static bool copy_in(PGconn *pg, const char *data, size_t len, char *err, size_t errlen)
{
    PGresult *r = PQexec(pg, copy_sql);
    bool ok = PQresultStatus(r) == PGRES_COPY_IN;

    PQclear(r);
    if (!ok) {
        snprintf(err, errlen, "COPY: %.*s", (int)strcspn(PQerrorMessage(pg), "\n"),
                 PQerrorMessage(pg));
        return false;
    }
    ok = (len == 0 || PQputCopyData(pg, data, (int)len) == 1) && PQputCopyEnd(pg, NULL) == 1;
    while ((r = PQgetResult(pg)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            ok = false;
        PQclear(r);
    }
    if (!ok)
        snprintf(err, errlen, "COPY: %.*s", (int)strcspn(PQerrorMessage(pg), "\n"),
                 PQerrorMessage(pg));
    return ok;
}

/*
 * Runs the apply statements; the last result names rows not accepted.
 * outcome[seq] gets ACCEPTED, DUPLICATE or CONFLICT.
 */
static bool apply(PGconn *pg, enum row_outcome *outcome, size_t n, char *err, size_t errlen)
{
    PGresult *r, *last = NULL;
    bool ok = true;

    for (size_t i = 0; i < n; i++)
        outcome[i] = ROW_ACCEPTED;
    if (!PQsendQuery(pg, apply_sql)) {
        snprintf(err, errlen, "%.*s", (int)strcspn(PQerrorMessage(pg), "\n"), PQerrorMessage(pg));
        return false;
    }
    while ((r = PQgetResult(pg)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            if (ok)
                snprintf(err, errlen, "%.*s", (int)strcspn(PQresultErrorMessage(r), "\n"),
                         PQresultErrorMessage(r));
            ok = false;
        }
        PQclear(last);
        last = r;
    }
    if (ok && last) {
        for (int i = 0; i < PQntuples(last); i++) {
            long seq = strtol(PQgetvalue(last, i, 0), NULL, 10);
            if (seq >= 0 && (size_t)seq < n)
                outcome[seq] = PQgetvalue(last, i, 1)[0] == 't' ? ROW_DUPLICATE : ROW_CONFLICT;
        }
    }
    PQclear(last);
    return ok;
}

/*
 * Writes lines (n rows) in one transaction. outcome gets one entry per row.
 */
static bool write_lines(PGconn *pg, bool *staged, const char *data, size_t len, size_t n,
                        enum row_outcome *outcome, char *err, size_t errlen)
{
    if (!*staged) {
        if (!run(pg, stage_sql, err, errlen))
            return false;
        *staged = true;
    }
    if (!run(pg, "BEGIN", err, errlen))
        return false;
    if (!copy_in(pg, data, len, err, errlen) || !apply(pg, outcome, n, err, errlen) ||
        !run(pg, "COMMIT", err, errlen)) {
        PQclear(PQexec(pg, "ROLLBACK"));
        return false;
    }
    return true;
}

/* Joins the staging lines of every row of jobs, numbering rows from 0. */
static char *join_jobs(struct writer_job *jobs, size_t *len, size_t *n)
{
    struct line all = {0}, one = {0};
    size_t seq = 0;

    put(&all, "", 0);
    for (struct writer_job *j = jobs; j; j = j->next) {
        for (size_t i = 0; i < j->n; i++) {
            row_line(&j->rows[i], (int)seq++, &one);
            put(&all, one.p ? one.p : "", one.len);
            put(&all, "\n", 1);
        }
    }
    free(one.p);
    if (all.oom || one.oom) {
        free(all.p);
        return NULL;
    }
    *len = all.len;
    *n = seq;
    return all.p;
}

static void set_outcomes(struct writer_job *jobs, const enum row_outcome *outcome,
                         enum row_outcome all)
{
    size_t seq = 0;
    for (struct writer_job *j = jobs; j; j = j->next)
        for (size_t i = 0; i < j->n; i++, seq++)
            j->rows[i].outcome = outcome ? outcome[seq] : all;
}

static bool conn_lost(PGconn *pg)
{
    return !pg || PQstatus(pg) != CONNECTION_OK;
}

bool writer_write_now(PGconn *pg, struct writer_job *jobs, char *err, size_t errlen)
{
    size_t len = 0, n = 0;
    char *data = join_jobs(jobs, &len, &n);
    enum row_outcome *outcome = calloc(n ? n : 1, sizeof(*outcome));
    bool staged = false, ok = false;

    if (!data || !outcome) {
        snprintf(err, errlen, "out of memory");
        set_outcomes(jobs, NULL, ROW_FAILED);
        goto out;
    }
    ok = write_lines(pg, &staged, data, len, n, outcome, err, errlen);
    set_outcomes(jobs, ok ? outcome : NULL, conn_lost(pg) ? ROW_UNAVAILABLE : ROW_FAILED);
out:
    free(data);
    free(outcome);
    return ok;
}

bool writer_stage(PGconn *pg, const struct ingest_row *rows, size_t n, char *err, size_t errlen)
{
    struct line all = {0}, one = {0};
    bool ok = false;

    put(&all, "", 0);
    for (size_t i = 0; i < n; i++) {
        row_line(&rows[i], (int)i, &one);
        put(&all, one.p ? one.p : "", one.len);
        put(&all, "\n", 1);
    }
    if (all.oom || one.oom) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    ok = run(pg, stage_sql, err, errlen) && copy_in(pg, all.p, all.len, err, errlen);
out:
    free(one.p);
    free(all.p);
    return ok;
}

/* ---- the spool ---- */

/*
 * Takes the first free spool file in the spool folder: usage.spool, then
 * usage.1.spool ... usage.15.spool. Each is held with flock by one process
 * at a time, so instances sharing a folder never share a file, and a file
 * left by a process that died is replayed by whichever instance takes it
 * next.
 */
static bool spool_open(struct writer *w, char *err, size_t errlen)
{
    struct stat st;
    char path[600];

    w->spool_fd = -1;
    if (!w->spool_path || w->spool_max <= 0)
        return true;
    for (int i = 0; i < 16; i++) {
        if (i == 0)
            snprintf(path, sizeof(path), "%s/usage.spool", w->spool_path);
        else
            snprintf(path, sizeof(path), "%s/usage.%d.spool", w->spool_path, i);
        w->spool_fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (w->spool_fd < 0 || fstat(w->spool_fd, &st) != 0) {
            snprintf(err, errlen, "spool %s: %s", path, strerror(errno));
            if (w->spool_fd >= 0)
                close(w->spool_fd);
            w->spool_fd = -1;
            return false;
        }
        if (flock(w->spool_fd, LOCK_EX | LOCK_NB) == 0)
            break;
        close(w->spool_fd);
        w->spool_fd = -1;
    }
    if (w->spool_fd < 0) {
        snprintf(err, errlen, "every spool file in %s is in use by another tollgate",
                 w->spool_path);
        return false;
    }
    free(w->spool_path);
    w->spool_path = strdup(path);
    w->spool_size = st.st_size;
    metrics_set_spool_bytes(w->spool_size);
    if (st.st_size)
        log_warn(NULL,
                 "spool %s holds %lld bytes from an earlier run; replaying when Postgres answers",
                 path, (long long)st.st_size);
    return true;
}

/* Appends and fsyncs; false when the spool is off, full or failing. */
static bool spool_append(struct writer *w, const char *data, size_t len)
{
    size_t off = 0;

    if (w->spool_fd < 0 || w->spool_size + (long long)len > w->spool_max)
        return false;
    while (off < len) {
        ssize_t k = write(w->spool_fd, data + off, len - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            goto failed;
        off += (size_t)k;
    }
    if (fdatasync(w->spool_fd) != 0)
        goto failed;
    w->spool_size += (long long)len;
    metrics_set_spool_bytes(w->spool_size);
    return true;
failed:
    log_error(NULL, "spool %s: %s", w->spool_path, strerror(errno));
    /* Cut off what this call wrote, so a partial record is never replayed. */
    if (ftruncate(w->spool_fd, w->spool_size) != 0)
        log_error(NULL, "spool %s: truncate: %s", w->spool_path, strerror(errno));
    return false;
}

/*
 * Postgres refused the spool as a whole, though it is reachable: replays it
 * line by line so that every good event still goes in, and appends each
 * refused line to a ".rejected" file beside the spool for an operator,
 * instead of letting one bad line hold up all ingest. Returns false only
 * when Postgres went away meanwhile (then the spool is kept as it is).
 */
static bool spool_salvage(struct lane *l, const char *data, size_t len, enum row_outcome *outcome)
{
    struct writer *w = l->w;
    char path[700], err[512];
    size_t seq = 0, rejected = 0;
    int bad = -1;

    snprintf(path, sizeof(path), "%s.rejected", w->spool_path);
    for (const char *p = data, *nl; p < data + len; p = nl + 1, seq++) {
        const char *tab;
        struct line one = {0};
        enum row_outcome o = ROW_FAILED;

        nl = memchr(p, '\n', (size_t)(data + len - p));
        if (!nl)
            break;
        tab = memchr(p, '\t', (size_t)(nl - p));
        put(&one, "0", 1);
        put(&one, tab ? tab : nl, (size_t)(nl + 1 - (tab ? tab : nl)));
        if (!one.oom && write_lines(l->pg, &l->staged, one.p, one.len, 1, &o, err, sizeof(err))) {
            outcome[seq] = o;
        } else if (conn_lost(l->pg)) {
            free(one.p);
            if (bad >= 0)
                close(bad);
            return false;
        } else {
            outcome[seq] = ROW_FAILED;
            if (bad < 0)
                bad = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
            if (bad < 0 || write(bad, p, (size_t)(nl + 1 - p)) != (ssize_t)(nl + 1 - p))
                log_error(NULL, "spool %s: cannot keep a refused line: %s", path, strerror(errno));
            log_error(NULL, "spool: Postgres refused a spooled event (%s); kept in %s", err, path);
            rejected++;
        }
        free(one.p);
    }
    if (bad >= 0) {
        if (fsync(bad) != 0)
            log_error(NULL, "spool %s: fsync: %s", path, strerror(errno));
        close(bad);
    }
    metrics_add(M_EVENTS_FAILED, rejected);
    return true;
}

static bool spool_replay_locked(struct lane *l);

/* Replays the whole spool in one transaction, then empties it. Takes spool_mu. */
static bool spool_replay(struct lane *l)
{
    struct writer *w = l->w;
    bool ok;

    pthread_mutex_lock(&w->spool_mu);
    ok = spool_replay_locked(l);
    pthread_mutex_unlock(&w->spool_mu);
    return ok;
}

static bool spool_replay_locked(struct lane *l)
{
    struct writer *w = l->w;
    char *data = NULL, err[512];
    size_t n = 0, len = (size_t)w->spool_size;
    enum row_outcome *outcome = NULL;
    ssize_t got;
    bool ok = false;

    if (w->spool_fd < 0 || w->spool_size == 0)
        return true;
    data = malloc(len + 1);
    if (!data)
        return false;
    got = pread(w->spool_fd, data, len, 0);
    if (got != (ssize_t)len) {
        log_error(NULL, "spool %s: short read", w->spool_path);
        goto out;
    }
    for (size_t i = 0; i < len; i++)
        n += data[i] == '\n';
    outcome = calloc(n ? n : 1, sizeof(*outcome));
    if (!outcome)
        goto out;
    /* Spooled rows were numbered per job; renumber them 0..n-1 for this one group. */
    {
        struct line fixed = {0};
        size_t seq = 0;
        char num[16];
        for (char *p = data, *nl; p < data + len; p = nl + 1) {
            nl = memchr(p, '\n', (size_t)(data + len - p));
            if (!nl)
                break;
            char *tab = memchr(p, '\t', (size_t)(nl - p));
            if (!tab)
                continue;
            snprintf(num, sizeof(num), "%zu", seq++);
            put(&fixed, num, strlen(num));
            put(&fixed, tab, (size_t)(nl + 1 - tab));
        }
        if (fixed.oom) {
            free(fixed.p);
            goto out;
        }
        free(data);
        data = fixed.p;
        len = fixed.len;
        n = seq;
    }
    if (!write_lines(l->pg, &l->staged, data ? data : "", len, n, outcome, err, sizeof(err))) {
        log_warn(NULL, "spool replay failed: %s", err);
        if (conn_lost(l->pg) || !spool_salvage(l, data ? data : "", len, outcome))
            goto out;
    }
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&w->mu);
        w->st.accepted += outcome[i] == ROW_ACCEPTED;
        pthread_mutex_unlock(&w->mu);
        metrics_add(M_EVENTS_ACCEPTED, outcome[i] == ROW_ACCEPTED);
    }
    log_info(NULL, "replayed %zu spooled events (%lld bytes) into Postgres", n, w->spool_size);
    if (ftruncate(w->spool_fd, 0) != 0 || fsync(w->spool_fd) != 0)
        log_error(NULL, "spool %s: truncate: %s", w->spool_path, strerror(errno));
    w->spool_size = 0;
    metrics_set_spool_bytes(0);
    ok = true;
out:
    free(data);
    free(outcome);
    return ok;
}

/* ---- the thread ---- */

static bool ensure_conn(struct lane *l)
{
    struct writer *w = l->w;
    char err[512];
    time_t now = time(NULL);

    if (!conn_lost(l->pg))
        return true;
    if (now < l->next_connect)
        return false;
    if (l->pg)
        PQfinish(l->pg);
    l->staged = false;
    l->pg = PQconnectdb(w->url);
    if (conn_lost(l->pg)) {
        snprintf(err, sizeof(err), "%s", l->pg ? PQerrorMessage(l->pg) : "out of memory");
        log_warn(NULL, "writer: Postgres unreachable: %.*s", (int)strcspn(err, "\n"), err);
        metrics_db_error();
        l->next_connect = now + 1;
        return false;
    }
    PQclear(PQexec(l->pg, "SET TIME ZONE 'UTC'; SET client_min_messages = warning"));
    return true;
}

static void count(struct writer *w, struct writer_job *jobs)
{
    pthread_mutex_lock(&w->mu);
    for (struct writer_job *j = jobs; j; j = j->next) {
        for (size_t i = 0; i < j->n; i++) {
            switch (j->rows[i].outcome) {
            case ROW_ACCEPTED:
                w->st.accepted++;
                w->st.unpriced += j->rows[i].price_id == 0;
                break;
            case ROW_DUPLICATE:
                w->st.duplicates++;
                break;
            case ROW_CONFLICT:
                w->st.conflicts++;
                break;
            case ROW_SPOOLED:
                w->st.spooled++;
                break;
            case ROW_UNAVAILABLE:
                w->st.unavailable++;
                break;
            default:
                w->st.failed++;
            }
        }
    }
    pthread_mutex_unlock(&w->mu);
}

/* Writes one group of jobs: to Postgres, else to the spool. */
static void write_group(struct lane *l, struct writer_job *jobs)
{
    struct writer *w = l->w;
    size_t len = 0, n = 0;
    char *data = join_jobs(jobs, &len, &n), err[512] = "";
    enum row_outcome *outcome = calloc(n ? n : 1, sizeof(*outcome));

    if (!data || !outcome) {
        set_outcomes(jobs, NULL, ROW_FAILED);
        goto out;
    }
    for (int attempt = 0; attempt < 2 && ensure_conn(l) && (w->spool_size == 0 || spool_replay(l));
         attempt++) {
        /* The gate makes this commit and its ledger update one step for a ledger reload. */
        verdicts_gate_enter();
        bool wrote = write_lines(l->pg, &l->staged, data, len, n, outcome, err, sizeof(err));
        if (wrote) {
            set_outcomes(jobs, outcome, ROW_ACCEPTED);
            for (struct writer_job *j = jobs; j; j = j->next)
                verdicts_apply_rows(j->rows, j->n);
        }
        verdicts_gate_leave();
        if (wrote) {
            pthread_mutex_lock(&w->mu);
            w->st.commits++;
            pthread_mutex_unlock(&w->mu);
            metrics_add(M_INGEST_COMMITS, 1);
            goto out;
        }
        if (!conn_lost(l->pg)) {
            /* Postgres refused the group: retry each job alone so one cannot sink the others. */
            log_error(NULL, "writer: group of %zu rows failed: %s", n, err);
            metrics_db_error();
            if (jobs->next) {
                for (struct writer_job *j = jobs, *next; j; j = next) {
                    next = j->next;
                    j->next = NULL;
                    write_group(l, j);
                    j->next = next;
                }
                goto out_counted;
            }
            set_outcomes(jobs, NULL, ROW_FAILED);
            goto out;
        }
        log_warn(NULL, "writer: lost Postgres: %s", err);
        metrics_db_error();
        /* A connection can die unnoticed (a Postgres restart): try a fresh one once. */
        l->next_connect = 0;
    }
    pthread_mutex_lock(&w->spool_mu);
    bool spooled = spool_append(w, data, len);
    pthread_mutex_unlock(&w->spool_mu);
    if (spooled)
        set_outcomes(jobs, NULL, ROW_SPOOLED);
    else
        set_outcomes(jobs, NULL, ROW_UNAVAILABLE);
out:
    count(w, jobs);
out_counted:
    free(data);
    free(outcome);
}

static void *writer_main(void *arg)
{
    struct lane *l = arg;
    struct writer *w = l->w;

    for (;;) {
        struct writer_job *jobs, *last, *rest;
        size_t rows = 0;
        struct timespec ts;

        pthread_mutex_lock(&w->mu);
        while (!w->head && !w->stopping) {
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT && w->spool_size)
                break; /* time to try the spool again */
        }
        if (!w->head && w->stopping) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        /* Take jobs up to GROUP_MAX_ROWS (at least one). */
        jobs = last = w->head;
        while (last) {
            rows += last->n;
            if (!last->next || rows + last->next->n > GROUP_MAX_ROWS)
                break;
            last = last->next;
        }
        rest = last ? last->next : NULL;
        if (last)
            last->next = NULL;
        w->head = rest;
        if (!rest)
            w->tail = NULL;
        pthread_mutex_unlock(&w->mu);

        if (!jobs) {
            if (ensure_conn(l))
                spool_replay(l);
            continue;
        }
        write_group(l, jobs);
        for (struct writer_job *j = jobs, *next; j; j = next) {
            next = j->next;
            j->next = NULL;
            j->done(j);
        }
    }
    if (w->spool_size && ensure_conn(l))
        spool_replay(l);
    return NULL;
}

struct writer *writer_start(const char *url, const char *spool_dir, long long spool_max, int lanes,
                            char *err, size_t errlen)
{
    struct writer *w = calloc(1, sizeof(*w));

    if (!w || !(w->url = strdup(url)) || (spool_dir && !(w->spool_path = strdup(spool_dir)))) {
        snprintf(err, errlen, "out of memory");
        goto failed;
    }
    w->spool_max = spool_max;
    w->n_lanes = lanes < 1 ? 1 : lanes > MAX_LANES ? MAX_LANES : lanes;
    if (!spool_open(w, err, errlen))
        goto failed;
    pthread_mutex_init(&w->mu, NULL);
    pthread_mutex_init(&w->spool_mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    for (int i = 0; i < w->n_lanes; i++) {
        struct lane *l = &w->lanes[i];
        l->w = w;
        (void)ensure_conn(l); /* a down Postgres at start is not fatal: we spool */
        if (pthread_create(&l->thread, NULL, writer_main, l) != 0) {
            snprintf(err, errlen, "cannot start a writer thread");
            writer_stop(&w);
            return NULL;
        }
        l->started = true;
    }
    return w;
failed:
    if (w) {
        if (w->spool_fd > 0)
            close(w->spool_fd);
        free(w->spool_path);
        free(w->url);
        free(w);
    }
    return NULL;
}

void writer_submit(struct writer *w, struct writer_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->tail)
        w->tail->next = job;
    else
        w->head = job;
    w->tail = job;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void writer_stop(struct writer **wp)
{
    struct writer *w = *wp;

    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->n_lanes; i++) {
        if (w->lanes[i].started)
            pthread_join(w->lanes[i].thread, NULL);
        if (w->lanes[i].pg)
            PQfinish(w->lanes[i].pg);
    }
    if (w->spool_fd >= 0)
        close(w->spool_fd);
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->spool_mu);
    pthread_cond_destroy(&w->cv);
    free(w->spool_path);
    free(w->url);
    free(w);
    *wp = NULL;
}

void writer_stats(struct writer *w, struct writer_stats *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->st;
    out->spool_bytes = w->spool_size;
    pthread_mutex_unlock(&w->mu);
}
