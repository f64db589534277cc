// links: server/config.c
/*
 * config: defaults, environment, flags, command options, listen addresses,
 * password masking and the dump, alone. Every test starts from an environment
 * with none of the table's variables set.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdlib.h>
#include <string.h>

static const char *const env_names[] = {
    "TOLLGATE_LISTEN",           "DATABASE_URL",          "TOLLGATE_THREADS",
    "TOLLGATE_DB_POOL",          "TOLLGATE_MAX_BODY",     "TOLLGATE_LOG_LEVEL",
    "TOLLGATE_MIGRATE",          "TOLLGATE_WEB_DIR",      "TOLLGATE_KEY_CACHE_TTL",
    "TOLLGATE_SHUTDOWN_TIMEOUT", "TOLLGATE_CONN_TIMEOUT",
};

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
        unsetenv(env_names[i]);
}

TestSuite(config, .init = clear_env);

/* The value of the setting named as on the command line, as text. */
static void field_text(const struct config *c, const char *name, char *out, size_t outlen)
{
    const char *s = NULL;
    long n = 0;
    bool is_num = true;

    if (!strcmp(name, "listen"))
        s = c->listen, is_num = false;
    else if (!strcmp(name, "database-url"))
        s = c->database_url, is_num = false;
    else if (!strcmp(name, "log-level"))
        s = c->log_level, is_num = false;
    else if (!strcmp(name, "web-dir"))
        s = c->web_dir, is_num = false;
    else if (!strcmp(name, "migrate"))
        s = c->migrate ? "true" : "false", is_num = false;
    else if (!strcmp(name, "threads"))
        n = c->threads;
    else if (!strcmp(name, "db-pool"))
        n = c->db_pool;
    else if (!strcmp(name, "max-body"))
        n = c->max_body;
    else if (!strcmp(name, "key-cache-ttl"))
        n = c->key_cache_ttl;
    else if (!strcmp(name, "shutdown-timeout"))
        n = c->shutdown_timeout;
    else if (!strcmp(name, "conn-timeout"))
        n = c->conn_timeout;
    else
        cr_assert_fail("test bug: no setting '%s'", name);
    if (is_num)
        snprintf(out, outlen, "%ld", n);
    else
        snprintf(out, outlen, "%s", s ? s : "(null)");
}

/* ---- defaults ---------------------------------------------------------- */

struct setting {
    char name[24];
    char value[32];
};

static struct setting defaults[] = {
    {"listen", "127.0.0.1:8080"},
    {"database-url", ""},
    {"threads", "0"},
    {"db-pool", "8"},
    {"max-body", "16777216"},
    {"log-level", "info"},
    {"migrate", "false"},
    {"web-dir", "web"},
    {"key-cache-ttl", "10"},
    {"shutdown-timeout", "10"},
    {"conn-timeout", "30"},
};

ParameterizedTestParameters(config, defaults)
{
    return cr_make_param_array(struct setting, defaults, sizeof(defaults) / sizeof(defaults[0]));
}

ParameterizedTest(struct setting *tc, config, defaults)
{
    struct config c = {0};
    char got[256];

    config_defaults(&c);
    field_text(&c, tc->name, got, sizeof(got));
    cr_expect_str_eq(got, tc->value, "default of %s", tc->name);
    config_free(&c);
}

/* Every default is accepted when given back as a flag (it is in range). */
ParameterizedTestParameters(config, defaults_reparse)
{
    return cr_make_param_array(struct setting, defaults, sizeof(defaults) / sizeof(defaults[0]));
}

ParameterizedTest(struct setting *tc, config, defaults_reparse)
{
    struct config c = {0};
    char flag[64], err[256] = "", got[256];
    char *argv[1] = {flag};

    snprintf(flag, sizeof(flag), "--%s=%s", tc->name, tc->value);
    config_defaults(&c);
    cr_assert(config_parse(&c, NULL, 1, argv, err, sizeof(err)), "%s: %s", flag, err);
    field_text(&c, tc->name, got, sizeof(got));
    cr_expect_str_eq(got, tc->value);
    config_free(&c);
}

/* --help shows each default. */
Test(config, help_names_defaults)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    cr_assert_not_null(f);
    config_help(f);
    fclose(f);
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        char want[80];
        snprintf(want, sizeof(want), "--%.23s", defaults[i].name);
        cr_expect_not_null(strstr(text, want), "help lacks %s", want);
        snprintf(want, sizeof(want), "default '%.31s'", defaults[i].value);
        cr_expect_not_null(strstr(text, want), "help lacks %s", want);
    }
    free(text);
}

/* ---- config_parse: accepted ------------------------------------------- */

#define MAX_ARGS 4
#define MAX_ENV  2

struct parse_ok {
    char argv[MAX_ARGS][64];
    int argc;
    char env[MAX_ENV][2][64]; /* name, value */
    struct setting want[2];
};

static struct parse_ok parse_ok_cases[] = {
    /* --x v and --x=v */
    {{"--listen", "0.0.0.0:9000"}, 2, {{""}}, {{"listen", "0.0.0.0:9000"}}},
    {{"--listen=0.0.0.0:9000"}, 1, {{""}}, {{"listen", "0.0.0.0:9000"}}},
    {{"--threads", "4"}, 2, {{""}}, {{"threads", "4"}}},
    {{"--threads=4"}, 1, {{""}}, {{"threads", "4"}}},
    {{"--database-url=host=h password=p"}, 1, {{""}}, {{"database-url", "host=h password=p"}}},
    /* a value may itself contain '=' or start with "--" when given apart */
    {{"--web-dir", "--odd"}, 2, {{""}}, {{"web-dir", "--odd"}}},
    {{"--listen="}, 1, {{""}}, {{"listen", ""}}},
    /* bounds are inclusive */
    {{"--threads=0"}, 1, {{""}}, {{"threads", "0"}}},
    {{"--threads=256"}, 1, {{""}}, {{"threads", "256"}}},
    {{"--max-body=1024"}, 1, {{""}}, {{"max-body", "1024"}}},
    {{"--max-body=1073741824"}, 1, {{""}}, {{"max-body", "1073741824"}}},
    {{"--conn-timeout=1"}, 1, {{""}}, {{"conn-timeout", "1"}}},
    /* bool flags */
    {{"--migrate"}, 1, {{""}}, {{"migrate", "true"}}},
    {{"--migrate=true"}, 1, {{""}}, {{"migrate", "true"}}},
    {{"--migrate=false"}, 1, {{""}}, {{"migrate", "false"}}},
    {{"--migrate=1"}, 1, {{""}}, {{"migrate", "true"}}},
    {{"--migrate=no"}, 1, {{""}}, {{"migrate", "false"}}},
    {{"--migrate", "--migrate=off"}, 2, {{""}}, {{"migrate", "false"}}},
    /* the last flag wins */
    {{"--threads=4", "--threads=5"}, 2, {{""}}, {{"threads", "5"}}},
    {{"--listen=a:1", "--listen", "b:2"}, 3, {{""}}, {{"listen", "b:2"}}},
    /* environment */
    {{""}, 0, {{"TOLLGATE_LISTEN", "10.0.0.1:1"}}, {{"listen", "10.0.0.1:1"}}},
    {{""}, 0, {{"DATABASE_URL", "postgres:///x"}}, {{"database-url", "postgres:///x"}}},
    {{""}, 0, {{"TOLLGATE_THREADS", "7"}}, {{"threads", "7"}}},
    {{""}, 0, {{"TOLLGATE_MIGRATE", "yes"}}, {{"migrate", "true"}}},
    /* an empty variable counts as unset */
    {{""}, 0, {{"TOLLGATE_THREADS", ""}}, {{"threads", "0"}}},
    {{""}, 0, {{"TOLLGATE_LISTEN", ""}}, {{"listen", "127.0.0.1:8080"}}},
    /* flags override the environment */
    {{"--listen", "[::1]:80"}, 2, {{"TOLLGATE_LISTEN", "10.0.0.1:1"}}, {{"listen", "[::1]:80"}}},
    {{"--threads=3"}, 1, {{"TOLLGATE_THREADS", "7"}}, {{"threads", "3"}}},
    {{"--database-url=b"}, 1, {{"DATABASE_URL", "a"}}, {{"database-url", "b"}}},
    {{"--migrate=false"}, 1, {{"TOLLGATE_MIGRATE", "true"}}, {{"migrate", "false"}}},
    /* ...but only the ones given */
    {{"--threads=3"},
     1,
     {{"TOLLGATE_THREADS", "7"}, {"TOLLGATE_LISTEN", "10.0.0.1:1"}},
     {{"threads", "3"}, {"listen", "10.0.0.1:1"}}},
};

ParameterizedTestParameters(config, parse_ok)
{
    return cr_make_param_array(struct parse_ok, parse_ok_cases,
                               sizeof(parse_ok_cases) / sizeof(parse_ok_cases[0]));
}

ParameterizedTest(struct parse_ok *tc, config, parse_ok)
{
    struct config c = {0};
    char *argv[MAX_ARGS + 1] = {0};
    char err[256] = "", got[256];

    for (int i = 0; i < tc->argc; i++)
        argv[i] = tc->argv[i];
    for (int i = 0; i < MAX_ENV; i++)
        if (tc->env[i][0][0])
            cr_assert_eq(setenv(tc->env[i][0], tc->env[i][1], 1), 0);
    config_defaults(&c);
    cr_assert(config_parse(&c, NULL, tc->argc, argv, err, sizeof(err)), "%s: %s", tc->argv[0], err);
    for (int i = 0; i < 2 && tc->want[i].name[0]; i++) {
        field_text(&c, tc->want[i].name, got, sizeof(got));
        cr_expect_str_eq(got, tc->want[i].value, "%s after '%s'", tc->want[i].name, tc->argv[0]);
    }
    config_free(&c);
}

/* ---- config_parse: refused -------------------------------------------- */

struct parse_bad {
    char argv[MAX_ARGS][64];
    int argc;
    char env[2][64]; /* name, value */
    char msg[2][64]; /* substrings the message must hold */
};

static struct parse_bad parse_bad_cases[] = {
    /* out of range, naming the flag and the bounds */
    {{"--threads", "257"}, 2, {""}, {"--threads", "0..256"}},
    {{"--threads=-1"}, 1, {""}, {"--threads", "-1"}},
    {{"--db-pool=0"}, 1, {""}, {"--db-pool", "1..256"}},
    {{"--max-body=1023"}, 1, {""}, {"--max-body", "1023"}},
    {{"--conn-timeout=0"}, 1, {""}, {"--conn-timeout", "1..3600"}},
    {{"--key-cache-ttl=3601"}, 1, {""}, {"--key-cache-ttl", "3601"}},
    /* not whole numbers */
    {{"--threads", "four"}, 2, {""}, {"--threads", "four"}},
    {{"--threads=4x"}, 1, {""}, {"--threads", "4x"}},
    {{"--threads=4.0"}, 1, {""}, {"--threads", "4.0"}},
    {{"--threads="}, 1, {""}, {"--threads", "whole number"}},
    {{"--threads=99999999999999999999999"}, 1, {""}, {"--threads", "whole number"}},
    {{"--shutdown-timeout=0x10"}, 1, {""}, {"--shutdown-timeout", "0x10"}},
    /* bools */
    {{"--migrate=maybe"}, 1, {""}, {"--migrate", "maybe"}},
    {{"--migrate="}, 1, {""}, {"--migrate", "true or false"}},
    /* a bool flag does not take the next argument as its value */
    {{"--migrate", "false"}, 2, {""}, {"unexpected argument", "false"}},
    /* bad environment, naming the variable */
    {{""}, 0, {"TOLLGATE_THREADS", "lots"}, {"TOLLGATE_THREADS", "lots"}},
    {{""}, 0, {"TOLLGATE_THREADS", "1000"}, {"TOLLGATE_THREADS", "0..256"}},
    {{""}, 0, {"TOLLGATE_MIGRATE", "sometimes"}, {"TOLLGATE_MIGRATE", "sometimes"}},
    /* a bad environment is refused even when a flag would override it */
    {{"--threads=2"}, 1, {"TOLLGATE_THREADS", "lots"}, {"TOLLGATE_THREADS", ""}},
    /* unknown options */
    {{"--nope"}, 1, {""}, {"unknown option", "--nope"}},
    {{"--nope=1"}, 1, {""}, {"unknown option", "'--nope'"}},
    {{"--listenx=a:1"}, 1, {""}, {"unknown option", "--listenx"}},
    {{"--liste=a:1"}, 1, {""}, {"unknown option", "--liste"}},
    {{"--LISTEN=a:1"}, 1, {""}, {"unknown option", "--LISTEN"}},
    {{"-listen", "a:1"}, 2, {""}, {"unexpected argument", "-listen"}},
    {{"--"}, 1, {""}, {"unexpected argument", "--"}},
    {{"serve"}, 1, {""}, {"unexpected argument", "serve"}},
    {{""}, 1, {""}, {"unexpected argument", "''"}},
    /* missing values */
    {{"--listen"}, 1, {""}, {"--listen", "needs a value"}},
    {{"--threads=1", "--threads"}, 2, {""}, {"--threads", "needs a value"}},
};

ParameterizedTestParameters(config, parse_bad)
{
    return cr_make_param_array(struct parse_bad, parse_bad_cases,
                               sizeof(parse_bad_cases) / sizeof(parse_bad_cases[0]));
}

ParameterizedTest(struct parse_bad *tc, config, parse_bad)
{
    struct config c = {0};
    char *argv[MAX_ARGS + 1] = {0};
    char err[256] = "";

    for (int i = 0; i < tc->argc; i++)
        argv[i] = tc->argv[i];
    if (tc->env[0][0])
        cr_assert_eq(setenv(tc->env[0], tc->env[1], 1), 0);
    config_defaults(&c);
    cr_assert_not(config_parse(&c, NULL, tc->argc, argv, err, sizeof(err)), "'%s' accepted",
                  tc->argv[0]);
    cr_expect_neq(err[0], '\0', "no message for '%s'", tc->argv[0]);
    cr_expect_null(strchr(err, '\n'), "message is not one line: %s", err);
    for (int i = 0; i < 2; i++)
        cr_expect_not_null(strstr(err, tc->msg[i]), "message '%s' lacks '%s'", err, tc->msg[i]);
    config_free(&c);
}

/* A refused number leaves the setting as it was. */
Test(config, bad_number_keeps_old_value)
{
    struct config c = {0};
    char *argv[] = {"--threads=999"};
    char err[256];

    config_defaults(&c);
    cr_assert_not(config_parse(&c, NULL, 1, argv, err, sizeof(err)));
    cr_expect_eq(c.threads, 0);
    config_free(&c);
}

/* The message is cut to errlen, NUL-terminated, never past it. */
Test(config, short_error_buffer)
{
    struct config c = {0};
    char *argv[] = {"--an-option-whose-name-is-much-longer-than-the-buffer"};
    char err[16 + 8];

    memset(err, 'Z', sizeof(err));
    config_defaults(&c);
    cr_assert_not(config_parse(&c, NULL, 1, argv, err, 16));
    cr_expect_eq(strlen(err), 15);
    for (size_t i = 16; i < sizeof(err); i++)
        cr_expect_eq(err[i], 'Z', "byte %zu past errlen written", i);
    config_free(&c);
}

/* ---- config_parse: command options ------------------------------------ */

static struct cli_opt *make_opts(void)
{
    static struct cli_opt opts[4];

    opts[0] = (struct cli_opt){.name = "role", .help = "the role", .has_arg = true};
    opts[1] = (struct cli_opt){.name = "force", .help = "do it", .has_arg = false};
    opts[2] = (struct cli_opt){.name = "name", .help = "a name", .has_arg = true};
    opts[3] = (struct cli_opt){0};
    return opts;
}

Test(config, opts_with_and_without_args)
{
    struct config c = {0};
    struct cli_opt *o = make_opts();
    char *argv[] = {"--role", "admin", "--force", "--threads=2", "--name=ci bot"};
    char err[256] = "";

    config_defaults(&c);
    cr_assert(config_parse(&c, o, 5, argv, err, sizeof(err)), "%s", err);
    cr_expect_str_eq(o[0].value, "admin");
    cr_expect_str_eq(o[1].value, "");
    cr_expect_str_eq(o[2].value, "ci bot");
    cr_expect_eq(c.threads, 2);
    config_free(&c);
}

Test(config, opts_not_given_stay_null)
{
    struct config c = {0};
    struct cli_opt *o = make_opts();
    char *argv[] = {"--role=read"};
    char err[256] = "";

    config_defaults(&c);
    cr_assert(config_parse(&c, o, 1, argv, err, sizeof(err)), "%s", err);
    cr_expect_str_eq(o[0].value, "read");
    cr_expect_null(o[1].value);
    cr_expect_null(o[2].value);
    config_free(&c);
}

Test(config, opts_empty_argv)
{
    struct config c = {0};
    struct cli_opt *o = make_opts();
    char err[256] = "";

    config_defaults(&c);
    cr_assert(config_parse(&c, o, 0, NULL, err, sizeof(err)), "%s", err);
    cr_expect_null(o[0].value);
    cr_expect_eq(c.threads, 0);
    config_free(&c);
}

struct opt_bad {
    char argv[2][32];
    int argc;
    char msg[2][32];
};

static struct opt_bad opt_bad_cases[] = {
    {{"--force=yes"}, 1, {"--force", "takes no value"}},
    {{"--role"}, 1, {"--role", "needs a value"}},
    {{"--rol=admin"}, 1, {"unknown option", "--rol"}},
    {{"--roles=admin"}, 1, {"unknown option", "--roles"}},
    {{"--Force"}, 1, {"unknown option", "--Force"}},
};

ParameterizedTestParameters(config, opts_bad)
{
    return cr_make_param_array(struct opt_bad, opt_bad_cases,
                               sizeof(opt_bad_cases) / sizeof(opt_bad_cases[0]));
}

ParameterizedTest(struct opt_bad *tc, config, opts_bad)
{
    struct config c = {0};
    struct cli_opt *o = make_opts();
    char *argv[2] = {tc->argv[0], tc->argv[1]};
    char err[256] = "";

    config_defaults(&c);
    cr_assert_not(config_parse(&c, o, tc->argc, argv, err, sizeof(err)), "'%s' accepted",
                  tc->argv[0]);
    for (int i = 0; i < 2; i++)
        cr_expect_not_null(strstr(err, tc->msg[i]), "message '%s' lacks '%s'", err, tc->msg[i]);
    config_free(&c);
}

/* Without opts, a command option is just unknown. */
Test(config, opts_null_table)
{
    struct config c = {0};
    char *argv[] = {"--role=admin"};
    char err[256] = "";

    config_defaults(&c);
    cr_assert_not(config_parse(&c, NULL, 1, argv, err, sizeof(err)));
    cr_expect_not_null(strstr(err, "--role"), "%s", err);
    config_free(&c);
}

/* ---- config_split_listen ---------------------------------------------- */

struct listen_case {
    char in[40];
    bool ok;
    char host[40];
    int port;
};

static struct listen_case listen_cases[] = {
    {"127.0.0.1:8080", true, "127.0.0.1", 8080},
    {"[::1]:80", true, "::1", 80},
    {"[fe80::1%eth0]:443", true, "fe80::1%eth0", 443},
    {"localhost:0", true, "localhost", 0},
    {"0.0.0.0:65535", true, "0.0.0.0", 65535},
    {"h:1", true, "h", 1},
    {"", false, "", 0},
    {"nohost", false, "", 0},
    {":80", false, "", 0},
    {"h:99999", false, "", 0},
    {"h:65536", false, "", 0},
    {"h:-1", false, "", 0},
    {"h:", false, "", 0},
    {"h:80x", false, "", 0},
    {"h:0x50", false, "", 0},
    {"h:99999999999999999999999", false, "", 0},
    {"a:b:c", false, "", 0},
    {"h:b", false, "", 0},
    {"::1:80", false, "", 0},
    {"[::1]", false, "", 0},
    {"[::1]80", false, "", 0},
    {"[::1]:", false, "", 0},
    {"[::1:80", false, "", 0},
    {"[]:80", false, "", 0},
};

ParameterizedTestParameters(config, split_listen)
{
    return cr_make_param_array(struct listen_case, listen_cases,
                               sizeof(listen_cases) / sizeof(listen_cases[0]));
}

ParameterizedTest(struct listen_case *tc, config, split_listen)
{
    char host[64];
    int port = -12345;

    memset(host, 'Z', sizeof(host));
    cr_assert_eq(config_split_listen(tc->in, host, sizeof(host), &port), tc->ok,
                 "config_split_listen(\"%s\")", tc->in);
    if (tc->ok) {
        cr_expect_str_eq(host, tc->host);
        cr_expect_eq(port, tc->port, "port of \"%s\"", tc->in);
    } else {
        cr_expect_eq(port, -12345, "port set on failure for \"%s\"", tc->in);
        cr_expect_eq(host[0], 'Z', "host set on failure for \"%s\"", tc->in);
    }
}

Test(config, split_listen_null)
{
    char host[16];
    int port = 0;

    cr_expect_not(config_split_listen(NULL, host, sizeof(host), &port));
}

/* host gets at most hostlen bytes, its NUL included; nothing past them. */
Test(config, split_listen_host_bound)
{
    char host[16];
    int port = 0;

    memset(host, 'Z', sizeof(host));
    cr_expect_not(config_split_listen("abcdef:1", host, 6, &port));
    cr_expect_not(config_split_listen("[abcdef]:1", host, 6, &port));
    for (size_t i = 0; i < sizeof(host); i++)
        cr_assert_eq(host[i], 'Z', "byte %zu written", i);
    cr_expect(config_split_listen("abcde:1", host, 6, &port));
    cr_expect_str_eq(host, "abcde");
    cr_expect_eq(host[6], 'Z');
    cr_expect(config_split_listen("[abcde]:1", host, 6, &port));
    cr_expect_str_eq(host, "abcde");
}

/* ---- config_mask_url -------------------------------------------------- */

struct mask_case {
    char in[96];
    char want[96];
};

static struct mask_case mask_cases[] = {
    /* URI with a password */
    {"postgres://app:s3cret@db.local:5432/tollgate", "postgres://app:***@db.local:5432/tollgate"},
    {"postgresql://app:s3cret@db/x?sslmode=require", "postgresql://app:***@db/x?sslmode=require"},
    {"postgres://app:s3cret@db", "postgres://app:***@db"},
    /* a one-byte and an empty password */
    {"postgres://u:p@h/db", "postgres://u:***@h/db"},
    {"postgres://u:@h/db", "postgres://u:***@h/db"},
    /* URI without a password */
    {"postgres://app@db.local/tollgate", "postgres://app@db.local/tollgate"},
    {"postgres://db.local:5432/tollgate", "postgres://db.local:5432/tollgate"},
    {"postgres:///tollgate?host=/tmp", "postgres:///tollgate?host=/tmp"},
    /* an '@' or ':' after the authority is not a password */
    {"postgres://db/x?options=a:b@c", "postgres://db/x?options=a:b@c"},
    /* a password query parameter */
    {"postgres://db/x?user=u&password=s3cret&sslmode=require",
     "postgres://db/x?user=u&password=***&sslmode=require"},
    {"postgres://db/x?password=s3cret", "postgres://db/x?password=***"},
    /* key=value */
    {"host=db user=app password=s3cret dbname=t", "host=db user=app password=*** dbname=t"},
    {"password=s3cret", "password=***"},
    {"password=p", "password=***"},
    {"host=db password=", "host=db password=***"},
    {"host=db user=app", "host=db user=app"},
    {"", ""},
};

ParameterizedTestParameters(config, mask_url)
{
    return cr_make_param_array(struct mask_case, mask_cases,
                               sizeof(mask_cases) / sizeof(mask_cases[0]));
}

ParameterizedTest(struct mask_case *tc, config, mask_url)
{
    char *got = config_mask_url(tc->in);

    cr_assert_not_null(got);
    cr_expect_str_eq(got, tc->want, "config_mask_url(\"%s\")", tc->in);
    free(got);
}

Test(config, mask_url_null)
{
    char *got = config_mask_url(NULL);

    cr_assert_not_null(got);
    cr_expect_str_eq(got, "");
    free(got);
}

/*
 * Secrets in libpq strings that are easy to miss. Each case
 * is a regression test for a case that once leaked.
 */
static void expect_masked(const char *in, const char *secret)
{
    char *got = config_mask_url(in);

    cr_assert_not_null(got);
    cr_expect_null(strstr(got, secret), "config_mask_url(\"%s\") = \"%s\" shows \"%s\"", in, got,
                   secret);
    free(got);
}

/* libpq key=value values may be quoted and hold spaces. */
Test(config, mask_url_quoted_password)
{
    expect_masked("host=db password='two words' dbname=t", "words");
}

/* libpq allows spaces around '=' in key=value strings. */
Test(config, mask_url_spaced_equals)
{
    expect_masked("host=db password = s3cret dbname=t", "s3cret");
}

/* "sslpassword=" contains "password=": the real password after it must still be masked. */
Test(config, mask_url_sslpassword_first)
{
    expect_masked("host=db sslpassword=k3y password=s3cret", "s3cret");
}

/* ---- config_dump ------------------------------------------------------ */

static char *dump(const struct config *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    cr_assert_not_null(f);
    config_dump(c, f);
    cr_assert_eq(fclose(f), 0);
    return text;
}

Test(config, dump_defaults)
{
    struct config c = {0};
    char *text;

    config_defaults(&c);
    text = dump(&c);
    cr_expect_str_eq(text, "listen = 127.0.0.1:8080\n"
                           "database-url = \n"
                           "threads = 0\n"
                           "db-pool = 8\n"
                           "max-body = 16777216\n"
                           "log-level = info\n"
                           "migrate = false\n"
                           "web-dir = web\n"
                           "key-cache-ttl = 10\n"
                           "shutdown-timeout = 10\n"
                           "conn-timeout = 30\n"
                           "unknown-teams = reject\n"
                           "spool-dir = var/spool\n"
                           "spool-max = 268435456\n"
                           "batch-max = 10000\n"
                           "ingest-writers = 2\n"
                           "otlp-team = tollgate.team,service.namespace\n"
                           "otlp-project = tollgate.project\n"
                           "otlp-user = tollgate.user,user.id,enduser.id\n"
                           "otlp-default-team = \n"
                           "unknown-scope = allow\n"
                           "hold-ttl = 600\n"
                           "ledger-reconcile = 10\n"
                           "ledger-stale = 60\n"
                           "zoneinfo-dir = /usr/share/zoneinfo\n"
                           "webhook-allow-private = false\n"
                           "webhook-concurrency = 32\n"
                           "webhook-per-endpoint = 4\n"
                           "webhook-timeout = 15\n"
                           "webhook-backoff-percent = 100\n"
                           "alert-interval = 5\n"
                           "public-url = http://127.0.0.1:8080\n");
    free(text);
    config_free(&c);
}

Test(config, dump_masks_password)
{
    struct config c = {0};
    char *argv[] = {"--database-url", "postgres://app:hunter2@db/tollgate", "--migrate",
                    "--threads=4"};
    char err[256] = "", *text;

    config_defaults(&c);
    cr_assert(config_parse(&c, NULL, 4, argv, err, sizeof(err)), "%s", err);
    text = dump(&c);
    cr_expect_null(strstr(text, "hunter2"), "dump shows the password:\n%s", text);
    cr_expect_not_null(strstr(text, "\ndatabase-url = postgres://app:***@db/tollgate\n"), "%s",
                       text);
    cr_expect_not_null(strstr(text, "\nmigrate = true\n"), "%s", text);
    cr_expect_not_null(strstr(text, "\nthreads = 4\n"), "%s", text);
    /* the struct itself keeps the real URL */
    cr_expect_str_eq(c.database_url, "postgres://app:hunter2@db/tollgate");
    free(text);
    config_free(&c);
}

Test(config, dump_masks_keyvalue_password_from_env)
{
    struct config c = {0};
    char err[256] = "", *text;

    cr_assert_eq(setenv("DATABASE_URL", "host=db password=hunter2 dbname=t", 1), 0);
    config_defaults(&c);
    cr_assert(config_parse(&c, NULL, 0, NULL, err, sizeof(err)), "%s", err);
    text = dump(&c);
    cr_expect_null(strstr(text, "hunter2"), "dump shows the password:\n%s", text);
    cr_expect_not_null(strstr(text, "database-url = host=db password=*** dbname=t\n"), "%s", text);
    free(text);
    config_free(&c);
}

/* ---- config_free ------------------------------------------------------ */

Test(config, free_clears_and_repeats)
{
    struct config c = {0};
    char *argv[] = {"--listen=a:1", "--listen=b:2", "--web-dir=x"};
    char err[256] = "";

    config_defaults(&c);
    cr_assert(config_parse(&c, NULL, 3, argv, err, sizeof(err)), "%s", err);
    config_free(&c);
    cr_expect_null(c.listen);
    cr_expect_null(c.database_url);
    cr_expect_null(c.log_level);
    cr_expect_null(c.web_dir);
    config_free(&c); /* harmless a second time */
}
