/*
 * webhooks: the delivery side of alerts. One thread with its own Postgres
 * connection and a libcurl multi handle claims due rows of
 * webhook_deliveries (FOR UPDATE SKIP LOCKED, with a one-minute lease, so
 * instances never send the same attempt at once and a crash mid-send is
 * retried after the lease), sends each alert's payload signed per Standard
 * Webhooks (or as a Slack message), and records the outcome: delivered, a
 * retry on the schedule in delivery.h, dead after the last attempt, or the
 * endpoint disabled on 410. Start once, stop once; webhooks_poke is
 * thread-safe.
 */
#ifndef TOLLGATE_WEBHOOKS_H
#define TOLLGATE_WEBHOOKS_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>

/*
 * Opens the thread's connection and starts it. cfg must outlive it. On
 * failure returns false with the reason in err, and nothing runs.
 */
bool webhooks_start(const struct config *cfg, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Asks the thread to look for due deliveries now (after this instance queued one). */
void webhooks_poke(void);

/*
 * Stops the thread. Requests in flight are abandoned and their deliveries
 * made due again at once (they may have arrived: delivery is at least
 * once). A no-op when not started.
 */
void webhooks_stop(void);

#endif
