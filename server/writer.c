/*
 * writer: see writer.h. Each lane is one thread on its own connection. A
 * live group claims its ids with one array INSERT and COPYs the accepted
 * rows straight into usage_events (the live path, below). The spool file's
 * records are COPY text lines of a temporary staging table, and a replay
 * goes through that table and one set-based statement (write_lines). Only
 * a lane's thread touches its connection; the spool file is shared under
 * spool_mu.
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

#define MONTHS_MAX 32
#define USERS_MAX  (1u << 20) /* known users kept per connection; then forgotten */

struct user_slot {
    int64_t org_id, id; /* id 0: empty slot */
    char *ext;
};

/* What one connection knows; only its writer touches it. */
struct known {
    bool prepared;          /* the statements below are prepared on the connection */
    int months[MONTHS_MAX]; /* year * 12 + month - 1 of partitions known to exist */
    int n_months;
    struct user_slot *users; /* open addressing, cap a power of two */
    size_t cap, n;
};

/* One writer thread and its own connection. */
struct lane {
    struct writer *w;
    PGconn *pg;
    bool staged;         /* the staging table exists on pg */
    struct known known;  /* what the live path knows on pg */
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

/* v in decimal, as "%" PRId64 writes it (snprintf is slow enough to show per row). */
static const char *fmt_int(int64_t v, char buf[24])
{
    char *p = buf + 23;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    *p = '\0';
    do {
        *--p = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return p;
}

static void field_int(struct line *l, int64_t v, bool zero_null)
{
    char buf[24];
    if (zero_null && v == 0) {
        field_text(l, NULL, false);
        return;
    }
    field_text(l, fmt_int(v, buf), false);
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
static bool copy_in(PGconn *pg, const char *sql, const char *data, size_t len, char *err,
                    size_t errlen)
{
    PGresult *r = PQexec(pg, sql);
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
    if (!copy_in(pg, copy_sql, data, len, err, errlen) || !apply(pg, outcome, n, err, errlen) ||
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

/* ---- the live path: rows straight into usage_events ---- */

/*
 * Live groups skip the staging table: the writer claims the ids with one
 * array INSERT (binary arrays), COPYs the accepted rows straight into
 * usage_events (binary COPY), and upserts the rollups it has summed
 * itself, one row per rollup key. It
 * knows the user ids and the month partitions it has seen before (users
 * are never deleted; a partition it knew of that is gone makes the group
 * fail, which forgets them all), so those statements run only when
 * something is new. The spool, whose records are staging lines, still
 * goes through the staging table (write_lines).
 */

enum stmt { ST_CLAIM, ST_STORED, ST_USERS_ADD, ST_USERS_GET, ST_ROLLUP, ST_PARTITION, ST_COUNT };

static const struct {
    const char *name, *sql;
    int nparams;
} stmts[ST_COUNT] = {
    /* Claims the ids, in the order given (write_rows sorts them). */
    [ST_CLAIM] = {"tollgate_claim",
                  "INSERT INTO usage_event_ids (org_id, event_id, ts, content_hash)"
                  " SELECT o, e, t, h FROM unnest($1::bigint[], $2::text[], $3::timestamptz[],"
                  " $4::bytea[]) AS x(o, e, t, h)"
                  " ON CONFLICT DO NOTHING RETURNING org_id, event_id",
                  4},
    /* The stored content of ids claimed before (a new statement: it sees them committed). */
    [ST_STORED] = {"tollgate_stored",
                   "SELECT i.org_id, i.event_id, i.content_hash FROM usage_event_ids i"
                   " JOIN unnest($1::bigint[], $2::text[]) AS x(o, e)"
                   " ON i.org_id = x.o AND i.event_id = x.e",
                   2},
    [ST_USERS_ADD] = {"tollgate_users_add",
                      "INSERT INTO users (org_id, external_id, team_id)"
                      " SELECT o, e, t FROM unnest($1::bigint[], $2::text[], $3::bigint[])"
                      " AS x(o, e, t) ORDER BY o, e ON CONFLICT DO NOTHING",
                      3},
    /* Its own statement, so that it also sees users another writer just made. */
    [ST_USERS_GET] = {"tollgate_users_get",
                      "SELECT u.org_id, u.external_id, u.id FROM users u"
                      " JOIN unnest($1::bigint[], $2::text[]) AS x(o, e)"
                      " ON u.org_id = x.o AND u.external_id = x.e",
                      2},
    [ST_ROLLUP] = {"tollgate_rollup",
                   "INSERT INTO spend_hourly AS h " ROLLUP_COLUMNS
                   " SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::bigint[],"
                   " $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::bigint[],"
                   " $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[],"
                   " $15::bigint[], $16::bigint[], $17::bigint[], $18::numeric[], $19::numeric[])"
                   " ORDER BY 1, 2, 3, 4, 5, 6, 7, 8" ROLLUP_ADD,
                   19},
    [ST_PARTITION] = {"tollgate_partition", "SELECT usage_events_ensure_partition($1)", 1},
};

static const char copy_events_sql[] =
    "COPY usage_events (org_id, event_id, ts, team_id, project_id, user_id, api_key_id, provider,"
    " model, raw_provider, raw_model, requested_model, request_id, status, latency_ms, mode,"
    " input_uncached, cache_read, cache_write_5m, cache_write_1h, output, reasoning, list_cost,"
    " effective_cost, price_id, tags, source, content_hash) FROM STDIN WITH (FORMAT binary)";

static uint64_t key_hash(int64_t org_id, const char *s)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)org_id;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h ^ (h >> 29);
}

static void known_forget_users(struct known *k)
{
    for (size_t i = 0; i < k->cap; i++)
        free(k->users[i].ext);
    free(k->users);
    k->users = NULL;
    k->cap = k->n = 0;
}

/* Forgets everything: after a reconnect, or a failed group. */
static void known_reset(struct known *k, bool keep_users)
{
    k->prepared = false;
    k->n_months = 0;
    if (!keep_users)
        known_forget_users(k);
}

/* The user's id, or 0 when not known. */
static int64_t known_user(const struct known *k, int64_t org_id, const char *ext)
{
    if (!k->cap)
        return 0;
    for (size_t i = key_hash(org_id, ext) & (k->cap - 1);; i = (i + 1) & (k->cap - 1)) {
        const struct user_slot *s = &k->users[i];
        if (!s->id)
            return 0;
        if (s->org_id == org_id && strcmp(s->ext, ext) == 0)
            return s->id;
    }
}

/* Remembers a user; on failure (out of memory) nothing is remembered. */
static void known_add_user(struct known *k, int64_t org_id, const char *ext, int64_t id)
{
    if (known_user(k, org_id, ext))
        return;
    if (k->n >= USERS_MAX)
        known_forget_users(k);
    if (2 * (k->n + 1) > k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 1024;
        struct user_slot *slots = calloc(cap, sizeof(*slots));
        if (!slots)
            return;
        for (size_t i = 0; i < k->cap; i++) {
            struct user_slot *s = &k->users[i];
            if (!s->id)
                continue;
            size_t j = key_hash(s->org_id, s->ext) & (cap - 1);
            while (slots[j].id)
                j = (j + 1) & (cap - 1);
            slots[j] = *s;
        }
        free(k->users);
        k->users = slots;
        k->cap = cap;
    }
    char *copy = strdup(ext);
    if (!copy)
        return;
    size_t i = key_hash(org_id, ext) & (k->cap - 1);
    while (k->users[i].id)
        i = (i + 1) & (k->cap - 1);
    k->users[i] = (struct user_slot){org_id, id, copy};
    k->n++;
}

static int month_of(int64_t ts_us)
{
    int64_t secs = ts_us / 1000000 - (ts_us % 1000000 < 0);
    time_t t = (time_t)secs;
    struct tm tm;

    gmtime_r(&t, &tm);
    return (tm.tm_year + 1900) * 12 + tm.tm_mon;
}

static bool known_month(const struct known *k, int m)
{
    for (int i = 0; i < k->n_months; i++)
        if (k->months[i] == m)
            return true;
    return false;
}

/* A Postgres array literal, built element by element. */
struct arr {
    struct line l;
    size_t n;
    bool done;
};

static void arr_raw(struct arr *a, const char *s)
{
    put(&a->l, a->n++ ? "," : "{", 1);
    put(&a->l, s, strlen(s));
}

static void arr_int(struct arr *a, int64_t v, bool zero_null)
{
    char buf[24];
    if (zero_null && v == 0) {
        arr_raw(a, "NULL");
        return;
    }
    arr_raw(a, fmt_int(v, buf));
}

/* A quoted element: only " and \ need a backslash inside the quotes. */
static void arr_str(struct arr *a, const char *s)
{
    put(&a->l, a->n++ ? ",\"" : "{\"", 2);
    while (*s) {
        size_t run = strcspn(s, "\"\\");
        put(&a->l, s, run);
        s += run;
        if (!*s)
            break;
        put(&a->l, "\\", 1);
        put(&a->l, s, 1);
        s++;
    }
    put(&a->l, "\"", 1);
}

static void arr_money(struct arr *a, money_t v)
{
    char buf[MONEY_BUF];
    money_format_usd(v, 0, buf);
    arr_raw(a, buf);
}

static void arr_time(struct arr *a, int64_t us)
{
    char ts[40];
    event_format_time(us, ts);
    arr_raw(a, ts);
}

/* Closes the literal; NULL when out of memory. */
static const char *arr_done(struct arr *a)
{
    if (!a->done)
        put(&a->l, a->n ? "}" : "{}", a->n ? 1 : 2);
    a->done = true;
    return a->l.oom ? NULL : a->l.p;
}

static void arrs_free(struct arr *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(a[i].l.p);
}

/*
 * A Postgres array in its binary wire format (array_recv): one dimension,
 * no NULLs, big-endian. The claim sends its arrays so, which spares the
 * server parsing them as text.
 */
struct barr {
    struct line l;
    uint32_t n, oid;
};

#define OID_INT8        20
#define OID_TEXT        25
#define OID_BYTEA       17
#define OID_TIMESTAMPTZ 1184
#define PG_EPOCH_US     INT64_C(946684800000000) /* 2000-01-01 in Unix microseconds */

static void put_be32(struct line *l, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    put(l, (const char *)b, 4);
}

static void barr_bytes(struct barr *b, const void *p, size_t n)
{
    if (!b->l.len) /* the header, its element count filled in by barr_done */
        put(&b->l, (const char *)(unsigned char[20]){0}, 20);
    put_be32(&b->l, (uint32_t)n);
    put(&b->l, p, n);
    b->n++;
}

static void barr_int(struct barr *b, int64_t v)
{
    unsigned char x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (unsigned char)((uint64_t)v >> (56 - 8 * i));
    barr_bytes(b, x, 8);
}

static void barr_time(struct barr *b, int64_t unix_us)
{
    barr_int(b, unix_us - PG_EPOCH_US);
}

/* Fills in the header; false when out of memory. */
static bool barr_done(struct barr *b)
{
    struct line head = {0};

    if (!b->l.len)
        put(&b->l, (const char *)(unsigned char[20]){0}, 20);
    if (b->l.oom)
        return false;
    put_be32(&head, 1); /* dimensions */
    put_be32(&head, 0); /* no NULLs */
    put_be32(&head, b->oid);
    put_be32(&head, b->n);
    put_be32(&head, 1); /* lower bound */
    if (head.oom) {
        free(head.p);
        return false;
    }
    memcpy(b->l.p, head.p, 20);
    free(head.p);
    return true;
}

/*
 * Runs a live path statement, its parameters in text, or in binary where
 * lengths is not NULL; NULL with the reason in err when it failed.
 */
static PGresult *exec_stmt_fmt(PGconn *pg, const struct known *k, enum stmt s,
                               const char *const *values, const int *lengths, char *err,
                               size_t errlen)
{
    int formats[19];
    const int *f = NULL;
    PGresult *r;
    ExecStatusType st;

    if (lengths) {
        for (int i = 0; i < stmts[s].nparams; i++)
            formats[i] = 1;
        f = formats;
    }
    r = k->prepared ? PQexecPrepared(pg, stmts[s].name, stmts[s].nparams, values, lengths, f, 0)
                    : PQexecParams(pg, stmts[s].sql, stmts[s].nparams, NULL, values, lengths, f, 0);
    st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    snprintf(err, errlen, "%.*s", (int)strcspn(PQerrorMessage(pg), "\n"), PQerrorMessage(pg));
    PQclear(r);
    return NULL;
}

static PGresult *exec_stmt(PGconn *pg, const struct known *k, enum stmt s,
                           const char *const *values, char *err, size_t errlen)
{
    return exec_stmt_fmt(pg, k, s, values, NULL, err, errlen);
}

/* exec_stmt with binary arrays as its parameters. */
static PGresult *exec_barrs(PGconn *pg, const struct known *k, enum stmt s, struct barr *args,
                            char *err, size_t errlen)
{
    const char *values[19];
    int lengths[19];

    for (int i = 0; i < stmts[s].nparams; i++) {
        if (!barr_done(&args[i])) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        values[i] = args[i].l.p;
        lengths[i] = (int)args[i].l.len;
    }
    return exec_stmt_fmt(pg, k, s, values, lengths, err, errlen);
}

/* exec_stmt with arrays as its parameters. */
static PGresult *exec_arrs(PGconn *pg, const struct known *k, enum stmt s, struct arr *args,
                           char *err, size_t errlen)
{
    const char *values[19];

    for (int i = 0; i < stmts[s].nparams; i++) {
        values[i] = arr_done(&args[i]);
        if (!values[i]) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
    }
    return exec_stmt(pg, k, s, values, err, errlen);
}

/* Prepares the live path's statements; without them it sends them unnamed. */
static void known_prepare(PGconn *pg, struct known *k)
{
    k->prepared = false;
    for (int s = 0; s < ST_COUNT; s++) {
        PGresult *r = PQprepare(pg, stmts[s].name, stmts[s].sql, stmts[s].nparams, NULL);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok) {
            log_warn(NULL, "writer: cannot prepare %s: %.*s", stmts[s].name,
                     (int)strcspn(PQerrorMessage(pg), "\n"), PQerrorMessage(pg));
            return;
        }
    }
    k->prepared = true;
}

/* s as the inside of a JSON string: tags hold no control characters, only " and \ to escape. */
static void put_json_chars(struct line *l, const char *s, size_t n)
{
    while (n) {
        size_t run = strcspn(s, "\"\\");
        if (run > n)
            run = n;
        put(l, s, run);
        s += run;
        n -= run;
        if (!n)
            break;
        put(l, "\\", 1);
        put(l, s, 1);
        s++;
        n--;
    }
}

/*
 * The tags as a JSON object, in json: their order and spacing need not be
 * canonical, since the column is jsonb (json_dumps cost an allocation and
 * a sort per row).
 */
static const char *tags_json(const json_t *tags, struct line *json)
{
    const char *key;
    const json_t *v;
    bool any = false;

    json->len = 0;
    put(json, "{", 1);
    json_object_foreach((json_t *)tags, key, v)
    {
        put(json, any ? ",\"" : "\"", any ? 2 : 1);
        put_json_chars(json, key, json_object_iter_key_len(json_object_key_to_iter(key)));
        put(json, "\":\"", 3);
        if (json_is_string(v))
            put_json_chars(json, json_string_value(v), json_string_length(v));
        put(json, "\"", 1);
        any = true;
    }
    put(json, "}", 1);
    return json->oom ? NULL : json->p;
}

/*
 * Rows go to usage_events in COPY's binary format, which spares the server
 * parsing text: a header, then per row its field count and each field as
 * a length (-1 for NULL) and the type's binary form, then a trailer.
 */
static const char copy_header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";

static void bin_null(struct line *l)
{
    put_be32(l, UINT32_MAX);
}

static void bin_bytes(struct line *l, const void *p, size_t n)
{
    put_be32(l, (uint32_t)n);
    put(l, p, n);
}

static void bin_text(struct line *l, const char *s, bool empty_null)
{
    if (empty_null && !*s)
        bin_null(l);
    else
        bin_bytes(l, s, strlen(s));
}

static void bin_int8(struct line *l, int64_t v, bool zero_null)
{
    unsigned char x[8];

    if (zero_null && v == 0) {
        bin_null(l);
        return;
    }
    for (int i = 0; i < 8; i++)
        x[i] = (unsigned char)((uint64_t)v >> (56 - 8 * i));
    bin_bytes(l, x, 8);
}

static void put_be16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

/*
 * Money as a binary numeric: base-10000 digits around the decimal point,
 * with the display scale its text form has (trailing zeros dropped), so
 * the stored value reads back exactly as the text COPY stored it.
 */
static void bin_money(struct line *l, money_t v)
{
    __extension__ typedef unsigned __int128 u128;
    const u128 per_usd = (u128)MONEY_PER_USD;
    u128 mag = v < 0 ? (u128)0 - (u128)v : (u128)v, whole = mag / per_usd;
    uint64_t frac = (uint64_t)(mag % per_usd); /* 15 decimals */
    unsigned digit[16], n = 0, first = 0, dscale = 15;
    unsigned char out[8 + 2 * 16];
    int weight, n_whole = 0;
    unsigned group[10];

    while (whole) {
        group[n_whole++] = (unsigned)(whole % 10000);
        whole /= 10000;
    }
    for (int i = n_whole; i-- > 0;)
        digit[n++] = group[i];
    frac *= 10; /* 16 decimals: four groups of four */
    for (uint64_t div = 1000000000000ULL; div; div /= 10000)
        digit[n++] = (unsigned)(frac / div % 10000);
    weight = n_whole - 1;
    while (first < n && digit[first] == 0) {
        first++;
        weight--;
    }
    while (n > first && digit[n - 1] == 0)
        n--;
    for (uint64_t f = frac / 10; dscale && f % 10 == 0; f /= 10)
        dscale--;
    if (frac == 0)
        dscale = 0;
    if (n == first)
        weight = 0;
    put_be16(out, n - first);
    put_be16(out + 2, (unsigned)(weight & 0xffff));
    put_be16(out + 4, v < 0 && n > first ? 0x4000 : 0);
    put_be16(out + 6, dscale);
    for (unsigned i = first; i < n; i++)
        put_be16(out + 8 + 2 * (i - first), digit[i]);
    bin_bytes(l, out, 8 + 2 * (n - first));
}

/* Appends one usage_events row in COPY's binary format; json is scratch space. */
static void event_tuple(const struct ingest_row *r, int64_t user_id, struct line *l,
                        struct line *json)
{
    const char *tags = tags_json(r->ev.tags, json);
    unsigned char nfields[2];

    if (!tags) {
        l->oom = true;
        return;
    }
    put_be16(nfields, 28);
    put(l, (const char *)nfields, 2);
    bin_int8(l, r->org_id, false);
    bin_text(l, r->ev.id, false);
    bin_int8(l, r->ev.ts_us - PG_EPOCH_US, false);
    bin_int8(l, r->team_id, false);
    bin_int8(l, r->project_id, true);
    bin_int8(l, user_id, true);
    bin_int8(l, r->ev.api_key_id ? r->ev.api_key_id : r->ingest_key, true);
    bin_text(l, r->provider, false);
    bin_text(l, r->model, false);
    bin_text(l, r->ev.provider, false);
    bin_text(l, r->ev.model, false);
    bin_text(l, r->ev.requested_model, false);
    bin_text(l, r->ev.request_id, true);
    bin_text(l, r->ev.status == EVENT_ERROR ? "error" : "ok", false);
    if (r->ev.latency_ms < 0) {
        bin_null(l);
    } else {
        put_be32(l, 4);
        put_be32(l, (uint32_t)r->ev.latency_ms);
    }
    bin_text(l, pricing_mode_name(r->ev.mode), false);
    bin_int8(l, r->ev.tokens.input_uncached, false);
    bin_int8(l, r->ev.tokens.cache_read, false);
    bin_int8(l, r->ev.tokens.cache_write_5m, false);
    bin_int8(l, r->ev.tokens.cache_write_1h, false);
    bin_int8(l, r->ev.tokens.output, false);
    bin_int8(l, r->ev.tokens.reasoning, false);
    bin_money(l, r->list_cost);
    bin_money(l, r->effective_cost);
    bin_int8(l, r->price_id, true);
    put_be32(l, (uint32_t)(1 + strlen(tags))); /* jsonb: a version byte, then the text */
    put(l, "\1", 1);
    put(l, tags, strlen(tags));
    bin_text(l, r->ev.usage_format, false);
    bin_bytes(l, r->hash, CRYPTO_SHA256_LEN);
}

/* One rollup row being summed. */
struct roll {
    const struct ingest_row *r; /* its first row: the key's strings */
    int64_t hour_us, user_id;
    int64_t requests, errors, unpriced;
    struct tokens t;
    money_t list_cost, effective_cost;
};

static int64_t hour_of(int64_t ts_us)
{
    const int64_t h = (int64_t)3600 * 1000000;
    return (ts_us / h - (ts_us % h < 0)) * h;
}

static bool roll_same(const struct roll *a, const struct ingest_row *r, int64_t hour_us,
                      int64_t user_id)
{
    const struct ingest_row *b = a->r;
    return a->hour_us == hour_us && a->user_id == user_id && b->org_id == r->org_id &&
           b->team_id == r->team_id && b->project_id == r->project_id && b->ev.mode == r->ev.mode &&
           strcmp(b->provider, r->provider) == 0 && strcmp(b->model, r->model) == 0;
}

static uint64_t roll_hash(const struct ingest_row *r, int64_t hour_us, int64_t user_id)
{
    uint64_t h = key_hash(r->org_id, r->provider) ^ key_hash(r->team_id, r->model);
    h = (h ^ (uint64_t)hour_us) * 1099511628211ULL;
    h = (h ^ (uint64_t)user_id) * 1099511628211ULL;
    h = (h ^ (uint64_t)r->project_id) * 1099511628211ULL;
    return (h ^ (uint64_t)r->ev.mode) * 1099511628211ULL;
}

/* Sums the accepted rows per rollup key and upserts the sums. */
static bool upsert_rollups(PGconn *pg, const struct known *k, struct ingest_row **rows,
                           const int64_t *user_ids, const enum row_outcome *outcome, size_t n,
                           char *err, size_t errlen)
{
    size_t cap = 16, nr = 0;
    bool ok = false;
    struct roll *rolls;
    int32_t *slot;
    struct arr a[19] = {0};

    while (cap < 2 * n)
        cap *= 2;
    rolls = calloc(n ? n : 1, sizeof(*rolls));
    slot = malloc(cap * sizeof(*slot));
    if (!rolls || !slot) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    memset(slot, 0xff, cap * sizeof(*slot));
    for (size_t i = 0; i < n; i++) {
        const struct ingest_row *r = rows[i];
        int64_t hour = hour_of(r->ev.ts_us);
        size_t j;
        struct roll *x;

        if (outcome[i] != ROW_ACCEPTED)
            continue;
        for (j = roll_hash(r, hour, user_ids[i]) & (cap - 1);
             slot[j] >= 0 && !roll_same(&rolls[slot[j]], r, hour, user_ids[i]);
             j = (j + 1) & (cap - 1))
            ;
        if (slot[j] < 0) {
            slot[j] = (int32_t)nr;
            rolls[nr++] = (struct roll){.r = r, .hour_us = hour, .user_id = user_ids[i]};
        }
        x = &rolls[slot[j]];
        x->requests++;
        x->errors += r->ev.status == EVENT_ERROR;
        x->unpriced += r->price_id == 0;
        x->t.input_uncached += r->ev.tokens.input_uncached;
        x->t.cache_read += r->ev.tokens.cache_read;
        x->t.cache_write_5m += r->ev.tokens.cache_write_5m;
        x->t.cache_write_1h += r->ev.tokens.cache_write_1h;
        x->t.output += r->ev.tokens.output;
        x->t.reasoning += r->ev.tokens.reasoning;
        x->list_cost += r->list_cost;
        x->effective_cost += r->effective_cost;
    }
    if (nr == 0) {
        ok = true;
        goto out;
    }
    for (size_t i = 0; i < nr; i++) {
        const struct roll *x = &rolls[i];
        arr_int(&a[0], x->r->org_id, false);
        arr_time(&a[1], x->hour_us);
        arr_int(&a[2], x->r->team_id, false);
        arr_int(&a[3], x->r->project_id, true);
        arr_int(&a[4], x->user_id, true);
        arr_str(&a[5], x->r->provider);
        arr_str(&a[6], x->r->model);
        arr_raw(&a[7], pricing_mode_name(x->r->ev.mode));
        arr_int(&a[8], x->requests, false);
        arr_int(&a[9], x->errors, false);
        arr_int(&a[10], x->unpriced, false);
        arr_int(&a[11], x->t.input_uncached, false);
        arr_int(&a[12], x->t.cache_read, false);
        arr_int(&a[13], x->t.cache_write_5m, false);
        arr_int(&a[14], x->t.cache_write_1h, false);
        arr_int(&a[15], x->t.output, false);
        arr_int(&a[16], x->t.reasoning, false);
        arr_money(&a[17], x->list_cost);
        arr_money(&a[18], x->effective_cost);
    }
    PGresult *r = exec_arrs(pg, k, ST_ROLLUP, a, err, errlen);
    ok = r != NULL;
    PQclear(r);
out:
    arrs_free(a, 19);
    free(rolls);
    free(slot);
    return ok;
}

/* Finds (org_id, key) in a table of row indexes keyed by each row's id, or user when by_user. */
static size_t find_slot(const int32_t *slot, size_t cap, struct ingest_row *const *rows,
                        int64_t org_id, const char *key, bool by_user)
{
    size_t j = key_hash(org_id, key) & (cap - 1);
    for (; slot[j] >= 0; j = (j + 1) & (cap - 1)) {
        const struct ingest_row *r = rows[slot[j]];
        if (r->org_id == org_id && strcmp(by_user ? r->ev.user : r->ev.id, key) == 0)
            break;
    }
    return j;
}

static bool same_hash(const struct ingest_row *r, const char *stored)
{
    char hex[2 * CRYPTO_SHA256_LEN + 1];
    crypto_hex(r->hash, CRYPTO_SHA256_LEN, hex);
    return strncmp(stored, "\\x", 2) == 0 && strcmp(stored + 2, hex) == 0;
}

/*
 * Orders row indexes by (org_id, id) in byte order: every lane claims in
 * this one order, so lanes claiming the same ids cannot deadlock. (The
 * spool replay sorts by the database's collation instead; should it ever
 * deadlock with a lane, Postgres ends one and that group is retried job by
 * job.)
 */
static int cmp_ids(const void *a, const void *b, void *arg)
{
    struct ingest_row *const *rows = arg;
    const struct ingest_row *x = rows[*(const int32_t *)a], *y = rows[*(const int32_t *)b];

    if (x->org_id != y->org_id)
        return x->org_id < y->org_id ? -1 : 1;
    return strcmp(x->ev.id, y->ev.id);
}

/*
 * Writes n rows in one transaction on the live path (see above). outcome[i]
 * gets ACCEPTED, DUPLICATE or CONFLICT: the first row of an id new to
 * Postgres is accepted, and every other row is compared with the stored
 * content of its id, or with the group's first row of it when that one is
 * new. Returns false with the reason in err, the transaction rolled back.
 */
static bool write_rows(PGconn *pg, struct known *k, struct ingest_row **rows, size_t n,
                       enum row_outcome *outcome, char *err, size_t errlen)
{
    size_t cap = 16, n_months = 0, n_pending = 0, n_unclaimed = 0, n_first = 0;
    int32_t *slot, *uslot, *first, *order;
    int64_t *user_ids;
    int *months;
    const char **stored;
    bool *claimed, ok = false, begun = false;
    struct arr u[3] = {0}, s[2] = {0};
    struct barr a[4] = {
        {.oid = OID_INT8}, {.oid = OID_TEXT}, {.oid = OID_TIMESTAMPTZ}, {.oid = OID_BYTEA}};
    struct known fresh = {0};
    struct line all = {0}, json = {0};
    PGresult *r = NULL, *stored_r = NULL;

    while (cap < 2 * n)
        cap *= 2;
    slot = malloc(cap * sizeof(*slot));
    uslot = malloc(cap * sizeof(*uslot));
    first = malloc((n ? n : 1) * sizeof(*first));
    order = malloc((n ? n : 1) * sizeof(*order));
    months = malloc((n ? n : 1) * sizeof(*months));
    user_ids = calloc(n ? n : 1, sizeof(*user_ids));
    claimed = calloc(n ? n : 1, sizeof(*claimed));
    stored = calloc(n ? n : 1, sizeof(*stored));
    if (!slot || !uslot || !first || !order || !months || !user_ids || !claimed || !stored) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    memset(slot, 0xff, cap * sizeof(*slot));
    memset(uslot, 0xff, cap * sizeof(*uslot));
    for (size_t i = 0; i < n; i++) {
        struct ingest_row *row = rows[i];
        size_t j = find_slot(slot, cap, rows, row->org_id, row->ev.id, false);

        if (slot[j] < 0) {
            int m = month_of(row->ev.ts_us);
            slot[j] = (int32_t)i;
            first[i] = (int32_t)i;
            order[n_first++] = (int32_t)i;
            if (!known_month(k, m)) {
                size_t x = 0;
                while (x < n_months && months[x] != m)
                    x++;
                if (x == n_months)
                    months[n_months++] = m;
            }
        } else {
            first[i] = slot[j];
        }
        if (!row->ev.user[0])
            continue;
        user_ids[i] = known_user(k, row->org_id, row->ev.user);
        if (user_ids[i])
            continue;
        j = find_slot(uslot, cap, rows, row->org_id, row->ev.user, true);
        if (uslot[j] >= 0)
            continue;
        uslot[j] = (int32_t)i; /* a new user's first row gives its team */
        arr_int(&u[0], row->org_id, false);
        arr_str(&u[1], row->ev.user);
        arr_int(&u[2], row->team_id, false);
        n_pending++;
    }
    /* Ids claimed in key order, so that concurrent writers lock in the same order. */
    qsort_r(order, n_first, sizeof(*order), cmp_ids, rows);
    for (size_t x = 0; x < n_first; x++) {
        const struct ingest_row *row = rows[order[x]];
        barr_int(&a[0], row->org_id);
        barr_bytes(&a[1], row->ev.id, strlen(row->ev.id));
        barr_time(&a[2], row->ev.ts_us);
        barr_bytes(&a[3], row->hash, CRYPTO_SHA256_LEN);
    }
    if (!run(pg, "BEGIN", err, errlen))
        goto out;
    begun = true;
    for (size_t i = 0; i < n_months; i++) {
        char from[40];
        const char *v[1] = {from};
        snprintf(from, sizeof(from), "%04d-%02d-01T00:00:00Z", months[i] / 12, months[i] % 12 + 1);
        if (!(r = exec_stmt(pg, k, ST_PARTITION, v, err, errlen)))
            goto out;
        PQclear(r);
    }
    if (n_pending) {
        if (!(r = exec_arrs(pg, k, ST_USERS_ADD, u, err, errlen)))
            goto out;
        PQclear(r);
        if (!(r = exec_arrs(pg, k, ST_USERS_GET, u, err, errlen)))
            goto out;
        for (int t = 0; t < PQntuples(r); t++)
            known_add_user(&fresh, strtoll(PQgetvalue(r, t, 0), NULL, 10), PQgetvalue(r, t, 1),
                           strtoll(PQgetvalue(r, t, 2), NULL, 10));
        PQclear(r);
        for (size_t i = 0; i < n; i++) {
            if (!rows[i]->ev.user[0] || user_ids[i])
                continue;
            user_ids[i] = known_user(&fresh, rows[i]->org_id, rows[i]->ev.user);
            if (!user_ids[i]) {
                snprintf(err, errlen, "user '%s' was not made", rows[i]->ev.user);
                goto out;
            }
        }
    }
    if (!(r = exec_barrs(pg, k, ST_CLAIM, a, err, errlen)))
        goto out;
    for (int t = 0; t < PQntuples(r); t++) {
        size_t j = find_slot(slot, cap, rows, strtoll(PQgetvalue(r, t, 0), NULL, 10),
                             PQgetvalue(r, t, 1), false);
        if (slot[j] >= 0)
            claimed[slot[j]] = true;
    }
    PQclear(r);
    for (size_t i = 0; i < n; i++) {
        if (first[i] != (int32_t)i || claimed[i])
            continue;
        arr_int(&s[0], rows[i]->org_id, false);
        arr_str(&s[1], rows[i]->ev.id);
        n_unclaimed++;
    }
    if (n_unclaimed) {
        if (!(stored_r = exec_arrs(pg, k, ST_STORED, s, err, errlen)))
            goto out;
        for (int t = 0; t < PQntuples(stored_r); t++) {
            size_t j = find_slot(slot, cap, rows, strtoll(PQgetvalue(stored_r, t, 0), NULL, 10),
                                 PQgetvalue(stored_r, t, 1), false);
            if (slot[j] >= 0)
                stored[slot[j]] = PQgetvalue(stored_r, t, 2);
        }
    }
    for (size_t i = 0; i < n; i++) {
        int32_t f = first[i];
        bool same = stored[f] ? same_hash(rows[i], stored[f])
                              : memcmp(rows[i]->hash, rows[f]->hash, CRYPTO_SHA256_LEN) == 0;
        if (claimed[f] && f == (int32_t)i)
            outcome[i] = ROW_ACCEPTED;
        else
            outcome[i] = same ? ROW_DUPLICATE : ROW_CONFLICT;
        if (outcome[i] != ROW_ACCEPTED)
            continue;
        if (!all.len)
            put(&all, copy_header, sizeof(copy_header));
        event_tuple(rows[i], user_ids[i], &all, &json);
    }
    if (all.len)
        put(&all, "\377\377", 2); /* the trailer */
    if (all.oom) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (all.len && !copy_in(pg, copy_events_sql, all.p, all.len, err, errlen))
        goto out;
    if (!upsert_rollups(pg, k, rows, user_ids, outcome, n, err, errlen) ||
        !run(pg, "COMMIT", err, errlen))
        goto out;
    begun = false;
    ok = true;
    /* Committed: what this group made is now known to exist. */
    for (size_t i = 0; i < n_months && k->n_months < MONTHS_MAX; i++)
        k->months[k->n_months++] = months[i];
    for (size_t i = 0; i < fresh.cap; i++)
        if (fresh.users[i].id)
            known_add_user(k, fresh.users[i].org_id, fresh.users[i].ext, fresh.users[i].id);
out:
    if (begun) {
        PQclear(PQexec(pg, "ROLLBACK"));
        k->n_months = 0; /* a partition known before may be the one missing */
    }
    PQclear(stored_r);
    known_forget_users(&fresh);
    for (int i = 0; i < 4; i++)
        free(a[i].l.p);
    arrs_free(u, 3);
    arrs_free(s, 2);
    free(all.p);
    free(json.p);
    free(slot);
    free(uslot);
    free(first);
    free(order);
    free(months);
    free(user_ids);
    free(claimed);
    free(stored);
    return ok;
}

/* The rows of jobs in order, as one array; NULL when out of memory. */
static struct ingest_row **gather_rows(struct writer_job *jobs, size_t *n)
{
    size_t total = 0, i = 0;
    struct ingest_row **rows;

    for (struct writer_job *j = jobs; j; j = j->next)
        total += j->n;
    rows = malloc((total ? total : 1) * sizeof(*rows));
    if (!rows)
        return NULL;
    for (struct writer_job *j = jobs; j; j = j->next)
        for (size_t x = 0; x < j->n; x++)
            rows[i++] = &j->rows[x];
    *n = total;
    return rows;
}

bool writer_write_now(PGconn *pg, struct writer_job *jobs, char *err, size_t errlen)
{
    size_t n = 0;
    struct ingest_row **rows = gather_rows(jobs, &n);
    enum row_outcome *outcome = calloc(n ? n : 1, sizeof(*outcome));
    struct known k = {0};
    bool ok = false;

    if (!rows || !outcome) {
        snprintf(err, errlen, "out of memory");
        set_outcomes(jobs, NULL, ROW_FAILED);
        goto out;
    }
    ok = write_rows(pg, &k, rows, n, outcome, err, errlen);
    set_outcomes(jobs, ok ? outcome : NULL, conn_lost(pg) ? ROW_UNAVAILABLE : ROW_FAILED);
out:
    known_forget_users(&k);
    free(rows);
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
    ok = run(pg, stage_sql, err, errlen) && copy_in(pg, copy_sql, all.p, all.len, err, errlen);
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
    known_reset(&l->known, true);
    known_prepare(l->pg, &l->known);
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
    struct ingest_row **rows = gather_rows(jobs, &n);
    char *data = NULL, err[512] = "";
    enum row_outcome *outcome = calloc(n ? n : 1, sizeof(*outcome));
    bool spooled;

    if (!rows || !outcome) {
        set_outcomes(jobs, NULL, ROW_FAILED);
        goto out;
    }
    for (int attempt = 0; attempt < 2 && ensure_conn(l) && (w->spool_size == 0 || spool_replay(l));
         attempt++) {
        /* The gate makes this commit and its ledger update one step for a ledger reload. */
        verdicts_gate_enter();
        bool wrote = write_rows(l->pg, &l->known, rows, n, outcome, err, sizeof(err));
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
    /* The spool keeps the rows as staging lines. */
    data = join_jobs(jobs, &len, &n);
    if (!data) {
        set_outcomes(jobs, NULL, ROW_FAILED);
        goto out;
    }
    pthread_mutex_lock(&w->spool_mu);
    spooled = spool_append(w, data, len);
    pthread_mutex_unlock(&w->spool_mu);
    if (spooled)
        set_outcomes(jobs, NULL, ROW_SPOOLED);
    else
        set_outcomes(jobs, NULL, ROW_UNAVAILABLE);
out:
    count(w, jobs);
out_counted:
    free(rows);
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
        known_forget_users(&w->lanes[i].known);
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
