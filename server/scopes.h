/*
 * scopes: an in-memory cache of teams and projects by (org, slug) and by
 * id, so that ingest resolves an event's team and checks a key's scope
 * without asking Postgres each time. Misses are read from Postgres (and
 * teams created when asked); entries live for a minute, so changes made
 * by another instance show within it. Thread-safe.
 */
#ifndef TOLLGATE_SCOPES_H
#define TOLLGATE_SCOPES_H

#include "db.h"

#include <stdbool.h>
#include <stdint.h>

struct scope_team {
    int64_t id;
    int64_t parent_id; /* 0 at the top */
    bool project;
    bool archived;
};

enum scopes_result {
    SCOPES_OK = 0,
    SCOPES_NOT_FOUND,
    SCOPES_WRONG_KIND, /* a project named as a team, or the other way round */
    SCOPES_DB_ERROR,   /* Postgres failed: see the connection */
};

void scopes_init(void);
void scopes_shutdown(void);

/*
 * Resolves a team slug (kind team) of org; with create, makes a missing one
 * at the top of the org. c may be NULL when only the cache may answer.
 */
enum scopes_result scopes_team(struct db *db, int64_t org_id, const char *slug, bool create,
                               struct scope_team *out) __attribute__((warn_unused_result));

/* Resolves a project slug under team_id; with create, makes a missing one. */
enum scopes_result scopes_project(struct db *db, int64_t org_id, int64_t team_id, const char *slug,
                                  bool create, struct scope_team *out)
    __attribute__((warn_unused_result));

/*
 * True if id is root or lies below it. Walks parents through the cache,
 * reading any missing one from Postgres. On a database error returns false
 * and sets *db_error.
 */
bool scopes_within(struct db *db, int64_t id, int64_t root, bool *db_error);

/* Forgets everything (after the admin API changed teams on this instance). */
void scopes_forget(void);

#endif
