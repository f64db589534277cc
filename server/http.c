/*
 * http: libmicrohttpd glue (see http.h). MHD calls access_cb several times
 * per request: once when the headers are in, once per body chunk, and once
 * more with no data, when we dispatch. completed_cb runs when the response
 * has been sent (or the connection died): it logs, counts and frees.
 */
#include "http.h"

#include "log.h"
#include "metrics.h"
#include "static.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <zlib.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

struct http_server {
    struct MHD_Daemon *d;
    struct app *app;
    const struct http_route *routes;
    int n_routes;
    int port;
    atomic_int active; /* requests begun and not completed: what a drain waits for */
};

/* Slots beyond the routes, for metrics. */
#define SLOT_STATIC(s)    ((s)->n_routes)
#define SLOT_UNMATCHED(s) ((s)->n_routes + 1)

static const char **labels;
static int n_labels;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *http_route_label(int i)
{
    return i >= 0 && i < n_labels ? labels[i] : "unknown";
}

bool http_request_id_valid(const char *s)
{
    size_t n = 0;
    if (!s)
        return false;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= 64 || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '-'))
            return false;
    }
    return n > 0;
}

/* A fresh id: 16 hex digits from a per-thread generator seeded by the kernel. */
static void new_request_id(char out[72])
{
    static _Thread_local uint64_t state;
    uint64_t x;

    if (!state) {
        if (getrandom(&state, sizeof(state), 0) != sizeof(state) || !state)
            state = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&state;
    }
    /* xorshift64* */
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    x = state * 0x2545F4914F6CDD1DULL;
    snprintf(out, 72, "%016llx", (unsigned long long)x);
}

static bool printable(const char *s, size_t cap)
{
    size_t n = 0;
    for (; *s; s++, n++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e || n + 1 >= cap)
            return false;
    return true;
}

void http_add_header(struct http_req *r, const char *name, const char *value)
{
    if (r->n_extra >= (int)(sizeof(r->extra) / sizeof(r->extra[0])) || !*name ||
        !printable(name, sizeof(r->extra[0].name)) || !printable(value, sizeof(r->extra[0].value)))
        return;
    snprintf(r->extra[r->n_extra].name, sizeof(r->extra[0].name), "%s", name);
    snprintf(r->extra[r->n_extra].value, sizeof(r->extra[0].value), "%s", value);
    r->n_extra++;
}

const char *http_header(struct http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_query(struct http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

void http_reply_buf(struct http_req *r, int status, const char *content_type, char *buf, size_t len)
{
    free(r->resp);
    r->status = status;
    r->content_type = content_type;
    r->resp = buf;
    r->resp_len = len;
    r->replied = true;
}

void http_reply_json(struct http_req *r, int status, json_t *obj)
{
    char *s = obj ? json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;

    json_decref(obj);
    if (!s) {
        static const char oom[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        char *copy = strdup(oom);
        http_reply_buf(r, 500, "application/json", copy, copy ? strlen(copy) : 0);
        return;
    }
    http_reply_buf(r, status, "application/json", s, strlen(s));
}

void http_reply_error(struct http_req *r, int status, const char *code, const char *field,
                      const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    json_t *err;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    err = json_pack("{s:s, s:s, s:o, s:s}", "code", code, "message", msg, "field",
                    field ? json_string(field) : json_null(), "request_id", r->id);
    http_reply_json(r, status, err ? json_pack("{s:o}", "error", err) : NULL);
}

void http_reply_db_error(struct http_req *r, struct db_conn *c)
{
    if (!c || db_conn_lost(c)) {
        snprintf(r->retry_after, sizeof(r->retry_after), "5");
        http_reply_error(r, 503, "unavailable", NULL, "the database is unreachable; retry later");
        return;
    }
    log_error(r->id, "database error %s: %s", db_conn_sqlstate(c), db_conn_error(c));
    http_reply_error(r, 500, "internal", NULL,
                     "database error (%s); see the server log for request %s", db_conn_sqlstate(c),
                     r->id);
}

json_t *http_body_object(struct http_req *r)
{
    const char *ct = http_header(r, "Content-Type");
    json_error_t jerr;
    json_t *v;

    if (ct && strncasecmp(ct, "application/json", 16) != 0) {
        http_reply_error(r, 415, "unsupported_media_type", NULL,
                         "expected Content-Type application/json, got '%.100s'", ct);
        return NULL;
    }
    if (r->body_len == 0) {
        http_reply_error(r, 400, "invalid_json", NULL,
                         "the request body is empty; send a JSON object");
        return NULL;
    }
    v = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!v) {
        http_reply_error(r, 400, "invalid_json", NULL, "invalid JSON at line %d column %d: %s",
                         jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        http_reply_error(r, 400, "invalid_json", NULL, "the request body must be a JSON object");
        return NULL;
    }
    return v;
}

/* Checks the bearer key against the route's roles; replies 401/403/503 on failure. */
static bool authorize(struct http_req *r, const struct http_route *rt)
{
    const char *h = http_header(r, "Authorization");
    const char *secret;

    if (!rt->roles)
        return true;
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        http_reply_error(r, 401, "unauthenticated", NULL,
                         "send an API key as 'Authorization: Bearer tg_...'");
        return false;
    }
    secret = h + 7;
    while (*secret == ' ')
        secret++;
    switch (auth_lookup(r->app->db, secret, &r->key)) {
    case AUTH_OK:
        break;
    case AUTH_MALFORMED:
        http_reply_error(r, 401, "unauthenticated", NULL, "the API key is malformed");
        return false;
    case AUTH_UNKNOWN:
        http_reply_error(r, 401, "unauthenticated", NULL, "the API key is unknown or revoked");
        return false;
    case AUTH_UNAVAILABLE:
        snprintf(r->retry_after, sizeof(r->retry_after), "5");
        http_reply_error(r, 503, "unavailable", NULL,
                         "cannot check the API key: database unreachable");
        return false;
    }
    r->authed = true;
    if (r->key.role != ROLE_ADMIN && !(r->key.role & rt->roles)) {
        http_reply_error(r, 403, "forbidden", NULL, "a key with role '%s' may not call %s %s",
                         auth_role_name(r->key.role), rt->method, rt->pattern);
        return false;
    }
    return true;
}

/*
 * Replaces a gzip (or deflate) body with its decompressed bytes, capped at
 * max bytes after decompression. Replies 413 or 400 and returns false when
 * it is too large or not valid.
 */
static bool inflate_body(struct http_req *r, size_t max)
{
    z_stream z = {0};
    size_t cap = 0, len = 0;
    char *out = NULL;
    int rc = Z_OK;

    if (inflateInit2(&z, 15 + 32) != Z_OK) { /* 32: a gzip or zlib header, detected */
        http_reply_error(r, 500, "internal", NULL, "cannot start decompression");
        return false;
    }
    z.next_in = (Bytef *)r->body;
    z.avail_in = (uInt)r->body_len;
    for (;;) {
        if (len == cap) { /* grow: 4x the input at first, then doubling, up to max + 1 */
            size_t ncap = cap ? cap * 2 : r->body_len * 4 + 4096;
            char *nb;
            if (ncap > max + 1)
                ncap = max + 1;
            if (ncap <= cap || !(nb = realloc(out, ncap + 1))) {
                http_reply_error(r, 500, "internal", NULL, "out of memory");
                goto failed;
            }
            out = nb;
            cap = ncap;
        }
        z.next_out = (Bytef *)out + len;
        z.avail_out = (uInt)(cap - len);
        rc = inflate(&z, Z_NO_FLUSH);
        len = cap - z.avail_out;
        if (len > max) {
            http_reply_error(r, 413, "payload_too_large", NULL,
                             "the request body is larger than %zu bytes after decompression", max);
            goto failed;
        }
        if (rc == Z_STREAM_END)
            break;
        if (rc != Z_OK || (z.avail_in == 0 && len < cap)) {
            http_reply_error(r, 400, "invalid_encoding", NULL,
                             "the body is not valid gzip data (Content-Encoding: gzip)");
            goto failed;
        }
    }
    inflateEnd(&z);
    out[len] = '\0';
    free(r->body);
    r->body = out;
    r->body_len = len;
    r->body_cap = len + 1;
    return true;
failed:
    inflateEnd(&z);
    free(out);
    return false;
}

/* Undoes a Content-Encoding; replies (415, 413, 400) and returns false if it cannot. */
static bool decode_body(struct http_req *r, size_t max)
{
    const char *enc = http_header(r, "Content-Encoding");

    if (!enc || !*enc || !strcasecmp(enc, "identity"))
        return true;
    if (strcasecmp(enc, "gzip") != 0 && strcasecmp(enc, "deflate") != 0) {
        http_reply_error(r, 415, "unsupported_encoding", NULL,
                         "Content-Encoding '%.40s' is not supported; use gzip or none", enc);
        return false;
    }
    return r->body_len == 0 || inflate_body(r, max);
}

static void dispatch(struct http_server *s, struct http_req *r)
{
    char allow[64] = "";
    bool path_known = false;

    if (r->too_large) {
        http_reply_error(r, 413, "payload_too_large", NULL,
                         "the request body is larger than %ld bytes", s->app->cfg->max_body);
        return;
    }
    for (int i = 0; i < s->n_routes; i++) {
        const struct http_route *rt = &s->routes[i];
        if (!route_match(rt->pattern, r->path, &r->params))
            continue;
        if (strcmp(rt->method, r->method) != 0 &&
            !(strcmp(r->method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
            path_known = true;
            r->route_slot = i;
            size_t n = strlen(allow);
            snprintf(allow + n, sizeof(allow) - n, "%s%s", n ? ", " : "", rt->method);
            continue;
        }
        r->route_slot = i;
        if (authorize(r, rt) && decode_body(r, (size_t)s->app->cfg->max_body))
            rt->fn(r);
        if (!r->replied && !r->deferred)
            http_reply_error(r, 500, "internal", NULL, "the handler gave no reply");
        return;
    }
    if (path_known) {
        snprintf(r->allow, sizeof(r->allow), "%s", allow);
        http_reply_error(r, 405, "method_not_allowed", NULL, "%s is not allowed here; use %s",
                         r->method, allow);
        return;
    }
    if ((strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0) &&
        strncmp(r->path, "/v1/", 4) != 0 && static_serve(r, s->app->cfg->web_dir)) {
        r->route_slot = SLOT_STATIC(s);
        return;
    }
    http_reply_error(r, 404, "not_found", NULL, "no route for %s %.200s", r->method, r->path);
}

static enum MHD_Result send_reply(struct http_req *r)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->resp_len, r->resp, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ret;

    if (!resp)
        return MHD_NO;
    r->resp = NULL; /* MHD owns it now */
    MHD_add_response_header(resp, "Content-Type", r->content_type ? r->content_type : "text/plain");
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (strncmp(r->path, "/v1/", 4) == 0)
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (r->location[0])
        MHD_add_response_header(resp, "Location", r->location);
    if (r->allow[0])
        MHD_add_response_header(resp, "Allow", r->allow);
    if (r->retry_after[0])
        MHD_add_response_header(resp, "Retry-After", r->retry_after);
    for (int i = 0; i < r->n_extra; i++)
        MHD_add_response_header(resp, r->extra[i].name, r->extra[i].value);
    if (atomic_load(&r->app->draining))
        MHD_add_response_header(resp, "Connection", "close");
    ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct http_server *s = cls;
    struct http_req *r = *con_cls;
    (void)version;

    if (!r) {
        const char *rid, *cl;
        r = calloc(1, sizeof(*r));
        if (!r)
            return MHD_NO;
        atomic_fetch_add(&s->active, 1);
        r->app = s->app;
        r->conn = conn;
        r->method = method;
        r->path = url;
        r->route_slot = SLOT_UNMATCHED(s);
        r->t_start = now_s();
        rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
        if (http_request_id_valid(rid))
            snprintf(r->id, sizeof(r->id), "%s", rid);
        else
            new_request_id(r->id);
        *con_cls = r;
        /* Refuse a declared oversized body before reading any of it. */
        cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > (unsigned long long)s->app->cfg->max_body) {
            r->too_large = true;
            dispatch(s, r);
            return send_reply(r);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->replied || r->too_large)
            return MHD_YES;
        if (r->body_len + n > (size_t)s->app->cfg->max_body) {
            r->too_large = true;
            free(r->body);
            r->body = NULL;
            r->body_len = r->body_cap = 0;
            return MHD_YES;
        }
        if (r->body_len + n + 1 > r->body_cap) {
            size_t cap = r->body_cap ? r->body_cap : 4096;
            while (cap < r->body_len + n + 1)
                cap *= 2;
            char *nb = realloc(r->body, cap);
            if (!nb)
                return MHD_NO;
            r->body = nb;
            r->body_cap = cap;
        }
        memcpy(r->body + r->body_len, upload_data, n);
        r->body_len += n;
        r->body[r->body_len] = '\0';
        return MHD_YES;
    }
    if (r->defer_done) {
        /* resumed: the deferred work is done; make the reply */
        http_handler done = r->defer_done;
        r->defer_done = NULL;
        done(r);
        if (!r->replied)
            http_reply_error(r, 500, "internal", NULL, "the handler gave no reply");
        return send_reply(r);
    }
    if (r->replied)
        return MHD_YES; /* already answered (413 on Content-Length) */
    if (!r->body) {
        r->body = strdup("");
        if (!r->body)
            return MHD_NO;
    }
    dispatch(s, r);
    if (r->deferred) {
        /* Suspend first, then start the work, so a fast resume cannot come first. */
        MHD_suspend_connection(conn);
        r->defer_start(r);
        return MHD_YES;
    }
    return send_reply(r);
}

void http_defer(struct http_req *r, http_handler start, http_handler done)
{
    r->defer_start = start;
    r->defer_done = done;
    r->deferred = true;
}

void http_resume(struct http_req *r)
{
    r->deferred = false;
    MHD_resume_connection(r->conn);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_req *r = *con_cls;
    char fields[768];
    size_t n;
    double dt;
    (void)conn;

    if (!r)
        return;
    atomic_fetch_sub(&((struct http_server *)cls)->active, 1);
    dt = now_s() - r->t_start;
    metrics_request(r->route_slot, r->method, r->status, dt);
    if (LOG_INFO >= log_min_level) {
        n = (size_t)snprintf(fields, sizeof(fields), "\"method\":\"%s\",\"path\":\"", r->method);
        (void)log_json_escape(fields, sizeof(fields) - 200, &n, r->path);
        snprintf(fields + n, sizeof(fields) - n,
                 "\",\"route\":\"%s\",\"status\":%d,\"ms\":%.3f,\"in\":%zu,\"out\":%zu%s%s%s%s",
                 http_route_label(r->route_slot), r->status, dt * 1000, r->body_len, r->resp_len,
                 r->authed ? ",\"key\":\"" : "", r->authed ? r->key.prefix : "",
                 r->authed ? "\"" : "",
                 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : ",\"aborted\":true");
        log_fields(LOG_INFO, r->id, "request", fields);
    }
    free(r->body);
    free(r->resp);
    free(r);
    *con_cls = NULL;
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    log_warn(NULL, "http: %s", msg);
}

/* Resolves host:port into addr. */
static bool resolve(const char *listen, struct sockaddr_storage *addr, char *err, size_t errlen)
{
    char host[256], port_s[8];
    int port, rc;
    struct addrinfo hints = {0}, *res = NULL;

    if (!config_split_listen(listen, host, sizeof(host), &port)) {
        snprintf(err, errlen, "--listen '%s' is not HOST:PORT", listen);
        return false;
    }
    snprintf(port_s, sizeof(port_s), "%d", port);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    rc = getaddrinfo(host, port_s, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "--listen '%s': %s", listen, gai_strerror(rc));
        return false;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return true;
}

struct http_server *http_start(struct app *app, const struct http_route *routes, int n, char *err,
                               size_t errlen)
{
    struct http_server *s = calloc(1, sizeof(*s));
    struct sockaddr_storage addr = {0};
    unsigned flags =
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    long threads = app->cfg->threads;
    const union MHD_DaemonInfo *info;

    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (threads == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cpus > 0 ? 2 * cpus : 4;
        if (threads < 4)
            threads = 4;
    }
    labels = calloc((size_t)n + 2, sizeof(*labels));
    if (!labels) {
        snprintf(err, errlen, "out of memory");
        free(s);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        labels[i] = routes[i].pattern;
    labels[n] = "static";
    labels[n + 1] = "unmatched";
    n_labels = n + 2;
    if (!metrics_init(n + 2, labels)) {
        snprintf(err, errlen, "out of memory");
        goto failed;
    }
    if (!resolve(app->cfg->listen, &addr, err, errlen))
        goto failed;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->app = app;
    s->routes = routes;
    s->n_routes = n;
    /* The logger must come first, or MHD logs the options before it its own way. */
    s->d = MHD_start_daemon(
        flags, 0, NULL, NULL, access_cb, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)threads, MHD_OPTION_NOTIFY_COMPLETED, completed_cb, s,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)app->cfg->conn_timeout, MHD_OPTION_END);
    if (!s->d) {
        snprintf(err, errlen, "cannot listen on %s (in use, or not an address of this machine)",
                 app->cfg->listen);
        goto failed;
    }
    info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    log_info(NULL, "listening on %s (port %d, %ld threads)", app->cfg->listen, s->port, threads);
    return s;
failed:
    free(labels);
    labels = NULL;
    n_labels = 0;
    free(s);
    return NULL;
}

int http_port(const struct http_server *s)
{
    return s->port;
}

void http_stop(struct http_server **sp, long timeout_s)
{
    struct http_server *s = *sp;
    double deadline;
    int fd;

    if (!s)
        return;
    /*
     * Stop accepting at once: shut the listen socket down so that new
     * connections are refused, but close it only after MHD_stop_daemon. Its
     * worker threads remove it from their epoll sets on their next turn,
     * and a descriptor closed before that makes epoll_ctl fail, on which
     * MHD aborts the process (MHD_quiesce_daemon's documented contract).
     */
    fd = MHD_quiesce_daemon(s->d);
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
    /*
     * Wait for requests in flight, not for connections: an idle keep-alive
     * connection has nothing to finish, and MHD_stop_daemon closes it.
     */
    deadline = now_s() + (double)timeout_s;
    while (atomic_load(&s->active) > 0 && now_s() < deadline)
        usleep(20000);
    MHD_stop_daemon(s->d);
    if (fd >= 0)
        close(fd);
    free(s);
    *sp = NULL;
}
