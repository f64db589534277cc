/*
 * metrics: request counters and latency histograms per route, and server-wide
 * counters, rendered in the Prometheus text format. Lock-free: every counter is
 * a relaxed atomic, so any thread may record while another renders.
 */
#ifndef TOLLGATE_METRICS_H
#define TOLLGATE_METRICS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Prepares n route slots labelled by names[i] (copied by pointer: the strings
 * must outlive the process). Returns false if out of memory. Call once.
 */
bool metrics_init(int n, const char *const *names) __attribute__((warn_unused_result));

/* Records one finished request on route slot i (ignored if out of range). */
void metrics_request(int route, const char *method, int status, double seconds);

/* Counts one Postgres error (connection or query). */
void metrics_db_error(void);

/* Server-wide counters beyond HTTP. */
enum metric_counter {
    M_EVENTS_ACCEPTED,
    M_EVENTS_DUPLICATE,
    M_EVENTS_CONFLICT,
    M_EVENTS_REJECTED,
    M_EVENTS_SPOOLED,
    M_EVENTS_UNAVAILABLE,
    M_EVENTS_FAILED,
    M_EVENTS_UNPRICED,
    M_INGEST_COMMITS,
    M_EVENTS_REPRICED,
    M_COUNTERS
};

/* Adds n to counter c. */
void metrics_add(enum metric_counter c, unsigned long n);

/* Sets the spool's size in bytes (a gauge). */
void metrics_set_spool_bytes(long long bytes);

/* Sets gauges read at render time. */
void metrics_set_db_pool(long size, long in_use);

/*
 * Renders all metrics. Returns a malloc'd NUL-terminated string and its
 * length in *len, or NULL when out of memory.
 */
char *metrics_render(size_t *len);

#endif
