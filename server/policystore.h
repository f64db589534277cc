/*
 * policystore: budgets and routing policies in Postgres, shared by the admin
 * API, `tollgate policy apply` and the server's ledger, so that all three
 * read and write them the same way. Budgets live in columns (budgets,
 * budget_thresholds); a routing policy as its canonical document (policies).
 * Every function runs on a borrowed connection, keeps any error on it, and
 * changes nothing when it fails.
 */
#ifndef TOLLGATE_POLICYSTORE_H
#define TOLLGATE_POLICYSTORE_H

#include "db.h"
#include "policy.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What Postgres holds: budgets and policies, each with its live flags. */
struct policy_set {
    struct budget *budgets;
    size_t n_budgets;
    struct routing_policy *policies;
    size_t n_policies;
};

void policystore_free(struct policy_set *s);

/*
 * Reads the budgets and policies of org (0 = every org); with enabled_only,
 * only the enabled ones. Scopes come back resolved (names and ids). A policy
 * whose stored document no longer parses, or whose scope is gone, is skipped
 * with a warning in the log. On failure *out is untouched.
 */
enum store_result policystore_load(struct db_conn *c, int64_t org_id, bool enabled_only,
                                   struct policy_set *out) __attribute__((warn_unused_result));

/*
 * Resolves the scope a document names, in org: fills s->id (and creates the
 * user row of a user scope). STORE_NOT_FOUND when the org, team, project or
 * key does not exist in org (a team named as a project, or the other way
 * round, is not found either).
 */
enum store_result policystore_resolve(struct db_conn *c, int64_t org_id, struct scope *s)
    __attribute__((warn_unused_result));

/*
 * Creates or replaces (by name) a budget whose scope is resolved. source is
 * "api" or "file". Sets *id and *created.
 */
enum store_result policystore_put_budget(struct db_conn *c, int64_t org_id, const struct budget *b,
                                         const char *source, int64_t *id, bool *created)
    __attribute__((warn_unused_result));

/* The same for a routing policy; *version is its version after the write. */
enum store_result policystore_put_policy(struct db_conn *c, int64_t org_id,
                                         const struct routing_policy *p, const char *source,
                                         int64_t *id, bool *created, int *version)
    __attribute__((warn_unused_result));

/* Deletes a budget or policy by name. STORE_NOT_FOUND when there is none. */
enum store_result policystore_delete(struct db_conn *c, int64_t org_id, enum policy_doc_kind kind,
                                     const char *name) __attribute__((warn_unused_result));

/*
 * Deletes the org's rows of kind written by `policy apply` (source 'file')
 * whose names are not in names[0..n). Sets *deleted.
 */
enum store_result policystore_prune(struct db_conn *c, int64_t org_id, enum policy_doc_kind kind,
                                    const char *const *names, size_t n, long *deleted)
    __attribute__((warn_unused_result));

#endif
