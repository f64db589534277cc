/*
 * period: calendar windows on local wall time. A local time is "seconds
 * since the epoch as if the zone were UTC"; civil dates convert to and from
 * day numbers with calendar.h (proleptic Gregorian, any int64 year we
 * meet), never timegm or mktime, which read the process's TZ. The zone
 * (NULL = UTC) maps local midnights to UTC instants. Pure; any thread.
 */
#include "period.h"
#include "calendar.h"

#include <string.h>

#define DAY_SECONDS 86400LL

static const char *const kind_names[] = {"day", "week", "month", "quarter", "fixed"};

bool period_parse_kind(const char *s, enum period_kind *out)
{
    if (s == NULL)
        return false;
    for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
        if (strcmp(s, kind_names[i]) == 0) {
            *out = (enum period_kind)i;
            return true;
        }
    }
    return false;
}

const char *period_kind_name(enum period_kind k)
{
    if ((unsigned)k < sizeof(kind_names) / sizeof(kind_names[0]))
        return kind_names[k];
    return "unknown";
}

static int64_t to_local(const struct tz *z, int64_t t)
{
    return z == NULL ? t : t + tz_offset(z, t);
}

static int64_t to_utc(const struct tz *z, int64_t local)
{
    return z == NULL ? local : tz_local_to_utc(z, local);
}

/*
 * The local day numbers [*first, *next) of the period whose local day
 * contains day number day.
 */
static void local_days(const struct period_rule *r, int64_t day, int64_t *first, int64_t *next)
{
    int anchor = r->anchor;
    switch (r->kind) {
    case PERIOD_WEEK: {
        if (anchor < 1 || anchor > 7)
            anchor = 1;
        int64_t iso = calendar_floor_mod(day + 3, 7) + 1; /* 1970-01-01 was a Thursday (4) */
        *first = day - calendar_floor_mod(iso - anchor, 7);
        *next = *first + 7;
        return;
    }
    case PERIOD_MONTH:
    case PERIOD_QUARTER: {
        if (anchor < 1 || anchor > 28)
            anchor = 1;
        int64_t y;
        int m, d;
        calendar_civil_from_days(day, &y, &m, &d);
        int64_t month = y * 12 + (m - 1); /* months since year 0 */
        if (d < anchor)
            month--;
        int64_t len = 1;
        if (r->kind == PERIOD_QUARTER) {
            month = calendar_floor_div(month, 3) * 3;
            len = 3;
        }
        *first = calendar_days_from_civil(calendar_floor_div(month, 12),
                                          (int)calendar_floor_mod(month, 12) + 1, anchor);
        month += len;
        *next = calendar_days_from_civil(calendar_floor_div(month, 12),
                                         (int)calendar_floor_mod(month, 12) + 1, anchor);
        return;
    }
    case PERIOD_DAY:
    case PERIOD_FIXED:
    default:
        *first = day;
        *next = day + 1;
        return;
    }
}

bool period_bounds(const struct period_rule *r, int64_t t, int64_t *start, int64_t *end)
{
    if (r->kind == PERIOD_FIXED) {
        if (t < r->fixed_start || t >= r->fixed_end)
            return false;
        *start = r->fixed_start;
        *end = r->fixed_end;
        return true;
    }
    int64_t day = calendar_floor_div(to_local(r->zone, t), DAY_SECONDS);
    int64_t first, next, s = 0, e = 0;
    /*
     * The local date of t picks the period; mapping its midnights back to
     * UTC can, around a transition at midnight, land on the other side of t.
     * Step to the neighbouring period then (at most a couple of times).
     */
    for (int i = 0; i < 4; i++) {
        local_days(r, day, &first, &next);
        s = to_utc(r->zone, first * DAY_SECONDS);
        e = to_utc(r->zone, next * DAY_SECONDS);
        if (t < s)
            day = first - 1;
        else if (t >= e)
            day = next;
        else
            break;
    }
    *start = s;
    *end = e;
    return true;
}
