/*
 * calendar: proleptic Gregorian day arithmetic on integers, for every part
 * that turns dates into instants and back (event times, catalog dates, time
 * zone rules, budget periods). Day numbers count from 1970-01-01 and may be
 * negative. Header-only, pure; any thread. The conversions are Howard
 * Hinnant's days_from_civil and civil_from_days.
 */
#ifndef TOLLGATE_CALENDAR_H
#define TOLLGATE_CALENDAR_H

#include <stdbool.h>
#include <stdint.h>

/* a / b rounded towards minus infinity (b != 0). */
static inline int64_t calendar_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* a mod b with the sign of b. */
static inline int64_t calendar_floor_mod(int64_t a, int64_t b)
{
    return a - calendar_floor_div(a, b) * b;
}

static inline bool calendar_is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days in month m (1..12) of year y. */
static inline int calendar_month_days(int64_t y, int m)
{
    static const int md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return md[m - 1] + (m == 2 && calendar_is_leap(y));
}

/* The day number of y-m-d (m 1..12, d 1..31). */
static inline int64_t calendar_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = calendar_floor_div(y, 400);
    int64_t yoe = y - era * 400;                                  /* [0, 399] */
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

/* The date of day number z. */
static inline void calendar_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = calendar_floor_div(z, 146097);
    int64_t doe = z - era * 146097;                                      /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

#endif
