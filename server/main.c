/*
 * main: the tollgate command line. Each command parses the one settings
 * table (config.h) plus its own few options, does its job and exits 0, or
 * prints one line to standard error and exits non-zero.
 */
#include "alertd.h"
#include "api.h"
#include "event.h"
#include "auth.h"
#include "config.h"
#include "db.h"
#include "demo.h"
#include "http.h"
#include "log.h"
#include "maint.h"
#include "migrate.h"
#include "otlp.h"
#include "policydir.h"
#include "policystore.h"
#include "prices.h"
#include "scopes.h"
#include "store.h"
#include "verdicts.h"
#include "webhooks.h"
#include "writer.h"

#include <errno.h>
#include <sys/stat.h>

#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TOLLGATE_VERSION
#define TOLLGATE_VERSION "dev"
#endif

static void usage(FILE *out)
{
    fprintf(out,
            "tollgate %s: FinOps for LLM spend.\n\n"
            "Usage: tollgate COMMAND [OPTIONS]\n\n"
            "Commands:\n"
            "  serve                      serve the HTTP API and dashboard\n"
            "  migrate                    apply pending database migrations\n"
            "  keys create --role ROLE [--team TEAM] [--name NAME] [--org ORG]\n"
            "                             make an API key; prints the secret on the last line\n"
            "  keys bootstrap [--org ORG] make an admin key only if the org has none\n"
            "  keys list [--org ORG]      list keys (never their secrets)\n"
            "  keys revoke ID [--org ORG] revoke a key\n"
            "  prices import FILE         load a price catalog file (idempotent, versioned)\n"
            "  prices reprice             price the unpriced events that now have a price\n"
            "  policy check DIR           validate the budget and policy files in DIR\n"
            "  policy apply DIR [--org ORG]\n"
            "                             make the org's file-managed budgets and policies\n"
            "                             match DIR (creates, updates, removes)\n"
            "  demo [--if-empty]          load a realistic month of demo data\n"
            "  config                     print the effective settings\n"
            "  version                    print the version\n\n"
            "Roles: ingest, verdict, read (finance), admin. ORG defaults to 'default'.\n\n",
            TOLLGATE_VERSION);
    config_help(out);
}

static int fail(const char *what, const char *err)
{
    fprintf(stderr, "tollgate: %s%s%s\n", what, err && *err ? ": " : "", err ? err : "");
    return 1;
}

/* Parses settings and command options; on error prints it and returns false. */
static bool parse(struct config *cfg, struct cli_opt *opts, int argc, char **argv)
{
    char err[256];
    enum log_level lvl;

    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            exit(0);
        }
    }
    config_defaults(cfg);
    if (!config_parse(cfg, opts, argc, argv, err, sizeof(err))) {
        fail(err, NULL);
        return false;
    }
    if (!log_parse_level(cfg->log_level, &lvl)) {
        fail("--log-level must be debug, info, warn or error", NULL);
        return false;
    }
    log_min_level = lvl;
    return true;
}

/* Applies or checks migrations on one connection. */
static bool check_schema(const struct config *cfg, bool apply)
{
    char err[512];
    int pending = 0, applied = 0;
    PGconn *pg = db_connect_once(cfg->database_url, err, sizeof(err));
    bool ok = false;

    if (!pg) {
        fail(err, NULL);
        return false;
    }
    if (apply) {
        if (!migrate_apply(pg, &applied, err, sizeof(err))) {
            fail("migrate", err);
            goto out;
        }
        if (applied)
            printf("applied %d migration%s; schema version %d\n", applied, applied == 1 ? "" : "s",
                   migrate_latest());
        else
            printf("schema is up to date at version %d\n", migrate_latest());
    } else {
        if (!migrate_pending(pg, &pending, err, sizeof(err))) {
            fail("checking migrations", err);
            goto out;
        }
        if (pending) {
            fprintf(stderr,
                    "tollgate: the database has %d unapplied migration%s; run 'tollgate migrate' "
                    "or start with --migrate\n",
                    pending, pending == 1 ? "" : "s");
            goto out;
        }
    }
    /* Month partitions for now and next month, so writes never miss one. */
    PQclear(PQexec(pg, "SELECT usage_events_ensure_partition(now()),"
                       " usage_events_ensure_partition(now() + interval '1 month')"));
    ok = true;
out:
    PQfinish(pg);
    return ok;
}

static int cmd_migrate(int argc, char **argv)
{
    struct config cfg = {0};
    int rc = 1;

    if (parse(&cfg, NULL, argc, argv))
        rc = check_schema(&cfg, true) ? 0 : 1;
    config_free(&cfg);
    return rc;
}

/* mkdir -p */
static bool make_dirs(const char *path)
{
    char buf[512];
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return false;
        *p = '/';
    }
    return mkdir(buf, 0700) == 0 || errno == EEXIST;
}

static bool load_prices(const struct config *cfg)
{
    char err[512];
    PGconn *pg = db_connect_once(cfg->database_url, err, sizeof(err));
    bool ok;

    if (!pg) {
        fail(err, NULL);
        return false;
    }
    ok = prices_init(pg, err, sizeof(err));
    PQfinish(pg);
    if (!ok)
        fail("loading the price catalog", err);
    return ok;
}

static bool start_writer(const struct config *cfg, struct app *app)
{
    char err[512];

    if (cfg->spool_max > 0 && !make_dirs(cfg->spool_dir)) {
        fprintf(stderr, "tollgate: cannot create the spool folder %s: %s\n", cfg->spool_dir,
                strerror(errno));
        return false;
    }
    app->writer = writer_start(cfg->database_url, cfg->spool_max > 0 ? cfg->spool_dir : NULL,
                               cfg->spool_max, (int)cfg->ingest_writers, err, sizeof(err));
    if (!app->writer)
        fail(err, NULL);
    return app->writer != NULL;
}

/* The OTLP attribute mapping from the settings; NULL (reported) when one is invalid. */
static struct genai_mapping *build_mapping(const struct config *cfg)
{
    struct genai_mapping *m = genai_mapping_new();
    const struct {
        enum genai_field f;
        const char *names, *flag;
    } fields[] = {
        {GENAI_TEAM, cfg->otlp_team, "--otlp-team"},
        {GENAI_PROJECT, cfg->otlp_project, "--otlp-project"},
        {GENAI_USER, cfg->otlp_user, "--otlp-user"},
    };
    char err[256];

    if (!m) {
        fail("out of memory", NULL);
        return NULL;
    }
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (!genai_mapping_set(m, fields[i].f, fields[i].names, err, sizeof(err))) {
            fprintf(stderr, "tollgate: %s: %s\n", fields[i].flag, err);
            genai_mapping_free(&m);
            return NULL;
        }
    }
    if (*cfg->otlp_default_team && !event_slug_valid(cfg->otlp_default_team)) {
        fail("--otlp-default-team must be a team slug", NULL);
        genai_mapping_free(&m);
    }
    return m;
}

static int cmd_serve(int argc, char **argv)
{
    struct config cfg = {0};
    struct app app = {0};
    struct http_server *srv = NULL;
    char err[512];
    sigset_t set;
    int sig = 0, rc = 1;

    /*
     * SIGINT and SIGTERM are taken by sigwait below, synchronously. Blocked
     * before any thread starts (writer, ledger, alerts, webhooks, MHD), so
     * that every thread inherits the mask: a thread that left them
     * unblocked could receive one and die of its default action.
     */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (!parse(&cfg, NULL, argc, argv))
        goto out;
    /*
     * No fastbins: a batch request frees tens of thousands of small JSON
     * nodes, and with fastbins each later large allocation first merges
     * them all (malloc_consolidate), which cost more per event than the
     * fastbins saved.
     */
    mallopt(M_MXFAST, 0);
    if (!check_schema(&cfg, cfg.migrate))
        goto out;
    if (!db_open(cfg.database_url, (int)cfg.db_pool, &app.db, err, sizeof(err))) {
        fail(err, NULL);
        goto out;
    }
    if (strcmp(cfg.unknown_teams, "reject") != 0 && strcmp(cfg.unknown_teams, "create") != 0) {
        fail("--unknown-teams must be reject or create", NULL);
        goto out;
    }
    if (strcmp(cfg.unknown_scope, "allow") != 0 && strcmp(cfg.unknown_scope, "deny") != 0) {
        fail("--unknown-scope must be allow or deny", NULL);
        goto out;
    }
    if (!load_prices(&cfg))
        goto out;
    scopes_init();
    if (!start_writer(&cfg, &app))
        goto out;
    if (!(app.genai = build_mapping(&cfg)))
        goto out;
    if (!verdicts_start(&cfg, err, sizeof(err))) {
        fail("starting the ledger", err);
        goto out;
    }
    if (!alertd_start(&cfg, err, sizeof(err))) {
        fail("starting the alert evaluator", err);
        goto out;
    }
    if (!maint_start(cfg.database_url, 5)) {
        fail("cannot start the maintenance thread", NULL);
        goto out;
    }
    if (!webhooks_start(&cfg, err, sizeof(err))) {
        fail("starting webhook delivery", err);
        goto out;
    }
    app.cfg = &cfg;
    app.started = time(NULL);
    auth_init(cfg.key_cache_ttl);
    srv = http_start(&app, api_routes, api_routes_count, err, sizeof(err));
    if (!srv) {
        fail(err, NULL);
        goto out;
    }
    log_info(NULL, "tollgate %s ready (port %d)", TOLLGATE_VERSION, http_port(srv));
    if (sigwait(&set, &sig) != 0)
        sig = SIGTERM;
    log_info(NULL, "%s received; draining for up to %lds", sig == SIGINT ? "SIGINT" : "SIGTERM",
             cfg.shutdown_timeout);
    atomic_store(&app.draining, true);
    http_stop(&srv, cfg.shutdown_timeout);
    rc = 0;
out:
    webhooks_stop();
    maint_stop();
    writer_stop(&app.writer);
    alertd_stop();
    verdicts_stop();
    prices_shutdown();
    genai_mapping_free(&app.genai);
    if (rc == 0)
        log_info(NULL, "stopped");
    db_close(&app.db);
    config_free(&cfg);
    return rc;
}

/* Connects for a CLI command and resolves the org. */
static struct db_conn *cli_db(const struct config *cfg, struct db **db, const char *org,
                              bool create_org, int64_t *org_id)
{
    char err[512];
    struct db_conn *c;

    if (!check_schema(cfg, false))
        return NULL;
    if (!db_open(cfg->database_url, 1, db, err, sizeof(err))) {
        fail(err, NULL);
        return NULL;
    }
    c = db_acquire(*db, 5000);
    if (!c) {
        fail("cannot reach Postgres", NULL);
        return NULL;
    }
    switch (store_org(c, org ? org : "default", create_org, org_id)) {
    case STORE_OK:
        return c;
    case STORE_NOT_FOUND:
        fprintf(stderr, "tollgate: no org '%s'\n", org);
        break;
    default:
        fail("looking up the org", db_conn_error(c));
    }
    db_release(*db, &c);
    return NULL;
}

static int keys_create(struct config *cfg, struct cli_opt *o, bool bootstrap)
{
    const char *role_s = bootstrap ? "admin" : o[0].value, *team = o[1].value;
    const char *name = bootstrap ? "bootstrap" : o[2].value, *org = o[3].value;
    enum auth_role role;
    struct store_team t = {0};
    struct db *db = NULL;
    struct db_conn *c;
    char secret[AUTH_SECRET_LEN + 1], *json = NULL;
    int64_t org_id;
    int rc = 1;

    if (!role_s)
        return fail("keys create needs --role ingest|verdict|read|admin", NULL);
    if (!auth_parse_role(role_s, &role))
        return fail("--role must be ingest, verdict, read or admin", NULL);
    if (org && !event_slug_valid(org))
        return fail("--org must be a slug: a-z, 0-9, '.', '_', '-'", NULL);
    if (!(c = cli_db(cfg, &db, org, !bootstrap, &org_id)))
        goto out;
    if (bootstrap) {
        long n = 0;
        if (store_admin_keys(c, org_id, &n) != STORE_OK) {
            fail("counting admin keys", db_conn_error(c));
            goto out;
        }
        if (n > 0) {
            fprintf(stderr, "tollgate: org '%s' has %ld admin key%s already; none made\n",
                    org ? org : "default", n, n == 1 ? "" : "s");
            rc = 0;
            goto out;
        }
    }
    if (team) {
        enum store_result sr = store_team(c, org_id, team, &t);
        if (sr == STORE_NOT_FOUND) {
            fprintf(stderr, "tollgate: no team or project '%s'\n", team);
            goto out;
        }
        if (sr != STORE_OK) {
            fail("looking up the team", db_conn_error(c));
            goto out;
        }
    }
    if (store_key_create(c, org_id, role, t.id, name, secret, &json) != STORE_OK) {
        fail("creating the key", db_conn_error(c));
        goto out;
    }
    fprintf(stderr, "created %s\nThe secret is shown only now; keep it safe:\n", json);
    printf("%s\n", secret);
    rc = 0;
out:
    free(json);
    db_release(db, &c);
    db_close(&db);
    return rc;
}

static int keys_list(struct config *cfg, const char *org)
{
    struct db *db = NULL;
    struct db_conn *c;
    char id[24];
    const char *p[1] = {id};
    PGresult *r;
    int64_t org_id;
    int rc = 1;

    if (!(c = cli_db(cfg, &db, org, false, &org_id)))
        goto out;
    snprintf(id, sizeof(id), "%" PRId64, org_id);
    r = db_query(c,
                 "SELECT k.id, k.prefix, k.role, coalesce(t.slug, '-'), k.name, "
                 " to_char(k.created_at, 'YYYY-MM-DD HH24:MI'),"
                 " coalesce(to_char(k.last_used_at, 'YYYY-MM-DD HH24:MI'), '-'),"
                 " CASE WHEN k.revoked_at IS NULL THEN 'active' ELSE 'revoked' END"
                 " FROM api_keys k LEFT JOIN teams t ON t.id = k.team_id"
                 " WHERE k.org_id = $1 ORDER BY k.id",
                 1, p);
    if (!r) {
        fail("listing keys", db_conn_error(c));
        goto out;
    }
    printf("%-6s %-12s %-8s %-16s %-17s %-17s %-8s %s\n", "ID", "PREFIX", "ROLE", "TEAM", "CREATED",
           "LAST USED", "STATE", "NAME");
    for (int i = 0; i < PQntuples(r); i++)
        printf("%-6s %-12s %-8s %-16s %-17s %-17s %-8s %s\n", PQgetvalue(r, i, 0),
               PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 5),
               PQgetvalue(r, i, 6), PQgetvalue(r, i, 7), PQgetvalue(r, i, 4));
    PQclear(r);
    rc = 0;
out:
    db_release(db, &c);
    db_close(&db);
    return rc;
}

static int keys_revoke(struct config *cfg, const char *id, const char *org)
{
    struct db *db = NULL;
    struct db_conn *c;
    char oid[24];
    const char *p[2] = {oid, id};
    char *end;
    PGresult *r;
    int64_t org_id;
    int rc = 1;

    if (strtoll(id, &end, 10) <= 0 || *end)
        return fail("keys revoke needs a key ID (see 'tollgate keys list')", NULL);
    if (!(c = cli_db(cfg, &db, org, false, &org_id)))
        goto out;
    snprintf(oid, sizeof(oid), "%" PRId64, org_id);
    r = db_query(c,
                 "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())"
                 " WHERE org_id = $1 AND id = $2::bigint RETURNING prefix",
                 2, p);
    if (!r) {
        fail("revoking the key", db_conn_error(c));
        goto out;
    }
    if (PQntuples(r) == 1) {
        printf("revoked key %s (%s)\n", id, PQgetvalue(r, 0, 0));
        rc = 0;
    } else {
        fprintf(stderr, "tollgate: no key %s in this org\n", id);
    }
    PQclear(r);
out:
    db_release(db, &c);
    db_close(&db);
    return rc;
}

static int cmd_keys(int argc, char **argv)
{
    struct cli_opt opts[] = {
        {"role", "ingest, verdict, read or admin", true, NULL},
        {"team", "scope the key to this team or project", true, NULL},
        {"name", "a label for people", true, NULL},
        {"org", "the org (default: default)", true, NULL},
        {NULL, NULL, false, NULL},
    };
    struct config cfg = {0};
    const char *sub = argc > 0 ? argv[0] : "";
    const char *id = NULL;
    int skip = 1, rc = 2;

    if (!strcmp(sub, "revoke")) {
        if (argc < 2 || argv[1][0] == '-')
            return fail("keys revoke needs a key ID (see 'tollgate keys list')", NULL);
        id = argv[1];
        skip = 2;
    }
    if (strcmp(sub, "create") && strcmp(sub, "bootstrap") && strcmp(sub, "list") && !id)
        return fail("keys needs a subcommand: create, bootstrap, list or revoke", NULL);
    if (!parse(&cfg, opts, argc - skip, argv + skip))
        goto out;
    if (!strcmp(sub, "create") || !strcmp(sub, "bootstrap"))
        rc = keys_create(&cfg, opts, !strcmp(sub, "bootstrap"));
    else if (!strcmp(sub, "list"))
        rc = keys_list(&cfg, opts[3].value);
    else
        rc = keys_revoke(&cfg, id, opts[3].value);
out:
    config_free(&cfg);
    return rc;
}

/*
 * Parses settings and opts, checks the schema, connects, and loads the price
 * catalog: what the commands that price events need. NULL (reported) on failure.
 */
static PGconn *cli_priced(struct config *cfg, struct cli_opt *opts, int argc, char **argv)
{
    char err[512];
    PGconn *pg;

    if (!parse(cfg, opts, argc, argv) || !check_schema(cfg, false))
        return NULL;
    if (!(pg = db_connect_once(cfg->database_url, err, sizeof(err)))) {
        fail(err, NULL);
        return NULL;
    }
    if (!prices_init(pg, err, sizeof(err))) {
        fail("loading the price catalog", err);
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

static int cmd_demo(int argc, char **argv)
{
    struct cli_opt opts[] = {
        {"if-empty", "load only when the database has no usage yet", false, NULL},
        {NULL, NULL, false, NULL},
    };
    struct config cfg = {0};
    char err[512];
    PGconn *pg = NULL;
    int rc = 1;

    if (!(pg = cli_priced(&cfg, opts, argc, argv)))
        goto out;
    {
        const struct catalog *c = prices_lock();
        size_t models = catalog_model_count(c);
        prices_unlock();
        if (models == 0) {
            fail("the price catalog is empty; run 'tollgate prices import "
                 "prices/genai-prices.json' first",
                 NULL);
            goto out;
        }
    }
    if (!demo_load(pg, opts[0].value != NULL, err, sizeof(err))) {
        fail("demo", err);
        goto out;
    }
    rc = 0;
out:
    prices_shutdown();
    if (pg)
        PQfinish(pg);
    config_free(&cfg);
    return rc;
}

static int cmd_prices(int argc, char **argv)
{
    struct config cfg = {0};
    const char *sub = argc > 0 ? argv[0] : "";
    const char *file = NULL;
    char err[512];
    PGconn *pg = NULL;
    int skip = 1, rc = 1;

    if (!strcmp(sub, "import")) {
        if (argc < 2 || argv[1][0] == '-')
            return fail("prices import needs a catalog FILE (see prices/README.md)", NULL);
        file = argv[1];
        skip = 2;
    } else if (strcmp(sub, "reprice") != 0) {
        return fail("prices needs a subcommand: import FILE or reprice", NULL);
    }
    if (!(pg = cli_priced(&cfg, NULL, argc - skip, argv + skip)))
        goto out;
    if (file) {
        struct prices_import_result res;
        if (!prices_import(pg, file, &res, err, sizeof(err))) {
            fail("prices import", err);
            goto out;
        }
        printf("imported %s: %d providers, %d models, %d new price rows; %lld events repriced\n",
               file, res.providers, res.models, res.new_prices, res.repriced);
    } else {
        long long n = 0;
        if (!prices_reprice(pg, &n, err, sizeof(err))) {
            fail("prices reprice", err);
            goto out;
        }
        printf("repriced %lld events\n", n);
    }
    rc = 0;
out:
    prices_shutdown();
    if (pg)
        PQfinish(pg);
    config_free(&cfg);
    return rc;
}

/*
 * Writes the documents of d to the org, then removes the org's file rows not
 * in d: all in one transaction, so that an apply changes everything or
 * nothing, and running instances reload once.
 */
static int policy_apply(struct db_conn *c, int64_t org_id, struct policydir *d)
{
    long created = 0, updated = 0, removed = 0, gone;
    const char **names = NULL;
    int rc = 1;

    /* Every scope first, so that a bad one stops the apply before anything changed. */
    for (size_t i = 0; i < d->n_budgets + d->n_policies; i++) {
        bool is_budget = i < d->n_budgets;
        size_t k = is_budget ? i : i - d->n_budgets;
        struct scope *s = is_budget ? &d->budgets[k].scope : &d->policies[k].scope;
        const struct policydir_origin *o = is_budget ? &d->budget_at[k] : &d->policy_at[k];
        char at[600];
        switch (policystore_resolve(c, org_id, s)) {
        case STORE_OK:
            break;
        case STORE_NOT_FOUND:
            fprintf(stderr, "%s: scope: no %s '%s' in this org\n",
                    policydir_where(d, o, at, sizeof(at)), policy_scope_kind_name(s->kind),
                    s->name);
            return 1;
        default:
            return fail("resolving scopes", db_conn_error(c));
        }
    }
    if (!(names = calloc(d->n_budgets + d->n_policies + 1, sizeof(*names))))
        return fail("out of memory", NULL);
    if (!db_exec(c, "BEGIN")) {
        fail("starting the apply", db_conn_error(c));
        goto out;
    }
    for (size_t i = 0; i < d->n_budgets; i++) {
        int64_t id;
        bool made;
        if (policystore_put_budget(c, org_id, &d->budgets[i], "file", &id, &made) != STORE_OK) {
            fail("writing a budget", db_conn_error(c));
            goto out;
        }
        made ? created++ : updated++;
        names[i] = d->budgets[i].name;
    }
    if (policystore_prune(c, org_id, POLICY_DOC_BUDGET, names, d->n_budgets, &gone) != STORE_OK) {
        fail("removing budgets", db_conn_error(c));
        goto out;
    }
    removed += gone;
    for (size_t i = 0; i < d->n_policies; i++) {
        int64_t id;
        bool made;
        int version;
        if (policystore_put_policy(c, org_id, &d->policies[i], "file", &id, &made, &version) !=
            STORE_OK) {
            fail("writing a policy", db_conn_error(c));
            goto out;
        }
        made ? created++ : updated++;
        names[i] = d->policies[i].name;
    }
    if (policystore_prune(c, org_id, POLICY_DOC_POLICY, names, d->n_policies, &gone) != STORE_OK) {
        fail("removing policies", db_conn_error(c));
        goto out;
    }
    removed += gone;
    if (!db_exec(c, "COMMIT")) {
        fail("committing the apply", db_conn_error(c));
        goto out;
    }
    printf("applied %zu budgets and %zu policies: %ld created, %ld updated, %ld removed\n",
           d->n_budgets, d->n_policies, created, updated, removed);
    rc = 0;
out:
    if (rc != 0 && PQtransactionStatus(db_conn_pg(c)) != PQTRANS_IDLE && !db_exec(c, "ROLLBACK"))
        fprintf(stderr, "tollgate: rolling back the apply failed: %s\n", db_conn_error(c));
    free(names);
    return rc;
}

static int cmd_policy(int argc, char **argv)
{
    struct cli_opt opts[] = {
        {"org", "the org (default: default)", true, NULL},
        {NULL, NULL, false, NULL},
    };
    struct config cfg = {0};
    const char *sub = argc > 0 ? argv[0] : "";
    struct policydir d = {0};
    struct db *db = NULL;
    struct db_conn *c = NULL;
    int64_t org_id;
    int rc = 1, bad;

    if ((strcmp(sub, "check") && strcmp(sub, "apply")) || argc < 2 || argv[1][0] == '-')
        return fail("policy needs a subcommand and a directory: check DIR or apply DIR", NULL);
    if (!parse(&cfg, opts, argc - 2, argv + 2))
        goto out;
    verdicts_configure(&cfg);
    if ((bad = policydir_load(argv[1], &d, stderr)) != 0) {
        if (bad > 0)
            fprintf(stderr, "tollgate: %d error%s in %s; nothing applied\n", bad,
                    bad == 1 ? "" : "s", argv[1]);
        goto out;
    }
    if (!strcmp(sub, "check")) {
        printf("%s: %zu budgets and %zu policies, all valid\n", argv[1], d.n_budgets, d.n_policies);
        rc = 0;
        goto out;
    }
    if (opts[0].value && !event_slug_valid(opts[0].value)) {
        fail("--org must be a slug: a-z, 0-9, '.', '_', '-'", NULL);
        goto out;
    }
    if (!(c = cli_db(&cfg, &db, opts[0].value, false, &org_id)))
        goto out;
    rc = policy_apply(c, org_id, &d);
out:
    if (c)
        db_release(db, &c);
    db_close(&db);
    policydir_free(&d);
    config_free(&cfg);
    return rc;
}

static int cmd_config(int argc, char **argv)
{
    struct config cfg = {0};
    if (!parse(&cfg, NULL, argc, argv)) {
        config_free(&cfg);
        return 1;
    }
    config_dump(&cfg, stdout);
    config_free(&cfg);
    return 0;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(cmd, "serve"))
        return cmd_serve(argc - 2, argv + 2);
    if (!strcmp(cmd, "migrate"))
        return cmd_migrate(argc - 2, argv + 2);
    if (!strcmp(cmd, "keys"))
        return cmd_keys(argc - 2, argv + 2);
    if (!strcmp(cmd, "prices"))
        return cmd_prices(argc - 2, argv + 2);
    if (!strcmp(cmd, "demo"))
        return cmd_demo(argc - 2, argv + 2);
    if (!strcmp(cmd, "policy"))
        return cmd_policy(argc - 2, argv + 2);
    if (!strcmp(cmd, "config"))
        return cmd_config(argc - 2, argv + 2);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("tollgate %s\n", TOLLGATE_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    if (*cmd) {
        fprintf(stderr, "tollgate: unknown command '%s' (see 'tollgate --help')\n", cmd);
        return 2;
    }
    usage(stderr);
    return 2;
}
