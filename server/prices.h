/*
 * prices: the price catalog as the server holds it. Postgres (price_providers,
 * price_models, prices) is the source of truth; this module loads it into a
 * pure `struct catalog`, swaps in a new one when it changes, imports catalog
 * files, and prices events, including unpriced ones whose price arrived
 * later. Readers take the catalog with prices_lock and give it back with
 * prices_unlock; a reload waits for them. Thread-safe.
 */
#ifndef TOLLGATE_PRICES_H
#define TOLLGATE_PRICES_H

#include "pricing.h"
#include "writer.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/* Loads the catalog from Postgres. Call once before serving. */
bool prices_init(PGconn *pg, char *err, size_t errlen) __attribute__((warn_unused_result));
void prices_shutdown(void);

/* The current catalog, valid until prices_unlock. Never NULL after prices_init. */
const struct catalog *prices_lock(void);
void prices_unlock(void);

/*
 * Reloads when the tables changed since the last load (or always, with
 * force). *reloaded says whether it did. On failure the old catalog stays.
 */
bool prices_refresh(PGconn *pg, bool force, bool *reloaded, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Prices row from its event at the event's own time: canonical provider
 * and model, the price version, list and effective cost. Leaves it
 * unpriced (price_id 0, costs 0, names as sent) when the model is unknown.
 */
void prices_price_row(const struct catalog *c, struct ingest_row *row);

struct prices_import_result {
    int providers;
    int models;
    int new_prices; /* rows added: new models, or prices that changed */
    long long repriced;
};

/*
 * Loads a catalog file into Postgres in one transaction (idempotent: an
 * unchanged file adds nothing; a changed price becomes a new row effective
 * from now, so past events keep their price), records it in price_imports,
 * then reprices unpriced events.
 */
bool prices_import(PGconn *pg, const char *path, struct prices_import_result *res, char *err,
                   size_t errlen) __attribute__((warn_unused_result));

/*
 * Prices every live unpriced event that now has a price, moving it in the
 * rollups from its as-sent model to its priced one. *repriced counts them.
 */
bool prices_reprice(PGconn *pg, long long *repriced, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* USD per million tokens as exact text ("2.5"), from femto-USD per token. */
void prices_format_mtok(int64_t per_token, char buf[MONEY_BUF]);

#endif
