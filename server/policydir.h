/*
 * policydir: a directory of policy files, as `tollgate policy check` and
 * `tollgate policy apply` read it: every *.json file in it (not in
 * subdirectories), in name order, each one document or an array of them.
 */
#ifndef TOLLGATE_POLICYDIR_H
#define TOLLGATE_POLICYDIR_H

#include "policy.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Where a document came from, for messages: "dir/file.json:12:5". */
struct policydir_origin {
    char file[512];
    int line, column; /* of the document's "scope" member */
};

struct policydir {
    struct budget *budgets;
    struct policydir_origin *budget_at;
    size_t n_budgets;
    struct routing_policy *policies;
    struct policydir_origin *policy_at;
    size_t n_policies;
};

/*
 * Reads and validates every file of dir: syntax and grammar (with the line
 * and column of each error), names unique per kind across the directory,
 * and time zones that exist. Prints each error as "file:line:column: path:
 * message" to errs. Returns the number of errors (0: *out holds every
 * document); on errors *out is empty. -1 when dir cannot be read.
 */
int policydir_load(const char *dir, struct policydir *out, FILE *errs);

void policydir_free(struct policydir *d);

#endif
