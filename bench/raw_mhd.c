/*
 * raw_mhd: the ceiling for tollgate's HTTP layer. A bare libmicrohttpd
 * daemon started with the same flags, thread pool and connection timeout as
 * server/http.c, answering GET /healthz with the same bytes tollgate sends:
 * the body {"status":"ok"}, Content-Type, X-Request-Id (16 hex digits) and
 * X-Content-Type-Options. It does nothing else: no routing table, no
 * per-request allocation of our own, no metrics, no log line.
 *
 * Usage: raw_mhd PORT [THREADS [CONN_TIMEOUT]]
 *   PORT          TCP port on 127.0.0.1
 *   THREADS       thread pool size; 0 (default) applies tollgate's rule,
 *                 max(4, 2 * online CPUs)
 *   CONN_TIMEOUT  seconds before an idle connection is closed (default 30)
 * Runs until SIGTERM or SIGINT, then stops the daemon and exits 0.
 * Memory: the body is static; MHD owns each response until it is destroyed.
 * Threads: access_cb runs on MHD's pool threads; main only waits for signals.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
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

static const char body[] = "{\"status\":\"ok\"}";

/* 16 hex digits from a per-thread xorshift64* generator, like http.c. */
static void request_id(char out[17])
{
    static _Thread_local uint64_t state;
    uint64_t x;

    if (!state)
        state = ((uint64_t)time(NULL) << 20) ^ (uint64_t)(uintptr_t)&state ^ 0x9E3779B97F4A7C15ULL;
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    x = state * 0x2545F4914F6CDD1DULL;
    snprintf(out, 17, "%016llx", (unsigned long long)x);
}

/*
 * Answers on the second call, once the request is fully read, as http.c does:
 * MHD closes the connection after a response queued on the first call (it
 * cannot know the body was consumed), which would defeat keep-alive.
 */
static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    unsigned status = MHD_HTTP_OK;
    char id[17];
    static int seen; /* any non-NULL marker for "headers are in" */
    (void)cls;
    (void)version;
    (void)upload_data;

    if (!*con_cls) {
        *con_cls = &seen;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0; /* discard any body; only GET /healthz is served */
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 || strcmp(url, "/healthz") != 0)
        status = MHD_HTTP_NOT_FOUND;
    resp = MHD_create_response_from_buffer(status == MHD_HTTP_OK ? sizeof(body) - 1 : 0,
                                           (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    request_id(id);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "X-Request-Id", id);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
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

    /* Block the signals before MHD starts its threads, so they inherit the mask. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The flags and options of server/http.c:http_start, less its logger and
     * completion callback; scripts/bench.sh warns when the two drift apart. */
    d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG |
                             MHD_ALLOW_SUSPEND_RESUME,
                         0, NULL, NULL, access_cb, NULL, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)timeout, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "raw_mhd: cannot listen on 127.0.0.1:%ld\n", port);
        return 1;
    }
    fprintf(stderr, "raw_mhd: listening on 127.0.0.1:%ld (%ld threads, timeout %lds)\n", port,
            threads, timeout);
    if (sigwait(&set, &sig) != 0)
        sig = SIGTERM;
    MHD_stop_daemon(d);
    return 0;
}
