/*
 * alerts: see alerts.h. Amounts stay money_t all the way; the payload
 * writes them as exact decimal strings with at least two decimals, and the
 * used percent as a number in hundredths, rounded down.
 */
#include "alerts.h"
#include "calendar.h"
#include "event.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *alerts_kind_name(enum alert_kind k)
{
    switch (k) {
    case ALERT_THRESHOLD:
        return "threshold";
    case ALERT_FORECAST:
        return "forecast";
    case ALERT_DENIAL:
        return "denial";
    case ALERT_UNPRICED:
    default:
        return "unpriced";
    }
}

const char *alerts_event_type(enum alert_kind k)
{
    switch (k) {
    case ALERT_THRESHOLD:
        return "budget.threshold";
    case ALERT_FORECAST:
        return "budget.forecast";
    case ALERT_DENIAL:
        return "budget.denial";
    case ALERT_UNPRICED:
    default:
        return "usage.unpriced";
    }
}

int64_t alerts_rate_from(int64_t start, int64_t now)
{
    return now - ALERTS_RATE_WINDOW > start ? now - ALERTS_RATE_WINDOW : start;
}

bool alerts_forecast(const struct alerts_budget_state *s, money_t *projected)
{
    int64_t elapsed = s->now - s->start, length = s->end - s->start;
    int64_t min_elapsed = length / 10 > ALERTS_FORECAST_MIN ? length / 10 : ALERTS_FORECAST_MIN;
    int64_t window = s->now - s->recent_from;

    if (elapsed < min_elapsed || s->spent <= 0 || window <= 0 || s->now >= s->end || s->recent < 0)
        return false;
    *projected = s->spent + s->recent * (money_t)(s->end - s->now) / window;
    return true;
}

/* The fields every budget alert shares. */
static void budget_alert(enum alert_kind kind, const struct budget *b, int64_t start, int64_t end,
                         money_t spent, struct alert *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = kind;
    out->b = b;
    out->period_start = start;
    out->period_end = end;
    out->limit = b->amount;
    out->spent = spent;
}

/* spent has reached percent_x100 of amount (and something was spent). */
static bool reached(money_t spent, money_t amount, int32_t percent_x100)
{
    return spent > 0 && spent * 10000 >= amount * percent_x100;
}

size_t alerts_budget_due(const struct alerts_budget_state *s, struct alert out[ALERTS_PER_BUDGET])
{
    const struct budget *b = s->b;
    size_t n = 0;
    int32_t last = 0;
    money_t projected;

    for (size_t i = 0; i < b->n_thresholds && i < POLICY_THRESHOLDS_MAX; i++) {
        int32_t pct = b->thresholds[i].percent_x100;
        if (pct == last || !reached(s->spent, b->amount, pct))
            continue;
        last = pct;
        budget_alert(ALERT_THRESHOLD, b, s->start, s->end, s->spent, &out[n]);
        out[n].threshold_x100 = pct;
        snprintf(out[n].key, sizeof(out[n].key), "threshold:%" PRId64 ":%" PRId64 ":%" PRId32,
                 b->id, s->start, pct);
        n++;
    }
    if (s->spent < b->amount && alerts_forecast(s, &projected) && projected > b->amount) {
        budget_alert(ALERT_FORECAST, b, s->start, s->end, s->spent, &out[n]);
        out[n].has_forecast = true;
        out[n].forecast = projected;
        snprintf(out[n].key, sizeof(out[n].key), "forecast:%" PRId64 ":%" PRId64, b->id, s->start);
        n++;
    }
    return n;
}

void alerts_denial(const struct budget *b, int64_t start, int64_t end, money_t spent,
                   struct alert *out)
{
    budget_alert(ALERT_DENIAL, b, start, end, spent, out);
    snprintf(out->key, sizeof(out->key), "denial:%" PRId64 ":%" PRId64, b->id, start);
}

void alerts_month(int64_t t, int64_t *start, int64_t *end)
{
    int64_t y;
    int m, d;

    calendar_civil_from_days(calendar_floor_div(t, 86400), &y, &m, &d);
    *start = calendar_days_from_civil(y, m, 1) * 86400;
    *end = calendar_days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) * 86400;
}

void alerts_unpriced(const char *provider, const char *model, int64_t month_start,
                     int64_t month_end, int64_t events, struct alert *out)
{
    int64_t y;
    int m, d;

    memset(out, 0, sizeof(*out));
    out->kind = ALERT_UNPRICED;
    out->period_start = month_start;
    out->period_end = month_end;
    out->unpriced_events = events;
    snprintf(out->provider, sizeof(out->provider), "%s", provider);
    snprintf(out->model, sizeof(out->model), "%s", model);
    calendar_civil_from_days(calendar_floor_div(month_start, 86400), &y, &m, &d);
    snprintf(out->key, sizeof(out->key), "unpriced:%s:%s:%04d-%02d", out->provider, out->model,
             (int)y, m);
}

/* ---- words ---- */

struct text {
    char *buf;
    size_t cap, len;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int k;

    if (t->len + 1 >= t->cap)
        return;
    va_start(ap, fmt);
    k = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (k > 0)
        t->len = t->len + (size_t)k < t->cap ? t->len + (size_t)k : t->cap - 1;
}

static void put_usd(struct text *t, money_t v)
{
    char s[MONEY_BUF];
    money_format_usd(v, 2, s);
    put(t, "USD %s", s);
}

/* hundredths of a percent as "80%" or "80.25%" */
static void put_pct(struct text *t, int64_t x100)
{
    if (x100 % 100)
        put(t, "%" PRId64 ".%02" PRId64 "%%", x100 / 100, x100 % 100);
    else
        put(t, "%" PRId64 "%%", x100 / 100);
}

/* spent / limit in hundredths of a percent, rounded down; -1 when limit is 0. */
static int64_t used_x100(money_t spent, money_t limit)
{
    money_t f;
    if (limit <= 0)
        return -1;
    f = spent * 10000 / limit;
    return f > INT64_MAX ? INT64_MAX : f < 0 ? 0 : (int64_t)f;
}

static void put_budget(struct text *t, const struct budget *b)
{
    put(t, "Budget \"%s\" (", b->name);
    if (b->scope.kind == SCOPE_ORG)
        put(t, "org");
    else if (b->scope.kind == SCOPE_TAG)
        put(t, "tag %s=%s", b->scope.name, b->scope.tag_value);
    else
        put(t, "%s %s", policy_scope_kind_name(b->scope.kind), b->scope.name);
    put(t, ")");
}

char *alerts_message(const struct alert *a, char *buf, size_t cap)
{
    struct text t = {buf, cap, 0};
    int64_t used = used_x100(a->spent, a->limit);

    if (cap)
        buf[0] = '\0';
    switch (a->kind) {
    case ALERT_THRESHOLD:
        put_budget(&t, a->b);
        put(&t, " has spent ");
        put_usd(&t, a->spent);
        put(&t, " of ");
        put_usd(&t, a->limit);
        if (used >= 0) {
            put(&t, " (");
            put_pct(&t, used);
            put(&t, ")");
        }
        put(&t, ", reaching its ");
        put_pct(&t, a->threshold_x100);
        put(&t, " threshold.");
        break;
    case ALERT_FORECAST:
        put_budget(&t, a->b);
        put(&t, " is on course to spend ");
        put_usd(&t, a->forecast);
        put(&t, " by the end of its period, over its limit of ");
        put_usd(&t, a->limit);
        put(&t, " (");
        put_usd(&t, a->spent);
        put(&t, " spent so far).");
        break;
    case ALERT_DENIAL:
        put_budget(&t, a->b);
        put(&t, " denied a call: ");
        put_usd(&t, a->spent);
        put(&t, " of ");
        put_usd(&t, a->limit);
        put(&t, " spent.");
        break;
    case ALERT_UNPRICED:
    default:
        put(&t, "Usage of %s/%s has no price: %" PRId64 " event%s this month %s stored unpriced.",
            a->provider, a->model, a->unpriced_events, a->unpriced_events == 1 ? "" : "s",
            a->unpriced_events == 1 ? "is" : "are");
        break;
    }
    return buf;
}

/* ---- the payload ---- */

static json_t *rfc3339(int64_t t)
{
    char s[40];

    event_format_seconds(t, s);
    return json_string(s);
}

static json_t *usd(money_t v)
{
    char s[MONEY_BUF];
    money_format_usd(v, 2, s);
    return json_string(s);
}

/* The team slug of a budget's scope, or NULL. */
static const char *team_of(const struct budget *b)
{
    return b && (b->scope.kind == SCOPE_TEAM || b->scope.kind == SCOPE_PROJECT) ? b->scope.name
                                                                                : NULL;
}

static json_t *budget_json(const struct budget *b)
{
    json_t *scope = json_pack("{s:s}", "kind", policy_scope_kind_name(b->scope.kind));
    if (!scope)
        return NULL;
    if (b->scope.kind == SCOPE_TAG)
        json_object_set_new(scope, "name",
                            json_sprintf("%s=%s", b->scope.name, b->scope.tag_value));
    else
        json_object_set_new(scope, "name", json_string(b->scope.name));
    return json_pack("{s:I, s:s, s:o}", "id", (json_int_t)b->id, "name", b->name, "scope", scope);
}

json_t *alerts_payload(const struct alert *a, int64_t alert_id, int64_t created,
                       const char *public_url)
{
    char msg[ALERTS_MESSAGE_MAX];
    const char *team = team_of(a->b);
    int64_t used = a->b ? used_x100(a->spent, a->limit) : -1;
    json_t *data = json_object(), *root;

    if (!data)
        return NULL;
    json_object_set_new(data, "alert_id", alert_id ? json_integer(alert_id) : json_null());
    json_object_set_new(data, "kind", json_string(alerts_kind_name(a->kind)));
    json_object_set_new(data, "budget", a->b ? budget_json(a->b) : json_null());
    json_object_set_new(data, "team", team ? json_string(team) : json_null());
    json_object_set_new(data, "period",
                        a->period_end ? json_pack("{s:o, s:o}", "start", rfc3339(a->period_start),
                                                  "end", rfc3339(a->period_end))
                                      : json_null());
    json_object_set_new(data, "limit_usd", a->b ? usd(a->limit) : json_null());
    json_object_set_new(data, "spent_usd", a->b ? usd(a->spent) : json_null());
    json_object_set_new(data, "forecast_usd", a->has_forecast ? usd(a->forecast) : json_null());
    json_object_set_new(data, "threshold_percent",
                        a->threshold_x100 % 100 ? json_real(a->threshold_x100 / 100.0)
                        : a->threshold_x100     ? json_integer(a->threshold_x100 / 100)
                                                : json_null());
    json_object_set_new(data, "used_percent",
                        used >= 0 ? json_real((double)used / 100.0) : json_null());
    json_object_set_new(data, "model",
                        a->kind == ALERT_UNPRICED
                            ? json_pack("{s:s, s:s}", "provider", a->provider, "model", a->model)
                            : json_null());
    json_object_set_new(data, "message", json_string(alerts_message(a, msg, sizeof(msg))));
    json_object_set_new(data, "dashboard_url",
                        team ? json_sprintf("%s/#/teams/%s", public_url, team)
                             : json_sprintf("%s/#/", public_url));
    root = json_pack("{s:s, s:o, s:o}", "type", alerts_event_type(a->kind), "timestamp",
                     rfc3339(created), "data", data);
    return root;
}
