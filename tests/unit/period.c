// links: policies/period.c policies/tz.c
/*
 * period: the windows of days, ISO weeks, months, quarters and fixed
 * windows, in UTC and in zones with DST (America/New_York, Europe/Berlin,
 * and America/Sao_Paulo, which changed its clocks at midnight). Zones come
 * from the system's /usr/share/zoneinfo. Instants are written in UTC; the
 * comments give the local wall time. Transition dates are checked against
 * zdump.
 */
#include "period.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* "2026-01-31T23:59:59Z" as unix seconds (the test's own clock math: timegm). */
static int64_t utc(const char *s)
{
    struct tm tm = {0};
    int n = sscanf(s, "%d-%d-%dT%d:%d:%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                   &tm.tm_min, &tm.tm_sec);
    cr_assert_eq(n, 6, "bad instant %s", s);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

/* A zone from the system's database; "" = UTC (no zone). */
static struct tz *load_zone(const char *name)
{
    if (name[0] == '\0')
        return NULL;
    char path[256];
    snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    static uint8_t buf[1 << 17];
    size_t len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    char err[256] = "";
    struct tz *z = tz_parse(name, buf, len, err, sizeof(err));
    cr_assert_not_null(z, "tz_parse %s: %s", name, err);
    return z;
}

/* Strings are arrays: Criterion hands parameters to a fresh process. */
struct bounds_case {
    char zone[32]; /* "" = UTC */
    enum period_kind kind;
    int anchor;
    char t[24], start[24], end[24];
};

static struct bounds_case bounds_cases[] = {
    /* months in UTC: the last second of January, the first of February */
    {"", PERIOD_MONTH, 1, "2026-01-31T23:59:59Z", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"},
    {"", PERIOD_MONTH, 1, "2026-02-01T00:00:00Z", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"},
    {"", PERIOD_MONTH, 1, "2025-12-31T23:59:59Z", "2025-12-01T00:00:00Z", "2026-01-01T00:00:00Z"},
    /* leap years: 2024 and 2000 have a 29th of February, 2023 and 2100 not */
    {"", PERIOD_MONTH, 1, "2024-02-29T12:00:00Z", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"},
    {"", PERIOD_DAY, 0, "2024-02-29T23:59:59Z", "2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z"},
    {"", PERIOD_DAY, 0, "2023-02-28T12:00:00Z", "2023-02-28T00:00:00Z", "2023-03-01T00:00:00Z"},
    {"", PERIOD_DAY, 0, "2000-02-29T00:00:00Z", "2000-02-29T00:00:00Z", "2000-03-01T00:00:00Z"},
    {"", PERIOD_DAY, 0, "2100-02-28T08:00:00Z", "2100-02-28T00:00:00Z", "2100-03-01T00:00:00Z"},
    {"", PERIOD_DAY, 0, "1969-12-31T23:59:59Z", "1969-12-31T00:00:00Z", "1970-01-01T00:00:00Z"},
    /* month anchors: [15th, next 15th), across a year and a leap February */
    {"", PERIOD_MONTH, 15, "2026-01-15T00:00:00Z", "2026-01-15T00:00:00Z", "2026-02-15T00:00:00Z"},
    {"", PERIOD_MONTH, 15, "2026-01-14T23:59:59Z", "2025-12-15T00:00:00Z", "2026-01-15T00:00:00Z"},
    {"", PERIOD_MONTH, 28, "2024-03-01T00:00:00Z", "2024-02-28T00:00:00Z", "2024-03-28T00:00:00Z"},
    /* weeks: 2026-01-01 is a Thursday */
    {"", PERIOD_WEEK, 1, "2026-01-01T12:00:00Z", "2025-12-29T00:00:00Z", "2026-01-05T00:00:00Z"},
    {"", PERIOD_WEEK, 7, "2026-01-01T12:00:00Z", "2025-12-28T00:00:00Z", "2026-01-04T00:00:00Z"},
    {"", PERIOD_WEEK, 4, "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "2026-01-08T00:00:00Z"},
    {"", PERIOD_WEEK, 5, "2026-01-01T23:59:59Z", "2025-12-26T00:00:00Z", "2026-01-02T00:00:00Z"},
    {"", PERIOD_WEEK, 1, "1970-01-01T00:00:00Z", "1969-12-29T00:00:00Z", "1970-01-05T00:00:00Z"},
    /* quarters: January, April, July, October on the anchor day */
    {"", PERIOD_QUARTER, 1, "2026-05-20T00:00:00Z", "2026-04-01T00:00:00Z", "2026-07-01T00:00:00Z"},
    {"", PERIOD_QUARTER, 1, "2025-12-31T23:59:59Z", "2025-10-01T00:00:00Z", "2026-01-01T00:00:00Z"},
    {"", PERIOD_QUARTER, 1, "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z"},
    {"", PERIOD_QUARTER, 10, "2026-01-05T00:00:00Z", "2025-10-10T00:00:00Z",
     "2026-01-10T00:00:00Z"},
    {"", PERIOD_QUARTER, 10, "2026-04-10T00:00:00Z", "2026-04-10T00:00:00Z",
     "2026-07-10T00:00:00Z"},
    /* New York: EST is UTC-5, EDT UTC-4; spring forward 2026-03-08 02:00 */
    {"America/New_York", PERIOD_DAY, 0, "2026-03-08T12:00:00Z", "2026-03-08T05:00:00Z",
     "2026-03-09T04:00:00Z"}, /* 23 hours */
    {"America/New_York", PERIOD_DAY, 0, "2026-11-01T12:00:00Z", "2026-11-01T04:00:00Z",
     "2026-11-02T05:00:00Z"}, /* fall back 2026-11-01 02:00: 25 hours */
    /* the last second of January in New York is already February in UTC */
    {"America/New_York", PERIOD_MONTH, 1, "2026-02-01T04:59:59Z", "2026-01-01T05:00:00Z",
     "2026-02-01T05:00:00Z"},
    {"America/New_York", PERIOD_MONTH, 1, "2026-02-01T05:00:00Z", "2026-02-01T05:00:00Z",
     "2026-03-01T05:00:00Z"},
    {"America/New_York", PERIOD_MONTH, 1, "2026-03-15T00:00:00Z", "2026-03-01T05:00:00Z",
     "2026-04-01T04:00:00Z"},
    {"America/New_York", PERIOD_WEEK, 1, "2026-03-08T12:00:00Z", "2026-03-02T05:00:00Z",
     "2026-03-09T04:00:00Z"},
    /* Berlin: CET UTC+1, CEST UTC+2; spring forward 2026-03-29, fall back 2026-10-25 */
    {"Europe/Berlin", PERIOD_DAY, 0, "2026-03-29T12:00:00Z", "2026-03-28T23:00:00Z",
     "2026-03-29T22:00:00Z"}, /* 23 hours */
    {"Europe/Berlin", PERIOD_DAY, 0, "2026-10-25T12:00:00Z", "2026-10-24T22:00:00Z",
     "2026-10-25T23:00:00Z"}, /* 25 hours */
    {"Europe/Berlin", PERIOD_MONTH, 1, "2026-03-31T22:30:00Z", "2026-03-31T22:00:00Z",
     "2026-04-30T22:00:00Z"}, /* 00:30 on April 1st */
    {"Europe/Berlin", PERIOD_MONTH, 1, "2026-03-31T21:59:59Z", "2026-02-28T23:00:00Z",
     "2026-03-31T22:00:00Z"},
    {"Europe/Berlin", PERIOD_QUARTER, 1, "2026-05-01T00:00:00Z", "2026-03-31T22:00:00Z",
     "2026-06-30T22:00:00Z"},
    {"Europe/Berlin", PERIOD_QUARTER, 1, "2025-12-31T23:30:00Z", "2025-12-31T23:00:00Z",
     "2026-03-31T22:00:00Z"}, /* 00:30 on New Year's Day */
    {"Europe/Berlin", PERIOD_WEEK, 1, "2026-03-29T12:00:00Z", "2026-03-22T23:00:00Z",
     "2026-03-29T22:00:00Z"},
    {"Europe/Berlin", PERIOD_MONTH, 15, "2026-10-20T00:00:00Z", "2026-10-14T22:00:00Z",
     "2026-11-14T23:00:00Z"},
    /* Sao Paulo 2018: fell back at midnight on Feb 18 (23:00-24:00 twice) and
     * sprang forward at midnight on Nov 4 (no 00:00: the day starts at 01:00) */
    {"America/Sao_Paulo", PERIOD_DAY, 0, "2018-02-18T02:30:00Z", "2018-02-17T02:00:00Z",
     "2018-02-18T03:00:00Z"}, /* 23:30 the second time */
    {"America/Sao_Paulo", PERIOD_DAY, 0, "2018-02-18T03:00:00Z", "2018-02-18T03:00:00Z",
     "2018-02-19T03:00:00Z"},
    {"America/Sao_Paulo", PERIOD_DAY, 0, "2018-11-04T12:00:00Z", "2018-11-04T03:00:00Z",
     "2018-11-05T02:00:00Z"},
    {"America/Sao_Paulo", PERIOD_DAY, 0, "2018-11-04T02:59:59Z", "2018-11-03T03:00:00Z",
     "2018-11-04T03:00:00Z"},
};

ParameterizedTestParameters(period, windows)
{
    return cr_make_param_array(struct bounds_case, bounds_cases, ARRAY_LEN(bounds_cases));
}

ParameterizedTest(struct bounds_case *tc, period, windows)
{
    struct tz *z = load_zone(tc->zone);
    struct period_rule r = {.kind = tc->kind, .anchor = tc->anchor, .zone = z};
    int64_t start = 0, end = 0;
    cr_assert(period_bounds(&r, utc(tc->t), &start, &end));
    cr_expect_eq(start, utc(tc->start), "%s %s anchor %d at %s: start %lld, want %s",
                 tc->zone[0] ? tc->zone : "UTC", period_kind_name(tc->kind), tc->anchor, tc->t,
                 (long long)start, tc->start);
    cr_expect_eq(end, utc(tc->end), "%s %s anchor %d at %s: end %lld, want %s",
                 tc->zone[0] ? tc->zone : "UTC", period_kind_name(tc->kind), tc->anchor, tc->t,
                 (long long)end, tc->end);
    tz_free(&z);
}

/* Every instant of a year lies in exactly the period it reports, and periods tile. */
Test(period, tiles_a_year_in_berlin)
{
    struct tz *z = load_zone("Europe/Berlin");
    for (int k = PERIOD_DAY; k <= PERIOD_QUARTER; k++) {
        struct period_rule r = {
            .kind = (enum period_kind)k, .anchor = k == PERIOD_WEEK ? 3 : 9, .zone = z};
        int64_t t = utc("2025-12-01T00:00:00Z"), stop = utc("2027-01-01T00:00:00Z");
        int64_t start, end, prev_end = 0;
        while (t < stop) {
            cr_assert(period_bounds(&r, t, &start, &end));
            cr_assert(start <= t && t < end, "%s at %lld", period_kind_name(r.kind), (long long)t);
            if (prev_end != 0)
                cr_assert_eq(start, prev_end, "%s periods do not tile", period_kind_name(r.kind));
            prev_end = end;
            cr_assert(period_bounds(&r, end - 1, &start, &end));
            cr_assert_eq(end, prev_end);
            t = end;
        }
    }
    tz_free(&z);
}

Test(period, fixed_window)
{
    struct period_rule r = {.kind = PERIOD_FIXED, .fixed_start = 1000, .fixed_end = 2000};
    int64_t start = -1, end = -1;
    cr_assert_not(period_bounds(&r, 999, &start, &end));
    cr_assert_not(period_bounds(&r, 2000, &start, &end));
    cr_assert_eq(start, -1); /* untouched */
    cr_assert(period_bounds(&r, 1000, &start, &end));
    cr_assert(start == 1000 && end == 2000);
    cr_assert(period_bounds(&r, 1999, &start, &end));
}

Test(period, kind_names)
{
    static const char *const names[] = {"day", "week", "month", "quarter", "fixed"};
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        enum period_kind k;
        cr_assert(period_parse_kind(names[i], &k));
        cr_assert_eq(k, (enum period_kind)i);
        cr_assert_str_eq(period_kind_name(k), names[i]);
    }
    enum period_kind k = PERIOD_DAY;
    cr_assert_not(period_parse_kind("Month", &k));
    cr_assert_not(period_parse_kind("", &k));
    cr_assert_not(period_parse_kind(NULL, &k));
}
