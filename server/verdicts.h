/*
 * verdicts: the server's side of the ledger (policies/ledger.h). It owns the
 * one ledger of the process and keeps it true to Postgres from a thread of
 * its own: it loads budgets and policies at start and again whenever a
 * NOTIFY on tollgate_policies says they changed (on any instance), loads
 * each budget's spend from the hourly rollups, rolls periods over, expires
 * holds, reloads every budget's spend every --ledger-reconcile seconds (the
 * spend of other instances), and writes verdict counts to verdict_hourly.
 * Ingest hands it every committed event; the commit gate makes a reload and
 * the writer's commits exact with respect to each other. Thread-safe.
 */
#ifndef TOLLGATE_VERDICTS_H
#define TOLLGATE_VERDICTS_H

#include "app.h"
#include "ledger.h"
#include "money.h"
#include "tz.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ingest_row;

/*
 * Creates the ledger, loads budgets, policies and spend (so the first
 * verdict is already right), and starts the sync thread. On failure returns
 * false with the reason in err.
 */
bool verdicts_start(const struct config *cfg, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Sets the settings verdicts_zone reads (--zoneinfo-dir) without starting anything: for the CLI. */
void verdicts_configure(const struct config *cfg);

/* Stops the thread (flushing verdict counts) and frees the ledger. */
void verdicts_stop(void);

/* The ledger, or NULL when verdicts_start was not called (CLI, demo). */
struct ledger *verdicts_ledger(void);

/*
 * The time zone called name, read from --zoneinfo-dir once and kept for the
 * life of the process; NULL when there is no such zone (or the name is not
 * a zone name).
 */
const struct tz *verdicts_zone(const char *name);

/*
 * The commit gate. The writer (and corrections) enter it before they write
 * and leave it after they have applied what committed; a reload closes it
 * only for as long as it takes to mark the ledger and take its snapshot.
 * No-ops when verdicts are not started.
 */
void verdicts_gate_enter(void);
void verdicts_gate_leave(void);

/* Applies committed rows (only those with outcome ROW_ACCEPTED) to the ledger. */
void verdicts_apply_rows(const struct ingest_row *rows, size_t n);

/*
 * Asks for every budget's spend to be reloaded soon: after a correction,
 * whose change is not applied to the ledger directly.
 */
void verdicts_resync(void);

/*
 * Fills the team path of a call: team_id and its ancestors, from the team
 * tree the sync thread keeps (a team it has not seen yet counts as a top
 * team until the next reload).
 */
void verdicts_team_path(int64_t team_id, struct call_scope *cs);

/*
 * The team (or the project under parent) called slug in org, from the team
 * tree of the last reload: what verdicts fall back on while Postgres is
 * unreachable. And whether team id lies in root's subtree, from that tree.
 */
bool verdicts_find_team(int64_t org_id, const char *slug, bool project, int64_t parent,
                        int64_t *id);
bool verdicts_team_within(int64_t id, int64_t root);

/* Counts a verdict for verdict_hourly (team_id 0 = unknown scope). */
void verdicts_count(int64_t org_id, int64_t team_id, const char *provider,
                    const char *requested_model, const struct verdict *v, money_t est_requested,
                    int64_t now);

/*
 * The committed spend (effective cost) of each load's scope in [lo, hi)
 * (their own start and end are ignored; only kind LEDGER_LOAD_BUDGET is
 * read), read on c with one statement per scope kind, as the ledger loads
 * it: hourly rollups from the hour lo falls in, raw events for key and tag
 * scopes. Fills out[0..n) on success; on failure (the error on c, or out of
 * memory) returns false and leaves out untouched.
 */
struct db_conn;
bool verdicts_spend_window(struct db_conn *c, const struct ledger_load *loads, size_t n, int64_t lo,
                           int64_t hi, money_t *out) __attribute__((warn_unused_result));

/* Asks the sync thread to reload budgets and policies now (after a local change). */
void verdicts_poke(void);

#endif
