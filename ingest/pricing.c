/*
 * pricing: the price catalog in memory (providers, models, match rules
 * compiled once, dated and tiered price rows) and the exact cost of a call.
 * The catalog owns copies of everything it is given; views hand out
 * pointers into it, valid until catalog_free. Building is single-threaded;
 * a built catalog is only read, by any number of threads (regexec is
 * thread-safe). Pure: no I/O, no clock.
 */
#include "pricing.h"
#include "calendar.h"

#include <assert.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CATALOG_MAGIC 0x70726963u /* "pric" */
#define ID_MAX        200         /* bytes of a provider or model id */
#define NOT_FOUND     SIZE_MAX

/* ---- small helpers ------------------------------------------------------ */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Whether s starts with a member path ("input: ", "or[1].regex", "prices[0]."). */
static bool starts_with_path(const char *s)
{
    size_t i = 0;

    while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_')
        i++;
    return i > 0 && (s[i] == '.' || s[i] == '[' || s[i] == ':');
}

/*
 * Puts the path of the enclosing member before err (already filled), so
 * that the message names the innermost place: "models[3]" + "match: ..."
 * gives "models[3].match: ...", and + "already there" "models[3]: already
 * there".
 */
static void prefix_err(char *err, size_t errlen, const char *path)
{
    char tmp[512];

    if (!err || errlen == 0)
        return;
    snprintf(tmp, sizeof(tmp), "%s%s%s", path, starts_with_path(err) ? "." : ": ", err);
    snprintf(err, errlen, "%s", tmp);
}

static char lower(char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

/* A lower-cased copy of s[0..len), or NULL when out of memory. */
static char *lower_dup(const char *s, size_t len)
{
    char *d = malloc(len + 1);

    if (!d)
        return NULL;
    for (size_t i = 0; i < len; i++)
        d[i] = lower(s[i]);
    d[len] = '\0';
    return d;
}

/* Whether s[0..n) equals the lower-case text low[0..n), ignoring the case of s. */
static bool ci_eq(const char *s, const char *low, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower(s[i]) != low[i])
            return false;
    return true;
}

static bool ci_contains(const char *s, size_t slen, const char *low, size_t n)
{
    if (n > slen)
        return false;
    for (size_t i = 0; i + n <= slen; i++)
        if (ci_eq(s + i, low, n))
            return true;
    return false;
}

/* FNV-1a over the lower-cased bytes. */
static uint64_t ci_hash(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)lower(s[i]);
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Grows *p (of *cap elements of size sz) to hold n + 1; false when out of memory. */
static bool grow(void **p, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *np = realloc(*p, ncap * sz);
    if (!np)
        return false;
    *p = np;
    *cap = ncap;
    return true;
}

/* ---- a case-insensitive string -> index map (open addressing) ---------- */

/*
 * Keys are borrowed: lower-case text owned by a rule, a model or a
 * provider of the same catalog, which outlive the map. Inserting never
 * fails once strmap_reserve has made room, so an add either fails before
 * it touches a map or completes.
 */
struct slot {
    const char *key; /* NULL = empty */
    size_t len;
    size_t val;
};

struct strmap {
    struct slot *slots;
    size_t cap; /* a power of two, or 0 */
    size_t n;
};

static size_t strmap_get(const struct strmap *m, const char *s, size_t len)
{
    if (m->cap == 0)
        return NOT_FOUND;
    for (size_t i = ci_hash(s, len) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        const struct slot *sl = &m->slots[i];
        if (!sl->key)
            return NOT_FOUND;
        if (sl->len == len && ci_eq(s, sl->key, len))
            return sl->val;
    }
}

static void strmap_place(struct strmap *m, const char *key, size_t len, size_t val)
{
    size_t i = ci_hash(key, len) & (m->cap - 1);

    while (m->slots[i].key)
        i = (i + 1) & (m->cap - 1);
    m->slots[i] = (struct slot){key, len, val};
    m->n++;
}

/* Makes room for extra more keys at a load of at most 1/2; false when out of memory. */
static bool strmap_reserve(struct strmap *m, size_t extra)
{
    size_t cap = m->cap ? m->cap : 16;

    while ((m->n + extra) * 2 > cap)
        cap *= 2;
    if (cap == m->cap)
        return true;
    struct strmap bigger = {calloc(cap, sizeof(struct slot)), cap, 0};
    if (!bigger.slots)
        return false;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            strmap_place(&bigger, m->slots[i].key, m->slots[i].len, m->slots[i].val);
    free(m->slots);
    *m = bigger;
    return true;
}

/*
 * Maps the lower-case key to val unless it is there already: the first
 * value stays (the earliest model wins). Needs room made by strmap_reserve.
 */
static void strmap_put_first(struct strmap *m, const char *key, size_t len, size_t val)
{
    assert((m->n + 1) * 2 <= m->cap);
    if (strmap_get(m, key, len) == NOT_FOUND)
        strmap_place(m, key, len, val);
}

static void strmap_free(struct strmap *m)
{
    free(m->slots);
    *m = (struct strmap){0};
}

/* ---- match rules -------------------------------------------------------- */

enum rule_kind { R_EQUALS, R_STARTS, R_ENDS, R_CONTAINS, R_REGEX, R_OR, R_AND, R_NOT };

static const char *const rule_names[] = {"equals", "starts_with", "ends_with", "contains",
                                         "regex",  "or",          "and",       "not"};

struct rule {
    enum rule_kind kind;
    char *s; /* string leaves but R_REGEX: the text, lower-cased */
    size_t len;
    regex_t re;        /* R_REGEX */
    bool re_ok;        /* re is compiled and must be freed */
    struct rule *kids; /* R_OR, R_AND (n of them), R_NOT (one) */
    size_t n;
};

static void rule_free(struct rule *r)
{
    for (size_t i = 0; i < r->n; i++)
        rule_free(&r->kids[i]);
    free(r->kids);
    free(r->s);
    if (r->re_ok)
        regfree(&r->re);
    *r = (struct rule){0};
}

/*
 * Compiles the JSON rule j into *r (zeroed by the caller). On failure err
 * names the place inside the rule ("or[1].regex: ...") and *r holds
 * whatever was built, for rule_free.
 */
static bool rule_build(struct rule *r, const json_t *j, int depth, char *err, size_t errlen)
{
    const char *key;
    const json_t *v;
    int kind = -1;

    if (depth > PRICING_RULE_DEPTH) {
        set_err(err, errlen, "rule nested deeper than %d", PRICING_RULE_DEPTH);
        return false;
    }
    if (!json_is_object(j) || json_object_size(j) != 1) {
        set_err(err, errlen, "a rule is an object with exactly one member");
        return false;
    }
    json_object_foreach((json_t *)j, key, v)
    {
        for (int k = 0; k < (int)(sizeof(rule_names) / sizeof(rule_names[0])); k++)
            if (!strcmp(key, rule_names[k]))
                kind = k;
        break;
    }
    if (kind < 0) {
        set_err(err, errlen, "unknown rule \"%s\"", key);
        return false;
    }
    r->kind = (enum rule_kind)kind;
    switch (r->kind) {
    case R_EQUALS:
    case R_STARTS:
    case R_ENDS:
    case R_CONTAINS:
    case R_REGEX:
        if (!json_is_string(v)) {
            set_err(err, errlen, "%s: wants a string", key);
            return false;
        }
        r->len = json_string_length(v);
        if (memchr(json_string_value(v), '\0', r->len)) {
            set_err(err, errlen, "%s: contains a NUL byte", key);
            return false;
        }
        if (r->kind == R_REGEX) {
            /* As written (REG_ICASE folds case): lower-casing could change "\S" into "\s". */
            int rc = regcomp(&r->re, json_string_value(v), REG_EXTENDED | REG_ICASE | REG_NOSUB);
            if (rc != 0) {
                char msg[128];
                regerror(rc, &r->re, msg, sizeof(msg));
                set_err(err, errlen, "regex: \"%s\" is not POSIX extended: %s",
                        json_string_value(v), msg);
                return false;
            }
            r->re_ok = true;
            return true;
        }
        if (!(r->s = lower_dup(json_string_value(v), r->len))) {
            set_err(err, errlen, "out of memory");
            return false;
        }
        return true;
    case R_OR:
    case R_AND:
        if (!json_is_array(v) || json_array_size(v) == 0) {
            set_err(err, errlen, "%s: wants a non-empty array of rules", key);
            return false;
        }
        if (!(r->kids = calloc(json_array_size(v), sizeof(*r->kids)))) {
            set_err(err, errlen, "out of memory");
            return false;
        }
        for (size_t i = 0; i < json_array_size(v); i++) {
            r->n = i + 1;
            if (!rule_build(&r->kids[i], json_array_get(v, i), depth + 1, err, errlen)) {
                char pre[32];
                snprintf(pre, sizeof(pre), "%s[%zu]", key, i);
                prefix_err(err, errlen, pre);
                return false;
            }
        }
        return true;
    case R_NOT:
        if (!(r->kids = calloc(1, sizeof(*r->kids)))) {
            set_err(err, errlen, "out of memory");
            return false;
        }
        r->n = 1;
        if (!rule_build(&r->kids[0], v, depth + 1, err, errlen)) {
            prefix_err(err, errlen, "not");
            return false;
        }
        return true;
    }
    return false;
}

/* Whether rule r accepts s (of length len), ignoring case. */
static bool rule_match(const struct rule *r, const char *s, size_t len)
{
    switch (r->kind) {
    case R_EQUALS:
        return len == r->len && ci_eq(s, r->s, len);
    case R_STARTS:
        return len >= r->len && ci_eq(s, r->s, r->len);
    case R_ENDS:
        return len >= r->len && ci_eq(s + len - r->len, r->s, r->len);
    case R_CONTAINS:
        return ci_contains(s, len, r->s, r->len);
    case R_REGEX:
        return regexec(&r->re, s, 0, NULL, 0) == 0;
    case R_OR:
        for (size_t i = 0; i < r->n; i++)
            if (rule_match(&r->kids[i], s, len))
                return true;
        return false;
    case R_AND:
        for (size_t i = 0; i < r->n; i++)
            if (!rule_match(&r->kids[i], s, len))
                return false;
        return true;
    case R_NOT:
        return !rule_match(&r->kids[0], s, len);
    }
    return false;
}

/* Whether r is only "equals" leaves under "or" nodes: a hash lookup decides it. */
static bool rule_is_plain(const struct rule *r)
{
    if (r->kind == R_EQUALS)
        return true;
    if (r->kind != R_OR)
        return false;
    for (size_t i = 0; i < r->n; i++)
        if (!rule_is_plain(&r->kids[i]))
            return false;
    return true;
}

/* The number of "equals" leaves reachable from r through "or" nodes only. */
static size_t rule_count_equals(const struct rule *r)
{
    size_t n = r->kind == R_EQUALS;

    if (r->kind == R_OR)
        for (size_t i = 0; i < r->n; i++)
            n += rule_count_equals(&r->kids[i]);
    return n;
}

/*
 * Maps every "equals" leaf reachable from r through "or" nodes only (each
 * is enough for r to match) to val, in a map with room for them.
 */
static void rule_index_equals(const struct rule *r, struct strmap *m, size_t val)
{
    if (r->kind == R_EQUALS)
        strmap_put_first(m, r->s, r->len, val);
    if (r->kind == R_OR)
        for (size_t i = 0; i < r->n; i++)
            rule_index_equals(&r->kids[i], m, val);
}

/*
 * Builds *r and *copy from match, or from {"equals": id} when match is NULL;
 * errors are prefixed with the member's name, what.
 */
static bool rule_from_match(const json_t *match, const char *id, const char *what, struct rule *r,
                            json_t **copy, char *err, size_t errlen)
{
    json_t *j = match ? json_deep_copy(match) : json_pack("{s:s}", "equals", id);

    *r = (struct rule){0};
    if (!j) {
        set_err(err, errlen, "out of memory");
        return false;
    }
    if (!rule_build(r, j, 1, err, errlen)) {
        prefix_err(err, errlen, what);
        rule_free(r);
        json_decref(j);
        return false;
    }
    *copy = j;
    return true;
}

/* ---- the catalog -------------------------------------------------------- */

struct model {
    char *id;
    char *id_low;    /* lower-cased id: the key of provider.ids */
    size_t provider; /* index into catalog.providers */
    struct rule rule;
    json_t *match;
    struct price *prices;
    size_t n_prices, cap_prices;
};

struct provider {
    char *id;
    struct rule rule;
    json_t *match;
    struct rule model_rule; /* valid when model_match != NULL */
    json_t *model_match;
    size_t *models; /* indexes into catalog.models, in the order added */
    size_t n_models, cap_models;
    struct strmap ids;    /* model id -> position in models */
    struct strmap equals; /* "equals" text -> earliest position in models whose rule it satisfies */
    size_t *scan;         /* positions whose rules are not plain equals, ascending */
    size_t n_scan, cap_scan;
};

struct catalog {
    unsigned magic;
    struct provider *providers;
    size_t n_providers, cap_providers;
    struct model **models; /* in the order added; pointers stay put as the array grows */
    size_t n_models, cap_models;
    struct strmap provider_ids; /* provider id -> index */
};

struct catalog *catalog_new(void)
{
    struct catalog *c = calloc(1, sizeof(*c));

    if (c)
        c->magic = CATALOG_MAGIC;
    return c;
}

void catalog_free(struct catalog **cp)
{
    struct catalog *c = cp ? *cp : NULL;

    if (!c)
        return;
    assert(c->magic == CATALOG_MAGIC);
    for (size_t i = 0; i < c->n_models; i++) {
        struct model *m = c->models[i];
        free(m->id);
        free(m->id_low);
        rule_free(&m->rule);
        json_decref(m->match);
        free(m->prices);
        free(m);
    }
    free(c->models);
    for (size_t i = 0; i < c->n_providers; i++) {
        struct provider *p = &c->providers[i];
        free(p->id);
        rule_free(&p->rule);
        json_decref(p->match);
        if (p->model_match)
            rule_free(&p->model_rule);
        json_decref(p->model_match);
        free(p->models);
        strmap_free(&p->ids);
        strmap_free(&p->equals);
        free(p->scan);
    }
    free(c->providers);
    strmap_free(&c->provider_ids);
    c->magic = 0;
    free(c);
    *cp = NULL;
}

static bool valid_provider_id(const char *id)
{
    size_t len = id ? strlen(id) : 0;

    if (len == 0 || len > ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = id[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                  (i > 0 && (ch == '.' || ch == '_' || ch == '-'));
        if (!ok)
            return false;
    }
    return true;
}

static struct provider *find_provider(const struct catalog *c, const char *id)
{
    size_t i = id ? strmap_get(&c->provider_ids, id, strlen(id)) : NOT_FOUND;

    return i == NOT_FOUND ? NULL : &c->providers[i];
}

static struct model *find_model(const struct catalog *c, const struct provider *p, const char *id)
{
    size_t pos = id ? strmap_get(&p->ids, id, strlen(id)) : NOT_FOUND;

    return pos == NOT_FOUND ? NULL : c->models[p->models[pos]];
}

bool catalog_add_provider(struct catalog *c, const char *id, const json_t *match, char *err,
                          size_t errlen)
{
    struct provider p = {0};

    assert(c && c->magic == CATALOG_MAGIC);
    if (!valid_provider_id(id)) {
        set_err(err, errlen, "id: \"%s\" is not ^[a-z0-9][a-z0-9._-]*$ (1 to %d bytes)",
                id ? id : "(null)", ID_MAX);
        return false;
    }
    if (find_provider(c, id)) {
        set_err(err, errlen, "provider \"%s\" is already in the catalog", id);
        return false;
    }
    if (!rule_from_match(match, id, "match", &p.rule, &p.match, err, errlen))
        return false;
    if (!(p.id = strdup(id)) ||
        !grow((void **)&c->providers, &c->cap_providers, c->n_providers, sizeof(p)) ||
        !strmap_reserve(&c->provider_ids, 1)) {
        free(p.id);
        rule_free(&p.rule);
        json_decref(p.match);
        set_err(err, errlen, "out of memory");
        return false;
    }
    strmap_put_first(&c->provider_ids, p.id, strlen(p.id), c->n_providers);
    c->providers[c->n_providers++] = p;
    return true;
}

bool catalog_set_provider_model_match(struct catalog *c, const char *provider,
                                      const json_t *model_match, char *err, size_t errlen)
{
    struct provider *p;
    struct rule r;
    json_t *copy = NULL;

    assert(c && c->magic == CATALOG_MAGIC);
    if (!(p = find_provider(c, provider))) {
        set_err(err, errlen, "unknown provider \"%s\"", provider ? provider : "(null)");
        return false;
    }
    if (!model_match) {
        set_err(err, errlen, "model_match: missing");
        return false;
    }
    if (!rule_from_match(model_match, NULL, "model_match", &r, &copy, err, errlen))
        return false;
    if (p->model_match) {
        rule_free(&p->model_rule);
        json_decref(p->model_match);
    }
    p->model_rule = r;
    p->model_match = copy;
    return true;
}

bool catalog_add_model(struct catalog *c, const char *provider, const char *model,
                       const json_t *match, char *err, size_t errlen)
{
    struct provider *p;
    struct model *m = NULL;
    size_t pos;

    assert(c && c->magic == CATALOG_MAGIC);
    if (!(p = find_provider(c, provider))) {
        set_err(err, errlen, "unknown provider \"%s\"", provider ? provider : "(null)");
        return false;
    }
    if (!model || !*model || strlen(model) > ID_MAX) {
        set_err(err, errlen, "id: a model id is 1 to %d bytes", ID_MAX);
        return false;
    }
    if (find_model(c, p, model)) {
        set_err(err, errlen, "model \"%s\" of \"%s\" is already in the catalog", model, p->id);
        return false;
    }
    if (!(m = calloc(1, sizeof(*m)))) {
        set_err(err, errlen, "out of memory");
        return false;
    }
    if (!rule_from_match(match, model, "match", &m->rule, &m->match, err, errlen)) {
        free(m);
        return false;
    }
    m->provider = (size_t)(p - c->providers);
    pos = p->n_models;
    /* Make room everywhere first: past this point nothing can fail. */
    if (!(m->id = strdup(model)) || !(m->id_low = lower_dup(model, strlen(model))) ||
        !grow((void **)&c->models, &c->cap_models, c->n_models, sizeof(*c->models)) ||
        !grow((void **)&p->models, &p->cap_models, p->n_models, sizeof(*p->models)) ||
        !grow((void **)&p->scan, &p->cap_scan, p->n_scan, sizeof(*p->scan)) ||
        !strmap_reserve(&p->ids, 1) || !strmap_reserve(&p->equals, rule_count_equals(&m->rule))) {
        free(m->id);
        free(m->id_low);
        rule_free(&m->rule);
        json_decref(m->match);
        free(m);
        set_err(err, errlen, "out of memory");
        return false;
    }
    strmap_put_first(&p->ids, m->id_low, strlen(m->id_low), pos);
    rule_index_equals(&m->rule, &p->equals, pos);
    if (!rule_is_plain(&m->rule))
        p->scan[p->n_scan++] = pos;
    p->models[p->n_models++] = c->n_models;
    c->models[c->n_models++] = m;
    return true;
}

/* ---- price rows --------------------------------------------------------- */

static const char *const mode_names[MODE_COUNT] = {"standard", "batch", "flex", "priority"};

bool pricing_parse_mode(const char *s, enum usage_mode *out)
{
    for (int m = 0; s && m < MODE_COUNT; m++)
        if (!strcmp(s, mode_names[m])) {
            *out = (enum usage_mode)m;
            return true;
        }
    return false;
}

const char *pricing_mode_name(enum usage_mode m)
{
    return m >= 0 && m < MODE_COUNT ? mode_names[m] : "unknown";
}

int64_t pricing_prompt_tokens(const struct tokens *t)
{
    const int64_t parts[] = {t->input_uncached, t->cache_read, t->cache_write_5m,
                             t->cache_write_1h};
    int64_t sum = 0;

    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        sum = parts[i] > INT64_MAX - sum ? INT64_MAX : sum + parts[i]; /* saturates */
    return sum;
}

bool pricing_parse_mtok(const char *usd_per_mtok, int64_t *out)
{
    money_t v;

    /* femto-USD per Mtok with at most 6 decimals: divisible by 1e9, so by 1e6 */
    if (!money_parse_usd(usd_per_mtok, 6, &v) || v / 1000000 > PRICE_MAX)
        return false;
    *out = (int64_t)(v / 1000000);
    return true;
}

static const char *const class_names[] = {"input", "cache_read", "cache_write_5m", "cache_write_1h",
                                          "output"};

/* The five class prices of p, in class_names order. */
static void class_prices(const struct price *p, int64_t out[5])
{
    out[0] = p->input;
    out[1] = p->cache_read;
    out[2] = p->cache_write_5m;
    out[3] = p->cache_write_1h;
    out[4] = p->output;
}

/* Checks a row against the rules catalog_add_price states; err says why not. */
static bool price_valid(const struct price *p, char *err, size_t errlen)
{
    int64_t cls[5];

    class_prices(p, cls);
    if (p->min_prompt_tokens < 0) {
        set_err(err, errlen, "min_prompt_tokens is negative");
        return false;
    }
    if (p->org_id < 0) {
        set_err(err, errlen, "org_id is negative");
        return false;
    }
    if (p->mode_milli[MODE_STANDARD] != 1000) {
        set_err(err, errlen, "the standard multiplier must be 1 (1000 thousandths)");
        return false;
    }
    for (int m = 1; m < MODE_COUNT; m++) {
        if (p->mode_milli[m] == PRICE_NONE)
            continue;
        if (p->mode_milli[m] < 0 || p->mode_milli[m] > MODE_MILLI_MAX) {
            set_err(err, errlen, "%s multiplier %d/1000 is negative or above %dx", mode_names[m],
                    (int)p->mode_milli[m], MODE_MILLI_MAX / 1000);
            return false;
        }
    }
    for (int k = 0; k < 5; k++) {
        bool optional = k >= 1 && k <= 3;
        if (cls[k] == PRICE_NONE && optional)
            continue;
        if (cls[k] < 0 || cls[k] > PRICE_MAX) {
            set_err(err, errlen, "%s price %lld femto-USD/token is %s", class_names[k],
                    (long long)cls[k], cls[k] < 0 ? "negative or missing" : "above PRICE_MAX");
            return false;
        }
        for (int m = 1; m < MODE_COUNT; m++) {
            int32_t milli = p->mode_milli[m];
            if (milli != PRICE_NONE && ((money_t)cls[k] * milli) % 1000 != 0) {
                set_err(err, errlen,
                        "%s price %lld femto-USD/token x %s %d/1000 is not a whole number of "
                        "femto-dollars",
                        class_names[k], (long long)cls[k], mode_names[m], (int)milli);
                return false;
            }
        }
    }
    return true;
}

bool catalog_add_price(struct catalog *c, const char *provider, const char *model,
                       const struct price *p, char *err, size_t errlen)
{
    struct provider *pv;
    struct model *m;

    assert(c && c->magic == CATALOG_MAGIC && p);
    if (!(pv = find_provider(c, provider))) {
        set_err(err, errlen, "unknown provider \"%s\"", provider ? provider : "(null)");
        return false;
    }
    if (!(m = find_model(c, pv, model))) {
        set_err(err, errlen, "unknown model \"%s\" of \"%s\"", model ? model : "(null)", pv->id);
        return false;
    }
    if (!price_valid(p, err, errlen))
        return false;
    for (size_t i = 0; i < m->n_prices; i++) {
        const struct price *q = &m->prices[i];
        if (q->org_id == p->org_id && q->effective_from == p->effective_from &&
            q->min_prompt_tokens == p->min_prompt_tokens) {
            set_err(err, errlen,
                    "a row for org %lld from %lld at min_prompt_tokens %lld is already there",
                    (long long)p->org_id, (long long)p->effective_from,
                    (long long)p->min_prompt_tokens);
            return false;
        }
    }
    if (!grow((void **)&m->prices, &m->cap_prices, m->n_prices, sizeof(*m->prices))) {
        set_err(err, errlen, "out of memory");
        return false;
    }
    m->prices[m->n_prices++] = *p;
    return true;
}

/* ---- resolving ---------------------------------------------------------- */

/*
 * The position of the first model of p whose rule accepts s, or NOT_FOUND.
 * The equals map gives the earliest model that s names exactly; only the
 * models before it whose rules are not plain equals can still come first.
 */
static size_t provider_resolve(const struct catalog *c, const struct provider *p, const char *s,
                               size_t len)
{
    size_t hit = strmap_get(&p->equals, s, len);

    for (size_t i = 0; i < p->n_scan && p->scan[i] < hit; i++)
        if (rule_match(&c->models[p->models[p->scan[i]]]->rule, s, len))
            return p->scan[i];
    return hit;
}

static const struct provider *resolve_provider(const struct catalog *c, const char *s)
{
    size_t len = strlen(s), i = strmap_get(&c->provider_ids, s, len);

    if (i != NOT_FOUND)
        return &c->providers[i];
    for (i = 0; i < c->n_providers; i++)
        if (rule_match(&c->providers[i].rule, s, len))
            return &c->providers[i];
    return NULL;
}

bool catalog_resolve(const struct catalog *c, const char *provider, const char *model,
                     const char **cprovider, const char **cmodel)
{
    const struct provider *p = NULL;
    size_t len, pos = NOT_FOUND;

    assert(c && c->magic == CATALOG_MAGIC);
    if (!model)
        return false;
    len = strlen(model);
    if (provider && *provider) {
        if ((p = resolve_provider(c, provider)))
            pos = provider_resolve(c, p, model, len);
    } else {
        /* Providers that serve this model first-hand, then everyone. */
        for (int pass = 0; pass < 2 && pos == NOT_FOUND; pass++)
            for (size_t i = 0; i < c->n_providers && pos == NOT_FOUND; i++) {
                p = &c->providers[i];
                bool first_hand = p->model_match && rule_match(&p->model_rule, model, len);
                if (pass == 0 ? first_hand : !first_hand)
                    pos = provider_resolve(c, p, model, len);
            }
    }
    if (pos == NOT_FOUND)
        return false;
    if (cprovider)
        *cprovider = p->id;
    if (cmodel)
        *cmodel = c->models[p->models[pos]]->id;
    return true;
}

/* The best row of m for org at ts and prompt, or NULL. */
static const struct price *best_row(const struct model *m, int64_t org, int64_t ts, int64_t prompt)
{
    const struct price *best = NULL;

    for (size_t i = 0; i < m->n_prices; i++) {
        const struct price *q = &m->prices[i];
        if (q->org_id != org || q->effective_from > ts)
            continue;
        if (!best || q->effective_from > best->effective_from)
            best = q;
    }
    if (!best)
        return NULL;
    int64_t from = best->effective_from;
    best = NULL;
    for (size_t i = 0; i < m->n_prices; i++) {
        const struct price *q = &m->prices[i];
        if (q->org_id != org || q->effective_from != from || q->min_prompt_tokens > prompt)
            continue;
        if (!best || q->min_prompt_tokens > best->min_prompt_tokens)
            best = q;
    }
    return best;
}

const struct price *catalog_price(const struct catalog *c, int64_t org_id, const char *cprovider,
                                  const char *cmodel, int64_t ts, int64_t prompt_tokens)
{
    const struct provider *p;
    const struct model *m;
    const struct price *best = NULL;

    assert(c && c->magic == CATALOG_MAGIC);
    if (!(p = find_provider(c, cprovider)) || !(m = find_model(c, p, cmodel)))
        return NULL;
    if (org_id != 0)
        best = best_row(m, org_id, ts, prompt_tokens);
    return best ? best : best_row(m, 0, ts, prompt_tokens);
}

/* ---- cost --------------------------------------------------------------- */

/* A class price times the multiplier, in femto-USD per token: exact by validation. */
static money_t unit_price(int64_t price, int32_t milli)
{
    money_t scaled = (money_t)price * milli;

    assert(scaled % 1000 == 0);
    return scaled / 1000;
}

void pricing_cost(const struct price *p, const struct price *requested, const struct tokens *t,
                  enum usage_mode mode, money_t *effective, money_t *list)
{
    const struct price *r = requested ? requested : p;
    int32_t milli = 1000;

    assert(p && t);
    if (mode > MODE_STANDARD && mode < MODE_COUNT && p->mode_milli[mode] != PRICE_NONE)
        milli = p->mode_milli[mode];
    if (effective) {
        int64_t in = p->input;
        int64_t cr = p->cache_read == PRICE_NONE ? in : p->cache_read;
        int64_t w5 = p->cache_write_5m == PRICE_NONE ? in : p->cache_write_5m;
        int64_t w1 = p->cache_write_1h == PRICE_NONE ? in : p->cache_write_1h;
        *effective = (money_t)t->input_uncached * unit_price(in, milli) +
                     (money_t)t->cache_read * unit_price(cr, milli) +
                     (money_t)t->cache_write_5m * unit_price(w5, milli) +
                     (money_t)t->cache_write_1h * unit_price(w1, milli) +
                     (money_t)t->output * unit_price(p->output, milli);
    }
    if (list) {
        money_t prompt =
            (money_t)t->input_uncached + t->cache_read + t->cache_write_5m + t->cache_write_1h;
        *list = prompt * r->input + (money_t)t->output * r->output;
    }
}

/* ---- views -------------------------------------------------------------- */

size_t catalog_model_count(const struct catalog *c)
{
    assert(c && c->magic == CATALOG_MAGIC);
    return c->n_models;
}

bool catalog_model_at(const struct catalog *c, size_t i, struct catalog_model *out)
{
    assert(c && c->magic == CATALOG_MAGIC);
    if (i >= c->n_models)
        return false;
    const struct model *m = c->models[i];
    *out = (struct catalog_model){c->providers[m->provider].id, m->id, m->match, m->prices,
                                  m->n_prices};
    return true;
}

size_t catalog_provider_count(const struct catalog *c)
{
    assert(c && c->magic == CATALOG_MAGIC);
    return c->n_providers;
}

bool catalog_provider_at(const struct catalog *c, size_t i, const char **id, const json_t **match)
{
    assert(c && c->magic == CATALOG_MAGIC);
    if (i >= c->n_providers)
        return false;
    if (id)
        *id = c->providers[i].id;
    if (match)
        *match = c->providers[i].match;
    return true;
}

const json_t *catalog_provider_model_match(const struct catalog *c, size_t i)
{
    assert(c && c->magic == CATALOG_MAGIC);
    return i < c->n_providers ? c->providers[i].model_match : NULL;
}

/* ---- the catalog file --------------------------------------------------- */

#define CATALOG_FORMAT "tollgate-catalog/1"

/* n decimal digits at s as a number, or -1 if they are not all digits. */
static int digits(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Parses "YYYY-MM-DD" (midnight UTC) or "YYYY-MM-DDTHH:MM:SSZ" into unix seconds. */
static bool parse_date(const char *s, int64_t *out)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    size_t len = strlen(s);
    int y, mo, d, h = 0, mi = 0, sec = 0;

    if (len != 10 && len != 20)
        return false;
    if ((y = digits(s, 4)) < 1 || s[4] != '-' || (mo = digits(s + 5, 2)) < 1 || mo > 12 ||
        s[7] != '-' || (d = digits(s + 8, 2)) < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] + (mo == 2 && leap))
        return false;
    if (len == 20 && (s[10] != 'T' || (h = digits(s + 11, 2)) < 0 || h > 23 || s[13] != ':' ||
                      (mi = digits(s + 14, 2)) < 0 || mi > 59 || s[16] != ':' ||
                      (sec = digits(s + 17, 2)) < 0 || sec > 59 || s[19] != 'Z'))
        return false;
    *out = calendar_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    return true;
}

/* The first member of o not named in keys (NULL-terminated), or NULL. */
static const char *unknown_key(const json_t *o, const char *const *keys)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)o, key, v)
    {
        bool known = false;
        for (const char *const *k = keys; *k && !known; k++)
            known = !strcmp(key, *k);
        if (!known)
            return key;
    }
    return NULL;
}

/* Reads {"batch": "0.5", ...} into milli (left as it was for modes not named). */
static bool load_modes(const json_t *o, int32_t milli[MODE_COUNT], char *err, size_t errlen)
{
    const char *key;
    json_t *v;

    if (!json_is_object(o)) {
        set_err(err, errlen, "modes: wants an object");
        return false;
    }
    json_object_foreach((json_t *)o, key, v)
    {
        enum usage_mode m;
        money_t x;
        if (!pricing_parse_mode(key, &m) || m == MODE_STANDARD) {
            set_err(err, errlen, "modes.%s: not batch, flex or priority", key);
            return false;
        }
        /* 3 decimals of USD are 1e12 femto: x / 1e12 is the multiplier in thousandths */
        if (!json_is_string(v) || !money_parse_usd(json_string_value(v), 3, &x) ||
            x / 1000000000000LL > MODE_MILLI_MAX) {
            set_err(err, errlen,
                    "modes.%s: wants a decimal string with at most 3 decimals, at most %d", key,
                    MODE_MILLI_MAX / 1000);
            return false;
        }
        milli[m] = (int32_t)(x / 1000000000000LL);
    }
    return true;
}

/* Reads one price row; milli holds the provider's modes. */
static bool load_row(const json_t *o, const int32_t milli[MODE_COUNT], struct price *p, char *err,
                     size_t errlen)
{
    static const char *const keys[] = {"effective_from",
                                       "min_prompt_tokens",
                                       "input",
                                       "cache_read",
                                       "cache_write_5m",
                                       "cache_write_1h",
                                       "output",
                                       "modes",
                                       NULL};
    int64_t *cls[] = {&p->input, &p->cache_read, &p->cache_write_5m, &p->cache_write_1h,
                      &p->output};
    const char *bad;
    const json_t *v;

    *p = (struct price){0};
    memcpy(p->mode_milli, milli, sizeof(p->mode_milli));
    if (!json_is_object(o)) {
        set_err(err, errlen, "a price row is an object");
        return false;
    }
    if ((bad = unknown_key(o, keys))) {
        set_err(err, errlen, "%s: unknown member", bad);
        return false;
    }
    if ((v = json_object_get(o, "effective_from")) &&
        (!json_is_string(v) || !parse_date(json_string_value(v), &p->effective_from))) {
        set_err(err, errlen, "effective_from: wants \"YYYY-MM-DD\" or \"YYYY-MM-DDTHH:MM:SSZ\"");
        return false;
    }
    if ((v = json_object_get(o, "min_prompt_tokens")) &&
        (!json_is_integer(v) || json_integer_value(v) < 0)) {
        set_err(err, errlen, "min_prompt_tokens: wants an integer >= 0");
        return false;
    }
    p->min_prompt_tokens = v ? json_integer_value(v) : 0;
    for (int k = 0; k < 5; k++) {
        v = json_object_get(o, class_names[k]);
        bool required = k == 0 || k == 4;
        if (!v && !required) {
            *cls[k] = PRICE_NONE;
            continue;
        }
        if (!v || !json_is_string(v) || !pricing_parse_mtok(json_string_value(v), cls[k])) {
            set_err(err, errlen,
                    "%s: wants USD per million tokens as a decimal string, at most 6 decimals",
                    class_names[k]);
            return false;
        }
    }
    if ((v = json_object_get(o, "modes"))) {
        p->mode_milli[MODE_BATCH] = p->mode_milli[MODE_FLEX] = p->mode_milli[MODE_PRIORITY] =
            PRICE_NONE; /* the row's own modes replace the provider's */
        if (!load_modes(v, p->mode_milli, err, errlen))
            return false;
    }
    return true;
}

static bool load_model(struct catalog *c, const char *provider, const json_t *o,
                       const int32_t milli[MODE_COUNT], char *err, size_t errlen)
{
    static const char *const keys[] = {"id", "match", "prices", NULL};
    const json_t *id = json_object_get(o, "id"), *match = json_object_get(o, "match");
    const json_t *rows = json_object_get(o, "prices");
    const char *bad;

    if (!json_is_object(o)) {
        set_err(err, errlen, "a model is an object");
        return false;
    }
    if ((bad = unknown_key(o, keys))) {
        set_err(err, errlen, "%s: unknown member", bad);
        return false;
    }
    if (!json_is_string(id)) {
        set_err(err, errlen, "id: wants a string");
        return false;
    }
    if (match && !json_is_object(match)) {
        set_err(err, errlen, "match: wants a rule object");
        return false;
    }
    if (!json_is_array(rows) || json_array_size(rows) == 0) {
        set_err(err, errlen, "prices: wants a non-empty array of rows");
        return false;
    }
    if (!catalog_add_model(c, provider, json_string_value(id), match, err, errlen))
        return false;
    for (size_t k = 0; k < json_array_size(rows); k++) {
        struct price p;
        char pre[48];
        if (!load_row(json_array_get(rows, k), milli, &p, err, errlen) ||
            !catalog_add_price(c, provider, json_string_value(id), &p, err, errlen)) {
            snprintf(pre, sizeof(pre), "prices[%zu]", k);
            prefix_err(err, errlen, pre);
            return false;
        }
    }
    return true;
}

static bool load_provider(struct catalog *c, const json_t *o, char *err, size_t errlen)
{
    static const char *const keys[] = {"id", "match", "model_match", "modes", "models", NULL};
    const json_t *id = json_object_get(o, "id"), *match = json_object_get(o, "match");
    const json_t *model_match = json_object_get(o, "model_match");
    const json_t *modes = json_object_get(o, "modes"), *models = json_object_get(o, "models");
    int32_t milli[MODE_COUNT] = {1000, PRICE_NONE, PRICE_NONE, PRICE_NONE};
    const char *bad;

    if (!json_is_object(o)) {
        set_err(err, errlen, "a provider is an object");
        return false;
    }
    if ((bad = unknown_key(o, keys))) {
        set_err(err, errlen, "%s: unknown member", bad);
        return false;
    }
    if (!json_is_string(id)) {
        set_err(err, errlen, "id: wants a string");
        return false;
    }
    if ((match && !json_is_object(match)) || (model_match && !json_is_object(model_match))) {
        set_err(err, errlen, "%s: wants a rule object",
                match && !json_is_object(match) ? "match" : "model_match");
        return false;
    }
    if (!json_is_array(models)) {
        set_err(err, errlen, "models: wants an array");
        return false;
    }
    if (modes && !load_modes(modes, milli, err, errlen))
        return false;
    if (!catalog_add_provider(c, json_string_value(id), match, err, errlen))
        return false;
    if (model_match &&
        !catalog_set_provider_model_match(c, json_string_value(id), model_match, err, errlen))
        return false;
    for (size_t j = 0; j < json_array_size(models); j++) {
        if (!load_model(c, json_string_value(id), json_array_get(models, j), milli, err, errlen)) {
            char pre[48];
            snprintf(pre, sizeof(pre), "models[%zu]", j);
            prefix_err(err, errlen, pre);
            return false;
        }
    }
    return true;
}

bool catalog_load_json(struct catalog *c, const json_t *doc, char *err, size_t errlen)
{
    static const char *const keys[] = {"format", "source", "providers", NULL};
    const json_t *format = json_object_get(doc, "format");
    const json_t *providers = json_object_get(doc, "providers");
    const char *bad;

    assert(c && c->magic == CATALOG_MAGIC);
    if (!json_is_object(doc)) {
        set_err(err, errlen, "the catalog is a JSON object");
        return false;
    }
    if ((bad = unknown_key(doc, keys))) {
        set_err(err, errlen, "%s: unknown member", bad);
        return false;
    }
    if (!json_is_string(format) || strcmp(json_string_value(format), CATALOG_FORMAT) != 0) {
        set_err(err, errlen, "format: wants \"%s\"", CATALOG_FORMAT);
        return false;
    }
    if (json_object_get(doc, "source") && !json_is_string(json_object_get(doc, "source"))) {
        set_err(err, errlen, "source: wants a string");
        return false;
    }
    if (!json_is_array(providers)) {
        set_err(err, errlen, "providers: wants an array");
        return false;
    }
    for (size_t i = 0; i < json_array_size(providers); i++) {
        if (!load_provider(c, json_array_get(providers, i), err, errlen)) {
            char pre[48];
            snprintf(pre, sizeof(pre), "providers[%zu]", i);
            prefix_err(err, errlen, pre);
            return false;
        }
    }
    return true;
}
