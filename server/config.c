/*
 * config: table-driven settings (see config.h). String values are owned by the
 * struct and freed by config_free.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum opt_type { T_STR, T_INT, T_BOOL };

struct entry {
    const char *name;
    const char *env;
    enum opt_type type;
    size_t offset;
    const char *def;
    long min, max;
    const char *help;
};

#define F(field) offsetof(struct config, field)

static const struct entry table[] = {
    {"listen", "TOLLGATE_LISTEN", T_STR, F(listen), "127.0.0.1:8080", 0, 0,
     "HOST:PORT to serve HTTP on (port 0 picks a free port)"},
    {"database-url", "DATABASE_URL", T_STR, F(database_url), "", 0, 0,
     "Postgres connection URI or key=value string"},
    {"threads", "TOLLGATE_THREADS", T_INT, F(threads), "0", 0, 256,
     "HTTP worker threads; 0 means two per CPU, at least 4"},
    {"db-pool", "TOLLGATE_DB_POOL", T_INT, F(db_pool), "8", 1, 256,
     "Postgres connections kept by the server"},
    {"max-body", "TOLLGATE_MAX_BODY", T_INT, F(max_body), "16777216", 1024, 1073741824,
     "largest request body accepted, in bytes (413 above it)"},
    {"log-level", "TOLLGATE_LOG_LEVEL", T_STR, F(log_level), "info", 0, 0,
     "debug, info, warn or error"},
    {"migrate", "TOLLGATE_MIGRATE", T_BOOL, F(migrate), "false", 0, 0,
     "serve: apply pending migrations before starting"},
    {"web-dir", "TOLLGATE_WEB_DIR", T_STR, F(web_dir), "web", 0, 0,
     "folder of the dashboard's static files"},
    {"key-cache-ttl", "TOLLGATE_KEY_CACHE_TTL", T_INT, F(key_cache_ttl), "10", 0, 3600,
     "seconds an API key lookup is cached (a revoked key stops working within it)"},
    {"shutdown-timeout", "TOLLGATE_SHUTDOWN_TIMEOUT", T_INT, F(shutdown_timeout), "10", 0, 3600,
     "seconds to let requests in flight finish on SIGTERM or SIGINT"},
    {"conn-timeout", "TOLLGATE_CONN_TIMEOUT", T_INT, F(conn_timeout), "30", 1, 3600,
     "seconds before an idle HTTP connection is closed"},
    {"unknown-teams", "TOLLGATE_UNKNOWN_TEAMS", T_STR, F(unknown_teams), "reject", 0, 0,
     "ingest of an unknown team or project: reject (422) or create it"},
    {"spool-dir", "TOLLGATE_SPOOL_DIR", T_STR, F(spool_dir), "var/spool", 0, 0,
     "folder of the spool that keeps events while Postgres is unreachable"},
    {"spool-max", "TOLLGATE_SPOOL_MAX", T_INT, F(spool_max), "268435456", 0, 68719476736L,
     "bytes the spool may hold (then 503); 0 turns the spool off"},
    {"batch-max", "TOLLGATE_BATCH_MAX", T_INT, F(batch_max), "10000", 1, 100000,
     "usage events in one request (413 above it)"},
    {"ingest-writers", "TOLLGATE_INGEST_WRITERS", T_INT, F(ingest_writers), "2", 1, 16,
     "ingest writer threads, each group-committing on its own Postgres connection"},
    {"otlp-team", "TOLLGATE_OTLP_TEAM", T_STR, F(otlp_team), "tollgate.team,service.namespace", 0,
     0, "OTLP spans: span or resource attributes naming the team, first found wins"},
    {"otlp-project", "TOLLGATE_OTLP_PROJECT", T_STR, F(otlp_project), "tollgate.project", 0, 0,
     "OTLP spans: attributes naming the project (add service.name to map services)"},
    {"otlp-user", "TOLLGATE_OTLP_USER", T_STR, F(otlp_user), "tollgate.user,user.id,enduser.id", 0,
     0, "OTLP spans: attributes naming the end user"},
    {"otlp-default-team", "TOLLGATE_OTLP_DEFAULT_TEAM", T_STR, F(otlp_default_team), "", 0, 0,
     "OTLP spans that name no team go to this team; empty rejects them"},
    {"unknown-scope", "TOLLGATE_UNKNOWN_SCOPE", T_STR, F(unknown_scope), "allow", 0, 0,
     "verdict for a call naming an unknown team or project: allow or deny"},
    {"hold-ttl", "TOLLGATE_HOLD_TTL", T_INT, F(hold_ttl), "600", 1, 86400,
     "seconds a reservation holds budget unless its usage event or a release ends it"},
    {"ledger-reconcile", "TOLLGATE_LEDGER_RECONCILE", T_INT, F(ledger_reconcile), "10", 1, 3600,
     "seconds between reloads of every budget's spend from Postgres (other instances' spend)"},
    {"ledger-stale", "TOLLGATE_LEDGER_STALE", T_INT, F(ledger_stale), "60", 1, 86400,
     "seconds without a reload from Postgres before budgets apply their fail mode"},
    {"zoneinfo-dir", "TOLLGATE_ZONEINFO_DIR", T_STR, F(zoneinfo_dir), "/usr/share/zoneinfo", 0, 0,
     "folder of the IANA time zone files that budget periods use"},
    {"webhook-allow-private", "TOLLGATE_WEBHOOK_ALLOW_PRIVATE", T_BOOL, F(webhook_allow_private),
     "false", 0, 0, "let webhooks reach loopback, private, link-local and unique-local addresses"},
    {"webhook-concurrency", "TOLLGATE_WEBHOOK_CONCURRENCY", T_INT, F(webhook_concurrency), "32", 1,
     1024, "webhook requests in flight at once on this instance"},
    {"webhook-per-endpoint", "TOLLGATE_WEBHOOK_PER_ENDPOINT", T_INT, F(webhook_per_endpoint), "4",
     1, 64, "webhook requests in flight at once to any one endpoint, per instance"},
    {"webhook-timeout", "TOLLGATE_WEBHOOK_TIMEOUT", T_INT, F(webhook_timeout), "15", 1, 50,
     "seconds a webhook request may take before it counts as failed"},
    {"webhook-backoff-percent", "TOLLGATE_WEBHOOK_BACKOFF_PERCENT", T_INT,
     F(webhook_backoff_percent), "100", 1, 100,
     "the webhook retry schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h) in percent; "
     "lower only in tests"},
    {"alert-interval", "TOLLGATE_ALERT_INTERVAL", T_INT, F(alert_interval), "5", 1, 3600,
     "seconds between rounds of the alert evaluator (thresholds, forecasts, denials, unpriced)"},
    {"public-url", "TOLLGATE_PUBLIC_URL", T_STR, F(public_url), "http://127.0.0.1:8080", 0, 0,
     "the dashboard's base URL, for the links in alerts"},
};

#define N_ENTRIES (sizeof(table) / sizeof(table[0]))

static bool parse_bool(const char *s, bool *out)
{
    if (!strcmp(s, "1") || !strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")) {
        *out = true;
        return true;
    }
    if (!strcmp(s, "0") || !strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")) {
        *out = false;
        return true;
    }
    return false;
}

/* Sets one entry from its text form; err names the source (flag or env). */
static bool set_value(struct config *c, const struct entry *e, const char *val, const char *src,
                      char *err, size_t errlen)
{
    char *base = (char *)c;

    switch (e->type) {
    case T_STR: {
        char **slot = (char **)(void *)(base + e->offset);
        char *copy = strdup(val);
        if (!copy) {
            snprintf(err, errlen, "out of memory");
            return false;
        }
        free(*slot);
        *slot = copy;
        return true;
    }
    case T_INT: {
        char *end;
        long v;
        errno = 0;
        v = strtol(val, &end, 10);
        if (errno || end == val || *end) {
            snprintf(err, errlen, "%s: '%s' is not a whole number", src, val);
            return false;
        }
        if (v < e->min || v > e->max) {
            snprintf(err, errlen, "%s: %ld is out of range %ld..%ld", src, v, e->min, e->max);
            return false;
        }
        *(long *)(void *)(base + e->offset) = v;
        return true;
    }
    case T_BOOL:
        if (!parse_bool(val, (bool *)(void *)(base + e->offset))) {
            snprintf(err, errlen, "%s: '%s' is not true or false", src, val);
            return false;
        }
        return true;
    }
    return false;
}

void config_defaults(struct config *c)
{
    char err[64];
    for (size_t i = 0; i < N_ENTRIES; i++) {
        bool ok = set_value(c, &table[i], table[i].def, "default", err, sizeof(err));
        (void)ok; /* defaults are valid by construction; tested in unit tests */
    }
}

static const struct entry *find_entry(const char *name, size_t len)
{
    for (size_t i = 0; i < N_ENTRIES; i++)
        if (strlen(table[i].name) == len && !strncmp(table[i].name, name, len))
            return &table[i];
    return NULL;
}

static struct cli_opt *find_opt(struct cli_opt *opts, const char *name, size_t len)
{
    for (; opts && opts->name; opts++)
        if (strlen(opts->name) == len && !strncmp(opts->name, name, len))
            return opts;
    return NULL;
}

bool config_parse(struct config *c, struct cli_opt *opts, int argc, char **argv, char *err,
                  size_t errlen)
{
    for (size_t i = 0; i < N_ENTRIES; i++) {
        const char *v = getenv(table[i].env);
        if (v && *v && !set_value(c, &table[i], v, table[i].env, err, errlen))
            return false;
    }
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i], *name, *eq, *val = NULL;
        size_t len;
        const struct entry *e;
        struct cli_opt *o;

        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            snprintf(err, errlen, "unexpected argument '%s'", arg);
            return false;
        }
        name = arg + 2;
        eq = strchr(name, '=');
        len = eq ? (size_t)(eq - name) : strlen(name);
        if (eq)
            val = eq + 1;
        e = find_entry(name, len);
        o = e ? NULL : find_opt(opts, name, len);
        if (!e && !o) {
            snprintf(err, errlen, "unknown option '--%.*s' (see --help)", (int)len, name);
            return false;
        }
        if (!val && ((e && e->type != T_BOOL) || (o && o->has_arg))) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "option '--%.*s' needs a value", (int)len, name);
                return false;
            }
            val = argv[++i];
        }
        if (o) {
            if (!o->has_arg && val) {
                snprintf(err, errlen, "option '--%s' takes no value", o->name);
                return false;
            }
            o->value = val ? val : "";
            continue;
        }
        char src[80];
        snprintf(src, sizeof(src), "--%s", e->name);
        if (!set_value(c, e, val ? val : "true", src, err, errlen))
            return false;
    }
    return true;
}

void config_help(FILE *out)
{
    fprintf(out, "Settings (flag, environment variable, default):\n");
    for (size_t i = 0; i < N_ENTRIES; i++) {
        const struct entry *e = &table[i];
        char flag[64];
        snprintf(flag, sizeof(flag), "--%s%s", e->name, e->type == T_BOOL ? "" : " VALUE");
        fprintf(out, "  %-26s %s\n  %-26s env %s, default '%s'", flag, e->help, "", e->env, e->def);
        if (e->type == T_INT)
            fprintf(out, ", range %ld..%ld", e->min, e->max);
        fputc('\n', out);
    }
}

static bool secret_key(const char *k, size_t n)
{
    return (n == 8 && !strncmp(k, "password", 8)) || (n == 11 && !strncmp(k, "sslpassword", 11));
}

/* Masks the password in "scheme://user:pw@host/db?password=pw&..." into out. */
static void mask_uri(const char *s, char *out)
{
    const char *auth = strstr(s, "://") + 3;
    size_t authlen = strcspn(auth, "/?");
    const char *at = memchr(auth, '@', authlen);
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    const char *q = strchr(s, '?');
    size_t n;

    if (colon) {
        n = (size_t)(colon + 1 - s);
        memcpy(out, s, n);
        out += n;
        out = stpcpy(out, "***");
        s = at;
    }
    n = q ? (size_t)(q - s) : strlen(s);
    memcpy(out, s, n);
    out += n;
    *out = '\0';
    if (!q)
        return;
    /* query parameters, split on '&' */
    for (const char *p = q; *p;) {
        size_t len = strcspn(p + 1, "&"), klen = strcspn(p + 1, "=&");
        *out++ = *p; /* '?' or '&' */
        if (klen < len && secret_key(p + 1, klen)) {
            memcpy(out, p + 1, klen + 1);
            out = stpcpy(out + klen + 1, "***");
        } else {
            memcpy(out, p + 1, len);
            out += len;
        }
        p += 1 + len;
    }
    *out = '\0';
}

/* Masks password and sslpassword values in a libpq "key = value ..." string. */
static void mask_conninfo(const char *s, char *out)
{
    while (*s) {
        const char *k, *v;
        size_t klen;

        while (*s == ' ' || *s == '\t' || *s == '\n')
            *out++ = *s++;
        k = s;
        while (*s && *s != '=' && *s != ' ' && *s != '\t')
            s++;
        klen = (size_t)(s - k);
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s != '=') { /* malformed: copy the rest as is */
            out = stpcpy(out, k);
            break;
        }
        s++;
        while (*s == ' ' || *s == '\t')
            s++;
        v = s;
        if (*s == '\'') {
            for (s++; *s && *s != '\''; s++)
                if (*s == '\\' && s[1])
                    s++;
            if (*s)
                s++;
        } else {
            while (*s && *s != ' ' && *s != '\t' && *s != '\n')
                s++;
        }
        memcpy(out, k, klen);
        out += klen;
        *out++ = '=';
        if (secret_key(k, klen)) {
            out = stpcpy(out, "***");
        } else {
            memcpy(out, v, (size_t)(s - v));
            out += s - v;
        }
    }
    *out = '\0';
}

char *config_mask_url(const char *url)
{
    const char *s = url ? url : "";
    /* A masked string is never longer than the input plus 3 bytes per secret. */
    char *out = malloc(strlen(s) * 2 + 16);

    if (!out)
        return NULL;
    if (strstr(s, "://"))
        mask_uri(s, out);
    else
        mask_conninfo(s, out);
    return out;
}

void config_dump(const struct config *c, FILE *out)
{
    const char *base = (const char *)c;
    for (size_t i = 0; i < N_ENTRIES; i++) {
        const struct entry *e = &table[i];
        const void *slot = base + e->offset;
        switch (e->type) {
        case T_STR: {
            const char *v = *(char *const *)slot;
            if (e->offset == F(database_url)) {
                char *m = config_mask_url(v);
                fprintf(out, "%s = %s\n", e->name, m ? m : "");
                free(m);
            } else {
                fprintf(out, "%s = %s\n", e->name, v ? v : "");
            }
            break;
        }
        case T_INT:
            fprintf(out, "%s = %ld\n", e->name, *(const long *)slot);
            break;
        case T_BOOL:
            fprintf(out, "%s = %s\n", e->name, *(const bool *)slot ? "true" : "false");
            break;
        }
    }
}

bool config_split_listen(const char *listen, char *host, size_t hostlen, int *port)
{
    const char *colon, *h = listen;
    size_t hl;
    char *end;
    long p;

    if (!listen || !*listen)
        return false;
    if (*listen == '[') {
        const char *rb = strchr(listen, ']');
        if (!rb || rb[1] != ':')
            return false;
        h = listen + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon || strchr(listen, ':') != colon)
            return false;
        hl = (size_t)(colon - listen);
    }
    if (hl == 0 || hl >= hostlen)
        return false;
    if (colon[1] < '0' || colon[1] > '9') /* strtol would skip spaces and take a sign */
        return false;
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (errno || *end || p > 65535)
        return false;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return true;
}

void config_free(struct config *c)
{
    char *base = (char *)c;
    for (size_t i = 0; i < N_ENTRIES; i++) {
        if (table[i].type == T_STR) {
            char **slot = (char **)(void *)(base + table[i].offset);
            free(*slot);
            *slot = NULL;
        }
    }
}
