/*
 * store: shared Postgres access for orgs, teams and keys (see store.h).
 */
#include "store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum store_result failed(struct db_conn *c)
{
    return strcmp(db_conn_sqlstate(c), "23505") == 0 ? STORE_CONFLICT : STORE_ERROR;
}

enum store_result store_org(struct db_conn *c, const char *slug, bool create, int64_t *id)
{
    const char *p[1] = {slug};
    PGresult *r;

    r = db_query(c,
                 create ? "WITH ins AS (INSERT INTO orgs (slug, name) VALUES ($1::text, $1::text)"
                          " ON CONFLICT (slug) DO NOTHING RETURNING id)"
                          " SELECT id FROM ins UNION ALL SELECT id FROM orgs WHERE slug = $1::text"
                        : "SELECT id FROM orgs WHERE slug = $1::text",
                 1, p);
    if (!r)
        return failed(c);
    if (PQntuples(r) < 1) {
        PQclear(r);
        return STORE_NOT_FOUND;
    }
    *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return STORE_OK;
}

enum store_result store_team(struct db_conn *c, int64_t org_id, const char *slug,
                             struct store_team *out)
{
    char org[24];
    const char *p[2] = {org, slug};
    PGresult *r;

    snprintf(org, sizeof(org), "%" PRId64, org_id);
    r = db_query(c,
                 "SELECT id, kind, archived_at IS NOT NULL FROM teams"
                 " WHERE org_id = $1 AND slug = $2",
                 2, p);
    if (!r)
        return failed(c);
    if (PQntuples(r) != 1) {
        PQclear(r);
        return STORE_NOT_FOUND;
    }
    out->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    snprintf(out->kind, sizeof(out->kind), "%s", PQgetvalue(r, 0, 1));
    out->archived = PQgetvalue(r, 0, 2)[0] == 't';
    PQclear(r);
    return STORE_OK;
}

enum store_result store_team_within(struct db_conn *c, int64_t team, int64_t root, bool *within)
{
    char t[24], rt[24];
    const char *p[2] = {t, rt};
    PGresult *r;

    snprintf(t, sizeof(t), "%" PRId64, team);
    snprintf(rt, sizeof(rt), "%" PRId64, root);
    r = db_query(c, STORE_SUBTREE_CTE "SELECT EXISTS (SELECT 1 FROM sub WHERE id = $1::bigint)", 2,
                 p);
    if (!r)
        return failed(c);
    *within = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return STORE_OK;
}

enum store_result store_key_create(struct db_conn *c, int64_t org_id, enum auth_role role,
                                   int64_t team_id, const char *name,
                                   char secret[AUTH_SECRET_LEN + 1], char **json)
{
    uint8_t hash[CRYPTO_SHA256_LEN];
    char hex[2 * CRYPTO_SHA256_LEN + 3] = "\\x", org[24], team[24], prefix[AUTH_PREFIX_LEN + 1];
    char sec[AUTH_SECRET_LEN + 1];
    const char *p[6] = {org, prefix, hex, auth_role_name(role), team_id ? team : NULL, name};
    PGresult *r;

    if (!auth_new_secret(sec, hash))
        return STORE_ERROR;
    crypto_hex(hash, sizeof(hash), hex + 2);
    memcpy(prefix, sec, AUTH_PREFIX_LEN);
    prefix[AUTH_PREFIX_LEN] = '\0';
    snprintf(org, sizeof(org), "%" PRId64, org_id);
    snprintf(team, sizeof(team), "%" PRId64, team_id);
    r = db_query(
        c,
        "WITH k AS (INSERT INTO api_keys (org_id, prefix, secret_hash, role, team_id, name)"
        " VALUES ($1, $2, $3::bytea, $4, $5, coalesce($6, '')) RETURNING *)"
        " SELECT " STORE_KEY_JSON " FROM k LEFT JOIN teams t ON t.id = k.team_id",
        6, p);
    if (!r)
        return failed(c);
    *json = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (!*json)
        return STORE_ERROR;
    memcpy(secret, sec, sizeof(sec));
    return STORE_OK;
}

enum store_result store_admin_keys(struct db_conn *c, int64_t org_id, long *count)
{
    char org[24];
    const char *p[1] = {org};
    PGresult *r;

    snprintf(org, sizeof(org), "%" PRId64, org_id);
    r = db_query(c,
                 "SELECT count(*) FROM api_keys WHERE org_id = $1 AND role = 'admin'"
                 " AND revoked_at IS NULL",
                 1, p);
    if (!r)
        return failed(c);
    *count = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return STORE_OK;
}
