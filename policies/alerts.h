/*
 * alerts: the rules that decide which alerts are due, their dedup keys,
 * their one-sentence messages and the webhook payload each one is sent as.
 * Threshold alerts fire on committed spend crossing any threshold of a
 * budget; a forecast alert when the recent rate projects spend past the
 * limit by the period's end; denial and unpriced alerts on what the server
 * saw. README "Alerts" documents the contract. Pure: no I/O, no clock
 * (every call takes "now"); any thread. An alert points to the budget it
 * was made from, which the caller keeps alive while it uses the alert.
 */
#ifndef TOLLGATE_ALERTS_H
#define TOLLGATE_ALERTS_H

#include "money.h"
#include "policy.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ALERTS_KEY_MAX      (POLICY_MODEL_MAX + 128) /* a dedup key, with its NUL */
#define ALERTS_MESSAGE_MAX  512
#define ALERTS_PER_BUDGET   (POLICY_THRESHOLDS_MAX + 1) /* every threshold and a forecast */
#define ALERTS_RATE_WINDOW  86400                       /* seconds of recent spend a rate uses */
#define ALERTS_FORECAST_MIN 21600 /* seconds of a period before any forecast */

enum alert_kind { ALERT_THRESHOLD = 0, ALERT_FORECAST, ALERT_DENIAL, ALERT_UNPRICED };

/* "threshold", "forecast", "denial", "unpriced": alerts.kind and webhooks.kinds. */
const char *alerts_kind_name(enum alert_kind k);

/* The Standard Webhooks event type: "budget.threshold", ..., "usage.unpriced". */
const char *alerts_event_type(enum alert_kind k);

/* One budget as the evaluator sees it at now. */
struct alerts_budget_state {
    const struct budget *b;
    int64_t start, end;  /* its current period [start, end), unix seconds */
    int64_t now;         /* start <= now < end */
    money_t spent;       /* committed spend in the period (holds do not count) */
    money_t recent;      /* committed spend in [recent_from, now) */
    int64_t recent_from; /* see alerts_rate_from; the caller may round it down */
};

/* One alert that is due. */
struct alert {
    enum alert_kind kind;
    char key[ALERTS_KEY_MAX]; /* unique per org: the alert fires once */
    const struct budget *b;   /* NULL for unpriced alerts */
    int64_t period_start;     /* 0 with period_end 0: none */
    int64_t period_end;
    int32_t threshold_x100; /* threshold alerts: the percent crossed, x100; else 0 */
    money_t limit, spent;   /* the budget's amount and committed spend */
    bool has_forecast;      /* forecast alerts */
    money_t forecast;       /* projected spend at the period's end */
    char provider[64];      /* unpriced alerts: the model without a price */
    char model[POLICY_MODEL_MAX + 1];
    int64_t unpriced_events; /* unpriced alerts: events seen so far this month */
};

/*
 * Where the rate of a forecast starts: max(start, now - ALERTS_RATE_WINDOW),
 * so the rate is the spend of the last min(24 h, elapsed) over that window.
 */
int64_t alerts_rate_from(int64_t start, int64_t now);

/*
 * The projected spend at the period's end: spent + recent x (end - now) /
 * (now - recent_from), rounded down. False (no forecast) while there is too
 * little data: before max(ALERTS_FORECAST_MIN, a tenth of the period) has
 * elapsed, with nothing spent, or with an empty rate window.
 */
bool alerts_forecast(const struct alerts_budget_state *s, money_t *projected)
    __attribute__((warn_unused_result));

/*
 * The alerts due for a budget: one per distinct threshold percent that
 * spent has reached (spent x 10000 >= amount x percent_x100, and spent > 0,
 * whatever the threshold's action), in percent order, then a forecast alert
 * when the projection is above the amount while spent is still below it.
 * Writes at most ALERTS_PER_BUDGET alerts to out and returns how many.
 */
size_t alerts_budget_due(const struct alerts_budget_state *s, struct alert out[ALERTS_PER_BUDGET]);

/* A denial alert for budget b in the period [start, end) with spent committed. */
void alerts_denial(const struct budget *b, int64_t start, int64_t end, money_t spent,
                   struct alert *out);

/*
 * An unpriced alert for provider/model, once per UTC month: month_start is
 * the month's first instant, month_end the next month's; events is how many
 * unpriced events the month has so far.
 */
void alerts_unpriced(const char *provider, const char *model, int64_t month_start,
                     int64_t month_end, int64_t events, struct alert *out);

/* The UTC month containing t: [*start, *end). */
void alerts_month(int64_t t, int64_t *start, int64_t *end);

/* The alert's one human sentence into buf (cut to cap). Returns buf. */
char *alerts_message(const struct alert *a, char *buf, size_t cap);

/*
 * The alert's webhook body (README "Alerts"): {"type", "timestamp", "data"}.
 * alert_id 0 writes null; created is the alert's time (unix seconds);
 * public_url is the dashboard's base URL, without a trailing slash. New
 * reference; NULL only when out of memory.
 */
json_t *alerts_payload(const struct alert *a, int64_t alert_id, int64_t created,
                       const char *public_url);

#endif
