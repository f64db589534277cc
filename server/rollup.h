/*
 * rollup: the SQL shared by every writer of spend_hourly (ingest, repricing,
 * corrections). Rollups change only by adding signed amounts, so concurrent
 * writers commute, and they always equal the sum of the live events.
 */
#ifndef TOLLGATE_ROLLUP_H
#define TOLLGATE_ROLLUP_H

/* The rollup's columns, in the order every INSERT ... SELECT gives them. */
#define ROLLUP_COLUMNS                                                                             \
    "(org_id, hour, team_id, project_id, user_id, provider, model, mode, requests, errors,"        \
    " unpriced, input_uncached, cache_read, cache_write_5m, cache_write_1h, output, reasoning,"    \
    " list_cost, effective_cost)"

/* Adds the inserted amounts to an existing row (the table is aliased h). */
#define ROLLUP_ADD                                                                                 \
    " ON CONFLICT (org_id, hour, team_id, project_id, user_id, provider, model, mode) DO UPDATE"   \
    " SET requests = h.requests + excluded.requests, errors = h.errors + excluded.errors,"         \
    " unpriced = h.unpriced + excluded.unpriced,"                                                  \
    " input_uncached = h.input_uncached + excluded.input_uncached,"                                \
    " cache_read = h.cache_read + excluded.cache_read,"                                            \
    " cache_write_5m = h.cache_write_5m + excluded.cache_write_5m,"                                \
    " cache_write_1h = h.cache_write_1h + excluded.cache_write_1h,"                                \
    " output = h.output + excluded.output, reasoning = h.reasoning + excluded.reasoning,"          \
    " list_cost = h.list_cost + excluded.list_cost,"                                               \
    " effective_cost = h.effective_cost + excluded.effective_cost"

#endif
