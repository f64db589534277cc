/*
 * maint: the server's background upkeep on its own Postgres connection:
 * every few seconds it reloads the price catalog when the tables changed
 * (another instance, the CLI or the admin API changed them) and then prices
 * events that were unpriced. One thread; start once, stop once.
 */
#ifndef TOLLGATE_MAINT_H
#define TOLLGATE_MAINT_H

#include <stdbool.h>

/* Starts the thread; period_s between rounds. False if it could not start. */
bool maint_start(const char *url, int period_s) __attribute__((warn_unused_result));

/* Asks for a round now (after this instance changed prices). Any thread. */
void maint_poke(void);

/* Stops and joins the thread. */
void maint_stop(void);

#endif
