/*
 * config: the one table of settings. Each entry names its flag, its TOLLGATE_*
 * (or standard) environment variable, its type, default, bounds and help text.
 * Defaults are applied first, then the environment, then flags. --help and
 * `tollgate config` print from the same table. Not thread-safe: load once at
 * start, then treat the struct as read-only.
 */
#ifndef TOLLGATE_CONFIG_H
#define TOLLGATE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct config {
    char *listen;                 /* HOST:PORT to serve HTTP on */
    char *database_url;           /* libpq connection string or URI */
    long threads;                 /* HTTP worker threads; 0 = two per CPU, at least 4 */
    long db_pool;                 /* Postgres connections in the pool */
    long max_body;                /* request body limit in bytes */
    char *log_level;              /* debug|info|warn|error */
    bool migrate;                 /* serve: apply pending migrations first */
    char *web_dir;                /* static files for the dashboard */
    long key_cache_ttl;           /* seconds an API key lookup is cached */
    long shutdown_timeout;        /* seconds to drain requests on SIGTERM */
    long conn_timeout;            /* seconds before an idle connection is closed */
    char *unknown_teams;          /* ingest: "reject" or "create" */
    char *spool_dir;              /* folder of the ingest spool */
    long spool_max;               /* bytes the spool may hold; 0 = no spool */
    long batch_max;               /* events in one POST /v1/usage */
    long ingest_writers;          /* writer threads (each with its own connection) */
    char *otlp_team;              /* OTLP: attributes naming the team, in order */
    char *otlp_project;           /* OTLP: attributes naming the project */
    char *otlp_user;              /* OTLP: attributes naming the user */
    char *otlp_default_team;      /* OTLP: team of spans that name none ("" = reject them) */
    char *unknown_scope;          /* verdicts for an unknown team or project: "allow" or "deny" */
    long hold_ttl;                /* seconds a reservation lives unless settled or released */
    long ledger_reconcile;        /* seconds between full reloads of spend from Postgres */
    long ledger_stale;            /* seconds without a reload before budgets' fail modes apply */
    char *zoneinfo_dir;           /* the IANA time zone files */
    long alert_interval;          /* seconds between alert evaluator rounds */
    char *public_url;             /* the dashboard's base URL, for links in alerts */
    bool webhook_allow_private;   /* webhooks may reach loopback and private addresses */
    long webhook_concurrency;     /* webhook requests in flight on this instance */
    long webhook_per_endpoint;    /* of those, at most this many to one endpoint */
    long webhook_timeout;         /* seconds one webhook request may take */
    long webhook_backoff_percent; /* the retry schedule scaled (tests shorten it) */
};

/* A command's own option, such as `keys create --role`. */
struct cli_opt {
    const char *name;  /* without the leading dashes */
    const char *help;  /* one line */
    bool has_arg;      /* takes a value */
    const char *value; /* set by config_parse: the value, or "" for a flag */
};

/* Sets every field to its default. Frees nothing: call once on a zeroed struct. */
void config_defaults(struct config *c);

/*
 * Applies the environment, then argv[0..argc) as flags: config entries and the
 * command's own opts (terminated by a {NULL} entry; may be NULL). On failure
 * returns false with a one-line message in err, and c may be partly updated.
 */
bool config_parse(struct config *c, struct cli_opt *opts, int argc, char **argv, char *err,
                  size_t errlen) __attribute__((warn_unused_result));

/* Prints the table as --help text. */
void config_help(FILE *out);

/* Prints the effective settings, one `name = value` a line, secrets masked. */
void config_dump(const struct config *c, FILE *out);

/* Masks the password in a libpq URL or key=value string; returns a malloc'd copy. */
char *config_mask_url(const char *url);

/*
 * Splits "host:port" (or "[v6]:port") into its parts. host gets at most hostlen
 * bytes. Returns false if it is malformed or the port is out of 0..65535.
 */
bool config_split_listen(const char *listen, char *host, size_t hostlen, int *port)
    __attribute__((warn_unused_result));

void config_free(struct config *c);

#endif
