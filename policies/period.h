/*
 * period: the calendar window a budget (or a target mix) counts spend in.
 * Days, ISO weeks, months and quarters begin at local midnight in the
 * budget's time zone, on its anchor day; a fixed window is given in UTC.
 * Pure; any thread.
 */
#ifndef TOLLGATE_PERIOD_H
#define TOLLGATE_PERIOD_H

#include "tz.h"

#include <stdbool.h>
#include <stdint.h>

enum period_kind { PERIOD_DAY = 0, PERIOD_WEEK, PERIOD_MONTH, PERIOD_QUARTER, PERIOD_FIXED };

/* "day", "week", "month", "quarter", "fixed". */
bool period_parse_kind(const char *s, enum period_kind *out) __attribute__((warn_unused_result));
const char *period_kind_name(enum period_kind k);

struct period_rule {
    enum period_kind kind;
    /*
     * Month and quarter: the day of the month a period starts on, 1..28.
     * Quarters start in January, April, July and October on that day. Week:
     * the ISO weekday a week starts on, 1 (Monday) .. 7 (Sunday). Day: unused.
     */
    int anchor;
    const struct tz *zone; /* not owned; NULL means UTC */
    int64_t fixed_start;   /* PERIOD_FIXED only: unix seconds, inclusive */
    int64_t fixed_end;     /* PERIOD_FIXED only: unix seconds, exclusive */
};

/*
 * The period containing the UTC instant t: [*start, *end) in unix seconds.
 * A local midnight that does not exist (a zone that springs forward at
 * midnight) starts the period at the first instant after the gap. For a
 * fixed window, returns false when t lies outside it (outputs untouched);
 * otherwise always true.
 */
bool period_bounds(const struct period_rule *r, int64_t t, int64_t *start, int64_t *end)
    __attribute__((warn_unused_result));

#endif
