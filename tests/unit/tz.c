// links: policies/tz.c
/*
 * tz: offsets of real zones from the system's zoneinfo at known instants
 * (transitions from the table and, after it, from the footer's POSIX rule),
 * local-to-UTC in gaps and overlaps, footer-only zones built by hand, and
 * refusal of truncated or garbage input. Expected values come from zdump.
 */
#include "tz.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define ZONEINFO     "/usr/share/zoneinfo/"
#define H            3600

/* Unix seconds of a UTC (or local-as-UTC) date and time. */
static int64_t ts(int64_t y, int m, int d, int hh, int mm, int ss)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (era * 146097 + doe - 719468) * 86400 + hh * 3600 + mm * 60 + ss;
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        *len = (size_t)n;
    }
    fclose(f);
    return buf;
}

/* The zone from the system's zoneinfo, or NULL when the system lacks it. */
static struct tz *load(const char *name)
{
    char path[256], err[160];
    size_t len = 0;
    uint8_t *data;
    struct tz *z;

    snprintf(path, sizeof(path), ZONEINFO "%s", name);
    data = read_all(path, &len);
    if (!data)
        return NULL;
    z = tz_parse(name, data, len, err, sizeof(err));
    cr_assert(z != NULL, "%s: %s", name, err);
    free(data);
    return z;
}

/* ---- offsets of real zones ---------------------------------------------- */

struct offset_case {
    const char *zone;
    int64_t t;
    int32_t offset;
};

Test(tz, offsets_at_known_instants)
{
    const struct offset_case cases[] = {
        {"America/New_York", ts(2026, 3, 8, 6, 59, 59), -5 * H},
        {"America/New_York", ts(2026, 3, 8, 7, 0, 0), -4 * H},
        {"America/New_York", ts(2026, 11, 1, 5, 59, 59), -4 * H},
        {"America/New_York", ts(2026, 11, 1, 6, 0, 0), -5 * H},
        {"America/New_York", ts(1970, 1, 1, 0, 0, 0), -5 * H},
        {"America/New_York", ts(1800, 1, 1, 0, 0, 0), -17762}, /* LMT -4:56:02 */
        /* past 2037: the footer's rule */
        {"America/New_York", ts(2040, 3, 11, 6, 59, 59), -5 * H},
        {"America/New_York", ts(2040, 3, 11, 7, 0, 0), -4 * H},
        {"America/New_York", ts(2100, 3, 14, 6, 59, 59), -5 * H},
        {"America/New_York", ts(2100, 3, 14, 7, 0, 0), -4 * H},
        {"America/New_York", ts(2100, 11, 7, 5, 59, 59), -4 * H},
        {"America/New_York", ts(2100, 11, 7, 6, 0, 0), -5 * H},
        {"Europe/Berlin", ts(2026, 3, 29, 0, 59, 59), 1 * H},
        {"Europe/Berlin", ts(2026, 3, 29, 1, 0, 0), 2 * H},
        {"Europe/Berlin", ts(2026, 10, 25, 0, 59, 59), 2 * H},
        {"Europe/Berlin", ts(2026, 10, 25, 1, 0, 0), 1 * H},
        {"Europe/Berlin", ts(2100, 7, 1, 12, 0, 0), 2 * H},
        {"Europe/Berlin", ts(2100, 12, 1, 12, 0, 0), 1 * H},
        /* Lord Howe: +10:30, and +11 in (southern) summer */
        {"Australia/Lord_Howe", ts(2026, 4, 4, 14, 59, 59), 11 * H},
        {"Australia/Lord_Howe", ts(2026, 4, 4, 15, 0, 0), 10 * H + 1800},
        {"Australia/Lord_Howe", ts(2026, 10, 3, 15, 29, 59), 10 * H + 1800},
        {"Australia/Lord_Howe", ts(2026, 10, 3, 15, 30, 0), 11 * H},
        {"Australia/Lord_Howe", ts(2100, 1, 1, 0, 0, 0), 11 * H},
        {"Australia/Lord_Howe", ts(2100, 4, 3, 14, 59, 59), 11 * H},
        {"Australia/Lord_Howe", ts(2100, 4, 3, 15, 0, 0), 10 * H + 1800},
        {"Australia/Lord_Howe", ts(2100, 10, 2, 15, 30, 0), 11 * H},
        {"Asia/Kolkata", ts(2026, 1, 1, 0, 0, 0), 5 * H + 1800},
        {"Asia/Kolkata", ts(2100, 6, 1, 0, 0, 0), 5 * H + 1800},
        /* Apia skipped 2011-12-30 */
        {"Pacific/Apia", ts(2011, 12, 30, 9, 59, 59), -10 * H},
        {"Pacific/Apia", ts(2011, 12, 30, 10, 0, 0), 14 * H},
        {"Pacific/Apia", ts(2026, 1, 1, 0, 0, 0), 13 * H},
        {"Pacific/Apia", ts(2100, 1, 1, 0, 0, 0), 13 * H},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct tz *z = load(cases[i].zone);
        if (!z) {
            cr_log_warn("%s is not installed; skipped", cases[i].zone);
            continue;
        }
        cr_expect_eq(tz_offset(z, cases[i].t), cases[i].offset, "case %zu: %s at %lld: %d", i,
                     cases[i].zone, (long long)cases[i].t, tz_offset(z, cases[i].t));
        cr_expect_str_eq(tz_name(z), cases[i].zone);
        tz_free(&z);
        cr_expect_null(z);
    }
}

/* ---- local to UTC ------------------------------------------------------- */

struct local_case {
    const char *zone;
    int64_t local, utc;
};

Test(tz, local_to_utc_with_gaps_and_overlaps)
{
    const struct local_case cases[] = {
        /* ordinary */
        {"America/New_York", ts(2026, 7, 1, 12, 0, 0), ts(2026, 7, 1, 16, 0, 0)},
        {"America/New_York", ts(2026, 1, 15, 0, 0, 0), ts(2026, 1, 15, 5, 0, 0)},
        /* gap: 02:00..03:00 does not exist; the offset before (-5) applies */
        {"America/New_York", ts(2026, 3, 8, 2, 0, 0), ts(2026, 3, 8, 7, 0, 0)},
        {"America/New_York", ts(2026, 3, 8, 2, 30, 0), ts(2026, 3, 8, 7, 30, 0)},
        {"America/New_York", ts(2026, 3, 8, 1, 59, 59), ts(2026, 3, 8, 6, 59, 59)},
        {"America/New_York", ts(2026, 3, 8, 3, 0, 0), ts(2026, 3, 8, 7, 0, 0)},
        /* overlap: 01:00..02:00 happens twice; the earlier (EDT) wins */
        {"America/New_York", ts(2026, 11, 1, 1, 30, 0), ts(2026, 11, 1, 5, 30, 0)},
        {"America/New_York", ts(2026, 11, 1, 1, 0, 0), ts(2026, 11, 1, 5, 0, 0)},
        {"America/New_York", ts(2026, 11, 1, 2, 0, 0), ts(2026, 11, 1, 7, 0, 0)},
        /* from the footer's rule */
        {"America/New_York", ts(2100, 3, 14, 2, 30, 0), ts(2100, 3, 14, 7, 30, 0)},
        {"America/New_York", ts(2100, 11, 7, 1, 30, 0), ts(2100, 11, 7, 5, 30, 0)},
        {"Europe/Berlin", ts(2026, 3, 29, 2, 30, 0), ts(2026, 3, 29, 1, 30, 0)},
        {"Europe/Berlin", ts(2026, 10, 25, 2, 30, 0), ts(2026, 10, 25, 0, 30, 0)},
        {"Europe/Berlin", ts(2026, 4, 1, 0, 0, 0), ts(2026, 3, 31, 22, 0, 0)},
        /* half-hour DST */
        {"Australia/Lord_Howe", ts(2026, 10, 4, 2, 15, 0), ts(2026, 10, 3, 15, 45, 0)},
        {"Australia/Lord_Howe", ts(2026, 4, 5, 1, 45, 0), ts(2026, 4, 4, 14, 45, 0)},
        {"Asia/Kolkata", ts(2026, 5, 1, 0, 0, 0), ts(2026, 4, 30, 18, 30, 0)},
        /* Apia's missing day: 2011-12-30 local falls in the gap */
        {"Pacific/Apia", ts(2011, 12, 30, 12, 0, 0), ts(2011, 12, 30, 22, 0, 0)},
        {"Pacific/Apia", ts(2011, 12, 31, 0, 0, 0), ts(2011, 12, 30, 10, 0, 0)},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct tz *z = load(cases[i].zone);
        if (!z)
            continue;
        int64_t got = tz_local_to_utc(z, cases[i].local);
        cr_expect_eq(got, cases[i].utc, "case %zu: %s: got %lld, want %lld", i, cases[i].zone,
                     (long long)got, (long long)cases[i].utc);
        tz_free(&z);
    }
}

Test(tz, local_to_utc_round_trips_outside_transitions)
{
    struct tz *z = load("Europe/Berlin");
    if (!z)
        return;
    for (int64_t t = ts(2020, 1, 1, 0, 0, 0); t < ts(2110, 1, 1, 0, 0, 0); t += 7 * 86400 + 3917) {
        int64_t local = t + tz_offset(z, t);
        int64_t back = tz_local_to_utc(z, local);
        /* Only an overlap may map to another (earlier) instant. */
        cr_assert(back == t || (back < t && back + tz_offset(z, back) == local), "t=%lld",
                  (long long)t);
    }
    tz_free(&z);
}

/* ---- footer-only zones -------------------------------------------------- */

static size_t put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return 4;
}

/* A TZif v2 file with one local time type (offset type0_off), no transitions, and footer. */
static size_t build_v2(uint8_t *buf, int32_t type0_off, const char *footer)
{
    size_t n = 0;
    for (int block = 0; block < 2; block++) {
        memcpy(buf + n, "TZif2", 5);
        memset(buf + n + 5, 0, 15);
        n += 20;
        n += put32(buf + n, 0); /* isutcnt */
        n += put32(buf + n, 0); /* isstdcnt */
        n += put32(buf + n, 0); /* leapcnt */
        n += put32(buf + n, 0); /* timecnt */
        n += put32(buf + n, 1); /* typecnt */
        n += put32(buf + n, 4); /* charcnt */
        n += put32(buf + n, (uint32_t)type0_off);
        buf[n++] = 0;
        buf[n++] = 0;
        memcpy(buf + n, "ABC", 4);
        n += 4;
    }
    buf[n++] = '\n';
    memcpy(buf + n, footer, strlen(footer));
    n += strlen(footer);
    buf[n++] = '\n';
    return n;
}

static struct tz *footer_zone(const char *footer)
{
    uint8_t buf[512];
    char err[160] = "";
    size_t n = build_v2(buf, 0, footer);
    struct tz *z = tz_parse("test", buf, n, err, sizeof(err));
    cr_assert(z != NULL, "%s: %s", footer, err);
    return z;
}

struct footer_case {
    const char *footer;
    int64_t t;
    int32_t offset;
};

Test(tz, footer_rules)
{
    const struct footer_case cases[] = {
        {"EST5EDT,M3.2.0,M11.1.0", ts(2026, 3, 8, 6, 59, 59), -5 * H},
        {"EST5EDT,M3.2.0,M11.1.0", ts(2026, 3, 8, 7, 0, 0), -4 * H},
        {"EST5EDT,M3.2.0,M11.1.0", ts(2026, 11, 1, 6, 0, 0), -5 * H},
        {"EST5EDT,M3.2.0,M11.1.0", ts(1960, 7, 1, 0, 0, 0), -4 * H},
        /* no rule after the DST name: the POSIX default, as glibc */
        {"EST5EDT", ts(2026, 7, 1, 0, 0, 0), -4 * H},
        {"<+0330>-3:30", ts(2026, 7, 1, 0, 0, 0), 3 * H + 1800},
        {"<-00>0", ts(2026, 7, 1, 0, 0, 0), 0},
        {"UTC0", ts(2100, 7, 1, 0, 0, 0), 0},
        {"CET-1CEST,M3.5.0,M10.5.0/3", ts(2026, 3, 29, 0, 59, 59), 1 * H},
        {"CET-1CEST,M3.5.0,M10.5.0/3", ts(2026, 3, 29, 1, 0, 0), 2 * H},
        {"CET-1CEST,M3.5.0,M10.5.0/3", ts(2026, 10, 25, 0, 59, 59), 2 * H},
        {"CET-1CEST,M3.5.0,M10.5.0/3", ts(2026, 10, 25, 1, 0, 0), 1 * H},
        /* southern hemisphere, half hours */
        {"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", ts(2026, 4, 4, 14, 59, 59), 11 * H},
        {"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", ts(2026, 4, 4, 15, 0, 0), 10 * H + 1800},
        {"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", ts(2026, 10, 3, 15, 30, 0), 11 * H},
        /* hours beyond 24 (Israel) and negative (Nuuk) */
        {"IST-2IDT,M3.4.4/26,M10.5.0", ts(2026, 3, 26, 23, 59, 59), 2 * H},
        {"IST-2IDT,M3.4.4/26,M10.5.0", ts(2026, 3, 27, 0, 0, 0), 3 * H},
        {"IST-2IDT,M3.4.4/26,M10.5.0", ts(2026, 10, 24, 22, 59, 59), 3 * H},
        {"IST-2IDT,M3.4.4/26,M10.5.0", ts(2026, 10, 24, 23, 0, 0), 2 * H},
        {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", ts(2026, 3, 29, 0, 59, 59), -2 * H},
        {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", ts(2026, 3, 29, 1, 0, 0), -1 * H},
        {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", ts(2026, 10, 25, 0, 59, 59), -1 * H},
        {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", ts(2026, 10, 25, 1, 0, 0), -2 * H},
        /* Jn never counts Feb 29: J60 is March 1 even in a leap year */
        {"AAA0BBB,J60,J300", ts(2028, 3, 1, 1, 59, 59), 0},
        {"AAA0BBB,J60,J300", ts(2028, 3, 1, 2, 0, 0), 1 * H},
        {"AAA0BBB,J60,J300", ts(2027, 3, 1, 2, 0, 0), 1 * H},
        {"AAA0BBB,J60,J300", ts(2027, 2, 28, 23, 0, 0), 0},
        /* n counts from 0 and does count Feb 29: day 59 is Feb 29 in 2028 */
        {"AAA0BBB,59,300", ts(2028, 2, 29, 1, 59, 59), 0},
        {"AAA0BBB,59,300", ts(2028, 2, 29, 2, 0, 0), 1 * H},
        {"AAA0BBB,59,300", ts(2027, 2, 28, 23, 0, 0), 0},
        {"AAA0BBB,59,300", ts(2027, 3, 1, 2, 0, 0), 1 * H},
        /* DST all year (RFC 8536's example) */
        {"EST5EDT,0/0,J365/25", ts(2026, 1, 1, 0, 30, 0), -4 * H},
        {"EST5EDT,0/0,J365/25", ts(2026, 6, 1, 0, 0, 0), -4 * H},
        {"EST5EDT,0/0,J365/25", ts(2026, 12, 31, 23, 30, 0), -4 * H},
        {"EST5EDT,0/0,J365/25", ts(2028, 12, 31, 23, 30, 0), -4 * H},
        /* an explicit DST offset, more than an hour off */
        {"AAA-1BBB-3,M3.5.0,M10.5.0", ts(2026, 7, 1, 0, 0, 0), 3 * H},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct tz *z = footer_zone(cases[i].footer);
        int32_t got = tz_offset(z, cases[i].t);
        cr_expect_eq(got, cases[i].offset, "case %zu: %s: got %d", i, cases[i].footer, got);
        tz_free(&z);
    }
}

Test(tz, footer_only_local_to_utc)
{
    struct tz *z = footer_zone("EST5EDT,M3.2.0,M11.1.0");
    /* Far instants stay sane (and are not undefined behaviour). */
    for (int64_t t = INT64_MIN; t < INT64_MAX - (INT64_MAX / 8); t += INT64_MAX / 8) {
        int32_t off = tz_offset(z, t);
        cr_expect(off == -5 * H || off == -4 * H);
        (void)tz_local_to_utc(z, t);
    }
    cr_expect(tz_offset(z, INT64_MAX) <= -4 * H);
    (void)tz_local_to_utc(z, INT64_MAX);
    (void)tz_local_to_utc(z, INT64_MIN);
    cr_expect_eq(tz_local_to_utc(z, ts(2026, 3, 8, 2, 30, 0)), ts(2026, 3, 8, 7, 30, 0));
    cr_expect_eq(tz_local_to_utc(z, ts(2026, 11, 1, 1, 30, 0)), ts(2026, 11, 1, 5, 30, 0));
    cr_expect_eq(tz_local_to_utc(z, ts(2026, 11, 1, 2, 0, 0)), ts(2026, 11, 1, 7, 0, 0));
    tz_free(&z);
}

Test(tz, empty_footer_keeps_the_last_type)
{
    uint8_t buf[512];
    char err[160];
    size_t n = build_v2(buf, 3 * H, "");
    struct tz *z = tz_parse("three", buf, n, err, sizeof(err));
    cr_assert(z != NULL, "%s", err);
    cr_expect_eq(tz_offset(z, ts(2026, 1, 1, 0, 0, 0)), 3 * H);
    cr_expect_eq(tz_local_to_utc(z, ts(2026, 1, 1, 3, 0, 0)), ts(2026, 1, 1, 0, 0, 0));
    tz_free(&z);
}

/* ---- refusal ------------------------------------------------------------ */

Test(tz, bad_footers_are_refused)
{
    const char *bad[] = {
        "FOO",   /* no offset */
        "AB5",   /* abbreviation too short */
        "EST25", /* hours out of range */
        "EST5EDT,M13.1.0,M11.1.0",
        "EST5EDT,M3.6.0,M11.1.0",
        "EST5EDT,M3.2.7,M11.1.0",
        "EST5EDT,J0,J100",
        "EST5EDT,366,100",
        "EST5EDT,M3.2.0/168,M11.1.0",
        "EST5EDT,M3.2.0",
        "EST5EDT,M3.2.0,M11.1.0,",
        "EST5EDT,M3.2.0,M11.1.0 ",
        "<+03-3",
        "<+3>-3",
        "EST5:60",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        uint8_t buf[512];
        char err[160] = "";
        size_t n = build_v2(buf, 0, bad[i]);
        struct tz *z = tz_parse("bad", buf, n, err, sizeof(err));
        cr_expect_null(z, "%s was accepted", bad[i]);
        cr_expect(strstr(err, "footer") != NULL, "%s: %s", bad[i], err);
        tz_free(&z);
    }
}

Test(tz, garbage_and_truncation_fail_cleanly)
{
    char err[160];
    const uint8_t junk[] = "TZif9 not really a zone file at all, just some junk bytes....";
    size_t len = 0;
    uint8_t *data = read_all(ZONEINFO "America/New_York", &len);

    cr_expect_null(tz_parse("x", NULL, 0, err, sizeof(err)));
    cr_expect_null(tz_parse("x", (const uint8_t *)"", 0, err, sizeof(err)));
    cr_expect_null(tz_parse("x", (const uint8_t *)"TZif", 4, err, sizeof(err)));
    cr_expect_null(tz_parse("x", junk, sizeof(junk), err, sizeof(err)));
    cr_expect(strstr(err, "version") != NULL, "%s", err);
    cr_expect_null(tz_parse("x", (const uint8_t *)"hello world", 11, err, sizeof(err)));
    cr_expect(strstr(err, "not TZif") != NULL, "%s", err);
    if (!data)
        return;
    /* Every proper prefix is refused (the footer ends with the file). */
    for (size_t n = 0; n < len; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees any overread */
        memcpy(copy, data, n);
        struct tz *z = tz_parse("prefix", copy, n, err, sizeof(err));
        cr_expect_null(z, "prefix of %zu bytes accepted", n);
        tz_free(&z);
        free(copy);
    }
    /* Counts that point past the end. */
    for (size_t off = 20; off < 44; off += 4) {
        uint8_t *copy = malloc(len);
        memcpy(copy, data, len);
        copy[off] = 0x7f;
        struct tz *z = tz_parse("counts", copy, len, err, sizeof(err));
        cr_expect_null(z, "count at %zu", off);
        tz_free(&z);
        free(copy);
    }
    free(data);
}

Test(tz, version1_only)
{
    /* The 32-bit block alone, marked version 1: no footer needed. */
    uint8_t buf[512];
    char err[160];
    (void)build_v2(buf, 2 * H, "");
    buf[4] = 0;
    struct tz *z = tz_parse("v1", buf, 44 + 6 + 4, err, sizeof(err)); /* header, type, "ABC" */
    cr_assert(z != NULL, "%s", err);
    cr_expect_eq(tz_offset(z, 0), 2 * H);
    tz_free(&z);
}

Test(tz, utc)
{
    struct tz *z = tz_utc();
    cr_assert(z != NULL);
    cr_expect_str_eq(tz_name(z), "UTC");
    cr_expect_eq(tz_offset(z, 0), 0);
    cr_expect_eq(tz_offset(z, INT64_MAX), 0);
    cr_expect_eq(tz_local_to_utc(z, 12345), 12345);
    tz_free(&z);
    cr_expect_null(z);
    tz_free(&z);
}

struct name_case {
    const char *name;
    bool ok;
};

Test(tz, name_valid)
{
    const struct name_case cases[] = {
        {"UTC", true},
        {"Europe/Berlin", true},
        {"America/Argentina/Buenos_Aires", true},
        {"Etc/GMT+5", true},
        {"Etc/GMT-14", true},
        {"America/Port-au-Prince", true},
        {"", false},
        {"/etc/passwd", false},
        {"Europe//Berlin", false},
        {"Europe/Berlin/", false},
        {"../etc/passwd", false},
        {"Europe/./Berlin", false},
        {"Europe/..", false},
        {".", false},
        {"Europe/Ber lin", false},
        {"Europe\\Berlin", false},
        {"Europe/Berlin\n", false},
        {"A123456789012345678901234567890123456789012345678901234567890bc", true}, /* 63 */
        {"A123456789012345678901234567890123456789012345678901234567890bcd", false},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        cr_expect_eq(tz_name_valid(cases[i].name), cases[i].ok, "%s", cases[i].name);
    cr_expect(!tz_name_valid(NULL));
}
