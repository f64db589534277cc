/*
 * api_verdict: POST /v1/verdict and POST /v1/reservations/{id}/release. A
 * verdict reads only memory: the key (cached), the team (cached), the price
 * catalog and the ledger. Lock order: the catalog, then the ledger.
 */
#include "api.h"

#include "crypto.h"
#include "event.h"
#include "prices.h"
#include "pricing.h"
#include "scopes.h"
#include "verdicts.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct estimate_ctx {
    const struct catalog *cat;
    int64_t org_id;
    int64_t now;
    struct tokens tokens;
    enum usage_mode mode;
};

static money_t estimate(void *arg, const char *provider, const char *model, bool *priced)
{
    struct estimate_ctx *e = arg;
    const char *cp, *cm;
    const struct price *p;
    money_t cost = 0;

    *priced = false;
    if (!catalog_resolve(e->cat, provider, model, &cp, &cm))
        return 0;
    p = catalog_price(e->cat, e->org_id, cp, cm, e->now, pricing_prompt_tokens(&e->tokens));
    if (!p)
        return 0;
    pricing_cost(p, NULL, &e->tokens, e->mode, &cost, NULL);
    *priced = true;
    return cost;
}

static bool get_tokens(struct http_req *r, json_t *body, const char *key, int64_t *out)
{
    json_t *v = json_object_get(body, key);

    *out = 0;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > EVENT_MAX_TOKENS) {
        http_reply_error(r, 422, "invalid_value", key, "'%s' must be an integer from 0 to %lld",
                         key, (long long)EVENT_MAX_TOKENS);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

static bool get_tags(struct http_req *r, json_t *body, const json_t **out)
{
    json_t *tags = json_object_get(body, "tags");
    const char *k;
    json_t *v;

    *out = NULL;
    if (!tags || json_is_null(tags))
        return true;
    if (!json_is_object(tags) || json_object_size(tags) > EVENT_TAGS_MAX) {
        http_reply_error(r, 422, "invalid_value", "tags",
                         "'tags' must be an object of at most %d string values", EVENT_TAGS_MAX);
        return false;
    }
    json_object_foreach(tags, k, v)
    {
        if (strlen(k) == 0 || strlen(k) > EVENT_TAG_KEY_MAX || !json_is_string(v) ||
            json_string_length(v) > EVENT_TAG_VAL_MAX) {
            http_reply_error(r, 422, "invalid_value", "tags",
                             "tag '%.64s': keys are 1..%d bytes, values strings of at most %d", k,
                             EVENT_TAG_KEY_MAX, EVENT_TAG_VAL_MAX);
            return false;
        }
    }
    *out = tags;
    return true;
}

/* Replies for an unknown team or project with the configured default verdict. */
static void reply_unknown(struct http_req *r, const char *field, const char *name,
                          const char *provider, const char *model)
{
    bool allow = strcmp(r->app->cfg->unknown_scope, "deny") != 0;
    struct verdict v = {.decision = allow ? DECISION_ALLOW : DECISION_DENY,
                        .reason_code = "unknown_scope"};
    char msg[256];

    snprintf(v.model, sizeof(v.model), "%s", model);
    snprintf(msg, sizeof(msg), "No %s '%s' is known; %s by default (--unknown-scope).", field, name,
             allow ? "allowed" : "denied");
    verdicts_count(r->key.org_id, 0, provider ? provider : "", model, &v, 0, time(NULL));
    http_reply_json(r, 200,
                    json_pack("{s:s, s:s, s:s?, s:s, s:{s:s, s:s}, s:n, s:n, s:n}", "decision",
                              allow ? "allow" : "deny", "model", model, "provider", provider,
                              "requested_model", model, "reason", "code", "unknown_scope",
                              "message", msg, "budget", "policy", "estimated_cost_usd"));
}

static json_t *scope_json(const struct scope *s)
{
    if (s->kind == SCOPE_TAG)
        return json_pack("{s:s, s:s, s:s}", "kind", "tag", "key", s->name, "value", s->tag_value);
    return json_pack("{s:s, s:s}", "kind", policy_scope_kind_name(s->kind), "name", s->name);
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
    event_format_time(t * 1000000, buf);
    return json_string(buf);
}

static json_t *budget_json(const struct verdict_budget *b)
{
    json_t *o = json_object();

    json_object_set_new(o, "id", json_integer(b->id));
    json_object_set_new(o, "name", json_string(b->name));
    json_object_set_new(o, "scope", scope_json(&b->scope));
    json_object_set_new(o, "limit_usd", usd(b->limit));
    json_object_set_new(o, "spent_usd", usd(b->spent));
    json_object_set_new(o, "reserved_usd", usd(b->reserved));
    json_object_set_new(o, "remaining_usd", usd(b->limit - b->spent - b->reserved));
    json_object_set_new(o, "period_start", iso(b->period_start));
    json_object_set_new(o, "period_end", iso(b->period_end));
    if (b->action != ACTION_NONE) {
        json_object_set_new(o, "threshold_percent", json_real(b->threshold_x100 / 100.0));
        json_object_set_new(o, "action", json_string(policy_action_name(b->action)));
    }
    return o;
}

static json_t *verdict_json(const struct verdict *v, const char *provider, const char *requested,
                            const char *rsv)
{
    json_t *o = json_object();

    json_object_set_new(o, "decision", json_string(ledger_decision_name(v->decision)));
    json_object_set_new(o, "model", json_string(v->model));
    json_object_set_new(o, "provider", provider ? json_string(provider) : json_null());
    json_object_set_new(o, "requested_model", json_string(requested));
    if (v->tier[0])
        json_object_set_new(o, "tier", json_string(v->tier));
    json_object_set_new(o, "reason",
                        json_pack("{s:s, s:s}", "code", v->reason_code, "message", v->reason));
    json_object_set_new(o, "budget", v->has_budget ? budget_json(&v->budget) : json_null());
    json_object_set_new(o, "policy", v->policy_id ? json_string(v->policy_name) : json_null());
    json_object_set_new(o, "estimated_cost_usd", v->priced ? usd(v->estimate) : json_null());
    if (v->reserved) {
        json_object_set_new(o, "reservation_id", json_string(rsv));
        json_object_set_new(o, "reservation_expires_at", iso(v->hold_expires));
    }
    return o;
}

static const char *const verdict_fields[] = {
    "team",         "project",           "user",     "api_key_id", "tags",    "provider",   "model",
    "input_tokens", "max_output_tokens", "priority", "mode",       "reserve", "request_id", NULL};

void api_verdict_post(struct http_req *r)
{
    struct ledger *ledger = verdicts_ledger();
    json_t *body = http_body_object(r), *v;
    const char *team = NULL, *project = NULL, *user = NULL, *provider = NULL, *model = NULL;
    const char *priority = NULL, *mode = NULL, *request_id = NULL;
    struct verdict_request rq = {0};
    struct estimate_ctx ec = {0};
    struct verdict out;
    char rsv[LEDGER_RSV_MAX] = "";
    const char *cprov = NULL, *cmodel = NULL;
    char prov_buf[EVENT_NAME_MAX + 1] = "", model_buf[EVENT_NAME_MAX + 1] = "";
    bool db_error = false, priced_req;
    money_t est_req;
    int64_t team_id = 0;

    if (!body)
        return;
    if (!ledger) {
        http_reply_error(r, 503, "unavailable", NULL, "the ledger is not running");
        goto out;
    }
    if (!api_only_fields(r, body, verdict_fields) ||
        !api_opt_string(r, body, "team", EVENT_SLUG_MAX, &team) ||
        !api_opt_string(r, body, "project", EVENT_SLUG_MAX, &project) ||
        !api_opt_string(r, body, "user", EVENT_USER_MAX, &user) ||
        !api_opt_string(r, body, "provider", EVENT_NAME_MAX, &provider) ||
        !api_opt_string(r, body, "model", EVENT_NAME_MAX, &model) ||
        !api_opt_string(r, body, "priority", 32, &priority) ||
        !api_opt_string(r, body, "mode", 32, &mode) ||
        !api_opt_string(r, body, "request_id", EVENT_NAME_MAX, &request_id) ||
        !get_tokens(r, body, "input_tokens", &rq.input_tokens) ||
        !get_tokens(r, body, "max_output_tokens", &rq.max_output_tokens) ||
        !get_tags(r, body, &rq.scope.tags))
        goto out;
    if (!model || !*model) {
        http_reply_error(r, 422, "missing_field", "model", "'model' is required");
        goto out;
    }
    if ((team && !event_slug_valid(team)) || (project && !event_slug_valid(project))) {
        http_reply_error(r, 422, "invalid_value",
                         team && !event_slug_valid(team) ? "team" : "project",
                         "team and project must be slugs: a-z, 0-9, '.', '_', '-'");
        goto out;
    }
    if (project && !team) {
        http_reply_error(r, 422, "missing_field", "team", "a project needs its team");
        goto out;
    }
    rq.priority = PRIORITY_INTERACTIVE;
    if (priority && !ledger_parse_priority(priority, &rq.priority)) {
        http_reply_error(r, 422, "invalid_value", "priority",
                         "'priority' must be interactive, batch or critical");
        goto out;
    }
    ec.mode = MODE_STANDARD;
    if (mode && !pricing_parse_mode(mode, &ec.mode)) {
        http_reply_error(r, 422, "invalid_value", "mode",
                         "'mode' must be standard, batch, flex or priority");
        goto out;
    }
    v = json_object_get(body, "reserve");
    if (v && !json_is_null(v) && !json_is_boolean(v)) {
        http_reply_error(r, 400, "invalid_type", "reserve", "'reserve' must be true or false");
        goto out;
    }
    rq.reserve = v && json_is_true(v);
    if (rq.reserve && (!request_id || !*request_id)) {
        http_reply_error(r, 422, "missing_field", "request_id",
                         "a reservation needs the 'request_id' its usage event will carry");
        goto out;
    }
    v = json_object_get(body, "api_key_id");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) <= 0) {
            http_reply_error(r, 422, "invalid_value", "api_key_id",
                             "'api_key_id' must be a positive integer");
            goto out;
        }
        rq.scope.key_id = json_integer_value(v);
    }

    /* Scope: the team and project from the cache; a scoped key only inside its team. */
    rq.scope.org_id = r->key.org_id;
    rq.scope.user = user;
    if (team) {
        struct scope_team t, p;
        switch (scopes_team(r->app->db, r->key.org_id, team, false, &t)) {
        case SCOPES_OK:
            break;
        case SCOPES_NOT_FOUND:
        case SCOPES_WRONG_KIND:
            if (r->key.team_id) {
                http_reply_error(r, 403, "forbidden", "team",
                                 "team '%s' is outside this key's team", team);
                goto out;
            }
            reply_unknown(r, "team", team, provider, model);
            goto out;
        default:
            http_reply_error(r, 503, "unavailable", NULL,
                             "cannot resolve the team: Postgres is unreachable");
            goto out;
        }
        team_id = t.id;
        if (project) {
            switch (scopes_project(r->app->db, r->key.org_id, t.id, project, false, &p)) {
            case SCOPES_OK:
                rq.scope.project_id = p.id;
                break;
            case SCOPES_NOT_FOUND:
            case SCOPES_WRONG_KIND:
                reply_unknown(r, "project", project, provider, model);
                goto out;
            default:
                http_reply_error(r, 503, "unavailable", NULL,
                                 "cannot resolve the project: Postgres is unreachable");
                goto out;
            }
        }
        if (r->key.team_id &&
            !scopes_within(r->app->db, rq.scope.project_id ? rq.scope.project_id : t.id,
                           r->key.team_id, &db_error)) {
            if (db_error)
                http_reply_error(r, 503, "unavailable", NULL, "cannot check the key's scope");
            else
                http_reply_error(r, 403, "forbidden", "team",
                                 "team '%s' is outside this key's team", team);
            goto out;
        }
        verdicts_team_path(t.id, &rq.scope);
    } else if (r->key.team_id) {
        http_reply_error(r, 422, "missing_field", "team", "a key scoped to a team must name it");
        goto out;
    }
    if (rq.reserve) {
        uint8_t raw[12];
        if (!crypto_random(raw, sizeof(raw))) {
            http_reply_error(r, 500, "internal", NULL, "no randomness for a reservation id");
            goto out;
        }
        memcpy(rsv, "rsv_", 4);
        crypto_hex(raw, sizeof(raw), rsv + 4);
    }

    ec.cat = prices_lock();
    ec.org_id = r->key.org_id;
    ec.now = time(NULL);
    ec.tokens.input_uncached = rq.input_tokens;
    ec.tokens.output = rq.max_output_tokens;
    if (catalog_resolve(ec.cat, provider, model, &cprov, &cmodel)) {
        snprintf(prov_buf, sizeof(prov_buf), "%s", cprov);
        snprintf(model_buf, sizeof(model_buf), "%s", cmodel);
    } else {
        snprintf(prov_buf, sizeof(prov_buf), "%s", provider ? provider : "");
        snprintf(model_buf, sizeof(model_buf), "%s", model);
    }
    rq.provider = prov_buf;
    rq.model = model_buf;
    rq.request_id = request_id;
    rq.reservation_id = rsv;
    rq.hold_ttl = r->app->cfg->hold_ttl;
    rq.max_staleness = r->app->cfg->ledger_stale;
    rq.estimate = estimate;
    rq.estimate_arg = &ec;
    est_req = estimate(&ec, prov_buf, model_buf, &priced_req);
    ledger_verdict(ledger, &rq, ec.now, &out);
    prices_unlock();

    verdicts_count(r->key.org_id, team_id, prov_buf, model_buf, &out, est_req, ec.now);
    http_reply_json(r, 200, verdict_json(&out, prov_buf[0] ? prov_buf : NULL, model_buf, rsv));
out:
    json_decref(body);
}

void api_reservation_release(struct http_req *r)
{
    struct ledger *ledger = verdicts_ledger();
    const char *id = route_param(&r->params, "id");
    money_t amount = 0;
    char buf[MONEY_BUF];

    if (!ledger) {
        http_reply_error(r, 503, "unavailable", NULL, "the ledger is not running");
        return;
    }
    if (!id || strlen(id) >= LEDGER_RSV_MAX || !ledger_release(ledger, id, &amount)) {
        http_reply_error(r, 404, "not_found", "id",
                         "no live reservation with this id (settled, expired or released)");
        return;
    }
    money_format_usd(amount, 2, buf);
    http_reply_json(
        r, 200,
        json_pack("{s:s, s:b, s:s}", "reservation_id", id, "released", 1, "amount_usd", buf));
}
