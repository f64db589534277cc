/*
 * loadgen: the load generator of the ingest benchmarks. It POSTs usage
 * events to tollgate over keep-alive HTTP/1.1 connections and counts what
 * the server acknowledged, so that the benchmark can check that the rows in
 * usage_events are exactly the events acknowledged with a 2xx.
 *
 * Why not wrk: wrk stops at its deadline with requests still in flight, and
 * the server commits those events although wrk never sees their replies, so
 * the rows in the table could only be checked against a range. loadgen stops
 * sending at the deadline and waits for every reply (the drain), then counts:
 * the rows must equal the acknowledged events exactly. Its request bodies
 * are built once per connection; each new request only rewrites the digits
 * of its sequence number in place (in every event id and request_id), so
 * building a 1,000-event body costs a few microseconds, not a Lua loop.
 *
 * Usage: loadgen [--otlp] PORT KEY EVENTS CONNECTIONS THREADS SECONDS TAG
 *   --otlp       POST /v1/traces instead: each request is an OTLP/HTTP
 *                protobuf ExportTraceServiceRequest of EVENTS GenAI spans
 *                (built with the protobuf-c code generated from
 *                ingest/otlp.proto), one event each
 *   PORT         tollgate on 127.0.0.1:PORT
 *   KEY          an ingest key (Authorization: Bearer KEY)
 *   EVENTS       events per request: 0 sends one bare event object per
 *                request, N >= 1 sends {"events": [N events]}; with --otlp,
 *                N >= 1 spans
 *   CONNECTIONS  keep-alive connections, spread over THREADS epoll threads
 *   SECONDS      send for this long, then drain (at most 60 s more)
 *   TAG          prefix of every event id: TAG-CCCC-SSSSSSSSSS-EEEEE
 *                (connection, request sequence, event), unique per run
 *
 * Events are realistic and varied per connection (deterministic seed): 200
 * users, each in one of 4 teams and mostly (80%) in one of its 2 projects,
 * provider openai, model gpt-4o (60%) or gpt-4o-mini, uncached input, cache
 * reads on 60% of them, output, latency, a request_id, two tags, 2% status
 * error, timestamps spread over the 50 minutes before the run. The OTLP
 * spans carry the same calls in OTel GenAI attributes (gen_ai.provider.name,
 * request and response model, gen_ai.usage.input_tokens including the cache,
 * cache_read.input_tokens, output_tokens; tollgate.team, .project and .user
 * on the span; status ERROR for the errors), one resource and scope per
 * request, and ids that make each span a new event: the trace id holds the
 * tag's hash, the connection and the request sequence (rewritten in place,
 * 8 bytes, before each request), the span id the span's index.
 *
 * Prints key=value lines on stdout: requests, ok (2xx), non2xx, errors
 * (socket errors, malformed replies, requests unanswered after the drain),
 * acked (events accepted in 2xx replies, drain included), duplicates,
 * spooled, rejected (events refused inside 2xx batch replies; with --otlp,
 * partial_success.rejected_spans, and acked is spans less those: OTLP
 * replies do not tell duplicates or spooled events apart), elapsed
 * (seconds, first request to last reply), window_acked (events acked by
 * replies received within SECONDS), events_per_s (window_acked / SECONDS,
 * as wrk counts), p50_ms, p99_ms, max_ms (per request, drain included),
 * body_bytes (of one request on connection 0). Exits 0 when it ran (even
 * with failed requests: the caller decides), 1 on a usage or setup error.
 *
 * Memory: each connection owns its request buffer (headers + body) and a
 * reply buffer; each thread owns a growing array of latencies. Threads share
 * nothing but the read-only settings; main sums their counters after join.
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "otlp.pb-c.h"

#define SEQ_DIGITS    10
#define SEQ_BYTES     8 /* --otlp: the sequence in the trace id, big-endian */
#define DRAIN_SECONDS 60.0
#define SPAN_ATTRS    10

static int port;
static const char *key;
static int events_per_req;
static int n_conns, n_threads;
static double seconds;
static const char *tag;
static bool otlp;

static const char *const teams[4] = {"search", "support", "ads", "platform"};
static const char *const projects[8] = {"search-ranking", "search-qa",      "support-bot",
                                        "support-triage", "ads-copy",       "ads-insights",
                                        "platform-eval",  "platform-agents"};
static const char *const features[6] = {"rerank",   "summarize", "chat",
                                        "classify", "extract",   "agent"};

struct conn {
    int fd, idx;
    char *req; /* headers + body */
    size_t req_len, sent;
    size_t *seq_at; /* offsets of the sequence digits to rewrite */
    size_t n_seq_at;
    uint64_t seq; /* requests sent on this connection */
    char *resp;
    size_t resp_len, resp_cap;
    double t_sent;
    uint32_t mask; /* the epoll events watched now */
    bool busy, connected;
};

struct thread {
    pthread_t th;
    int first, count; /* its connections: conns[first .. first + count) */
    uint64_t requests, ok, non2xx, errors, acked, duplicates, spooled, rejected;
    uint64_t window_acked; /* acked by replies that arrived before the deadline */
    uint32_t *lat_us;
    size_t n_lat, cap_lat;
    double last_reply;
};

static struct conn *conns;
static double t_start, t_stop;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *msg)
{
    fprintf(stderr, "loadgen: %s\n", msg);
    exit(1);
}

/* ---- request bodies ---- */

struct buf {
    char *p;
    size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p)
            die("out of memory");
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void putf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        die("internal: format overflow");
    put(b, tmp, (size_t)n);
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

/* Appends "TAG-CCCC-" then SEQ_DIGITS zeros (remembering where) then "-EEEEE". */
static void put_id(struct buf *b, struct conn *c, int ev, size_t *n_at, size_t cap_at)
{
    putf(b, "%s-%04d-", tag, c->idx);
    if (*n_at >= cap_at)
        die("internal: too many id slots");
    c->seq_at[(*n_at)++] = b->len;
    put(b, "0000000000", SEQ_DIGITS);
    putf(b, "-%05d", ev);
}

static void put_event(struct buf *b, struct conn *c, int ev, uint64_t *s, time_t now, size_t *n_at,
                      size_t cap_at)
{
    /* a user belongs to one team and mostly works in one of its projects */
    int user = (int)(rnd(s) % 200), team = user % 4;
    int project = team * 2 + (((user / 4) % 2) ^ (rnd(s) % 5 == 0));
    bool mini = rnd(s) % 10 >= 6, cached = rnd(s) % 10 < 6, error = rnd(s) % 50 == 0;
    long input = 200 + (long)(rnd(s) % 3800), cache = cached ? 500 + (long)(rnd(s) % 7500) : 0;
    long output = error ? 0 : 50 + (long)(rnd(s) % 1450);
    time_t ts = now - 60 - (time_t)(rnd(s) % 3000);
    struct tm tm;
    char when[32];

    gmtime_r(&ts, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    put(b, "{\"id\":\"", 7);
    put_id(b, c, ev, n_at, cap_at);
    putf(b,
         "\",\"timestamp\":\"%s.%03dZ\",\"team\":\"%s\",\"project\":\"%s\","
         "\"user\":\"user-%03d@example.com\",\"provider\":\"openai\",\"model\":\"%s\","
         "\"request_id\":\"req_",
         when, (int)(rnd(s) % 1000), teams[team], projects[project], user,
         mini ? "gpt-4o-mini" : "gpt-4o");
    put_id(b, c, ev, n_at, cap_at);
    putf(b,
         "\",\"status\":\"%s\",\"latency_ms\":%d,"
         "\"tags\":{\"env\":\"prod\",\"feature\":\"%s\"},"
         "\"input_tokens\":%ld,\"cache_read_tokens\":%ld,\"output_tokens\":%ld,"
         "\"reasoning_tokens\":0}",
         error ? "error" : "ok", 150 + (int)(rnd(s) % 4000), features[rnd(s) % 6], input, cache,
         output);
}

static void build_request(struct conn *c)
{
    struct buf body = {0}, req = {0};
    uint64_t s = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)(c->idx + 1) * 0xBF58476D1CE4E5B9ULL);
    int n = events_per_req ? events_per_req : 1;
    size_t n_at = 0, cap_at = 2 * (size_t)n, hdr;
    time_t now = time(NULL);

    c->seq_at = calloc(cap_at, sizeof(*c->seq_at));
    if (!c->seq_at)
        die("out of memory");
    if (events_per_req)
        put(&body, "{\"events\":[", 11);
    for (int i = 0; i < n; i++) {
        if (i)
            put(&body, ",", 1);
        put_event(&body, c, i, &s, now, &n_at, cap_at);
    }
    if (events_per_req)
        put(&body, "]}", 2);
    putf(&req,
         "POST /v1/usage HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
         "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
         port, key, body.len);
    hdr = req.len;
    put(&req, body.p, body.len);
    for (size_t i = 0; i < n_at; i++)
        c->seq_at[i] += hdr;
    c->n_seq_at = n_at;
    c->req = req.p;
    c->req_len = req.len;
    free(body.p);
}

/* ---- OTLP request bodies (--otlp) ---- */

/* One span and what its fields point to. */
struct otlp_span {
    Otlp__Span span;
    Otlp__Status status;
    Otlp__KeyValue kv[SPAN_ATTRS];
    Otlp__KeyValue *kvp[SPAN_ATTRS];
    Otlp__AnyValue av[SPAN_ATTRS];
    uint8_t trace_id[16], span_id[8];
    char name[32], user[32];
};

static void attr_str(struct otlp_span *o, size_t i, const char *k, const char *v)
{
    otlp__key_value__init(&o->kv[i]);
    otlp__any_value__init(&o->av[i]);
    o->kv[i].key = (char *)k;
    o->kv[i].value = &o->av[i];
    o->av[i].value_case = OTLP__ANY_VALUE__VALUE_STRING_VALUE;
    o->av[i].string_value = (char *)v;
    o->kvp[i] = &o->kv[i];
}

static void attr_int(struct otlp_span *o, size_t i, const char *k, long v)
{
    attr_str(o, i, k, "");
    o->av[i].value_case = OTLP__ANY_VALUE__VALUE_INT_VALUE;
    o->av[i].int_value = v;
}

/* The trace id of connection c's spans, with sequence 0: the tag's hash, c, seq, a marker. */
static void trace_id_of(const struct conn *c, uint8_t id[16])
{
    uint32_t h = 2166136261u; /* FNV-1a of the tag */
    for (const char *p = tag; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    memset(id, 0, 16);
    for (int i = 0; i < 4; i++)
        id[i] = (uint8_t)(h >> (24 - 8 * i));
    id[4] = (uint8_t)(c->idx >> 8);
    id[5] = (uint8_t)c->idx;
    id[14] = 0x7a; /* id[6..13]: the sequence; the marker keeps the id unlike any other bytes */
    id[15] = 0xa7;
}

/* The same calls as put_event, as GenAI spans; returns the packed request (malloc'd). */
static uint8_t *otlp_body(struct conn *c, int n, size_t *len)
{
    uint64_t s = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)(c->idx + 1) * 0xBF58476D1CE4E5B9ULL);
    Otlp__ExportTraceServiceRequest req = OTLP__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    Otlp__ResourceSpans rs = OTLP__RESOURCE_SPANS__INIT, *rsp = &rs;
    Otlp__Resource res = OTLP__RESOURCE__INIT;
    Otlp__ScopeSpans ss = OTLP__SCOPE_SPANS__INIT, *ssp = &ss;
    Otlp__InstrumentationScope scope = OTLP__INSTRUMENTATION_SCOPE__INIT;
    struct otlp_span rattr = {0}; /* the resource's attributes */
    struct otlp_span *o = calloc((size_t)n, sizeof(*o));
    Otlp__Span **spans = calloc((size_t)n, sizeof(*spans));
    uint8_t *buf;
    time_t now = time(NULL);

    if (!o || !spans)
        die("out of memory");
    attr_str(&rattr, 0, "service.name", "loadgen");
    attr_str(&rattr, 1, "deployment.environment.name", "prod");
    res.n_attributes = 2;
    res.attributes = rattr.kvp;
    scope.name = "tollgate.bench.loadgen";
    scope.version = "1";
    for (int i = 0; i < n; i++) {
        struct otlp_span *x = &o[i];
        int user = (int)(rnd(&s) % 200), team = user % 4;
        int project = team * 2 + (((user / 4) % 2) ^ (rnd(&s) % 5 == 0));
        bool mini = rnd(&s) % 10 >= 6, cached = rnd(&s) % 10 < 6, error = rnd(&s) % 50 == 0;
        long input = 200 + (long)(rnd(&s) % 3800),
             cache = cached ? 500 + (long)(rnd(&s) % 7500) : 0;
        long output = error ? 0 : 50 + (long)(rnd(&s) % 1450);
        uint64_t end = (uint64_t)(now - 60 - (time_t)(rnd(&s) % 3000)) * 1000000000ULL +
                       rnd(&s) % 1000000000ULL;
        uint64_t latency = (150 + rnd(&s) % 4000) * 1000000ULL;
        const char *model = mini ? "gpt-4o-mini" : "gpt-4o";
        size_t k = 0;

        otlp__span__init(&x->span);
        otlp__status__init(&x->status);
        trace_id_of(c, x->trace_id);
        x->span_id[0] = (uint8_t)((i + 1) >> 24); /* never all zero: the index is 1-based */
        x->span_id[1] = (uint8_t)((i + 1) >> 16);
        x->span_id[2] = (uint8_t)((i + 1) >> 8);
        x->span_id[3] = (uint8_t)(i + 1);
        for (int b = 4; b < 8; b++)
            x->span_id[b] = (uint8_t)rnd(&s);
        x->span.trace_id.data = x->trace_id;
        x->span.trace_id.len = sizeof(x->trace_id);
        x->span.span_id.data = x->span_id;
        x->span.span_id.len = sizeof(x->span_id);
        snprintf(x->name, sizeof(x->name), "chat %s", model);
        snprintf(x->user, sizeof(x->user), "user-%03d@example.com", user);
        x->span.name = x->name;
        x->span.start_time_unix_nano = end - latency;
        x->span.end_time_unix_nano = end;
        x->status.code =
            error ? OTLP__STATUS_CODE__STATUS_CODE_ERROR : OTLP__STATUS_CODE__STATUS_CODE_OK;
        x->span.status = &x->status;
        attr_str(x, k++, "gen_ai.operation.name", "chat");
        attr_str(x, k++, "gen_ai.provider.name", "openai");
        attr_str(x, k++, "gen_ai.request.model", model);
        attr_str(x, k++, "gen_ai.response.model",
                 mini ? "gpt-4o-mini-2024-07-18" : "gpt-4o-2024-08-06");
        attr_int(x, k++, "gen_ai.usage.input_tokens", input + cache);
        attr_int(x, k++, "gen_ai.usage.cache_read.input_tokens", cache);
        attr_int(x, k++, "gen_ai.usage.output_tokens", output);
        attr_str(x, k++, "tollgate.team", teams[team]);
        attr_str(x, k++, "tollgate.project", projects[project]);
        attr_str(x, k++, "tollgate.user", x->user);
        x->span.n_attributes = k;
        x->span.attributes = x->kvp;
        spans[i] = &x->span;
    }
    ss.scope = &scope;
    ss.n_spans = (size_t)n;
    ss.spans = spans;
    rs.resource = &res;
    rs.n_scope_spans = 1;
    rs.scope_spans = &ssp;
    req.n_resource_spans = 1;
    req.resource_spans = &rsp;
    *len = otlp__export_trace_service_request__get_packed_size(&req);
    buf = malloc(*len);
    if (!buf)
        die("out of memory");
    if (otlp__export_trace_service_request__pack(&req, buf) != *len)
        die("internal: protobuf pack size");
    free(spans);
    free(o);
    return buf;
}

static void build_otlp_request(struct conn *c)
{
    struct buf req = {0};
    size_t len, hdr, n_at = 0;
    uint8_t *body = otlp_body(c, events_per_req, &len), id[16];
    const uint8_t *p, *end;

    putf(&req,
         "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
         "Content-Type: application/x-protobuf\r\nContent-Length: %zu\r\n\r\n",
         port, key, len);
    hdr = req.len;
    put(&req, (const char *)body, len);
    free(body);
    /* Every span's trace id, to stamp the sequence into. */
    c->seq_at = calloc((size_t)events_per_req, sizeof(*c->seq_at));
    if (!c->seq_at)
        die("out of memory");
    trace_id_of(c, id);
    p = (const uint8_t *)req.p + hdr;
    end = (const uint8_t *)req.p + req.len;
    while (p < end && (p = memmem(p, (size_t)(end - p), id, sizeof(id))) != NULL) {
        if (n_at == (size_t)events_per_req)
            die("internal: more trace ids than spans");
        c->seq_at[n_at++] = (size_t)(p - (const uint8_t *)req.p) + 6;
        p += sizeof(id);
    }
    if (n_at != (size_t)events_per_req)
        die("internal: a span's trace id is missing from the packed request");
    c->n_seq_at = n_at;
    c->req = req.p;
    c->req_len = req.len;
}

/* Writes this request's sequence number into every id of the body. */
static void stamp(struct conn *c)
{
    char digits[SEQ_DIGITS + 1];
    uint8_t be[SEQ_BYTES];

    if (otlp) {
        for (int i = 0; i < SEQ_BYTES; i++)
            be[i] = (uint8_t)(c->seq >> (56 - 8 * i));
        for (size_t i = 0; i < c->n_seq_at; i++)
            memcpy(c->req + c->seq_at[i], be, SEQ_BYTES);
    } else {
        snprintf(digits, sizeof(digits), "%0*llu", SEQ_DIGITS, (unsigned long long)c->seq);
        for (size_t i = 0; i < c->n_seq_at; i++)
            memcpy(c->req + c->seq_at[i], digits, SEQ_DIGITS);
    }
    c->seq++;
}

/* ---- connections ---- */

static int open_conn(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

    if (fd < 0)
        return -1;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Watches ev on c's socket; a no-op when that is what is watched already. */
static void watch(int ep, struct conn *c, uint32_t ev, int op)
{
    struct epoll_event e = {.events = ev, .data.ptr = c};
    if (op == EPOLL_CTL_MOD && c->mask == ev)
        return;
    if (epoll_ctl(ep, op, c->fd, &e) != 0 && op != EPOLL_CTL_DEL)
        die("epoll_ctl failed");
    c->mask = ev;
}

static bool start_request(int ep, struct thread *t, struct conn *c)
{
    if (c->fd < 0) {
        c->fd = open_conn();
        if (c->fd < 0) {
            t->errors++;
            return false;
        }
        c->connected = false;
        watch(ep, c, EPOLLOUT | EPOLLIN, EPOLL_CTL_ADD);
    }
    stamp(c);
    c->sent = 0;
    c->resp_len = 0;
    c->busy = true;
    c->t_sent = now_s();
    return true;
}

static void drop(int ep, struct conn *c)
{
    if (c->fd >= 0) {
        watch(ep, c, 0, EPOLL_CTL_DEL);
        close(c->fd);
    }
    c->fd = -1;
    c->busy = false;
}

/* Sends what the socket takes; true when the whole request is out. */
static bool send_some(struct conn *c, bool *failed)
{
    while (c->sent < c->req_len) {
        ssize_t k = send(c->fd, c->req + c->sent, c->req_len - c->sent, MSG_NOSIGNAL);
        if (k > 0) {
            c->sent += (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return false;
        *failed = true;
        return false;
    }
    return true;
}

static long json_count(const char *body, const char *name)
{
    const char *p = strstr(body, name);
    if (!p)
        return -1;
    p += strlen(name);
    while (*p == ' ' || *p == ':')
        p++;
    return strtol(p, NULL, 10);
}

/*
 * Parses a complete reply in c->resp, if there is one: returns 1 (complete;
 * *status and *body set, *keep says whether the connection stays open), 0
 * (need more), -1 (malformed).
 */
static int parse_reply(struct conn *c, int *status, const char **body, size_t *total, bool *keep)
{
    char *end = memmem(c->resp, c->resp_len, "\r\n\r\n", 4), *line;
    long length = -1;

    if (!end)
        return c->resp_len > 65536 ? -1 : 0;
    *end = '\0';
    if (sscanf(c->resp, "HTTP/1.%*d %d", status) != 1) {
        *end = '\r';
        return -1;
    }
    *keep = true;
    for (line = strstr(c->resp, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
        if (!strncasecmp(line + 2, "Content-Length:", 15))
            length = strtol(line + 17, NULL, 10);
        else if (!strncasecmp(line + 2, "Connection:", 11) && strcasestr(line + 13, "close"))
            *keep = false;
        else if (!strncasecmp(line + 2, "Transfer-Encoding:", 18))
            length = -2; /* tollgate never chunks its replies */
    }
    *end = '\r';
    if (length < 0)
        return -1;
    if (c->resp_len < (size_t)(end + 4 - c->resp) + (size_t)length)
        return 0;
    *body = end + 4;
    *total = (size_t)(end + 4 - c->resp) + (size_t)length;
    return 1;
}

/* Counts one reply; body is NUL-terminated (len bytes). */
static void record(struct thread *t, struct conn *c, int status, const char *body, size_t len)
{
    double now = now_s();
    uint32_t us = (uint32_t)((now - c->t_sent) * 1e6);

    t->requests++;
    t->last_reply = now;
    if (t->n_lat == t->cap_lat) {
        t->cap_lat = t->cap_lat ? 2 * t->cap_lat : 65536;
        t->lat_us = realloc(t->lat_us, t->cap_lat * sizeof(*t->lat_us));
        if (!t->lat_us)
            die("out of memory");
    }
    t->lat_us[t->n_lat++] = us;
    if (status < 200 || status > 299) {
        t->non2xx++;
        if (t->non2xx <= 3)
            fprintf(stderr, "loadgen: HTTP %d: %.*s\n", status, (int)(len > 300 ? 300 : len), body);
        return;
    }
    if (otlp) {
        Otlp__ExportTraceServiceResponse *resp =
            otlp__export_trace_service_response__unpack(NULL, len, (const uint8_t *)body);
        long rej = resp && resp->partial_success ? (long)resp->partial_success->rejected_spans : 0;
        if (!resp || rej < 0 || rej > events_per_req) {
            t->errors++;
            fprintf(stderr, "loadgen: unexpected 2xx OTLP reply of %zu bytes\n", len);
        } else {
            t->ok++;
            t->acked += (uint64_t)(events_per_req - rej);
            if (now < t_stop)
                t->window_acked += (uint64_t)(events_per_req - rej);
            t->rejected += (uint64_t)rej;
            if (rej && t->rejected == (uint64_t)rej)
                fprintf(stderr, "loadgen: %ld spans rejected: %.300s\n", rej,
                        resp->partial_success->error_message);
        }
        if (resp)
            otlp__export_trace_service_response__free_unpacked(resp, NULL);
        return;
    }
    long acc = json_count(body, "\"accepted\""), dup = json_count(body, "\"duplicates\""),
         spo = json_count(body, "\"spooled\"");
    const char *rej = strstr(body, "\"rejected\"");
    if (acc < 0 || dup < 0 || spo < 0 || !rej) {
        t->errors++;
        fprintf(stderr, "loadgen: unexpected 2xx reply: %.*s\n", (int)(len > 300 ? 300 : len),
                body);
    } else {
        t->ok++;
        t->acked += (uint64_t)acc;
        if (now < t_stop)
            t->window_acked += (uint64_t)acc;
        t->duplicates += (uint64_t)dup;
        t->spooled += (uint64_t)spo;
        for (const char *p = strstr(rej, "\"index\""); p; p = strstr(p + 1, "\"index\""))
            t->rejected++;
    }
}

/* Reads what is there; on a complete reply records it and sends the next request. */
static void on_readable(int ep, struct thread *t, struct conn *c)
{
    for (;;) {
        if (c->resp_cap - c->resp_len < 16384) {
            c->resp_cap = c->resp_cap ? 2 * c->resp_cap : 65536;
            c->resp = realloc(c->resp, c->resp_cap);
            if (!c->resp)
                die("out of memory");
        }
        ssize_t k = recv(c->fd, c->resp + c->resp_len, c->resp_cap - c->resp_len - 1, 0);
        if (k > 0) {
            c->resp_len += (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        /* closed or failed: a request in flight is lost */
        if (c->busy)
            t->errors++;
        drop(ep, c);
        return;
    }
    c->resp[c->resp_len] = '\0';
    int status = 0;
    const char *body = NULL;
    size_t total = 0;
    bool keep = true;
    int r = parse_reply(c, &status, &body, &total, &keep);
    if (r == 0)
        return;
    if (r < 0) {
        t->errors++;
        fprintf(stderr, "loadgen: malformed reply: %.200s\n", c->resp);
        drop(ep, c);
        return;
    }
    char saved = c->resp[total];
    c->resp[total] = '\0';
    record(t, c, status, body, total - (size_t)(body - c->resp));
    c->resp[total] = saved;
    bool complete = c->sent == c->req_len;
    c->busy = false;
    if (!keep || !complete || total != c->resp_len) {
        drop(ep, c); /* closed by the server, answered early, or extra bytes: start over */
    }
    if (now_s() < t_stop && start_request(ep, t, c)) {
        bool failed = false;
        if (c->connected && send_some(c, &failed))
            watch(ep, c, EPOLLIN, EPOLL_CTL_MOD);
        else if (failed) {
            t->errors++;
            drop(ep, c);
        } else
            watch(ep, c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
    }
}

static void on_writable(int ep, struct thread *t, struct conn *c)
{
    bool failed = false;

    if (!c->connected) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            t->errors++;
            drop(ep, c);
            return;
        }
        c->connected = true;
    }
    if (send_some(c, &failed))
        watch(ep, c, EPOLLIN, EPOLL_CTL_MOD);
    else if (failed) {
        t->errors++;
        drop(ep, c);
    }
}

static void *thread_main(void *arg)
{
    struct thread *t = arg;
    struct epoll_event evs[64];
    int ep = epoll_create1(EPOLL_CLOEXEC);
    double deadline;

    if (ep < 0)
        die("epoll_create1 failed");
    for (int i = 0; i < t->count; i++)
        start_request(ep, t, &conns[t->first + i]);
    deadline = t_stop + DRAIN_SECONDS;
    for (;;) {
        int busy = 0;
        for (int i = 0; i < t->count; i++)
            busy += conns[t->first + i].busy;
        if (!busy || now_s() > deadline)
            break;
        int n = epoll_wait(ep, evs, 64, 10);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                on_readable(ep, t, c);
            if (c->fd >= 0 && c->busy && (evs[i].events & EPOLLOUT))
                on_writable(ep, t, c);
        }
    }
    for (int i = 0; i < t->count; i++) {
        struct conn *c = &conns[t->first + i];
        if (c->busy)
            t->errors++; /* no reply within the drain */
        drop(ep, c);
    }
    close(ep);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    struct thread *ts;
    uint64_t sum[9] = {0};
    uint32_t *all;
    size_t n_all = 0;
    double last = 0, elapsed;

    if (argc > 1 && strcmp(argv[1], "--otlp") == 0) {
        otlp = true;
        argv++;
        argc--;
    }
    if (argc != 8) {
        fprintf(stderr,
                "usage: loadgen [--otlp] PORT KEY EVENTS CONNECTIONS THREADS SECONDS TAG\n");
        return 1;
    }
    port = atoi(argv[1]);
    key = argv[2];
    events_per_req = atoi(argv[3]);
    n_conns = atoi(argv[4]);
    n_threads = atoi(argv[5]);
    seconds = atof(argv[6]);
    tag = argv[7];
    if (port <= 0 || port > 65535 || events_per_req < 0 || events_per_req > 99999 || n_conns < 1 ||
        n_conns > 9999 || n_threads < 1 || n_threads > n_conns || seconds <= 0 || !*tag ||
        strlen(tag) > 16 || (otlp && events_per_req < 1))
        die("bad arguments");
    conns = calloc((size_t)n_conns, sizeof(*conns));
    ts = calloc((size_t)n_threads, sizeof(*ts));
    if (!conns || !ts)
        die("out of memory");
    for (int i = 0; i < n_conns; i++) {
        conns[i].idx = i;
        conns[i].fd = -1;
        if (otlp)
            build_otlp_request(&conns[i]);
        else
            build_request(&conns[i]);
    }
    t_start = now_s();
    t_stop = t_start + seconds;
    for (int i = 0, first = 0; i < n_threads; i++) {
        ts[i].first = first;
        ts[i].count = n_conns / n_threads + (i < n_conns % n_threads);
        first += ts[i].count;
        if (pthread_create(&ts[i].th, NULL, thread_main, &ts[i]) != 0)
            die("pthread_create failed");
    }
    for (int i = 0; i < n_threads; i++) {
        pthread_join(ts[i].th, NULL);
        sum[0] += ts[i].requests;
        sum[1] += ts[i].ok;
        sum[2] += ts[i].non2xx;
        sum[3] += ts[i].errors;
        sum[4] += ts[i].acked;
        sum[5] += ts[i].duplicates;
        sum[6] += ts[i].spooled;
        sum[7] += ts[i].rejected;
        sum[8] += ts[i].window_acked;
        n_all += ts[i].n_lat;
        if (ts[i].last_reply > last)
            last = ts[i].last_reply;
    }
    all = malloc((n_all ? n_all : 1) * sizeof(*all));
    if (!all)
        die("out of memory");
    n_all = 0;
    for (int i = 0; i < n_threads; i++) {
        memcpy(all + n_all, ts[i].lat_us, ts[i].n_lat * sizeof(*all));
        n_all += ts[i].n_lat;
    }
    qsort(all, n_all, sizeof(*all), cmp_u32);
    elapsed = (last > t_start ? last : now_s()) - t_start;
#define PCT(p) (n_all ? all[(size_t)((double)(n_all - 1) * (p))] / 1000.0 : 0.0)
    printf("requests=%llu\nok=%llu\nnon2xx=%llu\nerrors=%llu\nacked=%llu\nduplicates=%llu\n"
           "spooled=%llu\nrejected=%llu\nelapsed=%.3f\nwindow_acked=%llu\nevents_per_s=%.0f\n"
           "p50_ms=%.2f\np99_ms=%.2f\nmax_ms=%.2f\nbody_bytes=%zu\n",
           (unsigned long long)sum[0], (unsigned long long)sum[1], (unsigned long long)sum[2],
           (unsigned long long)sum[3], (unsigned long long)sum[4], (unsigned long long)sum[5],
           (unsigned long long)sum[6], (unsigned long long)sum[7], elapsed,
           (unsigned long long)sum[8], (double)sum[8] / seconds, PCT(0.50), PCT(0.99), PCT(1.0),
           conns[0].req_len);
    for (int i = 0; i < n_conns; i++) {
        free(conns[i].req);
        free(conns[i].resp);
        free(conns[i].seq_at);
    }
    for (int i = 0; i < n_threads; i++)
        free(ts[i].lat_us);
    free(all);
    free(conns);
    free(ts);
    return 0;
}
