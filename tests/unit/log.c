// links: server/log.c
/*
 * log: level names and JSON string escaping, alone. Escaping is checked
 * byte for byte, including that nothing is written at or past the cap.
 */
#include "log.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

/* ---- log_parse_level -------------------------------------------------- */

struct level_case {
    char in[16];
    bool ok;
    enum log_level want;
};

static struct level_case level_cases[] = {
    {"debug", true, LOG_DEBUG},
    {"info", true, LOG_INFO},
    {"warn", true, LOG_WARN},
    {"error", true, LOG_ERROR},
    {"", false, 0},
    {"DEBUG", false, 0},
    {"Info", false, 0},
    {"warning", false, 0},
    {"err", false, 0},
    {"info ", false, 0},
    {" info", false, 0},
    {"fatal", false, 0},
    {"0", false, 0},
};

ParameterizedTestParameters(log, parse_level)
{
    return cr_make_param_array(struct level_case, level_cases,
                               sizeof(level_cases) / sizeof(level_cases[0]));
}

ParameterizedTest(struct level_case *tc, log, parse_level)
{
    enum log_level got = (enum log_level)77;

    cr_assert_eq(log_parse_level(tc->in, &got), tc->ok, "log_parse_level(\"%s\")", tc->in);
    if (tc->ok)
        cr_expect_eq(got, tc->want, "level of \"%s\"", tc->in);
    else
        cr_expect_eq((int)got, 77, "out changed on failure for \"%s\"", tc->in);
}

/* ---- log_json_escape -------------------------------------------------- */

#define CANARY 0x5a
#define BUF    256

struct esc_case {
    char in[40];
    char want[80];
};

static struct esc_case esc_cases[] = {
    {"", ""},
    {"plain text", "plain text"},
    {"say \"hi\"", "say \\\"hi\\\""},
    {"C:\\dir\\", "C:\\\\dir\\\\"},
    {"a\nb", "a\\nb"},
    {"a\tb", "a\\tb"},
    {"\r", "\\u000d"},
    {"\x01", "\\u0001"},
    {"\x08\x0c", "\\u0008\\u000c"},
    {"\x1b[31m", "\\u001b[31m"},
    {"\x1f", "\\u001f"},
    {"\x7f", "\\u007f"},
    {" ~", " ~"},
    /* UTF-8 passes through untouched */
    {"caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac"},
    /* '/' needs no escape */
    {"/v1/keys", "/v1/keys"},
    {"\"\\\n\t\x02", "\\\"\\\\\\n\\t\\u0002"},
};

ParameterizedTestParameters(log, json_escape)
{
    return cr_make_param_array(struct esc_case, esc_cases,
                               sizeof(esc_cases) / sizeof(esc_cases[0]));
}

ParameterizedTest(struct esc_case *tc, log, json_escape)
{
    char buf[BUF];
    size_t len = 3, want = strlen(tc->want);

    memset(buf, CANARY, sizeof(buf));
    memcpy(buf, "ab:", 3);
    cr_assert(log_json_escape(buf, sizeof(buf), &len, tc->in), "escape of \"%s\" did not fit",
              tc->in);
    cr_assert_eq(len, 3 + want, "length after escaping \"%s\"", tc->in);
    cr_expect_eq(memcmp(buf, "ab:", 3), 0, "bytes before *len changed");
    cr_expect_eq(memcmp(buf + 3, tc->want, want), 0, "escape of \"%s\": got \"%.*s\"", tc->in,
                 (int)want, buf + 3);
    for (size_t i = len; i < sizeof(buf); i++)
        cr_assert_eq((unsigned char)buf[i], CANARY, "byte %zu past the end written", i);
}

/* Appending twice continues where the first call stopped. */
Test(log, json_escape_appends)
{
    char buf[32];
    size_t len = 0;

    cr_assert(log_json_escape(buf, sizeof(buf), &len, "a\""));
    cr_assert(log_json_escape(buf, sizeof(buf), &len, "\nb"));
    cr_assert_eq(len, 6);
    cr_expect_eq(memcmp(buf, "a\\\"\\nb", 6), 0);
}

/*
 * Truncation: cap bytes are available at buf (one of them kept free for the
 * caller's terminator), so at most cap-1 bytes are written, escapes are never
 * split, *len says what was written, and nothing at or past cap changes.
 */
struct trunc_case {
    char in[40];
    size_t start; /* *len on entry */
    size_t cap;
    bool ok;
    char want[40]; /* bytes [start, *len) afterwards */
};

static struct trunc_case trunc_cases[] = {
    /* exactly cap-1 bytes fit */
    {"abc", 0, 4, true, "abc"},
    {"abcd", 0, 4, false, "abc"},
    {"abcdefghij", 0, 4, false, "abc"},
    {"abc", 2, 6, true, "abc"},
    {"abcd", 2, 6, false, "abc"},
    /* a two-byte escape is not split */
    {"ab\"", 0, 4, false, "ab"},
    {"ab\"", 0, 5, true, "ab\\\""},
    {"a\n", 0, 3, false, "a"},
    /* nor a six-byte one */
    {"a\x01", 0, 7, false, "a"},
    {"a\x01", 0, 8, true, "a\\u0001"},
    {"\x01", 0, 6, false, ""},
    {"\x01", 0, 7, true, "\\u0001"},
    /* a full buffer takes nothing */
    {"x", 3, 4, false, ""},
    {"", 3, 4, true, ""},
    {"x", 0, 1, false, ""},
    {"x", 0, 0, false, ""},
};

ParameterizedTestParameters(log, json_escape_truncates)
{
    return cr_make_param_array(struct trunc_case, trunc_cases,
                               sizeof(trunc_cases) / sizeof(trunc_cases[0]));
}

ParameterizedTest(struct trunc_case *tc, log, json_escape_truncates)
{
    char buf[64];
    size_t len = tc->start, want = strlen(tc->want);

    memset(buf, CANARY, sizeof(buf));
    cr_assert_eq(log_json_escape(buf, tc->cap, &len, tc->in), tc->ok,
                 "escape of \"%s\" at %zu into cap %zu", tc->in, tc->start, tc->cap);
    cr_assert_eq(len, tc->start + want, "*len after \"%s\" into cap %zu", tc->in, tc->cap);
    cr_expect_eq(memcmp(buf + tc->start, tc->want, want), 0);
    for (size_t i = 0; i < tc->start; i++)
        cr_assert_eq((unsigned char)buf[i], CANARY, "byte %zu before *len written", i);
    for (size_t i = len; i < sizeof(buf); i++)
        cr_assert_eq((unsigned char)buf[i], CANARY, "byte %zu written (cap %zu, len %zu)", i,
                     tc->cap, len);
}

/* A long input into a small buffer: the cap holds whatever the input. */
Test(log, json_escape_long_input_never_overflows)
{
    char in[1024];
    char buf[40 + 64];

    for (size_t i = 0; i < sizeof(in) - 1; i++)
        in[i] = (char)(1 + i % 127); /* every ASCII byte, escaped or not */
    in[sizeof(in) - 1] = '\0';
    for (size_t cap = 0; cap <= 40; cap++) {
        size_t len = 0;
        memset(buf, CANARY, sizeof(buf));
        cr_assert_not(log_json_escape(buf, cap, &len, in), "cap %zu", cap);
        cr_assert_lt(len, cap ? cap : 1, "cap %zu: len %zu", cap, len);
        for (size_t i = len; i < sizeof(buf); i++)
            cr_assert_eq((unsigned char)buf[i], CANARY, "cap %zu: byte %zu written", cap, i);
    }
}
