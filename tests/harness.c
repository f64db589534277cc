/*
 * harness: see harness.h. All state is per test process (Criterion forks one
 * per test): the list of things to free, the servers and child processes to
 * stop, and the databases to drop at teardown.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_ARGS         64
#define RUN_TIMEOUT_MS   30000
#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS  15000

/* ---- per-test state ---- */

struct kept {
    void *p;
    void (*free_fn)(void *);
    struct kept *next;
};

struct th_child {
    pid_t pid;
    char out_path[64];
    char err_path[64];
    bool reaped;
    int status;
    struct th_child *next;
};

struct server_node {
    struct th_server *s;
    struct server_node *next;
};

struct db_node {
    char name[64];
    struct db_node *next;
};

static struct kept *kept;
static struct th_child *children;
static struct server_node *servers;
static struct db_node *dbs;

/* ---- small helpers ---- */

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    cr_assert(p, "harness: out of memory");
    return p;
}

static void keep_with(void *p, void (*free_fn)(void *))
{
    struct kept *k = xmalloc(sizeof(*k));
    k->p = p;
    k->free_fn = free_fn;
    k->next = kept;
    kept = k;
}

void *th_keep(void *ptr)
{
    if (ptr)
        keep_with(ptr, free);
    return ptr;
}

static char *vfmt(const char *fmt, va_list ap)
{
    char *s = NULL;
    cr_assert(vasprintf(&s, fmt, ap) >= 0, "harness: out of memory");
    return s;
}

char *th_fmt(const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    s = vfmt(fmt, ap);
    va_end(ap);
    return th_keep(s);
}

static char *keep_strndup(const char *s, size_t n)
{
    char *c = xmalloc(n + 1);
    memcpy(c, s, n);
    c[n] = '\0';
    return th_keep(c);
}

int th_count_lines(const char *s)
{
    int n = 0;
    for (const char *p = s; *p; p++)
        n += *p == '\n';
    if (*s && s[strlen(s) - 1] != '\n')
        n++;
    return n;
}

const char *th_last_line(const char *s)
{
    size_t end = strlen(s), start;

    while (end && (s[end - 1] == '\n' || s[end - 1] == '\r'))
        end--;
    start = end;
    while (start && s[start - 1] != '\n')
        start--;
    return keep_strndup(s + start, end - start);
}

bool th_matches(const char *s, const char *re)
{
    regex_t rx;
    bool ok;

    cr_assert(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) == 0, "harness: bad regex %s", re);
    ok = regexec(&rx, s, 0, NULL, 0) == 0;
    regfree(&rx);
    return ok;
}

bool th_known_bugs_enabled(void)
{
    const char *v = getenv("TH_KNOWN_BUGS");
    return v && !strcmp(v, "1");
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Reads a whole file into a harness-owned string ("" if it cannot be read). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;

    if (!f)
        return keep_strndup("", 0);
    do {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            buf = realloc(buf, cap);
            cr_assert(buf, "harness: out of memory");
        }
        n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
    } while (n > 0);
    fclose(f);
    buf = buf ? buf : xmalloc(1);
    buf[len] = '\0';
    return th_keep(buf);
}

/* The first sanitizer report marker in text, or NULL. */
static const char *sanitizer_report(const char *text)
{
    static const char *const markers[] = {
        "ERROR: AddressSanitizer",
        "ERROR: LeakSanitizer",
        "runtime error:",
        "SUMMARY: AddressSanitizer",
        "SUMMARY: UndefinedBehaviorSanitizer",
        "WARNING: ThreadSanitizer",
    };
    for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++)
        if (text && strstr(text, markers[i]))
            return markers[i];
    return NULL;
}

static int decode_status(int ws)
{
    if (WIFEXITED(ws))
        return WEXITSTATUS(ws);
    if (WIFSIGNALED(ws))
        return 128 + WTERMSIG(ws);
    return -1;
}

/* ---- Postgres ---- */

const char *th_db_url(void)
{
    const char *u = getenv("DATABASE_URL");
    cr_assert(u && *u,
              "DATABASE_URL is not set: run the integration tests through tests/with-pg.sh "
              "(make integration)");
    return u;
}

const char *th_db_url_for(const char *dbname)
{
    const char *base = th_db_url(), *scheme = strstr(base, "://");

    if (!scheme)
        return th_fmt("%s dbname=%s", base, dbname); /* key=value: the last one wins */
    const char *auth = scheme + 3;
    const char *path = auth + strcspn(auth, "/?");
    const char *rest = *path == '/' ? path + 1 + strcspn(path + 1, "?") : path;
    return th_fmt("%.*s/%s%s", (int)(path - base), base, dbname, rest);
}

const char *th_db_name(const char *url)
{
    const char *scheme = strstr(url, "://"), *p;

    if (!scheme) {
        const char *last = NULL;
        for (p = url; (p = strstr(p, "dbname=")) != NULL; p++)
            last = p + 7;
        cr_assert(last, "harness: no dbname in %s", url);
        return keep_strndup(last, strcspn(last, " "));
    }
    p = scheme + 3 + strcspn(scheme + 3, "/?");
    cr_assert(*p == '/', "harness: no database name in %s", url);
    return keep_strndup(p + 1, strcspn(p + 1, "?"));
}

static void quiet_notices(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static bool sql_v(const char *url, const char **err, const char **value, const char *sql,
                  va_list ap)
{
    const char *params[16];
    int n = 0;
    const char *p;
    PGconn *pg;
    PGresult *r;
    bool ok = false;

    while ((p = va_arg(ap, const char *)) != NULL) {
        cr_assert(n < 16, "harness: too many SQL parameters");
        params[n++] = p;
    }
    pg = PQconnectdb(url);
    if (PQstatus(pg) != CONNECTION_OK) {
        *err = th_fmt("connecting to %s: %s", url, PQerrorMessage(pg));
        PQfinish(pg);
        return false;
    }
    PQsetNoticeProcessor(pg, quiet_notices, NULL);
    r = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
    switch (PQresultStatus(r)) {
    case PGRES_TUPLES_OK:
        if (PQntuples(r) == 0 || PQnfields(r) == 0)
            *value = "";
        else if (PQgetisnull(r, 0, 0))
            *value = NULL;
        else
            *value = th_fmt("%s", PQgetvalue(r, 0, 0));
        ok = true;
        break;
    case PGRES_COMMAND_OK:
        *value = "";
        ok = true;
        break;
    default:
        *err = th_fmt("%s", PQresultErrorMessage(r));
    }
    PQclear(r);
    PQfinish(pg);
    return ok;
}

const char *th_sql(const char *url, const char *sql, ...)
{
    const char *err = NULL, *value = NULL;
    va_list ap;
    bool ok;

    va_start(ap, sql);
    ok = sql_v(url, &err, &value, sql, ap);
    va_end(ap);
    cr_assert(ok, "SQL failed: %s\n  query: %s", err, sql);
    return value;
}

bool th_sql_try(const char *url, const char **err, const char *sql, ...)
{
    const char *value = NULL, *e = NULL;
    va_list ap;
    bool ok;

    va_start(ap, sql);
    ok = sql_v(url, &e, &value, sql, ap);
    va_end(ap);
    if (err)
        *err = e;
    return ok;
}

static void random_hex(char *out, size_t nbytes)
{
    unsigned char raw[16];
    cr_assert(nbytes <= sizeof(raw));
    cr_assert(getrandom(raw, nbytes, 0) == (ssize_t)nbytes, "harness: getrandom failed");
    for (size_t i = 0; i < nbytes; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

const char *th_db_fresh(void)
{
    struct db_node *d = xmalloc(sizeof(*d));
    char hex[13];

    random_hex(hex, 6);
    snprintf(d->name, sizeof(d->name), "th_%s", hex);
    th_sql(th_db_url(), th_fmt("CREATE DATABASE %s", d->name), NULL);
    d->next = dbs;
    dbs = d;
    return th_db_url_for(d->name);
}

const char *th_db_migrated(void)
{
    const char *url = th_db_fresh();
    struct th_proc p;

    th_run(&p, NULL, "migrate", "--database-url", url, NULL);
    cr_assert(p.status == 0, "tollgate migrate failed (%d):\n%s%s", p.status, p.out, p.err);
    return url;
}

static bool drop_db(const char *name, const char **err)
{
    return th_sql_try(th_db_url(), err, th_fmt("DROP DATABASE IF EXISTS %s WITH (FORCE)", name),
                      NULL);
}

void th_db_drop(const char *url)
{
    const char *err = NULL;
    cr_assert(drop_db(th_db_name(url), &err), "dropping %s: %s", url, err);
}

/* ---- processes ---- */

const char *th_bin(void)
{
    const char *b = getenv("TOLLGATE_BIN");
    cr_assert(b && *b == '/', "TOLLGATE_BIN must be the absolute path of the tollgate binary");
    return b;
}

/* Is environ entry e (NAME=value) overridden by, or NAME listed in, env? */
static bool env_overridden(const char *e, const char *const *env)
{
    size_t n = strcspn(e, "=");
    for (; env && *env; env++)
        if (strncmp(*env, e, n) == 0 && ((*env)[n] == '=' || (*env)[n] == '\0'))
            return true;
    return false;
}

/* The child's environment: ours minus DATABASE_URL and TOLLGATE_*, plus env. */
static char **child_env(const char *const *env)
{
    size_t n = 0, k = 0;
    char **out;

    for (char **e = environ; *e; e++)
        n++;
    for (const char *const *e = env; e && *e; e++)
        n++;
    out = th_keep(xmalloc((n + 1) * sizeof(*out)));
    for (char **e = environ; *e; e++) {
        if (!strncmp(*e, "DATABASE_URL=", 13) || !strncmp(*e, "TOLLGATE_", 9) ||
            env_overridden(*e, env))
            continue;
        out[k++] = *e;
    }
    for (const char *const *e = env; e && *e; e++)
        if (strchr(*e, '='))
            out[k++] = (char *)*e;
    out[k] = NULL;
    return out;
}

/* Makes an empty temp file for output; returns its fd, path in buf. */
static int temp_file(char buf[64], const char *what)
{
    int fd;
    snprintf(buf, 64, "/tmp/th-%s-XXXXXX", what);
    fd = mkstemp(buf);
    cr_assert(fd >= 0, "harness: mkstemp: %s", strerror(errno));
    return fd;
}

/* fork+exec of tollgate with args; stdout to out_fd, stderr to err_fd. */
static pid_t launch(const char *const *env, const char *const *args, int out_fd, int err_fd)
{
    const char *argv[MAX_ARGS + 2];
    char **envp = child_env(env);
    const char *bin = th_bin();
    int n = 0;
    pid_t pid;

    argv[n++] = bin;
    for (; args && *args; args++) {
        cr_assert(n < MAX_ARGS, "harness: too many arguments");
        argv[n++] = *args;
    }
    argv[n] = NULL;
    fflush(NULL);
    pid = fork();
    cr_assert(pid >= 0, "harness: fork: %s", strerror(errno));
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        dup2(out_fd, STDOUT_FILENO);
        dup2(err_fd, STDERR_FILENO);
        /* Our signal mask and dispositions must not leak into the child. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        execve(bin, (char *const *)argv, envp);
        dprintf(err_fd, "harness: cannot exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    return pid;
}

struct th_child *th_spawn(const char *const *env, const char *const *args)
{
    struct th_child *c = xmalloc(sizeof(*c));
    int out_fd, err_fd;

    memset(c, 0, sizeof(*c));
    out_fd = temp_file(c->out_path, "out");
    err_fd = temp_file(c->err_path, "err");
    c->pid = launch(env, args, out_fd, err_fd);
    close(out_fd);
    close(err_fd);
    c->next = children;
    children = c;
    return c;
}

/* Reaps pid within timeout_ms; returns the decoded status, or -1 on timeout. */
static int reap(pid_t pid, int timeout_ms)
{
    double deadline = now_ms() + timeout_ms;
    int ws, delay = 1;

    for (;;) {
        pid_t r = waitpid(pid, &ws, WNOHANG);
        if (r == pid)
            return decode_status(ws);
        cr_assert(r == 0, "harness: waitpid: %s", strerror(errno));
        if (now_ms() >= deadline)
            return -1;
        sleep_ms(delay);
        if (delay < 20)
            delay *= 2;
    }
}

int th_wait_ms(struct th_child *c, struct th_proc *p, int timeout_ms)
{
    if (!c->reaped) {
        int st = reap(c->pid, timeout_ms);
        if (st < 0)
            return -1;
        c->status = st;
        c->reaped = true;
    }
    p->status = c->status;
    p->out = slurp(c->out_path);
    p->err = slurp(c->err_path);
    const char *san = sanitizer_report(p->err);
    cr_assert(!san, "tollgate's stderr holds a sanitizer report (%s):\n%s", san, p->err);
    return p->status;
}

int th_wait(struct th_child *c, struct th_proc *p)
{
    if (th_wait_ms(c, p, RUN_TIMEOUT_MS) < 0) {
        kill(c->pid, SIGKILL);
        (void)th_wait_ms(c, p, 5000);
        cr_assert_fail("tollgate did not finish within %d s; stderr:\n%s", RUN_TIMEOUT_MS / 1000,
                       p->err);
    }
    return p->status;
}

int th_runv(struct th_proc *p, const char *const *env, const char *const *args)
{
    return th_wait(th_spawn(env, args), p);
}

int th_run(struct th_proc *p, const char *const *env, ...)
{
    const char *args[MAX_ARGS + 1];
    const char *a;
    int n = 0;
    va_list ap;

    va_start(ap, env);
    while ((a = va_arg(ap, const char *)) != NULL) {
        cr_assert(n < MAX_ARGS, "harness: too many arguments");
        args[n++] = a;
    }
    va_end(ap);
    args[n] = NULL;
    return th_runv(p, env, args);
}

const char *th_cli_key(const char *url, const char *role, const char *team)
{
    struct th_proc p;
    const char *secret;

    if (team)
        th_run(&p, NULL, "keys", "create", "--role", role, "--team", team, "--database-url", url,
               NULL);
    else
        th_run(&p, NULL, "keys", "create", "--role", role, "--database-url", url, NULL);
    cr_assert(p.status == 0, "keys create --role %s failed (%d): %s", role, p.status, p.err);
    secret = th_last_line(p.out);
    cr_assert(th_matches(secret, "^tg_[A-Za-z0-9_-]{43}$"), "keys create printed no secret: '%s'",
              p.out);
    return secret;
}

const char *th_admin_key(const char *url)
{
    return th_cli_key(url, "admin", NULL);
}

const char *th_key_id(const char *url, const char *secret)
{
    const char *id =
        th_sql(url, "SELECT id FROM api_keys WHERE secret_hash = sha256(convert_to($1, 'UTF8'))",
               secret, NULL);
    cr_assert(id && *id, "no key in the database has the SHA-256 of %.11s...", secret);
    return id;
}

/* ---- servers ---- */

const char *th_server_log(const struct th_server *s)
{
    return slurp(s->log);
}

void th_server_dump(const struct th_server *s, const char *why)
{
    const char *log = th_server_log(s);
    fprintf(stderr,
            "---- %s: log of tollgate serve (pid %d, port %d, %s) ----\n%s%s---- end of log ----\n",
            why, (int)s->pid, s->port, s->db_url ? s->db_url : "", log,
            *log && log[strlen(log) - 1] != '\n' ? "\n" : "");
}

bool th_server_log_wait(const struct th_server *s, const char *text, int timeout_ms)
{
    double deadline = now_ms() + timeout_ms;
    for (;;) {
        if (strstr(th_server_log(s), text))
            return true;
        if (now_ms() >= deadline)
            return false;
        sleep_ms(10);
    }
}

bool th_port_open(int port)
{
    struct sockaddr_in a = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok;

    cr_assert(fd >= 0, "harness: socket: %s", strerror(errno));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/*
 * The port the server bound, from its "listening on HOST:0 (port N, ...)"
 * line, or 0 if it has not logged it yet. We let the server pick (port 0)
 * rather than probing for a free port and passing it: the server binds with
 * SO_REUSEPORT, so two servers handed the same probed port would both start
 * and silently share connections; the kernel never hands out a busy port.
 */
static int logged_port(const struct th_server *s)
{
    const char *log = th_server_log(s), *p = strstr(log, "listening on ");
    int port = 0;

    if (p && (p = strstr(p, "(port ")) != NULL)
        port = atoi(p + 6);
    return port;
}

static void server_reaped(struct th_server *s, int status)
{
    s->running = false;
    s->status = status;
}

struct th_server *th_server_startv(const char *const *env, const char *db_url,
                                   const char *const *args)
{
    struct th_server *s = th_keep(xmalloc(sizeof(*s)));
    struct server_node *node = xmalloc(sizeof(*node));
    const char *argv[MAX_ARGS + 1];
    char path[64];
    bool env_listen = false;
    int n = 0, fd;
    double deadline;

    memset(s, 0, sizeof(*s));
    for (const char *const *e = env; e && *e; e++)
        env_listen |= !strncmp(*e, "TOLLGATE_LISTEN=", 16);
    argv[n++] = "serve";
    if (!env_listen) {
        argv[n++] = "--listen";
        argv[n++] = "127.0.0.1:0";
    }
    if (db_url) {
        argv[n++] = "--database-url";
        argv[n++] = db_url;
    }
    for (; args && *args; args++) {
        cr_assert(n < MAX_ARGS, "harness: too many arguments");
        argv[n++] = *args;
    }
    argv[n] = NULL;

    fd = temp_file(path, "serve");
    s->log = th_fmt("%s", path);
    s->db_url = db_url;
    s->pid = launch(env, argv, fd, fd);
    s->running = true;
    close(fd);
    node->s = s;
    node->next = servers;
    servers = node;

    deadline = now_ms() + START_TIMEOUT_MS;
    while ((s->port = logged_port(s)) == 0) {
        int st = reap(s->pid, 0);
        if (st >= 0) {
            server_reaped(s, st);
            th_server_dump(s, "server exited while starting");
            cr_assert_fail("tollgate serve exited with status %d before it listened", st);
        }
        if (now_ms() >= deadline) {
            th_server_dump(s, "server did not start");
            cr_assert_fail("tollgate serve logged no 'listening on ... (port N' within %d s",
                           START_TIMEOUT_MS / 1000);
        }
        sleep_ms(5);
    }
    snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", s->port);
    for (;;) {
        struct th_resp r;
        th_http(s, "GET", "/healthz", NULL, NULL, NULL, &r);
        if (r.status == 200)
            break;
        if (now_ms() >= deadline) {
            th_server_dump(s, "server not healthy");
            cr_assert_fail("GET /healthz did not answer 200 within %d s (last: %ld)",
                           START_TIMEOUT_MS / 1000, r.status);
        }
        sleep_ms(10);
    }
    return s;
}

struct th_server *th_server_start(const char *db_url, ...)
{
    const char *args[MAX_ARGS + 1];
    const char *a;
    int n = 0;
    va_list ap;

    va_start(ap, db_url);
    while ((a = va_arg(ap, const char *)) != NULL) {
        cr_assert(n < MAX_ARGS, "harness: too many arguments");
        args[n++] = a;
    }
    va_end(ap);
    args[n] = NULL;
    return th_server_startv(NULL, db_url, args);
}

void th_server_kill(struct th_server *s, int sig)
{
    cr_assert(s->running, "harness: the server (pid %d) has already exited", (int)s->pid);
    cr_assert(kill(s->pid, sig) == 0, "harness: kill: %s", strerror(errno));
}

int th_server_wait(struct th_server *s, int timeout_ms)
{
    if (s->running) {
        int st = reap(s->pid, timeout_ms);
        if (st < 0)
            return -1;
        server_reaped(s, st);
    }
    return s->status;
}

/* Stops s (if running) and checks how it ended; returns NULL when fine, else why not. */
static const char *stop_and_check(struct th_server *s)
{
    const char *san;

    if (s->running) {
        kill(s->pid, SIGTERM);
        if (th_server_wait(s, STOP_TIMEOUT_MS) < 0) {
            kill(s->pid, SIGKILL);
            th_server_wait(s, 5000);
            return th_fmt("it did not exit within %d s of SIGTERM (killed)",
                          STOP_TIMEOUT_MS / 1000);
        }
    }
    if ((san = sanitizer_report(th_server_log(s))) != NULL)
        return th_fmt("its log holds a sanitizer report (%s)", san);
    if (s->status != 0)
        return th_fmt("it exited with status %d", s->status);
    return NULL;
}

const char *th_server_stop(struct th_server *s)
{
    const char *why = stop_and_check(s);

    s->checked = true;
    if (why) {
        th_server_dump(s, "server did not stop cleanly");
        cr_assert_fail("tollgate serve (pid %d): %s", (int)s->pid, why);
    }
    return th_server_log(s);
}

/* ---- HTTP ---- */

struct buf {
    char *p;
    size_t len;
};

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    size_t k = size * n;
    char *np = realloc(b->p, b->len + k + 1);

    if (!np)
        return 0;
    memcpy(np + b->len, data, k);
    b->len += k;
    np[b->len] = '\0';
    b->p = np;
    return k;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    /* A new status line (after "100 Continue"): keep only the final response. */
    if (size * n >= 5 && !strncmp(data, "HTTP/", 5))
        b->len = 0;
    return on_data(data, size, n, arg);
}

struct upload {
    const struct th_req *req;
    size_t len, off;
    int piece;
};

static size_t on_read(char *dst, size_t size, size_t n, void *arg)
{
    struct upload *u = arg;
    size_t k = size * n, left = u->len - u->off;

    if (!left)
        return 0;
    if (u->req->piece) {
        if (u->off > 0 && u->off % u->req->piece == 0 && u->req->between)
            u->req->between(u->req->arg, u->piece);
        if (u->off % u->req->piece == 0)
            u->piece++;
        size_t to_boundary = u->req->piece - u->off % u->req->piece;
        if (k > to_boundary)
            k = to_boundary;
    }
    if (k > left)
        k = left;
    memcpy(dst, u->req->body + u->off, k);
    u->off += k;
    return k;
}

static void free_json(void *p)
{
    json_decref(p);
}

struct th_conn {
    CURL *curl; /* NULL once closed */
};

static void conn_free(void *p)
{
    struct th_conn *c = p;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c);
}

struct th_conn *th_conn_open(void)
{
    struct th_conn *c = xmalloc(sizeof(*c));

    c->curl = curl_easy_init();
    cr_assert(c->curl, "harness: curl_easy_init failed");
    keep_with(c, conn_free);
    return c;
}

void th_conn_close(struct th_conn *c)
{
    if (c->curl)
        curl_easy_cleanup(c->curl);
    c->curl = NULL;
}

void th_http_req(const struct th_server *s, const struct th_req *req, struct th_resp *out)
{
    CURL *c = req->conn ? req->conn->curl : curl_easy_init();
    struct curl_slist *hdrs = NULL;
    struct buf body = {0}, head = {0};
    struct upload up = {req, 0, 0, 0};
    char *url = th_fmt("%s%s", s->base, req->path);
    long connects = -1;
    CURLcode rc;

    cr_assert(c, "harness: %s", req->conn ? "the th_conn is closed" : "curl_easy_init failed");
    if (req->conn)
        curl_easy_reset(c); /* options only: its open connection stays */
    memset(out, 0, sizeof(*out));
    out->srv = s;
    snprintf(out->what, sizeof(out->what), "%s %s", req->method, req->path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &head);
    hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
    if (req->key)
        hdrs = curl_slist_append(hdrs, th_fmt("Authorization: Bearer %s", req->key));
    if (req->content_type)
        hdrs = curl_slist_append(hdrs, th_fmt("Content-Type: %s", req->content_type));
    for (const char *const *h = req->headers; h && *h; h++)
        hdrs = curl_slist_append(hdrs, *h);
    if (req->body) {
        up.len = req->body_len ? req->body_len : strlen(req->body);
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
        if (req->chunked)
            hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
        else
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)up.len);
        if (strcmp(req->method, "POST") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    } else if (!strcmp(req->method, "HEAD")) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(req->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
        out->reused = connects == 0;
    }
    curl_slist_free_all(hdrs);
    if (!req->conn)
        curl_easy_cleanup(c);

    out->body = body.p ? th_keep(body.p) : keep_strndup("", 0);
    out->body_len = body.len;
    out->headers = head.p ? th_keep(head.p) : keep_strndup("", 0);
    if (out->body_len) {
        out->json = json_loadb(out->body, out->body_len, 0, NULL);
        if (out->json)
            keep_with(out->json, free_json);
    }
}

void th_http(const struct th_server *s, const char *method, const char *path, const char *key,
             const char *content_type, const char *body, struct th_resp *out)
{
    struct th_req req = {
        .method = method, .path = path, .key = key, .content_type = content_type, .body = body};
    th_http_req(s, &req, out);
}

void th_json(const struct th_server *s, const char *method, const char *path, const char *key,
             struct th_resp *out, const char *fmt, ...)
{
    va_list ap;
    char *body;

    va_start(ap, fmt);
    body = th_keep(vfmt(fmt, ap));
    va_end(ap);
    th_http(s, method, path, key, "application/json", body, out);
}

const char *th_header(const struct th_resp *r, const char *name)
{
    size_t nlen = strlen(name);
    const char *found = NULL;
    size_t flen = 0;

    for (const char *line = r->headers; line && *line;) {
        size_t len = strcspn(line, "\r\n");
        if (len > nlen && line[nlen] == ':' && !strncasecmp(line, name, nlen)) {
            const char *v = line + nlen + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            found = v;
            flen = (size_t)(line + len - v);
            while (flen && (found[flen - 1] == ' ' || found[flen - 1] == '\t'))
                flen--;
        }
        line += len;
        while (*line == '\r' || *line == '\n')
            line++;
    }
    return found ? keep_strndup(found, flen) : NULL;
}

/* ---- assertions ---- */

void th_fail_resp_at(const char *file, int line, const struct th_resp *r, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = th_keep(vfmt(fmt, ap));
    va_end(ap);
    if (r->srv)
        th_server_dump(r->srv, th_fmt("%s:%d failed", file, line));
    cr_assert_fail("%s:%d: %s: %s\n  response (status %ld):\n%s  body: %.4000s", file, line,
                   r->what, msg, r->status, r->headers, r->body);
    abort(); /* not reached: cr_assert_fail ends the test */
}

void th_assert_status_at(const char *file, int line, const struct th_resp *r, long status)
{
    if (r->status != status)
        th_fail_resp_at(file, line, r, "expected status %ld, got %ld", status, r->status);
}

const char TH_ANY_FIELD[] = "(any field)";

void th_assert_error_at(const char *file, int line, const struct th_resp *r, long status,
                        const char *code, const char *field)
{
    const char *ct = th_header(r, "Content-Type"), *rid = th_header(r, "X-Request-Id");
    json_t *err = r->json ? json_object_get(r->json, "error") : NULL;
    json_t *f;

    th_assert_status_at(file, line, r, status);
    if (!ct || strncmp(ct, "application/json", 16) != 0)
        th_fail_resp_at(file, line, r, "an error should have Content-Type application/json, not %s",
                        ct ? ct : "(none)");
    if (!json_is_object(err))
        th_fail_resp_at(file, line, r, "expected a JSON error object {\"error\":{...}}");
    if (!th_jstr(err, "code") || strcmp(th_jstr(err, "code"), code) != 0)
        th_fail_resp_at(file, line, r, "expected error.code '%s'", code);
    if (!th_jstr(err, "message") || !*th_jstr(err, "message"))
        th_fail_resp_at(file, line, r, "error.message should be a non-empty string");
    if (!rid || !th_jstr(err, "request_id") || strcmp(th_jstr(err, "request_id"), rid) != 0)
        th_fail_resp_at(file, line, r, "error.request_id should equal the X-Request-Id header (%s)",
                        rid ? rid : "missing");
    f = json_object_get(err, "field");
    if (!f)
        th_fail_resp_at(file, line, r,
                        "error.field should be present (null when no field is at fault)");
    if (field == TH_ANY_FIELD)
        return;
    if (field ? !json_is_string(f) || strcmp(json_string_value(f), field) != 0 : !json_is_null(f))
        th_fail_resp_at(file, line, r, "expected error.field %s%s%s", field ? "'" : "",
                        field ? field : "null", field ? "'" : "");
}

const char *th_jstr(const json_t *obj, const char *key)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

bool th_jnull(const json_t *obj, const char *key)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    return v && json_is_null(v);
}

json_t *th_jarray(const struct th_resp *r, const char *key)
{
    json_t *a = r->json ? json_object_get(r->json, key) : NULL;
    if (!json_is_array(a))
        th_fail_resp(r, "expected a JSON object with an array '%s'", key);
    return a;
}

json_t *th_jfind(const json_t *arr, const char *key, const char *value)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *v = json_array_get(arr, i);
        const char *s = th_jstr(v, key);
        if (s && !strcmp(s, value))
            return v;
    }
    return NULL;
}

/* ---- admin API shortcuts ---- */

json_t *th_create_team(const struct th_server *s, const char *key, const char *slug,
                       const char *kind, const char *parent)
{
    json_t *body = json_pack("{s:s}", "slug", slug);
    struct th_resp r;
    char *text;

    if (kind)
        json_object_set_new(body, "kind", json_string(kind));
    if (parent)
        json_object_set_new(body, "parent", json_string(parent));
    text = th_keep(json_dumps(body, JSON_COMPACT));
    json_decref(body);
    th_http(s, "POST", "/v1/admin/teams", key, "application/json", text, &r);
    th_assert_status(&r, 201);
    if (!r.json || !th_jstr(r.json, "slug") || strcmp(th_jstr(r.json, "slug"), slug) != 0)
        th_fail_resp(&r, "the created team should have slug '%s'", slug);
    return r.json;
}

const char *th_create_key(const struct th_server *s, const char *key, const char *role,
                          const char *team)
{
    struct th_resp r;
    const char *secret;

    if (team)
        th_json(s, "POST", "/v1/admin/keys", key, &r, "{\"role\":\"%s\",\"team\":\"%s\"}", role,
                team);
    else
        th_json(s, "POST", "/v1/admin/keys", key, &r, "{\"role\":\"%s\"}", role);
    th_assert_status(&r, 201);
    secret = th_jstr(r.json, "secret");
    if (!secret || !th_matches(secret, "^tg_[A-Za-z0-9_-]{43}$"))
        th_fail_resp(&r, "the created key should carry a well-formed secret");
    return secret;
}

/* ---- files ---- */

struct path_node {
    char *path;
    bool done; /* clusters: destroyed already */
    struct path_node *next;
};

static struct path_node *tmpdirs;  /* th_tmpdir: removed at teardown */
static struct path_node *clusters; /* th_pg_cluster_start: destroyed at teardown */

const char *th_repo_file(const char *rel)
{
    char cwd[4096], *bin, *p;

    if (access(rel, F_OK) == 0 && getcwd(cwd, sizeof(cwd)))
        return th_fmt("%s/%s", cwd, rel);
    bin = th_fmt("%s", th_bin());
    for (int up = 0; up < 3; up++) { /* .../build/MODE/tollgate -> ... */
        p = strrchr(bin, '/');
        cr_assert(p && p != bin, "harness: cannot find the checkout of %s", th_bin());
        *p = '\0';
    }
    p = th_fmt("%s/%s", bin, rel);
    cr_assert(access(p, F_OK) == 0, "harness: %s is neither under the current folder nor at %s",
              rel, p);
    return p;
}

static void remember_path(struct path_node **list, const char *path)
{
    struct path_node *n = xmalloc(sizeof(*n));
    n->path = strdup(path);
    cr_assert(n->path, "harness: out of memory");
    n->done = false;
    n->next = *list;
    *list = n;
}

const char *th_tmpdir(void)
{
    char tmpl[] = "/tmp/th-tmp-XXXXXX";

    cr_assert(mkdtemp(tmpl), "harness: mkdtemp: %s", strerror(errno));
    cr_assert(chmod(tmpl, 0755) == 0, "harness: chmod %s: %s", tmpl, strerror(errno));
    remember_path(&tmpdirs, tmpl);
    return th_fmt("%s", tmpl);
}

long long th_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

/* rm -rf path; never fails the test (teardown uses it). */
static void remove_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Runs argv (argv[0] a path) with extra "NAME=value" env added to ours, and
 * waits up to timeout_ms. Fills *out and *err (harness-owned). Returns the
 * status, or -1 if it could not run or timed out (then it is killed).
 * Never asserts, so teardown may use it.
 */
static int run_tool(const char *const *argv, const char *const *env, int timeout_ms,
                    const char **out, const char **err)
{
    char out_path[] = "/tmp/th-tool-out-XXXXXX", err_path[] = "/tmp/th-tool-err-XXXXXX";
    int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path), st = -1;
    pid_t pid;

    *out = *err = "";
    if (out_fd < 0 || err_fd < 0)
        goto done;
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        sigset_t none;
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        dup2(out_fd, STDOUT_FILENO);
        dup2(err_fd, STDERR_FILENO);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        for (const char *const *e = env; e && *e; e++)
            putenv((char *)*e);
        execv(argv[0], (char *const *)argv);
        dprintf(err_fd, "harness: cannot exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (pid > 0) {
        st = reap(pid, timeout_ms);
        if (st < 0) {
            kill(pid, SIGKILL);
            (void)reap(pid, 5000);
        }
    }
    *out = slurp(out_path);
    *err = slurp(err_path);
done:
    if (out_fd >= 0) {
        close(out_fd);
        unlink(out_path);
    }
    if (err_fd >= 0) {
        close(err_fd);
        unlink(err_path);
    }
    return st;
}

/* ---- the price catalog ---- */

void th_prices_import(const char *url)
{
    struct th_proc p;

    th_run(&p, NULL, "prices", "import", th_repo_file("prices/genai-prices.json"), "--database-url",
           url, NULL);
    cr_assert(p.status == 0, "tollgate prices import failed (%d):\n%s%s", p.status, p.out, p.err);
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

/* The template's name: it changes with the binary (and so the schema) and the catalog. */
static const char *template_name(void)
{
    const char *files[2] = {th_bin(), th_repo_file("prices/genai-prices.json")};
    uint64_t h = 1469598103934665603ULL;

    for (int i = 0; i < 2; i++) {
        struct stat st;
        cr_assert(stat(files[i], &st) == 0, "harness: stat %s: %s", files[i], strerror(errno));
        h = fnv1a(h, files[i], strlen(files[i]));
        h = fnv1a(h, &st.st_size, sizeof(st.st_size));
        h = fnv1a(h, &st.st_mtim, sizeof(st.st_mtim));
    }
    return th_fmt("th_tpl_%016llx", (unsigned long long)h);
}

/*
 * Runs sql on the base database, retrying for up to 10 s while Postgres
 * says a database it needs is in use (a session that just closed may
 * linger for a moment). Returns false with *err on any other error.
 */
static bool sql_retry_in_use(const char *sql, const char **err)
{
    double deadline = now_ms() + 10000;

    for (;;) {
        if (th_sql_try(th_db_url(), err, sql, NULL))
            return true;
        if (!strstr(*err, "being accessed by other users") || now_ms() >= deadline)
            return false;
        sleep_ms(50);
    }
}

const char *th_db_priced(void)
{
    const char *tpl = template_name(), *err = NULL;
    struct db_node *d;
    char hex[13];

    if (!strcmp(
            th_sql(th_db_url(), "SELECT count(*) FROM pg_database WHERE datname = $1", tpl, NULL),
            "0")) {
        /* Build it under a name of our own, then rename: another test may race us. */
        const char *url = th_db_migrated();
        th_prices_import(url);
        if (!sql_retry_in_use(th_fmt("ALTER DATABASE %s RENAME TO %s", th_db_name(url), tpl), &err))
            cr_assert(strstr(err, "already exists"), "harness: making the template %s: %s", tpl,
                      err);
        /* else another test made it first; ours is dropped at teardown */
    }
    d = xmalloc(sizeof(*d));
    random_hex(hex, 6);
    snprintf(d->name, sizeof(d->name), "th_%s", hex);
    d->next = dbs;
    dbs = d;
    cr_assert(sql_retry_in_use(th_fmt("CREATE DATABASE %s TEMPLATE %s", d->name, tpl), &err),
              "harness: copying the template %s: %s", tpl, err);
    return th_db_url_for(d->name);
}

/* ---- servers that crash ---- */

void th_server_crash(struct th_server *s)
{
    th_server_kill(s, SIGKILL);
    cr_assert(th_server_wait(s, 5000) >= 0, "harness: the server (pid %d) outlived SIGKILL",
              (int)s->pid);
    s->checked = true;
}

/* ---- HTTP from many threads ---- */

struct th_mt_conn {
    CURL *curl;
};

struct th_mt_conn *th_mt_conn_open(void)
{
    struct th_mt_conn *c = calloc(1, sizeof(*c));

    if (c && !(c->curl = curl_easy_init())) {
        free(c);
        c = NULL;
    }
    return c;
}

void th_mt_conn_close(struct th_mt_conn *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    free(c);
}

struct mt_sink {
    char *out;
    size_t cap, len;
};

static size_t mt_on_data(char *data, size_t size, size_t n, void *arg)
{
    struct mt_sink *s = arg;
    size_t k = size * n;

    if (s->out && s->cap > 1 && s->len < s->cap - 1) {
        size_t room = s->cap - 1 - s->len;
        memcpy(s->out + s->len, data, k < room ? k : room);
        s->len += k < room ? k : room;
        s->out[s->len] = '\0';
    }
    return k;
}

long th_mt_http(struct th_mt_conn *c, const char *base, const char *method, const char *path,
                const char *key, const char *body, char *out, size_t out_cap)
{
    struct mt_sink sink = {out, out_cap, 0};
    struct curl_slist *hdrs = NULL;
    char url[512], auth[128];
    long status = 0;

    if (out && out_cap)
        out[0] = '\0';
    if (!c || !c->curl)
        return 0;
    curl_easy_reset(c->curl); /* options only: the open connection stays */
    snprintf(url, sizeof(url), "%s%s", base, path);
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, mt_on_data);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &sink);
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (key) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
        hdrs = curl_slist_append(hdrs, auth);
    }
    if (body) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    if (strcmp(method, body ? "POST" : "GET") != 0)
        curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
    if (curl_easy_perform(c->curl) == CURLE_OK)
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    return status;
}

/* ---- a Postgres cluster of the test's own ---- */

static int pg_sh(const char *cmd, const char *dir, const char **out, const char **err)
{
    const char *argv[] = {th_repo_file("scripts/pg.sh"), cmd, dir, NULL};
    static const char *const env[] = {"PG_FAST=1", NULL};
    return run_tool(argv, env, 60000, out, err);
}

const char *th_pg_cluster_start(const char *dir)
{
    const char *out, *err, *url;
    bool known = false;
    int st;

    for (struct path_node *n = clusters; n; n = n->next)
        if (!strcmp(n->path, dir) && !n->done)
            known = true;
    if (!known)
        remember_path(&clusters, dir); /* before starting: a half-made one is destroyed too */
    st = pg_sh("start", dir, &out, &err);
    cr_assert(st == 0, "scripts/pg.sh start %s failed (%d):\n%s%s", dir, st, out, err);
    url = th_last_line(out);
    cr_assert(!strncmp(url, "postgresql://", 13), "scripts/pg.sh start printed no URL:\n%s%s", out,
              err);
    return url;
}

void th_pg_cluster_stop(const char *dir)
{
    const char *out, *err;
    int st = pg_sh("stop", dir, &out, &err);
    cr_assert(st == 0, "scripts/pg.sh stop %s failed (%d):\n%s%s", dir, st, out, err);
}

void th_pg_cluster_destroy(const char *dir)
{
    const char *out, *err;
    int st = pg_sh("destroy", dir, &out, &err);

    cr_assert(st == 0, "scripts/pg.sh destroy %s failed (%d):\n%s%s", dir, st, out, err);
    for (struct path_node *n = clusters; n; n = n->next)
        if (!strcmp(n->path, dir))
            n->done = true;
}

/* Destroys the clusters and removes the folders the test made; never asserts. */
static void teardown_paths(void)
{
    for (struct path_node *n = clusters, *next; n; n = next) {
        const char *out, *err;
        next = n->next;
        if (!n->done && pg_sh("destroy", n->path, &out, &err) != 0)
            fprintf(stderr, "harness: warning: could not destroy the cluster in %s:\n%s%s\n",
                    n->path, out, err);
        free(n->path);
        free(n);
    }
    clusters = NULL;
    for (struct path_node *n = tmpdirs, *next; n; n = next) {
        next = n->next;
        remove_tree(n->path);
        free(n->path);
        free(n);
    }
    tmpdirs = NULL;
}

/* ---- setup and teardown ---- */

void th_setup(void)
{
    cr_assert(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK, "curl_global_init failed");
    signal(SIGPIPE, SIG_IGN);
}

void th_teardown(void)
{
    bool bad = false;

    /* A server still running means the test ended early (or forgot to stop it). */
    for (struct server_node *n = servers, *next; n; n = next) {
        next = n->next;
        if (!n->s->checked) {
            const char *why = stop_and_check(n->s);
            if (why) {
                th_server_dump(n->s, why);
                bad = true;
            }
        }
        unlink(n->s->log);
        free(n);
    }
    servers = NULL;
    for (struct th_child *c = children, *next; c; c = next) {
        next = c->next;
        if (!c->reaped) {
            kill(c->pid, SIGKILL);
            (void)reap(c->pid, 5000);
        }
        unlink(c->out_path);
        unlink(c->err_path);
        free(c);
    }
    children = NULL;
    teardown_paths();
    for (struct db_node *d = dbs, *next; d; d = next) {
        const char *err = NULL;
        next = d->next;
        if (!drop_db(d->name, &err))
            fprintf(stderr, "harness: warning: could not drop database %s: %s\n", d->name, err);
        free(d);
    }
    dbs = NULL;
    for (struct kept *k = kept, *next; k; k = next) {
        next = k->next;
        k->free_fn(k->p);
        free(k);
    }
    kept = NULL;
    curl_global_cleanup();
    /* A failure here does not fail the test in Criterion, but exiting does fail the run. */
    if (bad)
        exit(1);
}
