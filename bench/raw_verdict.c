/*
 * raw_verdict: the ceiling for POST /v1/verdict. A bare libmicrohttpd
 * daemon started like bench/raw_mhd.c (tollgate's flags, thread pool and
 * connection timeout) that reads the POST body, parses it with jansson
 * (JSON_REJECT_DUPLICATES, as tollgate does), reads the members a verdict
 * request has, and replies with a JSON object of the shape and about the size
 * of tollgate's verdict reply (decision, model, provider, requested_model,
 * tier, reason, the deciding budget, policy, estimated cost and, when the
 * body asks to reserve, a reservation id and expiry), built with jansson and
 * serialised with json_dumps, with tollgate's four response headers. It
 * decides nothing: no key check, no team lookup, no prices, no ledger.
 *
 * Usage: raw_verdict PORT [THREADS [CONN_TIMEOUT]]   (as raw_mhd)
 * Runs until SIGTERM or SIGINT, then stops the daemon and exits 0.
 * Memory: each request's body buffer is malloc'd on its first chunk and freed
 * by the completion callback; the reply is handed to MHD (MHD_RESPMEM_MUST_FREE).
 * Threads: the callbacks run on MHD's pool threads; main only waits for signals.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BODY (1 << 20)

struct req {
    char *body;
    size_t len, cap;
    int too_big;
};

static uint64_t next_random(void)
{
    static _Thread_local uint64_t state;

    if (!state)
        state = ((uint64_t)time(NULL) << 20) ^ (uint64_t)(uintptr_t)&state ^ 0x9E3779B97F4A7C15ULL;
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1DULL;
}

/* 16 hex digits, like http.c's request ids. */
static void request_id(char out[17])
{
    snprintf(out, 17, "%016llx", (unsigned long long)next_random());
}

static const char *str_member(json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

static _Thread_local volatile size_t sink; /* keeps the reads of unused members */

/* The reply for a parsed body: tollgate's verdict reply, every member present. */
static char *reply_for(json_t *body)
{
    const char *team = str_member(body, "team", "none");
    const char *provider = str_member(body, "provider", "openai");
    const char *model = str_member(body, "model", "");
    json_int_t in = json_integer_value(json_object_get(body, "input_tokens"));
    json_int_t out = json_integer_value(json_object_get(body, "max_output_tokens"));
    int reserve = json_is_true(json_object_get(body, "reserve"));
    char msg[200], est[32], rsv[29];
    json_t *o, *budget;
    char *text;

    /* The other members are read as tollgate reads them, and dropped. */
    sink += str_member(body, "project", NULL) != NULL;
    sink += str_member(body, "user", NULL) != NULL;
    sink += str_member(body, "priority", NULL) != NULL;
    sink += str_member(body, "mode", NULL) != NULL;
    sink += str_member(body, "request_id", NULL) != NULL;
    sink += json_object_get(body, "tags") != NULL;
    sink += json_object_get(body, "api_key_id") != NULL;

    snprintf(msg, sizeof(msg),
             "Budget \"%s daily\" (team %s) would reach 0.00%% of USD 3000.00 today.", team, team);
    snprintf(est, sizeof(est), "%.6f", (double)in * 2.5e-6 + (double)out * 1e-5);
    budget = json_pack("{s:I, s:s+, s:{s:s, s:s}, s:s, s:s, s:s, s:s, s:s, s:s}", "id",
                       (json_int_t)24, "name", team, " daily", "scope", "kind", "team", "name",
                       team, "limit_usd", "3000.00", "spent_usd", "0.00", "reserved_usd", "0.00",
                       "remaining_usd", "3000.00", "period_start", "2026-11-28T00:00:00.000000Z",
                       "period_end", "2026-11-29T00:00:00.000000Z");
    o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:o, s:n, s:s}", "decision", "allow",
                  "model", model, "provider", provider, "requested_model", model, "tier", "premium",
                  "reason", "code", "within_budget", "message", msg, "budget", budget, "policy",
                  "estimated_cost_usd", est);
    if (!o)
        return NULL;
    if (reserve) {
        snprintf(rsv, sizeof(rsv), "rsv_%016llx%08llx", (unsigned long long)next_random(),
                 (unsigned long long)(next_random() & 0xffffffffULL));
        json_object_set_new(o, "reservation_id", json_string(rsv));
        json_object_set_new(o, "reservation_expires_at",
                            json_string("2026-11-28T00:11:16.000000Z"));
    }
    text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(o);
    return text;
}

static enum MHD_Result queue(struct MHD_Connection *conn, unsigned status, char *text)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char id[17];

    resp = text ? MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE)
                : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    request_id(id);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "X-Request-Id", id);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Reads the body over as many calls as MHD makes; answers once it is all in, as raw_mhd does. */
static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct req *rq = *con_cls;
    json_error_t jerr;
    json_t *body;
    char *text;
    (void)cls;
    (void)version;

    if (!rq) {
        if (!(rq = calloc(1, sizeof(*rq))))
            return MHD_NO;
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rq->too_big || rq->len + n > MAX_BODY) {
            rq->too_big = 1;
            return MHD_YES;
        }
        if (rq->len + n > rq->cap) {
            size_t cap = rq->cap ? rq->cap : 1024;
            char *b;
            while (cap < rq->len + n)
                cap *= 2;
            if (!(b = realloc(rq->body, cap)))
                return MHD_NO;
            rq->body = b;
            rq->cap = cap;
        }
        memcpy(rq->body + rq->len, upload_data, n);
        rq->len += n;
        return MHD_YES;
    }
    if (strcmp(method, "POST") != 0 || strcmp(url, "/v1/verdict") != 0)
        return queue(conn, MHD_HTTP_NOT_FOUND, NULL);
    if (rq->too_big || !rq->len)
        return queue(conn, MHD_HTTP_BAD_REQUEST, NULL);
    body = json_loadb(rq->body, rq->len, JSON_REJECT_DUPLICATES, &jerr);
    if (!body || !json_is_object(body)) {
        json_decref(body);
        return queue(conn, MHD_HTTP_BAD_REQUEST, NULL);
    }
    text = reply_for(body);
    json_decref(body);
    if (!text)
        return MHD_NO;
    return queue(conn, MHD_HTTP_OK, text);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct req *rq = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;

    if (rq) {
        free(rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

/* Parses a whole decimal number in [min, max]; false on anything else. */
static int parse_num(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    if (!s || !*s)
        return 0;
    v = strtol(s, &end, 10);
    if (*end || v < min || v > max)
        return 0;
    *out = v;
    return 1;
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr;
    struct MHD_Daemon *d;
    sigset_t set;
    long port, threads = 0, timeout = 30;
    int sig = 0;

    if (argc < 2 || argc > 4 || !parse_num(argv[1], 1, 65535, &port) ||
        (argc > 2 && !parse_num(argv[2], 0, 256, &threads)) ||
        (argc > 3 && !parse_num(argv[3], 1, 3600, &timeout))) {
        fprintf(stderr, "usage: %s PORT [THREADS [CONN_TIMEOUT]]\n", argv[0]);
        return 2;
    }
    if (threads == 0) { /* the rule in server/http.c:http_start */
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cpus > 0 ? 2 * cpus : 4;
        if (threads < 4)
            threads = 4;
    }
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The flags and options of server/http.c:http_start, less its logger;
     * scripts/bench.sh warns when the two drift apart. */
    d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME,
        0, NULL, NULL, access_cb, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads, MHD_OPTION_NOTIFY_COMPLETED, completed_cb,
        NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)timeout, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "raw_verdict: cannot listen on 127.0.0.1:%ld\n", port);
        return 1;
    }
    fprintf(stderr, "raw_verdict: listening on 127.0.0.1:%ld (%ld threads, timeout %lds)\n", port,
            threads, timeout);
    if (sigwait(&set, &sig) != 0)
        sig = SIGTERM;
    MHD_stop_daemon(d);
    return 0;
}
