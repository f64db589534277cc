/*
 * api_prices: /v1/admin/prices (an org's own prices: negotiated rates, or
 * models the catalog lacks) and /v1/reports/unpriced. A new price is picked
 * up by every instance within seconds (maint.c), which then prices the
 * events that were waiting for it.
 */
#include "api.h"
#include "event.h"
#include "maint.h"
#include "prices.h"
#include "scopes.h"
#include "store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A price member: a decimal string or a JSON number, as exact USD text. */
static bool price_member(struct http_req *r, json_t *body, const char *key, bool required,
                         int max_frac, char out[MONEY_BUF], bool *present)
{
    json_t *v = json_object_get(body, key);
    money_t m;
    char text[64];

    *present = false;
    if (!v || json_is_null(v)) {
        if (required)
            http_reply_error(r, 400, "missing_field", key, "'%s' is required", key);
        return !required;
    }
    if (json_is_string(v))
        snprintf(text, sizeof(text), "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        /* the shortest text that reads back as the same double: what the client wrote */
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(text, sizeof(text), "%.*g", prec, json_real_value(v));
            if (strtod(text, NULL) == json_real_value(v))
                break;
        }
    else {
        http_reply_error(r, 400, "invalid_type", key, "'%s' must be a decimal string or number",
                         key);
        return false;
    }
    if (strchr(text, 'e') || !money_parse_usd(text, max_frac, &m)) {
        http_reply_error(r, 422, "invalid_value", key,
                         "'%s' must be a non-negative decimal with at most %d decimals", key,
                         max_frac);
        return false;
    }
    money_format_usd(m, 0, out);
    *present = true;
    return true;
}

void api_prices_list(struct http_req *r)
{
    char org[24];
    const char *p[3] = {org, http_query(r, "provider"), http_query(r, "model")};
    struct db_conn *c;

    snprintf(org, sizeof(org), "%" PRId64, r->key.org_id);
    if (!(c = api_db(r)))
        return;
    api_reply_sql_json(
        r, c, 200, "prices",
        "SELECT json_build_object('prices', coalesce(json_agg(json_build_object('id', id,"
        " 'scope', CASE WHEN org_id IS NULL THEN 'list' ELSE 'org' END, 'provider', provider,"
        " 'model', model, 'effective_from', effective_from, 'min_prompt_tokens', min_prompt_tokens,"
        " 'input', input::text, 'cache_read', cache_read::text, 'cache_write_5m',"
        " cache_write_5m::text, 'cache_write_1h', cache_write_1h::text, 'output', output::text,"
        " 'batch_multiplier', batch_multiplier::text, 'flex_multiplier', flex_multiplier::text,"
        " 'priority_multiplier', priority_multiplier::text, 'source', source)"
        " ORDER BY provider, model, min_prompt_tokens, effective_from DESC), '[]'))"
        " FROM (SELECT * FROM prices WHERE (org_id IS NULL OR org_id = $1::bigint)"
        " AND ($2::text IS NULL OR provider = lower($2)) AND ($3::text IS NULL OR model = $3)"
        " ORDER BY org_id NULLS FIRST, provider, model LIMIT 2000) x",
        3, p);
    db_release(r->app->db, &c);
}

void api_prices_create(struct http_req *r)
{
    static const char *const fields[] = {"provider",
                                         "model",
                                         "effective_from",
                                         "min_prompt_tokens",
                                         "input",
                                         "cache_read",
                                         "cache_write_5m",
                                         "cache_write_1h",
                                         "output",
                                         "batch_multiplier",
                                         "flex_multiplier",
                                         "priority_multiplier",
                                         NULL};
    static const char *const classes[] = {"input", "cache_read", "cache_write_5m", "cache_write_1h",
                                          "output"};
    static const char *const modes[] = {"batch_multiplier", "flex_multiplier",
                                        "priority_multiplier"};
    char v[8][MONEY_BUF], org[24], tier[24], eff[40];
    const char *provider, *model, *from, *p[12];
    bool present;
    json_t *body = http_body_object(r), *mt;
    struct db_conn *c = NULL;
    int64_t from_us = 0;

    if (!body)
        return;
    if (r->key.team_id) {
        http_reply_error(r, 403, "forbidden", NULL,
                         "prices are set for the whole org: use an "
                         "admin key that is not scoped to a team");
        goto out;
    }
    if (!api_only_fields(r, body, fields) || !api_opt_string(r, body, "provider", 64, &provider) ||
        !api_opt_string(r, body, "model", 200, &model) ||
        !api_opt_string(r, body, "effective_from", 40, &from))
        goto out;
    if (!provider || !model) {
        http_reply_error(r, 400, "missing_field", provider ? "model" : "provider",
                         "'provider' and 'model' are required");
        goto out;
    }
    if (!event_slug_valid(provider)) {
        http_reply_error(r, 422, "invalid_value", "provider",
                         "'provider' must be lower-case: a-z, 0-9, '.', '_', '-'");
        goto out;
    }
    if (!*model || strpbrk(model, "\t\n\r")) {
        http_reply_error(r, 422, "invalid_value", "model", "'model' must be 1-200 printable bytes");
        goto out;
    }
    if (from && !event_parse_time(from, &from_us)) {
        http_reply_error(r, 422, "invalid_value", "effective_from",
                         "'effective_from' must be an RFC 3339 time");
        goto out;
    }
    mt = json_object_get(body, "min_prompt_tokens");
    if (mt && (!json_is_integer(mt) || json_integer_value(mt) < 0)) {
        http_reply_error(r, 422, "invalid_value", "min_prompt_tokens",
                         "'min_prompt_tokens' must be a non-negative integer");
        goto out;
    }
    for (int i = 0; i < 5; i++) {
        if (!price_member(r, body, classes[i], i == 0 || i == 4, 6, v[i], &present))
            goto out;
        p[4 + i] = present ? v[i] : NULL;
    }
    for (int i = 0; i < 3; i++) {
        if (!price_member(r, body, modes[i], false, 3, v[5 + i], &present))
            goto out;
        p[9 + i] = present ? v[5 + i] : NULL;
    }
    snprintf(org, sizeof(org), "%" PRId64, r->key.org_id);
    snprintf(tier, sizeof(tier), "%" JSON_INTEGER_FORMAT, mt ? json_integer_value(mt) : 0);
    if (from)
        event_format_time(from_us, eff);
    p[0] = org, p[1] = provider, p[2] = model, p[3] = from ? eff : NULL;
    {
        const char *q[13];
        memcpy(q, p, sizeof(p));
        q[12] = tier;
        if (!(c = api_db(r)))
            goto out;
        api_reply_sql_json(
            r, c, 201, "price",
            "WITH x AS (INSERT INTO prices (org_id, provider, model, effective_from,"
            " min_prompt_tokens, input, cache_read, cache_write_5m, cache_write_1h, output,"
            " batch_multiplier, flex_multiplier, priority_multiplier, source)"
            " VALUES ($1, $2, $3, coalesce($4::timestamptz, CASE WHEN EXISTS (SELECT 1 FROM prices"
            " WHERE (org_id IS NULL OR org_id = $1::bigint) AND provider = $2::text"
            " AND model = $3::text AND min_prompt_tokens = $13::bigint) THEN now()"
            " ELSE '1970-01-01T00:00:00Z'::timestamptz END), $13, $5, $6, $7, $8, $9, $10,"
            " $11, $12, 'admin') RETURNING *)"
            " SELECT json_build_object('id', id, 'scope', 'org', 'provider', provider, 'model',"
            " model, 'effective_from', effective_from, 'min_prompt_tokens', min_prompt_tokens,"
            " 'input', input::text, 'cache_read', cache_read::text, 'cache_write_5m',"
            " cache_write_5m::text, 'cache_write_1h', cache_write_1h::text, 'output',"
            " output::text, 'batch_multiplier', batch_multiplier::text, 'flex_multiplier',"
            " flex_multiplier::text, 'priority_multiplier', priority_multiplier::text) FROM x",
            13, q);
    }
    if (r->status == 500 && !strcmp(db_conn_sqlstate(c), "23505"))
        http_reply_error(r, 409, "conflict", "effective_from",
                         "this org already has a price for %s/%s from that time and tier", provider,
                         model);
    if (r->status == 201)
        maint_poke(); /* reload the catalog and price waiting events now */
out:
    json_decref(body);
    db_release(r->app->db, &c);
}

void api_reports_unpriced(struct http_req *r)
{
    char org[24], root[24];
    const char *p[2] = {org, root};
    struct db_conn *c;

    snprintf(org, sizeof(org), "%" PRId64, r->key.org_id);
    snprintf(root, sizeof(root), "%" PRId64, r->key.team_id);
    if (!(c = api_db(r)))
        return;
    api_reply_sql_json(
        r, c, 200, "report",
        STORE_SUBTREE_CTE
        "SELECT json_build_object('events', coalesce(sum(events), 0), 'models',"
        " coalesce(json_agg(json_build_object('provider', provider, 'model', model, 'events',"
        " events, 'input_tokens', input_tokens, 'output_tokens', output_tokens, 'first_seen',"
        " first_seen, 'last_seen', last_seen) ORDER BY events DESC, provider, model), '[]'))"
        " FROM (SELECT provider, model, sum(unpriced) events,"
        " sum(input_uncached + cache_read + cache_write_5m + cache_write_1h) input_tokens,"
        " sum(output) output_tokens, min(hour) first_seen, max(hour) + interval '1 hour' last_seen"
        " FROM spend_hourly WHERE org_id = $1 AND unpriced > 0"
        " AND ($2::bigint = 0 OR team_id IN (SELECT id FROM sub))"
        " GROUP BY provider, model) u",
        2, p);
    db_release(r->app->db, &c);
}
