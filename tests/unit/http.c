// links: server/http.c server/route.c server/log.c server/metrics.c server/static.c server/config.c
/*
 * http: request id validation, the one pure function of the HTTP layer.
 * http.c is linked with the modules it calls, except the two that would pull
 * in Postgres and the key cache (auth, db): their functions are stubbed below
 * and fail the test if anything calls them. No server is started.
 */
#include "http.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

/* ---- stubs: not reached by anything tested here ----------------------- */

enum auth_result auth_lookup(struct db *db, const char *secret, struct auth_key *out)
{
    (void)db, (void)secret, (void)out;
    cr_assert_fail("auth_lookup called");
    return AUTH_UNAVAILABLE;
}

const char *auth_role_name(enum auth_role r)
{
    (void)r;
    cr_assert_fail("auth_role_name called");
    return "unknown";
}

const char *db_conn_error(const struct db_conn *c)
{
    (void)c;
    cr_assert_fail("db_conn_error called");
    return "";
}

const char *db_conn_sqlstate(const struct db_conn *c)
{
    (void)c;
    cr_assert_fail("db_conn_sqlstate called");
    return "";
}

bool db_conn_lost(const struct db_conn *c)
{
    (void)c;
    cr_assert_fail("db_conn_lost called");
    return false;
}

/* ---- http_request_id_valid -------------------------------------------- */

#define C16 "0123456789abcdef"
#define C64 C16 C16 C16 C16

struct rid_case {
    char s[136];
    bool ok;
};

static struct rid_case rid_cases[] = {
    {"a", true},
    {"Z", true},
    {"0", true},
    {".", true},
    {"_", true},
    {":", true},
    {"-", true},
    {"req-42", true},
    {"0123456789abcdef", true},
    {"ABCDEFGHIJKLMNOPQRSTUVWXYZ", true},
    {"abcdefghijklmnopqrstuvwxyz", true},
    {"trace:span.1_2-3", true},
    {"550e8400-e29b-41d4-a716-446655440000", true},
    /* length: 1..64 */
    {C64, true},
    {C64 "x", false},
    {C64 C64, false},
    {"", false},
    /* characters outside [A-Za-z0-9._:-] */
    {" ", false},
    {"a b", false},
    {"a/b", false},
    {"/", false},
    {"a\\b", false},
    {"a\"b", false},
    {"a\nb", false},
    {"a\rb", false},
    {"a\tb", false},
    {"a,b", false},
    {"a;b", false},
    {"a=b", false},
    {"a+b", false},
    {"a%20b", false},
    {"a\x7f", false},
    {"caf\xc3\xa9", false},
    {"\xe2\x9c\x93", false},
    {"id\xf0\x9f\x98\x80", false},
    /* a bad character after 64 good ones: too long either way */
    {C64 " ", false},
};

ParameterizedTestParameters(http, request_id_valid)
{
    return cr_make_param_array(struct rid_case, rid_cases,
                               sizeof(rid_cases) / sizeof(rid_cases[0]));
}

ParameterizedTest(struct rid_case *tc, http, request_id_valid)
{
    cr_expect_eq(http_request_id_valid(tc->s), tc->ok, "http_request_id_valid(\"%s\") (%zu bytes)",
                 tc->s, strlen(tc->s));
}

Test(http, request_id_valid_null)
{
    cr_expect_not(http_request_id_valid(NULL));
}

/* Every length from 1 to 64 is accepted, 65 is not. */
Test(http, request_id_lengths)
{
    char s[80];

    for (size_t n = 1; n < sizeof(s); n++) {
        memset(s, 'r', n);
        s[n] = '\0';
        cr_expect_eq(http_request_id_valid(s), n <= 64, "%zu bytes", n);
    }
}

/* Every single byte: only [A-Za-z0-9._:-] are allowed. */
Test(http, request_id_each_byte)
{
    for (int ch = 1; ch < 256; ch++) {
        char s[4] = {'a', (char)ch, 'b', '\0'};
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == ':' || ch == '-';

        cr_expect_eq(http_request_id_valid(s), ok, "byte 0x%02x", ch);
    }
}

/*
 * An accepted id fits struct http_req's id field, which it is copied into and
 * echoed from (a regression test: it was 40 bytes, cutting long ids to 39).
 */
Test(http, request_id_fits_field)
{
    struct http_req r;

    cr_expect_gt(sizeof(r.id), 64, "id[%zu] cannot hold a 64-character id", sizeof(r.id));
}
