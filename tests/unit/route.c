// links: server/route.c
/*
 * route: route_match and route_param, alone. Each row of the table is one
 * (pattern, path) pair with the expected verdict and captures.
 */
#include "route.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

/* 256 and 257 'x' characters: the longest segment a parameter accepts, and one too many. */
#define X16  "xxxxxxxxxxxxxxxx"
#define X127 X16 X16 X16 X16 X16 X16 X16 "xxxxxxxxxxxxxxx"
#define X128 X127 "x"
#define X256 X128 X128
#define X257 X256 "x"

/*
 * Criterion hands each row to a fresh process, where pointers into this
 * binary are not valid: rows hold their strings inline.
 */
struct match_case {
    char pattern[160];
    char path[300];
    bool match;
    int n; /* captures expected on a match */
    char names[ROUTE_MAX_PARAMS][8];
    char values[ROUTE_MAX_PARAMS][ROUTE_MAX_PARAM_LEN];
};

#define NO(pat, pth)                                                                               \
    {                                                                                              \
        .pattern = pat, .path = pth, .match = false                                                \
    }
#define YES(pat, pth, ...)                                                                         \
    {                                                                                              \
        .pattern = pat, .path = pth, .match = true, __VA_ARGS__                                    \
    }

static struct match_case match_cases[] = {
    /* literals */
    YES("/healthz", "/healthz"),
    YES("/v1/admin/keys", "/v1/admin/keys"),
    NO("/v1/admin/keys", "/v1/admin/teams"),
    NO("/v1/admin/keys", "/v1/admin/key"),
    NO("/v1/admin/key", "/v1/admin/keys"),
    /* root */
    YES("/", "/"),
    NO("/", "/x"),
    NO("/x", "/"),
    NO("/", ""),
    NO("", "/"),
    NO("", ""),
    /* both sides must start with '/' */
    NO("healthz", "healthz"),
    NO("/healthz", "healthz"),
    /* a trailing slash on the path does not match */
    NO("/v1/admin/keys", "/v1/admin/keys/"),
    NO("/v1/admin/keys/{id}", "/v1/admin/keys/42/"),
    /* prefixes, either way round */
    NO("/v1/admin/keys", "/v1/admin/keys/42"),
    NO("/v1/admin/keys/{id}", "/v1/admin/keys"),
    NO("/v1/admin/keys/{id}/revoke", "/v1/admin/keys/42"),
    NO("/v1", "/v1/admin"),
    NO("/v1/admin", "/v1"),
    /* empty segments */
    NO("/v1/admin/keys/{id}", "/v1/admin/keys/"),
    NO("/v1/admin/keys/{id}/revoke", "/v1/admin/keys//revoke"),
    NO("/v1/admin/keys", "/v1//admin/keys"),
    NO("/v1/admin/keys", "//v1/admin/keys"),
    NO("/{id}", "//"),
    /* case sensitivity: literals are compared exactly, captures keep their case */
    NO("/v1/admin/keys", "/v1/admin/Keys"),
    NO("/V1/admin/keys", "/v1/admin/keys"),
    YES("/v1/admin/keys/{id}", "/v1/admin/keys/AbC", .n = 1, .names = {"id"}, .values = {"AbC"}),
    /* captures */
    YES("/v1/admin/keys/{id}", "/v1/admin/keys/42", .n = 1, .names = {"id"}, .values = {"42"}),
    YES("/v1/admin/keys/{id}/revoke", "/v1/admin/keys/42/revoke", .n = 1, .names = {"id"},
        .values = {"42"}),
    NO("/v1/admin/keys/{id}/revoke", "/v1/admin/keys/42/revokes"),
    YES("/v1/orgs/{org}/teams/{team}", "/v1/orgs/acme/teams/web", .n = 2, .names = {"org", "team"},
        .values = {"acme", "web"}),
    YES("/{a}/{b}/{c}/{d}", "/1/2/3/4", .n = 4, .names = {"a", "b", "c", "d"},
        .values = {"1", "2", "3", "4"}),
    YES("/{id}", "/a.b-c_d:e%20f", .n = 1, .names = {"id"}, .values = {"a.b-c_d:e%20f"}),
    YES("/{id}", "/{id}", .n = 1, .names = {"id"}, .values = {"{id}"}),
    /* a capture is one segment only */
    NO("/v1/admin/keys/{id}", "/v1/admin/keys/42/43"),
    /* the longest segment a capture holds, and one byte more */
    YES("/k/{id}", "/k/" X256, .n = 1, .names = {"id"}, .values = {X256}),
    NO("/k/{id}", "/k/" X257),
    NO("/k/{id}/x", "/k/" X257 "/x"),
    /* a literal segment longer than that is fine: only captures are bounded */
    YES("/" X128, "/" X128),
    /* "{" or "}" alone does not make a capture */
    YES("/{id", "/{id"),
    NO("/{id", "/42"),
    NO("/id}", "/42"),
    /* "{rest*}" last takes the rest of the path: one or more segments */
    YES("/v1/ext_authz/{path*}", "/v1/ext_authz/v1/chat/completions", .n = 1, .names = {"path"},
        .values = {"v1/chat/completions"}),
    YES("/a/{x}/{rest*}", "/a/1/b", .n = 2, .names = {"x", "rest"}, .values = {"1", "b"}),
    NO("/v1/ext_authz/{path*}", "/v1/ext_authz"),
    NO("/v1/ext_authz/{path*}", "/v1/ext_authz/"),
    NO("/v1/ext_authz/{path*}", "/v1/ext_authz/v1/"),
    YES("/k/{rest*}", "/k/" X128 "/" X127, .n = 1, .names = {"rest"}, .values = {X128 "/" X127}),
    NO("/k/{rest*}", "/k/" X128 "/" X128),
    /* only as the last segment */
    NO("/{rest*}/x", "/a/x"),
};

ParameterizedTestParameters(route, match)
{
    return cr_make_param_array(struct match_case, match_cases,
                               sizeof(match_cases) / sizeof(match_cases[0]));
}

ParameterizedTest(struct match_case *tc, route, match)
{
    struct route_params ps;

    memset(&ps, 0x5a, sizeof(ps));
    cr_assert_eq(route_match(tc->pattern, tc->path, &ps), tc->match, "route_match(\"%s\", \"%s\")",
                 tc->pattern, tc->path);
    /* The verdict does not depend on whether captures are wanted. */
    cr_expect_eq(route_match(tc->pattern, tc->path, NULL), tc->match,
                 "route_match(\"%s\", \"%s\", NULL)", tc->pattern, tc->path);
    if (!tc->match)
        return;
    cr_assert_eq(ps.n, tc->n, "captures of \"%s\" on \"%s\"", tc->pattern, tc->path);
    for (int i = 0; i < tc->n; i++) {
        cr_expect_str_eq(ps.p[i].name, tc->names[i]);
        cr_expect_str_eq(ps.p[i].value, tc->values[i]);
        cr_expect_str_eq(route_param(&ps, tc->names[i]), tc->values[i]);
    }
    cr_expect_null(route_param(&ps, "nope"));
}

/*
 * More captures than a route_params holds: refused rather than written past
 * p[ROUTE_MAX_PARAMS - 1] (ASan checks the bound; the canary checks it too).
 */
Test(route, too_many_captures)
{
    struct {
        struct route_params ps;
        char canary[64];
    } s;

    memset(&s, 0x5a, sizeof(s));
    cr_expect_not(route_match("/{a}/{b}/{c}/{d}/{e}", "/1/2/3/4/5", &s.ps));
    for (size_t i = 0; i < sizeof(s.canary); i++)
        cr_assert_eq(s.canary[i], 0x5a, "byte %zu after the params was written", i);
}

/* A capture name longer than route_params holds is refused, not truncated. */
Test(route, capture_name_too_long)
{
    struct route_params ps;

    cr_expect(route_match("/{abcdefghijklmnopqrstuvwxyz01234}", "/1", &ps)); /* 31 bytes */
    cr_expect_str_eq(route_param(&ps, "abcdefghijklmnopqrstuvwxyz01234"), "1");
    cr_expect_not(route_match("/{abcdefghijklmnopqrstuvwxyz012345}", "/1", &ps)); /* 32 bytes */
}

/* A match resets the count left by an earlier match with more captures. */
Test(route, reuse_resets_count)
{
    struct route_params ps;

    cr_assert(route_match("/{a}/{b}", "/1/2", &ps));
    cr_assert_eq(ps.n, 2);
    cr_assert(route_match("/x", "/x", &ps));
    cr_assert_eq(ps.n, 0);
    cr_expect_null(route_param(&ps, "a"));
}

Test(route, param_lookup)
{
    struct route_params ps;

    cr_assert(route_match("/v1/orgs/{org}/teams/{team}", "/v1/orgs/acme/teams/web", &ps));
    cr_expect_str_eq(route_param(&ps, "org"), "acme");
    cr_expect_str_eq(route_param(&ps, "team"), "web");
    cr_expect_null(route_param(&ps, "Org"));
    cr_expect_null(route_param(&ps, "or"));
    cr_expect_null(route_param(&ps, ""));
}

Test(route, param_of_empty_set)
{
    struct route_params ps = {0};

    cr_expect_null(route_param(&ps, "id"));
}
