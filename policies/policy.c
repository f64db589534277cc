/*
 * policy: budget and routing-policy documents (policies/README.md has the
 * grammar) into validated structs and back into canonical JSON, plus a
 * small JSON text scanner that turns an error's path into a line and
 * column. Pure: no I/O; the caller owns every buffer. Any thread.
 */
#include "policy.h"

#include "event.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *const scope_names[] = {"org", "team", "project", "user", "key", "tag"};
static const char *const action_names[] = {"none", "alert", "downgrade", "deny"};
static const char *const period_names[] = {"day", "week", "month", "quarter", "fixed"};
static const char *const default_tiers[] = {"premium", "standard", "economy"};

const char *policy_scope_kind_name(enum scope_kind k)
{
    return (unsigned)k < ARRAY_LEN(scope_names) ? scope_names[k] : "?";
}

bool policy_parse_scope_kind(const char *s, enum scope_kind *out)
{
    for (size_t i = 0; s && i < ARRAY_LEN(scope_names); i++)
        if (strcmp(s, scope_names[i]) == 0) {
            *out = (enum scope_kind)i;
            return true;
        }
    return false;
}

const char *policy_action_name(enum action a)
{
    return (unsigned)a < ARRAY_LEN(action_names) ? action_names[a] : "?";
}

/* ---- errors --------------------------------------------------------------- */

/* Cuts s after its last whole UTF-8 character (snprintf may have cut one in two). */
static void utf8_trim(char *s)
{
    size_t n = strlen(s), j = n, need;
    unsigned char c;

    while (j > 0 && n - j < 4 && ((unsigned char)s[j - 1] & 0xC0) == 0x80)
        j--;
    if (j == 0)
        return;
    c = (unsigned char)s[j - 1];
    if (c < 0x80)
        return;
    need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (j - 1 + need > n)
        s[j - 1] = '\0';
}

/* Appends s to out (cap bytes), cutting at a character boundary when full. */
static void append(char *out, size_t cap, const char *s)
{
    size_t n = strlen(out), k = strlen(s);

    if (k > cap - 1 - n)
        k = cap - 1 - n;
    memcpy(out + n, s, k);
    out[n + k] = '\0';
    utf8_trim(out);
}

static bool fail(struct policy_error *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fills err (path and a sentence); returns false so callers can `return fail(...)`. */
static bool fail(struct policy_error *err, const char *path, const char *fmt, ...)
{
    va_list ap;

    err->path[0] = '\0';
    append(err->path, sizeof(err->path), path);
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    utf8_trim(err->message);
    err->line = err->column = 0;
    return false;
}

/* Joins a member name or an index onto a path (out may not alias base). */
static void path_member(char *out, size_t cap, const char *base, const char *member)
{
    out[0] = '\0';
    append(out, cap, base);
    if (base[0])
        append(out, cap, ".");
    append(out, cap, member);
}

static void path_index(char *out, size_t cap, const char *base, size_t i)
{
    char idx[32];

    sprintf(idx, "[%zu]", i);
    out[0] = '\0';
    append(out, cap, base);
    append(out, cap, idx);
}

#define PATH_CAP 128

/* ---- members and values --------------------------------------------------- */

/* Refuses any member of obj not in names; the message names it. */
static bool only_members(const json_t *obj, const char *base, const char *const *names,
                         size_t n_names, const char *what, struct policy_error *err)
{
    const char *key;
    json_t *v;
    char path[PATH_CAP];

    json_object_foreach((json_t *)obj, key, v)
    {
        bool known = false;
        for (size_t i = 0; i < n_names && !known; i++)
            known = strcmp(key, names[i]) == 0;
        if (!known) {
            path_member(path, sizeof(path), base, key);
            return fail(err, path, "unknown member \"%s\" of %s", key, what);
        }
    }
    return true;
}

/* A string of 1..max bytes without NUL into out (max + 1 bytes). */
static bool get_string(const json_t *v, const char *path, size_t max, char *out,
                       struct policy_error *err)
{
    size_t n;

    if (!json_is_string(v))
        return fail(err, path, "must be a string");
    n = json_string_length(v);
    if (n == 0 || n > max)
        return fail(err, path, "must be a string of 1 to %zu bytes", max);
    if (strlen(json_string_value(v)) != n)
        return fail(err, path, "must not contain NUL characters");
    memcpy(out, json_string_value(v), n + 1);
    return true;
}

static bool get_slug(const json_t *v, const char *path, char *out, struct policy_error *err)
{
    if (!json_is_string(v) || !event_slug_valid(json_string_value(v)) ||
        strlen(json_string_value(v)) != json_string_length(v))
        return fail(err, path,
                    "must be a slug: lower-case letters, digits, '.', '_' or '-', starting with a "
                    "letter or digit, at most 63 bytes");
    strcpy(out, json_string_value(v));
    return true;
}

static bool get_bool(const json_t *obj, const char *name, const char *base, bool dflt, bool *out,
                     struct policy_error *err)
{
    const json_t *v = json_object_get(obj, name);
    char path[PATH_CAP];

    if (!v) {
        *out = dflt;
        return true;
    }
    if (!json_is_boolean(v)) {
        path_member(path, sizeof(path), base, name);
        return fail(err, path, "must be true or false");
    }
    *out = json_is_true(v);
    return true;
}

/* One of names (n of them) into *out; the message lists them. */
static bool get_enum(const json_t *v, const char *path, const char *const *names, size_t n,
                     int *out, struct policy_error *err)
{
    char list[160] = "";
    size_t len = 0;

    for (size_t i = 0; json_is_string(v) && i < n; i++)
        if (strcmp(json_string_value(v), names[i]) == 0 &&
            json_string_length(v) == strlen(names[i])) {
            *out = (int)i;
            return true;
        }
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "", names[i]);
    return fail(err, path, "must be one of %s", list);
}

/*
 * A number with at most two decimals, as hundredths, within (lo, hi] or
 * [lo, hi] (x100 units). JSON reals are converted exactly: the value must be
 * the double nearest to some whole number of hundredths.
 */
static bool get_hundredths(const json_t *v, const char *path, int64_t lo, bool lo_open, int64_t hi,
                           const char *range, int32_t *out, struct policy_error *err)
{
    int64_t x;

    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < -1000000 || i > 1000000)
            return fail(err, path, "must be a number %s", range);
        x = (int64_t)i * 100;
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) || d < -1e6 || d > 1e6)
            return fail(err, path, "must be a number %s", range);
        x = (int64_t)(d * 100.0 + (d < 0 ? -0.5 : 0.5)); /* nearest; |d| <= 1e6 */
        if ((double)x / 100.0 != d)
            return fail(err, path, "must have at most 2 decimals");
    } else {
        return fail(err, path, "must be a number %s", range);
    }
    if (x < lo || (lo_open && x == lo) || x > hi)
        return fail(err, path, "must be a number %s", range);
    *out = (int32_t)x;
    return true;
}

/* Hundredths as a JSON number: an integer when whole. */
static json_t *hundredths_json(int32_t x)
{
    if (x % 100 == 0)
        return json_integer(x / 100);
    return json_real((double)x / 100.0);
}

static bool get_timezone(const json_t *obj, const char *name, const char *base, char out[64],
                         struct policy_error *err)
{
    const json_t *v = json_object_get(obj, name);
    char path[PATH_CAP];

    if (!v) {
        strcpy(out, "UTC");
        return true;
    }
    path_member(path, sizeof(path), base, name);
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
        !tz_name_valid(json_string_value(v)))
        return fail(err, path, "must be an IANA time zone name such as \"Europe/Berlin\"");
    strcpy(out, json_string_value(v));
    return true;
}

/* ---- scope ------------------------------------------------------------------ */

static bool parse_scope(const json_t *v, const char *path, struct scope *out,
                        struct policy_error *err)
{
    const char *key, *tkey;
    json_t *val, *tval;
    char sub[PATH_CAP], sub2[PATH_CAP];
    enum scope_kind k;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(v) || json_object_size(v) != 1)
        return fail(err, path,
                    "must be an object with exactly one of org, team, project, user, key, tag");
    json_object_foreach((json_t *)v, key, val)
    {
        path_member(sub, sizeof(sub), path, key);
        if (!policy_parse_scope_kind(key, &k))
            return fail(err, sub,
                        "unknown member \"%s\" of scope; use one of org, team, project, user, key, "
                        "tag",
                        key);
        out->kind = k;
        switch (k) {
        case SCOPE_ORG:
        case SCOPE_TEAM:
        case SCOPE_PROJECT:
            return get_slug(val, sub, out->name, err);
        case SCOPE_USER:
            return get_string(val, sub, POLICY_SCOPE_NAME_MAX, out->name, err);
        case SCOPE_KEY:
            if (!json_is_integer(val) || json_integer_value(val) <= 0)
                return fail(err, sub, "must be a positive integer (an API key id)");
            snprintf(out->name, sizeof(out->name), "%lld", (long long)json_integer_value(val));
            out->id = (int64_t)json_integer_value(val);
            return true;
        case SCOPE_TAG:
            if (!json_is_object(val) || json_object_size(val) != 1)
                return fail(err, sub, "must be an object with exactly one \"key\": \"value\" pair");
            json_object_foreach(val, tkey, tval)
            {
                path_member(sub2, sizeof(sub2), sub, tkey);
                if (strlen(tkey) > POLICY_SCOPE_NAME_MAX || tkey[0] == '\0')
                    return fail(err, sub2, "tag key must be 1 to %d bytes", POLICY_SCOPE_NAME_MAX);
                strcpy(out->name, tkey);
                return get_string(tval, sub2, POLICY_SCOPE_NAME_MAX, out->tag_value, err);
            }
        }
    }
    return fail(err, path, "must name a scope");
}

static json_t *scope_json(const struct scope *s)
{
    json_t *o = json_object(), *v;

    switch (s->kind) {
    case SCOPE_KEY:
        v = json_integer(strtoll(s->name, NULL, 10));
        break;
    case SCOPE_TAG:
        v = json_object();
        json_object_set_new(v, s->name, json_string(s->tag_value));
        break;
    default:
        v = json_string(s->name);
        break;
    }
    json_object_set_new(o, policy_scope_kind_name(s->kind), v);
    return o;
}

/* ---- budgets ------------------------------------------------------------------ */

static bool get_kind(const json_t *doc, const char *want, bool required, struct policy_error *err)
{
    const json_t *v = json_object_get(doc, "kind");

    if (!v)
        return required ? fail(err, "kind", "is required: \"%s\"", want) : true;
    if (!json_is_string(v) || strcmp(json_string_value(v), want) != 0)
        return fail(err, "kind", "must be \"%s\"", want);
    return true;
}

static bool parse_amount(const json_t *v, money_t *out, struct policy_error *err)
{
    char buf[32];

    if (!v)
        return fail(err, "amount_usd", "is required");
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return fail(err, "amount_usd", "must not be negative");
        *out = (money_t)json_integer_value(v) * MONEY_PER_USD;
        return true;
    }
    if (json_is_real(v))
        return fail(err, "amount_usd",
                    "must be a decimal string such as \"12.50\": write it as a string, not a "
                    "JSON number with a fraction");
    if (!json_is_string(v) || json_string_length(v) >= sizeof(buf) ||
        strlen(json_string_value(v)) != json_string_length(v))
        return fail(err, "amount_usd", "must be a decimal string such as \"12.50\"");
    strcpy(buf, json_string_value(v));
    if (!money_parse_usd(buf, 6, out))
        return fail(err, "amount_usd",
                    "must be a decimal amount of USD >= 0 with at most 6 decimals, such as "
                    "\"12.50\"");
    return true;
}

static bool parse_time(const json_t *v, const char *path, int64_t *out, struct policy_error *err)
{
    int64_t us;

    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
        !event_parse_time(json_string_value(v), &us))
        return fail(err, path, "must be an RFC 3339 time such as \"2026-01-01T00:00:00Z\"");
    if (us % 1000000 != 0)
        return fail(err, path, "must be a whole second");
    *out = us / 1000000;
    return true;
}

static bool parse_window(const json_t *doc, struct budget *b, struct policy_error *err)
{
    static const char *const members[] = {"start", "end"};
    const json_t *w = json_object_get(doc, "window");

    if (b->period != PERIOD_FIXED) {
        if (w)
            return fail(err, "window", "is only for period \"fixed\"");
        return true;
    }
    if (!w)
        return fail(err, "window", "is required for period \"fixed\"");
    if (!json_is_object(w))
        return fail(err, "window", "must be an object with start and end");
    if (!only_members(w, "window", members, ARRAY_LEN(members), "window", err))
        return false;
    if (!json_object_get(w, "start"))
        return fail(err, "window.start", "is required");
    if (!json_object_get(w, "end"))
        return fail(err, "window.end", "is required");
    if (!parse_time(json_object_get(w, "start"), "window.start", &b->window_start, err) ||
        !parse_time(json_object_get(w, "end"), "window.end", &b->window_end, err))
        return false;
    if (b->window_end <= b->window_start)
        return fail(err, "window.end", "must be after window.start");
    return true;
}

static int threshold_cmp(const void *a, const void *b)
{
    const struct threshold *x = a, *y = b;
    if (x->percent_x100 != y->percent_x100)
        return x->percent_x100 < y->percent_x100 ? -1 : 1;
    return (int)x->action - (int)y->action;
}

static bool parse_thresholds(const json_t *v, struct budget *b, struct policy_error *err)
{
    static const char *const members[] = {"at", "action"};
    static const char *const actions[] = {"alert", "downgrade", "deny"};
    char path[PATH_CAP], sub[PATH_CAP];
    size_t i;
    json_t *t;

    if (!v)
        return fail(err, "thresholds", "is required");
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > POLICY_THRESHOLDS_MAX)
        return fail(err, "thresholds", "must be an array of 1 to %d thresholds",
                    POLICY_THRESHOLDS_MAX);
    json_array_foreach(v, i, t)
    {
        struct threshold *th = &b->thresholds[i];
        int a;
        path_index(path, sizeof(path), "thresholds", i);
        if (!json_is_object(t))
            return fail(err, path, "must be an object with at and action");
        if (!only_members(t, path, members, ARRAY_LEN(members), "a threshold", err))
            return false;
        path_member(sub, sizeof(sub), path, "at");
        if (!json_object_get(t, "at"))
            return fail(err, sub, "is required");
        if (!get_hundredths(json_object_get(t, "at"), sub, 0, true, 100000,
                            "above 0 and at most 1000 (a percent of the amount)", &th->percent_x100,
                            err))
            return false;
        path_member(sub, sizeof(sub), path, "action");
        if (!json_object_get(t, "action"))
            return fail(err, sub, "is required");
        if (!get_enum(json_object_get(t, "action"), sub, actions, ARRAY_LEN(actions), &a, err))
            return false;
        th->action = (enum action)(a + 1);
        for (size_t j = 0; j < i; j++)
            if (b->thresholds[j].percent_x100 == th->percent_x100 &&
                b->thresholds[j].action == th->action)
                return fail(err, path, "repeats thresholds[%zu]", j);
    }
    b->n_thresholds = json_array_size(v);
    qsort(b->thresholds, b->n_thresholds, sizeof(b->thresholds[0]), threshold_cmp);
    return true;
}

static bool parse_anchor(const json_t *doc, struct budget *b, struct policy_error *err)
{
    const json_t *v = json_object_get(doc, "anchor");
    json_int_t a;

    b->anchor = 1;
    if (!v)
        return true;
    if (!json_is_integer(v))
        return fail(err, "anchor", "must be an integer");
    a = json_integer_value(v);
    switch (b->period) {
    case PERIOD_MONTH:
    case PERIOD_QUARTER:
        if (a < 1 || a > 28)
            return fail(err, "anchor", "must be a day of the month from 1 to 28");
        break;
    case PERIOD_WEEK:
        if (a < 1 || a > 7)
            return fail(err, "anchor", "must be an ISO weekday from 1 (Monday) to 7 (Sunday)");
        break;
    default:
        if (a != 1)
            return fail(err, "anchor", "is only for periods week, month and quarter");
        break;
    }
    b->anchor = (int)a;
    return true;
}

bool policy_parse_budget(const json_t *doc, bool kind_required, struct budget *out,
                         struct policy_error *err)
{
    static const char *const members[] = {
        "kind",   "name",       "scope",     "amount_usd",    "period",    "timezone", "anchor",
        "window", "thresholds", "fail_mode", "deny_critical", "deny_free", "enabled"};
    static const char *const fail_modes[] = {"open", "closed"};
    const json_t *v;
    int e;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(doc))
        return fail(err, "", "must be a JSON object");
    if (!get_kind(doc, "budget", kind_required, err) ||
        !only_members(doc, "", members, ARRAY_LEN(members), "a budget", err))
        return false;
    if (!(v = json_object_get(doc, "name")))
        return fail(err, "name", "is required");
    if (!get_string(v, "name", POLICY_NAME_MAX, out->name, err))
        return false;
    if (!(v = json_object_get(doc, "scope")))
        return fail(err, "scope", "is required");
    if (!parse_scope(v, "scope", &out->scope, err) ||
        !parse_amount(json_object_get(doc, "amount_usd"), &out->amount, err))
        return false;
    if (!(v = json_object_get(doc, "period")))
        return fail(err, "period", "is required");
    if (!get_enum(v, "period", period_names, ARRAY_LEN(period_names), &e, err))
        return false;
    out->period = (enum period_kind)e;
    if (!get_timezone(doc, "timezone", "", out->timezone, err) || !parse_anchor(doc, out, err) ||
        !parse_window(doc, out, err) ||
        !parse_thresholds(json_object_get(doc, "thresholds"), out, err))
        return false;
    e = FAIL_OPEN;
    if ((v = json_object_get(doc, "fail_mode")) &&
        !get_enum(v, "fail_mode", fail_modes, ARRAY_LEN(fail_modes), &e, err))
        return false;
    out->fail_mode = (enum fail_mode)e;
    return get_bool(doc, "deny_critical", "", false, &out->deny_critical, err) &&
           get_bool(doc, "deny_free", "", false, &out->deny_free, err) &&
           get_bool(doc, "enabled", "", true, &out->enabled, err);
}

/* RFC 3339 UTC of unix seconds. */
static json_t *time_json(int64_t t)
{
    char buf[40];

    event_format_seconds(t, buf);
    return json_string(buf);
}

json_t *policy_budget_json(const struct budget *b)
{
    json_t *o = json_object(), *th = json_array();
    char amount[MONEY_BUF];

    if (!o || !th) {
        json_decref(o);
        json_decref(th);
        return NULL;
    }
    money_format_usd(b->amount, 2, amount);
    json_object_set_new(o, "kind", json_string("budget"));
    json_object_set_new(o, "name", json_string(b->name));
    json_object_set_new(o, "scope", scope_json(&b->scope));
    json_object_set_new(o, "amount_usd", json_string(amount));
    json_object_set_new(o, "period", json_string(period_names[b->period]));
    json_object_set_new(o, "timezone", json_string(b->timezone));
    json_object_set_new(o, "anchor", json_integer(b->anchor));
    if (b->period == PERIOD_FIXED)
        json_object_set_new(o, "window",
                            json_pack("{s:o,s:o}", "start", time_json(b->window_start), "end",
                                      time_json(b->window_end)));
    for (size_t i = 0; i < b->n_thresholds; i++)
        json_array_append_new(th, json_pack("{s:o,s:s}", "at",
                                            hundredths_json(b->thresholds[i].percent_x100),
                                            "action", policy_action_name(b->thresholds[i].action)));
    json_object_set_new(o, "thresholds", th);
    json_object_set_new(o, "fail_mode",
                        json_string(b->fail_mode == FAIL_CLOSED ? "closed" : "open"));
    json_object_set_new(o, "deny_critical", json_boolean(b->deny_critical));
    json_object_set_new(o, "deny_free", json_boolean(b->deny_free));
    json_object_set_new(o, "enabled", json_boolean(b->enabled));
    return o;
}

/* ---- routing policies ---------------------------------------------------------- */

static bool tier_name_valid(const char *s)
{
    return event_slug_valid(s) && strlen(s) < 32;
}

static bool parse_tiers(const json_t *v, struct routing_policy *p, struct policy_error *err)
{
    char path[PATH_CAP];
    size_t i;
    json_t *t;

    if (!v) {
        for (i = 0; i < ARRAY_LEN(default_tiers); i++)
            strcpy(p->tiers[i], default_tiers[i]);
        p->n_tiers = ARRAY_LEN(default_tiers);
        return true;
    }
    if (!json_is_array(v) || json_array_size(v) < 2 || json_array_size(v) > POLICY_TIERS_MAX)
        return fail(err, "tiers", "must be an array of 2 to %d tier names, top tier first",
                    POLICY_TIERS_MAX);
    json_array_foreach(v, i, t)
    {
        path_index(path, sizeof(path), "tiers", i);
        if (!json_is_string(t) || strlen(json_string_value(t)) != json_string_length(t) ||
            !tier_name_valid(json_string_value(t)))
            return fail(err, path,
                        "must be a tier name: lower-case letters, digits, '.', '_' or '-', at "
                        "most 31 bytes");
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->tiers[j], json_string_value(t)) == 0)
                return fail(err, path, "repeats tiers[%zu]", j);
        strcpy(p->tiers[i], json_string_value(t));
    }
    p->n_tiers = json_array_size(v);
    return true;
}

static bool provider_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof(((struct ladder *)0)->provider))
        return false;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* One chain (n_tiers entries, model strings or null) at path into p->ladders[p->n_ladders]. */
static bool parse_chain(const json_t *v, const char *path, const char *provider,
                        struct routing_policy *p, struct policy_error *err)
{
    char sub[PATH_CAP];
    struct ladder *l;
    size_t i, rungs = 0;
    json_t *m;

    if (!json_is_array(v) || json_array_size(v) != p->n_tiers)
        return fail(err, path, "must be a chain of %zu entries (one per tier, a model or null)",
                    p->n_tiers);
    if (p->n_ladders >= POLICY_LADDERS_MAX)
        return fail(err, path, "is one chain too many: at most %d in a policy", POLICY_LADDERS_MAX);
    l = &p->ladders[p->n_ladders];
    memset(l, 0, sizeof(*l));
    strcpy(l->provider, provider);
    json_array_foreach(v, i, m)
    {
        path_index(sub, sizeof(sub), path, i);
        if (json_is_null(m))
            continue;
        if (!json_is_string(m))
            return fail(err, sub, "must be a model name or null");
        if (!get_string(m, sub, POLICY_MODEL_MAX, l->models[i], err))
            return false;
        rungs++;
        /* A model sits at one tier per provider, in this chain and the earlier ones. */
        for (size_t k = 0; k <= p->n_ladders; k++) {
            const struct ladder *o = &p->ladders[k];
            if (strcmp(o->provider, provider) != 0)
                continue;
            for (size_t t = 0; t < p->n_tiers; t++)
                if ((k < p->n_ladders || t < i) && t != i && o->models[t][0] &&
                    strcasecmp(o->models[t], l->models[i]) == 0)
                    return fail(err, sub, "puts %s at tier %s, but it is already at tier %s",
                                l->models[i], p->tiers[i], p->tiers[t]);
        }
    }
    if (rungs < 2)
        return fail(err, path, "must name at least 2 models (a chain to downgrade along)");
    p->n_ladders++;
    return true;
}

static bool parse_ladders(const json_t *v, struct routing_policy *p, struct policy_error *err)
{
    char path[PATH_CAP], sub[PATH_CAP];
    const char *provider;
    json_t *chains, *c;
    size_t i;

    if (!v)
        return true;
    if (!json_is_object(v))
        return fail(err, "ladders", "must be an object of provider ids to chains of models");
    json_object_foreach((json_t *)v, provider, chains)
    {
        path_member(path, sizeof(path), "ladders", provider);
        if (!provider_id_valid(provider))
            return fail(err, path,
                        "is not a provider id: lower-case letters, digits, '.', '_' or '-', "
                        "at most 63 bytes, as in the price catalog");
        if (!json_is_array(chains) || json_array_size(chains) == 0)
            return fail(err, path, "must be a chain of %zu models (or nulls) or an array of chains",
                        p->n_tiers);
        if (!json_is_array(json_array_get(chains, 0)))
            if (!parse_chain(chains, path, provider, p, err))
                return false;
        if (json_is_array(json_array_get(chains, 0)))
            json_array_foreach(chains, i, c)
            {
                path_index(sub, sizeof(sub), path, i);
                if (!parse_chain(c, sub, provider, p, err))
                    return false;
            }
    }
    return true;
}

static bool parse_mix(const json_t *v, struct routing_policy *p, struct policy_error *err)
{
    static const char *const bases[] = {"spend", "requests"};
    static const char *const periods[] = {"day", "week", "month", "quarter"};
    char path[PATH_CAP];
    const char *key;
    json_t *m;
    int32_t sum = 0;
    int e;

    p->mix_period = PERIOD_MONTH;
    strcpy(p->mix_timezone, "UTC");
    if (!v)
        return true;
    if (!json_is_object(v))
        return fail(err, "target_mix", "must be an object with a percent for every tier");
    json_object_foreach((json_t *)v, key, m)
    {
        bool known =
            strcmp(key, "by") == 0 || strcmp(key, "period") == 0 || strcmp(key, "timezone") == 0;
        for (size_t t = 0; t < p->n_tiers && !known; t++)
            known = strcmp(key, p->tiers[t]) == 0;
        if (!known) {
            path_member(path, sizeof(path), "target_mix", key);
            return fail(err, path,
                        "unknown member \"%s\" of target_mix: not a tier, by, period or timezone",
                        key);
        }
    }
    if (p->n_ladders == 0)
        return fail(err, "target_mix", "needs ladders to move calls between tiers");
    for (size_t t = 0; t < p->n_tiers; t++) {
        path_member(path, sizeof(path), "target_mix", p->tiers[t]);
        if (!(m = json_object_get(v, p->tiers[t])))
            return fail(err, "target_mix", "needs a percent for tier \"%s\"", p->tiers[t]);
        if (!get_hundredths(m, path, 0, false, 10000, "from 0 to 100 (a percent)", &p->mix_bp[t],
                            err))
            return false;
        sum += p->mix_bp[t];
    }
    if (sum != 10000)
        return fail(err, "target_mix", "percents must sum to exactly 100, not %d.%02d", sum / 100,
                    sum % 100);
    e = MIX_BY_SPEND;
    if ((m = json_object_get(v, "by")) &&
        !get_enum(m, "target_mix.by", bases, ARRAY_LEN(bases), &e, err))
        return false;
    p->mix_basis = (enum mix_basis)e;
    e = PERIOD_MONTH;
    if ((m = json_object_get(v, "period")) &&
        !get_enum(m, "target_mix.period", periods, ARRAY_LEN(periods), &e, err))
        return false;
    p->mix_period = (enum period_kind)e;
    if (!get_timezone(v, "timezone", "target_mix", p->mix_timezone, err))
        return false;
    p->mix_set = true;
    return true;
}

static bool parse_cap(const json_t *v, struct routing_policy *p, struct policy_error *err)
{
    static const char *const members[] = {"max", "action"};
    static const char *const actions[] = {"downgrade", "deny"};
    const json_t *m;
    int a;

    if (!v)
        return true;
    if (!json_is_object(v))
        return fail(err, "input_token_cap", "must be an object with max and action");
    if (!only_members(v, "input_token_cap", members, ARRAY_LEN(members), "input_token_cap", err))
        return false;
    if (!(m = json_object_get(v, "max")))
        return fail(err, "input_token_cap.max", "is required");
    if (!json_is_integer(m) || json_integer_value(m) <= 0)
        return fail(err, "input_token_cap.max", "must be a positive integer (input tokens)");
    p->input_cap = (int64_t)json_integer_value(m);
    if (!(m = json_object_get(v, "action")))
        return fail(err, "input_token_cap.action", "is required");
    if (!get_enum(m, "input_token_cap.action", actions, ARRAY_LEN(actions), &a, err))
        return false;
    p->cap_action = a == 0 ? ACTION_DOWNGRADE : ACTION_DENY;
    return true;
}

static bool parse_patterns(const json_t *v, const char *path, char (*out)[POLICY_MODEL_MAX + 1],
                           size_t *n, struct policy_error *err)
{
    char sub[PATH_CAP];
    size_t i;
    json_t *s;

    if (!v)
        return true;
    if (!json_is_array(v) || json_array_size(v) > POLICY_PATTERNS_MAX)
        return fail(err, path, "must be an array of at most %d model patterns",
                    POLICY_PATTERNS_MAX);
    json_array_foreach(v, i, s)
    {
        const char *star;
        path_index(sub, sizeof(sub), path, i);
        if (!get_string(s, sub, POLICY_MODEL_MAX, out[i], err))
            return false;
        if ((star = strchr(out[i], '*')) && star[1] != '\0')
            return fail(err, sub, "may have '*' only as its last character");
    }
    *n = json_array_size(v);
    return true;
}

static bool parse_models(const json_t *v, struct routing_policy *p, struct policy_error *err)
{
    static const char *const members[] = {"allow", "deny"};

    if (!v)
        return true;
    if (!json_is_object(v))
        return fail(err, "models", "must be an object with allow and deny lists");
    return only_members(v, "models", members, ARRAY_LEN(members), "models", err) &&
           parse_patterns(json_object_get(v, "allow"), "models.allow", p->allow, &p->n_allow,
                          err) &&
           parse_patterns(json_object_get(v, "deny"), "models.deny", p->deny, &p->n_deny, err);
}

bool policy_parse_routing(const json_t *doc, bool kind_required, struct routing_policy *out,
                          struct policy_error *err)
{
    static const char *const members[] = {"kind",
                                          "name",
                                          "scope",
                                          "tiers",
                                          "ladders",
                                          "target_mix",
                                          "input_token_cap",
                                          "models",
                                          "critical_bypass",
                                          "enabled"};
    const json_t *v;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(doc))
        return fail(err, "", "must be a JSON object");
    if (!get_kind(doc, "policy", kind_required, err) ||
        !only_members(doc, "", members, ARRAY_LEN(members), "a policy", err))
        return false;
    if (!(v = json_object_get(doc, "name")))
        return fail(err, "name", "is required");
    if (!get_slug(v, "name", out->name, err))
        return false;
    if (!(v = json_object_get(doc, "scope")))
        return fail(err, "scope", "is required");
    return parse_scope(v, "scope", &out->scope, err) &&
           parse_tiers(json_object_get(doc, "tiers"), out, err) &&
           parse_ladders(json_object_get(doc, "ladders"), out, err) &&
           parse_mix(json_object_get(doc, "target_mix"), out, err) &&
           parse_cap(json_object_get(doc, "input_token_cap"), out, err) &&
           parse_models(json_object_get(doc, "models"), out, err) &&
           get_bool(doc, "critical_bypass", "", true, &out->critical_bypass, err) &&
           get_bool(doc, "enabled", "", true, &out->enabled, err);
}

static json_t *chain_json(const struct routing_policy *p, const struct ladder *l)
{
    json_t *a = json_array();
    for (size_t t = 0; t < p->n_tiers; t++)
        json_array_append_new(a, l->models[t][0] ? json_string(l->models[t]) : json_null());
    return a;
}

static json_t *patterns_json(const char (*pats)[POLICY_MODEL_MAX + 1], size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(pats[i]));
    return a;
}

json_t *policy_routing_json(const struct routing_policy *p)
{
    json_t *o = json_object(), *tiers = json_array(), *ladders = json_object();

    if (!o || !tiers || !ladders) {
        json_decref(o);
        json_decref(tiers);
        json_decref(ladders);
        return NULL;
    }
    json_object_set_new(o, "kind", json_string("policy"));
    json_object_set_new(o, "name", json_string(p->name));
    json_object_set_new(o, "scope", scope_json(&p->scope));
    for (size_t t = 0; t < p->n_tiers; t++)
        json_array_append_new(tiers, json_string(p->tiers[t]));
    json_object_set_new(o, "tiers", tiers);
    /* A provider's chains are contiguous (one member each): one chain bare, more in an array. */
    for (size_t i = 0; i < p->n_ladders;) {
        size_t j = i;
        while (j < p->n_ladders && strcmp(p->ladders[j].provider, p->ladders[i].provider) == 0)
            j++;
        if (j - i == 1) {
            json_object_set_new(ladders, p->ladders[i].provider, chain_json(p, &p->ladders[i]));
        } else {
            json_t *arr = json_array();
            for (size_t k = i; k < j; k++)
                json_array_append_new(arr, chain_json(p, &p->ladders[k]));
            json_object_set_new(ladders, p->ladders[i].provider, arr);
        }
        i = j;
    }
    json_object_set_new(o, "ladders", ladders);
    if (p->mix_set) {
        json_t *mix = json_object();
        for (size_t t = 0; t < p->n_tiers; t++)
            json_object_set_new(mix, p->tiers[t], hundredths_json(p->mix_bp[t]));
        json_object_set_new(mix, "by",
                            json_string(p->mix_basis == MIX_BY_REQUESTS ? "requests" : "spend"));
        json_object_set_new(mix, "period", json_string(period_names[p->mix_period]));
        json_object_set_new(mix, "timezone", json_string(p->mix_timezone));
        json_object_set_new(o, "target_mix", mix);
    }
    if (p->input_cap > 0)
        json_object_set_new(o, "input_token_cap",
                            json_pack("{s:I,s:s}", "max", (json_int_t)p->input_cap, "action",
                                      policy_action_name(p->cap_action)));
    json_object_set_new(o, "models",
                        json_pack("{s:o,s:o}", "allow", patterns_json(p->allow, p->n_allow), "deny",
                                  patterns_json(p->deny, p->n_deny)));
    json_object_set_new(o, "critical_bypass", json_boolean(p->critical_bypass));
    json_object_set_new(o, "enabled", json_boolean(p->enabled));
    return o;
}

/* ---- models and ladders ------------------------------------------------------- */

bool policy_pattern_match(const char *pattern, const char *model)
{
    size_t n = strlen(pattern);

    if (n > 0 && pattern[n - 1] == '*')
        return strncasecmp(pattern, model, n - 1) == 0;
    return strcasecmp(pattern, model) == 0;
}

/* The first chain of provider with model, and the model's tier in it. */
static const struct ladder *find_rung(const struct routing_policy *p, const char *provider,
                                      const char *model, size_t *tier)
{
    for (size_t i = 0; i < p->n_ladders; i++) {
        const struct ladder *l = &p->ladders[i];
        if (strcasecmp(l->provider, provider) != 0)
            continue;
        for (size_t t = 0; t < p->n_tiers; t++)
            if (l->models[t][0] && strcasecmp(l->models[t], model) == 0) {
                *tier = t;
                return l;
            }
    }
    return NULL;
}

int policy_tier_of(const struct routing_policy *p, const char *provider, const char *model)
{
    size_t t;
    return find_rung(p, provider, model, &t) ? (int)t : -1;
}

const char *policy_downgrade(const struct routing_policy *p, const char *provider,
                             const char *model)
{
    size_t t;
    const struct ladder *l = find_rung(p, provider, model, &t);

    for (t++; l && t < p->n_tiers; t++)
        if (l->models[t][0])
            return l->models[t];
    return NULL;
}

/* ---- locating a path in JSON text ---------------------------------------------- */

struct scan {
    const char *s;
    size_t len, pos;
    int line, column;
};

static int peek(const struct scan *sc)
{
    return sc->pos < sc->len ? (unsigned char)sc->s[sc->pos] : -1;
}

/* Moves one byte on; columns count characters, as jansson's do. */
static void advance(struct scan *sc)
{
    unsigned char c = (unsigned char)sc->s[sc->pos++];
    if (c == '\n') {
        sc->line++;
        sc->column = 0;
    } else if ((c & 0xC0) != 0x80) {
        sc->column++;
    }
}

static void skip_ws(struct scan *sc)
{
    int c;
    while ((c = peek(sc)) == ' ' || c == '\t' || c == '\n' || c == '\r')
        advance(sc);
}

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static bool read_hex4(struct scan *sc, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(peek(sc));
        if (h < 0)
            return false;
        v = v * 16 + (unsigned)h;
        advance(sc);
    }
    *out = v;
    return true;
}

static size_t put_utf8(unsigned cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * Reads a string at the cursor, decoding it into buf (cap bytes; *n is the
 * decoded length, which may exceed cap: then buf holds a prefix).
 */
static bool read_string(struct scan *sc, char *buf, size_t cap, size_t *n)
{
    char tmp[4];
    size_t k;
    int c;

    *n = 0;
    if (peek(sc) != '"')
        return false;
    advance(sc);
    while ((c = peek(sc)) != '"') {
        if (c < 0)
            return false;
        advance(sc);
        k = 1;
        tmp[0] = (char)c;
        if (c == '\\') {
            unsigned cp, lo;
            c = peek(sc);
            if (c < 0)
                return false;
            advance(sc);
            switch (c) {
            case 'b':
                tmp[0] = '\b';
                break;
            case 'f':
                tmp[0] = '\f';
                break;
            case 'n':
                tmp[0] = '\n';
                break;
            case 'r':
                tmp[0] = '\r';
                break;
            case 't':
                tmp[0] = '\t';
                break;
            case 'u':
                if (!read_hex4(sc, &cp))
                    return false;
                if (cp >= 0xD800 && cp < 0xDC00 && peek(sc) == '\\') {
                    advance(sc);
                    if (peek(sc) != 'u')
                        return false;
                    advance(sc);
                    if (!read_hex4(sc, &lo))
                        return false;
                    if (lo >= 0xDC00 && lo < 0xE000)
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                k = put_utf8(cp, tmp);
                break;
            default:
                tmp[0] = (char)c;
                break;
            }
        }
        for (size_t i = 0; i < k; i++, (*n)++)
            if (*n < cap)
                buf[*n] = tmp[i];
    }
    advance(sc);
    return true;
}

/* Skips one value (the text is known to be JSON). */
static bool skip_value(struct scan *sc)
{
    size_t depth = 0, n;
    int c;

    do {
        skip_ws(sc);
        c = peek(sc);
        if (c < 0)
            return false;
        if (c == '"') {
            if (!read_string(sc, NULL, 0, &n))
                return false;
        } else if (c == '[' || c == '{') {
            depth++;
            advance(sc);
        } else if (c == ']' || c == '}') {
            if (depth == 0)
                return false;
            depth--;
            advance(sc);
        } else if (c == ',' || c == ':') {
            if (depth == 0)
                return false;
            advance(sc);
        } else {
            size_t start = sc->pos;
            while ((c = peek(sc)) > 0 && !strchr(" \t\r\n,:]}[{\"", c))
                advance(sc);
            if (sc->pos == start) /* a NUL byte or the like: not JSON */
                return false;
        }
    } while (depth > 0);
    return true;
}

/* Follows path from the value at the cursor; on success the cursor is at the value. */
static bool follow(struct scan *sc, const char *path)
{
    char key[512];
    size_t n;

    skip_ws(sc);
    if (*path == '\0')
        return sc->pos < sc->len;
    if (*path == '[') {
        char *end;
        unsigned long idx;
        if (!(path[1] >= '0' && path[1] <= '9'))
            return false;
        idx = strtoul(path + 1, &end, 10);
        if (*end != ']' || peek(sc) != '[')
            return false;
        advance(sc);
        for (unsigned long i = 0;; i++) {
            skip_ws(sc);
            if (peek(sc) == ']')
                return false;
            if (i == idx)
                return follow(sc, end + 1);
            if (!skip_value(sc))
                return false;
            skip_ws(sc);
            if (peek(sc) != ',')
                return false;
            advance(sc);
        }
    }
    if (*path == '.')
        path++;
    if (peek(sc) != '{')
        return false;
    advance(sc);
    for (;;) {
        skip_ws(sc);
        if (peek(sc) == '}' || !read_string(sc, key, sizeof(key), &n))
            return false;
        skip_ws(sc);
        if (peek(sc) != ':')
            return false;
        advance(sc);
        if (n <= sizeof(key) && strncmp(path, key, n) == 0 && memchr(key, '\0', n) == NULL &&
            (path[n] == '\0' || path[n] == '.' || path[n] == '[')) {
            struct scan at = *sc;
            if (follow(&at, path + n)) {
                *sc = at;
                return true;
            }
        }
        if (!skip_value(sc))
            return false;
        skip_ws(sc);
        if (peek(sc) != ',')
            return false;
        advance(sc);
    }
}

static bool locate(const char *text, size_t len, const char *path, int *line, int *column)
{
    struct scan sc = {text, len, 0, 1, 0};

    if (!follow(&sc, path))
        return false;
    *line = sc.line;
    *column = sc.column + 1;
    return true;
}

bool policy_locate(const char *text, size_t len, const char *path, int *line, int *column)
{
    json_t *j = json_loadb(text, len, 0, NULL);

    if (!j)
        return false;
    json_decref(j);
    return locate(text, len, path, line, column);
}

/* Locates path, or failing that its nearest ancestor that is in the text. */
static void locate_error(const char *text, size_t len, struct policy_error *e)
{
    char path[sizeof(e->path)];

    memcpy(path, e->path, sizeof(path));
    for (;;) {
        size_t cut;
        if (locate(text, len, path, &e->line, &e->column))
            return;
        if (path[0] == '\0')
            break;
        for (cut = strlen(path); cut > 0 && path[cut - 1] != '.' && path[cut - 1] != '['; cut--)
            ;
        path[cut > 0 ? cut - 1 : 0] = '\0';
    }
    e->line = e->column = 0;
}

/* ---- files --------------------------------------------------------------------- */

union doc {
    struct budget b;
    struct routing_policy p;
};

/* Parses one document; err's path is relative to it. */
static bool parse_doc(const json_t *doc, union doc *d,
                      void (*budget_fn)(void *, const struct budget *),
                      void (*policy_fn)(void *, const struct routing_policy *), void *arg,
                      struct policy_error *err)
{
    const json_t *kind;

    if (!json_is_object(doc))
        return fail(err, "", "must be a JSON object (a budget or a policy)");
    kind = json_object_get(doc, "kind");
    if (!kind)
        return fail(err, "kind", "is required: \"budget\" or \"policy\"");
    if (json_is_string(kind) && strcmp(json_string_value(kind), "budget") == 0) {
        if (!policy_parse_budget(doc, true, &d->b, err))
            return false;
        if (budget_fn)
            budget_fn(arg, &d->b);
        return true;
    }
    if (json_is_string(kind) && strcmp(json_string_value(kind), "policy") == 0) {
        if (!policy_parse_routing(doc, true, &d->p, err))
            return false;
        if (policy_fn)
            policy_fn(arg, &d->p);
        return true;
    }
    return fail(err, "kind", "must be \"budget\" or \"policy\"");
}

int policy_parse_file(const char *text, size_t len,
                      void (*budget_fn)(void *arg, const struct budget *b),
                      void (*policy_fn)(void *arg, const struct routing_policy *p), void *arg,
                      struct policy_error *errs, size_t errs_cap, size_t *n_errs)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    union doc *d;
    struct policy_error e;
    int failed = 0;
    size_t n = 0, count;

    if (n_errs)
        *n_errs = 0;
    if (!root) {
        if (errs && errs_cap > 0) {
            fail(&errs[0], "", "is not JSON: %s", jerr.text);
            errs[0].line = jerr.line > 0 ? jerr.line : 0;
            errs[0].column = jerr.column > 0 ? jerr.column : 0;
            if (n_errs)
                *n_errs = 1;
        }
        return -1;
    }
    d = malloc(sizeof(*d));
    count = json_is_array(root) ? json_array_size(root) : 1;
    for (size_t i = 0; i < count; i++) {
        const json_t *doc = json_is_array(root) ? json_array_get(root, i) : root;
        if (!d) {
            fail(&e, "", "out of memory");
        } else if (parse_doc(doc, d, budget_fn, policy_fn, arg, &e)) {
            continue;
        }
        failed++;
        if (json_is_array(root)) {
            char rel[sizeof(e.path)];
            memcpy(rel, e.path, sizeof(rel));
            path_index(e.path, sizeof(e.path), "", i);
            if (rel[0])
                append(e.path, sizeof(e.path), ".");
            append(e.path, sizeof(e.path), rel);
        }
        locate_error(text, len, &e);
        if (errs && n < errs_cap)
            errs[n++] = e;
    }
    if (n_errs)
        *n_errs = n;
    free(d);
    json_decref(root);
    return failed;
}
