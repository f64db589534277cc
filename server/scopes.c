/*
 * scopes: an open-addressed table keyed by (org, slug) plus a second keyed
 * by id, under one mutex; entries are small and copied out. A key lives in
 * one of PROBE slots from its hash; when all are taken by other keys, the
 * one that expires first makes room. The lock is never held across a query.
 */
#include "scopes.h"

#include "log.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOTS   16384 /* power of two */
#define PROBE   8     /* slots a key may occupy, from its hash on */
#define TTL_SEC 60

struct entry {
    bool used;
    int64_t org_id;
    char slug[64];
    struct scope_team t;
    time_t expires;
};

static struct entry by_slug[SLOTS];
static struct entry by_id[SLOTS];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

void scopes_init(void)
{
    scopes_forget();
}

void scopes_shutdown(void)
{
    scopes_forget();
}

void scopes_forget(void)
{
    pthread_mutex_lock(&mu);
    memset(by_slug, 0, sizeof(by_slug));
    memset(by_id, 0, sizeof(by_id));
    pthread_mutex_unlock(&mu);
}

static uint64_t hash(int64_t org, const char *slug)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)org;
    for (const unsigned char *p = (const unsigned char *)slug; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

static size_t home_slug(int64_t org, const char *slug)
{
    return hash(org, slug) & (SLOTS - 1);
}

static size_t home_id(int64_t id)
{
    return ((uint64_t)id * 11400714819323198485ULL >> 40) & (SLOTS - 1);
}

static bool is_slug(const struct entry *e, int64_t org, const char *slug)
{
    return e->used && e->org_id == org && !strcmp(e->slug, slug);
}

static bool is_id(const struct entry *e, int64_t id)
{
    return e->used && e->t.id == id;
}

/* The slot of table for a key: its own, else a free one, else the one expiring first. */
static struct entry *slot_for(struct entry *table, size_t home, int64_t org, const char *slug,
                              int64_t id)
{
    struct entry *victim = NULL;

    for (size_t i = 0; i < PROBE; i++) {
        struct entry *e = &table[(home + i) & (SLOTS - 1)];
        if (slug ? is_slug(e, org, slug) : is_id(e, id))
            return e;
        if (!victim || (victim->used && (!e->used || e->expires < victim->expires)))
            victim = e;
    }
    return victim;
}

static void put(int64_t org, const char *slug, const struct scope_team *t)
{
    struct entry e = {.used = true, .org_id = org, .t = *t, .expires = time(NULL) + TTL_SEC};
    snprintf(e.slug, sizeof(e.slug), "%s", slug);
    pthread_mutex_lock(&mu);
    *slot_for(by_slug, home_slug(org, e.slug), org, e.slug, 0) = e;
    *slot_for(by_id, home_id(t->id), 0, NULL, t->id) = e;
    pthread_mutex_unlock(&mu);
}

/* stale_ok: an expired entry will do (Postgres cannot be asked; ingest must spool). */
static bool get_slug(int64_t org, const char *slug, struct scope_team *out, bool stale_ok)
{
    bool hit = false;
    size_t home = home_slug(org, slug);
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < PROBE; i++) {
        struct entry *e = &by_slug[(home + i) & (SLOTS - 1)];
        if (is_slug(e, org, slug)) {
            if (stale_ok || e->expires > time(NULL)) {
                *out = e->t;
                hit = true;
            }
            break;
        }
    }
    pthread_mutex_unlock(&mu);
    return hit;
}

static bool get_id(int64_t id, struct scope_team *out, bool stale_ok)
{
    bool hit = false;
    size_t home = home_id(id);
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < PROBE; i++) {
        struct entry *e = &by_id[(home + i) & (SLOTS - 1)];
        if (is_id(e, id)) {
            if (stale_ok || e->expires > time(NULL)) {
                *out = e->t;
                hit = true;
            }
            break;
        }
    }
    pthread_mutex_unlock(&mu);
    return hit;
}

/* Reads one team row by a where clause; fills out and the cache. */
static enum scopes_result load(struct db_conn *c, const char *sql, int n, const char *const *p,
                               struct scope_team *out)
{
    PGresult *r = db_query(c, sql, n, p);

    if (!r)
        return SCOPES_DB_ERROR;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return SCOPES_NOT_FOUND;
    }
    out->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    out->parent_id = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    out->project = PQgetvalue(r, 0, 2)[0] == 'p';
    out->archived = PQgetvalue(r, 0, 3)[0] == 't';
    put(strtoll(PQgetvalue(r, 0, 4), NULL, 10), PQgetvalue(r, 0, 5), out);
    PQclear(r);
    return SCOPES_OK;
}

#define COLS "id, coalesce(parent_id, 0), kind, archived_at IS NOT NULL, org_id, slug"

static enum scopes_result resolve(struct db *db, int64_t org_id, int64_t parent, const char *slug,
                                  bool project, bool create, struct scope_team *out)
{
    char org[24], par[24];
    const char *p[4] = {org, slug, project ? "project" : "team", par};
    struct db_conn *c;
    enum scopes_result res;

    if (get_slug(org_id, slug, out, false))
        goto check;
    if (!db || !(c = db_acquire(db, 2000))) {
        if (get_slug(org_id, slug, out, true))
            goto check;
        return SCOPES_DB_ERROR;
    }
    snprintf(org, sizeof(org), "%" PRId64, org_id);
    snprintf(par, sizeof(par), "%" PRId64, parent);
    if (create) {
        /* Insert if missing; either way read the row back. */
        PQclear(db_query(c,
                         "INSERT INTO teams (org_id, slug, kind, name, parent_id)"
                         " VALUES ($1, $2::text, $3, $2::text, nullif($4::bigint, 0))"
                         " ON CONFLICT (org_id, slug) DO NOTHING",
                         4, p));
    }
    res = load(c, "SELECT " COLS " FROM teams WHERE org_id = $1 AND slug = $2::text", 2, p, out);
    db_release(db, &c);
    if (res == SCOPES_DB_ERROR && get_slug(org_id, slug, out, true))
        res = SCOPES_OK;
    if (res != SCOPES_OK)
        return res;
check:
    if (out->project != project || (project && out->parent_id != parent))
        return SCOPES_WRONG_KIND;
    return SCOPES_OK;
}

enum scopes_result scopes_team(struct db *db, int64_t org_id, const char *slug, bool create,
                               struct scope_team *out)
{
    return resolve(db, org_id, 0, slug, false, create, out);
}

enum scopes_result scopes_project(struct db *db, int64_t org_id, int64_t team_id, const char *slug,
                                  bool create, struct scope_team *out)
{
    return resolve(db, org_id, team_id, slug, true, create, out);
}

bool scopes_within(struct db *db, int64_t id, int64_t root, bool *db_error)
{
    struct scope_team t;
    int depth = 0;

    *db_error = false;
    while (id && depth++ < 64) {
        if (id == root)
            return true;
        if (!get_id(id, &t, false)) {
            char ids[24];
            const char *p[1] = {ids};
            struct db_conn *c = db ? db_acquire(db, 2000) : NULL;
            enum scopes_result res;
            if (!c) {
                if (get_id(id, &t, true)) {
                    id = t.parent_id;
                    continue;
                }
                *db_error = true;
                return false;
            }
            snprintf(ids, sizeof(ids), "%" PRId64, id);
            res = load(c, "SELECT " COLS " FROM teams WHERE id = $1", 1, p, &t);
            db_release(db, &c);
            if (res == SCOPES_DB_ERROR && get_id(id, &t, true))
                res = SCOPES_OK;
            if (res == SCOPES_DB_ERROR)
                *db_error = true;
            if (res != SCOPES_OK)
                return false;
        }
        id = t.parent_id;
    }
    return false;
}
