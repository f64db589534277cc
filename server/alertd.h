/*
 * alertd: the alert evaluator that writes the alert outbox. A thread of
 * its own, on a connection of its own, wakes every --alert-interval seconds,
 * asks policies/alerts.h which alerts the ledger's budgets make due, and
 * writes each one (an alerts row and one pending webhook_deliveries row per
 * matching endpoint) in one transaction, once: the unique (org_id,
 * dedup_key) decides, an in-memory set of keys only saves round trips. The
 * delivery of those rows is another module's job. Denials reach it through
 * a small queue that the verdict path fills without waiting on Postgres.
 * Thread-safe.
 */
#ifndef TOLLGATE_ALERTD_H
#define TOLLGATE_ALERTD_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Starts the evaluator (after verdicts_start: it reads the ledger). On
 * failure returns false with the reason in err and starts nothing.
 */
bool alertd_start(const struct config *cfg, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Stops the thread (it finishes the round it is in) and frees everything. */
void alertd_stop(void);

/*
 * Notes that budget_id denied a call in the period starting at
 * period_start: the evaluator writes one denial alert per budget and
 * period. Never blocks on I/O; a full queue drops the note (the next denial
 * brings it back). A no-op when the evaluator is not running.
 */
void alertd_note_denial(int64_t budget_id, int64_t period_start);

#endif
