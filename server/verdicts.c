/*
 * verdicts: see verdicts.h. The sync thread has its own connection, which
 * LISTENs on tollgate_policies; it waits on that socket with a short
 * timeout so that ticks, reloads and flushes need no other thread. Loads
 * read spend for many budgets in one statement per scope kind.
 */
#include "verdicts.h"

#include "db.h"
#include "log.h"
#include "metrics.h"
#include "policystore.h"
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS      250
#define FLUSH_EVERY  10 /* seconds between verdict count flushes */
#define ZONE_MAX_LEN (1 << 20)

struct zone {
    struct tz *tz;
    struct zone *next;
};

struct team_link {
    int64_t id, parent, org_id;
    char slug[64];
    bool project;
};

struct count {
    int64_t org_id, hour, team_id;
    char provider[64], requested[POLICY_MODEL_MAX + 1], model[POLICY_MODEL_MAX + 1];
    enum decision decision;
    const char *reason;
    int64_t verdicts;
    money_t est_requested, est_chosen;
    struct count *next;
};

static struct {
    bool started;
    const struct config *cfg;
    struct ledger *ledger;
    pthread_t thread;
    pthread_mutex_t mu; /* stopping, poked, the team tree, the policy copy */
    pthread_cond_t cv;
    bool stopping, poked, resync;
    pthread_rwlock_t gate;
    pthread_mutex_t zones_mu;
    struct zone *zones;
    struct team_link *teams; /* sorted by id */
    size_t n_teams;
    struct policy_set set; /* what the ledger was last given */
    pthread_mutex_t counts_mu;
    struct count *counts;
} V = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .cv = PTHREAD_COND_INITIALIZER,
    .zones_mu = PTHREAD_MUTEX_INITIALIZER,
    .counts_mu = PTHREAD_MUTEX_INITIALIZER,
};

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* ---- zones ---- */

static struct tz *read_zone(const char *name)
{
    char path[1024], err[256];
    struct stat st;
    uint8_t *buf = NULL;
    struct tz *z = NULL;
    int fd;

    if (!strcmp(name, "UTC"))
        return tz_utc();
    if (!tz_name_valid(name))
        return NULL;
    snprintf(path, sizeof(path), "%s/%s", V.cfg ? V.cfg->zoneinfo_dir : "/usr/share/zoneinfo",
             name);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        st.st_size <= ZONE_MAX_LEN && (buf = malloc((size_t)st.st_size))) {
        size_t got = 0;
        ssize_t k;
        while (got < (size_t)st.st_size && (k = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
            got += (size_t)k;
        if (got == (size_t)st.st_size && !(z = tz_parse(name, buf, got, err, sizeof(err))))
            log_warn(NULL, "time zone %s: %s", name, err);
    }
    free(buf);
    close(fd);
    return z;
}

const struct tz *verdicts_zone(const char *name)
{
    struct tz *z;

    pthread_mutex_lock(&V.zones_mu);
    for (struct zone *e = V.zones; e; e = e->next) {
        if (!strcmp(tz_name(e->tz), name)) {
            pthread_mutex_unlock(&V.zones_mu);
            return e->tz;
        }
    }
    z = read_zone(name);
    if (z) {
        struct zone *e = malloc(sizeof(*e));
        if (!e) {
            tz_free(&z);
        } else {
            e->tz = z;
            e->next = V.zones;
            V.zones = e;
        }
    }
    pthread_mutex_unlock(&V.zones_mu);
    return z;
}

static void zones_free(void)
{
    while (V.zones) {
        struct zone *e = V.zones;
        V.zones = e->next;
        tz_free(&e->tz);
        free(e);
    }
}

/* ---- the team tree ---- */

static int link_cmp(const void *a, const void *b)
{
    const struct team_link *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int64_t parent_of(int64_t id)
{
    size_t lo = 0, hi = V.n_teams;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (V.teams[mid].id == id)
            return V.teams[mid].parent;
        if (V.teams[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

void verdicts_team_path(int64_t team_id, struct call_scope *cs)
{
    cs->n_teams = 0;
    if (!team_id)
        return;
    pthread_mutex_lock(&V.mu);
    for (int64_t id = team_id; id && cs->n_teams < LEDGER_TEAM_DEPTH; id = parent_of(id))
        cs->teams[cs->n_teams++] = id;
    pthread_mutex_unlock(&V.mu);
}

bool verdicts_find_team(int64_t org_id, const char *slug, bool project, int64_t parent, int64_t *id)
{
    bool found = false;

    pthread_mutex_lock(&V.mu);
    for (size_t i = 0; i < V.n_teams && !found; i++) {
        const struct team_link *t = &V.teams[i];
        if (t->org_id == org_id && t->project == project && (!project || t->parent == parent) &&
            !strcmp(t->slug, slug)) {
            *id = t->id;
            found = true;
        }
    }
    pthread_mutex_unlock(&V.mu);
    return found;
}

bool verdicts_team_within(int64_t id, int64_t root)
{
    bool within = false;

    pthread_mutex_lock(&V.mu);
    for (int depth = 0; id && depth < 64 && !within; depth++, id = parent_of(id))
        within = id == root;
    pthread_mutex_unlock(&V.mu);
    return within;
}

static bool load_teams(struct db_conn *c)
{
    PGresult *r = db_query(c,
                           "SELECT id, coalesce(parent_id, 0), org_id, slug, kind = 'project'"
                           " FROM teams",
                           0, NULL);
    struct team_link *t;
    int n;

    if (!r)
        return false;
    n = PQntuples(r);
    if (!(t = calloc(n ? (size_t)n : 1, sizeof(*t)))) {
        PQclear(r);
        return false;
    }
    for (int i = 0; i < n; i++) {
        t[i].id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        t[i].parent = strtoll(PQgetvalue(r, i, 1), NULL, 10);
        t[i].org_id = strtoll(PQgetvalue(r, i, 2), NULL, 10);
        snprintf(t[i].slug, sizeof(t[i].slug), "%s", PQgetvalue(r, i, 3));
        t[i].project = PQgetvalue(r, i, 4)[0] == 't';
    }
    PQclear(r);
    qsort(t, (size_t)n, sizeof(*t), link_cmp);
    pthread_mutex_lock(&V.mu);
    free(V.teams);
    V.teams = t;
    V.n_teams = (size_t)n;
    pthread_mutex_unlock(&V.mu);
    return true;
}

/* ---- loading ---- */

/* Reads budgets and policies and hands them to the ledger. */
static bool reload_policies(struct db_conn *c)
{
    struct policy_set s;
    const struct tz **zones = NULL, **mix_zones = NULL;
    bool ok = false;

    if (policystore_load(c, 0, true, &s) != STORE_OK) {
        log_warn(NULL, "verdicts: cannot read budgets and policies: %s", db_conn_error(c));
        return false;
    }
    zones = calloc(s.n_budgets + 1, sizeof(*zones));
    mix_zones = calloc(s.n_policies + 1, sizeof(*mix_zones));
    if (!zones || !mix_zones)
        goto out;
    for (size_t i = 0; i < s.n_budgets; i++) {
        if (!(zones[i] = verdicts_zone(s.budgets[i].timezone)))
            log_warn(NULL, "budget %s: unknown time zone %s; counted in UTC", s.budgets[i].name,
                     s.budgets[i].timezone);
    }
    for (size_t i = 0; i < s.n_policies; i++)
        mix_zones[i] = s.policies[i].mix_set ? verdicts_zone(s.policies[i].mix_timezone) : NULL;
    if (!ledger_replace(V.ledger, s.budgets, (const struct tz *const *)zones, s.n_budgets,
                        s.policies, (const struct tz *const *)mix_zones, s.n_policies, now_s()))
        goto out;
    pthread_mutex_lock(&V.mu);
    policystore_free(&V.set);
    V.set = s;
    memset(&s, 0, sizeof(s));
    pthread_mutex_unlock(&V.mu);
    ok = true;
out:
    free(zones);
    free(mix_zones);
    policystore_free(&s);
    return ok;
}

/* The spend source of each scope kind, joined to the batch `b`. */
static const char *source_sql(enum scope_kind k)
{
    switch (k) {
    case SCOPE_ORG:
        return " LEFT JOIN spend_hourly s ON s.org_id = b.org"
               " AND s.hour >= date_trunc('hour', to_timestamp(b.lo))"
               " AND s.hour < to_timestamp(b.hi)";
    case SCOPE_TEAM:
        return " JOIN sub ON sub.root = b.root"
               " LEFT JOIN spend_hourly s ON s.org_id = b.org AND s.team_id = sub.id"
               " AND s.hour >= date_trunc('hour', to_timestamp(b.lo))"
               " AND s.hour < to_timestamp(b.hi)";
    case SCOPE_PROJECT:
        return " LEFT JOIN spend_hourly s ON s.org_id = b.org AND s.project_id = b.root"
               " AND s.hour >= date_trunc('hour', to_timestamp(b.lo))"
               " AND s.hour < to_timestamp(b.hi)";
    case SCOPE_USER:
        return " LEFT JOIN spend_hourly s ON s.org_id = b.org"
               " AND s.user_id = (SELECT u.id FROM users u WHERE u.org_id = b.org"
               "                  AND u.external_id = b.name)"
               " AND s.hour >= date_trunc('hour', to_timestamp(b.lo))"
               " AND s.hour < to_timestamp(b.hi)";
    case SCOPE_KEY:
        return " LEFT JOIN usage_events s ON s.org_id = b.org AND s.api_key_id = b.root"
               " AND s.superseded_at IS NULL"
               " AND s.ts >= to_timestamp(b.lo) AND s.ts < to_timestamp(b.hi)";
    default:
        return " LEFT JOIN usage_events s ON s.org_id = b.org AND s.tags ->> b.name = b.val"
               " AND s.superseded_at IS NULL"
               " AND s.ts >= to_timestamp(b.lo) AND s.ts < to_timestamp(b.hi)";
    }
}

/* One statement for every load of one kind and scope kind. */
static void load_sql(enum ledger_load_kind lk, enum scope_kind k, char *buf, size_t cap)
{
    bool raw = k == SCOPE_KEY || k == SCOPE_TAG;

    snprintf(buf, cap,
             "WITH RECURSIVE b(id, org, root, lo, hi, name, val) AS ("
             "  SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[],"
             "                       $5::bigint[], $6::text[], $7::text[])),"
             " sub(id, root) AS (SELECT DISTINCT root, root FROM b"
             "  UNION ALL SELECT t.id, sub.root FROM teams t JOIN sub ON t.parent_id = sub.id)"
             " %s%s",
             lk == LEDGER_LOAD_BUDGET
                 ? "SELECT b.id, coalesce(sum(s.effective_cost), 0)::text FROM b"
                 : (raw ? "SELECT b.id, s.provider, s.model, sum(s.effective_cost)::text,"
                          " count(*) FROM b"
                        : "SELECT b.id, s.provider, s.model, sum(s.effective_cost)::text,"
                          " sum(s.requests) FROM b"),
             source_sql(k));
    size_t len = strlen(buf);
    snprintf(buf + len, cap - len, "%s",
             lk == LEDGER_LOAD_BUDGET
                 ? " GROUP BY b.id"
                 : " WHERE s.model IS NOT NULL GROUP BY b.id, s.provider, s.model");
}

/* Appends v to a Postgres array literal in *a (grown as needed). */
static bool arr_add(char **a, size_t *len, size_t *cap, const char *v, bool quote)
{
    size_t need = strlen(v) * 2 + 8;

    if (*len + need >= *cap) {
        size_t ncap = (*cap + need) * 2;
        char *n = realloc(*a, ncap);
        if (!n)
            return false;
        *a = n;
        *cap = ncap;
    }
    char *p = *a + *len;
    *p++ = *len ? ',' : '{';
    if (quote) {
        *p++ = '"';
        for (const char *s = v; *s; s++) {
            if (*s == '"' || *s == '\\')
                *p++ = '\\';
            *p++ = *s;
        }
        *p++ = '"';
    } else {
        p += sprintf(p, "%s", v);
    }
    *len = (size_t)(p - *a);
    **a = '{';
    return true;
}

static const struct routing_policy *policy_by_id(int64_t id)
{
    for (size_t i = 0; i < V.set.n_policies; i++)
        if (V.set.policies[i].id == id)
            return &V.set.policies[i];
    return NULL;
}

/*
 * Runs the one statement of a (load kind, scope kind) group: the loads of
 * that kind in loads[0..n), each over its own [start, end) or, when window
 * is set, over window[0]..window[1]. Each row's first column is the load's
 * id or, with by_index, its index in loads. *res is NULL when the group is
 * empty. False on a failed query (the error stays on c) or out of memory.
 */
static bool group_query(struct db_conn *c, const struct ledger_load *loads, size_t n,
                        enum ledger_load_kind lk, enum scope_kind k, const int64_t *window,
                        bool by_index, PGresult **res)
{
    char *arr[7] = {0}, sql[2048];
    size_t len[7] = {0}, cap[7] = {0}, count = 0;
    bool ok = false;

    *res = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct ledger_load *L = &loads[i];
        char v[5][24];
        if (L->kind != lk || L->scope.kind != k)
            continue;
        snprintf(v[0], 24, "%" PRId64, by_index ? (int64_t)i : L->id);
        snprintf(v[1], 24, "%" PRId64, L->org_id);
        snprintf(v[2], 24, "%" PRId64, L->scope.id);
        snprintf(v[3], 24, "%" PRId64, window ? window[0] : L->start);
        snprintf(v[4], 24, "%" PRId64, window ? window[1] : L->end);
        for (int j = 0; j < 5; j++)
            if (!arr_add(&arr[j], &len[j], &cap[j], v[j], false))
                goto out;
        if (!arr_add(&arr[5], &len[5], &cap[5], L->scope.name, true) ||
            !arr_add(&arr[6], &len[6], &cap[6], L->scope.tag_value, true))
            goto out;
        count++;
    }
    if (!count) {
        ok = true;
        goto out;
    }
    for (int j = 0; j < 7; j++)
        strcpy(arr[j] + len[j], "}");
    load_sql(lk, k, sql, sizeof(sql));
    ok = (*res = db_query(c, sql, 7, (const char *const *)arr)) != NULL;
out:
    for (int j = 0; j < 7; j++)
        free(arr[j]);
    return ok;
}

bool verdicts_spend_window(struct db_conn *c, const struct ledger_load *loads, size_t n, int64_t lo,
                           int64_t hi, money_t *out)
{
    const int64_t window[2] = {lo, hi};
    money_t *sum = calloc(n ? n : 1, sizeof(*sum));

    if (!sum)
        return false;
    for (int k = SCOPE_ORG; k <= SCOPE_TAG; k++) {
        PGresult *r;
        if (!group_query(c, loads, n, LEDGER_LOAD_BUDGET, (enum scope_kind)k, window, true, &r)) {
            free(sum);
            return false;
        }
        for (int i = 0; r && i < PQntuples(r); i++) {
            long long j = strtoll(PQgetvalue(r, i, 0), NULL, 10);
            money_t v;
            if (j >= 0 && (size_t)j < n && money_parse_usd(PQgetvalue(r, i, 1), MONEY_SCALE, &v))
                sum[j] = v;
        }
        PQclear(r);
    }
    memcpy(out, sum, n * sizeof(*sum));
    free(sum);
    return true;
}

/* Runs the loads of one (load kind, scope kind) group and sets the ledger. */
static bool load_group(struct db_conn *c, uint64_t epoch, const struct ledger_load *loads, size_t n,
                       enum ledger_load_kind lk, enum scope_kind k)
{
    bool ok = false;
    PGresult *r = NULL;

    if (!group_query(c, loads, n, lk, k, NULL, false, &r)) {
        log_warn(NULL, "verdicts: loading spend: %s", db_conn_error(c));
        goto out;
    }
    if (!r)
        return true;
    if (lk == LEDGER_LOAD_BUDGET) {
        for (int i = 0; i < PQntuples(r); i++) {
            money_t spent;
            int64_t id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
            for (size_t j = 0; j < n; j++) {
                if (loads[j].kind == lk && loads[j].id == id &&
                    money_parse_usd(PQgetvalue(r, i, 1), MONEY_SCALE, &spent)) {
                    ledger_set_budget_spend(V.ledger, epoch, id, loads[j].start, spent);
                    break;
                }
            }
        }
    } else {
        /* Sum rows per policy by tier, then set every policy of the group (zero when no rows). */
        for (size_t j = 0; j < n; j++) {
            const struct ledger_load *L = &loads[j];
            money_t spend[POLICY_TIERS_MAX] = {0};
            int64_t reqs[POLICY_TIERS_MAX] = {0};
            if (L->kind != lk || L->scope.kind != k)
                continue;
            pthread_mutex_lock(&V.mu);
            const struct routing_policy *p = policy_by_id(L->id);
            for (int i = 0; p && i < PQntuples(r); i++) {
                money_t cost;
                int tier;
                if (strtoll(PQgetvalue(r, i, 0), NULL, 10) != L->id)
                    continue;
                tier = policy_tier_of(p, PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
                if (tier < 0 || !money_parse_usd(PQgetvalue(r, i, 3), MONEY_SCALE, &cost))
                    continue;
                spend[tier] += cost;
                reqs[tier] += strtoll(PQgetvalue(r, i, 4), NULL, 10);
            }
            pthread_mutex_unlock(&V.mu);
            ledger_set_mix(V.ledger, epoch, L->id, L->start, spend, reqs);
        }
    }
    ok = true;
out:
    PQclear(r);
    return ok;
}

/*
 * Loads spend for all accounts or only the pending ones. The gate is closed
 * while the ledger is marked and the snapshot taken, so that every commit
 * is either in the snapshot and applied before the mark, or after both.
 */
static bool load_spend(struct db_conn *c, bool all)
{
    struct ledger_load *loads = NULL;
    size_t n, cap;
    uint64_t epoch;
    bool ok = false;

    if (!all && ledger_loads(V.ledger, false, NULL, 0) == 0)
        return true;
    pthread_rwlock_wrlock(&V.gate);
    epoch = ledger_mark(V.ledger);
    ok = db_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") &&
         db_exec(c, "SELECT 1"); /* takes the snapshot */
    pthread_rwlock_unlock(&V.gate);
    if (!ok)
        goto out;
    ok = false;
    cap = ledger_loads(V.ledger, all, NULL, 0);
    if (!(loads = calloc(cap ? cap : 1, sizeof(*loads))))
        goto out;
    n = ledger_loads(V.ledger, all, loads, cap);
    if (n > cap)
        n = cap;
    for (int lk = LEDGER_LOAD_BUDGET; lk <= LEDGER_LOAD_MIX; lk++)
        for (int k = SCOPE_ORG; k <= SCOPE_TAG; k++)
            if (!load_group(c, epoch, loads, n, (enum ledger_load_kind)lk, (enum scope_kind)k))
                goto out;
    ok = db_exec(c, "COMMIT");
out:
    if (!ok) {
        log_warn(NULL, "verdicts: loading spend failed: %s", db_conn_error(c));
        if (!db_exec(c, "ROLLBACK"))
            (void)0;
    }
    ledger_synced(V.ledger, epoch, ok, now_s());
    free(loads);
    return ok;
}

/* ---- verdict counts ---- */

void verdicts_count(int64_t org_id, int64_t team_id, const char *provider,
                    const char *requested_model, const struct verdict *v, money_t est_requested,
                    int64_t now)
{
    int64_t hour = now - now % 3600;
    struct count *e;

    pthread_mutex_lock(&V.counts_mu);
    for (e = V.counts; e; e = e->next)
        if (e->org_id == org_id && e->hour == hour && e->team_id == team_id &&
            e->decision == v->decision && e->reason == v->reason_code &&
            !strcmp(e->provider, provider) && !strcmp(e->requested, requested_model) &&
            !strcmp(e->model, v->model))
            break;
    if (!e && (e = calloc(1, sizeof(*e)))) {
        e->org_id = org_id;
        e->hour = hour;
        e->team_id = team_id;
        snprintf(e->provider, sizeof(e->provider), "%s", provider);
        snprintf(e->requested, sizeof(e->requested), "%s", requested_model);
        snprintf(e->model, sizeof(e->model), "%s", v->model);
        e->decision = v->decision;
        e->reason = v->reason_code;
        e->next = V.counts;
        V.counts = e;
    }
    if (e) {
        e->verdicts++;
        e->est_requested += est_requested;
        e->est_chosen += v->decision == DECISION_DENY ? 0 : v->estimate;
    }
    pthread_mutex_unlock(&V.counts_mu);
}

static bool flush_counts(struct db_conn *c)
{
    struct count *list;
    bool ok = true;

    pthread_mutex_lock(&V.counts_mu);
    list = V.counts;
    V.counts = NULL;
    pthread_mutex_unlock(&V.counts_mu);
    for (struct count *e = list, *next; e; e = next) {
        char org[24], hour[24], team[24], n[24], er[MONEY_BUF], ec[MONEY_BUF];
        const char *p[11] = {org,
                             hour,
                             e->team_id ? team : NULL,
                             e->provider,
                             e->requested,
                             e->model,
                             ledger_decision_name(e->decision),
                             e->reason,
                             n,
                             er,
                             ec};
        PGresult *r;

        next = e->next;
        snprintf(org, sizeof(org), "%" PRId64, e->org_id);
        snprintf(hour, sizeof(hour), "%" PRId64, e->hour);
        snprintf(team, sizeof(team), "%" PRId64, e->team_id);
        snprintf(n, sizeof(n), "%" PRId64, e->verdicts);
        money_format_usd(e->est_requested, 0, er);
        money_format_usd(e->est_chosen, 0, ec);
        r = ok ? db_query(
                     c,
                     "INSERT INTO verdict_hourly AS v (org_id, hour, team_id, provider,"
                     " requested_model, model, decision, reason, verdicts,"
                     " estimated_requested, estimated_chosen)"
                     " VALUES ($1::bigint, to_timestamp($2::bigint), $3::bigint, $4, $5, $6,"
                     " $7, $8, $9::bigint, $10::numeric, $11::numeric)"
                     " ON CONFLICT (org_id, hour, team_id, provider, requested_model, model,"
                     " decision, reason) DO UPDATE SET verdicts = v.verdicts + EXCLUDED.verdicts,"
                     " estimated_requested = v.estimated_requested + EXCLUDED.estimated_requested,"
                     " estimated_chosen = v.estimated_chosen + EXCLUDED.estimated_chosen",
                     11, p)
               : NULL;
        if (r) {
            PQclear(r);
            free(e);
            continue;
        }
        if (ok)
            log_warn(NULL, "verdicts: writing verdict counts: %s", db_conn_error(c));
        ok = false;
        /* Keep the rest for the next flush. */
        pthread_mutex_lock(&V.counts_mu);
        e->next = V.counts;
        V.counts = e;
        pthread_mutex_unlock(&V.counts_mu);
    }
    return ok;
}

/* ---- the sync thread ---- */

static bool listen_on(struct db_conn *c)
{
    return db_exec(c, "LISTEN tollgate_policies");
}

/* Drains notifications; true if any arrived. */
static bool notified(struct db_conn *c)
{
    PGconn *pg = db_conn_pg(c);
    PGnotify *n;
    bool any = false;

    if (!PQconsumeInput(pg))
        return false;
    while ((n = PQnotifies(pg))) {
        any = true;
        PQfreemem(n);
    }
    return any;
}

static bool full_reload(struct db_conn *c)
{
    return load_teams(c) && reload_policies(c) && load_spend(c, true);
}

static void *sync_main(void *arg)
{
    struct db *db = arg;
    struct db_conn *c = NULL;
    int64_t last_reconcile = now_s(), last_flush = now_s(), last_tick = 0;
    bool need_full = false;

    for (;;) {
        bool stop, poked, resync;
        pthread_mutex_lock(&V.mu);
        stop = V.stopping;
        poked = V.poked;
        resync = V.resync;
        V.poked = V.resync = false;
        pthread_mutex_unlock(&V.mu);
        if (stop)
            break;
        if (!c) {
            if (!(c = db_acquire(db, 1000))) {
                struct timespec ts = {0, TICK_MS * 1000000L};
                nanosleep(&ts, NULL);
                ledger_tick(V.ledger, now_s());
                continue;
            }
            /* After a lost connection notifications may have been missed. */
            if (!listen_on(c) || (need_full && !full_reload(c))) {
                db_release(db, &c);
                continue;
            }
            need_full = false;
        }
        struct pollfd pfd = {.fd = PQsocket(db_conn_pg(c)), .events = POLLIN};
        if (poll(&pfd, 1, TICK_MS) < 0 && errno != EINTR)
            break;
        bool changed = poked || notified(c);
        int64_t now = now_s();
        bool ok = true;

        if (PQstatus(db_conn_pg(c)) != CONNECTION_OK) {
            db_release(db, &c); /* the pool resets it on its next borrow */
            need_full = true;
            continue;
        }
        if (changed)
            ok = load_teams(c) && reload_policies(c);
        if (ok && now != last_tick) {
            last_tick = now;
            ledger_tick(V.ledger, now);
        }
        if (ok && (resync || now - last_reconcile >= V.cfg->ledger_reconcile)) {
            last_reconcile = now;
            ok = load_teams(c) && load_spend(c, true);
        } else if (ok) {
            ok = load_spend(c, false);
        }
        if (ok && now - last_flush >= FLUSH_EVERY) {
            last_flush = now;
            ok = flush_counts(c);
        }
        if (!ok && db_conn_lost(c)) {
            db_release(db, &c);
            need_full = true;
        }
    }
    if (c) {
        if (!flush_counts(c))
            log_warn(NULL, "verdicts: verdict counts not written at stop");
        if (!db_exec(c, "UNLISTEN *"))
            (void)0;
        db_release(db, &c);
    }
    return NULL;
}

/* The sync thread keeps its own one-connection pool, so it never waits behind HTTP threads. */
static struct db *sync_db;

void verdicts_configure(const struct config *cfg)
{
    V.cfg = cfg;
}

bool verdicts_start(const struct config *cfg, char *err, size_t errlen)
{
    struct db_conn *c;
    pthread_rwlockattr_t attr;
    bool ok;

    V.cfg = cfg;
    if (!(V.ledger = ledger_new())) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&V.gate, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (!db_open(cfg->database_url, 1, &sync_db, err, errlen))
        goto failed;
    if (!(c = db_acquire(sync_db, 5000))) {
        snprintf(err, errlen, "cannot connect to Postgres for the ledger");
        goto failed;
    }
    ok = listen_on(c) && full_reload(c);
    if (!ok)
        snprintf(err, errlen, "loading budgets and spend: %s", db_conn_error(c));
    db_release(sync_db, &c);
    if (!ok)
        goto failed;
    V.started = true;
    if (pthread_create(&V.thread, NULL, sync_main, sync_db) != 0) {
        V.started = false;
        snprintf(err, errlen, "cannot start the ledger thread");
        goto failed;
    }
    {
        struct ledger_stats st;
        ledger_stats(V.ledger, &st);
        log_info(NULL, "ledger: %zu budgets, %zu policies loaded", st.budgets, st.policies);
    }
    return true;
failed:
    db_close(&sync_db);
    ledger_free(&V.ledger);
    pthread_rwlock_destroy(&V.gate);
    return false;
}

void verdicts_stop(void)
{
    if (!V.started)
        return;
    pthread_mutex_lock(&V.mu);
    V.stopping = true;
    pthread_mutex_unlock(&V.mu);
    pthread_join(V.thread, NULL);
    V.started = false;
    db_close(&sync_db);
    ledger_free(&V.ledger);
    pthread_rwlock_destroy(&V.gate);
    policystore_free(&V.set);
    free(V.teams);
    V.teams = NULL;
    V.n_teams = 0;
    while (V.counts) {
        struct count *e = V.counts;
        V.counts = e->next;
        free(e);
    }
    zones_free();
}

struct ledger *verdicts_ledger(void)
{
    return V.started ? V.ledger : NULL;
}

void verdicts_poke(void)
{
    pthread_mutex_lock(&V.mu);
    V.poked = true;
    pthread_mutex_unlock(&V.mu);
}

void verdicts_gate_enter(void)
{
    if (V.started)
        pthread_rwlock_rdlock(&V.gate);
}

void verdicts_gate_leave(void)
{
    if (V.started)
        pthread_rwlock_unlock(&V.gate);
}

void verdicts_apply_rows(const struct ingest_row *rows, size_t n)
{
    if (!V.started)
        return;
    for (size_t i = 0; i < n; i++) {
        const struct ingest_row *row = &rows[i];
        struct ledger_spend s = {0};
        if (row->outcome != ROW_ACCEPTED)
            continue;
        s.scope.org_id = row->org_id;
        verdicts_team_path(row->team_id, &s.scope);
        s.scope.project_id = row->project_id;
        s.scope.user = row->ev.user;
        s.scope.key_id = row->ev.api_key_id ? row->ev.api_key_id : row->ingest_key;
        s.scope.tags = row->ev.tags;
        s.provider = row->provider;
        s.model = row->model;
        s.ts = row->ev.ts_us / 1000000;
        s.cost = row->effective_cost;
        s.requests = 1;
        s.request_id = row->ev.request_id;
        ledger_apply(V.ledger, &s);
    }
}

void verdicts_resync(void)
{
    pthread_mutex_lock(&V.mu);
    V.resync = true;
    pthread_mutex_unlock(&V.mu);
}
