/*
 * api_policies: /v1/admin/budgets and /v1/admin/policies. Bodies are the
 * documents of policies/README.md; they are validated by the pure parser,
 * their scopes and time zones checked here, and stored by policystore. Every
 * instance reloads within a second (NOTIFY from a trigger). A key scoped to a
 * team manages only budgets and policies on teams and projects inside it.
 */
#include "api.h"

#include "event.h"
#include "policystore.h"
#include "scopes.h"
#include "verdicts.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reply_policy_error(struct http_req *r, const struct policy_error *e)
{
    http_reply_error(r, 422, "invalid_document", e->path[0] ? e->path : NULL, "%s%s%s",
                     e->path[0] ? e->path : "", e->path[0] ? ": " : "", e->message);
}

/* True if the key may manage something on scope s (replies 403 when not). */
static bool scope_allowed(struct http_req *r, const struct scope *s, bool reply)
{
    bool db_error = false;

    if (!r->key.team_id)
        return true;
    if ((s->kind == SCOPE_TEAM || s->kind == SCOPE_PROJECT) && s->id &&
        scopes_within(r->app->db, s->id, r->key.team_id, &db_error))
        return true;
    if (reply) {
        if (db_error)
            http_reply_error(r, 503, "unavailable", NULL, "cannot check the key's scope");
        else
            http_reply_error(r, 403, "forbidden", "scope",
                             "a key scoped to a team manages only its own teams and projects");
    }
    return false;
}

/* Resolves the scope of a parsed document; replies on failure. */
static bool resolve(struct http_req *r, struct db_conn *c, struct scope *s)
{
    switch (policystore_resolve(c, r->key.org_id, s)) {
    case STORE_OK:
        return scope_allowed(r, s, true);
    case STORE_NOT_FOUND:
        if (r->key.team_id) /* a scoped key learns nothing of what lies outside it */
            http_reply_error(r, 403, "forbidden", "scope",
                             "a key scoped to a team manages only its own teams and projects");
        else
            http_reply_error(r, 422, "unknown_scope", "scope", "no %s '%.64s' in this org",
                             policy_scope_kind_name(s->kind), s->name);
        return false;
    default:
        http_reply_db_error(r, c);
        return false;
    }
}

static json_t *usd(money_t v)
{
    char buf[MONEY_BUF];
    money_format_usd(v, 2, buf);
    return json_string(buf);
}

static json_t *iso(int64_t t)
{
    char buf[40];
    event_format_seconds(t, buf);
    return json_string(buf);
}

/* A budget's document plus its id and live status. */
static json_t *budget_out(const struct budget *b)
{
    json_t *o = policy_budget_json(b);
    struct ledger *l = verdicts_ledger();
    struct budget_status st;

    if (!o)
        return NULL;
    json_object_set_new(o, "id", json_integer(b->id));
    if (l && b->enabled && ledger_budget_status(l, b->id, &st)) {
        json_t *s = json_object();
        json_object_set_new(s, "period_start", iso(st.period_start));
        json_object_set_new(s, "period_end", iso(st.period_end));
        json_object_set_new(s, "spent_usd", usd(st.spent));
        json_object_set_new(s, "reserved_usd", usd(st.reserved));
        json_object_set_new(s, "remaining_usd", usd(st.limit - st.spent - st.reserved));
        json_object_set_new(s, "used_percent", json_real(st.used_x100 / 100.0));
        json_object_set_new(
            s, "state", json_string(st.state == ACTION_NONE ? "ok" : policy_action_name(st.state)));
        json_object_set_new(s, "holds", json_integer((json_int_t)st.holds));
        json_object_set_new(s, "loaded", json_boolean(st.loaded));
        json_object_set_new(o, "status", s);
    } else {
        json_object_set_new(o, "status", json_null());
    }
    return o;
}

static json_t *policy_out(const struct routing_policy *p)
{
    json_t *o = policy_routing_json(p);
    if (o)
        json_object_set_new(o, "id", json_integer(p->id));
    return o;
}

/* Loads the org's set; replies on failure. */
static bool load_set(struct http_req *r, struct db_conn *c, struct policy_set *s)
{
    if (policystore_load(c, r->key.org_id, false, s) == STORE_OK)
        return true;
    http_reply_db_error(r, c);
    return false;
}

static void list(struct http_req *r, enum policy_doc_kind kind)
{
    struct db_conn *c = api_db(r);
    struct policy_set s;
    json_t *arr;

    if (!c)
        return;
    if (!load_set(r, c, &s))
        goto out;
    arr = json_array();
    if (kind == POLICY_DOC_BUDGET) {
        for (size_t i = 0; i < s.n_budgets; i++)
            if (scope_allowed(r, &s.budgets[i].scope, false))
                json_array_append_new(arr, budget_out(&s.budgets[i]));
    } else {
        for (size_t i = 0; i < s.n_policies; i++)
            if (scope_allowed(r, &s.policies[i].scope, false))
                json_array_append_new(arr, policy_out(&s.policies[i]));
    }
    http_reply_json(r, 200,
                    json_pack("{s:o}", kind == POLICY_DOC_BUDGET ? "budgets" : "policies", arr));
    policystore_free(&s);
out:
    db_release(r->app->db, &c);
}

static void get_one(struct http_req *r, enum policy_doc_kind kind)
{
    const char *name = route_param(&r->params, "name");
    struct db_conn *c = api_db(r);
    struct policy_set s;
    json_t *found = NULL;

    if (!c)
        return;
    if (!load_set(r, c, &s))
        goto out;
    if (kind == POLICY_DOC_BUDGET) {
        for (size_t i = 0; i < s.n_budgets && !found; i++)
            if (!strcmp(s.budgets[i].name, name) && scope_allowed(r, &s.budgets[i].scope, false))
                found = budget_out(&s.budgets[i]);
    } else {
        for (size_t i = 0; i < s.n_policies && !found; i++)
            if (!strcmp(s.policies[i].name, name) && scope_allowed(r, &s.policies[i].scope, false))
                found = policy_out(&s.policies[i]);
    }
    if (found)
        http_reply_json(r, 200, found);
    else
        http_reply_error(r, 404, "not_found", "name", "no %s '%.64s'",
                         kind == POLICY_DOC_BUDGET ? "budget" : "policy", name);
    policystore_free(&s);
out:
    db_release(r->app->db, &c);
}

/* True if a row of kind named name exists in the key's org. */
static int exists(struct db_conn *c, int64_t org_id, enum policy_doc_kind kind, const char *name)
{
    char org[24];
    const char *p[2] = {org, name};
    PGresult *res;
    int found;

    snprintf(org, sizeof(org), "%" PRId64, org_id);
    res = db_query(c,
                   kind == POLICY_DOC_BUDGET
                       ? "SELECT 1 FROM budgets WHERE org_id = $1::bigint AND name = $2::text"
                       : "SELECT 1 FROM policies WHERE org_id = $1::bigint AND name = $2::text",
                   2, p);
    if (!res)
        return -1;
    found = PQntuples(res) > 0;
    PQclear(res);
    return found;
}

/*
 * Creates (POST: 409 when the name is taken) or replaces (PUT: the name in
 * the path wins over the body's) a budget or policy.
 */
static void put(struct http_req *r, enum policy_doc_kind kind, bool create_only)
{
    const char *path_name = route_param(&r->params, "name");
    json_t *body = http_body_object(r);
    struct budget *b = NULL;
    struct routing_policy *p = NULL;
    struct policy_error perr = {0};
    struct db_conn *c = NULL;
    struct scope *scope;
    const char *name;
    int64_t id = 0;
    bool created = false;
    int version = 0;
    enum store_result res;

    if (!body)
        return;
    if (path_name) {
        json_t *n = json_object_get(body, "name");
        if (n && !(json_is_string(n) && !strcmp(json_string_value(n), path_name))) {
            http_reply_error(r, 422, "invalid_value", "name",
                             "'name' in the body must match the path (or be left out)");
            goto out;
        }
        json_object_set_new(body, "name", json_string(path_name));
    }
    json_object_del(body, "id"); /* what GET returns may be sent back as is */
    json_object_del(body, "status");
    if (kind == POLICY_DOC_BUDGET) {
        if (!(b = malloc(sizeof(*b))) || !policy_parse_budget(body, false, b, &perr)) {
            if (b)
                reply_policy_error(r, &perr);
            else
                http_reply_error(r, 500, "internal", NULL, "out of memory");
            goto out;
        }
        if (!verdicts_zone(b->timezone)) {
            http_reply_error(r, 422, "invalid_value", "timezone", "unknown time zone '%.64s'",
                             b->timezone);
            goto out;
        }
        scope = &b->scope;
        name = b->name;
    } else {
        if (!(p = malloc(sizeof(*p))) || !policy_parse_routing(body, false, p, &perr)) {
            if (p)
                reply_policy_error(r, &perr);
            else
                http_reply_error(r, 500, "internal", NULL, "out of memory");
            goto out;
        }
        if (p->mix_set && !verdicts_zone(p->mix_timezone)) {
            http_reply_error(r, 422, "invalid_value", "target_mix.timezone",
                             "unknown time zone '%.64s'", p->mix_timezone);
            goto out;
        }
        scope = &p->scope;
        name = p->name;
    }
    if (!(c = api_db(r)))
        goto out;
    if (!resolve(r, c, scope))
        goto out;
    if (create_only) {
        int e = exists(c, r->key.org_id, kind, name);
        if (e != 0) {
            if (e < 0)
                http_reply_db_error(r, c);
            else
                http_reply_error(r, 409, "conflict", "name",
                                 "'%.64s' exists; PUT to /v1/admin/%s/%.64s replaces it", name,
                                 kind == POLICY_DOC_BUDGET ? "budgets" : "policies", name);
            goto out;
        }
    }
    res = kind == POLICY_DOC_BUDGET
              ? policystore_put_budget(c, r->key.org_id, b, "api", &id, &created)
              : policystore_put_policy(c, r->key.org_id, p, "api", &id, &created, &version);
    if (res != STORE_OK) {
        if (res == STORE_CONFLICT)
            http_reply_error(r, 409, "conflict", "name", "'%.64s' was created meanwhile", name);
        else
            http_reply_db_error(r, c);
        goto out;
    }
    verdicts_poke();
    if (kind == POLICY_DOC_BUDGET) {
        b->id = id;
        b->org_id = r->key.org_id;
        http_reply_json(r, created ? 201 : 200, budget_out(b));
    } else {
        json_t *o;
        p->id = id;
        o = policy_out(p);
        json_object_set_new(o, "version", json_integer(version));
        http_reply_json(r, created ? 201 : 200, o);
    }
    snprintf(r->location, sizeof(r->location), "/v1/admin/%s/%s",
             kind == POLICY_DOC_BUDGET ? "budgets" : "policies", name);
out:
    if (c)
        db_release(r->app->db, &c);
    free(b);
    free(p);
    json_decref(body);
}

static void delete_one(struct http_req *r, enum policy_doc_kind kind)
{
    const char *name = route_param(&r->params, "name");
    struct db_conn *c = api_db(r);
    struct policy_set s;
    bool visible = false;

    if (!c)
        return;
    if (r->key.team_id) {
        if (!load_set(r, c, &s))
            goto out;
        if (kind == POLICY_DOC_BUDGET) {
            for (size_t i = 0; i < s.n_budgets; i++)
                visible |= !strcmp(s.budgets[i].name, name) &&
                           scope_allowed(r, &s.budgets[i].scope, false);
        } else {
            for (size_t i = 0; i < s.n_policies; i++)
                visible |= !strcmp(s.policies[i].name, name) &&
                           scope_allowed(r, &s.policies[i].scope, false);
        }
        policystore_free(&s);
        if (!visible) {
            http_reply_error(r, 404, "not_found", "name", "no %s '%.64s'",
                             kind == POLICY_DOC_BUDGET ? "budget" : "policy", name);
            goto out;
        }
    }
    switch (policystore_delete(c, r->key.org_id, kind, name)) {
    case STORE_OK:
        verdicts_poke();
        http_reply_json(r, 200, json_pack("{s:s, s:b}", "name", name, "deleted", 1));
        break;
    case STORE_NOT_FOUND:
        http_reply_error(r, 404, "not_found", "name", "no %s '%.64s'",
                         kind == POLICY_DOC_BUDGET ? "budget" : "policy", name);
        break;
    default:
        http_reply_db_error(r, c);
    }
out:
    db_release(r->app->db, &c);
}

void api_budgets_list(struct http_req *r)
{
    list(r, POLICY_DOC_BUDGET);
}
void api_budgets_create(struct http_req *r)
{
    put(r, POLICY_DOC_BUDGET, true);
}
void api_budgets_get(struct http_req *r)
{
    get_one(r, POLICY_DOC_BUDGET);
}
void api_budgets_put(struct http_req *r)
{
    put(r, POLICY_DOC_BUDGET, false);
}
void api_budgets_delete(struct http_req *r)
{
    delete_one(r, POLICY_DOC_BUDGET);
}
void api_policies_list(struct http_req *r)
{
    list(r, POLICY_DOC_POLICY);
}
void api_policies_create(struct http_req *r)
{
    put(r, POLICY_DOC_POLICY, true);
}
void api_policies_get(struct http_req *r)
{
    get_one(r, POLICY_DOC_POLICY);
}
void api_policies_put(struct http_req *r)
{
    put(r, POLICY_DOC_POLICY, false);
}
void api_policies_delete(struct http_req *r)
{
    delete_one(r, POLICY_DOC_POLICY);
}
