/*
 * api_verdict: POST /v1/verdict and POST /v1/reservations/{id}/release. A
 * verdict reads only memory: the key (cached), the team (cached), the price
 * catalog and the ledger. Lock order: the catalog, then the ledger.
 */
#include "alertd.h"
#include "api.h"

#include "crypto.h"
#include "event.h"
#include "prices.h"
#include "pricing.h"
#include "scopes.h"
#include "textbuf.h"
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

/*
 * The reply is written straight into a buffer: a verdict is the hot path,
 * and building a jansson tree of some thirty values only to print it cost
 * more than the verdict itself. Strings are escaped as JSON requires.
 */
/* A JSON string, or null for NULL. */
static void str(struct textbuf *o, const char *s)
{
    const char *run;

    if (!s) {
        textbuf_puts(o, "null");
        return;
    }
    textbuf_put(o, "\"", 1);
    for (run = s; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        char esc[8];
        textbuf_put(o, run, (size_t)(s - run));
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof(esc), "\\%c", c);
        else
            snprintf(esc, sizeof(esc), "\\u%04x", c);
        textbuf_puts(o, esc);
        run = s + 1;
    }
    textbuf_put(o, run, (size_t)(s - run));
    textbuf_put(o, "\"", 1);
}

/* ,"key": */
static void key(struct textbuf *o, const char *k, bool first)
{
    if (!first)
        textbuf_put(o, ",", 1);
    str(o, k);
    textbuf_put(o, ":", 1);
}

static void usd(struct textbuf *o, money_t v)
{
    char buf[MONEY_BUF];
    money_format_usd(v, 2, buf);
    str(o, buf);
}

static void iso(struct textbuf *o, int64_t t)
{
    char buf[40];
    event_format_seconds(t, buf);
    str(o, buf);
}

static void budget_out(struct textbuf *o, const struct verdict_budget *b)
{
    char num[32];

    key(o, "id", true);
    snprintf(num, sizeof(num), "%" PRId64, b->id);
    textbuf_puts(o, num);
    key(o, "name", false);
    str(o, b->name);
    key(o, "scope", false);
    textbuf_puts(o, "{");
    key(o, "kind", true);
    str(o, policy_scope_kind_name(b->scope.kind));
    key(o, b->scope.kind == SCOPE_TAG ? "key" : "name", false);
    str(o, b->scope.name);
    if (b->scope.kind == SCOPE_TAG) {
        key(o, "value", false);
        str(o, b->scope.tag_value);
    }
    textbuf_puts(o, "}");
    key(o, "limit_usd", false);
    usd(o, b->limit);
    key(o, "spent_usd", false);
    usd(o, b->spent);
    key(o, "reserved_usd", false);
    usd(o, b->reserved);
    key(o, "remaining_usd", false);
    usd(o, b->limit - b->spent - b->reserved);
    key(o, "period_start", false);
    iso(o, b->period_start);
    key(o, "period_end", false);
    iso(o, b->period_end);
    if (b->action != ACTION_NONE) {
        key(o, "threshold_percent", false);
        if (b->threshold_x100 % 100)
            snprintf(num, sizeof(num), "%d.%02d", b->threshold_x100 / 100, b->threshold_x100 % 100);
        else
            snprintf(num, sizeof(num), "%d", b->threshold_x100 / 100);
        textbuf_puts(o, num);
        key(o, "action", false);
        str(o, policy_action_name(b->action));
    }
}

/* Replies with a verdict as JSON: status 200, or 403 for ext_authz's deny. */
static void reply_verdict(struct http_req *r, int status, const struct verdict *v,
                          const char *provider, const char *requested, const char *rsv)
{
    struct textbuf o = {0};

    textbuf_puts(&o, "{");
    key(&o, "decision", true);
    str(&o, ledger_decision_name(v->decision));
    key(&o, "model", false);
    str(&o, v->model);
    key(&o, "provider", false);
    str(&o, provider);
    key(&o, "requested_model", false);
    str(&o, requested);
    if (v->tier[0]) {
        key(&o, "tier", false);
        str(&o, v->tier);
    }
    key(&o, "reason", false);
    textbuf_puts(&o, "{");
    key(&o, "code", true);
    str(&o, v->reason_code);
    key(&o, "message", false);
    str(&o, v->reason);
    textbuf_puts(&o, "}");
    key(&o, "budget", false);
    if (v->has_budget) {
        textbuf_puts(&o, "{");
        budget_out(&o, &v->budget);
        textbuf_puts(&o, "}");
    } else {
        textbuf_puts(&o, "null");
    }
    key(&o, "policy", false);
    str(&o, v->policy_id ? v->policy_name : NULL);
    key(&o, "estimated_cost_usd", false);
    if (v->priced)
        usd(&o, v->estimate);
    else
        textbuf_puts(&o, "null");
    if (v->reserved) {
        key(&o, "reservation_id", false);
        str(&o, rsv);
        key(&o, "reservation_expires_at", false);
        iso(&o, v->hold_expires);
    }
    textbuf_puts(&o, "}");
    if (o.oom) {
        free(o.buf);
        http_reply_error(r, 500, "internal", NULL, "out of memory");
        return;
    }
    http_reply_buf(r, status, "application/json", o.buf, o.len);
}

/* A call to decide, as either endpoint reads it. */
struct vin {
    const char *team, *project, *user, *provider, *model, *request_id;
    const json_t *tags;
    int64_t input_tokens, max_output_tokens, key_id;
    enum priority priority;
    enum usage_mode mode;
    bool reserve;
};

struct vout {
    struct verdict v;
    char rsv[LEDGER_RSV_MAX];
    char provider[EVENT_NAME_MAX + 1], model[EVENT_NAME_MAX + 1];
};

/* The configured verdict for an unknown team or project. */
static void unknown_scope(struct http_req *r, const struct vin *in, const char *what,
                          const char *name, struct vout *o)
{
    bool allow = strcmp(r->app->cfg->unknown_scope, "deny") != 0;

    o->v.decision = allow ? DECISION_ALLOW : DECISION_DENY;
    o->v.reason_code = "unknown_scope";
    snprintf(o->v.reason, sizeof(o->v.reason),
             "No %s '%s' is known; %s by default (--unknown-scope).", what, name,
             allow ? "allowed" : "denied");
    snprintf(o->v.model, sizeof(o->v.model), "%s", in->model);
    verdicts_count(r->key.org_id, 0, o->provider, o->model, &o->v, 0, time(NULL));
}

/*
 * Resolves a team (or a project under parent) through the team cache, or,
 * when Postgres cannot answer, the ledger's team tree.
 */
static enum scopes_result find(struct http_req *r, const char *slug, bool project, int64_t parent,
                               int64_t *id)
{
    struct scope_team t;
    enum scopes_result res =
        project ? scopes_project(r->app->db, r->key.org_id, parent, slug, false, &t)
                : scopes_team(r->app->db, r->key.org_id, slug, false, &t);

    if (res == SCOPES_OK)
        *id = t.id;
    else if (res == SCOPES_DB_ERROR && verdicts_find_team(r->key.org_id, slug, project, parent, id))
        res = SCOPES_OK;
    return res;
}

/*
 * Decides a call: resolves its scope from the caches (a scoped key only
 * inside its team), prices the estimate and asks the ledger. Returns false
 * when it replied with an error.
 */
static bool decide(struct http_req *r, const struct vin *in, struct vout *o)
{
    struct ledger *ledger = verdicts_ledger();
    struct verdict_request rq = {0};
    struct estimate_ctx ec = {0};
    const char *cprov, *cmodel;
    bool db_error = false, priced;
    money_t est_req;
    int64_t team_id = 0;

    memset(o, 0, sizeof(*o));
    snprintf(o->provider, sizeof(o->provider), "%s", in->provider ? in->provider : "");
    snprintf(o->model, sizeof(o->model), "%s", in->model);
    if (!ledger) {
        http_reply_error(r, 503, "unavailable", NULL, "the ledger is not running");
        return false;
    }
    rq.scope.org_id = r->key.org_id;
    rq.scope.user = in->user;
    rq.scope.key_id = in->key_id;
    rq.scope.tags = in->tags;
    if (in->team) {
        /* The team cache first; while Postgres is unreachable, the ledger's team tree. */
        switch (find(r, in->team, false, 0, &team_id)) {
        case SCOPES_OK:
            break;
        case SCOPES_DB_ERROR:
            http_reply_error(r, 503, "unavailable", NULL,
                             "cannot resolve the team: Postgres is unreachable");
            return false;
        default:
            if (r->key.team_id) {
                http_reply_error(r, 403, "forbidden", "team",
                                 "team '%s' is outside this key's team", in->team);
                return false;
            }
            unknown_scope(r, in, "team", in->team, o);
            return true;
        }
        if (in->project) {
            switch (find(r, in->project, true, team_id, &rq.scope.project_id)) {
            case SCOPES_OK:
                break;
            case SCOPES_DB_ERROR:
                http_reply_error(r, 503, "unavailable", NULL,
                                 "cannot resolve the project: Postgres is unreachable");
                return false;
            default:
                unknown_scope(r, in, "project", in->project, o);
                return true;
            }
        }
        if (r->key.team_id) {
            int64_t id = rq.scope.project_id ? rq.scope.project_id : team_id;
            bool within = scopes_within(r->app->db, id, r->key.team_id, &db_error);
            if (db_error)
                within = verdicts_team_within(id, r->key.team_id);
            if (!within) {
                http_reply_error(r, 403, "forbidden", "team",
                                 "team '%s' is outside this key's team", in->team);
                return false;
            }
        }
        verdicts_team_path(team_id, &rq.scope);
    } else if (r->key.team_id) {
        http_reply_error(r, 422, "missing_field", "team", "a key scoped to a team must name it");
        return false;
    }
    if (in->reserve) {
        uint8_t raw[12];
        if (!crypto_random(raw, sizeof(raw))) {
            http_reply_error(r, 500, "internal", NULL, "no randomness for a reservation id");
            return false;
        }
        memcpy(o->rsv, "rsv_", 4);
        crypto_hex(raw, sizeof(raw), o->rsv + 4);
    }

    ec.cat = prices_lock();
    ec.org_id = r->key.org_id;
    ec.now = time(NULL);
    ec.mode = in->mode;
    ec.tokens.input_uncached = in->input_tokens;
    ec.tokens.output = in->max_output_tokens;
    if (catalog_resolve(ec.cat, in->provider, in->model, &cprov, &cmodel)) {
        snprintf(o->provider, sizeof(o->provider), "%s", cprov);
        snprintf(o->model, sizeof(o->model), "%s", cmodel);
    }
    rq.provider = o->provider;
    rq.model = o->model;
    rq.input_tokens = in->input_tokens;
    rq.max_output_tokens = in->max_output_tokens;
    rq.priority = in->priority;
    rq.reserve = in->reserve;
    rq.request_id = in->request_id;
    rq.reservation_id = o->rsv;
    rq.hold_ttl = r->app->cfg->hold_ttl;
    rq.max_staleness = r->app->cfg->ledger_stale;
    rq.estimate = estimate;
    rq.estimate_arg = &ec;
    est_req = estimate(&ec, o->provider, o->model, &priced);
    ledger_verdict(ledger, &rq, ec.now, &o->v);
    prices_unlock();
    /* A budget's deny threshold (not a list or a cap) stopped the call: one alert per period. */
    if (o->v.decision == DECISION_DENY && o->v.has_budget && o->v.budget.action == ACTION_DENY)
        alertd_note_denial(o->v.budget.id, o->v.budget.period_start);
    verdicts_count(r->key.org_id, team_id, o->provider, o->model, &o->v, est_req, ec.now);
    return true;
}

static const char *const verdict_fields[] = {
    "team",         "project",           "user",     "api_key_id", "tags",    "provider",   "model",
    "input_tokens", "max_output_tokens", "priority", "mode",       "reserve", "request_id", NULL};

void api_verdict_post(struct http_req *r)
{
    json_t *body = http_body_object(r), *v;
    const char *priority = NULL, *mode = NULL;
    struct vin in = {.priority = PRIORITY_INTERACTIVE, .mode = MODE_STANDARD};
    struct vout *o = NULL;

    if (!body)
        return;
    if (!api_only_fields(r, body, verdict_fields) ||
        !api_opt_string(r, body, "team", EVENT_SLUG_MAX, &in.team) ||
        !api_opt_string(r, body, "project", EVENT_SLUG_MAX, &in.project) ||
        !api_opt_string(r, body, "user", EVENT_USER_MAX, &in.user) ||
        !api_opt_string(r, body, "provider", EVENT_NAME_MAX, &in.provider) ||
        !api_opt_string(r, body, "model", EVENT_NAME_MAX, &in.model) ||
        !api_opt_string(r, body, "priority", 32, &priority) ||
        !api_opt_string(r, body, "mode", 32, &mode) ||
        !api_opt_string(r, body, "request_id", EVENT_NAME_MAX, &in.request_id) ||
        !get_tokens(r, body, "input_tokens", &in.input_tokens) ||
        !get_tokens(r, body, "max_output_tokens", &in.max_output_tokens) ||
        !get_tags(r, body, &in.tags))
        goto out;
    if (!in.model || !*in.model) {
        http_reply_error(r, 422, "missing_field", "model", "'model' is required");
        goto out;
    }
    if ((in.team && !event_slug_valid(in.team)) || (in.project && !event_slug_valid(in.project))) {
        http_reply_error(r, 422, "invalid_value",
                         in.team && !event_slug_valid(in.team) ? "team" : "project",
                         "team and project must be slugs: a-z, 0-9, '.', '_', '-'");
        goto out;
    }
    if (in.project && !in.team) {
        http_reply_error(r, 422, "missing_field", "team", "a project needs its team");
        goto out;
    }
    if (priority && !ledger_parse_priority(priority, &in.priority)) {
        http_reply_error(r, 422, "invalid_value", "priority",
                         "'priority' must be interactive, batch or critical");
        goto out;
    }
    if (mode && !pricing_parse_mode(mode, &in.mode)) {
        http_reply_error(r, 422, "invalid_value", "mode",
                         "'mode' must be standard, batch, flex or priority");
        goto out;
    }
    v = json_object_get(body, "reserve");
    if (v && !json_is_null(v) && !json_is_boolean(v)) {
        http_reply_error(r, 400, "invalid_type", "reserve", "'reserve' must be true or false");
        goto out;
    }
    in.reserve = v && json_is_true(v);
    if (in.reserve && (!in.request_id || !*in.request_id)) {
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
        in.key_id = json_integer_value(v);
    }
    if (!(o = malloc(sizeof(*o)))) {
        http_reply_error(r, 500, "internal", NULL, "out of memory");
        goto out;
    }
    if (decide(r, &in, o))
        reply_verdict(r, 200, &o->v, o->provider[0] ? o->provider : NULL, o->model, o->rsv);
out:
    free(o);
    json_decref(body);
}

/* A header's value as tokens; false (replied) when present but not a count. */
static bool header_tokens(struct http_req *r, const char *name, int64_t *out)
{
    const char *h = http_header(r, name);
    char *end;
    long long v;

    if (!h)
        return true;
    v = strtoll(h, &end, 10);
    if (end == h || *end || v < 0 || v > EVENT_MAX_TOKENS) {
        http_reply_error(r, 400, "invalid_value", name, "'%s' must be a token count", name);
        return false;
    }
    *out = v;
    return true;
}

/*
 * Envoy's ext_authz HTTP service: Envoy sends the call's method, path (under
 * this prefix), headers and, with with_request_body, its JSON body. The
 * scope comes from x-tollgate-* headers; the model from x-tollgate-model or
 * the body's "model"; the output cap from the body's max_tokens (or
 * max_completion_tokens, max_output_tokens); the input estimate from
 * x-tollgate-input-tokens, else a quarter of the body's bytes. 200 allows
 * (x-tollgate-model names the model to call), 403 denies; both carry the
 * verdict as JSON.
 */
void api_ext_authz(struct http_req *r)
{
    struct vin in = {.priority = PRIORITY_INTERACTIVE, .mode = MODE_STANDARD};
    const char *priority = http_header(r, "x-tollgate-priority");
    const char *reserve = http_header(r, "x-tollgate-reserve");
    json_t *body = NULL, *v;
    struct vout *o = NULL;

    in.team = http_header(r, "x-tollgate-team");
    in.project = http_header(r, "x-tollgate-project");
    in.user = http_header(r, "x-tollgate-user");
    in.provider = http_header(r, "x-tollgate-provider");
    in.model = http_header(r, "x-tollgate-model");
    in.request_id = http_header(r, "x-request-id");
    in.input_tokens = (int64_t)(r->body_len / 4);
    if (r->body_len && (body = json_loadb(r->body, r->body_len, 0, NULL)) && json_is_object(body)) {
        static const char *const caps[] = {"max_tokens", "max_completion_tokens",
                                           "max_output_tokens"};
        if (!in.model && json_is_string(v = json_object_get(body, "model")))
            in.model = json_string_value(v);
        for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
            if (json_is_integer(v = json_object_get(body, caps[i])) && json_integer_value(v) >= 0 &&
                json_integer_value(v) <= EVENT_MAX_TOKENS) {
                in.max_output_tokens = json_integer_value(v);
                break;
            }
    }
    if (!header_tokens(r, "x-tollgate-input-tokens", &in.input_tokens))
        goto out;
    if (!in.model || !*in.model || strlen(in.model) > EVENT_NAME_MAX) {
        http_reply_error(r, 400, "missing_field", "model",
                         "no model: send x-tollgate-model, or the body with a 'model'");
        goto out;
    }
    if ((in.team && !event_slug_valid(in.team)) || (in.project && !event_slug_valid(in.project)) ||
        (in.project && !in.team) || (in.user && strlen(in.user) > EVENT_USER_MAX) ||
        (in.provider && strlen(in.provider) > EVENT_NAME_MAX)) {
        http_reply_error(r, 400, "invalid_value", NULL,
                         "x-tollgate-team and x-tollgate-project must be slugs (a project needs "
                         "its team)");
        goto out;
    }
    if (priority && !ledger_parse_priority(priority, &in.priority)) {
        http_reply_error(r, 400, "invalid_value", "x-tollgate-priority",
                         "x-tollgate-priority must be interactive, batch or critical");
        goto out;
    }
    in.reserve = reserve && !strcmp(reserve, "true") && in.request_id && *in.request_id &&
                 strlen(in.request_id) <= EVENT_NAME_MAX;
    if (!(o = malloc(sizeof(*o)))) {
        http_reply_error(r, 500, "internal", NULL, "out of memory");
        goto out;
    }
    if (!decide(r, &in, o))
        goto out;
    http_add_header(r, "x-tollgate-decision", ledger_decision_name(o->v.decision));
    http_add_header(r, "x-tollgate-model", o->v.model);
    http_add_header(r, "x-tollgate-reason", o->v.reason_code);
    if (o->v.reserved)
        http_add_header(r, "x-tollgate-reservation-id", o->rsv);
    reply_verdict(r, o->v.decision == DECISION_DENY ? 403 : 200, &o->v,
                  o->provider[0] ? o->provider : NULL, o->model, o->rsv);
out:
    free(o);
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
