/*
 * policystore: budgets and routing policies in Postgres (see policystore.h).
 */
#include "policystore.h"

#include "log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum store_result failed(struct db_conn *c)
{
    return strcmp(db_conn_sqlstate(c), "23505") == 0 ? STORE_CONFLICT : STORE_ERROR;
}

void policystore_free(struct policy_set *s)
{
    free(s->budgets);
    free(s->policies);
    memset(s, 0, sizeof(*s));
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* "50.00:alert,80.00:downgrade" into b's thresholds. */
static bool parse_thresholds(const char *s, struct budget *b)
{
    b->n_thresholds = 0;
    while (*s && b->n_thresholds < POLICY_THRESHOLDS_MAX) {
        char pct[32], act[16];
        const char *colon = strchr(s, ':'), *end = strchr(s, ',');
        money_t x;
        struct threshold *t = &b->thresholds[b->n_thresholds];

        if (!colon || (size_t)(colon - s) >= sizeof(pct))
            return false;
        snprintf(pct, sizeof(pct), "%.*s", (int)(colon - s), s);
        snprintf(act, sizeof(act), "%.*s", (int)(end ? end - colon - 1 : (long)strlen(colon + 1)),
                 colon + 1);
        if (!money_parse_usd(pct, 2, &x))
            return false;
        t->percent_x100 = (int32_t)(x / (MONEY_PER_USD / 100));
        if (!strcmp(act, "alert"))
            t->action = ACTION_ALERT;
        else if (!strcmp(act, "downgrade"))
            t->action = ACTION_DOWNGRADE;
        else if (!strcmp(act, "deny"))
            t->action = ACTION_DENY;
        else
            return false;
        b->n_thresholds++;
        s = end ? end + 1 : s + strlen(s);
    }
    return b->n_thresholds > 0;
}

static const char budget_sql[] =
    "SELECT b.id, b.org_id, b.name, b.scope_kind, coalesce(b.scope_id, 0),"
    " coalesce(o.slug, t.slug, u.external_id, b.tag_key, b.scope_id::text, ''),"
    " coalesce(b.tag_value, ''), b.amount::text, b.period, b.timezone, b.anchor_day,"
    " coalesce(extract(epoch FROM b.window_start)::bigint, 0),"
    " coalesce(extract(epoch FROM b.window_end)::bigint, 0), b.fail_mode, b.deny_critical,"
    " b.deny_free, b.enabled,"
    " (SELECT string_agg(percent::text || ':' || action, ',' ORDER BY percent, action)"
    "    FROM budget_thresholds WHERE budget_id = b.id)"
    " FROM budgets b"
    " LEFT JOIN orgs o ON b.scope_kind = 'org' AND o.id = b.scope_id"
    " LEFT JOIN teams t ON b.scope_kind IN ('team', 'project') AND t.id = b.scope_id"
    " LEFT JOIN users u ON b.scope_kind = 'user' AND u.id = b.scope_id"
    " WHERE ($1::bigint = 0 OR b.org_id = $1::bigint) AND (NOT $2::bool OR b.enabled)"
    " ORDER BY b.org_id, b.name";

static bool budget_row(PGresult *r, int i, struct budget *b)
{
    memset(b, 0, sizeof(*b));
    b->id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
    b->org_id = strtoll(PQgetvalue(r, i, 1), NULL, 10);
    copy_str(b->name, sizeof(b->name), PQgetvalue(r, i, 2));
    if (!policy_parse_scope_kind(PQgetvalue(r, i, 3), &b->scope.kind))
        return false;
    b->scope.id = strtoll(PQgetvalue(r, i, 4), NULL, 10);
    copy_str(b->scope.name, sizeof(b->scope.name), PQgetvalue(r, i, 5));
    copy_str(b->scope.tag_value, sizeof(b->scope.tag_value), PQgetvalue(r, i, 6));
    if (b->scope.kind == SCOPE_USER || b->scope.kind == SCOPE_TAG)
        b->scope.id = 0;
    if (!money_parse_usd(PQgetvalue(r, i, 7), MONEY_SCALE, &b->amount) ||
        !period_parse_kind(PQgetvalue(r, i, 8), &b->period))
        return false;
    copy_str(b->timezone, sizeof(b->timezone), PQgetvalue(r, i, 9));
    b->anchor = atoi(PQgetvalue(r, i, 10));
    b->window_start = strtoll(PQgetvalue(r, i, 11), NULL, 10);
    b->window_end = strtoll(PQgetvalue(r, i, 12), NULL, 10);
    b->fail_mode = strcmp(PQgetvalue(r, i, 13), "closed") == 0 ? FAIL_CLOSED : FAIL_OPEN;
    b->deny_critical = PQgetvalue(r, i, 14)[0] == 't';
    b->deny_free = PQgetvalue(r, i, 15)[0] == 't';
    b->enabled = PQgetvalue(r, i, 16)[0] == 't';
    return parse_thresholds(PQgetvalue(r, i, 17), b);
}

static enum store_result load_budgets(struct db_conn *c, int64_t org_id, bool enabled_only,
                                      struct policy_set *s)
{
    char org[24];
    const char *p[2] = {org, enabled_only ? "true" : "false"};
    PGresult *r;
    int n;

    snprintf(org, sizeof(org), "%" PRId64, org_id);
    if (!(r = db_query(c, budget_sql, 2, p)))
        return failed(c);
    n = PQntuples(r);
    s->budgets = calloc(n ? (size_t)n : 1, sizeof(*s->budgets));
    if (!s->budgets) {
        PQclear(r);
        return STORE_ERROR;
    }
    for (int i = 0; i < n; i++) {
        if (budget_row(r, i, &s->budgets[s->n_budgets]))
            s->n_budgets++;
        else
            log_warn(NULL, "budget %s: stored row does not parse; skipped", PQgetvalue(r, i, 0));
    }
    PQclear(r);
    return STORE_OK;
}

static enum store_result load_policies(struct db_conn *c, int64_t org_id, bool enabled_only,
                                       struct policy_set *s)
{
    char org[24];
    const char *p[2] = {org, enabled_only ? "true" : "false"};
    PGresult *r;
    int n;

    snprintf(org, sizeof(org), "%" PRId64, org_id);
    r = db_query(c,
                 "SELECT id, org_id, document::text FROM policies"
                 " WHERE ($1::bigint = 0 OR org_id = $1::bigint) AND (NOT $2::bool OR enabled)"
                 " ORDER BY org_id, name",
                 2, p);
    if (!r)
        return failed(c);
    n = PQntuples(r);
    s->policies = calloc(n ? (size_t)n : 1, sizeof(*s->policies));
    if (!s->policies) {
        PQclear(r);
        return STORE_ERROR;
    }
    for (int i = 0; i < n; i++) {
        struct routing_policy *rp = &s->policies[s->n_policies];
        struct policy_error perr;
        json_t *doc = json_loads(PQgetvalue(r, i, 2), 0, NULL);
        bool ok = doc && policy_parse_routing(doc, false, rp, &perr);
        enum store_result res;

        json_decref(doc);
        if (!ok) {
            log_warn(NULL, "policy %s: stored document does not parse; skipped",
                     PQgetvalue(r, i, 0));
            continue;
        }
        rp->id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        rp->org_id = strtoll(PQgetvalue(r, i, 1), NULL, 10);
        res = rp->scope.kind == SCOPE_USER ? STORE_OK
                                           : policystore_resolve(c, rp->org_id, &rp->scope);
        if (res == STORE_ERROR) {
            PQclear(r);
            return STORE_ERROR;
        }
        if (res != STORE_OK) {
            log_warn(NULL, "policy %s: its scope no longer exists; skipped", rp->name);
            continue;
        }
        s->n_policies++;
    }
    PQclear(r);
    return STORE_OK;
}

enum store_result policystore_load(struct db_conn *c, int64_t org_id, bool enabled_only,
                                   struct policy_set *out)
{
    struct policy_set s = {0};
    enum store_result res = load_budgets(c, org_id, enabled_only, &s);

    if (res == STORE_OK)
        res = load_policies(c, org_id, enabled_only, &s);
    if (res != STORE_OK) {
        policystore_free(&s);
        return res;
    }
    *out = s;
    return STORE_OK;
}

enum store_result policystore_resolve(struct db_conn *c, int64_t org_id, struct scope *s)
{
    char org[24];
    const char *p[2] = {org, s->name};
    const char *sql;
    PGresult *r;

    snprintf(org, sizeof(org), "%" PRId64, org_id);
    switch (s->kind) {
    case SCOPE_ORG:
        sql = "SELECT id FROM orgs WHERE id = $1::bigint AND slug = $2::text";
        break;
    case SCOPE_TEAM:
        sql =
            "SELECT id FROM teams WHERE org_id = $1::bigint AND slug = $2::text AND kind = 'team'";
        break;
    case SCOPE_PROJECT:
        sql = "SELECT id FROM teams WHERE org_id = $1::bigint AND slug = $2::text"
              " AND kind = 'project'";
        break;
    case SCOPE_USER:
        sql = "WITH ins AS (INSERT INTO users (org_id, external_id) VALUES ($1::bigint, $2::text)"
              " ON CONFLICT (org_id, external_id) DO NOTHING RETURNING id)"
              " SELECT id FROM ins UNION ALL"
              " SELECT id FROM users WHERE org_id = $1::bigint AND external_id = $2::text";
        break;
    case SCOPE_KEY:
        sql = "SELECT id FROM api_keys WHERE org_id = $1::bigint AND id::text = $2::text";
        break;
    default: /* a tag needs no row */
        return STORE_OK;
    }
    if (!(r = db_query(c, sql, 2, p)))
        return failed(c);
    if (PQntuples(r) < 1) {
        PQclear(r);
        return STORE_NOT_FOUND;
    }
    s->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return STORE_OK;
}

/*
 * A budget is three statements, made one step: its own transaction, or,
 * inside the caller's (`policy apply` writes a whole directory in one), a
 * savepoint.
 */
static bool step_begin(struct db_conn *c, bool *nested)
{
    *nested = PQtransactionStatus(db_conn_pg(c)) == PQTRANS_INTRANS;
    return db_exec(c, *nested ? "SAVEPOINT budget" : "BEGIN");
}

static bool step_commit(struct db_conn *c, bool nested)
{
    return db_exec(c, nested ? "RELEASE SAVEPOINT budget" : "COMMIT");
}

static void step_rollback(struct db_conn *c, bool nested)
{
    if (!db_exec(c, nested ? "ROLLBACK TO SAVEPOINT budget" : "ROLLBACK"))
        log_warn(NULL, "policystore: rollback failed: %s", db_conn_error(c));
}

enum store_result policystore_put_budget(struct db_conn *c, int64_t org_id, const struct budget *b,
                                         const char *source, int64_t *id, bool *created)
{
    char org[24], scope_id[24], amount[MONEY_BUF], anchor[8], ws[24], we[24];
    char pcts[POLICY_THRESHOLDS_MAX * 12 + 4] = "{", acts[POLICY_THRESHOLDS_MAX * 12 + 4] = "{";
    bool tag = b->scope.kind == SCOPE_TAG, fixed = b->period == PERIOD_FIXED;
    const char *p[17];
    PGresult *r;
    int64_t new_id;
    bool was_created, nested;

    snprintf(org, sizeof(org), "%" PRId64, org_id);
    snprintf(scope_id, sizeof(scope_id), "%" PRId64, b->scope.id);
    money_format_usd(b->amount, 0, amount);
    snprintf(anchor, sizeof(anchor), "%d", b->anchor);
    snprintf(ws, sizeof(ws), "%" PRId64, b->window_start);
    snprintf(we, sizeof(we), "%" PRId64, b->window_end);
    for (size_t i = 0; i < b->n_thresholds; i++) {
        size_t lp = strlen(pcts), la = strlen(acts);
        snprintf(pcts + lp, sizeof(pcts) - lp, "%s%d.%02d", i ? "," : "",
                 b->thresholds[i].percent_x100 / 100, b->thresholds[i].percent_x100 % 100);
        snprintf(acts + la, sizeof(acts) - la, "%s%s", i ? "," : "",
                 policy_action_name(b->thresholds[i].action));
    }
    strcat(pcts, "}");
    strcat(acts, "}");

    p[0] = org;
    p[1] = b->name;
    p[2] = policy_scope_kind_name(b->scope.kind);
    p[3] = tag ? NULL : scope_id;
    p[4] = tag ? b->scope.name : NULL;
    p[5] = tag ? b->scope.tag_value : NULL;
    p[6] = amount;
    p[7] = period_kind_name(b->period);
    p[8] = b->timezone;
    p[9] = anchor;
    p[10] = fixed ? ws : NULL;
    p[11] = fixed ? we : NULL;
    p[12] = b->fail_mode == FAIL_CLOSED ? "closed" : "open";
    p[13] = b->enabled ? "true" : "false";
    p[14] = b->deny_critical ? "true" : "false";
    p[15] = b->deny_free ? "true" : "false";
    p[16] = source;

    if (!step_begin(c, &nested))
        return failed(c);
    r = db_query(
        c,
        "INSERT INTO budgets (org_id, name, scope_kind, scope_id, tag_key, tag_value,"
        " amount, period, timezone, anchor_day, window_start, window_end, fail_mode,"
        " enabled, deny_critical, deny_free, source)"
        " VALUES ($1::bigint, $2::text, $3::text, $4::bigint, $5::text, $6::text,"
        " $7::numeric, $8::text, $9::text, $10::smallint, to_timestamp($11::bigint),"
        " to_timestamp($12::bigint), $13::text, $14::bool, $15::bool, $16::bool, $17::text)"
        " ON CONFLICT (org_id, name) DO UPDATE SET scope_kind = EXCLUDED.scope_kind,"
        " scope_id = EXCLUDED.scope_id, tag_key = EXCLUDED.tag_key,"
        " tag_value = EXCLUDED.tag_value, amount = EXCLUDED.amount,"
        " period = EXCLUDED.period, timezone = EXCLUDED.timezone,"
        " anchor_day = EXCLUDED.anchor_day, window_start = EXCLUDED.window_start,"
        " window_end = EXCLUDED.window_end, fail_mode = EXCLUDED.fail_mode,"
        " enabled = EXCLUDED.enabled, deny_critical = EXCLUDED.deny_critical,"
        " deny_free = EXCLUDED.deny_free, source = EXCLUDED.source, updated_at = now()"
        " RETURNING id, xmax = 0",
        17, p);
    if (!r)
        goto failed;
    new_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    was_created = PQgetvalue(r, 0, 1)[0] == 't';
    PQclear(r);
    snprintf(scope_id, sizeof(scope_id), "%" PRId64, new_id);
    {
        /* Two statements: an INSERT in the same statement as the DELETE would not see it. */
        const char *tp[3] = {scope_id, pcts, acts};
        r = db_query(c, "DELETE FROM budget_thresholds WHERE budget_id = $1::bigint", 1, tp);
        if (!r)
            goto failed;
        PQclear(r);
        r = db_query(c,
                     "INSERT INTO budget_thresholds (budget_id, percent, action)"
                     " SELECT $1::bigint, p, a FROM unnest($2::numeric[], $3::text[]) AS u(p, a)",
                     3, tp);
    }
    if (!r)
        goto failed;
    PQclear(r);
    if (!step_commit(c, nested))
        goto failed;
    *id = new_id;
    *created = was_created;
    return STORE_OK;
failed:;
    enum store_result res = failed(c);
    step_rollback(c, nested);
    return res;
}

enum store_result policystore_put_policy(struct db_conn *c, int64_t org_id,
                                         const struct routing_policy *p, const char *source,
                                         int64_t *id, bool *created, int *version)
{
    char org[24], *doc_text;
    json_t *doc = policy_routing_json(p);
    PGresult *r;

    if (!doc)
        return STORE_ERROR;
    doc_text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
    json_decref(doc);
    if (!doc_text)
        return STORE_ERROR;
    snprintf(org, sizeof(org), "%" PRId64, org_id);
    {
        const char *params[5] = {org, p->name, doc_text, source, p->enabled ? "true" : "false"};
        r = db_query(c,
                     "INSERT INTO policies (org_id, name, document, source, enabled)"
                     " VALUES ($1::bigint, $2::text, $3::jsonb, $4::text, $5::bool)"
                     " ON CONFLICT (org_id, name) DO UPDATE SET document = EXCLUDED.document,"
                     " source = EXCLUDED.source, enabled = EXCLUDED.enabled,"
                     " version = policies.version"
                     "   + (policies.document IS DISTINCT FROM EXCLUDED.document)::int,"
                     " updated_at = now()"
                     " RETURNING id, xmax = 0, version",
                     5, params);
    }
    free(doc_text);
    if (!r)
        return failed(c);
    *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    *created = PQgetvalue(r, 0, 1)[0] == 't';
    *version = atoi(PQgetvalue(r, 0, 2));
    PQclear(r);
    return STORE_OK;
}

enum store_result policystore_delete(struct db_conn *c, int64_t org_id, enum policy_doc_kind kind,
                                     const char *name)
{
    char org[24];
    const char *p[2] = {org, name};
    PGresult *r;
    bool found;

    snprintf(org, sizeof(org), "%" PRId64, org_id);
    r = db_query(c,
                 kind == POLICY_DOC_BUDGET
                     ? "DELETE FROM budgets WHERE org_id = $1::bigint AND name = $2::text"
                     : "DELETE FROM policies WHERE org_id = $1::bigint AND name = $2::text",
                 2, p);
    if (!r)
        return failed(c);
    found = strcmp(PQcmdTuples(r), "0") != 0;
    PQclear(r);
    return found ? STORE_OK : STORE_NOT_FOUND;
}

enum store_result policystore_prune(struct db_conn *c, int64_t org_id, enum policy_doc_kind kind,
                                    const char *const *names, size_t n, long *deleted)
{
    char org[24];
    json_t *arr = json_array();
    char *names_json;
    PGresult *r;

    if (!arr)
        return STORE_ERROR;
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(names[i]));
    names_json = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (!names_json)
        return STORE_ERROR;
    snprintf(org, sizeof(org), "%" PRId64, org_id);
    {
        const char *p[2] = {org, names_json};
        r = db_query(
            c,
            kind == POLICY_DOC_BUDGET
                ? "DELETE FROM budgets WHERE org_id = $1::bigint AND source = 'file'"
                  " AND NOT name = ANY (ARRAY(SELECT jsonb_array_elements_text($2::jsonb)))"
                : "DELETE FROM policies WHERE org_id = $1::bigint AND source = 'file'"
                  " AND NOT name = ANY (ARRAY(SELECT jsonb_array_elements_text($2::jsonb)))",
            2, p);
    }
    free(names_json);
    if (!r)
        return failed(c);
    *deleted = strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return STORE_OK;
}
