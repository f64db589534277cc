/*
 * demo: the demo month (see demo.h). Teams, projects and users are made in
 * SQL; the usage events are generated here with a fixed-seed generator and
 * written through the ingest path itself (event validation limits, the
 * catalog's prices, writer_write_now: the same COPY, idempotency and rollups
 * as POST /v1/usage); budgets are then sized from the rollups.
 */
#include "demo.h"

#include "prices.h"
#include "writer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Teams and projects: slug, name, parent, monthly budget as a share of 30-day spend. */
static const struct {
    const char *slug, *name, *parent;
    const char *budget_factor;
} teams[] = {
    {"search", "Search", NULL, "1.00"},
    {"support", "Customer Support", NULL, "0.80"},
    {"growth", "Growth", NULL, "2.20"},
    {"data-platform", "Data Platform", NULL, "1.60"},
    {"research", "Research", NULL, "1.10"},
    {"mobile", "Mobile", NULL, "0.90"},
    {"search-ranking", "Ranking", "search", NULL},
    {"query-rewrite", "Query rewrite", "search", NULL},
    {"support-chatbot", "Support chatbot", "support", NULL},
    {"ticket-summaries", "Ticket summaries", "support", NULL},
    {"email-gen", "Email generation", "growth", NULL},
    {"etl-enrich", "ETL enrichment", "data-platform", NULL},
    {"evals", "Evaluations", "research", NULL},
    {"mobile-assistant", "In-app assistant", "mobile", NULL},
};
#define N_TEAMS (sizeof(teams) / sizeof(teams[0]))

/*
 * The traffic: per project, the model asked for and the one that ran (a
 * downgrade when they differ), the mode, calls per hour at peak, token
 * ranges, the share of the prompt read from cache (percent) and cache-write
 * tokens on half the calls. The last row is a self-hosted fine-tune the
 * catalog does not know: it stays unpriced.
 */
static const struct mix {
    const char *project, *provider, *requested, *model, *mode;
    int per_hour;
    int64_t in_lo, in_hi;
    int cache_pct;
    int64_t cache_write, out_lo, out_hi;
    bool reasoning;
} mixes[] = {
    // clang-format off
    {"search-ranking", "openai", "gpt-4o", "gpt-4o", "standard", 30, 20000, 90000, 60, 0, 300, 1200, false},
    {"search-ranking", "openai", "gpt-4o", "gpt-4o-mini", "standard", 40, 20000, 90000, 60, 0, 300, 1200, false},
    {"query-rewrite", "openai", "gpt-4o-mini", "gpt-4o-mini", "standard", 60, 1000, 4000, 0, 0, 50, 300, false},
    {"support-chatbot", "anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5", "standard", 30, 20000, 80000, 80, 3000, 500, 2000, false},
    {"support-chatbot", "anthropic", "claude-sonnet-4-5", "claude-haiku-4-5", "standard", 20, 20000, 80000, 80, 3000, 500, 2000, false},
    {"ticket-summaries", "anthropic", "claude-haiku-4-5", "claude-haiku-4-5", "batch", 30, 5000, 30000, 0, 0, 300, 1200, false},
    {"email-gen", "openai", "gpt-5-mini", "gpt-5-mini", "standard", 40, 6000, 20000, 20, 0, 3000, 9000, true},
    {"etl-enrich", "google", "gemini-2.5-flash", "gemini-2.5-flash", "batch", 60, 30000, 120000, 0, 0, 1000, 4000, false},
    {"evals", "anthropic", "claude-opus-4-1", "claude-opus-4-1", "standard", 4, 20000, 80000, 30, 5000, 1500, 6000, false},
    {"evals", "openai", "gpt-5", "gpt-5", "flex", 10, 30000, 120000, 40, 0, 3000, 15000, true},
    {"evals", "google", "gemini-2.5-pro", "gemini-2.5-pro", "standard", 2, 150000, 500000, 0, 0, 2000, 8000, true},
    {"mobile-assistant", "google", "gemini-2.5-flash", "gemini-2.5-flash", "priority", 40, 8000, 30000, 30, 0, 800, 3000, false},
    {"mobile-assistant", "vllm", "llama-3.1-70b-support-ft", "llama-3.1-70b-support-ft", "standard", 2, 2000, 8000, 0, 0, 200, 800, false},
    // clang-format on
};
#define N_MIXES (sizeof(mixes) / sizeof(mixes[0]))

#define BATCH 5000

static bool exec(PGconn *pg, const char *sql, int n, const char *const *p, PGresult **out,
                 char *err, size_t errlen)
{
    /* PQexec for parameterless text: it may hold several statements */
    PGresult *r = n ? PQexecParams(pg, sql, n, NULL, p, NULL, NULL, 0) : PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

    if (!ok)
        snprintf(err, errlen, "%.*s", (int)strcspn(PQresultErrorMessage(r), "\n"),
                 PQresultErrorMessage(r));
    if (ok && out)
        *out = r;
    else
        PQclear(r);
    return ok;
}

/* xorshift64*: deterministic, so every demo month has the same shape. */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1DULL;
}
static int64_t between(int64_t lo, int64_t hi)
{
    return hi <= lo ? lo : lo + (int64_t)(next() % (uint64_t)(hi - lo));
}
static double unit(void)
{
    return (double)(next() >> 11) / 9007199254740992.0;
}

/* Makes the teams, projects and users; fills the ids of each mix's project. */
static bool setup(PGconn *pg, int64_t *org, int64_t team_of[N_MIXES], int64_t proj_of[N_MIXES],
                  char *err, size_t errlen)
{
    PGresult *r;

    if (!exec(pg, "SELECT id FROM orgs WHERE slug = 'default'", 0, NULL, &r, err, errlen))
        return false;
    if (PQntuples(r) != 1) {
        PQclear(r);
        snprintf(err, errlen, "no 'default' org");
        return false;
    }
    *org = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    for (size_t i = 0; i < N_TEAMS; i++) {
        const char *p[3] = {teams[i].slug, teams[i].name, teams[i].parent};
        if (!exec(pg,
                  "INSERT INTO teams (org_id, parent_id, kind, slug, name)"
                  " SELECT o.id, (SELECT id FROM teams WHERE org_id = o.id AND slug = $3::text),"
                  " CASE WHEN $3::text IS NULL THEN 'team' ELSE 'project' END, $1::text, $2"
                  " FROM orgs o WHERE o.slug = 'default' ON CONFLICT DO NOTHING",
                  3, p, NULL, err, errlen))
            return false;
    }
    for (size_t m = 0; m < N_MIXES; m++) {
        const char *p[1] = {mixes[m].project};
        if (!exec(pg,
                  "SELECT parent_id, id FROM teams WHERE slug = $1::text AND kind = 'project'"
                  " AND org_id = (SELECT id FROM orgs WHERE slug = 'default')",
                  1, p, &r, err, errlen))
            return false;
        if (PQntuples(r) != 1) {
            PQclear(r);
            snprintf(err, errlen, "demo project %s is missing", mixes[m].project);
            return false;
        }
        team_of[m] = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        proj_of[m] = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
        PQclear(r);
    }
    return true;
}

static const char budgets_sql[] =
    "INSERT INTO budgets (org_id, name, scope_kind, scope_id, amount, period, timezone)"
    " SELECT t.org_id, t.name || ' monthly', 'team', t.id,"
    "   greatest(100, round(coalesce(sum(s.effective_cost), 0) * $2::numeric, -2)), 'month', 'UTC'"
    " FROM teams t LEFT JOIN spend_hourly s ON s.org_id = t.org_id AND s.team_id = t.id"
    "   AND s.hour >= now() - interval '30 days'"
    " WHERE t.slug = $1::text AND t.org_id = (SELECT id FROM orgs WHERE slug = 'default')"
    " GROUP BY t.org_id, t.id, t.name ON CONFLICT (org_id, name) DO NOTHING";

static const char finish_sql[] =
    "INSERT INTO budgets (org_id, name, scope_kind, scope_id, amount, period, timezone)"
    " SELECT o.id, 'Company monthly', 'org', o.id,"
    "   greatest(1000, round(coalesce((SELECT sum(effective_cost) FROM spend_hourly"
    "   WHERE org_id = o.id AND hour >= now() - interval '30 days'), 0) * 1.25, -3)), 'month', "
    "'UTC'"
    " FROM orgs o WHERE o.slug = 'default' ON CONFLICT (org_id, name) DO NOTHING;\n"
    "INSERT INTO budget_thresholds (budget_id, percent, action)"
    " SELECT b.id, v.percent, v.action FROM budgets b"
    " JOIN orgs o ON o.id = b.org_id AND o.slug = 'default'"
    " CROSS JOIN (VALUES (50, 'alert'), (80, 'alert'), (90, 'downgrade'), (100, 'deny'))"
    "   v (percent, action) ON CONFLICT DO NOTHING";

/* Writes rows[0..n) through the ingest writer and frees their events. */
static bool flush(PGconn *pg, struct ingest_row *rows, size_t *n, long long *accepted, char *err,
                  size_t errlen)
{
    struct writer_job job = {.rows = rows, .n = *n};
    const struct catalog *c = prices_lock();
    bool ok;

    for (size_t i = 0; i < *n; i++) {
        prices_price_row(c, &rows[i]);
        writer_hash_row(&rows[i]);
    }
    prices_unlock();
    ok = writer_write_now(pg, &job, err, errlen);
    for (size_t i = 0; i < *n; i++) {
        *accepted += rows[i].outcome == ROW_ACCEPTED;
        event_clear(&rows[i].ev);
    }
    memset(rows, 0, *n * sizeof(*rows));
    *n = 0;
    return ok;
}

/* One generated call. */
static void make_event(struct ingest_row *row, const struct mix *m, size_t mi, int64_t org,
                       int64_t team, int64_t proj, time_t hour, int n)
{
    struct usage_event *ev = &row->ev;
    struct tm tm;
    char stamp[16];
    int64_t prompt = between(m->in_lo, m->in_hi), out = between(m->out_lo, m->out_hi);
    int64_t cr = prompt * m->cache_pct / 100;
    int64_t cw = (next() & 1) ? m->cache_write : 0;

    gmtime_r(&hour, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d%H", &tm);
    if (cw > prompt - cr)
        cw = prompt - cr;
    snprintf(ev->id, sizeof(ev->id), "demo-%s-%zu-%d", stamp, mi + 1, n);
    ev->ts_us = ((int64_t)hour + between(0, 3600)) * 1000000 + between(0, 1000000);
    ev->ts_given = true;
    snprintf(ev->team, sizeof(ev->team), "%s", "");
    snprintf(ev->project, sizeof(ev->project), "%s", m->project);
    snprintf(ev->user, sizeof(ev->user), "%s-user%d@example.com", m->project, (int)between(1, 4));
    snprintf(ev->provider, sizeof(ev->provider), "%s", m->provider);
    snprintf(ev->model, sizeof(ev->model), "%s", m->model);
    snprintf(ev->requested_model, sizeof(ev->requested_model), "%s", m->requested);
    snprintf(ev->request_id, sizeof(ev->request_id), "req-%s-%zu-%d", stamp, mi + 1, n);
    snprintf(ev->usage_format, sizeof(ev->usage_format), "demo");
    ev->status = unit() < 0.01 ? EVENT_ERROR : EVENT_OK;
    ev->latency_ms = 200 + out * 2 + between(0, 400);
    if (!pricing_parse_mode(m->mode, &ev->mode))
        ev->mode = MODE_STANDARD;
    ev->tokens.cache_read = cr;
    ev->tokens.cache_write_5m = cw;
    ev->tokens.input_uncached = prompt - cr - cw;
    ev->tokens.output = out;
    ev->tokens.reasoning = m->reasoning ? out / 3 : 0;
    ev->tags = json_pack("{s:s}", "env", "prod");
    row->org_id = org;
    row->team_id = team;
    row->project_id = proj;
}

bool demo_load(PGconn *pg, bool if_empty, char *err, size_t errlen)
{
    int64_t org, team_of[N_MIXES], proj_of[N_MIXES];
    struct ingest_row *rows = calloc(BATCH, sizeof(*rows));
    size_t n = 0;
    long long accepted = 0;
    time_t now = time(NULL), first = now - now % 3600 - 30 * 86400;
    PGresult *r;
    bool ok = false;

    if (!rows) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    if (if_empty) {
        if (!exec(pg, "SELECT EXISTS (SELECT 1 FROM usage_events)", 0, NULL, &r, err, errlen))
            goto out;
        bool has = PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
        if (has) {
            printf("the database has usage already; demo not loaded\n");
            ok = true;
            goto out;
        }
    }
    if (!setup(pg, &org, team_of, proj_of, err, errlen))
        goto out;
    /* Busier in working hours (UTC 13-22), quieter at weekends. */
    for (time_t h = first; h < now - now % 3600; h += 3600) {
        struct tm tm;
        gmtime_r(&h, &tm);
        double day = (tm.tm_hour >= 13 && tm.tm_hour <= 22) ? 1.0 : 0.35;
        double week = (tm.tm_wday == 0 || tm.tm_wday == 6) ? 0.4 : 1.0;
        for (size_t m = 0; m < N_MIXES; m++) {
            int calls = (int)(mixes[m].per_hour * day * week * (0.7 + 0.6 * unit()) + 0.5);
            for (int k = 1; k <= calls; k++) {
                make_event(&rows[n++], &mixes[m], m, org, team_of[m], proj_of[m], h, k);
                if (n == BATCH && !flush(pg, rows, &n, &accepted, err, errlen))
                    goto out;
            }
        }
    }
    if (n && !flush(pg, rows, &n, &accepted, err, errlen))
        goto out;
    for (size_t i = 0; i < N_TEAMS; i++) {
        const char *p[2] = {teams[i].slug, teams[i].budget_factor};
        if (teams[i].budget_factor && !exec(pg, budgets_sql, 2, p, NULL, err, errlen))
            goto out;
    }
    if (!exec(pg, finish_sql, 0, NULL, NULL, err, errlen))
        goto out;
    if (exec(pg,
             "SELECT coalesce(sum(requests), 0), coalesce(sum(effective_cost), 0)::numeric(20, 2),"
             " coalesce(sum(list_cost), 0)::numeric(20, 2), coalesce(sum(unpriced), 0)"
             " FROM spend_hourly WHERE org_id = (SELECT id FROM orgs WHERE slug = 'default')",
             0, NULL, &r, err, errlen)) {
        printf("demo loaded: %lld new usage events over 30 days; the org has spent $%s ($%s at "
               "list price), %s calls unpriced\n",
               accepted, PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3));
        PQclear(r);
    }
    ok = true;
out:
    for (size_t i = 0; i < n; i++)
        event_clear(&rows[i].ev);
    free(rows);
    return ok;
}
