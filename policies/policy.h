/*
 * policy: budgets and routing policies, as declarative JSON documents (the
 * admin API's bodies and the files `tollgate policy apply` reads) and as
 * validated structs. Pure: documents come in as jansson values or text;
 * scopes are names here, and the server resolves them to ids.
 *
 * The grammar is in policies/README.md. Parsing checks everything that
 * needs no database (names, amounts, periods, thresholds, ladders, mix
 * shares, patterns); the server checks that scopes and zones exist.
 */
#ifndef TOLLGATE_POLICY_H
#define TOLLGATE_POLICY_H

#include "money.h"
#include "period.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POLICY_NAME_MAX       200 /* a budget's name */
#define POLICY_SLUG_MAX       63  /* a routing policy's name (a slug) */
#define POLICY_SCOPE_NAME_MAX 256 /* team/project slug, user id, tag key or value */
#define POLICY_MODEL_MAX      200
#define POLICY_THRESHOLDS_MAX 16
#define POLICY_TIERS_MAX      4
#define POLICY_LADDERS_MAX    64 /* chains in one policy, all providers */
#define POLICY_PATTERNS_MAX   64 /* in an allow or deny list */

enum scope_kind { SCOPE_ORG = 0, SCOPE_TEAM, SCOPE_PROJECT, SCOPE_USER, SCOPE_KEY, SCOPE_TAG };

/* "org", "team", "project", "user", "key", "tag". */
const char *policy_scope_kind_name(enum scope_kind k);
bool policy_parse_scope_kind(const char *s, enum scope_kind *out)
    __attribute__((warn_unused_result));

/*
 * What a budget or policy applies to. A document names it ({"team":
 * "search"}, {"key": 42}, {"tag": {"env": "prod"}}); the server fills id:
 * orgs.id for org, teams.id for team and project, api_keys.id for key.
 * Users are matched by their external id (name), tags by key and value.
 */
struct scope {
    enum scope_kind kind;
    char name[POLICY_SCOPE_NAME_MAX + 1];      /* slug, user id; tag key; key id in decimal */
    char tag_value[POLICY_SCOPE_NAME_MAX + 1]; /* SCOPE_TAG only */
    int64_t id;                                /* 0 until resolved; unused for user and tag */
};

/* Strictness order: a larger value is stricter. */
enum action { ACTION_NONE = 0, ACTION_ALERT, ACTION_DOWNGRADE, ACTION_DENY };
const char *policy_action_name(enum action a);

struct threshold {
    int32_t percent_x100; /* 80% is 8000; 0 < percent <= 1000% */
    enum action action;   /* never ACTION_NONE */
};

enum fail_mode { FAIL_OPEN = 0, FAIL_CLOSED };

struct budget {
    int64_t id;     /* budgets.id; 0 until stored */
    int64_t org_id; /* 0 until resolved */
    char name[POLICY_NAME_MAX + 1];
    struct scope scope;
    money_t amount; /* > 0 ... or 0: every priced call is over */
    enum period_kind period;
    char timezone[64];                                  /* IANA name; "UTC" by default */
    int anchor;                                         /* see struct period_rule; 1 by default */
    int64_t window_start, window_end;                   /* PERIOD_FIXED: unix seconds */
    struct threshold thresholds[POLICY_THRESHOLDS_MAX]; /* sorted by percent, then action */
    size_t n_thresholds;                                /* >= 1 */
    enum fail_mode fail_mode; /* what a deny threshold does when the ledger is stale */
    bool deny_critical;       /* deny thresholds deny critical calls too (default false) */
    bool deny_free;           /* deny thresholds deny calls that cost nothing (default false) */
    bool enabled;             /* default true */
};

/*
 * A chain of models of one provider, one per tier, top tier first; an
 * empty string is a tier the chain has no model for. Downgrading a model
 * moves it to the next non-empty rung below it.
 */
struct ladder {
    char provider[64];
    char models[POLICY_TIERS_MAX][POLICY_MODEL_MAX + 1];
};

enum mix_basis { MIX_BY_SPEND = 0, MIX_BY_REQUESTS };

struct routing_policy {
    int64_t id;     /* policies.id; 0 until stored */
    int64_t org_id; /* 0 until resolved */
    char name[POLICY_SLUG_MAX + 1];
    struct scope scope;
    char tiers[POLICY_TIERS_MAX][32]; /* top first; default premium, standard, economy */
    size_t n_tiers;                   /* 2..POLICY_TIERS_MAX */
    struct ladder ladders[POLICY_LADDERS_MAX];
    size_t n_ladders;
    /* Target mix: share of each tier in basis points (sum 10000); off when !mix_set. */
    bool mix_set;
    enum mix_basis mix_basis;
    int32_t mix_bp[POLICY_TIERS_MAX];
    enum period_kind mix_period; /* day, week, month or quarter; month by default */
    char mix_timezone[64];
    int64_t input_cap;      /* estimated input tokens per call; 0 = none */
    enum action cap_action; /* ACTION_DOWNGRADE or ACTION_DENY when input_cap > 0 */
    /* Model patterns: exact (case-insensitive) or a prefix ending in '*'. */
    char allow[POLICY_PATTERNS_MAX][POLICY_MODEL_MAX + 1];
    size_t n_allow; /* 0 = every model allowed */
    char deny[POLICY_PATTERNS_MAX][POLICY_MODEL_MAX + 1];
    size_t n_deny;
    bool critical_bypass; /* critical calls skip downgrades (default true) */
    bool enabled;         /* default true */
};

/* Where a document went wrong: the JSON path of the member at fault and why. */
struct policy_error {
    char path[128];    /* e.g. "thresholds[1].action"; "" for the whole document */
    char message[256]; /* a sentence, e.g. "must be one of alert, downgrade, deny" */
    int line, column;  /* 1-based position in the text; 0 when parsed from a value */
};

enum policy_doc_kind { POLICY_DOC_BUDGET = 0, POLICY_DOC_POLICY };

/*
 * Parses a budget document. kind_required: files must say "kind": "budget";
 * the admin API's route implies it (a "kind" member, if present, must still
 * match). Unknown members are refused. On failure returns false with err
 * set and *out unspecified.
 */
bool policy_parse_budget(const json_t *doc, bool kind_required, struct budget *out,
                         struct policy_error *err) __attribute__((warn_unused_result));

/* The same for a routing policy document ("kind": "policy"). */
bool policy_parse_routing(const json_t *doc, bool kind_required, struct routing_policy *out,
                          struct policy_error *err) __attribute__((warn_unused_result));

/*
 * The canonical document of a parsed budget or policy (every member, defaults
 * filled in, amounts as decimal strings), as the admin API returns it and as
 * Postgres keeps it. New reference; NULL only when out of memory.
 */
json_t *policy_budget_json(const struct budget *b);
json_t *policy_routing_json(const struct routing_policy *p);

/*
 * One file of a policy directory: one document or an array of documents,
 * each a budget or a policy by its "kind". Calls budget_fn or policy_fn for
 * each valid document, in order. Every error in the text is reported with its
 * line and column (found by re-scanning the text for the member's path):
 * returns the number of documents that failed, or -1 when the text is not
 * JSON (err then has jansson's position), filling at most errs_cap errors.
 */
int policy_parse_file(const char *text, size_t len,
                      void (*budget_fn)(void *arg, const struct budget *b),
                      void (*policy_fn)(void *arg, const struct routing_policy *p), void *arg,
                      struct policy_error *errs, size_t errs_cap, size_t *n_errs);

/*
 * The 1-based line and column of the value at path (the syntax of
 * policy_error.path: members joined by '.', array indices in brackets) in
 * JSON text; false when the path is not there or the text is not JSON.
 */
bool policy_locate(const char *text, size_t len, const char *path, int *line, int *column);

/* True if model matches the pattern: equal ignoring case, or a prefix ending in '*'. */
bool policy_pattern_match(const char *pattern, const char *model);

/*
 * The tier index (0 = top) of provider/model in p's ladders, or -1 when no
 * chain has it. Names compare ignoring case. The provider must equal the
 * ladder's (after the server has resolved aliases to catalog ids).
 */
int policy_tier_of(const struct routing_policy *p, const char *provider, const char *model);

/*
 * The model one rung below provider/model in the first chain that has it,
 * or NULL when it has none below (or is not in any chain).
 */
const char *policy_downgrade(const struct routing_policy *p, const char *provider,
                             const char *model);

#endif
