// links: policies/ledger.c policies/period.c policies/tz.c policies/policy.c ingest/event.c ingest/usage.c ingest/money.c
/*
 * ledger: verdicts from a table of budgets, spend and policies (nested
 * budgets, every threshold action, ladders, caps, critical and free calls,
 * lists, staleness), then the stateful parts: the target mix, period
 * rollover across a month end and a DST change, reservations, the
 * mark/delta load protocol, ledger_replace, and many threads reserving
 * against one hard budget.
 *
 * Prices are per call, whatever the tokens: gpt-4o USD 1.00, gpt-4o-mini
 * 0.10, gpt-4.1-nano 0.01, llama-local free, mystery unpriced.
 */
#include "ledger.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define NOW      1773576000LL /* 2026-03-15T12:00:00Z */
#define ORG      1
#define T_SEARCH 10 /* team search, child of eng */
#define T_ENG    20
#define PROJECT  30
#define KEY      40

static money_t usd(const char *s)
{
    money_t v = 0;
    if (s[0] == '-') {
        cr_assert(money_parse_usd(s + 1, 15, &v), "bad amount %s", s);
        return -v;
    }
    cr_assert(money_parse_usd(s, 15, &v), "bad amount %s", s);
    return v;
}

static const char *fmt(money_t v, char buf[MONEY_BUF])
{
    money_format_usd(v, 2, buf);
    return buf;
}

static money_t price(void *arg, const char *provider, const char *model, bool *priced)
{
    (void)provider;
    if (arg != NULL) { /* a fixed estimate for this call */
        *priced = true;
        return *(const money_t *)arg;
    }
    static const struct {
        const char *model, *usd;
    } prices[] = {{"gpt-4o", "1"},        {"gpt-4o-mini", "0.10"}, {"gpt-4.1-nano", "0.01"},
                  {"llama-local", "0"},   {"o1-preview", "15"},    {"gemini-pro", "1"},
                  {"claude-sonnet", "1"}, {"claude-haiku", "0.2"}};
    for (size_t i = 0; i < ARRAY_LEN(prices); i++) {
        if (strcmp(prices[i].model, model) == 0) {
            *priced = true;
            return usd(prices[i].usd);
        }
    }
    *priced = false;
    return 0;
}

/* ---- fixtures ----------------------------------------------------------------- */

static struct budget mkbudget(int64_t id, int64_t org, const char *name, enum scope_kind kind,
                              int64_t scope_id, const char *scope_name, const char *amount,
                              const char *thresholds)
{
    struct budget b = {.id = id, .org_id = org, .period = PERIOD_MONTH, .anchor = 1};
    snprintf(b.name, sizeof(b.name), "%s", name);
    snprintf(b.timezone, sizeof(b.timezone), "UTC");
    b.scope.kind = kind;
    b.scope.id = scope_id;
    snprintf(b.scope.name, sizeof(b.scope.name), "%s", scope_name);
    if (kind == SCOPE_TAG) { /* "key=value" */
        char *eq = strchr(b.scope.name, '=');
        snprintf(b.scope.tag_value, sizeof(b.scope.tag_value), "%s", eq + 1);
        *eq = '\0';
    }
    b.amount = usd(amount);
    /* "80:alert,100:deny" */
    for (const char *p = thresholds; *p != '\0';) {
        double pct;
        char act[16];
        int used = 0;
        cr_assert_eq(sscanf(p, "%lf:%15[a-z]%n", &pct, act, &used), 2);
        struct threshold *t = &b.thresholds[b.n_thresholds++];
        t->percent_x100 = (int32_t)(pct * 100 + 0.5);
        t->action = strcmp(act, "alert") == 0       ? ACTION_ALERT
                    : strcmp(act, "downgrade") == 0 ? ACTION_DOWNGRADE
                                                    : ACTION_DENY;
        p += used;
        if (*p == ',')
            p++;
    }
    b.enabled = true;
    return b;
}

/* Budget i of the catalogue (ids 1..9). */
static struct budget catalogue_budget(int i)
{
    struct budget b;
    switch (i) {
    case 1:
        return mkbudget(1, ORG, "acme-monthly", SCOPE_ORG, ORG, "acme", "1000",
                        "80:alert,100:deny");
    case 2:
        return mkbudget(2, ORG, "eng", SCOPE_TEAM, T_ENG, "eng", "100", "80:downgrade,100:deny");
    case 3:
        return mkbudget(3, ORG, "search-monthly", SCOPE_TEAM, T_SEARCH, "search", "50",
                        "90:alert,100:deny");
    case 4:
        b = mkbudget(4, ORG, "atlas", SCOPE_PROJECT, PROJECT, "atlas", "20", "100:deny");
        b.fail_mode = FAIL_CLOSED;
        return b;
    case 5:
        return mkbudget(5, ORG, "alice", SCOPE_USER, 0, "alice", "10", "50:downgrade");
    case 6:
        b = mkbudget(6, ORG, "key-40", SCOPE_KEY, KEY, "40", "5", "100:deny");
        b.deny_critical = true;
        return b;
    case 7:
        b = mkbudget(7, ORG, "prod", SCOPE_TAG, 0, "env=prod", "30", "100:deny");
        b.deny_free = true;
        return b;
    case 8:
        return mkbudget(8, ORG, "search-watch", SCOPE_TEAM, T_SEARCH, "search", "50", "100:alert");
    default:
        return mkbudget(9, 2, "other-org", SCOPE_TEAM, T_SEARCH, "search", "1", "1:deny");
    }
}

static void ladder(struct routing_policy *p, const char *provider, const char *m0, const char *m1,
                   const char *m2)
{
    struct ladder *l = &p->ladders[p->n_ladders++];
    snprintf(l->provider, sizeof(l->provider), "%s", provider);
    snprintf(l->models[0], sizeof(l->models[0]), "%s", m0);
    snprintf(l->models[1], sizeof(l->models[1]), "%s", m1);
    snprintf(l->models[2], sizeof(l->models[2]), "%s", m2);
}

static struct routing_policy mkpolicy(int64_t id, const char *name, enum scope_kind kind,
                                      int64_t scope_id, const char *scope_name)
{
    struct routing_policy p = {.id = id, .org_id = ORG, .n_tiers = 3, .mix_period = PERIOD_MONTH};
    snprintf(p.name, sizeof(p.name), "%s", name);
    p.scope.kind = kind;
    p.scope.id = scope_id;
    snprintf(p.scope.name, sizeof(p.scope.name), "%s", scope_name);
    snprintf(p.tiers[0], sizeof(p.tiers[0]), "premium");
    snprintf(p.tiers[1], sizeof(p.tiers[1]), "standard");
    snprintf(p.tiers[2], sizeof(p.tiers[2]), "economy");
    snprintf(p.mix_timezone, sizeof(p.mix_timezone), "UTC");
    p.critical_bypass = true;
    p.enabled = true;
    return p;
}

/* Policy i of the catalogue (ids 1..8). */
static struct routing_policy catalogue_policy(int i)
{
    struct routing_policy p;
    switch (i) {
    case 1: /* the org's ladders */
        p = mkpolicy(1, "org-default", SCOPE_ORG, ORG, "acme");
        ladder(&p, "openai", "gpt-4o", "gpt-4o-mini", "gpt-4.1-nano");
        ladder(&p, "anthropic", "claude-opus", "claude-sonnet", "claude-haiku");
        return p;
    case 2: /* team search: no standard tier, so gpt-4o drops to nano */
        p = mkpolicy(2, "search", SCOPE_TEAM, T_SEARCH, "search");
        ladder(&p, "openai", "gpt-4o", "", "gpt-4.1-nano");
        return p;
    case 4:
        p = mkpolicy(4, "atlas-cap", SCOPE_PROJECT, PROJECT, "atlas");
        p.input_cap = 1000;
        p.cap_action = ACTION_DOWNGRADE;
        return p;
    case 5:
        p = mkpolicy(5, "alice-cap", SCOPE_USER, 0, "alice");
        p.input_cap = 500;
        p.cap_action = ACTION_DENY;
        return p;
    case 6:
        p = mkpolicy(6, "no-o1", SCOPE_ORG, ORG, "acme");
        snprintf(p.deny[p.n_deny++], sizeof(p.deny[0]), "o1*");
        return p;
    case 7:
        p = mkpolicy(7, "search-models", SCOPE_TEAM, T_SEARCH, "search");
        snprintf(p.allow[p.n_allow++], sizeof(p.allow[0]), "gpt-4o*");
        snprintf(p.allow[p.n_allow++], sizeof(p.allow[0]), "claude-*");
        return p;
    default: /* alice's ladder, critical calls not spared */
        p = mkpolicy(8, "alice-strict", SCOPE_USER, 0, "alice");
        ladder(&p, "openai", "gpt-4o", "gpt-4o-mini", "gpt-4.1-nano");
        p.critical_bypass = false;
        return p;
    }
}

enum call_kind { CS_FULL = 0, CS_TEAM, CS_ORG, CS_UNKNOWN };

static json_t *prod_tags;

static struct call_scope call_scope(enum call_kind k)
{
    struct call_scope cs = {.org_id = ORG};
    if (k == CS_UNKNOWN) {
        cs.org_id = 3;
        return cs;
    }
    if (k == CS_ORG)
        return cs;
    cs.teams[0] = T_SEARCH;
    cs.teams[1] = T_ENG;
    cs.n_teams = 2;
    if (k == CS_TEAM)
        return cs;
    cs.project_id = PROJECT;
    cs.user = "alice";
    cs.key_id = KEY;
    if (prod_tags == NULL)
        prod_tags = json_pack("{s:s, s:s}", "env", "prod", "app", "atlas");
    cs.tags = prod_tags;
    return cs;
}

/* Loads spend (USD per budget id, "" = 0) through the load protocol, synced at now. */
static void load_spend(struct ledger *l, const char spent[][12], size_t n, int64_t now)
{
    uint64_t epoch = ledger_mark(l);
    struct ledger_load loads[64];
    size_t cnt = ledger_loads(l, true, loads, ARRAY_LEN(loads));
    cr_assert_leq(cnt, ARRAY_LEN(loads));
    for (size_t i = 0; i < cnt; i++) {
        if (loads[i].kind != LEDGER_LOAD_BUDGET)
            continue;
        int64_t id = loads[i].id;
        money_t v = (id >= 0 && (size_t)id < n && spent[id][0] != '\0') ? usd(spent[id]) : 0;
        ledger_set_budget_spend(l, epoch, id, loads[i].start, v);
    }
    ledger_synced(l, epoch, true, now);
}

static struct ledger *setup(unsigned budgets, unsigned policies)
{
    struct budget b[16];
    struct routing_policy *p = calloc(16, sizeof(*p));
    size_t nb = 0, np = 0;
    for (int i = 1; i <= 9; i++)
        if (budgets & (1u << i))
            b[nb++] = catalogue_budget(i);
    for (int i = 1; i <= 8; i++)
        if (policies & (1u << i))
            p[np++] = catalogue_policy(i);
    struct ledger *l = ledger_new();
    cr_assert_not_null(l);
    cr_assert(ledger_replace(l, b, NULL, nb, p, NULL, np, NOW));
    free(p);
    return l;
}

static struct verdict_request request(enum call_kind k, const char *model)
{
    struct verdict_request rq = {.scope = call_scope(k),
                                 .provider =
                                     strncmp(model, "claude", 6) == 0 ? "anthropic" : "openai",
                                 .model = model,
                                 .input_tokens = 100,
                                 .max_output_tokens = 100,
                                 .hold_ttl = 60,
                                 .estimate = price};
    return rq;
}

/* ---- the verdict table ------------------------------------------------------------ */

#define B(i) (1u << (i))
#define P(i) (1u << (i))

struct vcase {
    char name[64];
    unsigned budgets, policies;
    char spent[10][12]; /* USD by budget id */
    enum call_kind scope;
    char model[32];
    int64_t input;
    enum priority prio;
    bool stale; /* last sync an hour ago, max_staleness 60 s */
    /* expected */
    enum decision decision;
    char want_model[32];
    char code[24];
    int64_t budget; /* 0 = has_budget false */
    enum action action;
    int32_t thr;
    int64_t policy;
};

#define CRIT PRIORITY_CRITICAL
#define INTR PRIORITY_INTERACTIVE

// clang-format off
static struct vcase vcases[] = {
    {"no budget at all", 0, 0, {""}, CS_ORG, "gpt-4o", 100, INTR, false,
     DECISION_ALLOW, "gpt-4o", "no_budget", 0, ACTION_NONE, 0, 0},
    {"unknown org: no budget applies", B(1)|B(2)|B(3), P(1), {""}, CS_UNKNOWN, "gpt-4o", 100, INTR, false,
     DECISION_ALLOW, "gpt-4o", "no_budget", 0, ACTION_NONE, 0, 0},
    {"another org's team budget never applies", B(9), 0, {[9] = "5"}, CS_TEAM, "gpt-4o", 100, INTR, false,
     DECISION_ALLOW, "gpt-4o", "no_budget", 0, ACTION_NONE, 0, 0},
    {"within budget", B(1), 0, {[1] = "10"}, CS_ORG, "gpt-4o", 100, INTR, false,
     DECISION_ALLOW, "gpt-4o", "within_budget", 1, ACTION_NONE, 0, 0},
    {"alert threshold allows and reports", B(1), 0, {[1] = "799.50"}, CS_ORG, "gpt-4o", 100, INTR, false,
     DECISION_ALLOW, "gpt-4o", "within_budget", 1, ACTION_ALERT, 8000, 0},
    {"landing exactly on the limit is allowed", B(1), 0, {[1] = "999"}, CS_ORG, "gpt-4o", 100, INTR, false,
     DECISION_ALLOW, "gpt-4o", "within_budget", 1, ACTION_ALERT, 8000, 0},
    {"deny with no ladder: exhausted", B(1), 0, {[1] = "999.50"}, CS_ORG, "gpt-4o", 100, INTR, false,
     DECISION_DENY, "gpt-4o", "budget_exhausted", 1, ACTION_DENY, 10000, 0},
    {"deny fits one rung below", B(1), P(1), {[1] = "999.50"}, CS_ORG, "gpt-4o", 100, INTR, false,
     DECISION_DOWNGRADE, "gpt-4o-mini", "budget_fit", 1, ACTION_DOWNGRADE, 10000, 1},
    {"deny walks two rungs to fit", B(1), P(1), {[1] = "999.95"}, CS_ORG, "gpt-4o", 100, INTR, false,
     DECISION_DOWNGRADE, "gpt-4.1-nano", "budget_fit", 1, ACTION_DOWNGRADE, 10000, 1},
    {"deny and no rung fits", B(1), P(1), {[1] = "1000"}, CS_ORG, "gpt-4o", 100, INTR, false,
     DECISION_DENY, "gpt-4o", "budget_exhausted", 1, ACTION_DENY, 10000, 0},
    {"downgrade threshold moves one rung", B(2), P(1), {[2] = "79.50"}, CS_TEAM, "gpt-4o", 100, INTR, false,
     DECISION_DOWNGRADE, "gpt-4o-mini", "budget_threshold", 2, ACTION_DOWNGRADE, 8000, 1},
    {"downgrade threshold at the bottom rung", B(2), P(1), {[2] = "79.995"}, CS_TEAM, "gpt-4.1-nano", 100, INTR, false,
     DECISION_ALLOW, "gpt-4.1-nano", "budget_threshold", 2, ACTION_NONE, 8000, 1},
    {"downgrade threshold without a ladder", B(2), 0, {[2] = "79.50"}, CS_TEAM, "gpt-4o", 100, INTR, false,
     DECISION_ALLOW, "gpt-4o", "budget_threshold", 2, ACTION_NONE, 8000, 0},
    {"nested: downgrade beats alert", B(1)|B(2)|B(3), P(1), {[1] = "850", [2] = "79.50", [3] = "10"}, CS_TEAM, "gpt-4o", 100, INTR, false,
     DECISION_DOWNGRADE, "gpt-4o-mini", "budget_threshold", 2, ACTION_DOWNGRADE, 8000, 1},
    {"nested: deny beats downgrade", B(2)|B(3), P(1), {[2] = "79.50", [3] = "49.50"}, CS_TEAM, "gpt-4o", 100, INTR, false,
     DECISION_DOWNGRADE, "gpt-4o-mini", "budget_fit", 3, ACTION_DOWNGRADE, 10000, 1},
    {"ties go to the least remaining", B(3)|B(4), 0, {[3] = "49.50", [4] = "19.80"}, CS_FULL, "gpt-4o", 100, INTR, false,
     DECISION_DENY, "gpt-4o", "budget_exhausted", 4, ACTION_DENY, 10000, 0},
    {"a second budget on one scope", B(3)|B(8), 0, {[3] = "10", [8] = "49.50"}, CS_TEAM, "gpt-4o", 100, INTR, false,
     DECISION_ALLOW, "gpt-4o", "within_budget", 8, ACTION_ALERT, 10000, 0},
    {"user budget by name", B(5), P(1), {[5] = "4.50"}, CS_FULL, "gpt-4o", 100, INTR, false,
     DECISION_DOWNGRADE, "gpt-4o-mini", "budget_threshold", 5, ACTION_DOWNGRADE, 5000, 1},
    {"tag budget by key and value", B(7), P(1), {[7] = "29.50"}, CS_FULL, "gpt-4o", 100, INTR, false,
     DECISION_DOWNGRADE, "gpt-4o-mini", "budget_fit", 7, ACTION_DOWNGRADE, 10000, 1},
    {"key budget", B(6), 0, {[6] = "4.50"}, CS_FULL, "gpt-4o", 100, INTR, false,
     DECISION_DENY, "gpt-4o", "budget_exhausted", 6, ACTION_DENY, 10000, 0},
    {"the most specific ladder decides", B(2), P(1)|P(2), {[2] = "79.50"}, CS_TEAM, "gpt-4o", 100, INTR, false,
     DECISION_DOWNGRADE, "gpt-4.1-nano", "budget_threshold", 2, ACTION_DOWNGRADE, 8000, 2},
    {"critical skips a downgrade", B(2), P(1), {[2] = "79.50"}, CS_TEAM, "gpt-4o", 100, CRIT, false,
     DECISION_ALLOW, "gpt-4o", "critical_exempt", 2, ACTION_NONE, 8000, 1},
    {"critical downgrades when the policy says so", B(2), P(1)|P(8), {[2] = "79.50"}, CS_FULL, "gpt-4o", 100, CRIT, false,
     DECISION_DOWNGRADE, "gpt-4o-mini", "budget_threshold", 2, ACTION_DOWNGRADE, 8000, 8},
    {"critical is exempt from deny", B(1), P(1), {[1] = "1000"}, CS_ORG, "gpt-4o", 100, CRIT, false,
     DECISION_ALLOW, "gpt-4o", "critical_exempt", 1, ACTION_NONE, 10000, 0},
    {"deny_critical denies critical calls", B(6), 0, {[6] = "5"}, CS_FULL, "gpt-4o", 100, CRIT, false,
     DECISION_DENY, "gpt-4o", "budget_exhausted", 6, ACTION_DENY, 10000, 0},
    {"a free model passes a deny", B(1), P(1), {[1] = "1000.50"}, CS_ORG, "llama-local", 100, INTR, false,
     DECISION_ALLOW, "llama-local", "free_model", 1, ACTION_NONE, 10000, 0},
    {"deny_free denies free models", B(7), 0, {[7] = "30.01"}, CS_FULL, "llama-local", 100, INTR, false,
     DECISION_DENY, "llama-local", "budget_exhausted", 7, ACTION_DENY, 10000, 0},
    {"an unpriced model is not free", B(1), 0, {[1] = "1000.01"}, CS_ORG, "mystery", 100, INTR, false,
     DECISION_DENY, "mystery", "budget_exhausted", 1, ACTION_DENY, 10000, 0},
    {"deny list", B(1), P(1)|P(6), {""}, CS_ORG, "o1-preview", 100, INTR, false,
     DECISION_DENY, "o1-preview", "model_denied", 0, ACTION_NONE, 0, 6},
    {"allow list refuses", 0, P(7), {""}, CS_TEAM, "gemini-pro", 100, INTR, false,
     DECISION_DENY, "gemini-pro", "model_not_allowed", 0, ACTION_NONE, 0, 7},
    {"allow list admits", 0, P(7), {""}, CS_TEAM, "GPT-4o-mini", 100, INTR, false,
     DECISION_ALLOW, "GPT-4o-mini", "no_budget", 0, ACTION_NONE, 0, 0},
    {"allow list elsewhere does not apply", 0, P(7), {""}, CS_ORG, "gemini-pro", 100, INTR, false,
     DECISION_ALLOW, "gemini-pro", "no_budget", 0, ACTION_NONE, 0, 0},
    {"input cap downgrades", 0, P(1)|P(4), {""}, CS_FULL, "gpt-4o", 2000, INTR, false,
     DECISION_DOWNGRADE, "gpt-4o-mini", "input_token_cap", 0, ACTION_NONE, 0, 4},
    {"input cap at the cap passes", 0, P(1)|P(4), {""}, CS_FULL, "gpt-4o", 1000, INTR, false,
     DECISION_ALLOW, "gpt-4o", "no_budget", 0, ACTION_NONE, 0, 0},
    {"the smallest input cap denies", 0, P(1)|P(4)|P(5), {""}, CS_FULL, "gpt-4o", 800, INTR, false,
     DECISION_DENY, "gpt-4o", "input_token_cap", 0, ACTION_NONE, 0, 5},
    {"input cap and budget move one rung together", B(2), P(1)|P(4), {[2] = "79.95"}, CS_FULL, "gpt-4o", 2000, INTR, false,
     DECISION_DOWNGRADE, "gpt-4o-mini", "input_token_cap", 2, ACTION_NONE, 8000, 4},
    {"input cap, then a deny walks further", B(1), P(1)|P(4), {[1] = "999.95"}, CS_FULL, "gpt-4o", 2000, INTR, false,
     DECISION_DOWNGRADE, "gpt-4.1-nano", "budget_fit", 1, ACTION_DOWNGRADE, 10000, 1},
    {"critical skips the input cap downgrade", 0, P(1)|P(4), {""}, CS_FULL, "gpt-4o", 2000, CRIT, false,
     DECISION_ALLOW, "gpt-4o", "critical_exempt", 0, ACTION_NONE, 0, 4},
    {"stale, fail closed", B(4), 0, {""}, CS_FULL, "gpt-4o", 100, INTR, true,
     DECISION_DENY, "gpt-4o", "stale_fail_closed", 4, ACTION_DENY, 10000, 0},
    {"stale, fail open", B(3), 0, {""}, CS_TEAM, "gpt-4o", 100, INTR, true,
     DECISION_ALLOW, "gpt-4o", "stale_fail_open", 3, ACTION_NONE, 0, 0},
    {"stale, fail open still denies over budget", B(3), 0, {[3] = "50"}, CS_TEAM, "gpt-4o", 100, INTR, true,
     DECISION_DENY, "gpt-4o", "budget_exhausted", 3, ACTION_DENY, 10000, 0},
    {"fresh fail-closed budget allows", B(4), 0, {""}, CS_FULL, "gpt-4o", 100, INTR, false,
     DECISION_ALLOW, "gpt-4o", "within_budget", 4, ACTION_NONE, 0, 0},
};
// clang-format on

ParameterizedTestParameters(ledger, verdicts)
{
    return cr_make_param_array(struct vcase, vcases, ARRAY_LEN(vcases));
}

ParameterizedTest(struct vcase *tc, ledger, verdicts)
{
    struct ledger *l = setup(tc->budgets, tc->policies);
    int64_t now = NOW;
    load_spend(l, (const char(*)[12])tc->spent, 10, tc->stale ? now - 3600 : now);
    struct verdict_request rq = request(tc->scope, tc->model);
    rq.input_tokens = tc->input;
    rq.priority = tc->prio;
    rq.max_staleness = 60;
    struct verdict v;
    ledger_verdict(l, &rq, now, &v);
    cr_expect_eq(v.decision, tc->decision, "%s: decision %s (%s: %s)", tc->name,
                 ledger_decision_name(v.decision), v.reason_code, v.reason);
    cr_expect_str_eq(v.model, tc->want_model, "%s: model %s", tc->name, v.model);
    cr_expect_str_eq(v.reason_code, tc->code, "%s: code %s (%s)", tc->name, v.reason_code,
                     v.reason);
    cr_expect_eq(v.has_budget, tc->budget != 0, "%s: has_budget", tc->name);
    if (tc->budget != 0) {
        cr_expect_eq(v.budget.id, tc->budget, "%s: budget %lld", tc->name, (long long)v.budget.id);
        cr_expect_eq(v.budget.action, tc->action, "%s: action %s", tc->name,
                     policy_action_name(v.budget.action));
        cr_expect_eq(v.budget.threshold_x100, tc->thr, "%s: threshold %d", tc->name,
                     v.budget.threshold_x100);
    }
    cr_expect_eq(v.policy_id, tc->policy, "%s: policy %lld", tc->name, (long long)v.policy_id);
    cr_expect_neq(v.reason[0], '\0', "%s: no reason", tc->name);
    ledger_free(&l);
}

/* ---- reason sentences --------------------------------------------------------------- */

Test(ledger, reason_sentence)
{
    struct budget b = mkbudget(3, ORG, "search-monthly", SCOPE_TEAM, T_SEARCH, "search", "5000",
                               "80:downgrade,100:deny");
    struct routing_policy p = catalogue_policy(1);
    struct ledger *l = ledger_new();
    cr_assert(ledger_replace(l, &b, NULL, 1, &p, NULL, 1, NOW));
    load_spend(l, (const char[][12]){"", "", "", "4159.00"}, 4, NOW);
    struct verdict_request rq = request(CS_TEAM, "gpt-4o");
    struct verdict v;
    ledger_verdict(l, &rq, NOW, &v);
    cr_assert_str_eq(v.reason,
                     "Budget \"search-monthly\" (team search) would reach 83.20% of USD 5000.00 "
                     "this month; downgrade at 80%: downgraded gpt-4o to gpt-4o-mini.");
    cr_assert_str_eq(v.tier, "standard");
    char buf[MONEY_BUF];
    cr_assert_str_eq(fmt(v.estimate, buf), "0.10");
    ledger_free(&l);
}

/* ---- target mix ---------------------------------------------------------------------- */

struct mix_case {
    char name[48];
    char spend[3][12]; /* premium, standard, economy */
    char model[32];
    enum priority prio;
    enum decision decision;
    char want_model[32];
    char code[24];
};

// clang-format off
static struct mix_case mix_cases[] = {
    {"premium above target", {"80", "15", "5"}, "gpt-4o", INTR,
     DECISION_DOWNGRADE, "gpt-4o-mini", "target_mix"},
    {"premium exactly at target", {"70", "20", "10"}, "gpt-4o", INTR,
     DECISION_ALLOW, "gpt-4o", "no_budget"},
    {"standard below target", {"80", "15", "5"}, "gpt-4o-mini", INTR,
     DECISION_ALLOW, "gpt-4o-mini", "no_budget"},
    {"standard above target", {"50", "45", "5"}, "gpt-4o-mini", INTR,
     DECISION_DOWNGRADE, "gpt-4.1-nano", "target_mix"},
    {"the last tier never moves", {"0", "0", "100"}, "gpt-4.1-nano", INTR,
     DECISION_ALLOW, "gpt-4.1-nano", "no_budget"},
    {"no data yet", {"0", "0", "0"}, "gpt-4o", INTR,
     DECISION_ALLOW, "gpt-4o", "no_budget"},
    {"critical skips the mix", {"80", "15", "5"}, "gpt-4o", CRIT,
     DECISION_ALLOW, "gpt-4o", "critical_exempt"},
};
// clang-format on

ParameterizedTestParameters(ledger, target_mix)
{
    return cr_make_param_array(struct mix_case, mix_cases, ARRAY_LEN(mix_cases));
}

static struct routing_policy mix_policy(void)
{
    struct routing_policy p = mkpolicy(3, "eng-mix", SCOPE_TEAM, T_ENG, "eng");
    ladder(&p, "openai", "gpt-4o", "gpt-4o-mini", "gpt-4.1-nano");
    p.mix_set = true;
    p.mix_basis = MIX_BY_SPEND;
    p.mix_bp[0] = 7000;
    p.mix_bp[1] = 2000;
    p.mix_bp[2] = 1000;
    return p;
}

ParameterizedTest(struct mix_case *tc, ledger, target_mix)
{
    struct routing_policy p = mix_policy();
    struct ledger *l = ledger_new();
    cr_assert(ledger_replace(l, NULL, NULL, 0, &p, NULL, 1, NOW));
    uint64_t epoch = ledger_mark(l);
    struct ledger_load ld;
    cr_assert_eq(ledger_loads(l, false, &ld, 1), 1);
    cr_assert_eq(ld.kind, LEDGER_LOAD_MIX);
    money_t spend[POLICY_TIERS_MAX] = {usd(tc->spend[0]), usd(tc->spend[1]), usd(tc->spend[2])};
    int64_t req[POLICY_TIERS_MAX] = {0};
    ledger_set_mix(l, epoch, 3, ld.start, spend, req);
    ledger_synced(l, epoch, true, NOW);
    struct verdict_request rq = request(CS_TEAM, tc->model);
    rq.priority = tc->prio;
    struct verdict v;
    ledger_verdict(l, &rq, NOW, &v);
    cr_expect_eq(v.decision, tc->decision, "%s: %s (%s)", tc->name,
                 ledger_decision_name(v.decision), v.reason);
    cr_expect_str_eq(v.model, tc->want_model, "%s", tc->name);
    cr_expect_str_eq(v.reason_code, tc->code, "%s: %s", tc->name, v.reason);
    ledger_free(&l);
}

/* Spend applied through ledger_apply counts in the mix, at the tier of the model that ran. */
Test(ledger, target_mix_from_applied_spend)
{
    struct routing_policy p = mix_policy();
    p.mix_basis = MIX_BY_REQUESTS;
    struct ledger *l = ledger_new();
    cr_assert(ledger_replace(l, NULL, NULL, 0, &p, NULL, 1, NOW));
    struct ledger_spend s = {.scope = call_scope(CS_TEAM), .provider = "openai", .ts = NOW};
    struct verdict_request rq = request(CS_TEAM, "gpt-4o");
    struct verdict v;
    for (int i = 0; i < 7; i++) {
        s.model = "gpt-4o";
        s.cost = usd("1");
        s.requests = 1;
        ledger_apply(l, &s);
    }
    s.model = "gpt-4o-mini";
    for (int i = 0; i < 3; i++)
        ledger_apply(l, &s);
    ledger_verdict(l, &rq, NOW, &v); /* premium 7 of 10 requests: at target */
    cr_assert_eq(v.decision, DECISION_ALLOW, "%s", v.reason);
    s.model = "gpt-4o";
    ledger_apply(l, &s); /* 8 of 11 */
    ledger_verdict(l, &rq, NOW, &v);
    cr_assert_eq(v.decision, DECISION_DOWNGRADE, "%s", v.reason);
    cr_assert_str_eq(v.reason_code, "target_mix");
    cr_assert_eq(v.policy_id, 3);
    ledger_free(&l);
}

/* ---- periods --------------------------------------------------------------------------- */

static struct tz *load_zone(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    static uint8_t buf[1 << 17];
    size_t len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    char err[256] = "";
    struct tz *z = tz_parse(name, buf, len, err, sizeof(err));
    cr_assert_not_null(z, "%s: %s", name, err);
    return z;
}

struct roll_case {
    char name[48];
    char zone[32];
    enum period_kind period;
    int64_t spend_at;  /* when the spend lands */
    int64_t before;    /* a tick still in the same period */
    int64_t after;     /* the first tick of the next period */
    int64_t new_start; /* the next period's start */
};

static struct roll_case roll_cases[] = {
    /* Berlin's April starts at 2026-03-31T22:00Z (CEST, UTC+2) */
    {"Berlin month end", "Europe/Berlin", PERIOD_MONTH, 1774900000LL, 1774994399LL, 1774994400LL,
     1774994400LL},
    /* New York's 2026-03-08 has 23 hours: 05:00Z to 04:00Z the next day */
    {"New York DST day", "America/New_York", PERIOD_DAY, 1772971200LL, 1773028799LL, 1773028800LL,
     1773028800LL},
};

ParameterizedTestParameters(ledger, rollover)
{
    return cr_make_param_array(struct roll_case, roll_cases, ARRAY_LEN(roll_cases));
}

ParameterizedTest(struct roll_case *tc, ledger, rollover)
{
    struct tz *z = load_zone(tc->zone);
    struct budget b = mkbudget(1, ORG, "org", SCOPE_ORG, ORG, "acme", "100", "100:deny");
    b.period = tc->period;
    snprintf(b.timezone, sizeof(b.timezone), "%s", tc->zone);
    const struct tz *zones[] = {z};
    struct ledger *l = ledger_new();
    cr_assert(ledger_replace(l, &b, zones, 1, NULL, NULL, 0, tc->spend_at));
    load_spend(l, (const char[][12]){"", "40"}, 2, tc->spend_at);
    struct ledger_spend s = {.scope = call_scope(CS_ORG),
                             .model = "gpt-4o",
                             .ts = tc->spend_at,
                             .cost = usd("2"),
                             .requests = 1};
    ledger_apply(l, &s);
    struct budget_status st;
    cr_assert_eq(ledger_tick(l, tc->before), 0, "%s", tc->name);
    cr_assert(ledger_budget_status(l, 1, &st));
    cr_assert_eq(st.spent, usd("42"), "%s", tc->name);
    cr_assert_eq(st.period_end, tc->after, "%s", tc->name);
    cr_assert(st.loaded);
    /* spend of the old period arriving late is not counted in the new one */
    cr_assert_eq(ledger_tick(l, tc->after), 1, "%s", tc->name);
    ledger_apply(l, &s);
    cr_assert(ledger_budget_status(l, 1, &st));
    cr_assert_eq(st.spent, 0, "%s", tc->name);
    cr_assert_eq(st.period_start, tc->new_start, "%s", tc->name);
    cr_assert_not(st.loaded);
    struct ledger_load ld;
    cr_assert_eq(ledger_loads(l, false, &ld, 1), 1);
    cr_assert_eq(ld.start, tc->new_start);
    ledger_free(&l);
    tz_free(&z);
}

/* ---- reservations ---------------------------------------------------------------------- */

static struct verdict reserve(struct ledger *l, const char *rsv, const char *req, int64_t now)
{
    struct verdict_request rq = request(CS_ORG, "gpt-4o");
    rq.reserve = true;
    rq.reservation_id = rsv;
    rq.request_id = req;
    rq.hold_ttl = 60;
    struct verdict v;
    ledger_verdict(l, &rq, now, &v);
    return v;
}

Test(ledger, reservations)
{
    struct ledger *l = setup(B(1), 0);
    load_spend(l, (const char[][12]){"", "997.50"}, 2, NOW);
    struct budget_status st;
    struct ledger_stats stats;

    struct verdict v = reserve(l, "r1", "req-1", NOW);
    cr_assert_eq(v.decision, DECISION_ALLOW);
    cr_assert(v.reserved);
    cr_assert_eq(v.hold_expires, NOW + 60);
    cr_assert(ledger_budget_status(l, 1, &st));
    cr_assert_eq(st.reserved, usd("1"));
    cr_assert_eq(st.holds, 1);
    v = reserve(l, "r2", "req-2", NOW); /* 997.50 + 1 held + 1 = 999.50 */
    cr_assert(v.reserved);
    v = reserve(l, "r3", "req-3", NOW); /* would reach 1000.50: denied, nothing held */
    cr_assert_eq(v.decision, DECISION_DENY, "%s", v.reason);
    cr_assert_not(v.reserved);
    cr_assert_eq(v.budget.reserved, usd("2"));

    /* the usage event of req-1 settles its hold with the real cost */
    struct ledger_spend s = {.scope = call_scope(CS_ORG),
                             .model = "gpt-4o",
                             .ts = NOW,
                             .cost = usd("0.75"),
                             .requests = 1,
                             .request_id = "req-1"};
    ledger_apply(l, &s);
    cr_assert(ledger_budget_status(l, 1, &st));
    cr_assert_eq(st.spent, usd("998.25"));
    cr_assert_eq(st.reserved, usd("1"));
    cr_assert_not(ledger_release(l, "r1", NULL), "settled holds are gone");

    /* release */
    money_t released = 0;
    cr_assert(ledger_release(l, "r2", &released));
    cr_assert_eq(released, usd("1"));
    cr_assert_not(ledger_release(l, "r2", &released));
    cr_assert_not(ledger_release(l, "nope", &released));
    cr_assert(ledger_budget_status(l, 1, &st));
    cr_assert_eq(st.reserved, 0);
    cr_assert_eq(st.holds, 0);

    /* a second reserve with the same request id replaces the first hold */
    v = reserve(l, "r4", "req-4", NOW);
    cr_assert(v.reserved);
    v = reserve(l, "r5", "req-4", NOW);
    cr_assert(v.reserved);
    ledger_stats(l, &stats);
    cr_assert_eq(stats.holds, 1);
    cr_assert_eq(stats.held, usd("1"));
    cr_assert_not(ledger_release(l, "r4", NULL));

    /* expiry */
    cr_assert_eq(ledger_tick(l, NOW + 59), 0);
    ledger_stats(l, &stats);
    cr_assert_eq(stats.holds, 1);
    ledger_tick(l, NOW + 60);
    ledger_stats(l, &stats);
    cr_assert_eq(stats.holds, 0);
    cr_assert_eq(stats.held, 0);
    cr_assert(ledger_budget_status(l, 1, &st));
    cr_assert_eq(st.reserved, 0);
    cr_assert_not(ledger_release(l, "r5", NULL));

    /* a hold without a reservation id is not made */
    v = reserve(l, NULL, "req-6", NOW);
    cr_assert_eq(v.decision, DECISION_ALLOW);
    cr_assert_not(v.reserved);
    ledger_free(&l);
}

/* Many holds: the tables grow, and every hold is still found by both ids. */
Test(ledger, many_holds)
{
    struct budget b = mkbudget(1, ORG, "big", SCOPE_ORG, ORG, "acme", "1000000", "100:deny");
    struct ledger *l = ledger_new();
    cr_assert(ledger_replace(l, &b, NULL, 1, NULL, NULL, 0, NOW));
    char rsv[32], req[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(rsv, sizeof(rsv), "r%d", i);
        snprintf(req, sizeof(req), "q%d", i);
        cr_assert(reserve(l, rsv, req, NOW).reserved);
    }
    struct ledger_spend s = {.scope = call_scope(CS_ORG), .ts = NOW, .cost = usd("1")};
    for (int i = 0; i < 5000; i += 2) {
        snprintf(req, sizeof(req), "q%d", i);
        s.request_id = req;
        ledger_apply(l, &s);
    }
    for (int i = 1; i < 5000; i += 2) {
        snprintf(rsv, sizeof(rsv), "r%d", i);
        cr_assert(ledger_release(l, rsv, NULL), "%s", rsv);
    }
    struct ledger_stats st;
    ledger_stats(l, &st);
    cr_assert_eq(st.holds, 0);
    struct budget_status bs;
    cr_assert(ledger_budget_status(l, 1, &bs));
    cr_assert_eq(bs.reserved, 0);
    cr_assert_eq(bs.spent, usd("2500"));
    ledger_free(&l);
}

/* ---- loading ---------------------------------------------------------------------------- */

Test(ledger, load_protocol)
{
    struct ledger *l = setup(B(1) | B(2), 0);
    struct budget_status st;
    struct ledger_load loads[4];
    cr_assert_eq(ledger_loads(l, false, loads, 4), 2);
    cr_assert(ledger_budget_status(l, 1, &st));
    cr_assert_not(st.loaded);

    struct ledger_spend s = {.scope = call_scope(CS_TEAM), .ts = NOW, .cost = usd("3")};
    ledger_apply(l, &s); /* before the mark: Postgres's value will include it */
    uint64_t epoch = ledger_mark(l);
    size_t n = ledger_loads(l, false, loads, 4);
    cr_assert_eq(n, 2);
    ledger_apply(l, &s); /* after the mark and after the snapshot: only in the delta */
    s.cost = usd("-1");  /* a void after the mark */
    ledger_apply(l, &s);
    for (size_t i = 0; i < n; i++)
        ledger_set_budget_spend(l, epoch, loads[i].id, loads[i].start, usd("100"));
    ledger_synced(l, epoch, true, NOW);
    cr_assert(ledger_budget_status(l, 1, &st));
    cr_assert_eq(st.spent, usd("102"), "the value read plus what came after the mark");
    cr_assert(st.loaded);
    cr_assert_eq(ledger_loads(l, false, loads, 4), 0);
    cr_assert_eq(ledger_loads(l, true, loads, 4), 2);

    /* a stale epoch, or a period that is not the current one, changes nothing */
    uint64_t e2 = ledger_mark(l);
    ledger_set_budget_spend(l, epoch, 1, loads[0].start, usd("5"));
    ledger_set_budget_spend(l, e2, 1, loads[0].start - 1, usd("5"));
    ledger_set_budget_spend(l, e2, 99, loads[0].start, usd("5"));
    cr_assert(ledger_budget_status(l, 1, &st));
    cr_assert_eq(st.spent, usd("102"));
    ledger_synced(l, e2, false, NOW + 10);
    struct ledger_stats stats;
    ledger_stats(l, &stats);
    cr_assert_eq(stats.last_sync, NOW, "a failed load does not refresh");
    ledger_set_budget_spend(l, e2, 1, loads[0].start, usd("5"));
    cr_assert(ledger_budget_status(l, 1, &st));
    cr_assert_eq(st.spent, usd("102"), "a set after the load ended is ignored");
    ledger_free(&l);
}

Test(ledger, replace_keeps_state)
{
    struct ledger *l = setup(B(1) | B(2) | B(3), 0);
    load_spend(l, (const char[][12]){"", "10", "20", "30"}, 4, NOW);
    struct verdict_request rq = request(CS_TEAM, "gpt-4o");
    rq.reserve = true;
    rq.reservation_id = "r1";
    rq.request_id = "q1";
    struct verdict v;
    ledger_verdict(l, &rq, NOW, &v);
    cr_assert(v.reserved);

    /* 1: amount changed (kept); 2: period changed (reset); 3: gone; 4: new */
    struct budget b[3] = {catalogue_budget(1), catalogue_budget(2), catalogue_budget(4)};
    b[0].amount = usd("2000");
    b[1].period = PERIOD_WEEK;
    cr_assert(ledger_replace(l, b, NULL, 3, NULL, NULL, 0, NOW));
    struct budget_status st;
    cr_assert(ledger_budget_status(l, 1, &st));
    cr_assert_eq(st.spent, usd("10"));
    cr_assert_eq(st.reserved, usd("1"));
    cr_assert_eq(st.limit, usd("2000"));
    cr_assert(st.loaded);
    cr_assert(ledger_budget_status(l, 2, &st));
    cr_assert_eq(st.spent, 0);
    cr_assert_eq(st.reserved, 0);
    cr_assert_not(st.loaded);
    cr_assert_not(ledger_budget_status(l, 3, &st));
    cr_assert(ledger_budget_status(l, 4, &st));
    cr_assert_not(st.loaded);

    /* the hold settles against the budgets it still has */
    struct ledger_spend s = {
        .scope = call_scope(CS_FULL), .ts = NOW, .cost = usd("1"), .request_id = "q1"};
    ledger_apply(l, &s);
    cr_assert(ledger_budget_status(l, 1, &st));
    cr_assert_eq(st.spent, usd("11"));
    cr_assert_eq(st.reserved, 0);
    struct ledger_stats stats;
    ledger_stats(l, &stats);
    cr_assert_eq(stats.budgets, 3);
    cr_assert_eq(stats.holds, 0);

    /* disabled budgets are dropped */
    b[0].enabled = false;
    cr_assert(ledger_replace(l, b, NULL, 3, NULL, NULL, 0, NOW));
    cr_assert_not(ledger_budget_status(l, 1, &st));
    ledger_free(&l);
}

Test(ledger, names)
{
    enum priority p;
    cr_assert(ledger_parse_priority("critical", &p));
    cr_assert_eq(p, PRIORITY_CRITICAL);
    cr_assert(ledger_parse_priority("batch", &p));
    cr_assert_not(ledger_parse_priority("urgent", &p));
    cr_assert_str_eq(ledger_priority_name(PRIORITY_INTERACTIVE), "interactive");
    cr_assert_str_eq(ledger_decision_name(DECISION_DOWNGRADE), "downgrade");
}

/* Tens of thousands of budgets: each verdict visits only its path. */
Test(ledger, many_budgets)
{
    size_t n = 30000;
    struct budget *b = calloc(n, sizeof(*b));
    for (size_t i = 0; i < n; i++)
        b[i] = mkbudget((int64_t)i + 1, ORG, "team", SCOPE_TEAM, (int64_t)i + 1000, "t", "10",
                        "100:deny");
    struct ledger *l = ledger_new();
    cr_assert(ledger_replace(l, b, NULL, n, NULL, NULL, 0, NOW));
    free(b);
    for (size_t i = 0; i < n; i += 7) {
        struct verdict_request rq = request(CS_ORG, "gpt-4o");
        rq.scope.teams[0] = (int64_t)i + 1000;
        rq.scope.n_teams = 1;
        struct verdict v;
        ledger_verdict(l, &rq, NOW, &v);
        cr_assert(v.has_budget);
        cr_assert_eq(v.budget.id, (int64_t)i + 1);
    }
    ledger_free(&l);
}

/* ---- threads ------------------------------------------------------------------------------ */

#define THREADS 8
#define CALLS   400

struct worker {
    struct ledger *l;
    int id;
    int allowed;
    money_t committed, max_estimate;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    uint64_t x = 0x9e3779b97f4a7c15ULL * (uint64_t)(w->id + 1);
    for (int i = 0; i < CALLS; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        money_t est = usd("0.01") * (money_t)(1 + x % 5); /* USD 0.01 .. 0.05 */
        char rsv[32], req[32];
        snprintf(rsv, sizeof(rsv), "r-%d-%d", w->id, i);
        snprintf(req, sizeof(req), "q-%d-%d", w->id, i);
        struct verdict_request rq = request(CS_ORG, "gpt-4o");
        rq.estimate_arg = &est;
        rq.reserve = true;
        rq.reservation_id = rsv;
        rq.request_id = req;
        rq.hold_ttl = 600;
        struct verdict v;
        ledger_verdict(w->l, &rq, NOW, &v);
        if (v.decision == DECISION_DENY)
            continue;
        cr_assert(v.reserved);
        w->allowed++;
        w->committed += est;
        if (est > w->max_estimate)
            w->max_estimate = est;
        struct ledger_spend s = {.scope = call_scope(CS_ORG),
                                 .model = "gpt-4o",
                                 .ts = NOW,
                                 .cost = est,
                                 .requests = 1,
                                 .request_id = req};
        ledger_apply(w->l, &s);
    }
    return NULL;
}

Test(ledger, threads_never_overshoot)
{
    struct budget b = mkbudget(1, ORG, "hard", SCOPE_ORG, ORG, "acme", "10", "100:deny");
    struct ledger *l = ledger_new();
    cr_assert(ledger_replace(l, &b, NULL, 1, NULL, NULL, 0, NOW));
    load_spend(l, (const char[][12]){"", "0"}, 2, NOW);
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.l = l, .id = i};
        cr_assert_eq(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    money_t committed = 0, max_est = 0;
    int allowed = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        committed += w[i].committed;
        allowed += w[i].allowed;
        if (w[i].max_estimate > max_est)
            max_est = w[i].max_estimate;
    }
    struct budget_status st;
    cr_assert(ledger_budget_status(l, 1, &st));
    char a[MONEY_BUF], c[MONEY_BUF];
    cr_assert_eq(st.spent, committed, "ledger %s, threads %s", fmt(st.spent, a), fmt(committed, c));
    cr_assert_eq(st.reserved, 0);
    cr_assert_leq(st.spent, usd("10") + max_est, "overshoot: %s", fmt(st.spent, a));
    cr_assert_leq(st.spent, usd("10"), "holds keep spend under the limit: %s", fmt(st.spent, a));
    cr_assert_gt(allowed, 10000 / 50 - 1, "the budget was used: %d calls", allowed);
    cr_assert_lt(allowed, THREADS * CALLS, "some calls were denied");
    ledger_free(&l);
}
