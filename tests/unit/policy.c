// links: policies/policy.c policies/tz.c ingest/event.c ingest/usage.c ingest/money.c
/*
 * policy: budget and routing-policy documents, valid and invalid (each
 * refusal with its exact path and a piece of its message), the canonical
 * JSON round trip, policy_locate on multi-line text, model patterns,
 * tiers and downgrades along chains with null rungs, policy_parse_file on
 * arrays with line numbers, and the shipped policies/examples. Documents
 * are written with ' for " to keep them readable. Tests run from the repo root.
 */
#include "policy.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The text with every ' turned into " (a static buffer; one at a time). */
static const char *q(const char *s)
{
    static char buf[8192];
    size_t n = strlen(s);
    cr_assert(n < sizeof(buf));
    for (size_t i = 0; i <= n; i++)
        buf[i] = s[i] == '\'' ? '"' : s[i];
    return buf;
}

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(q(text), 0, &e);
    cr_assert(j != NULL, "test document is not JSON: %s: %s", e.text, text);
    return j;
}

/* ---- documents ------------------------------------------------------------- */

#define S_TEAM "{'team':'search'}"
#define A10    "'10'"
#define MONTH  "'month'"
#define T80    "[{'at':80,'action':'alert'}]"
#define BUDGET(scope, amount, period, th, extra)                                                   \
    "{'kind':'budget','name':'b','scope':" scope ",'amount_usd':" amount ",'period':" period       \
    ",'thresholds':" th extra "}"
#define B(extra) BUDGET(S_TEAM, A10, MONTH, T80, extra)

#define LAD      "'ladders':{'openai':['gpt-5','gpt-5-mini','gpt-5-nano']}"
#define P(extra) "{'kind':'policy','name':'p','scope':{'org':'default'}" extra "}"
#define MIX      "'target_mix':{'premium':10,'standard':20,'economy':70}"

enum doc_kind { BUD, POL };

struct valid_case {
    enum doc_kind kind;
    const char *doc;
};

static const struct valid_case valid_cases[] = {
    {BUD, B("")},
    {BUD, BUDGET("{'org':'acme'}", "'0'", "'day'", T80, "")},
    {BUD, BUDGET("{'project':'p.1_x-y'}", "'0.000001'", "'week'", T80, ",'anchor':7")},
    {BUD,
     BUDGET("{'user':'Alice Smith <alice@example.com>'}", "12", "'quarter'", T80, ",'anchor':28")},
    {BUD, BUDGET("{'key':42}", "'1000000'", MONTH, T80, ",'anchor':15,'timezone':'Asia/Kolkata'")},
    {BUD, BUDGET("{'tag':{'env':'prod'}}", "'12.345678'", MONTH, T80, "")},
    {BUD, BUDGET(S_TEAM, A10, "'fixed'", T80,
                 ",'window':{'start':'2026-01-01T00:00:00Z','end':'2026-02-01T00:00:00+01:00'}")},
    {BUD, BUDGET(S_TEAM, A10, "'day'", T80, ",'anchor':1")},
    {BUD, BUDGET(S_TEAM, A10, MONTH,
                 "[{'at':100,'action':'deny'},{'at':50,'action':'alert'},{'at':80.5,'action':"
                 "'downgrade'},{'at':80.5,'action':'alert'},{'at':1000,'action':'deny'},{'at':0.01,"
                 "'action':'alert'},{'at':33.33,'action':'alert'}]",
                 "")},
    {BUD, B(",'fail_mode':'closed','deny_critical':true,'deny_free':true,'enabled':false")},
    {BUD, B(",'timezone':'America/Argentina/Buenos_Aires'")},
    {POL, P("")},
    {POL, P("," LAD)},
    {POL, P("," LAD "," MIX)},
    {POL, P("," LAD ",'target_mix':{'premium':33.33,'standard':33.33,'economy':33.34,'by':"
            "'requests','period':'quarter','timezone':'Europe/Berlin'}")},
    {POL, P(",'tiers':['gold','silver'],'ladders':{'openai':[['gpt-5','gpt-5-mini'],['gpt-4o',"
            "'gpt-4o-mini']],'anthropic':['claude-opus-4-5','claude-haiku-4-5'],'azure.openai_x-1':"
            "['gpt-5','gpt-5-mini']}")},
    {POL, P(",'tiers':['a','b','c','d'],'ladders':{'openai':['gpt-5',null,null,'gpt-5-nano'],"
            "'anthropic':[[null,'claude-opus-4-5','claude-sonnet-4-5',null],['x',null,'y','z']]}")},
    {POL, P(",'input_token_cap':{'max':200000,'action':'downgrade'}")},
    {POL, P(",'input_token_cap':{'max':1,'action':'deny'}")},
    {POL, P(",'models':{'allow':['gpt-*','claude-opus-4-5','*'],'deny':['o1-pro']}")},
    {POL, P(",'models':{'allow':[]},'critical_bypass':false,'enabled':false")},
    /* the same model at the same tier in two chains of one provider */
    {POL, P(",'ladders':{'openai':[['gpt-5','gpt-5-mini',null],['gpt-5',null,'gpt-5-nano']]}")},
};

struct invalid_case {
    enum doc_kind kind;
    const char *doc;
    const char *path;
    const char *message; /* a substring */
};

static const struct invalid_case invalid_cases[] = {
    {BUD, "[]", "", "must be a JSON object"},
    {BUD, "{'name':'b'}", "kind", "is required"},
    {BUD, "{'kind':'policy'}", "kind", "must be \"budget\""},
    {BUD, B(",'colour':'red'"), "colour", "unknown member \"colour\""},
    {BUD, "{'kind':'budget','scope':" S_TEAM "}", "name", "is required"},
    {BUD, "{'kind':'budget','name':''}", "name", "1 to 200"},
    {BUD, "{'kind':'budget','name':5}", "name", "must be a string"},
    {BUD, "{'kind':'budget','name':'b'}", "scope", "is required"},
    {BUD, BUDGET("{}", A10, MONTH, T80, ""), "scope", "exactly one of"},
    {BUD, BUDGET("{'org':'a','team':'b'}", A10, MONTH, T80, ""), "scope", "exactly one of"},
    {BUD, BUDGET("'acme'", A10, MONTH, T80, ""), "scope", "exactly one of"},
    {BUD, BUDGET("{'group':'x'}", A10, MONTH, T80, ""), "scope.group", "unknown member \"group\""},
    {BUD, BUDGET("{'team':'Search'}", A10, MONTH, T80, ""), "scope.team", "must be a slug"},
    {BUD, BUDGET("{'org':''}", A10, MONTH, T80, ""), "scope.org", "must be a slug"},
    {BUD, BUDGET("{'user':''}", A10, MONTH, T80, ""), "scope.user", "1 to 256"},
    {BUD, BUDGET("{'key':0}", A10, MONTH, T80, ""), "scope.key", "positive integer"},
    {BUD, BUDGET("{'key':'42'}", A10, MONTH, T80, ""), "scope.key", "positive integer"},
    {BUD, BUDGET("{'tag':{}}", A10, MONTH, T80, ""), "scope.tag", "exactly one"},
    {BUD, BUDGET("{'tag':{'a':'b','c':'d'}}", A10, MONTH, T80, ""), "scope.tag", "exactly one"},
    {BUD, BUDGET("{'tag':{'env':3}}", A10, MONTH, T80, ""), "scope.tag.env", "must be a string"},
    {BUD, "{'kind':'budget','name':'b','scope':" S_TEAM "}", "amount_usd", "is required"},
    {BUD, BUDGET(S_TEAM, "12.5", MONTH, T80, ""), "amount_usd", "write it as a string"},
    {BUD, BUDGET(S_TEAM, "-1", MONTH, T80, ""), "amount_usd", "must not be negative"},
    {BUD, BUDGET(S_TEAM, "'-1'", MONTH, T80, ""), "amount_usd", "at most 6 decimals"},
    {BUD, BUDGET(S_TEAM, "'1.0000001'", MONTH, T80, ""), "amount_usd", "at most 6 decimals"},
    {BUD, BUDGET(S_TEAM, "'1e3'", MONTH, T80, ""), "amount_usd", "decimal amount"},
    {BUD, BUDGET(S_TEAM, "''", MONTH, T80, ""), "amount_usd", "decimal amount"},
    {BUD, BUDGET(S_TEAM, "true", MONTH, T80, ""), "amount_usd", "decimal string"},
    {BUD, "{'kind':'budget','name':'b','scope':" S_TEAM ",'amount_usd':'1'}", "period",
     "is required"},
    {BUD, BUDGET(S_TEAM, A10, "'year'", T80, ""), "period",
     "must be one of day, week, month, quarter, fixed"},
    {BUD, B(",'timezone':'../etc/passwd'"), "timezone", "IANA time zone"},
    {BUD, B(",'timezone':''"), "timezone", "IANA time zone"},
    {BUD, B(",'anchor':0"), "anchor", "from 1 to 28"},
    {BUD, B(",'anchor':29"), "anchor", "from 1 to 28"},
    {BUD, B(",'anchor':'1'"), "anchor", "must be an integer"},
    {BUD, BUDGET(S_TEAM, A10, "'week'", T80, ",'anchor':8"), "anchor", "ISO weekday"},
    {BUD, BUDGET(S_TEAM, A10, "'day'", T80, ",'anchor':2"), "anchor", "only for periods"},
    {BUD, BUDGET(S_TEAM, A10, "'fixed'", T80, ""), "window", "is required"},
    {BUD, B(",'window':{'start':'2026-01-01T00:00:00Z','end':'2026-02-01T00:00:00Z'}"), "window",
     "only for period \"fixed\""},
    {BUD, BUDGET(S_TEAM, A10, "'fixed'", T80, ",'window':{'start':'2026-01-01T00:00:00Z'}"),
     "window.end", "is required"},
    {BUD,
     BUDGET(S_TEAM, A10, "'fixed'", T80,
            ",'window':{'start':'2026-01-01','end':'2026-02-01T00:00:00Z'}"),
     "window.start", "RFC 3339"},
    {BUD,
     BUDGET(S_TEAM, A10, "'fixed'", T80,
            ",'window':{'start':'2026-01-01T00:00:00Z','end':'2026-01-01T00:00:00Z'}"),
     "window.end", "after window.start"},
    {BUD,
     BUDGET(S_TEAM, A10, "'fixed'", T80,
            ",'window':{'start':'2026-01-01T00:00:00Z','end':'2026-02-01T00:00:00Z','x':1}"),
     "window.x", "unknown member \"x\""},
    {BUD, "{'kind':'budget','name':'b','scope':" S_TEAM ",'amount_usd':'1','period':'day'}",
     "thresholds", "is required"},
    {BUD, BUDGET(S_TEAM, A10, MONTH, "[]", ""), "thresholds", "1 to 16"},
    {BUD,
     BUDGET(S_TEAM, A10, MONTH,
            "[{'at':1,'action':'alert'},{'at':2,'action':'alert'},{'at':3,'action':'alert'},"
            "{'at':4,'action':'alert'},{'at':5,'action':'alert'},{'at':6,'action':'alert'},"
            "{'at':7,'action':'alert'},{'at':8,'action':'alert'},{'at':9,'action':'alert'},"
            "{'at':10,'action':'alert'},{'at':11,'action':'alert'},{'at':12,'action':'alert'},"
            "{'at':13,'action':'alert'},{'at':14,'action':'alert'},{'at':15,'action':'alert'},"
            "{'at':16,'action':'alert'},{'at':17,'action':'alert'}]",
            ""),
     "thresholds", "1 to 16"},
    {BUD, BUDGET(S_TEAM, A10, MONTH, "[{'at':80,'action':'alert'},{'at':90,'action':'block'}]", ""),
     "thresholds[1].action", "must be one of alert, downgrade, deny"},
    {BUD, BUDGET(S_TEAM, A10, MONTH, "[{'at':80}]", ""), "thresholds[0].action", "is required"},
    {BUD, BUDGET(S_TEAM, A10, MONTH, "[{'action':'deny'}]", ""), "thresholds[0].at", "is required"},
    {BUD, BUDGET(S_TEAM, A10, MONTH, "[{'at':0,'action':'deny'}]", ""), "thresholds[0].at",
     "above 0 and at most 1000"},
    {BUD, BUDGET(S_TEAM, A10, MONTH, "[{'at':-5,'action':'deny'}]", ""), "thresholds[0].at",
     "above 0"},
    {BUD, BUDGET(S_TEAM, A10, MONTH, "[{'at':1000.01,'action':'deny'}]", ""), "thresholds[0].at",
     "at most 1000"},
    {BUD, BUDGET(S_TEAM, A10, MONTH, "[{'at':80.123,'action':'deny'}]", ""), "thresholds[0].at",
     "at most 2 decimals"},
    {BUD, BUDGET(S_TEAM, A10, MONTH, "[{'at':'80','action':'deny'}]", ""), "thresholds[0].at",
     "must be a number"},
    {BUD, BUDGET(S_TEAM, A10, MONTH, "[{'at':80,'action':'deny','note':1}]", ""),
     "thresholds[0].note", "unknown member \"note\""},
    {BUD, BUDGET(S_TEAM, A10, MONTH, "[5]", ""), "thresholds[0]", "must be an object"},
    {BUD,
     BUDGET(S_TEAM, A10, MONTH,
            "[{'at':80,'action':'deny'},{'at':90,'action':'deny'},{'at':80.0,'action':'deny'}]",
            ""),
     "thresholds[2]", "repeats thresholds[0]"},
    {BUD, B(",'fail_mode':'shut'"), "fail_mode", "must be one of open, closed"},
    {BUD, B(",'deny_critical':1"), "deny_critical", "true or false"},
    {BUD, B(",'deny_free':'no'"), "deny_free", "true or false"},
    {BUD, B(",'enabled':null"), "enabled", "true or false"},

    {POL, "{'kind':'policy','scope':{'org':'a'}}", "name", "is required"},
    {POL, "{'kind':'budget','name':'p'}", "kind", "must be \"policy\""},
    {POL, "{'kind':'policy','name':'My Policy','scope':{'org':'a'}}", "name", "must be a slug"},
    {POL, "{'kind':'policy','name':'p'}", "scope", "is required"},
    {POL, P(",'budget':1"), "budget", "unknown member \"budget\""},
    {POL, P(",'tiers':['premium']"), "tiers", "2 to 4"},
    {POL, P(",'tiers':['a','b','c','d','e']"), "tiers", "2 to 4"},
    {POL, P(",'tiers':['a','A']"), "tiers[1]", "must be a tier name"},
    {POL, P(",'tiers':['a','abcdefghijklmnopqrstuvwxyz0123456']"), "tiers[1]", "at most 31"},
    {POL, P(",'tiers':['a','b','a']"), "tiers[2]", "repeats tiers[0]"},
    {POL, P(",'ladders':[]"), "ladders", "must be an object"},
    {POL, P(",'ladders':{'OpenAI':['a','b','c']}"), "ladders.OpenAI", "not a provider id"},
    {POL, P(",'ladders':{'openai':[]}"), "ladders.openai", "array of chains"},
    {POL, P(",'ladders':{'openai':['a','b']}"), "ladders.openai", "chain of 3 entries"},
    {POL, P(",'ladders':{'openai':['a',null,null]}"), "ladders.openai", "at least 2 models"},
    {POL, P(",'ladders':{'openai':['a',5,null]}"), "ladders.openai[1]", "model name or null"},
    {POL, P(",'ladders':{'openai':['a','',null]}"), "ladders.openai[1]", "1 to 200"},
    {POL, P(",'ladders':{'openai':['a','A','b']}"), "ladders.openai[1]", "already at tier premium"},
    {POL, P(",'ladders':{'openai':[['a','b',null],['c',null,'d'],['x','a','y']]}"),
     "ladders.openai[2][1]", "puts a at tier standard, but it is already at tier premium"},
    {POL, P(",'ladders':{'openai':[['a','b',null],'c']}"), "ladders.openai[1]", "chain of 3"},
    {POL, P(",'ladders':{'openai':[['a','b',null]],'azure':[['a','x','b']]},'tiers':['x','y']"),
     "ladders.openai[0]", "chain of 2"},
    {POL, P("," MIX), "target_mix", "needs ladders"},
    {POL, P("," LAD ",'target_mix':{'premium':10,'standard':20}"), "target_mix",
     "needs a percent for tier \"economy\""},
    {POL, P("," LAD ",'target_mix':{'premium':10,'standard':20,'economy':60}"), "target_mix",
     "sum to exactly 100, not 90.00"},
    {POL, P("," LAD ",'target_mix':{'premium':10.5,'standard':20,'economy':69.49}"), "target_mix",
     "not 99.99"},
    {POL, P("," LAD ",'target_mix':{'premium':10.001,'standard':20,'economy':70}"),
     "target_mix.premium", "at most 2 decimals"},
    {POL, P("," LAD ",'target_mix':{'premium':-10,'standard':40,'economy':70}"),
     "target_mix.premium", "from 0 to 100"},
    {POL, P("," LAD ",'target_mix':{'premium':10,'standard':20,'economy':70,'gold':0}"),
     "target_mix.gold", "unknown member \"gold\""},
    {POL, P("," LAD ",'target_mix':{'premium':10,'standard':20,'economy':70,'by':'tokens'}"),
     "target_mix.by", "must be one of spend, requests"},
    {POL, P("," LAD ",'target_mix':{'premium':10,'standard':20,'economy':70,'period':'fixed'}"),
     "target_mix.period", "must be one of day, week, month, quarter"},
    {POL, P("," LAD ",'target_mix':{'premium':10,'standard':20,'economy':70,'timezone':'a//b'}"),
     "target_mix.timezone", "IANA"},
    {POL, P(",'input_token_cap':{'max':0,'action':'deny'}"), "input_token_cap.max",
     "positive integer"},
    {POL, P(",'input_token_cap':{'action':'deny'}"), "input_token_cap.max", "is required"},
    {POL, P(",'input_token_cap':{'max':5,'action':'alert'}"), "input_token_cap.action",
     "must be one of downgrade, deny"},
    {POL, P(",'input_token_cap':{'max':5,'action':'deny','per':'call'}"), "input_token_cap.per",
     "unknown member"},
    {POL, P(",'models':{'allow':['gpt-*-mini']}"), "models.allow[0]", "'*' only as its last"},
    {POL, P(",'models':{'deny':['ok','']}"), "models.deny[1]", "1 to 200"},
    {POL, P(",'models':{'block':[]}"), "models.block", "unknown member"},
    {POL, P(",'models':['x']"), "models", "must be an object"},
    {POL, P(",'critical_bypass':'yes'"), "critical_bypass", "true or false"},
};

static bool parse(enum doc_kind kind, const json_t *j, bool kind_required, struct policy_error *err,
                  json_t **canon)
{
    static struct budget b;
    static struct routing_policy p;
    bool ok;

    if (kind == BUD) {
        ok = policy_parse_budget(j, kind_required, &b, err);
        if (ok && canon)
            *canon = policy_budget_json(&b);
    } else {
        ok = policy_parse_routing(j, kind_required, &p, err);
        if (ok && canon)
            *canon = policy_routing_json(&p);
    }
    return ok;
}

Test(policy, valid_documents_round_trip)
{
    for (size_t i = 0; i < ARRAY_LEN(valid_cases); i++) {
        struct policy_error err = {0};
        json_t *j = load(valid_cases[i].doc), *c1 = NULL, *c2 = NULL;
        char *t1, *t2;

        cr_assert(parse(valid_cases[i].kind, j, true, &err, &c1), "case %zu refused: %s: %s", i,
                  err.path, err.message);
        t1 = json_dumps(c1, JSON_COMPACT);
        cr_assert(parse(valid_cases[i].kind, c1, true, &err, &c2),
                  "case %zu: canonical %s refused: %s: %s", i, t1, err.path, err.message);
        t2 = json_dumps(c2, JSON_COMPACT);
        cr_expect_str_eq(t1, t2, "case %zu", i);
        /* The text of the canonical form re-parses too. */
        json_t *again = json_loads(t1, 0, NULL);
        cr_expect(json_equal(again, c1), "case %zu", i);
        free(t1);
        free(t2);
        json_decref(again);
        json_decref(j);
        json_decref(c1);
        json_decref(c2);
    }
}

Test(policy, invalid_documents)
{
    for (size_t i = 0; i < ARRAY_LEN(invalid_cases); i++) {
        const struct invalid_case *c = &invalid_cases[i];
        struct policy_error err = {0};
        json_t *j = load(c->doc);

        cr_expect(!parse(c->kind, j, true, &err, NULL), "case %zu accepted: %s", i, c->doc);
        cr_expect_str_eq(err.path, c->path, "case %zu: path %s (%s)", i, err.path, err.message);
        cr_expect(strstr(err.message, c->message) != NULL, "case %zu: message \"%s\" lacks \"%s\"",
                  i, err.message, c->message);
        cr_expect(err.line == 0 && err.column == 0);
        json_decref(j);
    }
}

Test(policy, kind_may_be_implied)
{
    struct budget b;
    struct routing_policy *p = malloc(sizeof(*p));
    struct policy_error err;
    json_t *j = load("{'name':'b','scope':{'org':'a'},'amount_usd':'1','period':'day',"
                     "'thresholds':[{'at':100,'action':'deny'}]}");

    cr_expect(policy_parse_budget(j, false, &b, &err), "%s: %s", err.path, err.message);
    cr_expect(!policy_parse_budget(j, true, &b, &err));
    cr_expect_str_eq(err.path, "kind");
    json_decref(j);
    j = load("{'name':'p','scope':{'org':'a'}}");
    cr_expect(policy_parse_routing(j, false, p, &err), "%s: %s", err.path, err.message);
    json_decref(j);
    j = load("{'kind':'budget','name':'p','scope':{'org':'a'}}");
    cr_expect(!policy_parse_routing(j, false, p, &err));
    cr_expect_str_eq(err.path, "kind");
    json_decref(j);
    free(p);
}

Test(policy, budget_values_and_canonical_form)
{
    struct budget b;
    struct policy_error err;
    json_t *j = load(BUDGET("{'tag':{'env':'prod'}}", "'12.5'", "'fixed'",
                            "[{'at':100,'action':'deny'},{'at':80.5,'action':'downgrade'},{'at':"
                            "80.5,'action':'alert'}]",
                            ",'window':{'start':'2026-01-01T01:00:00+01:00','end':'2026-02-"
                            "01T00:00:00Z'}"));
    json_t *c;
    char *text;

    cr_assert(policy_parse_budget(j, true, &b, &err), "%s: %s", err.path, err.message);
    cr_expect_str_eq(b.name, "b");
    cr_expect_eq(b.scope.kind, SCOPE_TAG);
    cr_expect_str_eq(b.scope.name, "env");
    cr_expect_str_eq(b.scope.tag_value, "prod");
    cr_expect(b.amount == (money_t)125 * MONEY_PER_USD / 10);
    cr_expect_eq(b.period, PERIOD_FIXED);
    cr_expect_str_eq(b.timezone, "UTC");
    cr_expect_eq(b.anchor, 1);
    cr_expect_eq(b.window_start, 1767225600);
    cr_expect_eq(b.window_end, 1769904000);
    cr_assert_eq(b.n_thresholds, 3);
    cr_expect_eq(b.thresholds[0].percent_x100, 8050);
    cr_expect_eq(b.thresholds[0].action, ACTION_ALERT);
    cr_expect_eq(b.thresholds[1].percent_x100, 8050);
    cr_expect_eq(b.thresholds[1].action, ACTION_DOWNGRADE);
    cr_expect_eq(b.thresholds[2].percent_x100, 10000);
    cr_expect_eq(b.thresholds[2].action, ACTION_DENY);
    cr_expect_eq(b.fail_mode, FAIL_OPEN);
    cr_expect(!b.deny_critical && !b.deny_free && b.enabled);
    c = policy_budget_json(&b);
    text = json_dumps(c, JSON_COMPACT);
    cr_expect_str_eq(
        text, q("{'kind':'budget','name':'b','scope':{'tag':{'env':'prod'}},'amount_usd':'12.50',"
                "'period':'fixed','timezone':'UTC','anchor':1,'window':{'start':'2026-01-"
                "01T00:00:00Z','end':'2026-02-01T00:00:00Z'},'thresholds':[{'at':80.5,'action':"
                "'alert'},{'at':80.5,'action':'downgrade'},{'at':100,'action':'deny'}],"
                "'fail_mode':'open','deny_critical':false,'deny_free':false,'enabled':true}"));
    free(text);
    json_decref(c);
    json_decref(j);
}

Test(policy, routing_values_and_canonical_form)
{
    struct routing_policy *p = malloc(sizeof(*p));
    struct policy_error err;
    json_t *j = load(P("," LAD "," MIX ",'input_token_cap':{'max':200000,'action':'downgrade'}"));
    json_t *c;
    char *text;

    cr_assert(policy_parse_routing(j, true, p, &err), "%s: %s", err.path, err.message);
    cr_expect_eq(p->n_tiers, 3);
    cr_expect_str_eq(p->tiers[2], "economy");
    cr_expect_eq(p->n_ladders, 1);
    cr_expect(p->mix_set);
    cr_expect_eq(p->mix_bp[0], 1000);
    cr_expect_eq(p->mix_bp[2], 7000);
    cr_expect_eq(p->mix_basis, MIX_BY_SPEND);
    cr_expect_eq(p->mix_period, PERIOD_MONTH);
    cr_expect_str_eq(p->mix_timezone, "UTC");
    cr_expect_eq(p->input_cap, 200000);
    cr_expect_eq(p->cap_action, ACTION_DOWNGRADE);
    cr_expect(p->critical_bypass && p->enabled);
    c = policy_routing_json(p);
    text = json_dumps(c, JSON_COMPACT);
    cr_expect_str_eq(
        text,
        q("{'kind':'policy','name':'p','scope':{'org':'default'},'tiers':['premium','standard',"
          "'economy'],'ladders':{'openai':['gpt-5','gpt-5-mini','gpt-5-nano']},'target_mix':{"
          "'premium':10,'standard':20,'economy':70,'by':'spend','period':'month','timezone':"
          "'UTC'},'input_token_cap':{'max':200000,'action':'downgrade'},'models':{'allow':[],"
          "'deny':[]},'critical_bypass':true,'enabled':true}"));
    free(text);
    json_decref(c);
    json_decref(j);
    free(p);
}

/* ---- names ----------------------------------------------------------------- */

Test(policy, names)
{
    enum scope_kind k;

    for (int i = SCOPE_ORG; i <= SCOPE_TAG; i++) {
        cr_expect(policy_parse_scope_kind(policy_scope_kind_name((enum scope_kind)i), &k));
        cr_expect_eq((int)k, i);
    }
    cr_expect(!policy_parse_scope_kind("Org", &k));
    cr_expect(!policy_parse_scope_kind("", &k));
    cr_expect_str_eq(policy_action_name(ACTION_NONE), "none");
    cr_expect_str_eq(policy_action_name(ACTION_ALERT), "alert");
    cr_expect_str_eq(policy_action_name(ACTION_DOWNGRADE), "downgrade");
    cr_expect_str_eq(policy_action_name(ACTION_DENY), "deny");
}

/* ---- patterns, tiers and downgrades ------------------------------------------ */

struct pattern_case {
    const char *pattern, *model;
    bool match;
};

Test(policy, pattern_match)
{
    const struct pattern_case cases[] = {
        {"gpt-4o", "gpt-4o", true},
        {"gpt-4o", "GPT-4o", true},
        {"gpt-4o", "gpt-4o-mini", false},
        {"gpt-4o*", "gpt-4o-mini", true},
        {"gpt-4o*", "gpt-4o", true},
        {"gpt-4o*", "gpt-4", false},
        {"GPT-*", "gpt-5", true},
        {"*", "anything", true},
        {"*", "", true},
        {"claude-opus-4-5", "claude-opus-4-5x", false},
        {"o1", "o1-pro", false},
        {"o1*", "o3", false},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        cr_expect_eq(policy_pattern_match(cases[i].pattern, cases[i].model), cases[i].match,
                     "%s vs %s", cases[i].pattern, cases[i].model);
}

Test(policy, tiers_and_downgrades)
{
    struct routing_policy *p = malloc(sizeof(*p));
    struct policy_error err;
    json_t *j = load(P(",'tiers':['a','b','c','d'],'ladders':{'openai':[['gpt-5',null,'gpt-5-"
                       "mini','gpt-5-nano'],['gpt-4o','gpt-4o-mini',null,null],['o3',null,'gpt-"
                       "5-mini',null]],'anthropic':['claude-opus-4-5',null,null,'claude-haiku-4-"
                       "5']}"));

    cr_assert(policy_parse_routing(j, true, p, &err), "%s: %s", err.path, err.message);
    cr_expect_eq(p->n_ladders, 4);
    cr_expect_eq(policy_tier_of(p, "openai", "gpt-5"), 0);
    cr_expect_eq(policy_tier_of(p, "openai", "GPT-5-Mini"), 2);
    cr_expect_eq(policy_tier_of(p, "openai", "gpt-4o-mini"), 1);
    cr_expect_eq(policy_tier_of(p, "openai", "gpt-5-nano"), 3);
    cr_expect_eq(policy_tier_of(p, "anthropic", "claude-haiku-4-5"), 3);
    cr_expect_eq(policy_tier_of(p, "anthropic", "gpt-5"), -1);
    cr_expect_eq(policy_tier_of(p, "azure", "gpt-5"), -1);
    cr_expect_eq(policy_tier_of(p, "openai", "gpt-6"), -1);
    cr_expect_str_eq(policy_downgrade(p, "openai", "gpt-5"), "gpt-5-mini"); /* skips null */
    cr_expect_str_eq(policy_downgrade(p, "openai", "gpt-5-mini"), "gpt-5-nano");
    cr_expect_null(policy_downgrade(p, "openai", "gpt-5-nano"));
    cr_expect_str_eq(policy_downgrade(p, "openai", "gpt-4o"), "gpt-4o-mini");
    cr_expect_null(policy_downgrade(p, "openai", "gpt-4o-mini")); /* only nulls below */
    cr_expect_str_eq(policy_downgrade(p, "openai", "O3"), "gpt-5-mini");
    cr_expect_str_eq(policy_downgrade(p, "anthropic", "claude-opus-4-5"), "claude-haiku-4-5");
    cr_expect_null(policy_downgrade(p, "anthropic", "gpt-5"));
    cr_expect_null(policy_downgrade(p, "openai", "unknown"));
    json_decref(j);
    free(p);
}

/* ---- locating paths in text ----------------------------------------------- */

static const char located_text[] = "{\n"
                                   "  \"kind\": \"budget\",\n"
                                   "  \"na.me\": 1,\n"
                                   "  \"thresholds\": [\n"
                                   "    {\"at\": 80, \"action\": \"alert\"},\n"
                                   "    {\"at\": 90,\n"
                                   "     \"action\": \"blöck\"}\n"
                                   "  ],\n"
                                   "  \"scope\": {\"t\\u00e9am\": [1, [2, {\"x\": \"é\"}]]},\n"
                                   "  \"ladders\": {\"azure.openai\": [\"a\", \"b\"]}\n"
                                   "}\n";

struct locate_case {
    const char *path;
    bool found;
    int line, column;
};

Test(policy, locate)
{
    const struct locate_case cases[] = {
        {"", true, 1, 1},
        {"kind", true, 2, 11},
        {"na.me", true, 3, 12},
        {"thresholds", true, 4, 17},
        {"thresholds[0]", true, 5, 5},
        {"thresholds[0].action", true, 5, 26},
        {"thresholds[1].at", true, 6, 12},
        {"thresholds[1].action", true, 7, 16},
        {"thresholds[2]", false, 0, 0},
        {"thresholds[x]", false, 0, 0},
        {"scope.téam", true, 9, 26},
        {"scope.téam[1][1].x", true, 9, 40},
        {"ladders.azure.openai", true, 10, 31},
        {"ladders.azure.openai[1]", true, 10, 37},
        {"ladders.azure", false, 0, 0},
        {"missing", false, 0, 0},
        {"kind.x", false, 0, 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        int line = 0, column = 0;
        bool found =
            policy_locate(located_text, strlen(located_text), cases[i].path, &line, &column);
        cr_expect_eq(found, cases[i].found, "%s", cases[i].path);
        if (found && cases[i].found)
            cr_expect(line == cases[i].line && column == cases[i].column, "%s: %d:%d, want %d:%d",
                      cases[i].path, line, column, cases[i].line, cases[i].column);
    }
    int line, column;
    cr_expect(!policy_locate("{\"a\": ", 6, "a", &line, &column));
    cr_expect(!policy_locate("", 0, "", &line, &column));
}

/* ---- files ------------------------------------------------------------------ */

struct seen {
    int budgets, policies;
    char names[8][POLICY_NAME_MAX + 1];
};

static void on_budget(void *arg, const struct budget *b)
{
    struct seen *s = arg;
    snprintf(s->names[s->budgets + s->policies], sizeof(s->names[0]), "%s", b->name);
    s->budgets++;
}

static void on_policy(void *arg, const struct routing_policy *p)
{
    struct seen *s = arg;
    snprintf(s->names[s->budgets + s->policies], sizeof(s->names[0]), "%s", p->name);
    s->policies++;
}

static const char file_text[] =
    "[\n"
    "  {\"kind\": \"budget\", \"name\": \"one\", \"scope\": {\"org\": \"acme\"},\n"
    "   \"amount_usd\": \"100\", \"period\": \"month\",\n"
    "   \"thresholds\": [{\"at\": 100, \"action\": \"deny\"}]},\n"
    "  {\"kind\": \"budget\", \"name\": \"two\", \"scope\": {\"org\": \"acme\"},\n"
    "   \"amount_usd\": \"100\", \"period\": \"month\",\n"
    "   \"thresholds\": [\n"
    "     {\"at\": 50, \"action\": \"alert\"},\n"
    "     {\"at\": 90, \"action\": \"stop\"}]},\n"
    "  {\"kind\": \"policy\", \"name\": \"three\", \"scope\": {\"team\": \"search\"}},\n"
    "  {\"kind\": \"quota\"},\n"
    "  {\"name\": \"no-kind\"},\n"
    "  {\"kind\": \"policy\", \"name\": \"four\", \"scope\": {\"team\": \"search\"},\n"
    "   \"ladders\": {\"openai\": [\"a\", \"b\", null]},\n"
    "   \"target_mix\": {\"premium\": 50, \"standard\": 50}},\n"
    "  7\n"
    "]\n";

Test(policy, parse_file_array_with_lines)
{
    struct policy_error errs[8];
    struct seen seen = {0};
    size_t n = 99;
    int failed = policy_parse_file(file_text, strlen(file_text), on_budget, on_policy, &seen, errs,
                                   ARRAY_LEN(errs), &n);

    cr_expect_eq(failed, 5);
    cr_assert_eq(n, 5);
    cr_expect_eq(seen.budgets, 1);
    cr_expect_eq(seen.policies, 1);
    cr_expect_str_eq(seen.names[0], "one");
    cr_expect_str_eq(seen.names[1], "three");
    cr_expect_str_eq(errs[0].path, "[1].thresholds[1].action");
    cr_expect(strstr(errs[0].message, "alert, downgrade, deny") != NULL);
    cr_expect_eq(errs[0].line, 9);
    cr_expect_eq(errs[0].column, 27);
    cr_expect_str_eq(errs[1].path, "[3].kind");
    cr_expect(strstr(errs[1].message, "\"budget\" or \"policy\"") != NULL);
    cr_expect_eq(errs[1].line, 11);
    cr_expect_eq(errs[1].column, 12);
    /* A missing member is placed at the nearest thing that is there: its document. */
    cr_expect_str_eq(errs[2].path, "[4].kind");
    cr_expect_eq(errs[2].line, 12);
    cr_expect_eq(errs[2].column, 3);
    cr_expect_str_eq(errs[3].path, "[5].target_mix");
    cr_expect(strstr(errs[3].message, "economy") != NULL);
    cr_expect_eq(errs[3].line, 15);
    cr_expect_eq(errs[3].column, 18);
    cr_expect_str_eq(errs[4].path, "[6]");
    cr_expect_eq(errs[4].line, 16);
    cr_expect_eq(errs[4].column, 3);

    /* errs_cap limits what is kept, not what is counted. */
    failed = policy_parse_file(file_text, strlen(file_text), NULL, NULL, NULL, errs, 2, &n);
    cr_expect_eq(failed, 5);
    cr_expect_eq(n, 2);
}

Test(policy, parse_file_single_document_and_bad_json)
{
    const char one[] = "{\"kind\": \"policy\", \"name\": \"p\",\n \"scope\": {\"org\": \"A\"}}";
    const char bad[] = "[\n  {\"kind\": \"policy\",\n  }\n]";
    struct policy_error errs[4];
    size_t n;

    cr_expect_eq(policy_parse_file(one, strlen(one), NULL, NULL, NULL, errs, 4, &n), 1);
    cr_assert_eq(n, 1);
    cr_expect_str_eq(errs[0].path, "scope.org");
    cr_expect_eq(errs[0].line, 2);
    cr_expect_eq(errs[0].column, 19);

    cr_expect_eq(policy_parse_file(bad, strlen(bad), NULL, NULL, NULL, errs, 4, &n), -1);
    cr_assert_eq(n, 1);
    cr_expect_eq(errs[0].line, 3);
    cr_expect(strstr(errs[0].message, "not JSON") != NULL);

    cr_expect_eq(policy_parse_file("[]", 2, NULL, NULL, NULL, errs, 4, &n), 0);
    cr_expect_eq(n, 0);
    cr_expect_eq(policy_parse_file("{\"a\":1,\"a\":2}", 13, NULL, NULL, NULL, errs, 4, &n), -1);
}

/* Every file shipped in policies/examples parses without an error. */
Test(policy, shipped_examples)
{
    DIR *d = opendir("policies/examples");
    struct dirent *e;
    int files = 0;

    cr_assert(d != NULL, "run from the repository root");
    while ((e = readdir(d))) {
        char path[512], *text;
        size_t len, n;
        long size;
        FILE *f;
        struct policy_error errs[4];
        struct seen seen = {0};

        if (!strstr(e->d_name, ".json"))
            continue;
        snprintf(path, sizeof(path), "policies/examples/%s", e->d_name);
        cr_assert((f = fopen(path, "rb")) != NULL, "%s", path);
        fseek(f, 0, SEEK_END);
        size = ftell(f);
        fseek(f, 0, SEEK_SET);
        text = malloc((size_t)size + 1);
        len = fread(text, 1, (size_t)size, f);
        fclose(f);
        int failed = policy_parse_file(text, len, on_budget, on_policy, &seen, errs, 4, &n);
        cr_expect_eq(failed, 0, "%s: %s at %d:%d: %s", path, n ? errs[0].path : "",
                     n ? errs[0].line : 0, n ? errs[0].column : 0, n ? errs[0].message : "");
        cr_expect(seen.budgets + seen.policies > 0, "%s has no documents", path);
        free(text);
        files++;
    }
    closedir(d);
    cr_expect(files >= 2);
}
