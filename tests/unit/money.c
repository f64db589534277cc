// links: ingest/money.c
/*
 * money: parsing decimal USD into femto-dollars and formatting it back,
 * exactly, driven by tables: accepted and refused texts, formats with each
 * min_frac, the extremes of money_t, and a parse/format round trip.
 */
#include "money.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

__extension__ typedef unsigned __int128 u128;

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Expected values are written as raw femto-dollar integers in text, with
 * '_' as a visual separator placed before the 15 decimals: "12_500000000000000"
 * is 12.5 USD. (Criterion copies parameters to memory that is not aligned
 * for __int128, and re-executes the binary, so tables hold text in arrays,
 * converted here by code independent of the module under test.)
 */
static money_t femto(const char *s)
{
    bool neg = *s == '-';
    u128 v = 0;

    for (s += neg; *s; s++)
        if (*s != '_')
            v = v * 10 + (u128)(*s - '0');
    return neg ? (money_t)((u128)0 - v) : (money_t)v;
}

/* Writes v in decimal (no scale), for assertion messages. */
static const char *raw(money_t v, char buf[MONEY_BUF])
{
    money_format_usd(v, 0, buf);
    return buf;
}

/* ---- parsing: accepted ------------------------------------------------- */

struct parse_ok {
    char s[48];
    int max_frac;
    char want[48]; /* femto-dollars, see femto() */
};

static struct parse_ok parse_ok_cases[] = {
    {"0", 0, "0"},
    {"0", 15, "0"},
    {"12", 0, "12_000000000000000"},
    {"12", 2, "12_000000000000000"},
    {"3.", 0, "3_000000000000000"}, /* a bare point adds no decimals */
    {"0.5", 1, "0_500000000000000"},
    {"12.50", 2, "12_500000000000000"},
    {"0.000125", 6, "0_000125000000000"},
    {"2.5", 6, "2_500000000000000"},
    {"007.10", 2, "7_100000000000000"}, /* leading zeros are harmless */
    {"0.000000000000001", 15, "0_000000000000001"},
    {"0.000000000001", 12, "0_000000000001000"},
    {"1.000000000000000", 15, "1_000000000000000"},
    {"123456789.123456789012345", 15, "123456789_123456789012345"},
    /* the largest accepted value: 1e21 USD less one femto-dollar */
    {"999999999999999999999.999999999999999", 15, "999999999999999999999_999999999999999"},
    {"000000000000000000000000000001", 0, "1_000000000000000"}, /* leading zeros are no digits */
};

ParameterizedTestParameters(money, parse_ok)
{
    return cr_make_param_array(struct parse_ok, parse_ok_cases, ARRAY_LEN(parse_ok_cases));
}

ParameterizedTest(struct parse_ok *tc, money, parse_ok)
{
    money_t got = -1;
    char a[MONEY_BUF];

    cr_assert(money_parse_usd(tc->s, tc->max_frac, &got), "refused \"%s\" (max_frac %d)", tc->s,
              tc->max_frac);
    cr_expect(got == femto(tc->want), "\"%s\": got %s femto, want %s", tc->s, raw(got, a),
              tc->want);
}

/* ---- parsing: refused -------------------------------------------------- */

struct parse_bad {
    char s[48];
    int max_frac;
};

static struct parse_bad parse_bad_cases[] = {
    {"", 15},
    {".", 15},
    {".5", 15}, /* an integer part is required */
    {"-1", 15},
    {"+1", 15},
    {"-0", 15},
    {" 1", 15},
    {"1 ", 15},
    {"1e3", 15},
    {"1E3", 15},
    {"0x10", 15},
    {"1,5", 15},
    {"1.2.3", 15},
    {"1..2", 15},
    {"inf", 15},
    {"nan", 15},
    {"12.5", 0},
    {"0.125", 2},
    {"1.50", 1}, /* trailing zeros are decimals too */
    {"0.0000000000000001", 15},
    {"1", -1}, /* max_frac out of range */
    {"1", 16},
    {"1000000000000000000000", 0}, /* 1e21 USD */
    {"1000000000000000000000.5", 15},
    {"99999999999999999999999999999999999999999", 0},
    {"1\n", 15},
};

ParameterizedTestParameters(money, parse_bad)
{
    return cr_make_param_array(struct parse_bad, parse_bad_cases, ARRAY_LEN(parse_bad_cases));
}

ParameterizedTest(struct parse_bad *tc, money, parse_bad)
{
    money_t got = 4242;

    cr_expect_not(money_parse_usd(tc->s, tc->max_frac, &got), "accepted \"%s\" (max_frac %d)",
                  tc->s, tc->max_frac);
    cr_expect(got == 4242, "\"%s\": out changed on failure", tc->s);
}

Test(money, parse_null)
{
    money_t got = 7;

    cr_expect_not(money_parse_usd(NULL, 15, &got));
    cr_expect(got == 7);
}

Test(money, parse_embedded_nul)
{
    static const char s[] = {'1', '2', '\0', '5', '\0'}; /* stops at the first NUL: "12" */
    money_t got = 0;

    cr_assert(money_parse_usd(s, 0, &got));
    cr_expect(got == femto("12_000000000000000"));
}

/* ---- formatting -------------------------------------------------------- */

struct format_case {
    char v[48]; /* femto-dollars, see femto() */
    int min_frac;
    char want[48];
};

static struct format_case format_cases[] = {
    {"0", 0, "0"},
    {"0", 2, "0.00"},
    {"0", 15, "0.000000000000000"},
    {"12_000000000000000", 0, "12"},
    {"12_000000000000000", 2, "12.00"},
    {"12_500000000000000", 0, "12.5"},
    {"12_500000000000000", 2, "12.50"},
    {"12_500000000000000", 6, "12.500000"},
    {"0_000125000000000", 2, "0.000125"}, /* more decimals than min_frac are kept */
    {"0_000000000000001", 0, "0.000000000000001"},
    {"0_000000000000001", 15, "0.000000000000001"},
    {"0_000000000001000", 2, "0.000000000001"},
    {"0_999999999999999", 0, "0.999999999999999"},
    {"10_000000000000000", 0, "10"}, /* integer zeros are not trimmed */
    {"-0_000000000000001", 0, "-0.000000000000001"},
    {"-12_500000000000000", 2, "-12.50"},
    {"-1_000000000000000", 0, "-1"},
    {"-1_000000000000000", 3, "-1.000"},
    {"-0_100000000000000", 0, "-0.1"},
    {"1234567_000000000000000", 2, "1234567.00"},
    {"12_500000000000000", -5, "12.5"},               /* min_frac clamped to 0 */
    {"12_500000000000000", 99, "12.500000000000000"}, /* and to 15 */
    /* the extremes of money_t: 2^127 - 1, -2^127 and -2^127 + 1 */
    {"170141183460469231731687_303715884105727", 0, "170141183460469231731687.303715884105727"},
    {"-170141183460469231731687_303715884105728", 0, "-170141183460469231731687.303715884105728"},
    {"-170141183460469231731687_303715884105727", 2, "-170141183460469231731687.303715884105727"},
};

ParameterizedTestParameters(money, format)
{
    return cr_make_param_array(struct format_case, format_cases, ARRAY_LEN(format_cases));
}

ParameterizedTest(struct format_case *tc, money, format)
{
    char buf[MONEY_BUF];
    memset(buf, 'x', sizeof(buf));

    size_t n = money_format_usd(femto(tc->v), tc->min_frac, buf);
    cr_expect_str_eq(buf, tc->want);
    cr_expect_eq(n, strlen(tc->want), "length for %s", tc->want);
    cr_expect_lt(n, (size_t)MONEY_BUF);
}

/* ---- round trip -------------------------------------------------------- */

/* Every formatted non-negative value parses back to itself, over a spread of magnitudes. */
Test(money, round_trip)
{
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    char buf[MONEY_BUF];

    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64, fixed seed */
        money_t v = (money_t)(x >> (i % 64));
        if (i % 3 == 0)
            v *= (money_t)(x % 1000000007ULL); /* beyond 64 bits */
        for (int min_frac = 0; min_frac <= MONEY_SCALE; min_frac += 5) {
            money_t back = -1;
            money_format_usd(v, min_frac, buf);
            cr_assert(money_parse_usd(buf, MONEY_SCALE, &back), "refused own output %s", buf);
            cr_assert(back == v, "round trip of %s", buf);
        }
    }
}
