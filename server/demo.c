/*
 * demo: the demo month (see demo.h). Teams, projects and users are made in
 * SQL; the usage events are generated here with a fixed-seed generator and
 * written through the ingest path itself (event validation limits, the
 * catalog's prices, writer_write_now: the same COPY, idempotency and rollups
 * as POST /v1/usage). Every call first asks for a verdict, as a gateway
 * would: an in-process ledger (policies/ledger.h) holds the demo's budgets
 * and the routing policy of policies/examples/routing-70-20-10.json, each
 * call's committed cost is applied to it as the hours go by, a downgrade
 * runs the cheaper model and a deny skips the call; the verdicts are
 * counted per hour in verdict_hourly as the server counts them.
 */
#include "demo.h"

#include "ledger.h"
#include "prices.h"
#include "writer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Teams and projects: slug, name, parent, the team's monthly budget in USD,
 * and whether it is hard (downgrade at 90%, deny at 100%) or alerts only
 * (then it can end the month over).
 */
static const struct {
    const char *slug, *name, *parent;
    const char *budget;
    bool hard;
} teams[] = {
    {"search", "Search", NULL, "1300", true},
    {"support", "Customer Support", NULL, "800", true},
    {"growth", "Growth", NULL, "500", false},
    {"data-platform", "Data Platform", NULL, "280", true},
    {"research", "Research", NULL, "2000", true},
    {"mobile", "Mobile", NULL, "200", false},
    {"search-ranking", "Ranking", "search", NULL, false},
    {"query-rewrite", "Query rewrite", "search", NULL, false},
    {"support-chatbot", "Support chatbot", "support", NULL, false},
    {"ticket-summaries", "Ticket summaries", "support", NULL, false},
    {"email-gen", "Email generation", "growth", NULL, false},
    {"etl-enrich", "ETL enrichment", "data-platform", NULL, false},
    {"evals", "Evaluations", "research", NULL, false},
    {"mobile-assistant", "In-app assistant", "mobile", NULL, false},
};
#define N_TEAMS (sizeof(teams) / sizeof(teams[0]))

/*
 * The traffic: per project, the model asked for, the mode, calls per hour
 * at peak, token ranges, the share of the prompt read from cache (percent)
 * and cache-write tokens on half the calls. The model that runs is the
 * verdict's. The last row is a self-hosted fine-tune the catalog does not
 * know: it stays unpriced.
 */
static const struct mix {
    const char *project, *provider, *requested, *mode;
    int per_hour;
    int64_t in_lo, in_hi;
    int cache_pct;
    int64_t cache_write, out_lo, out_hi;
    bool reasoning;
} mixes[] = {
    // clang-format off
    {"search-ranking", "openai", "gpt-4o", "standard", 70, 20000, 90000, 60, 0, 300, 1200, false},
    {"query-rewrite", "openai", "gpt-4o-mini", "standard", 60, 1000, 4000, 0, 0, 50, 300, false},
    {"support-chatbot", "anthropic", "claude-sonnet-4-5", "standard", 50, 20000, 80000, 80, 3000, 500, 2000, false},
    {"ticket-summaries", "anthropic", "claude-haiku-4-5", "batch", 30, 5000, 30000, 0, 0, 300, 1200, false},
    {"email-gen", "openai", "gpt-5-mini", "standard", 40, 6000, 20000, 20, 0, 3000, 9000, true},
    {"etl-enrich", "google", "gemini-2.5-flash", "batch", 60, 30000, 120000, 0, 0, 1000, 4000, false},
    {"evals", "anthropic", "claude-opus-4-1", "standard", 4, 20000, 80000, 30, 5000, 1500, 6000, false},
    {"evals", "openai", "gpt-5", "flex", 10, 30000, 120000, 40, 0, 3000, 15000, true},
    {"evals", "google", "gemini-2.5-pro", "standard", 2, 150000, 500000, 0, 0, 2000, 8000, true},
    {"mobile-assistant", "google", "gemini-2.5-flash", "priority", 40, 8000, 30000, 30, 0, 800, 3000, false},
    {"mobile-assistant", "vllm", "llama-3.1-70b-support-ft", "standard", 2, 2000, 8000, 0, 0, 200, 800, false},
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

/* A team's budget ($1 slug, $2 amount, $3 hard) or the org's, with their thresholds. */
static const char budgets_sql[] =
    "WITH b AS (INSERT INTO budgets (org_id, name, scope_kind, scope_id, amount, period, timezone)"
    " SELECT t.org_id, t.name || ' monthly', 'team', t.id, $2::numeric, 'month', 'UTC'"
    " FROM teams t WHERE t.slug = $1::text AND t.org_id = (SELECT id FROM orgs WHERE slug ="
    " 'default') ON CONFLICT (org_id, name) DO NOTHING RETURNING id)"
    " INSERT INTO budget_thresholds (budget_id, percent, action)"
    " SELECT b.id, v.percent, v.action FROM b CROSS JOIN (VALUES (50, 'alert'), (80, 'alert'),"
    " (90, 'downgrade'), (100, 'deny')) v (percent, action)"
    " WHERE $3::bool OR v.action = 'alert' UNION ALL SELECT b.id, 100, 'alert' FROM b"
    " WHERE NOT $3::bool";

static const char org_budget_sql[] =
    "WITH b AS (INSERT INTO budgets (org_id, name, scope_kind, scope_id, amount, period, timezone)"
    " SELECT o.id, 'Company monthly', 'org', o.id, $1::numeric, 'month', 'UTC'"
    " FROM orgs o WHERE o.slug = 'default' ON CONFLICT (org_id, name) DO NOTHING RETURNING id)"
    " INSERT INTO budget_thresholds (budget_id, percent, action)"
    " SELECT b.id, v.percent, v.action FROM b CROSS JOIN (VALUES (50, 'alert'), (80, 'alert'),"
    " (90, 'downgrade')) v (percent, action)";

#define ORG_BUDGET "7000"

/* Writes rows[0..n) (priced already) through the ingest writer and frees their events. */
static bool flush(PGconn *pg, struct ingest_row *rows, size_t *n, long long *accepted, char *err,
                  size_t errlen)
{
    struct writer_job job = {.rows = rows, .n = *n};
    bool ok;

    for (size_t i = 0; i < *n; i++)
        writer_hash_row(&rows[i]);
    ok = writer_write_now(pg, &job, err, errlen);
    for (size_t i = 0; i < *n; i++) {
        *accepted += rows[i].outcome == ROW_ACCEPTED;
        event_clear(&rows[i].ev);
    }
    memset(rows, 0, *n * sizeof(*rows));
    *n = 0;
    return ok;
}

/* ---- verdicts ---- */

/* The demo's ledger: its budgets and policy, and the verdict counts of the hour. */
struct gate {
    struct ledger *ledger;
    const struct catalog *cat;
    int64_t org;
    struct tokens tokens; /* of the call being asked about */
    enum usage_mode mode;
    int64_t now;
    struct vcount {
        int64_t team;
        const char *provider, *requested, *reason;
        char model[POLICY_MODEL_MAX + 1];
        enum decision decision;
        int64_t n;
        money_t est_requested, est_chosen;
    } counts[256];
    size_t n_counts;
    long long allowed, downgraded, denied;
};

static money_t estimate(void *arg, const char *provider, const char *model, bool *priced)
{
    struct gate *g = arg;
    const char *cp, *cm;
    const struct price *p;
    money_t cost = 0;

    *priced = false;
    if (!catalog_resolve(g->cat, provider, model, &cp, &cm) ||
        !(p = catalog_price(g->cat, g->org, cp, cm, g->now, pricing_prompt_tokens(&g->tokens))))
        return 0;
    pricing_cost(p, NULL, &g->tokens, g->mode, &cost, NULL);
    *priced = true;
    return cost;
}

static void policy_cb(void *arg, const struct routing_policy *p)
{
    struct routing_policy *out = arg;
    if (!out->name[0])
        *out = *p;
}

static void budget_cb(void *arg, const struct budget *b)
{
    (void)arg, (void)b;
}

/*
 * Builds the ledger: each team's budget and the org's, as budgets_sql
 * writes them, and the routing policy file (skipped, with a note, when it
 * cannot be read: then only budgets decide).
 */
static bool gate_open(struct gate *g, int64_t org, const int64_t team_ids[], int64_t now, char *err,
                      size_t errlen)
{
    struct budget b[sizeof(teams) / sizeof(teams[0]) + 1];
    struct routing_policy pol = {0};
    size_t nb = 0, np = 0;
    FILE *f = fopen("policies/examples/routing-70-20-10.json", "rb");

    memset(b, 0, sizeof(b));
    if (f) {
        char text[16384];
        size_t len = fread(text, 1, sizeof(text) - 1, f), n_errs = 0;
        struct policy_error perr[4];
        fclose(f);
        text[len] = '\0';
        if (policy_parse_file(text, len, budget_cb, policy_cb, &pol, perr, 4, &n_errs) == 0 &&
            pol.name[0]) {
            pol.id = 1, pol.org_id = org, pol.scope.id = org;
            np = 1;
        }
    }
    if (!np)
        printf("note: policies/examples/routing-70-20-10.json not read; the demo's verdicts come "
               "from budgets only\n");
    for (size_t i = 0; i <= N_TEAMS; i++) {
        struct budget *x = &b[nb];
        static const struct threshold hard[] = {{5000, ACTION_ALERT},
                                                {8000, ACTION_ALERT},
                                                {9000, ACTION_DOWNGRADE},
                                                {10000, ACTION_DENY}};
        static const struct threshold soft[] = {
            {5000, ACTION_ALERT}, {8000, ACTION_ALERT}, {10000, ACTION_ALERT}};
        static const struct threshold org_th[] = {
            {5000, ACTION_ALERT}, {8000, ACTION_ALERT}, {9000, ACTION_DOWNGRADE}};
        const struct threshold *th;
        size_t n_th;
        const char *amount;
        if (i < N_TEAMS && !teams[i].budget)
            continue;
        x->id = (int64_t)nb + 1;
        x->org_id = org;
        x->period = PERIOD_MONTH;
        x->anchor = 1;
        snprintf(x->timezone, sizeof(x->timezone), "UTC");
        x->enabled = true;
        if (i < N_TEAMS) {
            snprintf(x->name, sizeof(x->name), "%s monthly", teams[i].name);
            x->scope.kind = SCOPE_TEAM;
            snprintf(x->scope.name, sizeof(x->scope.name), "%s", teams[i].slug);
            x->scope.id = team_ids[i];
            amount = teams[i].budget;
            th = teams[i].hard ? hard : soft;
            n_th = teams[i].hard ? 4 : 3;
        } else {
            snprintf(x->name, sizeof(x->name), "Company monthly");
            x->scope.kind = SCOPE_ORG;
            snprintf(x->scope.name, sizeof(x->scope.name), "default");
            x->scope.id = org;
            amount = ORG_BUDGET;
            th = org_th;
            n_th = 3;
        }
        if (!money_parse_usd(amount, 2, &x->amount)) {
            snprintf(err, errlen, "bad demo budget %s", amount);
            return false;
        }
        memcpy(x->thresholds, th, n_th * sizeof(*th));
        x->n_thresholds = n_th;
        nb++;
    }
    g->org = org;
    if (!(g->ledger = ledger_new()) ||
        !ledger_replace(g->ledger, b, NULL, nb, np ? &pol : NULL, NULL, np, now)) {
        ledger_free(&g->ledger);
        snprintf(err, errlen, "out of memory");
        return false;
    }
    return true;
}

static void gate_count(struct gate *g, int64_t team, const struct mix *m, const struct verdict *v,
                       money_t est_requested)
{
    struct vcount *c = NULL;

    for (size_t i = 0; i < g->n_counts && !c; i++) {
        struct vcount *e = &g->counts[i];
        if (e->team == team && e->requested == m->requested && e->decision == v->decision &&
            e->reason == v->reason_code && !strcmp(e->model, v->model))
            c = e;
    }
    if (!c && g->n_counts < sizeof(g->counts) / sizeof(g->counts[0])) {
        c = &g->counts[g->n_counts++];
        memset(c, 0, sizeof(*c));
        c->team = team, c->provider = m->provider, c->requested = m->requested;
        c->reason = v->reason_code, c->decision = v->decision;
        snprintf(c->model, sizeof(c->model), "%s", v->model);
    }
    if (c) {
        c->n++;
        c->est_requested += est_requested;
        c->est_chosen += v->decision == DECISION_DENY ? 0 : v->estimate;
    }
    g->allowed += v->decision == DECISION_ALLOW;
    g->downgraded += v->decision == DECISION_DOWNGRADE;
    g->denied += v->decision == DECISION_DENY;
}

/* Writes the hour's verdict counts to verdict_hourly, as the server's flush does. */
static bool gate_flush(PGconn *pg, struct gate *g, int64_t hour, char *err, size_t errlen)
{
    for (size_t i = 0; i < g->n_counts; i++) {
        const struct vcount *c = &g->counts[i];
        char org[24], h[24], team[24], n[24], er[MONEY_BUF], ec[MONEY_BUF];
        const char *p[11] = {org,
                             h,
                             team,
                             c->provider,
                             c->requested,
                             c->model,
                             ledger_decision_name(c->decision),
                             c->reason,
                             n,
                             er,
                             ec};
        snprintf(org, sizeof(org), "%" PRId64, g->org);
        snprintf(h, sizeof(h), "%" PRId64, hour);
        snprintf(team, sizeof(team), "%" PRId64, c->team);
        snprintf(n, sizeof(n), "%" PRId64, c->n);
        money_format_usd(c->est_requested, 0, er);
        money_format_usd(c->est_chosen, 0, ec);
        if (!exec(pg,
                  "INSERT INTO verdict_hourly (org_id, hour, team_id, provider, requested_model,"
                  " model, decision, reason, verdicts, estimated_requested, estimated_chosen)"
                  " VALUES ($1::bigint, to_timestamp($2::bigint), $3::bigint, $4, $5, $6, $7, $8,"
                  " $9::bigint, $10::numeric, $11::numeric) ON CONFLICT DO NOTHING",
                  11, p, NULL, err, errlen))
            return false;
    }
    g->n_counts = 0;
    return true;
}

/*
 * One call: asks the ledger, as a gateway would, then makes the event of
 * the model the verdict chose, prices it and applies its cost to the
 * ledger. Returns false when the call was denied (no event).
 */
static bool make_event(struct gate *g, struct ingest_row *row, const struct mix *m, size_t mi,
                       int64_t team, int64_t proj, time_t hour, int n)
{
    struct usage_event *ev = &row->ev;
    struct tm tm;
    char stamp[16], user[96];
    int64_t prompt = between(m->in_lo, m->in_hi), out = between(m->out_lo, m->out_hi);
    int64_t cr = prompt * m->cache_pct / 100;
    int64_t cw = (next() & 1) ? m->cache_write : 0;
    int64_t ts_us = ((int64_t)hour + between(0, 3600)) * 1000000 + between(0, 1000000);
    struct verdict_request rq = {0};
    struct verdict v;
    struct ledger_spend sp = {0};
    money_t est_requested;
    bool priced;

    gmtime_r(&hour, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d%H", &tm);
    if (cw > prompt - cr)
        cw = prompt - cr;
    snprintf(user, sizeof(user), "%s-user%d@example.com", m->project, (int)between(1, 4));
    /* the verdict, on the call's estimate */
    memset(&g->tokens, 0, sizeof(g->tokens));
    g->tokens.input_uncached = prompt;
    g->tokens.output = out;
    if (!pricing_parse_mode(m->mode, &g->mode))
        g->mode = MODE_STANDARD;
    g->now = ts_us / 1000000;
    rq.scope.org_id = g->org;
    rq.scope.teams[0] = team;
    rq.scope.n_teams = 1;
    rq.scope.project_id = proj;
    rq.scope.user = user;
    rq.provider = m->provider;
    rq.model = m->requested;
    rq.input_tokens = prompt;
    rq.max_output_tokens = out;
    rq.priority = !strcmp(m->mode, "batch") ? PRIORITY_BATCH : PRIORITY_INTERACTIVE;
    rq.estimate = estimate;
    rq.estimate_arg = g;
    est_requested = estimate(g, m->provider, m->requested, &priced);
    ledger_verdict(g->ledger, &rq, g->now, &v);
    gate_count(g, team, m, &v, est_requested);
    if (v.decision == DECISION_DENY)
        return false;

    snprintf(ev->id, sizeof(ev->id), "demo-%s-%zu-%d", stamp, mi + 1, n);
    ev->ts_us = ts_us;
    ev->ts_given = true;
    snprintf(ev->team, sizeof(ev->team), "%s", "");
    snprintf(ev->project, sizeof(ev->project), "%s", m->project);
    snprintf(ev->user, sizeof(ev->user), "%s", user);
    snprintf(ev->provider, sizeof(ev->provider), "%s", m->provider);
    snprintf(ev->model, sizeof(ev->model), "%s", v.model);
    snprintf(ev->requested_model, sizeof(ev->requested_model), "%s", m->requested);
    snprintf(ev->request_id, sizeof(ev->request_id), "req-%s-%zu-%d", stamp, mi + 1, n);
    snprintf(ev->usage_format, sizeof(ev->usage_format), "demo");
    ev->status = unit() < 0.01 ? EVENT_ERROR : EVENT_OK;
    ev->latency_ms = 200 + out * 2 + between(0, 400);
    ev->mode = g->mode;
    ev->tokens.cache_read = cr;
    ev->tokens.cache_write_5m = cw;
    ev->tokens.input_uncached = prompt - cr - cw;
    ev->tokens.output = out;
    ev->tokens.reasoning = m->reasoning ? out / 3 : 0;
    ev->tags = json_pack("{s:s}", "env", "prod");
    row->org_id = g->org;
    row->team_id = team;
    row->project_id = proj;
    prices_price_row(g->cat, row);
    /* committed: the ledger counts it, as the writer's commit would */
    sp.scope = rq.scope;
    sp.scope.tags = ev->tags;
    sp.provider = m->provider;
    sp.model = v.model;
    sp.ts = g->now;
    sp.cost = row->effective_cost;
    sp.requests = 1;
    ledger_apply(g->ledger, &sp);
    return true;
}

bool demo_load(PGconn *pg, bool if_empty, char *err, size_t errlen)
{
    int64_t org, team_of[N_MIXES], proj_of[N_MIXES], team_ids[N_TEAMS] = {0};
    struct ingest_row *rows = calloc(BATCH, sizeof(*rows));
    struct gate *g = calloc(1, sizeof(*g));
    size_t n = 0;
    long long accepted = 0;
    time_t now = time(NULL), first = now - now % 3600 - 30 * 86400;
    PGresult *r;
    bool ok = false;

    if (!rows || !g) {
        snprintf(err, errlen, "out of memory");
        goto out;
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
    for (size_t i = 0; i < N_TEAMS; i++) {
        const char *p[1] = {teams[i].slug};
        if (!exec(pg,
                  "SELECT id FROM teams WHERE slug = $1::text"
                  " AND org_id = (SELECT id FROM orgs WHERE slug = 'default')",
                  1, p, &r, err, errlen))
            goto out;
        team_ids[i] = PQntuples(r) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
        PQclear(r);
    }
    if (!gate_open(g, org, team_ids, (int64_t)first, err, errlen))
        goto out;
    /* Busier in working hours (UTC 13-22), quieter at weekends. */
    for (time_t h = first; h < now - now % 3600; h += 3600) {
        struct tm tm;
        gmtime_r(&h, &tm);
        double day = (tm.tm_hour >= 13 && tm.tm_hour <= 22) ? 1.0 : 0.35;
        double week = (tm.tm_wday == 0 || tm.tm_wday == 6) ? 0.4 : 1.0;
        ledger_tick(g->ledger, (int64_t)h); /* a new month starts the budgets afresh */
        g->cat = prices_lock();
        for (size_t m = 0; m < N_MIXES; m++) {
            int calls = (int)(mixes[m].per_hour * day * week * (0.7 + 0.6 * unit()) + 0.5);
            for (int k = 1; k <= calls; k++) {
                if (!make_event(g, &rows[n], &mixes[m], m, team_of[m], proj_of[m], h, k))
                    continue;
                if (++n == BATCH) {
                    prices_unlock();
                    if (!flush(pg, rows, &n, &accepted, err, errlen))
                        goto out;
                    g->cat = prices_lock();
                }
            }
        }
        prices_unlock();
        if (!gate_flush(pg, g, (int64_t)h, err, errlen))
            goto out;
    }
    if (n && !flush(pg, rows, &n, &accepted, err, errlen))
        goto out;
    for (size_t i = 0; i < N_TEAMS; i++) {
        const char *p[3] = {teams[i].slug, teams[i].budget, teams[i].hard ? "t" : "f"};
        if (teams[i].budget && !exec(pg, budgets_sql, 3, p, NULL, err, errlen))
            goto out;
    }
    if (!exec(pg, org_budget_sql, 1, (const char *const[]){ORG_BUDGET}, NULL, err, errlen))
        goto out;
    if (exec(pg,
             "SELECT coalesce(sum(requests), 0), coalesce(sum(effective_cost), 0)::numeric(20, 2),"
             " coalesce(sum(list_cost), 0)::numeric(20, 2), coalesce(sum(unpriced), 0)"
             " FROM spend_hourly WHERE org_id = (SELECT id FROM orgs WHERE slug = 'default')",
             0, NULL, &r, err, errlen)) {
        printf("demo loaded: %lld new usage events over 30 days; the org has spent $%s ($%s at "
               "list price), %s calls unpriced; verdicts: %lld allowed, %lld downgraded, %lld "
               "denied\n",
               accepted, PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3), g->allowed,
               g->downgraded, g->denied);
        PQclear(r);
    }
    ok = true;
out:
    for (size_t i = 0; i < n; i++)
        event_clear(&rows[i].ev);
    free(rows);
    if (g)
        ledger_free(&g->ledger);
    free(g);
    return ok;
}
