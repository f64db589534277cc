/*
 * demo: loads a realistic month of spend for the `default` org: six teams
 * with projects and users, a price catalog, monthly budgets (some near or
 * over), and about 150,000 usage events with hourly rollups, mixing
 * routing downgrades, prompt caching, batch and priority calls, errors and
 * an unpriced model. Idempotent: event ids are derived from the hour, so a
 * rerun adds only hours not loaded before.
 */
#ifndef TOLLGATE_DEMO_H
#define TOLLGATE_DEMO_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * Loads the demo in one transaction on pg. With if_empty, does nothing when
 * the database has any usage already. Prints a one-line summary on stdout.
 * On failure nothing is loaded and err says why.
 */
bool demo_load(PGconn *pg, bool if_empty, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
