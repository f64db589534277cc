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

/* Sets gauges read at render time. */
void metrics_set_db_pool(long size, long in_use);

/*
 * Renders all metrics. Returns a malloc'd NUL-terminated string and its
 * length in *len, or NULL when out of memory.
 */
char *metrics_render(size_t *len);

#endif
