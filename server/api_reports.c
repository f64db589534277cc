/*
 * api_reports: the finance reports (/v1/reports/{spend,budgets,savings,
 * units,top}) and the FOCUS export (/v1/export/focus). Every report reads
 * the hourly rollups (spend_hourly, verdict_hourly), except spend grouped by
 * a tag, which only the events carry; the budgets report reads the ledger.
 * Money stays exact: sums are Postgres numeric, read back as exact money_t
 * (ingest/money.h) and printed with at least 2 decimals; never a float.
 * Every report answers JSON, or CSV (format=csv or Accept: text/csv) through
 * the small RFC 4180 writer below. A key scoped to a team sees its subtree
 * only. Handlers run on MHD worker threads; nothing here is shared.
 */
#include "api.h"
#include "alerts.h"
#include "event.h"
#include "ledger.h"
#include "period.h"
#include "policystore.h"
#include "store.h"
#include "textbuf.h"
#include "verdicts.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the CSV writer (RFC 4180: CRLF line ends, fields quoted when needed) ---- */

struct csv {
    struct textbuf t;
    int col; /* fields written on the current line */
};

/* One field; NULL is an empty field. Quoted when it holds a comma, a quote or a line break. */
static void csv_field(struct csv *w, const char *v)
{
    if (w->col++)
        textbuf_put(&w->t, ",", 1);
    if (!v)
        return;
    if (!strpbrk(v, ",\"\r\n")) {
        textbuf_put(&w->t, v, strlen(v));
        return;
    }
    textbuf_put(&w->t, "\"", 1);
    for (const char *p = v; *p; p++) {
        if (*p == '"')
            textbuf_put(&w->t, "\"\"", 2);
        else
            textbuf_put(&w->t, p, 1);
    }
    textbuf_put(&w->t, "\"", 1);
}

static void csv_end(struct csv *w)
{
    textbuf_put(&w->t, "\r\n", 2);
    w->col = 0;
}

/* A header line from a NULL-terminated list of names. */
static void csv_header(struct csv *w, const char *const *names)
{
    while (*names)
        csv_field(w, *names++);
    csv_end(w);
}

/* Replies with the CSV text (taking it) as a download named file. */
static void csv_reply(struct http_req *r, struct csv *w, const char *file)
{
    char cd[96];

    if (w->t.oom || !w->t.buf) {
        free(w->t.buf);
        http_reply_error(r, 500, "internal", NULL, "out of memory");
        return;
    }
    snprintf(cd, sizeof(cd), "attachment; filename=\"%s\"", file);
    http_add_header(r, "Content-Disposition", cd);
    http_reply_buf(r, 200, "text/csv; charset=utf-8", w->t.buf, w->t.len);
    w->t.buf = NULL;
}

/* ---- money and numbers ---- */

/* Parses a decimal from Postgres (numeric text, optionally negative) exactly. */
static money_t money_of(const char *s)
{
    money_t v = 0;
    bool neg = s && *s == '-';

    if (!s)
        return 0;
    if (neg)
        s++;
    if (!money_parse_usd(s, MONEY_SCALE, &v)) {
        /* numeric arithmetic may carry zeros past the 15th decimal: drop them */
        char t[64];
        size_t n = strlen(s);
        if (n >= sizeof(t) || !strchr(s, '.'))
            return 0;
        memcpy(t, s, n + 1);
        while (n && t[n - 1] == '0')
            t[--n] = '\0';
        if (n && t[n - 1] == '.')
            t[--n] = '\0';
        if (!money_parse_usd(t, MONEY_SCALE, &v))
            return 0;
    }
    return neg ? -v : v;
}

/* USD text with at least 2 decimals, as every report prints money. */
static const char *usd(money_t v, char buf[MONEY_BUF])
{
    money_format_usd(v, 2, buf);
    return buf;
}

static json_t *jusd(money_t v)
{
    char b[MONEY_BUF];
    return json_string(usd(v, b));
}

/* v rounded to whole cents, half away from zero. */
static money_t round_cents(money_t v)
{
    const money_t cent = MONEY_PER_USD / 100;
    money_t q = (v < 0 ? v - cent / 2 : v + cent / 2) / cent;
    return q * cent;
}

static int64_t int_of(const char *s)
{
    return s && *s ? strtoll(s, NULL, 10) : 0;
}

/* A number rounded to one decimal for display (a share, a count of days): not money. */
static json_t *jround1(double x)
{
    long long t = (long long)(x * 10 + (x < 0 ? -0.5 : 0.5));
    return json_real((double)t / 10);
}

static const char *val(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* ---- the parameters every report shares ---- */

struct rq {
    int64_t from, to; /* as asked, unix seconds */
    int64_t lo, hi;   /* the whole hours that overlap [from, to) */
    char from_s[40], to_s[40], lo_s[40], hi_s[40];
    int64_t root; /* the subtree the report covers: the team filter or the key's team; 0 = all */
    char org[24], root_s[24];
    bool csv;
    struct db_conn *c;
};

/* RFC 3339, or YYYY-MM-DD for that day's UTC midnight. */
static bool parse_when(const char *s, int64_t *out)
{
    int64_t us;

    if (strlen(s) == 10 && s[4] == '-' && s[7] == '-') {
        struct tm tm = {0};
        char *end = strptime(s, "%Y-%m-%d", &tm);
        if (!end || *end || tm.tm_year < 70)
            return false;
        *out = (int64_t)timegm(&tm);
        return true;
    }
    if (!event_parse_time(s, &us))
        return false;
    *out = us / 1000000;
    return true;
}

static bool want_csv(struct http_req *r, bool *csv)
{
    const char *f = http_query(r, "format"), *accept = http_header(r, "Accept");

    *csv = false;
    if (f && strcmp(f, "csv") != 0 && strcmp(f, "json") != 0) {
        http_reply_error(r, 400, "invalid_query", "format", "'format' must be json or csv");
        return false;
    }
    *csv = f ? !strcmp(f, "csv") : (accept && strstr(accept, "text/csv") != NULL);
    return true;
}

/*
 * Reads format, from, to and (when team_ok) team; borrows the connection.
 * On failure it has replied (400, 403, 422 or 503) and released everything.
 */
static bool rq_start(struct http_req *r, struct rq *q, bool team_ok)
{
    const char *from = http_query(r, "from"), *to = http_query(r, "to");
    const char *team = team_ok ? http_query(r, "team") : NULL;
    time_t now = time(NULL);
    struct tm tm;

    memset(q, 0, sizeof(*q));
    if (!want_csv(r, &q->csv))
        return false;
    gmtime_r(&now, &tm);
    tm.tm_mday = 1, tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    q->from = (int64_t)timegm(&tm);
    q->to = (int64_t)now;
    if (from && !parse_when(from, &q->from)) {
        http_reply_error(r, 400, "invalid_query", "from",
                         "'from' must be an RFC 3339 time or a date (YYYY-MM-DD)");
        return false;
    }
    if (to && !parse_when(to, &q->to)) {
        http_reply_error(r, 400, "invalid_query", "to",
                         "'to' must be an RFC 3339 time or a date (YYYY-MM-DD)");
        return false;
    }
    if (q->from >= q->to) {
        http_reply_error(r, 422, "invalid_value", from ? "from" : "to",
                         "'from' must be before 'to' (which is exclusive)");
        return false;
    }
    q->lo = q->from - q->from % 3600;
    q->hi = q->to % 3600 ? q->to - q->to % 3600 + 3600 : q->to;
    event_format_seconds(q->from, q->from_s);
    event_format_seconds(q->to, q->to_s);
    event_format_seconds(q->lo, q->lo_s);
    event_format_seconds(q->hi, q->hi_s);
    q->root = r->key.team_id;
    if (!(q->c = api_db(r)))
        return false;
    if (team) {
        struct store_team t;
        bool within = true;
        switch (store_team(q->c, r->key.org_id, team, &t)) {
        case STORE_OK:
            break;
        case STORE_NOT_FOUND:
            http_reply_error(r, 422, "unknown_team", "team", "no team or project '%.64s'", team);
            goto failed;
        default:
            http_reply_db_error(r, q->c);
            goto failed;
        }
        if (r->key.team_id && store_team_within(q->c, t.id, r->key.team_id, &within) != STORE_OK) {
            http_reply_db_error(r, q->c);
            goto failed;
        }
        if (!within) {
            http_reply_error(r, 403, "forbidden", "team", "'%.64s' is outside this key's team",
                             team);
            goto failed;
        }
        q->root = t.id;
    }
    snprintf(q->org, sizeof(q->org), "%" PRId64, r->key.org_id);
    snprintf(q->root_s, sizeof(q->root_s), "%" PRId64, q->root);
    return true;
failed:
    db_release(r->app->db, &q->c);
    return false;
}

static void rq_end(struct http_req *r, struct rq *q)
{
    db_release(r->app->db, &q->c);
}

/* SQL: a rollup row `s` lies in the report's subtree ($2 = 0: the whole org). */
#define IN_SCOPE                                                                                   \
    "($2::bigint = 0 OR s.team_id IN (SELECT id FROM sub) OR s.project_id IN (SELECT id FROM "     \
    "sub))"

/* SQL: the rollup rows of the report: $1 org, $2 root, [$3, $4) the hours. */
#define ROLLUP_WHERE                                                                               \
    " FROM spend_hourly s WHERE s.org_id = $1::bigint AND s.hour >= $3::timestamptz"               \
    " AND s.hour < $4::timestamptz AND " IN_SCOPE

#define UTC_TEXT(e) "to_char((" e ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* Runs sql with $1 org, $2 root, $3 lo, $4 hi and extra parameters; replies on failure. */
static PGresult *rq_query(struct http_req *r, struct rq *q, const char *sql, int n_extra,
                          const char *const *extra)
{
    const char *p[8] = {q->org, q->root_s, q->lo_s, q->hi_s};
    PGresult *res;

    for (int i = 0; i < n_extra && i < 4; i++)
        p[4 + i] = extra[i];
    if (!(res = db_query(q->c, sql, 4 + n_extra, p)))
        http_reply_db_error(r, q->c);
    return res;
}

/* ---- grouping keys ---- */

struct group {
    const char *name;
    const char *inner; /* the expression grouped on, over spend_hourly s */
    const char *outer; /* its printed key, over the grouped g.k */
};

static const struct group groups[] = {
    {"team", "s.team_id", "(SELECT t.slug::text FROM teams t WHERE t.id = g.k)"},
    {"project", "s.project_id", "(SELECT t.slug::text FROM teams t WHERE t.id = g.k)"},
    {"user", "s.user_id", "(SELECT u.external_id FROM users u WHERE u.id = g.k)"},
    {"model", "s.provider || '/' || s.model", "g.k"},
    {"provider", "s.provider", "g.k"},
    {"mode", "s.mode", "g.k"},
};

/* The group named name among the allowed ones (a NULL-terminated list), or replies 400. */
static const struct group *find_group(struct http_req *r, const char *param, const char *name,
                                      const char *const *allowed, const char *what)
{
    for (const char *const *a = allowed; *a; a++)
        if (name && !strcmp(name, *a))
            for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
                if (!strcmp(groups[i].name, name))
                    return &groups[i];
    http_reply_error(r, 400, "invalid_query", param, "'%s' must be %s", param, what);
    return NULL;
}

/* ---- 1. spend ---- */

static const char *const token_names[6] = {"input_uncached", "cache_read", "cache_write_5m",
                                           "cache_write_1h", "output",     "reasoning"};

struct spend_sums {
    int64_t requests, errors, unpriced, tokens[6];
    money_t list, effective;
};

static json_t *spend_json(const struct spend_sums *s)
{
    json_t *o = json_object(), *t = json_object();

    json_object_set_new(o, "requests", json_integer(s->requests));
    json_object_set_new(o, "errors", json_integer(s->errors));
    json_object_set_new(o, "unpriced", json_integer(s->unpriced));
    json_object_set_new(o, "list_cost_usd", jusd(s->list));
    json_object_set_new(o, "effective_cost_usd", jusd(s->effective));
    for (int i = 0; i < 6; i++)
        json_object_set_new(t, token_names[i], json_integer(s->tokens[i]));
    json_object_set_new(o, "tokens", t);
    return o;
}

static void spend_csv(struct csv *w, const struct spend_sums *s)
{
    char b[MONEY_BUF], n[24];

    snprintf(n, sizeof(n), "%" PRId64, s->requests), csv_field(w, n);
    snprintf(n, sizeof(n), "%" PRId64, s->errors), csv_field(w, n);
    snprintf(n, sizeof(n), "%" PRId64, s->unpriced), csv_field(w, n);
    csv_field(w, usd(s->list, b));
    csv_field(w, usd(s->effective, b));
    for (int i = 0; i < 6; i++)
        snprintf(n, sizeof(n), "%" PRId64, s->tokens[i]), csv_field(w, n);
}

/* The sums' columns of spend_hourly, then the same over raw events (for tags). */
#define SPEND_SUMS                                                                                 \
    "sum(s.requests) requests, sum(s.errors) errors, sum(s.unpriced) unpriced,"                    \
    " sum(s.list_cost) list, sum(s.effective_cost) eff, sum(s.input_uncached) iu,"                 \
    " sum(s.cache_read) cr, sum(s.cache_write_5m) c5, sum(s.cache_write_1h) c1,"                   \
    " sum(s.output) o, sum(s.reasoning) rs"
#define EVENT_SUMS                                                                                 \
    "count(*) requests, count(*) FILTER (WHERE s.status = 'error') errors,"                        \
    " count(*) FILTER (WHERE s.price_id IS NULL) unpriced, sum(s.list_cost) list,"                 \
    " sum(s.effective_cost) eff, sum(s.input_uncached) iu, sum(s.cache_read) cr,"                  \
    " sum(s.cache_write_5m) c5, sum(s.cache_write_1h) c1, sum(s.output) o, sum(s.reasoning) rs"

void api_reports_spend(struct http_req *r)
{
    static const char *const allowed[] = {"team",     "project", "user", "model",
                                          "provider", "mode",    NULL};
    static const char *const intervals[] = {"none", "hour", "day", "month"};
    const char *gb = http_query(r, "group_by"), *iv = http_query(r, "interval");
    const char *tag = NULL, *period, *outer;
    const struct group *g = NULL;
    char sql[2048];
    struct rq q;
    PGresult *res;
    struct spend_sums tot = {0};
    struct csv w = {0};
    json_t *rows, *out;
    int interval = 2;

    if (!iv)
        iv = "day";
    for (interval = 0; interval < 4 && strcmp(iv, intervals[interval]) != 0; interval++)
        ;
    if (interval == 4) {
        http_reply_error(r, 400, "invalid_query", "interval",
                         "'interval' must be none, hour, day or month");
        return;
    }
    if (gb && !strncmp(gb, "tag:", 4)) {
        tag = gb + 4;
        if (!*tag || strlen(tag) > 64) {
            http_reply_error(r, 400, "invalid_query", "group_by",
                             "'group_by' tag:KEY needs a key of 1-64 bytes");
            return;
        }
    } else if (!(g = find_group(r, "group_by", gb ? gb : "team", allowed,
                                "team, project, user, model, provider, mode or tag:KEY"))) {
        return;
    }
    if (!rq_start(r, &q, true))
        return;
    static const char *const trunc[2][4] = {
        {"NULL::timestamptz", "s.hour", "date_trunc('day', s.hour AT TIME ZONE 'UTC')",
         "date_trunc('month', s.hour AT TIME ZONE 'UTC')"},
        {"NULL::timestamptz", "date_trunc('hour', s.ts AT TIME ZONE 'UTC')",
         "date_trunc('day', s.ts AT TIME ZONE 'UTC')",
         "date_trunc('month', s.ts AT TIME ZONE 'UTC')"}};
    period = trunc[tag != NULL][interval];
    outer = tag ? "g.k" : g->outer;
    if (tag)
        snprintf(sql, sizeof(sql),
                 STORE_SUBTREE_CTE
                 "SELECT to_char(g.p, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), %s, g.requests, g.errors,"
                 " g.unpriced, g.list::text, g.eff::text, g.iu, g.cr, g.c5, g.c1, g.o, g.rs"
                 " FROM (SELECT %s p, s.tags ->> $5::text k, " EVENT_SUMS
                 " FROM usage_events s WHERE s.org_id = $1::bigint AND s.superseded_at IS NULL"
                 " AND s.ts >= $3::timestamptz AND s.ts < $4::timestamptz AND " IN_SCOPE
                 " GROUP BY 1, 2) g ORDER BY g.p NULLS FIRST, g.eff DESC, 2 NULLS LAST",
                 outer, period);
    else
        snprintf(sql, sizeof(sql),
                 STORE_SUBTREE_CTE
                 "SELECT to_char(g.p, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), %s, g.requests, g.errors,"
                 " g.unpriced, g.list::text, g.eff::text, g.iu, g.cr, g.c5, g.c1, g.o, g.rs"
                 " FROM (SELECT %s p, %s k, " SPEND_SUMS ROLLUP_WHERE
                 " GROUP BY 1, 2) g ORDER BY g.p NULLS FIRST, g.eff DESC, 2 NULLS LAST",
                 outer, interval == 1 ? "s.hour AT TIME ZONE 'UTC'" : period, g->inner);
    if (!(res = rq_query(r, &q, sql, tag ? 1 : 0, &tag)))
        goto out;
    rows = json_array();
    if (q.csv) {
        const char *h[] = {"period",
                           "key",
                           "requests",
                           "errors",
                           "unpriced",
                           "list_cost_usd",
                           "effective_cost_usd",
                           "tokens_input_uncached",
                           "tokens_cache_read",
                           "tokens_cache_write_5m",
                           "tokens_cache_write_1h",
                           "tokens_output",
                           "tokens_reasoning",
                           NULL};
        csv_header(&w, interval ? h : h + 1);
    }
    for (int i = 0; i < PQntuples(res); i++) {
        struct spend_sums s = {.requests = int_of(val(res, i, 2)),
                               .errors = int_of(val(res, i, 3)),
                               .unpriced = int_of(val(res, i, 4)),
                               .list = money_of(val(res, i, 5)),
                               .effective = money_of(val(res, i, 6))};
        for (int k = 0; k < 6; k++)
            s.tokens[k] = int_of(val(res, i, 7 + k));
        tot.requests += s.requests, tot.errors += s.errors, tot.unpriced += s.unpriced;
        tot.list += s.list, tot.effective += s.effective;
        for (int k = 0; k < 6; k++)
            tot.tokens[k] += s.tokens[k];
        if (q.csv) {
            if (interval)
                csv_field(&w, val(res, i, 0));
            csv_field(&w, val(res, i, 1));
            spend_csv(&w, &s);
            csv_end(&w);
            continue;
        }
        json_t *o = json_object();
        if (interval)
            json_object_set_new(o, "period", json_string(val(res, i, 0)));
        json_object_set_new(o, "key", val(res, i, 1) ? json_string(val(res, i, 1)) : json_null());
        json_t *sums = spend_json(&s);
        json_object_update(o, sums);
        json_decref(sums);
        json_array_append_new(rows, o);
    }
    PQclear(res);
    if (q.csv) {
        json_decref(rows);
        csv_reply(r, &w, "spend.csv");
        goto out;
    }
    out = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "from", q.from_s, "to", q.to_s, "group_by",
                    gb ? gb : "team", "interval", iv, "rows", rows, "totals", spend_json(&tot));
    http_reply_json(r, 200, out);
out:
    rq_end(r, &q);
}

/* ---- 4. units ---- */

void api_reports_units(struct http_req *r)
{
    static const char *const allowed[] = {"team", "project", "model", NULL};
    const char *gb = http_query(r, "group_by");
    const struct group *g;
    char sql[2048];
    struct rq q;
    PGresult *res;
    struct csv w = {0};
    json_t *rows;

    if (!(g = find_group(r, "group_by", gb ? gb : "team", allowed, "team, project or model")) ||
        !rq_start(r, &q, true))
        return;
    snprintf(sql, sizeof(sql),
             STORE_SUBTREE_CTE
             "SELECT %s, g.requests, g.users, g.tokens, g.eff::text,"
             " CASE WHEN g.requests > 0 THEN round(g.eff / g.requests, 6)::text END,"
             " CASE WHEN g.tokens > 0 THEN round(g.eff * 1000000 / g.tokens, 6)::text END,"
             " CASE WHEN g.users > 0 THEN round(g.eff / g.users, 6)::text END"
             " FROM (SELECT %s k, sum(s.requests) requests, count(DISTINCT s.user_id) users,"
             " sum(s.input_uncached + s.cache_read + s.cache_write_5m + s.cache_write_1h"
             " + s.output) tokens, sum(s.effective_cost) eff" ROLLUP_WHERE
             " GROUP BY 1) g ORDER BY g.eff DESC, 1 NULLS LAST",
             g->outer, g->inner);
    if (!(res = rq_query(r, &q, sql, 0, NULL)))
        goto out;
    if (q.csv)
        csv_header(&w, (const char *const[]){"key", "requests", "users", "tokens",
                                             "effective_cost_usd", "cost_per_request_usd",
                                             "cost_per_mtok_usd", "cost_per_user_usd", NULL});
    rows = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        char m[4][MONEY_BUF];
        const char *mv[4];
        for (int k = 0; k < 4; k++)
            mv[k] = val(res, i, 4 + k) ? usd(money_of(val(res, i, 4 + k)), m[k]) : NULL;
        if (q.csv) {
            for (int k = 0; k < 4; k++)
                csv_field(&w, val(res, i, k));
            for (int k = 0; k < 4; k++)
                csv_field(&w, mv[k]);
            csv_end(&w);
            continue;
        }
        json_t *o = json_object();
        json_object_set_new(o, "key", val(res, i, 0) ? json_string(val(res, i, 0)) : json_null());
        json_object_set_new(o, "requests", json_integer(int_of(val(res, i, 1))));
        json_object_set_new(o, "users", json_integer(int_of(val(res, i, 2))));
        json_object_set_new(o, "tokens", json_integer(int_of(val(res, i, 3))));
        static const char *const names[4] = {"effective_cost_usd", "cost_per_request_usd",
                                             "cost_per_mtok_usd", "cost_per_user_usd"};
        for (int k = 0; k < 4; k++)
            json_object_set_new(o, names[k], mv[k] ? json_string(mv[k]) : json_null());
        json_array_append_new(rows, o);
    }
    PQclear(res);
    if (q.csv) {
        json_decref(rows);
        csv_reply(r, &w, "units.csv");
    } else {
        http_reply_json(r, 200,
                        json_pack("{s:s, s:s, s:s, s:o}", "from", q.from_s, "to", q.to_s,
                                  "group_by", g->name, "rows", rows));
    }
out:
    rq_end(r, &q);
}

/* ---- 5. top ---- */

void api_reports_top(struct http_req *r)
{
    static const char *const allowed[] = {"user", "project", "model", "team", NULL};
    const char *by = http_query(r, "by"), *lim = http_query(r, "limit");
    const struct group *g;
    char sql[1536], limit[16];
    struct rq q;
    PGresult *res;
    struct csv w = {0};
    json_t *rows;
    long n = 10;

    if (lim) {
        char *end;
        n = strtol(lim, &end, 10);
        if (!*lim || *end || n < 1 || n > 1000) {
            http_reply_error(r, 400, "invalid_query", "limit", "'limit' must be 1 to 1000");
            return;
        }
    }
    snprintf(limit, sizeof(limit), "%ld", n);
    if (!(g = find_group(r, "by", by ? by : "user", allowed, "user, project, model or team")) ||
        !rq_start(r, &q, true))
        return;
    snprintf(sql, sizeof(sql),
             STORE_SUBTREE_CTE "SELECT %s, g.eff::text, g.requests FROM (SELECT %s k,"
                               " sum(s.effective_cost) eff, sum(s.requests) requests" ROLLUP_WHERE
                               " GROUP BY 1) g ORDER BY g.eff DESC, 1 NULLS LAST LIMIT $5::int",
             g->outer, g->inner);
    if (!(res = rq_query(r, &q, sql, 1, (const char *const[]){limit})))
        goto out;
    if (q.csv)
        csv_header(&w, (const char *const[]){"key", "effective_cost_usd", "requests", NULL});
    rows = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        char m[MONEY_BUF];
        usd(money_of(val(res, i, 1)), m);
        if (q.csv) {
            csv_field(&w, val(res, i, 0));
            csv_field(&w, m);
            csv_field(&w, val(res, i, 2));
            csv_end(&w);
            continue;
        }
        json_array_append_new(rows,
                              json_pack("{s:o, s:s, s:I}", "key",
                                        val(res, i, 0) ? json_string(val(res, i, 0)) : json_null(),
                                        "effective_cost_usd", m, "requests",
                                        (json_int_t)int_of(val(res, i, 2))));
    }
    PQclear(res);
    if (q.csv) {
        json_decref(rows);
        csv_reply(r, &w, "top.csv");
    } else {
        http_reply_json(r, 200,
                        json_pack("{s:s, s:s, s:s, s:o}", "from", q.from_s, "to", q.to_s, "by",
                                  g->name, "rows", rows));
    }
out:
    rq_end(r, &q);
}

/* ---- 2. budgets ---- */

struct bud {
    const struct budget *b;
    int64_t start, end; /* the period */
    money_t spent, reserved, projected;
    bool need_spent, forecast;
};

/*
 * Fills out[i] with the spend of items[i]'s budget scope in [lo[i], hi) for
 * every i with want[i], through verdicts_spend_window (one statement per
 * scope kind), and moves lo[i] to where the window really began (rollups
 * count whole hours). False when a query fails (the error on c) or out of
 * memory.
 */
static bool spend_windows(struct db_conn *c, const struct bud *items, size_t n, int64_t *lo,
                          int64_t hi, const bool *want, money_t *out)
{
    struct budget *bs = calloc(n ? n : 1, sizeof(*bs));
    int64_t *from = calloc(n ? n : 1, sizeof(*from));
    size_t *idx = calloc(n ? n : 1, sizeof(*idx)), m = 0;
    money_t *got = calloc(n ? n : 1, sizeof(*got));
    bool ok = bs && from && idx && got;

    for (size_t i = 0; ok && i < n; i++) {
        if (!want[i])
            continue;
        bs[m] = *items[i].b;
        from[m] = lo[i];
        idx[m++] = i;
    }
    ok = ok && verdicts_spend_window(c, bs, m, from, hi, got);
    for (size_t k = 0; ok && k < m; k++)
        out[idx[k]] = got[k], lo[idx[k]] = from[k];
    free(bs);
    free(from);
    free(idx);
    free(got);
    return ok;
}

static json_t *threshold_at(int32_t x100)
{
    return x100 % 100 ? json_real(x100 / 100.0) : json_integer(x100 / 100);
}

void api_reports_budgets(struct http_req *r)
{
    struct policy_set set = {0};
    struct bud *items = NULL;
    int64_t *lo = NULL, now = (int64_t)time(NULL);
    bool *want = NULL, csv;
    money_t *got = NULL;
    struct ledger *led = verdicts_ledger();
    struct db_conn *c;
    struct csv w = {0};
    json_t *arr = NULL;
    size_t n = 0;

    if (!want_csv(r, &csv) || !(c = api_db(r)))
        return;
    if (policystore_load(c, r->key.org_id, true, &set) != STORE_OK) {
        http_reply_db_error(r, c);
        goto out;
    }
    items = calloc(set.n_budgets + 1, sizeof(*items));
    lo = calloc(set.n_budgets + 1, sizeof(*lo));
    want = calloc(set.n_budgets + 1, sizeof(*want));
    got = calloc(set.n_budgets + 1, sizeof(*got));
    if (!items || !lo || !want || !got) {
        http_reply_error(r, 500, "internal", NULL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < set.n_budgets; i++) {
        const struct budget *b = &set.budgets[i];
        struct bud *it = &items[n];
        struct budget_status st;
        if (r->key
                .team_id) { /* a scoped key sees the budgets of its subtree's teams and projects */
            bool within = false;
            if (b->scope.kind != SCOPE_TEAM && b->scope.kind != SCOPE_PROJECT)
                continue;
            if (store_team_within(c, b->scope.id, r->key.team_id, &within) != STORE_OK) {
                http_reply_db_error(r, c);
                goto out;
            }
            if (!within)
                continue;
        }
        it->b = b;
        if (led && ledger_budget_status(led, b->id, &st) && st.loaded) {
            it->start = st.period_start, it->end = st.period_end;
            it->spent = st.spent, it->reserved = st.reserved;
        } else {
            struct period_rule rule = {.kind = b->period,
                                       .anchor = b->anchor,
                                       .zone = verdicts_zone(b->timezone),
                                       .fixed_start = b->window_start,
                                       .fixed_end = b->window_end};
            if (!period_bounds(&rule, now, &it->start, &it->end))
                it->start = b->window_start, it->end = b->window_end;
            it->need_spent = true;
        }
        n++;
    }
    /* The spend of budgets the ledger has not loaded yet: their period so far. */
    for (size_t i = 0; i < n; i++)
        lo[i] = items[i].start, want[i] = items[i].need_spent && items[i].start < now;
    if (!spend_windows(c, items, n, lo, now, want, got)) {
        http_reply_db_error(r, c);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct bud *it = &items[i];
        if (want[i])
            it->spent = got[i];
        lo[i] = alerts_rate_from(it->start, now);
        want[i] = it->spent > 0 && it->start <= now && now < it->end;
    }
    /* The recent spend the forecast runs on: the same method as forecast alerts. */
    if (!spend_windows(c, items, n, lo, now, want, got)) {
        http_reply_db_error(r, c);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct alerts_budget_state st = {.b = items[i].b,
                                         .start = items[i].start,
                                         .end = items[i].end,
                                         .now = now,
                                         .spent = items[i].spent,
                                         .recent = got[i],
                                         .recent_from = lo[i]};
        items[i].forecast = want[i] && alerts_forecast(&st, &items[i].projected);
    }
    if (csv)
        csv_header(&w, (const char *const[]){"id", "name", "scope_kind", "scope_name",
                                             "period_kind", "period_start", "period_end",
                                             "timezone", "limit_usd", "spent_usd", "reserved_usd",
                                             "remaining_usd", "used_percent", "forecast_usd",
                                             "days_left", "state", "thresholds", NULL});
    arr = json_array();
    for (size_t i = 0; i < n; i++) {
        struct bud *it = &items[i];
        const struct budget *b = it->b;
        char ps[40], pe[40], scope_name[2 * POLICY_SCOPE_NAME_MAX + 2], m[5][MONEY_BUF];
        char id[24], used[32] = "", days[32], ths[16 * 24] = "";
        money_t forecast = 0;
        int32_t lowest = b->n_thresholds ? b->thresholds[0].percent_x100 : 10000;
        double left = it->end > now ? (double)(it->end - now) / 86400 : 0;
        const char *state;
        json_t *tj = json_array();

        if (it->forecast)
            forecast = round_cents(it->projected);
        if (it->spent >= b->amount)
            state = "over";
        else if (it->spent * 10000 >= b->amount * lowest || (it->forecast && forecast > b->amount))
            state = "warning";
        else
            state = "ok";
        event_format_seconds(it->start, ps);
        event_format_seconds(it->end, pe);
        if (b->scope.kind == SCOPE_TAG)
            snprintf(scope_name, sizeof(scope_name), "%s=%s", b->scope.name, b->scope.tag_value);
        else
            snprintf(scope_name, sizeof(scope_name), "%s", b->scope.name);
        if (b->amount > 0)
            snprintf(used, sizeof(used), "%.2f",
                     (double)((it->spent + it->reserved) * 10000 / b->amount) / 100);
        snprintf(days, sizeof(days), "%.1f", left);
        snprintf(id, sizeof(id), "%" PRId64, b->id);
        for (size_t k = 0; k < b->n_thresholds; k++) {
            const struct threshold *t = &b->thresholds[k];
            size_t l = strlen(ths);
            snprintf(ths + l, sizeof(ths) - l, "%s%g:%s", k ? ";" : "", t->percent_x100 / 100.0,
                     policy_action_name(t->action));
            json_array_append_new(tj, json_pack("{s:o, s:s}", "at", threshold_at(t->percent_x100),
                                                "action", policy_action_name(t->action)));
        }
        usd(b->amount, m[0]), usd(it->spent, m[1]), usd(it->reserved, m[2]);
        usd(b->amount - it->spent - it->reserved, m[3]), usd(forecast, m[4]);
        if (csv) {
            const char *f[] = {id,
                               b->name,
                               policy_scope_kind_name(b->scope.kind),
                               scope_name,
                               period_kind_name(b->period),
                               ps,
                               pe,
                               b->timezone,
                               m[0],
                               m[1],
                               m[2],
                               m[3],
                               *used ? used : NULL,
                               it->forecast ? m[4] : NULL,
                               days,
                               state,
                               ths};
            for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++)
                csv_field(&w, f[k]);
            csv_end(&w);
            json_decref(tj);
            continue;
        }
        json_array_append_new(
            arr,
            json_pack("{s:I, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s}, s:s, s:s, s:s, s:s,"
                      " s:o, s:o, s:o, s:s, s:o}",
                      "id", (json_int_t)b->id, "name", b->name, "scope", "kind",
                      policy_scope_kind_name(b->scope.kind), "name", scope_name, "period", "kind",
                      period_kind_name(b->period), "start", ps, "end", pe, "timezone", b->timezone,
                      "limit_usd", m[0], "spent_usd", m[1], "reserved_usd", m[2], "remaining_usd",
                      m[3], "used_percent", *used ? json_real(strtod(used, NULL)) : json_null(),
                      "forecast_usd", it->forecast ? json_string(m[4]) : json_null(), "days_left",
                      jround1(left), "state", state, "thresholds", tj));
    }
    if (csv)
        csv_reply(r, &w, "budgets.csv");
    else
        http_reply_json(r, 200, json_pack("{s:o}", "budgets", arr)), arr = NULL;
out:
    json_decref(arr);
    free(w.t.buf);
    free(items);
    free(lo);
    free(want);
    free(got);
    policystore_free(&set);
    db_release(r->app->db, &c);
}

/* ---- 3. savings ---- */

/*
 * Per team: list and effective cost, and the caching and batch levers, each
 * rollup group (hour, provider, model, mode) priced at the price in force
 * that hour: the base tier (min_prompt_tokens 0) with the latest
 * effective_from <= the hour, the org's own row before the list row.
 * caching = cache reads x (input - cache read price), at standard; batch =
 * effective / multiplier - effective for batch and flex calls (what they
 * would have cost at standard, less what they cost).
 */
static const char savings_sql[] = STORE_SUBTREE_CTE
    ", g AS (SELECT s.team_id, s.hour, s.provider, s.model, s.mode, sum(s.list_cost) list,"
    " sum(s.effective_cost) eff, sum(s.cache_read) cr" ROLLUP_WHERE " GROUP BY 1, 2, 3, 4, 5),"
    " x AS (SELECT g.team_id, g.list, g.eff,"
    " coalesce(round(g.cr * (p.input - coalesce(p.cache_read, p.input)) / 1000000, 15), 0)"
    " caching,"
    " CASE WHEN g.mode = 'batch' AND p.batch_multiplier > 0"
    "   THEN round(g.eff / p.batch_multiplier - g.eff, 15)"
    " WHEN g.mode = 'flex' AND p.flex_multiplier > 0"
    "   THEN round(g.eff / p.flex_multiplier - g.eff, 15) ELSE 0 END batch"
    " FROM g LEFT JOIN LATERAL (SELECT p.input, p.cache_read, p.batch_multiplier,"
    "   p.flex_multiplier FROM prices p WHERE (p.org_id IS NULL OR p.org_id = $1::bigint)"
    "   AND p.provider = g.provider AND p.model = g.model AND p.min_prompt_tokens = 0"
    "   AND p.effective_from <= g.hour ORDER BY p.org_id NULLS LAST, p.effective_from DESC"
    "   LIMIT 1) p ON g.cr > 0 OR g.mode IN ('batch', 'flex'))"
    " SELECT (SELECT t.slug::text FROM teams t WHERE t.id = x.team_id), sum(x.list)::text,"
    " sum(x.eff)::text, sum(x.caching)::text, sum(x.batch)::text FROM x GROUP BY x.team_id"
    " ORDER BY sum(x.list) - sum(x.eff) DESC, 1";

/* Verdict counts and the estimated savings of input-token-cap downgrades. */
static const char verdicts_sql[] = STORE_SUBTREE_CTE
    "SELECT v.decision, sum(v.verdicts), coalesce(sum(v.estimated_requested - v.estimated_chosen)"
    " FILTER (WHERE v.decision = 'downgrade' AND v.reason = 'input_token_cap'), 0)::text"
    " FROM verdict_hourly v WHERE v.org_id = $1::bigint AND v.hour >= $3::timestamptz"
    " AND v.hour < $4::timestamptz AND ($2::bigint = 0 OR v.team_id IN (SELECT id FROM sub))"
    " GROUP BY 1";

/* Spend and requests per model and scope path, for the tier mix. */
static const char mix_sql[] = STORE_SUBTREE_CTE
    "SELECT s.team_id, coalesce(s.project_id, 0), s.provider, s.model,"
    " sum(s.effective_cost)::text, sum(s.requests)" ROLLUP_WHERE " GROUP BY 1, 2, 3, 4";

/* True when the rollup row of team (and project) counts for policy p. */
static bool mix_in_scope(const struct routing_policy *p, int64_t team, int64_t project)
{
    switch (p->scope.kind) {
    case SCOPE_ORG:
        return true;
    case SCOPE_TEAM:
        return verdicts_team_within(team, p->scope.id);
    case SCOPE_PROJECT:
        return project == p->scope.id;
    default:
        return false; /* user, key and tag mixes: the rollups cannot tell */
    }
}

/* The tier_mix member: every policy with a target mix that the key may see. */
static json_t *tier_mix(const struct rq *q, const struct policy_set *set, PGresult *rows)
{
    json_t *out = json_array();

    for (size_t i = 0; i < set->n_policies; i++) {
        const struct routing_policy *p = &set->policies[i];
        money_t spend[POLICY_TIERS_MAX] = {0}, total = 0;
        int64_t reqs[POLICY_TIERS_MAX] = {0}, total_reqs = 0;
        json_t *tiers;

        /* org mixes are shown over the report's rows; team and project ones inside its subtree */
        if (!p->mix_set || !(p->scope.kind == SCOPE_ORG ||
                             ((p->scope.kind == SCOPE_TEAM || p->scope.kind == SCOPE_PROJECT) &&
                              (!q->root || verdicts_team_within(p->scope.id, q->root)))))
            continue;
        tiers = json_array();
        for (int k = 0; k < PQntuples(rows); k++) {
            int tier = policy_tier_of(p, val(rows, k, 2), val(rows, k, 3));
            if (tier < 0 || !mix_in_scope(p, int_of(val(rows, k, 0)), int_of(val(rows, k, 1))))
                continue;
            money_t m = money_of(val(rows, k, 4));
            int64_t n = int_of(val(rows, k, 5));
            spend[tier] += m, total += m;
            reqs[tier] += n, total_reqs += n;
        }
        for (size_t t = 0; t < p->n_tiers; t++) {
            double share =
                p->mix_basis == MIX_BY_SPEND
                    ? (total > 0 ? (double)(spend[t] * 10000 / total) / 100 : 0)
                    : (total_reqs > 0 ? 100.0 * (double)reqs[t] / (double)total_reqs : 0);
            json_array_append_new(
                tiers, json_pack("{s:s, s:o, s:o, s:o, s:I}", "tier", p->tiers[t], "target_percent",
                                 jround1(p->mix_bp[t] / 100.0), "actual_percent", jround1(share),
                                 "spend_usd", jusd(spend[t]), "requests", (json_int_t)reqs[t]));
        }
        json_array_append_new(out, json_pack("{s:s, s:s, s:o}", "policy", p->name, "by",
                                             p->mix_basis == MIX_BY_SPEND ? "spend" : "requests",
                                             "tiers", tiers));
    }
    return out;
}

void api_reports_savings(struct http_req *r)
{
    struct rq q;
    struct policy_set set = {0};
    PGresult *res = NULL, *vres = NULL, *mres = NULL;
    money_t list = 0, eff = 0, caching = 0, batch = 0, context = 0;
    int64_t counts[3] = {0};
    struct csv w = {0};
    json_t *by_team = NULL, *out;

    if (!rq_start(r, &q, true))
        return;
    if (!(res = rq_query(r, &q, savings_sql, 0, NULL)) ||
        !(vres = rq_query(r, &q, verdicts_sql, 0, NULL)) ||
        !(mres = rq_query(r, &q, mix_sql, 0, NULL)))
        goto out;
    if (policystore_load(q.c, r->key.org_id, true, &set) != STORE_OK) {
        http_reply_db_error(r, q.c);
        goto out;
    }
    if (q.csv)
        csv_header(&w,
                   (const char *const[]){"team", "list_cost_usd", "effective_cost_usd", "saved_usd",
                                         "routing_usd", "caching_usd", "batch_usd", NULL});
    by_team = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        money_t l = money_of(val(res, i, 1)), e = money_of(val(res, i, 2));
        money_t cg = money_of(val(res, i, 3)), bt = money_of(val(res, i, 4));
        char m[6][MONEY_BUF];
        list += l, eff += e, caching += cg, batch += bt;
        usd(l, m[0]), usd(e, m[1]), usd(l - e, m[2]), usd(l - e - cg - bt, m[3]);
        usd(cg, m[4]), usd(bt, m[5]);
        if (q.csv) {
            csv_field(&w, val(res, i, 0));
            for (int k = 0; k < 6; k++)
                csv_field(&w, m[k]);
            csv_end(&w);
            continue;
        }
        json_array_append_new(by_team, json_pack("{s:s?, s:s, s:s, s:s, s:s}", "team",
                                                 val(res, i, 0), "saved_usd", m[2], "routing_usd",
                                                 m[3], "caching_usd", m[4], "batch_usd", m[5]));
    }
    for (int i = 0; i < PQntuples(vres); i++) {
        const char *d = val(vres, i, 0);
        int k = !strcmp(d, "allow") ? 0 : !strcmp(d, "downgrade") ? 1 : 2;
        counts[k] += int_of(val(vres, i, 1));
        context += money_of(val(vres, i, 2));
    }
    if (q.csv) {
        json_decref(by_team);
        csv_reply(r, &w, "savings.csv");
        goto out;
    }
    out =
        json_pack("{s:s, s:s, s:o, s:o, s:o, s:{s:o, s:o, s:o, s:o}, s:o, s:o,"
                  " s:{s:I, s:I, s:I}}",
                  "from", q.from_s, "to", q.to_s, "list_cost_usd", jusd(list), "effective_cost_usd",
                  jusd(eff), "saved_usd", jusd(list - eff), "levers", "routing_usd",
                  jusd(list - eff - caching - batch), "caching_usd", jusd(caching), "batch_usd",
                  jusd(batch), "context_usd", jusd(context), "by_team", by_team, "tier_mix",
                  tier_mix(&q, &set, mres), "verdicts", "allow", (json_int_t)counts[0], "downgrade",
                  (json_int_t)counts[1], "deny", (json_int_t)counts[2]);
    http_reply_json(r, 200, out);
out:
    PQclear(res);
    PQclear(vres);
    PQclear(mres);
    free(w.t.buf);
    policystore_free(&set);
    rq_end(r, &q);
}

/* ---- 8. FOCUS export ---- */

/* The provider's display name and its product, for the FOCUS name columns. */
static void provider_names(const char *id, const char **name, const char **service)
{
    static const struct {
        const char *id, *name, *service;
    } known[] = {
        {"openai", "OpenAI", "OpenAI API"},
        {"anthropic", "Anthropic", "Anthropic API"},
        {"google", "Google", "Gemini API"},
        {"aws", "Amazon Web Services", "Amazon Bedrock"},
        {"azure", "Microsoft", "Azure OpenAI"},
        {"mistral", "Mistral AI", "Mistral API"},
        {"x-ai", "xAI", "xAI API"},
        {"deepseek", "DeepSeek", "DeepSeek API"},
        {"cohere", "Cohere", "Cohere API"},
        {"groq", "Groq", "GroqCloud"},
        {"together", "Together AI", "Together API"},
        {"fireworks", "Fireworks AI", "Fireworks API"},
        {"openrouter", "OpenRouter", "OpenRouter API"},
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (!strcmp(id, known[i].id)) {
            *name = known[i].name;
            *service = known[i].service;
            return;
        }
    *name = id;
    *service = NULL; /* the caller writes "<id> API" */
}

/* tokens / 1e6 exactly: "0.0015", "12". */
static void mtok(int64_t tokens, char buf[40])
{
    int64_t whole = tokens / 1000000, frac = tokens % 1000000;
    int len;

    if (!frac) {
        snprintf(buf, 40, "%" PRId64, whole);
        return;
    }
    len = snprintf(buf, 40, "%" PRId64 ".%06" PRId64, whole, frac);
    while (len > 0 && buf[len - 1] == '0')
        buf[--len] = '\0';
}

static const char focus_sql[] = STORE_SUBTREE_CTE
    "SELECT to_char(g.d, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
    " to_char(g.d + interval '1 day', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
    " to_char(date_trunc('month', g.d), 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
    " to_char(date_trunc('month', g.d) + interval '1 month', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
    " g.team_id, t.slug, g.provider, g.model, g.mode, g.requests, g.tokens, g.list::text,"
    " g.eff::text"
    " FROM (SELECT date_trunc('day', s.hour AT TIME ZONE 'UTC') d, s.team_id, s.provider,"
    " s.model, s.mode, sum(s.requests) requests, sum(s.input_uncached + s.cache_read"
    " + s.cache_write_5m + s.cache_write_1h + s.output) tokens, sum(s.list_cost) list,"
    " sum(s.effective_cost) eff" ROLLUP_WHERE " GROUP BY 1, 2, 3, 4, 5) g"
    " JOIN teams t ON t.id = g.team_id ORDER BY g.d, t.slug, g.provider, g.model, g.mode";

void api_export_focus(struct http_req *r)
{
    static const char *const cols[] = {"BilledCost",
                                       "EffectiveCost",
                                       "ListCost",
                                       "ContractedCost",
                                       "BillingCurrency",
                                       "BillingPeriodStart",
                                       "BillingPeriodEnd",
                                       "ChargePeriodStart",
                                       "ChargePeriodEnd",
                                       "ChargeCategory",
                                       "ChargeClass",
                                       "ChargeDescription",
                                       "ConsumedQuantity",
                                       "ConsumedUnit",
                                       "PricingQuantity",
                                       "PricingUnit",
                                       "ServiceCategory",
                                       "ServiceName",
                                       "ProviderName",
                                       "PublisherName",
                                       "InvoiceIssuerName",
                                       "SubAccountId",
                                       "SubAccountName",
                                       "ResourceId",
                                       "ResourceName",
                                       "Tags",
                                       NULL};
    struct rq q;
    PGresult *res;
    struct csv w = {0};

    if (!rq_start(r, &q, true))
        return;
    if (!(res = rq_query(r, &q, focus_sql, 0, NULL)))
        goto out;
    csv_header(&w, cols);
    for (int i = 0; i < PQntuples(res); i++) {
        const char *provider = val(res, i, 6), *model = val(res, i, 7), *mode = val(res, i, 8);
        const char *pname, *service;
        char list[MONEY_BUF], eff[MONEY_BUF], desc[400], svc[96], pq[40], *tags;
        json_t *tj = json_pack("{s:s}", "mode", mode);

        provider_names(provider, &pname, &service);
        if (!service)
            snprintf(svc, sizeof(svc), "%.80s API", provider);
        money_format_usd(money_of(val(res, i, 12)), 2, eff);
        money_format_usd(money_of(val(res, i, 11)), 2, list);
        snprintf(desc, sizeof(desc), "%s calls to %s (%s)", val(res, i, 9), model, mode);
        mtok(int_of(val(res, i, 10)), pq);
        tags = json_dumps(tj, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(tj);
        const char *f[] = {eff,
                           eff,
                           list,
                           eff,
                           "USD",
                           val(res, i, 2),
                           val(res, i, 3),
                           val(res, i, 0),
                           val(res, i, 1),
                           "Usage",
                           NULL,
                           desc,
                           val(res, i, 10),
                           "Tokens",
                           pq,
                           "1M Tokens",
                           "AI and Machine Learning",
                           service ? service : svc,
                           pname,
                           pname,
                           pname,
                           val(res, i, 4),
                           val(res, i, 5),
                           model,
                           model,
                           tags};
        for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++)
            csv_field(&w, f[k]);
        csv_end(&w);
        free(tags);
    }
    PQclear(res);
    csv_reply(r, &w, "focus.csv");
out:
    rq_end(r, &q);
}
