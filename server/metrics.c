/*
 * metrics: fixed arrays of atomics, allocated once by metrics_init and never
 * freed (they live as long as the process). Status codes are counted in the
 * slots of codes[] below, anything else in "other".
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int codes[] = {200, 201, 204, 304, 400, 401, 403, 404,
                            405, 409, 413, 415, 422, 429, 500, 503};
#define N_CODES   (sizeof(codes) / sizeof(codes[0]))
#define N_METHODS 5 /* GET POST PUT PATCH DELETE, then other */

static const double buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                 0.05,   0.1,     0.25,   0.5,   1,      2.5,   5};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

static const char *const methods[N_METHODS + 1] = {"GET",   "POST",   "PUT",
                                                   "PATCH", "DELETE", "other"};

struct route_stats {
    atomic_ulong count[N_METHODS + 1][N_CODES + 1];
    atomic_ulong bucket[N_BUCKETS + 1]; /* non-cumulative; last is +Inf */
    atomic_ulong sum_us;
    atomic_ulong total;
};

static struct route_stats *stats;
static const char *const *route_names;
static int n_routes;
static atomic_ulong db_errors;
static atomic_ulong counters[M_COUNTERS];
static atomic_llong spool_bytes;

static const struct {
    const char *name, *help, *label;
} counter_info[M_COUNTERS] = {
    [M_EVENTS_ACCEPTED] = {"tollgate_usage_events_total", "Usage events by outcome.", "accepted"},
    [M_EVENTS_DUPLICATE] = {"tollgate_usage_events_total", NULL, "duplicate"},
    [M_EVENTS_CONFLICT] = {"tollgate_usage_events_total", NULL, "conflict"},
    [M_EVENTS_REJECTED] = {"tollgate_usage_events_total", NULL, "rejected"},
    [M_EVENTS_SPOOLED] = {"tollgate_usage_events_total", NULL, "spooled"},
    [M_EVENTS_UNAVAILABLE] = {"tollgate_usage_events_total", NULL, "unavailable"},
    [M_EVENTS_FAILED] = {"tollgate_usage_events_total", NULL, "failed"},
    [M_EVENTS_UNPRICED] = {"tollgate_usage_events_unpriced_total",
                           "Accepted usage events whose model had no price.", NULL},
    [M_INGEST_COMMITS] = {"tollgate_ingest_commits_total",
                          "Ingest transactions committed (one per group of requests).", NULL},
    [M_EVENTS_REPRICED] = {"tollgate_usage_events_repriced_total",
                           "Unpriced events priced later, when their price arrived.", NULL},
};

void metrics_add(enum metric_counter c, unsigned long n)
{
    if (c < M_COUNTERS)
        atomic_fetch_add_explicit(&counters[c], n, memory_order_relaxed);
}

void metrics_set_spool_bytes(long long bytes)
{
    atomic_store_explicit(&spool_bytes, bytes, memory_order_relaxed);
}
static atomic_long pool_size, pool_in_use;

bool metrics_init(int n, const char *const *names)
{
    stats = calloc((size_t)n, sizeof(*stats));
    if (!stats)
        return false;
    route_names = names;
    n_routes = n;
    return true;
}

static size_t method_slot(const char *m)
{
    for (size_t i = 0; i < N_METHODS; i++)
        if (m && strcmp(m, methods[i]) == 0)
            return i;
    return N_METHODS;
}

static size_t code_slot(int status)
{
    for (size_t i = 0; i < N_CODES; i++)
        if (codes[i] == status)
            return i;
    return N_CODES;
}

void metrics_request(int route, const char *method, int status, double seconds)
{
    struct route_stats *s;
    size_t b = 0;

    if (!stats || route < 0 || route >= n_routes)
        return;
    s = &stats[route];
    atomic_fetch_add_explicit(&s->count[method_slot(method)][code_slot(status)], 1,
                              memory_order_relaxed);
    while (b < N_BUCKETS && seconds > buckets[b])
        b++;
    atomic_fetch_add_explicit(&s->bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_us, (unsigned long)(seconds * 1e6), memory_order_relaxed);
    atomic_fetch_add_explicit(&s->total, 1, memory_order_relaxed);
}

void metrics_db_error(void)
{
    atomic_fetch_add_explicit(&db_errors, 1, memory_order_relaxed);
}

void metrics_set_db_pool(long size, long in_use)
{
    atomic_store_explicit(&pool_size, size, memory_order_relaxed);
    atomic_store_explicit(&pool_in_use, in_use, memory_order_relaxed);
}

/* A growable string; on allocation failure it sets oom and stops growing. */
struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->oom)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = b->cap * 2 + (size_t)n;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
}

static unsigned long rd(atomic_ulong *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

char *metrics_render(size_t *len)
{
    struct sbuf b = {malloc(8192), 0, 8192, false};

    if (!b.p)
        return NULL;
    b.p[0] = '\0';
    sb_printf(&b, "# HELP tollgate_http_requests_total HTTP requests by route, method and "
                  "status.\n# TYPE tollgate_http_requests_total counter\n");
    for (int r = 0; r < n_routes; r++) {
        for (size_t m = 0; m <= N_METHODS; m++) {
            for (size_t c = 0; c <= N_CODES; c++) {
                unsigned long v = rd(&stats[r].count[m][c]);
                if (!v)
                    continue;
                if (c < N_CODES)
                    sb_printf(
                        &b,
                        "tollgate_http_requests_total{route=\"%s\",method=\"%s\",code=\"%d\"} "
                        "%lu\n",
                        route_names[r], methods[m], codes[c], v);
                else
                    sb_printf(
                        &b,
                        "tollgate_http_requests_total{route=\"%s\",method=\"%s\",code=\"other\"} "
                        "%lu\n",
                        route_names[r], methods[m], v);
            }
        }
    }
    sb_printf(&b, "# HELP tollgate_http_request_duration_seconds Time from the first byte of a "
                  "request to its response being queued.\n"
                  "# TYPE tollgate_http_request_duration_seconds histogram\n");
    for (int r = 0; r < n_routes; r++) {
        unsigned long total = rd(&stats[r].total), cum = 0;
        if (!total)
            continue;
        for (size_t i = 0; i < N_BUCKETS; i++) {
            cum += rd(&stats[r].bucket[i]);
            sb_printf(&b,
                      "tollgate_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %lu\n",
                      route_names[r], buckets[i], cum);
        }
        cum += rd(&stats[r].bucket[N_BUCKETS]);
        sb_printf(&b,
                  "tollgate_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %lu\n"
                  "tollgate_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                  "tollgate_http_request_duration_seconds_count{route=\"%s\"} %lu\n",
                  route_names[r], cum, route_names[r], (double)rd(&stats[r].sum_us) / 1e6,
                  route_names[r], cum);
    }
    sb_printf(&b,
              "# HELP tollgate_db_errors_total Postgres connection and query errors.\n"
              "# TYPE tollgate_db_errors_total counter\ntollgate_db_errors_total %lu\n"
              "# HELP tollgate_db_pool_connections Postgres connections in the pool.\n"
              "# TYPE tollgate_db_pool_connections gauge\ntollgate_db_pool_connections %ld\n"
              "# HELP tollgate_db_pool_in_use Postgres connections lent to requests.\n"
              "# TYPE tollgate_db_pool_in_use gauge\ntollgate_db_pool_in_use %ld\n",
              rd(&db_errors), atomic_load_explicit(&pool_size, memory_order_relaxed),
              atomic_load_explicit(&pool_in_use, memory_order_relaxed));
    for (int c = 0; c < M_COUNTERS; c++) {
        if (counter_info[c].help)
            sb_printf(&b, "# HELP %s %s\n# TYPE %s counter\n", counter_info[c].name,
                      counter_info[c].help, counter_info[c].name);
        if (counter_info[c].label)
            sb_printf(&b, "%s{outcome=\"%s\"} %lu\n", counter_info[c].name, counter_info[c].label,
                      rd(&counters[c]));
        else
            sb_printf(&b, "%s %lu\n", counter_info[c].name, rd(&counters[c]));
    }
    sb_printf(&b,
              "# HELP tollgate_spool_bytes Bytes of usage events waiting in the local spool.\n"
              "# TYPE tollgate_spool_bytes gauge\ntollgate_spool_bytes %lld\n",
              (long long)atomic_load_explicit(&spool_bytes, memory_order_relaxed));
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
