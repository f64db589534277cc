/*
 * cli: the tollgate command line, run as a real process against real
 * databases: version and help, migrations, serve's schema check, the keys
 * commands, and settings from flags and the environment.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

TH_SUITE(cli);

/* Every setting of the table in server/config.c, with its environment variable. */
static const struct {
    const char *flag, *env;
} settings[] = {
    {"--listen", "TOLLGATE_LISTEN"},
    {"--database-url", "DATABASE_URL"},
    {"--threads", "TOLLGATE_THREADS"},
    {"--db-pool", "TOLLGATE_DB_POOL"},
    {"--max-body", "TOLLGATE_MAX_BODY"},
    {"--log-level", "TOLLGATE_LOG_LEVEL"},
    {"--migrate", "TOLLGATE_MIGRATE"},
    {"--web-dir", "TOLLGATE_WEB_DIR"},
    {"--key-cache-ttl", "TOLLGATE_KEY_CACHE_TTL"},
    {"--shutdown-timeout", "TOLLGATE_SHUTDOWN_TIMEOUT"},
    {"--conn-timeout", "TOLLGATE_CONN_TIMEOUT"},
};

/* A command that failed the documented way: non-zero, one line on stderr naming what. */
static void assert_one_line_error(const struct th_proc *p, const char *what, const char *mention)
{
    cr_assert_neq(p->status, 0, "%s should fail; stdout:\n%s", what, p->out);
    cr_assert_eq(th_count_lines(p->err), 1, "%s should print one line on stderr, got:\n%s", what,
                 p->err);
    cr_assert(!mention || strstr(p->err, mention), "%s: stderr should mention '%s': %s", what,
              mention, p->err);
}

/* The line after a setting's line in --help ("  --flag [VALUE]   help"), or "". */
static const char *help_env_line(const char *help, const char *flag)
{
    const char *at = strstr(help, th_fmt("\n  %s ", flag)), *eol;

    cr_assert(at, "--help does not list %s:\n%s", flag, help);
    eol = strchr(at + 1, '\n');
    return eol ? th_fmt("%.*s", (int)strcspn(eol + 1, "\n"), eol + 1) : "";
}

static const char *migrations_state(const char *url)
{
    return th_sql(url,
                  "SELECT count(*) || ' ' || max(version) || ' ' || max(applied_at)"
                  " FROM schema_migrations",
                  NULL);
}

/* ---- version and help ---- */

Test(cli, version_prints_one_line)
{
    static const char *const forms[] = {"version", "--version"};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct th_proc p;
        th_run(&p, NULL, forms[i], NULL);
        cr_assert_eq(p.status, 0, "tollgate %s: status %d, stderr %s", forms[i], p.status, p.err);
        cr_assert(th_matches(p.out, "^tollgate [^ \n]+\n$"), "tollgate %s printed '%s'", forms[i],
                  p.out);
        cr_assert_str_empty(p.err, "tollgate %s wrote to stderr: %s", forms[i], p.err);
    }
}

Test(cli, help_lists_commands_and_every_setting_with_its_env_var)
{
    static const char *const commands[] = {"serve",          "migrate",   "keys create",
                                           "keys bootstrap", "keys list", "keys revoke",
                                           "demo",           "config",    "version"};
    struct th_proc p, cfg;
    char *line, *save = NULL;

    th_run(&p, NULL, "--help", NULL);
    cr_assert_eq(p.status, 0, "--help: status %d", p.status);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        cr_assert(strstr(p.out, th_fmt("  %s", commands[i])), "--help does not list '%s':\n%s",
                  commands[i], p.out);
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
        const char *env = help_env_line(p.out, settings[i].flag);
        cr_assert(strstr(env, th_fmt("env %s,", settings[i].env)),
                  "--help should give %s's env var %s on the line after it, not '%s'",
                  settings[i].flag, settings[i].env, env);
    }
    /* Drift check: every setting `config` prints is in --help, with an env var. */
    th_run(&cfg, NULL, "config", NULL);
    cr_assert_eq(cfg.status, 0);
    for (line = strtok_r(th_fmt("%s", cfg.out), "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        line[strcspn(line, " ")] = '\0';
        cr_assert(th_matches(help_env_line(p.out, th_fmt("--%s", line)), "^ +env [A-Z_]+, default"),
                  "--help should document --%s and its env var", line);
    }
    /* --help works after a command too, and on stdout. */
    th_run(&p, NULL, "serve", "--help", NULL);
    cr_assert_eq(p.status, 0);
    cr_assert(strstr(p.out, "--listen"), "serve --help: %s", p.out);
}

Test(cli, unknown_command_fails_naming_it)
{
    struct th_proc p;

    th_run(&p, NULL, "frobnicate", NULL);
    cr_assert_neq(p.status, 0);
    cr_assert_str_empty(p.out, "stdout should be empty: %s", p.out);
    cr_assert(strstr(th_last_line(p.err), "frobnicate"), "last stderr line: %s",
              th_last_line(p.err));
    th_run(&p, NULL, NULL);
    cr_assert_neq(p.status, 0, "no command at all should fail");
}

Test(cli, unknown_command_prints_one_line)
{
    struct th_proc p;
    th_run(&p, NULL, "frobnicate", NULL);
    assert_one_line_error(&p, "tollgate frobnicate", "frobnicate");
}

/* ---- migrate ---- */

Test(cli, migrate_applies_then_reports_up_to_date_and_changes_nothing)
{
    const char *url = th_db_fresh(), *before, *version;
    struct th_proc p;

    th_run(&p, NULL, "migrate", "--database-url", url, NULL);
    cr_assert_eq(p.status, 0, "migrate: %s", p.err);
    cr_assert(th_matches(p.out, "^applied [0-9]+ migrations?; schema version [0-9]+\n$"),
              "first migrate printed '%s'", p.out);
    before = migrations_state(url);
    version = th_sql(url, "SELECT max(version) FROM schema_migrations", NULL);
    cr_assert(strstr(p.out, th_fmt("schema version %s\n", version)), "'%s' vs version %s", p.out,
              version);
    cr_assert_str_eq(th_sql(url, "SELECT count(*) = max(version) FROM schema_migrations", NULL),
                     "t", "migrations should be numbered 1..N");
    cr_assert(strstr(p.out, th_fmt("applied %s migration",
                                   th_sql(url, "SELECT count(*) FROM schema_migrations", NULL))),
              "the count printed should match schema_migrations: %s", p.out);

    th_run(&p, NULL, "migrate", "--database-url", url, NULL);
    cr_assert_eq(p.status, 0, "second migrate: %s", p.err);
    cr_assert_str_eq(p.out, th_fmt("schema is up to date at version %s\n", version));
    cr_assert_str_eq(migrations_state(url), before, "a second migrate changed schema_migrations");
}

Test(cli, migrate_concurrently_applies_each_migration_once)
{
    const char *url = th_db_fresh();
    const char *const args[] = {"migrate", "--database-url", url, NULL};
    struct th_child *a = th_spawn(NULL, args), *b = th_spawn(NULL, args);
    struct th_proc pa, pb;

    cr_assert_eq(th_wait(a, &pa), 0, "first migrate: %s", pa.err);
    cr_assert_eq(th_wait(b, &pb), 0, "second migrate: %s", pb.err);
    cr_assert_str_eq(th_sql(url,
                            "SELECT count(*) = count(DISTINCT version) AND count(*) = max(version)"
                            " FROM schema_migrations",
                            NULL),
                     "t");
    cr_assert(strstr(pa.out, "up to date") || strstr(pb.out, "up to date"),
              "one of two racing migrates should find nothing to do:\n%s%s", pa.out, pb.out);
}

Test(cli, migrate_takes_database_url_from_the_environment)
{
    const char *url = th_db_fresh();
    const char *env[] = {th_fmt("DATABASE_URL=%s", url), NULL};
    struct th_proc p;

    th_run(&p, env, "migrate", NULL);
    cr_assert_eq(p.status, 0, "migrate with DATABASE_URL: %s", p.err);
    cr_assert_str_neq(th_sql(url, "SELECT count(*) FROM schema_migrations", NULL), "0");
}

Test(cli, migrate_without_a_reachable_database_fails_with_one_line)
{
    struct th_proc p;

    th_run(&p, NULL, "migrate", NULL);
    assert_one_line_error(&p, "migrate without a database URL", "DATABASE_URL");
    th_run(&p, NULL, "migrate", "--database-url", th_db_url_for("th_no_such_database"), NULL);
    assert_one_line_error(&p, "migrate on a missing database", "th_no_such_database");
}

/* ---- serve's schema check ---- */

Test(cli, serve_refuses_an_unmigrated_database)
{
    const char *url = th_db_fresh();
    struct th_proc p;

    th_run(&p, NULL, "serve", "--listen", "127.0.0.1:0", "--database-url", url, NULL);
    assert_one_line_error(&p, "serve on an unmigrated database", "migrate");
    cr_assert_str_eq(th_sql(url, "SELECT to_regclass('schema_migrations') IS NULL", NULL), "t",
                     "serve without --migrate must not touch the schema");
}

Test(cli, serve_with_migrate_flag_migrates_and_serves)
{
    const char *url = th_db_fresh();
    struct th_server *s = th_server_start(url, "--migrate", NULL);
    struct th_resp r;

    th_http(s, "GET", "/readyz", NULL, NULL, NULL, &r);
    th_assert_status(&r, 200);
    cr_assert_str_eq(th_sql(url, "SELECT max(version) FROM schema_migrations", NULL),
                     th_fmt("%lld", json_integer_value(json_object_get(r.json, "schema_version"))));
    th_server_stop(s);
}

Test(cli, serve_fails_when_its_port_is_taken)
{
    const char *url = th_db_migrated();
    struct sockaddr_in a = {0};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct th_proc p;

    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(fd, 1) == 0);
    cr_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    th_run(&p, NULL, "serve", "--listen", th_fmt("127.0.0.1:%d", ntohs(a.sin_port)),
           "--database-url", url, NULL);
    close(fd);
    cr_assert_neq(p.status, 0, "serve on a taken port should fail");
    cr_assert(strstr(th_last_line(p.err), "cannot listen"), "stderr: %s", p.err);
}

Test(cli, serve_fails_when_another_tollgate_has_its_port)
{
    const char *url = th_db_migrated();
    struct th_server *s = th_server_start(url, NULL);
    const char *const args[] = {"serve",          "--listen", th_fmt("127.0.0.1:%d", s->port),
                                "--database-url", url,        NULL};
    struct th_child *c = th_spawn(NULL, args);
    struct th_proc p;

    cr_assert_geq(th_wait_ms(c, &p, 5000), 0,
                  "a second server on port %d is still running after 5 s", s->port);
    cr_assert_neq(p.status, 0);
    th_server_stop(s);
}

/* ---- keys ---- */

Test(cli, keys_create_prints_the_secret_last_and_stores_only_its_hash)
{
    const char *url = th_db_migrated(), *secret, *id, *row, *hex;
    struct th_proc p;

    th_run(&p, NULL, "keys", "create", "--role", "admin", "--name", "ops", "--database-url", url,
           NULL);
    cr_assert_eq(p.status, 0, "keys create: %s", p.err);
    secret = th_last_line(p.out);
    cr_assert(th_matches(secret, "^tg_[A-Za-z0-9_-]{43}$"), "last stdout line '%s'", secret);
    cr_assert_eq(th_count_lines(p.out), 1, "stdout should hold the secret alone: %s", p.out);
    cr_assert(!strstr(p.err, secret), "the secret must not go to stderr");

    id = th_key_id(url, secret); /* looks the key up by sha256(secret) */
    cr_assert_str_eq(th_sql(url, "SELECT count(*) FROM api_keys", NULL), "1");
    cr_assert_str_eq(th_sql(url,
                            "SELECT format('%s %s %s %s %s', role, name, prefix, team_id IS NULL,"
                            " revoked_at IS NULL) FROM api_keys WHERE id = $1",
                            id, NULL),
                     th_fmt("admin ops %.11s t t", secret));
    row = th_sql(url, "SELECT row_to_json(k)::text FROM api_keys k WHERE id = $1", id, NULL);
    hex = th_sql(url, "SELECT encode(convert_to($1, 'UTF8'), 'hex')", secret, NULL);
    cr_assert(!strstr(row, secret + 3) && !strstr(row, secret + 11) && !strstr(row, hex),
              "the secret (or its hex) is in the row: %s", row);
}

Test(cli, keys_create_rejects_bad_roles)
{
    const char *url = th_db_migrated();
    struct th_proc p;

    th_run(&p, NULL, "keys", "create", "--role", "bogus", "--database-url", url, NULL);
    assert_one_line_error(&p, "keys create --role bogus", "--role");
    th_run(&p, NULL, "keys", "create", "--database-url", url, NULL);
    assert_one_line_error(&p, "keys create without --role", "--role");
    cr_assert_str_eq(th_sql(url, "SELECT count(*) FROM api_keys", NULL), "0");
}

Test(cli, keys_create_scopes_to_a_team_and_rejects_unknown_teams)
{
    const char *url = th_db_migrated();
    struct th_proc p;

    th_run(&p, NULL, "keys", "create", "--role", "read", "--team", "nope", "--database-url", url,
           NULL);
    assert_one_line_error(&p, "keys create --team nope", "nope");
    cr_assert_str_eq(th_sql(url, "SELECT count(*) FROM api_keys", NULL), "0");

    th_sql(url,
           "INSERT INTO teams (org_id, slug, name) SELECT id, 'eng', 'Engineering' FROM orgs"
           " WHERE slug = 'default'",
           NULL);
    const char *secret = th_cli_key(url, "read", "eng");
    cr_assert_str_eq(th_sql(url,
                            "SELECT t.slug FROM api_keys k JOIN teams t ON t.id = k.team_id"
                            " WHERE k.id = $1",
                            th_key_id(url, secret), NULL),
                     "eng");
}

Test(cli, keys_bootstrap_makes_an_admin_key_only_when_there_is_none)
{
    const char *url = th_db_migrated(), *secret;
    struct th_proc p;

    th_run(&p, NULL, "keys", "bootstrap", "--database-url", url, NULL);
    cr_assert_eq(p.status, 0, "bootstrap: %s", p.err);
    secret = th_last_line(p.out);
    cr_assert(th_matches(secret, "^tg_[A-Za-z0-9_-]{43}$"), "bootstrap printed '%s'", p.out);
    cr_assert_str_eq(th_sql(url,
                            "SELECT role FROM api_keys WHERE secret_hash ="
                            " sha256(convert_to($1, 'UTF8'))",
                            secret, NULL),
                     "admin");

    th_run(&p, NULL, "keys", "bootstrap", "--database-url", url, NULL);
    cr_assert_eq(p.status, 0, "a second bootstrap is not an error: %s", p.err);
    cr_assert_str_empty(p.out, "a second bootstrap should print no secret: %s", p.out);
    cr_assert_str_eq(th_sql(url, "SELECT count(*) FROM api_keys", NULL), "1");

    /* Once the only admin key is revoked, bootstrap may make one again. */
    th_run(&p, NULL, "keys", "revoke", th_key_id(url, secret), "--database-url", url, NULL);
    cr_assert_eq(p.status, 0, "revoke: %s", p.err);
    th_run(&p, NULL, "keys", "bootstrap", "--database-url", url, NULL);
    cr_assert_eq(p.status, 0);
    cr_assert(th_matches(th_last_line(p.out), "^tg_[A-Za-z0-9_-]{43}$"), "%s", p.out);
    cr_assert_str_eq(th_sql(url, "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL", NULL),
                     "1");
}

Test(cli, keys_list_shows_prefixes_and_states_never_secrets)
{
    const char *url = th_db_migrated();
    const char *a = th_cli_key(url, "admin", NULL), *b = th_cli_key(url, "ingest", NULL);
    struct th_proc p;

    th_run(&p, NULL, "keys", "revoke", th_key_id(url, b), "--database-url", url, NULL);
    cr_assert_eq(p.status, 0, "revoke: %s", p.err);
    th_run(&p, NULL, "keys", "list", "--database-url", url, NULL);
    cr_assert_eq(p.status, 0, "keys list: %s", p.err);
    cr_assert_eq(th_count_lines(p.out), 3, "a header and two keys:\n%s", p.out);
    cr_assert(!strstr(p.out, a) && !strstr(p.out, b), "keys list shows a secret:\n%s", p.out);
    cr_assert(!strstr(p.out, a + 11) && !strstr(p.out, b + 11), "keys list shows secret text");
    cr_assert(th_matches(p.out, th_fmt("\n%s +%.11s +admin .* active", th_key_id(url, a), a)),
              "admin key row:\n%s", p.out);
    cr_assert(th_matches(p.out, th_fmt("\n%s +%.11s +ingest .* revoked", th_key_id(url, b), b)),
              "revoked ingest key row:\n%s", p.out);
}

Test(cli, keys_revoke_locks_the_key_out_of_a_running_server)
{
    const char *url = th_db_migrated(), *key = th_admin_key(url);
    struct th_server *s = th_server_start(url, "--key-cache-ttl", "0", NULL);
    struct th_resp r;
    struct th_proc p;

    th_http(s, "GET", "/v1/admin/teams", key, NULL, NULL, &r);
    th_assert_status(&r, 200);
    th_run(&p, NULL, "keys", "revoke", th_key_id(url, key), "--database-url", url, NULL);
    cr_assert_eq(p.status, 0, "revoke: %s", p.err);
    cr_assert(strstr(p.out, th_fmt("%.11s", key)), "revoke should name the prefix: %s", p.out);
    th_http(s, "GET", "/v1/admin/teams", key, NULL, NULL, &r);
    th_assert_error(&r, 401, "unauthenticated", NULL);
    th_server_stop(s);
}

Test(cli, keys_revoke_reaches_a_caching_server_within_the_ttl)
{
    const char *url = th_db_migrated(), *key = th_admin_key(url);
    struct th_server *s = th_server_start(url, "--key-cache-ttl", "1", NULL);
    struct th_resp r;
    struct th_proc p;

    th_http(s, "GET", "/v1/admin/teams", key, NULL, NULL, &r);
    th_assert_status(&r, 200); /* now cached */
    th_run(&p, NULL, "keys", "revoke", th_key_id(url, key), "--database-url", url, NULL);
    cr_assert_eq(p.status, 0, "revoke: %s", p.err);
    for (int i = 0; i < 30; i++) { /* a 1 s TTL on whole seconds: at most ~2 s */
        th_http(s, "GET", "/v1/admin/teams", key, NULL, NULL, &r);
        if (r.status == 401)
            break;
        usleep(100000);
    }
    th_assert_error(&r, 401, "unauthenticated", NULL);
    th_server_stop(s);
}

Test(cli, keys_revoke_rejects_bad_and_unknown_ids)
{
    const char *url = th_db_migrated();
    struct th_proc p;

    th_run(&p, NULL, "keys", "revoke", "abc", "--database-url", url, NULL);
    assert_one_line_error(&p, "keys revoke abc", "ID");
    th_run(&p, NULL, "keys", "revoke", "4242", "--database-url", url, NULL);
    assert_one_line_error(&p, "keys revoke 4242", "4242");
    th_run(&p, NULL, "keys", "revoke", "--database-url", url, NULL);
    assert_one_line_error(&p, "keys revoke without an id", "ID");
    th_run(&p, NULL, "keys", "frob", "--database-url", url, NULL);
    assert_one_line_error(&p, "keys frob", "subcommand");
}

Test(cli, keys_commands_refuse_an_unmigrated_database)
{
    const char *url = th_db_fresh();
    struct th_proc p;

    th_run(&p, NULL, "keys", "create", "--role", "admin", "--database-url", url, NULL);
    assert_one_line_error(&p, "keys create on an unmigrated database", "migrate");
    th_run(&p, NULL, "keys", "list", "--database-url", url, NULL);
    assert_one_line_error(&p, "keys list on an unmigrated database", "migrate");
}

/* ---- settings ---- */

Test(cli, settings_come_from_env_and_flags_override_them)
{
    const char *env[] = {"TOLLGATE_LISTEN=10.1.2.3:4567", "TOLLGATE_DB_POOL=3",
                         "TOLLGATE_MIGRATE=yes", "DATABASE_URL=host=/nowhere dbname=x", NULL};
    struct th_proc p;

    th_run(&p, env, "config", NULL);
    cr_assert_eq(p.status, 0, "config: %s", p.err);
    cr_assert(strstr(p.out, "listen = 10.1.2.3:4567\n"), "%s", p.out);
    cr_assert(strstr(p.out, "db-pool = 3\n"), "%s", p.out);
    cr_assert(strstr(p.out, "migrate = true\n"), "%s", p.out);
    cr_assert(strstr(p.out, "database-url = host=/nowhere dbname=x\n"), "%s", p.out);

    th_run(&p, env, "config", "--listen", "127.0.0.1:9", "--db-pool=5", NULL);
    cr_assert_eq(p.status, 0, "config: %s", p.err);
    cr_assert(strstr(p.out, "listen = 127.0.0.1:9\n"), "a flag should beat the env: %s", p.out);
    cr_assert(strstr(p.out, "db-pool = 5\n"), "%s", p.out);
}

Test(cli, serve_listens_where_tollgate_listen_says)
{
    const char *url = th_db_migrated();
    const char *env[] = {"TOLLGATE_LISTEN=127.0.0.1:0", th_fmt("DATABASE_URL=%s", url), NULL};
    struct th_server *s = th_server_startv(env, NULL, NULL);

    cr_assert(strstr(th_server_log(s), "listening on 127.0.0.1:0 "), "log:\n%s", th_server_log(s));
    th_server_stop(s);
}

Test(cli, invalid_settings_fail_with_one_line)
{
    static const struct {
        const char *env;     /* or NULL */
        const char *args[3]; /* flags after the command */
        const char *mention;
    } cases[] = {
        {NULL, {"--threads", "abc"}, "--threads"},
        {NULL, {"--threads", "257"}, "--threads"},
        {NULL, {"--db-pool", "0"}, "--db-pool"},
        {NULL, {"--db-pool=-1"}, "--db-pool"},
        {NULL, {"--max-body", "10"}, "--max-body"},
        {NULL, {"--key-cache-ttl", "1x"}, "--key-cache-ttl"},
        {NULL, {"--log-level", "loud"}, "--log-level"},
        {NULL, {"--migrate=maybe"}, "--migrate"},
        {NULL, {"--no-such-option"}, "--no-such-option"},
        {NULL, {"--listen"}, "--listen"},
        {NULL, {"stray"}, "stray"},
        {"TOLLGATE_DB_POOL=0", {NULL}, "TOLLGATE_DB_POOL"},
        {"TOLLGATE_THREADS=many", {NULL}, "TOLLGATE_THREADS"},
    };
    static const char *const commands[] = {"config", "serve", "migrate"};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++) {
            const char *env[] = {cases[i].env, NULL};
            const char *args[] = {commands[c], cases[i].args[0], cases[i].args[1], NULL};
            struct th_proc p;

            th_runv(&p, env, args);
            assert_one_line_error(&p,
                                  th_fmt("tollgate %s %s %s %s", commands[c],
                                         cases[i].env ? cases[i].env : "", args[1] ? args[1] : "",
                                         args[1] && args[2] ? args[2] : ""),
                                  cases[i].mention);
        }
    }
}

Test(cli, config_masks_the_database_password)
{
    static const struct {
        const char *url, *shown;
    } cases[] = {
        {"postgresql://app:s3cretpw@db.example:5432/tg", "postgresql://app:***@db.example:5432/tg"},
        {"postgres://app:s3cretpw@db.example/tg?sslmode=require",
         "postgres://app:***@db.example/tg?sslmode=require"},
        {"postgresql:///tg?host=/tmp&password=s3cretpw&user=app",
         "postgresql:///tg?host=/tmp&password=***&user=app"},
        {"host=db.example password=s3cretpw user=app", "host=db.example password=*** user=app"},
        {"postgresql://app@db.example/tg", "postgresql://app@db.example/tg"},
        {"postgresql://app:s3cretpw@db/tg?password=s3cretpw",
         "postgresql://app:***@db/tg?password=***"},
        {"host=db password='two s3cretpw' user=app", "host=db password=*** user=app"},
        {"host=db password='it\\'s s3cretpw' user=app", "host=db password=*** user=app"},
        {"host=db password = s3cretpw user=app", "host=db password=*** user=app"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *env[] = {th_fmt("DATABASE_URL=%s", cases[i].url), NULL};
        struct th_proc p;

        th_run(&p, NULL, "config", "--database-url", cases[i].url, NULL);
        cr_assert_eq(p.status, 0, "config: %s", p.err);
        cr_assert(strstr(p.out, th_fmt("database-url = %s\n", cases[i].shown)),
                  "for %s expected '%s' in:\n%s", cases[i].url, cases[i].shown, p.out);
        cr_assert(!strstr(p.out, "s3cretpw"), "the password leaks:\n%s", p.out);
        th_run(&p, env, "config", NULL);
        cr_assert(!strstr(p.out, "s3cretpw"), "the password from DATABASE_URL leaks:\n%s", p.out);
    }
}
