/*
 * harness: what the integration tests share. They drive the real tollgate
 * binary (TOLLGATE_BIN) against the real throwaway Postgres cluster that
 * tests/with-pg.sh starts (DATABASE_URL). Criterion forks one process per
 * test, so each test gets its own databases and servers and all harness
 * state is per process: nothing here is thread-safe, and nothing needs to be.
 *
 * Memory: every pointer a th_ function returns (strings, responses, JSON,
 * servers) is owned by the harness and stays valid until the test ends;
 * tests never free anything. th_teardown (installed by TH_SUITE) frees it,
 * stops servers the test left running and drops the databases it made. A
 * left-over server that does not stop cleanly (exit 0, no sanitizer report)
 * has its log printed and makes teardown exit 1: Criterion ignores failed
 * assertions in a teardown, but not a worker that exits.
 *
 * Failures: a th_ function that cannot do its job fails the current test
 * with a message (and the server log, where there is one); it only returns
 * on success. The exceptions say so (th_sql_try, th_server_wait, ...).
 */
#ifndef TOLLGATE_TESTS_HARNESS_H
#define TOLLGATE_TESTS_HARNESS_H

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* ---- suites ---- */

void th_setup(void);
void th_teardown(void);

/*
 * Declares a suite whose tests get the harness's setup and teardown, and two
 * minutes each (the longest, the 64-client verdict test under ASan on a busy
 * machine, needs about one). Set timeouts here, not per test: Criterion leaks
 * a test's own .timeout, which LeakSanitizer reports.
 */
#define TH_SUITE(name) TestSuite(name, .init = th_setup, .fini = th_teardown, .timeout = 120)

/*
 * Marks a test as pinning a known server bug: it is skipped (with why) unless
 * TH_KNOWN_BUGS=1 is set, so the suite stays green until the bug is fixed;
 * then the fixer deletes the marker. Use as the first statement of a test.
 */
#define TH_KNOWN_BUG(why)                                                                          \
    do {                                                                                           \
        if (!th_known_bugs_enabled())                                                              \
            cr_skip_test("known server bug (run with TH_KNOWN_BUGS=1): %s", why);                  \
    } while (0)
bool th_known_bugs_enabled(void);

/* ---- memory ---- */

/* Formats into a string owned by the harness. */
char *th_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Hands ptr (malloc'd) to the harness, which frees it when the test ends. Returns ptr. */
void *th_keep(void *ptr);

/* The number of lines in s ("a\nb\n" has 2; a last line without '\n' counts). */
int th_count_lines(const char *s);

/* The last non-empty line of s without its newline, or "" (harness-owned). */
const char *th_last_line(const char *s);

/* True if s matches the POSIX extended regular expression re. */
bool th_matches(const char *s, const char *re);

/* ---- Postgres ---- */

/* DATABASE_URL: the cluster's base database (empty, never migrated by tests). */
const char *th_db_url(void);

/* The base URL with its database name replaced by dbname. */
const char *th_db_url_for(const char *dbname);

/* The database name a URL made by th_db_url_for/th_db_fresh names. */
const char *th_db_name(const char *url);

/* Creates a new empty database (th_<random>) and returns its URL. Dropped at teardown. */
const char *th_db_fresh(void);

/* th_db_fresh, then `tollgate migrate` on it. */
const char *th_db_migrated(void);

/* Terminates every session of the database of url and drops it. */
void th_db_drop(const char *url);

/*
 * Runs sql with text parameters (NULL-terminated list; a NULL value cannot be
 * passed) on a fresh connection to url. Returns the first column of the
 * first row, "" when there is no row, or NULL when that value is SQL NULL.
 * Fails the test on any error.
 */
const char *th_sql(const char *url, const char *sql, ...) __attribute__((sentinel));

/* Like th_sql but returns false (with the error in *err) instead of failing. */
bool th_sql_try(const char *url, const char **err, const char *sql, ...) __attribute__((sentinel));

/* ---- the binary ---- */

/* TOLLGATE_BIN, an absolute path. */
const char *th_bin(void);

struct th_proc {
    int status; /* exit code, or 128 + signal number if killed */
    char *out;  /* standard output */
    char *err;  /* standard error */
};

/*
 * Runs `tollgate ARGS...` (NULL-terminated) and waits up to 30 s for it.
 * env is NULL or a NULL-terminated list of "NAME=value" to set. Children never
 * inherit DATABASE_URL or TOLLGATE_* from the test process: each command names
 * its database explicitly, by flag or through env. Fails the test if the
 * command times out or its stderr holds a sanitizer report. Returns status.
 */
int th_run(struct th_proc *p, const char *const *env, ...) __attribute__((sentinel));
int th_runv(struct th_proc *p, const char *const *env, const char *const *args);

/*
 * A command started with th_spawn (args NULL-terminated, env as for th_run)
 * and finished with th_wait (30 s, then it fails the test) or th_wait_ms
 * (returns -1 on timeout and leaves the command running; teardown kills it).
 */
struct th_child;
struct th_child *th_spawn(const char *const *env, const char *const *args);
int th_wait(struct th_child *c, struct th_proc *p);
int th_wait_ms(struct th_child *c, struct th_proc *p, int timeout_ms);

/* Runs `keys create --role ROLE [--team TEAM]` on url; returns the secret. */
const char *th_cli_key(const char *url, const char *role, const char *team);

/* An unscoped admin key made with `tollgate keys create --role admin`. */
const char *th_admin_key(const char *url);

/* The id of the key with this secret (looked up by its SHA-256), as text. */
const char *th_key_id(const char *url, const char *secret);

/* ---- servers ---- */

struct th_server {
    pid_t pid;
    int port;
    char base[40];      /* "http://127.0.0.1:PORT" */
    const char *db_url; /* the database it serves */
    const char *log;    /* path of its stdout+stderr */
    bool running;       /* not yet reaped */
    int status;         /* exit status, once reaped */
    bool checked;       /* th_server_stop has judged how it ended */
};

/*
 * Starts `tollgate serve --listen 127.0.0.1:0 --database-url URL ARGS...`
 * (args NULL-terminated) with output to a log file, learns the port it bound
 * from the log, and waits until GET /healthz answers 200 (10 s at most).
 */
struct th_server *th_server_start(const char *db_url, ...) __attribute__((sentinel));

/*
 * The general form. env as for th_run. If env sets TOLLGATE_LISTEN, no
 * --listen flag is passed (the port is still read from the log, so any port
 * works). db_url may be NULL when env sets DATABASE_URL.
 */
struct th_server *th_server_startv(const char *const *env, const char *db_url,
                                   const char *const *args);

/*
 * SIGTERM (unless it has exited already), then waits up to 15 s; fails the
 * test (showing the log) unless the server exits 0 with no sanitizer report
 * in its log. Returns the log text.
 */
const char *th_server_stop(struct th_server *s);

/* Sends sig to the server without waiting. */
void th_server_kill(struct th_server *s, int sig);

/* Waits up to timeout_ms for the server to exit; returns its status, or -1 on timeout. */
int th_server_wait(struct th_server *s, int timeout_ms);

/* The server's log so far. */
const char *th_server_log(const struct th_server *s);

/* Waits up to timeout_ms for text to appear in the server's log. */
bool th_server_log_wait(const struct th_server *s, const char *text, int timeout_ms);

/* Prints the server's log to stderr under a heading (for failures). */
void th_server_dump(const struct th_server *s, const char *why);

/* True if a TCP connection to the server's port is accepted now. */
bool th_port_open(int port);

/* ---- HTTP ---- */

struct th_resp {
    long status; /* 0 if no response came */
    char *body;  /* NUL-terminated */
    size_t body_len;
    json_t *json;                /* the body parsed, or NULL if it is not JSON */
    char *headers;               /* the final response's raw header block */
    const struct th_server *srv; /* who answered */
    bool reused;                 /* sent on an already open (keep-alive) connection */
    char what[160];              /* "METHOD PATH", for messages */
};

/*
 * A keep-alive client: requests sent with .conn set reuse one TCP connection
 * (when the server keeps it open). Closed at teardown, or by th_conn_close.
 */
struct th_conn;
struct th_conn *th_conn_open(void);
void th_conn_close(struct th_conn *c);

/* One request in full. Only method and path are required. */
struct th_req {
    const char *method;
    const char *path; /* with any query string */
    const char *key;  /* sent as "Authorization: Bearer KEY" */
    const char *content_type;
    const char *body;                  /* NULL: none */
    size_t body_len;                   /* 0: strlen(body) */
    const char *const *headers;        /* NULL-terminated "Name: value" extras */
    bool chunked;                      /* Transfer-Encoding: chunked instead of Content-Length */
    size_t piece;                      /* send the body in pieces of this size (0: at once) */
    void (*between)(void *arg, int i); /* called before sending piece i > 0 */
    void *arg;
    struct th_conn *conn; /* NULL: a new connection, closed after the response */
};

/* Sends req to s and fills *out. A failed connection leaves out->status 0. */
void th_http_req(const struct th_server *s, const struct th_req *req, struct th_resp *out);

/* The common case: body may be NULL; key and content_type may be NULL. */
void th_http(const struct th_server *s, const char *method, const char *path, const char *key,
             const char *content_type, const char *body, struct th_resp *out);

/* A JSON POST/PATCH with the given key; body is printf-style. */
void th_json(const struct th_server *s, const char *method, const char *path, const char *key,
             struct th_resp *out, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* A response header's value (the last one of that name, case-insensitive), or NULL. */
const char *th_header(const struct th_resp *r, const char *name);

/* ---- assertions ---- */

/*
 * The assertions below report the caller's file and line. On failure they
 * show the request, the response and the log of the server that answered.
 */

/* Fails unless r->status == status. */
#define th_assert_status(r, status) th_assert_status_at(__FILE__, __LINE__, r, status)
void th_assert_status_at(const char *file, int line, const struct th_resp *r, long status);

/*
 * Fails unless r is a JSON error of this status and code: {"error":{"code",
 * "message" (non-empty), "field", "request_id" (= X-Request-Id)}}, with
 * Content-Type application/json. field NULL means the field must be null;
 * TH_ANY_FIELD accepts any.
 */
#define th_assert_error(r, status, code, field)                                                    \
    th_assert_error_at(__FILE__, __LINE__, r, status, code, field)
void th_assert_error_at(const char *file, int line, const struct th_resp *r, long status,
                        const char *code, const char *field);
extern const char TH_ANY_FIELD[];

/* Fails the test with a printf-style message about r. */
#define th_fail_resp(r, ...) th_fail_resp_at(__FILE__, __LINE__, r, __VA_ARGS__)
void th_fail_resp_at(const char *file, int line, const struct th_resp *r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5))) __attribute__((noreturn));

/* obj's string member key, or NULL if absent or not a string. */
const char *th_jstr(const json_t *obj, const char *key);

/* True if obj's member key is present and JSON null. */
bool th_jnull(const json_t *obj, const char *key);

/* The array member key of r->json; fails the test if there is none. */
json_t *th_jarray(const struct th_resp *r, const char *key);

/* The object in array arr whose member "slug" (or other key) equals value, or NULL. */
json_t *th_jfind(const json_t *arr, const char *key, const char *value);

/* ---- admin API shortcuts (each asserts success) ---- */

/*
 * POST /v1/admin/teams {"slug","kind","parent"} with key; kind and parent may
 * be NULL. Returns the created team.
 */
json_t *th_create_team(const struct th_server *s, const char *key, const char *slug,
                       const char *kind, const char *parent);

/* POST /v1/admin/keys {"role","team"} with key; team may be NULL. Returns the secret. */
const char *th_create_key(const struct th_server *s, const char *key, const char *role,
                          const char *team);

/* ---- files ---- */

/*
 * The path of rel (e.g. "prices/genai-prices.json") in the repository: under
 * the current folder if it is there, else under the checkout TOLLGATE_BIN
 * was built in (.../build/MODE/tollgate).
 */
const char *th_repo_file(const char *rel);

/* A new empty folder under /tmp (mode 0755), removed with its contents at teardown. */
const char *th_tmpdir(void);

/* The size of the file at path in bytes, or -1 if it does not exist. */
long long th_file_size(const char *path);

/* ---- the price catalog ---- */

/*
 * A fresh database (dropped at teardown), migrated and with the catalog
 * snapshot prices/genai-prices.json imported. It is a CREATE DATABASE ...
 * TEMPLATE copy of a template database that the first caller in the
 * cluster builds (migrate, then `prices import`) and later callers reuse,
 * named after the binary and the catalog file, so a rebuild makes a new one.
 */
const char *th_db_priced(void);

/* Runs `tollgate prices import prices/genai-prices.json` on url; fails the test on error. */
void th_prices_import(const char *url);

/* ---- servers that crash ---- */

/*
 * SIGKILL, then reaps it (5 s at most): the server is gone without any
 * chance to clean up. Teardown does not count that exit against the test.
 */
void th_server_crash(struct th_server *s);

/* ---- HTTP from many threads ---- */

/*
 * Unlike everything above, these are thread-safe: they keep nothing in the
 * harness and never assert, so worker threads may call them (one th_mt_conn
 * per thread). Open them after th_setup (curl's global init); close each
 * one before the test ends.
 */
struct th_mt_conn;
struct th_mt_conn *th_mt_conn_open(void); /* NULL when out of memory */
void th_mt_conn_close(struct th_mt_conn *c);

/*
 * Sends method path (body may be NULL; it is sent as application/json) with
 * "Authorization: Bearer key" to base ("http://127.0.0.1:PORT") on c's
 * keep-alive connection. Returns the status, or 0 if no response came. The
 * body is copied into out (cut to out_cap - 1 bytes and NUL-terminated)
 * when out is not NULL.
 */
long th_mt_http(struct th_mt_conn *c, const char *base, const char *method, const char *path,
                const char *key, const char *body, char *out, size_t out_cap);

/* ---- a Postgres cluster of the test's own ---- */

/*
 * Starts the throwaway (PG_FAST=1) cluster in folder dir with scripts/pg.sh,
 * creating it first when dir holds none; returns its URL (database
 * "tollgate", Unix socket only). dir should be a th_tmpdir() subfolder
 * (the postgres user must reach it when the tests run as root). A cluster
 * started here is destroyed at teardown, also when the test fails. For
 * tests that must stop Postgres under a running server; everything else
 * uses the shared cluster (th_db_fresh).
 */
const char *th_pg_cluster_start(const char *dir);

/* Stops it (fast shutdown: sessions are cut); the folder stays for a later start. */
void th_pg_cluster_stop(const char *dir);

/* Stops it and deletes its folder. */
void th_pg_cluster_destroy(const char *dir);

#endif
