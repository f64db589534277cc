/*
 * store: the Postgres reads and writes that both the CLI and the admin API
 * make (orgs, teams, keys), so the two never drift apart. Every function runs
 * on a borrowed connection, keeps any error on it (db_conn_error), and
 * changes nothing when it fails.
 */
#ifndef TOLLGATE_STORE_H
#define TOLLGATE_STORE_H

#include "auth.h"
#include "db.h"

#include <stdbool.h>
#include <stdint.h>

enum store_result {
    STORE_OK = 0,
    STORE_NOT_FOUND, /* a named row does not exist */
    STORE_CONFLICT,  /* a unique key is taken */
    STORE_ERROR,     /* Postgres failed: see db_conn_error */
};

struct store_team {
    int64_t id;
    char kind[8]; /* "team" or "project" */
    bool archived;
};

/* Finds an org by slug, creating it when create is set. */
enum store_result store_org(struct db_conn *c, const char *slug, bool create, int64_t *id)
    __attribute__((warn_unused_result));

/* Finds a team or project of org by slug. */
enum store_result store_team(struct db_conn *c, int64_t org_id, const char *slug,
                             struct store_team *out) __attribute__((warn_unused_result));

/* True if team lies in the subtree rooted at root (or is root). */
enum store_result store_team_within(struct db_conn *c, int64_t team, int64_t root, bool *within)
    __attribute__((warn_unused_result));

/*
 * Creates a key. team_id 0 means unscoped. On success secret holds the new
 * secret (shown once, never stored) and *json the key as a JSON object text
 * (malloc'd, without the secret).
 */
enum store_result store_key_create(struct db_conn *c, int64_t org_id, enum auth_role role,
                                   int64_t team_id, const char *name,
                                   char secret[AUTH_SECRET_LEN + 1], char **json)
    __attribute__((warn_unused_result));

/* Counts the org's active admin keys. */
enum store_result store_admin_keys(struct db_conn *c, int64_t org_id, long *count)
    __attribute__((warn_unused_result));

/* SQL for one key as a JSON object, over `k` joined to `t` (its team). */
#define STORE_KEY_JSON                                                                             \
    "json_build_object('id', k.id, 'prefix', k.prefix, 'role', k.role, 'team', t.slug, "           \
    "'name', k.name, 'created_at', k.created_at, 'last_used_at', k.last_used_at, "                 \
    "'revoked_at', k.revoked_at)"

/* SQL for one team as a JSON object, over `t` joined to `p` (its parent). */
#define STORE_TEAM_JSON                                                                            \
    "json_build_object('id', t.id, 'slug', t.slug, 'name', t.name, 'kind', t.kind, "               \
    "'parent', p.slug, 'created_at', t.created_at, 'archived_at', t.archived_at)"

/* SQL: the ids of the subtree rooted at team $2 (nothing when $2 is 0). */
#define STORE_SUBTREE_CTE                                                                          \
    "WITH RECURSIVE sub AS (SELECT id FROM teams WHERE id = $2::bigint "                           \
    "UNION ALL SELECT c.id FROM teams c JOIN sub ON c.parent_id = sub.id) "

#endif
