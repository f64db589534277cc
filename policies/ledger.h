/*
 * ledger: the in-memory state verdicts are decided on. It holds the
 * enabled budgets and routing policies, each budget's committed spend and
 * held reservations in its current period, each policy's tier mix in its
 * mix period, and the holds themselves; and it evaluates verdicts against
 * them. Postgres is the source of truth: the server loads spend into the
 * ledger (ledger_loads / ledger_mark / ledger_set_*), applies every
 * committed event (ledger_apply) and calls ledger_tick about once a second.
 *
 * Pure: no I/O, no clock (every call takes "now"), no randomness (the
 * server names reservations). Thread-safe: one mutex guards everything, and
 * a verdict checks and reserves under it, so concurrent verdicts can never
 * together overshoot a deny threshold by more than one call's estimate. The
 * estimate callback runs under that mutex and must not call the ledger.
 * Time zones handed in must outlive the ledger.
 */
#ifndef TOLLGATE_LEDGER_H
#define TOLLGATE_LEDGER_H

#include "money.h"
#include "policy.h"
#include "tz.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LEDGER_TEAM_DEPTH 8  /* a team and up to 7 ancestors */
#define LEDGER_RSV_MAX    64 /* bytes of a reservation id, with its NUL */

/*
 * Where a call or event sits: its org, its team and the team's ancestors,
 * its project, user, key and tags. Budgets apply to every scope on it.
 */
struct call_scope {
    int64_t org_id;
    int64_t teams[LEDGER_TEAM_DEPTH]; /* the team first, then its parent, ... */
    size_t n_teams;                   /* 0 = no team */
    int64_t project_id;               /* 0 = none */
    const char *user;                 /* NULL or "" = none */
    int64_t key_id;                   /* 0 = none */
    const json_t *tags;               /* an object of strings, or NULL */
};

struct ledger;

struct ledger *ledger_new(void);
void ledger_free(struct ledger **lp);

/*
 * Replaces the budgets and policies (copied; disabled ones are dropped).
 * zones[i] is budgets[i]'s time zone and mix_zones[i] policies[i]'s mix
 * zone (NULL = UTC). A budget that keeps its id, scope and period rule keeps
 * its spend and holds; any other starts at zero and is pending a load, as
 * is a policy whose ladders, mix or scope changed. Holds on a budget that
 * is gone are dropped from it. Returns false (nothing changed) only when out
 * of memory.
 */
bool ledger_replace(struct ledger *l, const struct budget *budgets, const struct tz *const *zones,
                    size_t n_budgets, const struct routing_policy *policies,
                    const struct tz *const *mix_zones, size_t n_policies, int64_t now)
    __attribute__((warn_unused_result));

/* ---- loading spend from Postgres --------------------------------------- */

enum ledger_load_kind { LEDGER_LOAD_BUDGET = 0, LEDGER_LOAD_MIX };

/* One account the server must read: spend in [start, end) on scope. */
struct ledger_load {
    enum ledger_load_kind kind;
    int64_t id; /* budget id or policy id */
    int64_t org_id;
    struct scope scope;
    int64_t start, end; /* unix seconds */
};

/*
 * Marks the start of a load: from here on, spend applied to an account is
 * also remembered as "since the mark", so that a value read from Postgres
 * after the mark (in a snapshot taken after it) plus that remainder is
 * exact. Returns the epoch the ledger_set_* calls must pass. One loader at a
 * time.
 */
uint64_t ledger_mark(struct ledger *l);

/*
 * The accounts to read: all of them (a reconcile) or only those pending
 * (new, changed or rolled over). Writes at most cap, returns how many there
 * are in all.
 */
size_t ledger_loads(struct ledger *l, bool all, struct ledger_load *out, size_t cap);

/*
 * Sets a budget's committed spend in the period starting at start to
 * db_spent (read after the mark of epoch) plus what was applied since the
 * mark. Ignored when the budget is gone, its period is no longer the one
 * starting at start, or epoch is not the latest mark.
 */
void ledger_set_budget_spend(struct ledger *l, uint64_t epoch, int64_t budget_id, int64_t start,
                             money_t db_spent);

/* The same for a policy's tier mix: spend and requests per tier (index 0 = top). */
void ledger_set_mix(struct ledger *l, uint64_t epoch, int64_t policy_id, int64_t start,
                    const money_t tier_spend[POLICY_TIERS_MAX],
                    const int64_t tier_requests[POLICY_TIERS_MAX]);

/*
 * Ends a load: with ok, the ledger counts as fresh as of now (see
 * verdict_request.max_staleness); accounts that got no ledger_set_* stay
 * pending.
 */
void ledger_synced(struct ledger *l, uint64_t epoch, bool ok, int64_t now);

/* ---- spend as it commits ----------------------------------------------- */

struct ledger_spend {
    struct call_scope scope;
    const char *provider; /* canonical, for the tier mix */
    const char *model;
    int64_t ts;             /* the event's time, unix seconds: picks the period */
    money_t cost;           /* effective cost; negative takes spend back (a void) */
    int64_t requests;       /* +1 for an event, -1 for a void, 0 for an amend's delta */
    const char *request_id; /* settles the hold made for it; NULL or "" = none */
};

/*
 * Adds committed spend to every budget and policy mix whose scope is on the
 * path and whose current period contains ts, and settles (drops) the hold
 * with that request id, if any. A mix counts only models in the policy's
 * ladders, at their tier.
 */
void ledger_apply(struct ledger *l, const struct ledger_spend *s);

/*
 * Expires holds past their time and rolls accounts whose period ended into
 * the next one (spend zero, pending a load; live holds stay reserved until
 * they settle or expire). Returns how many accounts are pending a load.
 */
size_t ledger_tick(struct ledger *l, int64_t now);

/* Drops a live hold. False when there is none with that id (expired, settled, unknown). */
bool ledger_release(struct ledger *l, const char *reservation_id, money_t *released);

/* ---- verdicts ----------------------------------------------------------- */

enum priority { PRIORITY_INTERACTIVE = 0, PRIORITY_BATCH, PRIORITY_CRITICAL };
bool ledger_parse_priority(const char *s, enum priority *out) __attribute__((warn_unused_result));
const char *ledger_priority_name(enum priority p);

enum decision { DECISION_ALLOW = 0, DECISION_DOWNGRADE, DECISION_DENY };
const char *ledger_decision_name(enum decision d);

struct verdict_request {
    struct call_scope scope;
    const char *provider; /* canonical catalog id when the server could resolve it */
    const char *model;
    int64_t input_tokens;      /* estimated, >= 0 */
    int64_t max_output_tokens; /* >= 0 */
    enum priority priority;
    bool reserve;
    const char *request_id;     /* with reserve: the usage event's request_id that settles it */
    const char *reservation_id; /* with reserve: the id to give the hold (< LEDGER_RSV_MAX) */
    int64_t hold_ttl;           /* seconds a hold lives unless settled or released */
    int64_t max_staleness;      /* seconds since the last sync before fail modes apply */
    /* The estimated cost of the call at provider/model; *priced false when unknown. */
    money_t (*estimate)(void *arg, const char *provider, const char *model, bool *priced);
    void *estimate_arg;
};

/* A snapshot of the budget that decided a verdict (or the tightest one). */
struct verdict_budget {
    int64_t id;
    char name[POLICY_NAME_MAX + 1];
    struct scope scope;
    money_t limit, spent, reserved; /* remaining = limit - spent - reserved (may be < 0) */
    int64_t period_start, period_end;
    int32_t threshold_x100; /* the threshold that acted; 0 = none */
    enum action action;     /* what it did; ACTION_NONE = nothing */
};

struct verdict {
    enum decision decision;
    char model[POLICY_MODEL_MAX + 1]; /* the model to call */
    char tier[32];                    /* its tier in the deciding policy; "" if none */
    /*
     * Machine code (a static string): allow: "within_budget", "no_budget",
     * "free_model", "critical_exempt", "stale_fail_open"; downgrade:
     * "budget_threshold", "budget_fit", "target_mix", "input_token_cap";
     * deny: "budget_exhausted", "model_denied", "model_not_allowed",
     * "input_token_cap", "stale_fail_closed". A downgrade that finds no
     * rung below the model (or no ladder) allows the model as is under the
     * downgrade's own code ("budget_threshold", "input_token_cap",
     * "target_mix"); a downgrade a critical call skips allows it as
     * "critical_exempt", as does a deny threshold it skips.
     */
    const char *reason_code;
    char reason[320]; /* one human sentence */
    /*
     * The deciding budget: the one whose threshold acted (for "budget_fit"
     * the one whose deny threshold the model asked for would cross, with
     * action ACTION_DOWNGRADE; for an exemption the one whose deny threshold
     * was skipped, with action ACTION_NONE); otherwise the budget on the path
     * with the highest used fraction after this call. spent and reserved are
     * as they were before this call's hold. has_budget false: none applies.
     */
    bool has_budget;
    struct verdict_budget budget;
    int64_t policy_id; /* the routing policy that acted, 0 = none */
    char policy_name[POLICY_SLUG_MAX + 1];
    money_t estimate; /* of the call at the chosen model */
    bool priced;      /* false: the model has no price; estimate is 0 */
    bool reserved;    /* a hold was made (reserve asked, decision not deny) */
    int64_t hold_expires;
};

/*
 * Decides a call. The rules, in order (policies/README.md has the prose):
 *  1. a deny-list or allow-list of any policy on the path: deny;
 *  2. the input-token cap (the smallest on the path): deny, or downgrade;
 *  3. the target mix of any policy on the path whose share of the call's
 *     tier is above target: downgrade;
 *  4. budgets: the strictest threshold that spent + reserved + the estimate
 *     at the candidate model would cross; a downgrade threshold moves the
 *     call one rung down; a deny threshold first tries the rungs below, and
 *     denies when none fits;
 *  5. critical calls skip downgrades when the policy says so, and deny
 *     thresholds unless the budget has deny_critical; calls that cost
 *     nothing skip deny thresholds unless deny_free.
 * A call moves at most one rung for rules 2 to 4 together, except to fit
 * under a deny threshold. With reserve, a call that is not denied holds its
 * estimate on every budget on its path until settled, released or expired.
 *
 * Details. Rungs come from the most specific policy on the path whose ladders
 * have the model (user, key and tag; project; the team, then its ancestors;
 * org), and a rung a list of rule 1 blocks is passed over. A threshold of
 * percent p is crossed when spent + reserved + estimate > amount x p / 100
 * (landing exactly on it is allowed); ties between budgets at the same action
 * go to the one with the least remaining. Whether a critical call skips a
 * downgrade follows critical_bypass of the policy giving the rungs (of the cap
 * or mix policy when none does). Calls priced at zero are "free"; an unpriced
 * model counts as costing 0 but is not free. Staleness applies when
 * max_staleness > 0 and the ledger was never synced or not within
 * max_staleness seconds, or a budget has been pending a load for longer than
 * that: a stale fail-closed budget with a deny threshold that would apply to
 * the call denies ("stale_fail_closed"); stale fail-open budgets are checked
 * from memory, and an allow that would be "within_budget" says
 * "stale_fail_open" instead. A reserve call first drops any live hold with
 * the same reservation id or request id (a retry replaces its hold, even when
 * the new verdict is a deny). A hold needs a reservation_id shorter than
 * LEDGER_RSV_MAX; without one, reserved stays false.
 */
void ledger_verdict(struct ledger *l, const struct verdict_request *rq, int64_t now,
                    struct verdict *out);

/* ---- reading ------------------------------------------------------------- */

struct budget_status {
    money_t limit, spent, reserved;
    int64_t period_start, period_end;
    int32_t used_x100; /* (spent + reserved) / limit, in hundredths of a percent */
    enum action state; /* the strictest threshold spent + reserved has crossed */
    size_t holds;      /* live holds on it */
    bool loaded;       /* false while pending a load */
};

/* The live state of a budget; false when the ledger has no such enabled budget. */
bool ledger_budget_status(struct ledger *l, int64_t budget_id, struct budget_status *out);

struct ledger_stats {
    size_t budgets, policies, holds, pending;
    int64_t last_sync; /* unix seconds; 0 = never */
    money_t held;      /* sum of live holds */
};
void ledger_stats(struct ledger *l, struct ledger_stats *out);

#endif
