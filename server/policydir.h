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

/* Where a document came from: see policydir_where. */
struct policydir_origin {
    char file[512];
    size_t text;  /* the file's text, in policydir.texts */
    size_t index; /* the document's index in an array file */
    bool array;
};

struct policydir {
    struct budget *budgets;
    struct policydir_origin *budget_at;
    size_t n_budgets;
    struct routing_policy *policies;
    struct policydir_origin *policy_at;
    size_t n_policies;
    char **texts; /* every file's text, kept for policydir_where */
    size_t *text_lens;
    size_t n_texts;
};

/*
 * "file:line:column" of a document's "scope" member, for messages, into buf.
 * Found only when asked: locating every document up front would scan the
 * file once per document.
 */
const char *policydir_where(const struct policydir *d, const struct policydir_origin *o, char *buf,
                            size_t cap);

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
