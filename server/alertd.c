/*
 * alertd: see alertd.h. One round: copy the ledger's budgets and their
 * status, read the last day's spend of those that could forecast (one
 * statement per scope kind, through verdicts_spend_window), write the
 * threshold and forecast alerts due, then the queued denials, then
 * unpriced models. The thread owns everything but the denial queue, which
 * has its own mutex.
 */
#include "alertd.h"

#include "alerts.h"
#include "crypto.h"
#include "db.h"
#include "log.h"
#include "verdicts.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DENIALS_MAX   256   /* queued (budget, period) pairs */
#define SEEN_BUCKETS  4096  /* the in-memory key set */
#define SEEN_MAX      65536 /* keys kept before the set starts over */
#define UNPRICED_FULL 60    /* rounds between scans of the whole month */

struct denial {
    int64_t budget_id, period_start;
};

struct seen {
    struct seen *next;
    int64_t org_id;
    char key[]; /* the dedup key */
};

static struct {
    bool started;
    const struct config *cfg;
    char public_url[512];
    struct db *db;
    pthread_t thread;
    pthread_mutex_t mu; /* stopping, the denial queue */
    pthread_cond_t cv;
    bool stopping;
    struct denial denials[DENIALS_MAX];
    size_t n_denials;
    /* The thread's own. */
    struct seen *seen[SEEN_BUCKETS];
    size_t n_seen;
    int64_t unpriced_from; /* the hour the last unpriced scan started at; 0 = never */
    unsigned rounds;
} A = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .cv = PTHREAD_COND_INITIALIZER,
};

/* ---- the set of keys already written (or found written) ---- */

static size_t seen_hash(int64_t org_id, const char *key)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)org_id;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (size_t)(h % SEEN_BUCKETS);
}

static bool seen_has(int64_t org_id, const char *key)
{
    for (struct seen *s = A.seen[seen_hash(org_id, key)]; s; s = s->next)
        if (s->org_id == org_id && !strcmp(s->key, key))
            return true;
    return false;
}

static void seen_clear(void)
{
    for (size_t i = 0; i < SEEN_BUCKETS; i++) {
        while (A.seen[i]) {
            struct seen *s = A.seen[i];
            A.seen[i] = s->next;
            free(s);
        }
    }
    A.n_seen = 0;
}

/* Remembers a key; out of memory only costs a round trip later. */
static void seen_add(int64_t org_id, const char *key)
{
    size_t len = strlen(key), h = seen_hash(org_id, key);
    struct seen *s;

    if (A.n_seen >= SEEN_MAX)
        seen_clear(); /* old periods' keys; the database still dedupes */
    if (!(s = malloc(sizeof(*s) + len + 1)))
        return;
    s->org_id = org_id;
    memcpy(s->key, key, len + 1);
    s->next = A.seen[h];
    A.seen[h] = s;
    A.n_seen++;
}

/* ---- writing one alert ---- */

/* The team an alert is about: the budget's team or project, else none (0). */
static int64_t team_of(const struct alert *a)
{
    if (a->b && (a->b->scope.kind == SCOPE_TEAM || a->b->scope.kind == SCOPE_PROJECT))
        return a->b->scope.id;
    return 0;
}

/* Adds one pending delivery per enabled endpoint of org that takes the alert. */
static bool add_deliveries(struct db_conn *c, int64_t org_id, const struct alert *a,
                           const char *alert_id, size_t *n_out)
{
    char org[24], team[24];
    const char *p[3] = {org, NULL, alerts_kind_name(a->kind)};
    PGresult *r;
    bool ok = true;

    snprintf(org, sizeof(org), "%" PRId64, org_id);
    if (team_of(a)) {
        snprintf(team, sizeof(team), "%" PRId64, team_of(a));
        p[1] = team;
    }
    /* An endpoint for a team takes alerts of that team and of the teams under it. */
    r = db_query(
        c,
        "WITH RECURSIVE up(id) AS ("
        "  SELECT $2::bigint WHERE $2::bigint IS NOT NULL"
        "  UNION ALL SELECT t.parent_id FROM teams t JOIN up ON t.id = up.id"
        "  WHERE t.parent_id IS NOT NULL)"
        " SELECT w.id FROM webhooks w WHERE w.org_id = $1::bigint AND w.enabled"
        " AND $3 = ANY (w.kinds) AND (w.team_id IS NULL OR w.team_id IN (SELECT id FROM up))"
        " ORDER BY w.id",
        3, p);
    if (!r)
        return false;
    *n_out = 0;
    for (int i = 0; i < PQntuples(r) && ok; i++) {
        uint8_t raw[12];
        char msg[4 + 2 * sizeof(raw) + 1] = "msg_";
        const char *q[3] = {alert_id, PQgetvalue(r, i, 0), msg};
        PGresult *w;
        if (!crypto_random(raw, sizeof(raw))) {
            ok = false;
            break;
        }
        crypto_hex(raw, sizeof(raw), msg + 4);
        w = db_query(c,
                     "INSERT INTO webhook_deliveries (alert_id, webhook_id, msg_id, status,"
                     " next_attempt_at) VALUES ($1::bigint, $2::bigint, $3, 'pending', now())",
                     3, q);
        ok = w != NULL;
        PQclear(w);
        if (ok)
            (*n_out)++;
    }
    PQclear(r);
    return ok;
}

enum write_result { WRITE_NEW = 0, WRITE_EXISTS, WRITE_FAILED };

/*
 * Writes the alert and its deliveries in one transaction, unless its key is
 * taken. The id comes from the alerts sequence first, so that the payload
 * carries it from the start.
 */
static enum write_result write_alert(struct db_conn *c, int64_t org_id, const struct alert *a,
                                     int64_t now)
{
    char org[24], budget[24], team[24], start[24], thr[24], *body = NULL;
    const char *p[8] = {org, alerts_kind_name(a->kind), NULL, NULL, NULL, NULL, a->key, NULL};
    json_t *payload = alerts_payload(a, 0, now, A.public_url);
    enum write_result res = WRITE_FAILED;
    PGresult *r = NULL;
    size_t n = 0;

    if (!payload || !(body = json_dumps(payload, JSON_COMPACT | JSON_REAL_PRECISION(15))))
        goto out;
    snprintf(org, sizeof(org), "%" PRId64, org_id);
    if (a->b) {
        snprintf(budget, sizeof(budget), "%" PRId64, a->b->id);
        p[2] = budget;
    }
    if (team_of(a)) {
        snprintf(team, sizeof(team), "%" PRId64, team_of(a));
        p[3] = team;
    }
    if (a->period_end) {
        snprintf(start, sizeof(start), "%" PRId64, a->period_start);
        p[4] = start;
    }
    if (a->threshold_x100) {
        snprintf(thr, sizeof(thr), "%" PRId32 ".%02" PRId32, a->threshold_x100 / 100,
                 a->threshold_x100 % 100);
        p[5] = thr;
    }
    p[7] = body;
    if (!db_exec(c, "BEGIN"))
        goto out;
    r = db_query(c,
                 "INSERT INTO alerts (id, org_id, kind, budget_id, team_id, period_start,"
                 " threshold, dedup_key, payload) OVERRIDING SYSTEM VALUE"
                 " SELECT n.id, $1::bigint, $2, $3::bigint, $4::bigint, to_timestamp($5::bigint),"
                 " $6::numeric, $7, jsonb_set($8::jsonb, '{data,alert_id}', to_jsonb(n.id))"
                 " FROM (SELECT nextval(pg_get_serial_sequence('alerts', 'id')) AS id) n"
                 " ON CONFLICT (org_id, dedup_key) DO NOTHING RETURNING id",
                 8, p);
    if (!r)
        goto rollback;
    if (PQntuples(r) == 0) {
        res = WRITE_EXISTS;
    } else if (!add_deliveries(c, org_id, a, PQgetvalue(r, 0, 0), &n)) {
        goto rollback;
    }
    if (!db_exec(c, "COMMIT"))
        goto rollback;
    if (res != WRITE_EXISTS) {
        res = WRITE_NEW;
        log_info(NULL, "alert %s %s (org %" PRId64 "): %zu deliveries", PQgetvalue(r, 0, 0), a->key,
                 org_id, n);
    }
    goto out;
rollback:
    res = WRITE_FAILED;
    log_warn(NULL, "alerts: writing %s: %s", a->key, db_conn_error(c));
    if (!db_exec(c, "ROLLBACK"))
        (void)0;
out:
    PQclear(r);
    free(body);
    json_decref(payload);
    return res;
}

/* Writes a due alert unless it is known written; false when Postgres failed. */
static bool fire(struct db_conn *c, int64_t org_id, const struct alert *a, int64_t now)
{
    if (seen_has(org_id, a->key))
        return true;
    switch (write_alert(c, org_id, a, now)) {
    case WRITE_NEW:
    case WRITE_EXISTS:
        seen_add(org_id, a->key);
        return true;
    default:
        return false;
    }
}

/* ---- one round ---- */

struct item {
    const struct budget *b;
    struct budget_status st;
};

/* Whether a budget could have a forecast due: saves reading its recent spend. */
static bool may_forecast(const struct item *it, int64_t now)
{
    char key[ALERTS_KEY_MAX];
    int64_t length = it->st.period_end - it->st.period_start;
    int64_t min = length / 10 > ALERTS_FORECAST_MIN ? length / 10 : ALERTS_FORECAST_MIN;

    if (it->st.spent <= 0 || it->st.spent >= it->b->amount || now - it->st.period_start < min)
        return false;
    snprintf(key, sizeof(key), "forecast:%" PRId64 ":%" PRId64, it->b->id, it->st.period_start);
    return !seen_has(it->b->org_id, key);
}

static bool budgets_round(struct db_conn *c, const struct budget *budgets, size_t n, int64_t now)
{
    struct ledger *l = verdicts_ledger();
    struct item *items = calloc(n ? n : 1, sizeof(*items));
    struct budget *fb = calloc(n ? n : 1, sizeof(*fb));
    int64_t *from = calloc(n ? n : 1, sizeof(*from));
    money_t *recent = calloc(n ? n : 1, sizeof(*recent));
    size_t *fidx = calloc(n ? n : 1, sizeof(*fidx));
    size_t m = 0, nf = 0;
    bool ok = false;

    if (!l || !items || !fb || !from || !recent || !fidx)
        goto out;
    for (size_t i = 0; i < n; i++) {
        struct item *it = &items[m];
        it->b = &budgets[i];
        /* Skip budgets pending a load: their spend is not known yet. */
        if (!ledger_budget_status(l, it->b->id, &it->st) || !it->st.loaded || !it->st.period_end ||
            now < it->st.period_start || now >= it->st.period_end)
            continue;
        if (may_forecast(it, now)) {
            fb[nf] = *it->b;
            from[nf] = alerts_rate_from(it->st.period_start, now);
            fidx[m] = nf + 1;
            nf++;
        }
        m++;
    }
    if (nf && !verdicts_spend_window(c, fb, nf, from, now, recent)) {
        log_warn(NULL, "alerts: reading recent spend: %s", db_conn_error(c));
        goto out;
    }
    ok = true;
    for (size_t i = 0; i < m && ok; i++) {
        const struct item *it = &items[i];
        struct alert due[ALERTS_PER_BUDGET];
        struct alerts_budget_state s = {.b = it->b,
                                        .start = it->st.period_start,
                                        .end = it->st.period_end,
                                        .now = now,
                                        .spent = it->st.spent};
        if (fidx[i]) {
            s.recent = recent[fidx[i] - 1];
            s.recent_from = from[fidx[i] - 1];
        } else {
            s.recent_from = now; /* no rate: no forecast */
        }
        size_t k = alerts_budget_due(&s, due);
        for (size_t j = 0; j < k && ok; j++)
            ok = fire(c, it->b->org_id, &due[j], now);
    }
out:
    free(items);
    free(fb);
    free(from);
    free(recent);
    free(fidx);
    return ok;
}

static bool denials_round(struct db_conn *c, const struct budget *budgets, size_t n, int64_t now)
{
    struct denial q[DENIALS_MAX];
    struct ledger *l = verdicts_ledger();
    size_t nq;
    bool ok = true;

    pthread_mutex_lock(&A.mu);
    nq = A.n_denials;
    memcpy(q, A.denials, nq * sizeof(*q));
    A.n_denials = 0;
    pthread_mutex_unlock(&A.mu);
    for (size_t i = 0; i < nq && l; i++) {
        struct budget_status st;
        struct alert a;
        for (size_t j = 0; j < n; j++) {
            if (budgets[j].id != q[i].budget_id)
                continue;
            if (!ledger_budget_status(l, budgets[j].id, &st) ||
                st.period_start != q[i].period_start)
                break; /* gone, or its period ended since */
            alerts_denial(&budgets[j], st.period_start, st.period_end, st.spent, &a);
            if (ok && !fire(c, budgets[j].org_id, &a, now))
                ok = false;
            if (!ok) /* keep it for the next round */
                alertd_note_denial(q[i].budget_id, q[i].period_start);
            break;
        }
    }
    return ok;
}

/*
 * Models with unpriced events this UTC month: the whole month on the first
 * round and every UNPRICED_FULL rounds, otherwise the hours since the last
 * scan (an hour of overlap). Counts are read for new models only.
 */
static bool unpriced_round(struct db_conn *c, int64_t now)
{
    int64_t mstart, mend, from;
    char f[24], t[24], ms[24];
    const char *p[2] = {f, t};
    PGresult *r;
    bool ok = true;

    alerts_month(now, &mstart, &mend);
    from = A.unpriced_from && A.rounds % UNPRICED_FULL ? A.unpriced_from - 3600 : mstart;
    if (from < mstart)
        from = mstart;
    snprintf(f, sizeof(f), "%" PRId64, from);
    snprintf(t, sizeof(t), "%" PRId64, mend);
    snprintf(ms, sizeof(ms), "%" PRId64, mstart);
    r = db_query(c,
                 "SELECT DISTINCT org_id, provider, model FROM spend_hourly"
                 " WHERE hour >= to_timestamp($1::bigint) AND hour < to_timestamp($2::bigint)"
                 " AND unpriced > 0",
                 2, p);
    if (!r) {
        log_warn(NULL, "alerts: reading unpriced usage: %s", db_conn_error(c));
        return false;
    }
    for (int i = 0; i < PQntuples(r) && ok; i++) {
        int64_t org_id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        struct alert a;
        alerts_unpriced(PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), mstart, mend, 0, &a);
        if (seen_has(org_id, a.key))
            continue;
        const char *q[5] = {PQgetvalue(r, i, 0), ms, t, a.provider, a.model};
        PGresult *cnt = db_query(c,
                                 "SELECT coalesce(sum(unpriced), 0) FROM spend_hourly"
                                 " WHERE org_id = $1::bigint AND hour >= to_timestamp($2::bigint)"
                                 " AND hour < to_timestamp($3::bigint) AND provider = $4"
                                 " AND model = $5 AND unpriced > 0",
                                 5, q);
        if (!cnt) {
            ok = false;
            break;
        }
        a.unpriced_events = strtoll(PQgetvalue(cnt, 0, 0), NULL, 10);
        PQclear(cnt);
        ok = fire(c, org_id, &a, now);
    }
    PQclear(r);
    if (ok)
        A.unpriced_from = now - now % 3600;
    return ok;
}

static bool round_once(struct db_conn *c)
{
    int64_t now = (int64_t)time(NULL);
    struct budget *budgets = NULL;
    size_t n = 0;
    bool ok;

    if (!verdicts_budgets(&budgets, &n))
        return true; /* out of memory: try next round */
    ok = budgets_round(c, budgets, n, now);
    ok = denials_round(c, budgets, n, now) && ok;
    ok = unpriced_round(c, now) && ok;
    A.rounds++;
    free(budgets);
    return ok;
}

static void *alertd_main(void *arg)
{
    (void)arg;
    for (;;) {
        struct timespec until;
        struct db_conn *c;
        bool stop;

        pthread_mutex_lock(&A.mu);
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += A.cfg->alert_interval;
        while (!A.stopping && pthread_cond_timedwait(&A.cv, &A.mu, &until) == 0)
            ;
        stop = A.stopping;
        pthread_mutex_unlock(&A.mu);
        if (stop)
            break;
        if (!(c = db_acquire(A.db, 1000)))
            continue;
        if (!round_once(c) && db_conn_lost(c))
            log_warn(NULL, "alerts: Postgres unreachable; retrying next round");
        db_release(A.db, &c);
    }
    return NULL;
}

/* ---- the public side ---- */

bool alertd_start(const struct config *cfg, char *err, size_t errlen)
{
    size_t len;

    A.cfg = cfg;
    snprintf(A.public_url, sizeof(A.public_url), "%s", cfg->public_url);
    len = strlen(A.public_url);
    while (len && A.public_url[len - 1] == '/')
        A.public_url[--len] = '\0';
    if (!db_open(cfg->database_url, 1, &A.db, err, errlen))
        return false;
    A.stopping = false;
    A.started = true;
    if (pthread_create(&A.thread, NULL, alertd_main, NULL) != 0) {
        A.started = false;
        db_close(&A.db);
        snprintf(err, errlen, "cannot start the alert thread");
        return false;
    }
    return true;
}

void alertd_stop(void)
{
    if (!A.started)
        return;
    pthread_mutex_lock(&A.mu);
    A.stopping = true;
    pthread_cond_signal(&A.cv);
    pthread_mutex_unlock(&A.mu);
    pthread_join(A.thread, NULL);
    pthread_mutex_lock(&A.mu);
    A.started = false;
    A.n_denials = 0;
    pthread_mutex_unlock(&A.mu);
    db_close(&A.db);
    seen_clear();
    A.unpriced_from = 0;
    A.rounds = 0;
}

void alertd_note_denial(int64_t budget_id, int64_t period_start)
{
    pthread_mutex_lock(&A.mu);
    if (A.started) {
        size_t i;
        for (i = 0; i < A.n_denials; i++)
            if (A.denials[i].budget_id == budget_id && A.denials[i].period_start == period_start)
                break;
        if (i == A.n_denials && A.n_denials < DENIALS_MAX)
            A.denials[A.n_denials++] = (struct denial){budget_id, period_start};
    }
    pthread_mutex_unlock(&A.mu);
}
