/*
 * api_admin: /v1/admin/teams and /v1/admin/keys. A key scoped to a team sees
 * and changes only that team's subtree, and can only make keys inside it.
 */
#include "api.h"
#include "event.h"
#include "scopes.h"
#include "store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool api_resolve_team(struct http_req *r, struct db_conn *c, const char *field, const char *slug,
                      struct store_team *t)
{
    bool within = true;

    switch (store_team(c, r->key.org_id, slug, t)) {
    case STORE_OK:
        break;
    case STORE_NOT_FOUND:
        http_reply_error(r, 422, "unknown_team", field, "no team or project '%.64s'", slug);
        return false;
    default:
        http_reply_db_error(r, c);
        return false;
    }
    if (r->key.team_id && store_team_within(c, t->id, r->key.team_id, &within) != STORE_OK) {
        http_reply_db_error(r, c);
        return false;
    }
    if (!within) {
        http_reply_error(r, 403, "forbidden", field, "'%.64s' is outside this key's team", slug);
        return false;
    }
    if (t->archived) {
        http_reply_error(r, 422, "archived_team", field, "'%.64s' is archived", slug);
        return false;
    }
    return true;
}

static bool query_flag(struct http_req *r, const char *name, bool *out)
{
    const char *v = http_query(r, name);
    *out = false;
    if (!v)
        return true;
    if (!strcmp(v, "true") || !strcmp(v, "1")) {
        *out = true;
        return true;
    }
    if (!strcmp(v, "false") || !strcmp(v, "0"))
        return true;
    http_reply_error(r, 400, "invalid_query", name, "'%s' must be true or false", name);
    return false;
}

/* ---- teams ---- */

void api_teams_list(struct http_req *r)
{
    struct api_scope_params sp;
    bool archived;
    const char *kind = http_query(r, "kind");
    const char *p[4];
    struct db_conn *c;

    if (!query_flag(r, "include_archived", &archived))
        return;
    if (kind && strcmp(kind, "team") != 0 && strcmp(kind, "project") != 0) {
        http_reply_error(r, 400, "invalid_query", "kind", "'kind' must be team or project");
        return;
    }
    api_scope_params(r, &sp);
    p[0] = sp.org, p[1] = sp.root, p[2] = archived ? "t" : "f", p[3] = kind;
    if (!(c = api_db(r)))
        return;
    api_reply_sql_json(
        r, c, 200, "teams",
        STORE_SUBTREE_CTE
        "SELECT json_build_object('teams', coalesce(json_agg(" STORE_TEAM_JSON
        " ORDER BY t.slug), '[]')) FROM teams t LEFT JOIN teams p ON p.id = t.parent_id"
        " WHERE t.org_id = $1 AND " API_VISIBLE(
            "t.id") " AND ($3::bool OR t.archived_at IS NULL) AND "
                    "($4::text IS NULL OR t.kind = $4)",
        4, p);
    db_release(r->app->db, &c);
}

static void reply_team(struct http_req *r, struct db_conn *c, int status, const char *slug)
{
    struct api_scope_params sp;
    const char *p[3];

    api_scope_params(r, &sp);
    p[0] = sp.org, p[1] = sp.root, p[2] = slug;
    api_reply_sql_json(r, c, status, "team",
                       STORE_SUBTREE_CTE
                       "SELECT " STORE_TEAM_JSON
                       " FROM teams t LEFT JOIN teams p ON p.id = t.parent_id"
                       " WHERE t.org_id = $1 AND t.slug = $3 AND " API_VISIBLE("t.id"),
                       3, p);
}

void api_teams_create(struct http_req *r)
{
    static const char *const fields[] = {"slug", "name", "kind", "parent", NULL};
    const char *slug, *name, *kind, *parent;
    struct store_team pt = {0};
    char org[24], pid[24];
    const char *p[5];
    struct db_conn *c = NULL;
    json_t *body = http_body_object(r);
    PGresult *res;

    if (!body)
        return;
    if (!api_only_fields(r, body, fields) || !api_opt_string(r, body, "slug", 63, &slug) ||
        !api_opt_string(r, body, "name", 200, &name) ||
        !api_opt_string(r, body, "kind", 16, &kind) ||
        !api_opt_string(r, body, "parent", 63, &parent))
        goto out;
    if (!slug) {
        http_reply_error(r, 400, "missing_field", "slug", "'slug' is required");
        goto out;
    }
    if (!event_slug_valid(slug)) {
        http_reply_error(r, 422, "invalid_value", "slug",
                         "'slug' must be 1-63 of a-z, 0-9, '.', '_', '-', starting with a letter "
                         "or digit");
        goto out;
    }
    if (name && !*name) {
        http_reply_error(r, 422, "invalid_value", "name", "'name' must not be empty");
        goto out;
    }
    if (!kind)
        kind = "team";
    if (strcmp(kind, "team") != 0 && strcmp(kind, "project") != 0) {
        http_reply_error(r, 422, "invalid_value", "kind", "'kind' must be team or project");
        goto out;
    }
    if (!parent && (!strcmp(kind, "project") || r->key.team_id)) {
        http_reply_error(r, 400, "missing_field", "parent",
                         !strcmp(kind, "project") ? "a project needs a 'parent' team"
                                                  : "a team-scoped key must name a 'parent'");
        goto out;
    }
    if (!(c = api_db(r)))
        goto out;
    if (parent) {
        if (!api_resolve_team(r, c, "parent", parent, &pt))
            goto out;
        if (strcmp(pt.kind, "team") != 0) {
            http_reply_error(r, 422, "invalid_value", "parent",
                             "'%.64s' is a project; a parent must be a team", parent);
            goto out;
        }
    }
    snprintf(org, sizeof(org), "%" PRId64, r->key.org_id);
    snprintf(pid, sizeof(pid), "%" PRId64, pt.id);
    p[0] = org, p[1] = parent ? pid : NULL, p[2] = kind, p[3] = slug, p[4] = name ? name : slug;
    res = db_query(c,
                   "INSERT INTO teams (org_id, parent_id, kind, slug, name)"
                   " VALUES ($1, $2, $3, $4, $5)",
                   5, p);
    if (!res) {
        if (!strcmp(db_conn_sqlstate(c), "23505"))
            http_reply_error(r, 409, "conflict", "slug", "a team or project '%s' already exists",
                             slug);
        else
            http_reply_db_error(r, c);
        goto out;
    }
    PQclear(res);
    snprintf(r->location, sizeof(r->location), "/v1/admin/teams/%s", slug);
    reply_team(r, c, 201, slug);
out:
    json_decref(body);
    db_release(r->app->db, &c);
}

void api_teams_get(struct http_req *r)
{
    struct db_conn *c = api_db(r);
    if (!c)
        return;
    reply_team(r, c, 200, route_param(&r->params, "slug"));
    db_release(r->app->db, &c);
}

/*
 * Archiving must not orphan live scopes, and restoring must not put a live
 * scope under an archived parent. p holds the org, scope root and slug.
 * Replies 409 (or 404, or a database error) and returns false when refused.
 */
static bool archive_allowed(struct http_req *r, struct db_conn *c, const char *const *p,
                            bool archive)
{
    PGresult *res = db_query(c,
                             STORE_SUBTREE_CTE
                             "SELECT EXISTS (SELECT 1 FROM teams ch WHERE ch.parent_id = t.id"
                             " AND ch.archived_at IS NULL), coalesce(pa.archived_at IS NOT NULL,"
                             " false) FROM teams t LEFT JOIN teams pa ON pa.id = t.parent_id"
                             " WHERE t.org_id = $1 AND t.slug = $3 AND " API_VISIBLE("t.id"),
                             3, p);
    bool ok = false;

    if (!res) {
        http_reply_db_error(r, c);
        return false;
    }
    if (PQntuples(res) == 0)
        http_reply_error(r, 404, "not_found", NULL, "no such team");
    else if (archive && PQgetvalue(res, 0, 0)[0] == 't')
        http_reply_error(r, 409, "has_children", "archived",
                         "'%s' has active teams or projects; archive them first", p[2]);
    else if (!archive && PQgetvalue(res, 0, 1)[0] == 't')
        http_reply_error(r, 409, "parent_archived", "archived",
                         "the parent of '%s' is archived; restore it first", p[2]);
    else
        ok = true;
    PQclear(res);
    return ok;
}

void api_teams_update(struct http_req *r)
{
    static const char *const fields[] = {"name", "archived", NULL};
    const char *slug = route_param(&r->params, "slug"), *name;
    struct api_scope_params sp;
    json_t *body = http_body_object(r), *arch;
    const char *p[5];
    struct db_conn *c = NULL;
    PGresult *res;

    if (!body)
        return;
    if (!api_only_fields(r, body, fields) || !api_opt_string(r, body, "name", 200, &name))
        goto out;
    if (name && !*name) {
        http_reply_error(r, 422, "invalid_value", "name", "'name' must not be empty");
        goto out;
    }
    arch = json_object_get(body, "archived");
    if (arch && !json_is_boolean(arch)) {
        http_reply_error(r, 400, "invalid_type", "archived", "'archived' must be true or false");
        goto out;
    }
    if (!(c = api_db(r)))
        goto out;
    api_scope_params(r, &sp);
    p[0] = sp.org, p[1] = sp.root, p[2] = slug, p[3] = name;
    p[4] = !arch ? NULL : json_is_true(arch) ? "t" : "f";
    if (arch && !archive_allowed(r, c, p, json_is_true(arch)))
        goto out;
    res =
        db_query(c,
                 STORE_SUBTREE_CTE
                 "UPDATE teams t SET name = coalesce($4, t.name),"
                 " archived_at = CASE WHEN $5::bool IS NULL THEN t.archived_at"
                 " WHEN $5::bool THEN coalesce(t.archived_at, now()) ELSE NULL END"
                 " WHERE t.org_id = $1 AND t.slug = $3 AND " API_VISIBLE("t.id") " RETURNING t.id",
                 5, p);
    if (!res) {
        http_reply_db_error(r, c);
        goto out;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        http_reply_error(r, 404, "not_found", NULL, "no such team");
        goto out;
    }
    PQclear(res);
    scopes_forget(); /* ingest must see the change at once */
    reply_team(r, c, 200, slug);
out:
    json_decref(body);
    db_release(r->app->db, &c);
}

void api_teams_archive(struct http_req *r)
{
    const char *slug = route_param(&r->params, "slug");
    struct api_scope_params sp;
    const char *p[3];
    struct db_conn *c = api_db(r);
    PGresult *res;

    if (!c)
        return;
    api_scope_params(r, &sp);
    p[0] = sp.org, p[1] = sp.root, p[2] = slug;
    /* Refuse while active children remain: archiving must not orphan live scopes. */
    res =
        db_query(c,
                 STORE_SUBTREE_CTE "SELECT t.id, EXISTS (SELECT 1 FROM teams ch WHERE"
                                   " ch.parent_id = t.id AND ch.archived_at IS NULL) FROM teams t"
                                   " WHERE t.org_id = $1 AND t.slug = $3 AND " API_VISIBLE("t.id"),
                 3, p);
    if (!res) {
        http_reply_db_error(r, c);
        goto out;
    }
    if (PQntuples(res) == 0) {
        http_reply_error(r, 404, "not_found", NULL, "no such team");
    } else if (PQgetvalue(res, 0, 1)[0] == 't') {
        http_reply_error(r, 409, "has_children", NULL,
                         "'%s' has active teams or projects; archive them first", slug);
    } else {
        const char *id[1] = {PQgetvalue(res, 0, 0)};
        PGresult *upd = db_query(c,
                                 "UPDATE teams SET archived_at = coalesce(archived_at, now())"
                                 " WHERE id = $1",
                                 1, id);
        if (!upd) {
            http_reply_db_error(r, c);
        } else {
            scopes_forget(); /* ingest must see the archive at once */
            reply_team(r, c, 200, slug);
        }
        PQclear(upd);
    }
    PQclear(res);
out:
    db_release(r->app->db, &c);
}

/* ---- keys ---- */

void api_keys_list(struct http_req *r)
{
    struct api_scope_params sp;
    bool revoked;
    const char *p[3];
    struct db_conn *c;

    if (!query_flag(r, "include_revoked", &revoked))
        return;
    api_scope_params(r, &sp);
    p[0] = sp.org, p[1] = sp.root, p[2] = revoked ? "t" : "f";
    if (!(c = api_db(r)))
        return;
    api_reply_sql_json(
        r, c, 200, "keys",
        STORE_SUBTREE_CTE
        "SELECT json_build_object('keys', coalesce(json_agg(" STORE_KEY_JSON
        " ORDER BY k.id), '[]')) FROM api_keys k LEFT JOIN teams t ON t.id = k.team_id"
        " WHERE k.org_id = $1 AND " API_VISIBLE(
            "k.team_id") " AND ($3::bool OR k.revoked_at IS NULL)",
        3, p);
    db_release(r->app->db, &c);
}

void api_keys_create(struct http_req *r)
{
    static const char *const fields[] = {"role", "team", "name", NULL};
    const char *role_s, *team, *name;
    enum auth_role role;
    struct store_team t = {0};
    char secret[AUTH_SECRET_LEN + 1], *key_json = NULL;
    struct db_conn *c = NULL;
    json_t *body = http_body_object(r), *key;
    json_error_t jerr;

    if (!body)
        return;
    if (!api_only_fields(r, body, fields) || !api_opt_string(r, body, "role", 16, &role_s) ||
        !api_opt_string(r, body, "team", 63, &team) || !api_opt_string(r, body, "name", 200, &name))
        goto out;
    if (!role_s) {
        http_reply_error(r, 400, "missing_field", "role", "'role' is required");
        goto out;
    }
    if (!auth_parse_role(role_s, &role)) {
        http_reply_error(r, 422, "invalid_value", "role",
                         "'role' must be ingest, verdict, read or admin");
        goto out;
    }
    if (!team && r->key.team_id) {
        http_reply_error(r, 400, "missing_field", "team",
                         "a team-scoped key can only make keys for a 'team' in its scope");
        goto out;
    }
    if (!(c = api_db(r)))
        goto out;
    if (team && !api_resolve_team(r, c, "team", team, &t))
        goto out;
    switch (store_key_create(c, r->key.org_id, role, t.id, name, secret, &key_json)) {
    case STORE_OK:
        break;
    default:
        http_reply_db_error(r, c);
        goto out;
    }
    key = json_loads(key_json, 0, &jerr);
    if (key)
        json_object_set_new(key, "secret", json_string(secret));
    snprintf(r->location, sizeof(r->location), "/v1/admin/keys/%lld",
             key ? (long long)json_integer_value(json_object_get(key, "id")) : 0LL);
    http_reply_json(r, 201, key);
out:
    free(key_json);
    json_decref(body);
    db_release(r->app->db, &c);
}

void api_keys_get(struct http_req *r)
{
    struct api_scope_params sp;
    char id[24];
    const char *p[3];
    struct db_conn *c;

    if (!api_id_param(r, "key", id) || !(c = api_db(r)))
        return;
    api_scope_params(r, &sp);
    p[0] = sp.org, p[1] = sp.root, p[2] = id;
    api_reply_sql_json(r, c, 200, "key",
                       STORE_SUBTREE_CTE
                       "SELECT " STORE_KEY_JSON
                       " FROM api_keys k LEFT JOIN teams t ON t.id = k.team_id"
                       " WHERE k.org_id = $1 AND k.id = $3::bigint AND " API_VISIBLE("k.team_id"),
                       3, p);
    db_release(r->app->db, &c);
}

void api_keys_revoke(struct http_req *r)
{
    struct api_scope_params sp;
    char id[24];
    const char *p[3];
    struct db_conn *c;

    if (!api_id_param(r, "key", id) || !(c = api_db(r)))
        return;
    api_scope_params(r, &sp);
    p[0] = sp.org, p[1] = sp.root, p[2] = id;
    api_reply_sql_json(r, c, 200, "key",
                       STORE_SUBTREE_CTE
                       ", k AS (UPDATE api_keys k SET revoked_at = coalesce(k.revoked_at, now())"
                       " WHERE k.org_id = $1 AND k.id = $3::bigint AND " API_VISIBLE(
                           "k.team_id") " RETURNING k.*)"
                                        " SELECT " STORE_KEY_JSON
                                        " FROM k LEFT JOIN teams t ON t.id = k.team_id",
                       3, p);
    if (r->status == 200)
        auth_forget(strtoll(id, NULL, 10));
    db_release(r->app->db, &c);
}
