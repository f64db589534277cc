/*
 * http: the HTTP layer on libmicrohttpd (epoll, thread pool). It reads each
 * request's body up to the size limit (413 beyond it), gives it a request id,
 * matches it to a route, checks the API key's role, calls the route's handler
 * on an MHD worker thread, and logs and counts it when it completes. Every
 * error it writes is JSON: {"error":{"code","message","field","request_id"}}.
 */
#ifndef TOLLGATE_HTTP_H
#define TOLLGATE_HTTP_H

#include "app.h"
#include "auth.h"
#include "route.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct MHD_Connection;
struct http_req;

typedef void (*http_handler)(struct http_req *r);

struct http_route {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* see route.h */
    unsigned roles;      /* enum auth_role bits allowed; 0 = public. Admin keys pass any. */
    http_handler fn;
};

/* One request, owned by the HTTP layer; handlers read it and set a reply. */
struct http_req {
    struct app *app;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    char id[72]; /* request id (1-64 bytes), echoed as X-Request-Id */
    char *body;  /* NUL-terminated; body_len excludes the NUL */
    size_t body_len;
    size_t body_cap;
    bool too_large;
    struct route_params params; /* captured path segments */
    bool authed;
    struct auth_key key; /* valid when authed */
    int route_slot;      /* metrics slot */
    double t_start;
    /* the reply */
    int status;
    char *resp;
    size_t resp_len;
    const char *content_type;
    char location[256];
    char allow[64];
    char retry_after[16];
    struct {
        char name[32];
        char value[224];
    } extra[4]; /* more response headers (http_add_header) */
    int n_extra;
    bool replied;
    /* deferral (see http_defer) */
    http_handler defer_start;
    http_handler defer_done;
    bool deferred;   /* suspended, waiting for http_resume */
    void *defer_arg; /* the handler's own state while deferred */
};

struct http_server;

/*
 * Starts serving routes[0..n) on cfg->listen. routes must outlive the server.
 * On failure returns NULL with the reason in err.
 */
struct http_server *http_start(struct app *app, const struct http_route *routes, int n, char *err,
                               size_t errlen);

/* The port actually bound (useful with port 0). */
int http_port(const struct http_server *s);

/*
 * Stops accepting, lets requests in flight finish for up to timeout_s
 * seconds, then stops and frees the server. Sets *sp to NULL.
 */
void http_stop(struct http_server **sp, long timeout_s);

/*
 * Defers the reply: once the layer has suspended the connection, it calls
 * start(r) (which hands work to another thread), and after that thread
 * calls http_resume(r), it calls done(r) on an HTTP thread to make the
 * reply. No HTTP thread waits in between. Call from a handler, then return.
 */
void http_defer(struct http_req *r, http_handler start, http_handler done);

/* Wakes a deferred request; any thread, once per http_defer. */
void http_resume(struct http_req *r);

/* Replies with obj as JSON and takes ownership of obj (it may be NULL: then 500). */
void http_reply_json(struct http_req *r, int status, json_t *obj);

/* Replies with a JSON error; field may be NULL. message is printf-style. */
void http_reply_error(struct http_req *r, int status, const char *code, const char *field,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Replies with a buffer of the given type, taking ownership of buf (malloc'd). */
void http_reply_buf(struct http_req *r, int status, const char *content_type, char *buf,
                    size_t len);

/* Replies 503 (Postgres unreachable) or 500 (anything else) for a failed query. */
void http_reply_db_error(struct http_req *r, struct db_conn *c);

/*
 * Adds a response header (at most 4 per request; names under 32 bytes,
 * values under 224, both printable ASCII: others are dropped).
 */
void http_add_header(struct http_req *r, const char *name, const char *value);

/* A request header, or NULL. */
const char *http_header(struct http_req *r, const char *name);

/* A query-string argument, or NULL. */
const char *http_query(struct http_req *r, const char *name);

/*
 * Parses the body as a JSON object. On failure replies 400/415 itself and
 * returns NULL; the caller just returns.
 */
json_t *http_body_object(struct http_req *r);

/*
 * Validates a request id offered by a client: 1..64 characters of
 * [A-Za-z0-9._:-]. Pure; exposed for tests.
 */
bool http_request_id_valid(const char *s);

/* The metrics label of route slot i: its pattern, or "static"/"unmatched". */
const char *http_route_label(int i);

#endif
