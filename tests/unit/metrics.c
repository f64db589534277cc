// links: server/metrics.c
/*
 * metrics: counters and histograms recorded, then rendered in the Prometheus
 * text format, alone. Each test runs in its own process, so each calls
 * metrics_init once on fresh state.
 */
#include "metrics.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {"/v1/events", "/v1/admin/keys/{id}", "static"};
#define N_NAMES ((int)(sizeof(names) / sizeof(names[0])))

static char *render(void)
{
    size_t len = 12345;
    char *text = metrics_render(&len);

    cr_assert_not_null(text);
    cr_assert_eq(len, strlen(text), "*len %zu, strlen %zu", len, strlen(text));
    cr_assert_eq(text[len - 1], '\n', "output does not end in a newline");
    return text;
}

/* True if text holds line as a whole line. */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
    return false;
}

/* The value on the line that starts with key followed by a space; -1 if none. */
static double value_of(const char *text, const char *key)
{
    size_t n = strlen(key);

    for (const char *p = text; (p = strstr(p, key)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

static size_t count_lines(const char *text, const char *prefix)
{
    size_t n = 0, k = strlen(prefix);

    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        n += strncmp(p, prefix, k) == 0;
    return n;
}

/* ---- one recorded scenario, checked line by line ---------------------- */

static const struct {
    int route;
    const char *method;
    int status;
    double seconds;
} requests[] = {
    {0, "POST", 201, 0.0002}, {0, "POST", 201, 0.003},
    {0, "POST", 400, 0.5},    {0, "GET", 200, 0.001}, /* on a bound: le is inclusive */
    {0, "BREW", 200, 10},                             /* unknown method; beyond the last bound */
    {1, "DELETE", 418, 0.25},                         /* unknown status */
    {1, "PATCH", 204, 2.5},   {1, NULL, 500, 0.0625},
    {3, "GET", 200, 0.1},   /* out of range: ignored */
    {-1, "GET", 200, 0.1},  /* out of range: ignored */
    {999, "GET", 200, 0.1}, /* out of range: ignored */
};

static void record_scenario(void)
{
    cr_assert(metrics_init(N_NAMES, names));
    for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++)
        metrics_request(requests[i].route, requests[i].method, requests[i].status,
                        requests[i].seconds);
    metrics_db_error();
    metrics_db_error();
    metrics_db_error();
    metrics_set_db_pool(8, 3);
}

struct line_case {
    char line[160];
    bool present;
};

#define REQ(route, method, code, n)                                                                \
    {                                                                                              \
        "tollgate_http_requests_total{route=\"" route "\",method=\"" method "\",code=\"" code      \
        "\"} " n,                                                                                  \
            true                                                                                   \
    }
#define BUCKET(route, le, n)                                                                       \
    {                                                                                              \
        "tollgate_http_request_duration_seconds_bucket{route=\"" route "\",le=\"" le "\"} " n,     \
            true                                                                                   \
    }

static struct line_case line_cases[] = {
    {"# TYPE tollgate_http_requests_total counter", true},
    {"# TYPE tollgate_http_request_duration_seconds histogram", true},
    {"# TYPE tollgate_db_errors_total counter", true},
    {"# TYPE tollgate_db_pool_connections gauge", true},
    {"# TYPE tollgate_db_pool_in_use gauge", true},
    /* counters by route, method and code */
    REQ("/v1/events", "POST", "201", "2"),
    REQ("/v1/events", "POST", "400", "1"),
    REQ("/v1/events", "GET", "200", "1"),
    REQ("/v1/events", "other", "200", "1"),
    REQ("/v1/admin/keys/{id}", "DELETE", "other", "1"),
    REQ("/v1/admin/keys/{id}", "PATCH", "204", "1"),
    REQ("/v1/admin/keys/{id}", "other", "500", "1"),
    /* nothing counted is not shown */
    {"tollgate_http_requests_total{route=\"/v1/events\",method=\"GET\",code=\"201\"} 0", false},
    /* histogram of route 1: 0.0625, 0.25, 2.5 */
    BUCKET("/v1/admin/keys/{id}", "0.0001", "0"),
    BUCKET("/v1/admin/keys/{id}", "0.00025", "0"),
    BUCKET("/v1/admin/keys/{id}", "0.0005", "0"),
    BUCKET("/v1/admin/keys/{id}", "0.001", "0"),
    BUCKET("/v1/admin/keys/{id}", "0.0025", "0"),
    BUCKET("/v1/admin/keys/{id}", "0.005", "0"),
    BUCKET("/v1/admin/keys/{id}", "0.01", "0"),
    BUCKET("/v1/admin/keys/{id}", "0.025", "0"),
    BUCKET("/v1/admin/keys/{id}", "0.05", "0"),
    BUCKET("/v1/admin/keys/{id}", "0.1", "1"),
    BUCKET("/v1/admin/keys/{id}", "0.25", "2"),
    BUCKET("/v1/admin/keys/{id}", "0.5", "2"),
    BUCKET("/v1/admin/keys/{id}", "1", "2"),
    BUCKET("/v1/admin/keys/{id}", "2.5", "3"),
    BUCKET("/v1/admin/keys/{id}", "5", "3"),
    BUCKET("/v1/admin/keys/{id}", "+Inf", "3"),
    {"tollgate_http_request_duration_seconds_sum{route=\"/v1/admin/keys/{id}\"} 2.812500", true},
    {"tollgate_http_request_duration_seconds_count{route=\"/v1/admin/keys/{id}\"} 3", true},
    /* histogram of route 0: 0.0002, 0.003, 0.5, 0.001, 10 */
    BUCKET("/v1/events", "0.0001", "0"),
    BUCKET("/v1/events", "0.00025", "1"),
    BUCKET("/v1/events", "0.0005", "1"),
    BUCKET("/v1/events", "0.001", "2"),
    BUCKET("/v1/events", "0.0025", "2"),
    BUCKET("/v1/events", "0.005", "3"),
    BUCKET("/v1/events", "0.25", "3"),
    BUCKET("/v1/events", "0.5", "4"),
    BUCKET("/v1/events", "5", "4"),
    BUCKET("/v1/events", "+Inf", "5"),
    {"tollgate_http_request_duration_seconds_count{route=\"/v1/events\"} 5", true},
    /* server-wide */
    {"tollgate_db_errors_total 3", true},
    {"tollgate_db_pool_connections 8", true},
    {"tollgate_db_pool_in_use 3", true},
};

ParameterizedTestParameters(metrics, render_lines)
{
    return cr_make_param_array(struct line_case, line_cases,
                               sizeof(line_cases) / sizeof(line_cases[0]));
}

ParameterizedTest(struct line_case *tc, metrics, render_lines)
{
    char *text;

    record_scenario();
    text = render();
    cr_expect_eq(has_line(text, tc->line), tc->present, "%s line:\n  %s\nin:\n%s",
                 tc->present ? "missing" : "unexpected", tc->line, text);
    free(text);
}

/* Exactly the seven combinations recorded are shown: the ignored ones add none. */
Test(metrics, only_recorded_counters)
{
    char *text;

    record_scenario();
    text = render();
    cr_expect_eq(count_lines(text, "tollgate_http_requests_total{"), 7, "%s", text);
    cr_expect_null(strstr(text, "418"), "a raw unknown status is shown:\n%s", text);
    cr_expect_null(strstr(text, "BREW"), "a raw unknown method is shown:\n%s", text);
    /* a route with no requests has no lines at all */
    cr_expect_null(strstr(text, "route=\"static\""), "%s", text);
    free(text);
}

/* The sum is in seconds, summed over the route's requests. */
Test(metrics, histogram_sum)
{
    char *text;
    double sum;

    record_scenario();
    text = render();
    sum = value_of(text, "tollgate_http_request_duration_seconds_sum{route=\"/v1/events\"}");
    cr_expect_float_eq(sum, 10.5042, 2e-6, "sum %f", sum);
    free(text);
}

/* For every route: the buckets are cumulative and in order, and +Inf equals _count. */
Test(metrics, histogram_cumulative)
{
    static const char *const les[] = {"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005",
                                      "0.01",   "0.025",   "0.05",   "0.1",   "0.25",   "0.5",
                                      "1",      "2.5",     "5",      "+Inf"};
    char *text;

    record_scenario();
    text = render();
    for (int r = 0; r < 2; r++) {
        char key[200];
        double prev = 0, v = 0, count;
        const char *last_pos = text;

        for (size_t i = 0; i < sizeof(les) / sizeof(les[0]); i++) {
            const char *pos;
            snprintf(key, sizeof(key),
                     "tollgate_http_request_duration_seconds_bucket{route=\"%s\",le=\"%s\"} ",
                     names[r], les[i]);
            pos = strstr(text, key);
            cr_assert_not_null(pos, "no %s", key);
            cr_expect_gt(pos, last_pos, "bucket le=%s out of order", les[i]);
            last_pos = pos;
            v = strtod(pos + strlen(key), NULL);
            cr_expect_geq(v, prev, "%s: le=%s has %g, below %g", names[r], les[i], v, prev);
            prev = v;
        }
        snprintf(key, sizeof(key), "tollgate_http_request_duration_seconds_count{route=\"%s\"}",
                 names[r]);
        count = value_of(text, key);
        cr_expect_eq(v, count, "%s: +Inf %g, _count %g", names[r], v, count);
    }
    cr_expect_eq(count_lines(text, "tollgate_http_request_duration_seconds_bucket{"), 2 * 16);
    free(text);
}

/* ---- edges ------------------------------------------------------------ */

Test(metrics, render_with_no_requests)
{
    char *text;

    cr_assert(metrics_init(N_NAMES, names));
    text = render();
    cr_expect_eq(count_lines(text, "tollgate_http_requests_total{"), 0);
    cr_expect_eq(count_lines(text, "tollgate_http_request_duration_seconds_"), 0);
    cr_expect(has_line(text, "tollgate_db_errors_total 0"), "%s", text);
    cr_expect(has_line(text, "tollgate_db_pool_connections 0"), "%s", text);
    free(text);
}

/* Before metrics_init nothing is recorded, and rendering still works. */
Test(metrics, before_init)
{
    char *text;

    metrics_request(0, "GET", 200, 0.1);
    metrics_db_error();
    text = render();
    cr_expect_eq(count_lines(text, "tollgate_http_requests_total{"), 0);
    cr_expect(has_line(text, "tollgate_db_errors_total 1"), "%s", text);
    free(text);
}

/* Every status counted in its own slot; anything else is "other". */
struct code_case {
    int status;
    char label[8];
};

static struct code_case code_cases[] = {
    {200, "200"},   {201, "201"},   {204, "204"},   {304, "304"},   {400, "400"},
    {401, "401"},   {403, "403"},   {404, "404"},   {405, "405"},   {409, "409"},
    {413, "413"},   {415, "415"},   {422, "422"},   {429, "429"},   {500, "500"},
    {503, "503"},   {0, "other"},   {-1, "other"},  {100, "other"}, {202, "other"},
    {302, "other"}, {418, "other"}, {502, "other"}, {504, "other"}, {999, "other"},
};

ParameterizedTestParameters(metrics, status_codes)
{
    return cr_make_param_array(struct code_case, code_cases,
                               sizeof(code_cases) / sizeof(code_cases[0]));
}

ParameterizedTest(struct code_case *tc, metrics, status_codes)
{
    char line[200], *text;

    cr_assert(metrics_init(N_NAMES, names));
    metrics_request(2, "GET", tc->status, 0.01);
    metrics_request(2, "GET", tc->status, 0.01);
    text = render();
    snprintf(line, sizeof(line),
             "tollgate_http_requests_total{route=\"static\",method=\"GET\",code=\"%s\"} 2",
             tc->label);
    cr_expect(has_line(text, line), "status %d: missing %s in\n%s", tc->status, line, text);
    cr_expect_eq(count_lines(text, "tollgate_http_requests_total{"), 1);
    free(text);
}

/* Methods are matched exactly; anything else is "other". */
struct method_case {
    char method[12];
    char label[8];
};

static struct method_case method_cases[] = {
    {"GET", "GET"},       {"POST", "POST"},  {"PUT", "PUT"},       {"PATCH", "PATCH"},
    {"DELETE", "DELETE"}, {"HEAD", "other"}, {"OPTIONS", "other"}, {"get", "other"},
    {"", "other"},        {"GETS", "other"},
};

ParameterizedTestParameters(metrics, methods)
{
    return cr_make_param_array(struct method_case, method_cases,
                               sizeof(method_cases) / sizeof(method_cases[0]));
}

ParameterizedTest(struct method_case *tc, metrics, methods)
{
    char line[200], *text;

    cr_assert(metrics_init(N_NAMES, names));
    metrics_request(0, tc->method, 200, 0.01);
    text = render();
    snprintf(line, sizeof(line),
             "tollgate_http_requests_total{route=\"/v1/events\",method=\"%s\",code=\"200\"} 1",
             tc->label);
    cr_expect(has_line(text, line), "method '%s': missing %s in\n%s", tc->method, line, text);
    free(text);
}

/* Counters are exact under concurrent recording. */
#define THREADS 4
#define PER     20000

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < PER; i++) {
        metrics_request(i % 2, "POST", 201, 0.002);
        if (i % 100 == 0)
            metrics_db_error();
    }
    return NULL;
}

Test(metrics, concurrent_counts)
{
    pthread_t t[THREADS];
    char line[200], *text;

    cr_assert(metrics_init(N_NAMES, names));
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, hammer, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_join(t[i], NULL), 0);
    text = render();
    for (int r = 0; r < 2; r++) {
        snprintf(line, sizeof(line),
                 "tollgate_http_requests_total{route=\"%s\",method=\"POST\",code=\"201\"} %d",
                 names[r], THREADS * PER / 2);
        cr_expect(has_line(text, line), "missing %s", line);
        snprintf(line, sizeof(line),
                 "tollgate_http_request_duration_seconds_bucket{route=\"%s\",le=\"0.0025\"} %d",
                 names[r], THREADS * PER / 2);
        cr_expect(has_line(text, line), "missing %s", line);
    }
    snprintf(line, sizeof(line), "tollgate_db_errors_total %d", THREADS * PER / 100);
    cr_expect(has_line(text, line), "missing %s", line);
    free(text);
}
