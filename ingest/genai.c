/*
 * genai: the GenAI attribute mapping, from the spans of a parsed OTLP
 * request to usage events (the rules are in genai.h). Works in passes over
 * the spans that carry usage ("candidates"): the Vercel leaf rule, the
 * parent rule, the dedupe on gen_ai.response.id, then one event each.
 * Memory: the batch owns its events (tags) and rejects; the request is
 * only read, and no pointer into it is kept. A mapping is read-only after
 * it is set up. Pure and reentrant: any thread.
 */
#include "genai.h"

#include "otlp.pb-c.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_US    1000ULL
#define NS_PER_MS    1000000ULL
#define MIN_EVENT_US (946684800LL * 1000000LL) /* 2000-01-01T00:00:00Z */
#define TRACE_ID_LEN 16
#define SPAN_ID_LEN  8

/* ---- the attributes the mapping reads ---- */

enum attr {
    AI_MODEL_ID,
    AI_MODEL_PROVIDER,
    AI_OPERATION_ID,
    AI_RESPONSE_MODEL,
    AI_CACHED_INPUT,
    AI_COMPLETION,
    AI_IN_CACHE_READ,
    AI_IN_CACHE_WRITE,
    AI_IN_NO_CACHE,
    AI_INPUT,
    AI_OUT_REASONING,
    AI_OUTPUT,
    AI_PROMPT,
    AI_REASONING,
    GA_PROVIDER_NAME,
    GA_REQUEST_MODEL,
    GA_RESPONSE_ID,
    GA_RESPONSE_MODEL,
    GA_SYSTEM,
    GA_CACHE_CREATION,
    GA_CACHE_CREATION_OLD,
    GA_CACHE_READ,
    GA_CACHE_READ_OLD,
    GA_COMPLETION,
    GA_INPUT,
    GA_OUTPUT,
    GA_PROMPT,
    GA_REASONING,
    GA_REASONING_OLD,
    OI_MODEL_NAME,
    OI_PROVIDER,
    OI_REQUEST_MODEL,
    OI_RESPONSE_MODEL,
    OI_SYSTEM,
    OI_COMPLETION,
    OI_REASONING,
    OI_PROMPT,
    OI_CACHE_READ,
    OI_CACHE_WRITE,
    N_ATTR
};

/* Indexed by enum attr, and sorted (strcmp) so a key is found by binary search. */
static const char *const attr_names[N_ATTR] = {
    "ai.model.id",
    "ai.model.provider",
    "ai.operationId",
    "ai.response.model",
    "ai.usage.cachedInputTokens",
    "ai.usage.completionTokens",
    "ai.usage.inputTokenDetails.cacheReadTokens",
    "ai.usage.inputTokenDetails.cacheWriteTokens",
    "ai.usage.inputTokenDetails.noCacheTokens",
    "ai.usage.inputTokens",
    "ai.usage.outputTokenDetails.reasoningTokens",
    "ai.usage.outputTokens",
    "ai.usage.promptTokens",
    "ai.usage.reasoningTokens",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.id",
    "gen_ai.response.model",
    "gen_ai.system",
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.completion_tokens",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.prompt_tokens",
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.reasoning_tokens",
    "llm.model_name",
    "llm.provider",
    "llm.request.model_name",
    "llm.response.model_name",
    "llm.system",
    "llm.token_count.completion",
    "llm.token_count.completion_details.reasoning",
    "llm.token_count.prompt",
    "llm.token_count.prompt_details.cache_read",
    "llm.token_count.prompt_details.cache_write",
};

/* The token attributes of each set, in the order of struct set_attrs' use. */
enum set { SET_NONE = 0, SET_VERCEL, SET_OPENINFERENCE, SET_OTEL };

static const enum attr vercel_tokens[] = {
    AI_INPUT,         AI_OUTPUT,       AI_IN_NO_CACHE, AI_IN_CACHE_READ, AI_IN_CACHE_WRITE,
    AI_OUT_REASONING, AI_CACHED_INPUT, AI_REASONING,   AI_PROMPT,        AI_COMPLETION};
static const enum attr oi_tokens[] = {OI_PROMPT, OI_COMPLETION, OI_CACHE_READ, OI_CACHE_WRITE,
                                      OI_REASONING};
static const enum attr otel_tokens[] = {
    GA_INPUT,      GA_OUTPUT,         GA_PROMPT,         GA_COMPLETION,
    GA_CACHE_READ, GA_CACHE_READ_OLD, GA_CACHE_CREATION, GA_CACHE_CREATION_OLD,
    GA_REASONING,  GA_REASONING_OLD};

/* Model, requested model and provider: the first attribute set wins. */
static const enum attr model_attrs[] = {GA_RESPONSE_MODEL, OI_RESPONSE_MODEL, OI_MODEL_NAME,
                                        AI_RESPONSE_MODEL, GA_REQUEST_MODEL,  OI_REQUEST_MODEL,
                                        AI_MODEL_ID};
static const enum attr requested_attrs[] = {GA_REQUEST_MODEL, OI_REQUEST_MODEL, AI_MODEL_ID};
static const enum attr provider_attrs[] = {GA_PROVIDER_NAME, GA_SYSTEM, OI_PROVIDER, OI_SYSTEM,
                                           AI_MODEL_PROVIDER};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The known attributes of one span: the value of each, or NULL. */
struct attrs {
    const Otlp__AnyValue *v[N_ATTR];
};

static int cmp_name(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

static void read_attrs(const Otlp__Span *s, struct attrs *a)
{
    memset(a, 0, sizeof(*a));
    for (size_t i = 0; i < s->n_attributes; i++) {
        const Otlp__KeyValue *kv = s->attributes[i];
        const char *const *hit;
        if (!kv->key || !kv->value || kv->value->value_case == OTLP__ANY_VALUE__VALUE__NOT_SET)
            continue;
        hit = bsearch(kv->key, attr_names, N_ATTR, sizeof(attr_names[0]), cmp_name);
        if (hit && !a->v[hit - attr_names]) /* keys should be unique; the first wins */
            a->v[hit - attr_names] = kv->value;
    }
}

static bool any_of(const struct attrs *a, const enum attr *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a->v[ids[i]])
            return true;
    return false;
}

static enum set usage_set(const struct attrs *a)
{
    if (any_of(a, vercel_tokens, COUNT(vercel_tokens)))
        return SET_VERCEL;
    if (any_of(a, oi_tokens, COUNT(oi_tokens)))
        return SET_OPENINFERENCE;
    if (any_of(a, otel_tokens, COUNT(otel_tokens)))
        return SET_OTEL;
    return SET_NONE;
}

static const char *str_of(const Otlp__AnyValue *v)
{
    return v && v->value_case == OTLP__ANY_VALUE__VALUE_STRING_VALUE && v->string_value
               ? v->string_value
               : NULL;
}

/* A key's value among n key-values (the first with a value), or NULL. */
static const Otlp__AnyValue *find(Otlp__KeyValue *const *kvs, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (kvs[i]->key && kvs[i]->value &&
            kvs[i]->value->value_case != OTLP__ANY_VALUE__VALUE__NOT_SET &&
            strcmp(kvs[i]->key, key) == 0)
            return kvs[i]->value;
    return NULL;
}

/* ---- the mapping config ---- */

struct genai_mapping {
    char names[GENAI_FIELD_COUNT][GENAI_NAMES_MAX][GENAI_NAME_MAX + 1];
    size_t n[GENAI_FIELD_COUNT];
};

static const char *const field_names[GENAI_FIELD_COUNT] = {
    "team", "project", "user", "request_id", "tags", "exclusive_scope"};

static const char *const defaults[GENAI_FIELD_COUNT] = {
    "tollgate.team, service.namespace",
    "tollgate.project, service.name",
    "tollgate.user, user.id, enduser.id",
    "tollgate.request_id",
    "service.name, service.version, deployment.environment.name, deployment.environment, "
    "gen_ai.operation.name",
    "@traceloop/instrumentation-anthropic",
};

struct genai_mapping *genai_mapping_new(void)
{
    struct genai_mapping *m = calloc(1, sizeof(*m));
    char err[128];

    for (size_t i = 1; i < N_ATTR; i++)
        assert(strcmp(attr_names[i - 1], attr_names[i]) < 0);
    if (!m)
        return NULL;
    for (int f = 0; f < GENAI_FIELD_COUNT; f++) {
        bool ok = genai_mapping_set(m, (enum genai_field)f, defaults[f], err, sizeof(err));
        assert(ok);
        (void)ok;
    }
    return m;
}

void genai_mapping_free(struct genai_mapping **mp)
{
    if (!mp || !*mp)
        return;
    free(*mp);
    *mp = NULL;
}

bool genai_mapping_set(struct genai_mapping *m, enum genai_field f, const char *names, char *err,
                       size_t errlen)
{
    char list[GENAI_NAMES_MAX][GENAI_NAME_MAX + 1];
    size_t n = 0, max = f == GENAI_TAGS ? EVENT_TAG_KEY_MAX : GENAI_NAME_MAX;
    const char *p = names;

    if ((unsigned)f >= GENAI_FIELD_COUNT || !names) {
        snprintf(err, errlen, "unknown mapping field");
        return false;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    while (*p) {
        const char *start = p, *end;
        size_t len;

        while (*p && *p != ',')
            p++;
        end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        len = (size_t)(end - start);
        if (len == 0) {
            snprintf(err, errlen, "%s: an empty name in the list", field_names[f]);
            return false;
        }
        if (len > max) {
            snprintf(err, errlen, "%s: a name is longer than %zu bytes", field_names[f], max);
            return false;
        }
        for (size_t i = 0; i < len; i++) {
            if (start[i] <= ' ' || start[i] > '~') {
                snprintf(err, errlen, "%s: names are printable ASCII without blanks",
                         field_names[f]);
                return false;
            }
        }
        if (n == GENAI_NAMES_MAX) {
            snprintf(err, errlen, "%s: at most %d names", field_names[f], GENAI_NAMES_MAX);
            return false;
        }
        memcpy(list[n], start, len);
        list[n++][len] = '\0';
        if (*p == ',') {
            p++;
            while (*p == ' ' || *p == '\t')
                p++;
            if (!*p) {
                snprintf(err, errlen, "%s: an empty name in the list", field_names[f]);
                return false;
            }
        }
    }
    memcpy(m->names[f], list, sizeof(list));
    m->n[f] = n;
    return true;
}

void genai_mapping_format(const struct genai_mapping *m, enum genai_field f, char *buf, size_t cap)
{
    size_t len = 0;

    if (cap == 0)
        return;
    buf[0] = '\0';
    if ((unsigned)f >= GENAI_FIELD_COUNT)
        return;
    for (size_t i = 0; i < m->n[f]; i++) {
        int k = snprintf(buf + len, cap - len, "%s%s", i ? "," : "", m->names[f][i]);
        if (k < 0 || (size_t)k >= cap - len) {
            buf[len] = '\0'; /* never a partial name */
            return;
        }
        len += (size_t)k;
    }
}

/* ---- strings ---- */

/* No C0, DEL or C1 (UTF-8 C2 80..9F): what event_decode refuses in strings. */
static bool no_controls(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
        if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
            return false;
    }
    return true;
}

/*
 * Copies s (valid UTF-8: both parsers ensure it) into dst for a message:
 * at most 48 bytes, cut at a character boundary, controls as '?'.
 */
static void excerpt(char *dst, size_t cap, const char *s)
{
    size_t n = 0, max = cap - 1 < 48 ? cap - 1 : 48;

    for (; s[n] && n < max; n++)
        dst[n] = ((unsigned char)s[n] < 0x20 || s[n] == 0x7f) ? '?' : s[n];
    if (s[n]) /* cut: drop a partial character */
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    dst[n] = '\0';
    for (size_t i = 0; i + 1 < n; i++) /* C1 controls */
        if ((unsigned char)dst[i] == 0xc2 && (unsigned char)dst[i + 1] >= 0x80 &&
            (unsigned char)dst[i + 1] <= 0x9f)
            dst[i] = dst[i + 1] = '?';
}

static void hex(char *dst, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        dst[2 * i] = digits[p[i] >> 4];
        dst[2 * i + 1] = digits[p[i] & 15];
    }
    dst[2 * n] = '\0';
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* ---- candidates: spans with usage ---- */

struct cand {
    size_t index; /* of the span in the request */
    const Otlp__ResourceSpans *rs;
    const Otlp__ScopeSpans *ss;
    const Otlp__Span *span;
    enum set set;
    const char *response_id; /* gen_ai.response.id, or NULL */
    enum { C_COUNT = 0, C_AGGREGATE, C_DUPLICATE } fate;
};

struct work {
    struct cand *c;
    size_t n, cap;
};

static bool add_cand(struct work *w, const struct cand *c)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        struct cand *nc = realloc(w->c, cap * sizeof(*nc));
        if (!nc)
            return false;
        w->c = nc;
        w->cap = cap;
    }
    w->c[w->n++] = *c;
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* Rule 2: a Vercel span counts only as doGenerate / doStream. */
static void vercel_leaf_rule(struct work *w)
{
    for (size_t i = 0; i < w->n; i++) {
        struct cand *c = &w->c[i];
        struct attrs a;
        const char *op;

        if (c->set != SET_VERCEL)
            continue;
        read_attrs(c->span, &a);
        op = str_of(a.v[AI_OPERATION_ID]);
        if (!op)
            op = c->span->name ? c->span->name : "";
        if (!ends_with(op, ".doGenerate") && !ends_with(op, ".doStream"))
            c->fate = C_AGGREGATE;
    }
}

/* A (trace id, span id) pair, for the parent rule. */
struct span_key {
    uint8_t b[TRACE_ID_LEN + SPAN_ID_LEN];
};

static int cmp_key(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(struct span_key));
}

/* Rule 3: a candidate that is the parent of another candidate is an aggregate. */
static bool parent_rule(struct work *w)
{
    struct span_key *parents = NULL, k;
    size_t np = 0;

    if (w->n < 2)
        return true;
    parents = malloc(w->n * sizeof(*parents));
    if (!parents)
        return false;
    for (size_t i = 0; i < w->n; i++) {
        const Otlp__Span *s = w->c[i].span;
        if (s->trace_id.len != TRACE_ID_LEN || s->parent_span_id.len != SPAN_ID_LEN)
            continue;
        memcpy(parents[np].b, s->trace_id.data, TRACE_ID_LEN);
        memcpy(parents[np].b + TRACE_ID_LEN, s->parent_span_id.data, SPAN_ID_LEN);
        np++;
    }
    qsort(parents, np, sizeof(*parents), cmp_key);
    for (size_t i = 0; i < w->n && np > 0; i++) {
        const Otlp__Span *s = w->c[i].span;
        if (s->trace_id.len != TRACE_ID_LEN || s->span_id.len != SPAN_ID_LEN ||
            all_zero(s->span_id.data, SPAN_ID_LEN))
            continue;
        memcpy(k.b, s->trace_id.data, TRACE_ID_LEN);
        memcpy(k.b + TRACE_ID_LEN, s->span_id.data, SPAN_ID_LEN);
        if (bsearch(&k, parents, np, sizeof(*parents), cmp_key))
            w->c[i].fate = C_AGGREGATE;
    }
    free(parents);
    return true;
}

struct rid {
    const char *id;
    size_t cand;
};

static int cmp_rid(const void *a, const void *b)
{
    const struct rid *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c)
        return c;
    return x->cand < y->cand ? -1 : x->cand > y->cand;
}

/* Rule 4: the first of the candidates left with one gen_ai.response.id counts. */
static bool dedupe_rule(struct work *w)
{
    struct rid *r;
    size_t n = 0;

    if (w->n < 2)
        return true;
    r = malloc(w->n * sizeof(*r));
    if (!r)
        return false;
    for (size_t i = 0; i < w->n; i++)
        if (w->c[i].fate == C_COUNT && w->c[i].response_id && w->c[i].response_id[0])
            r[n++] = (struct rid){w->c[i].response_id, i};
    qsort(r, n, sizeof(*r), cmp_rid);
    for (size_t i = 1; i < n; i++)
        if (strcmp(r[i].id, r[i - 1].id) == 0)
            w->c[r[i].cand].fate = C_DUPLICATE;
    free(r);
    return true;
}

/* ---- one event ---- */

enum build { B_OK = 0, B_REJECT, B_NOMEM };

/* Where a failed check writes its reason. */
struct why {
    const char *code;
    char message[224];
};

__attribute__((format(printf, 3, 4))) static enum build reject(struct why *y, const char *code,
                                                               const char *fmt, ...)
{
    va_list ap;

    y->code = code;
    va_start(ap, fmt);
    vsnprintf(y->message, sizeof(y->message), fmt, ap);
    va_end(ap);
    return B_REJECT;
}

/*
 * A token count: *given false when absent. intValue, or a doubleValue that
 * is a whole number, in 0..EVENT_MAX_TOKENS.
 */
static enum build count(const struct attrs *a, enum attr id, int64_t *out, bool *given,
                        struct why *y)
{
    const Otlp__AnyValue *v = a->v[id];

    *given = false;
    if (!v)
        return B_OK;
    if (v->value_case == OTLP__ANY_VALUE__VALUE_INT_VALUE) {
        *out = v->int_value;
    } else if (v->value_case == OTLP__ANY_VALUE__VALUE_DOUBLE_VALUE) {
        double d = v->double_value;
        if (!(d >= 0 && d <= (double)EVENT_MAX_TOKENS))
            return reject(y, "invalid_value", "%s must be from 0 to %lld", attr_names[id],
                          (long long)EVENT_MAX_TOKENS);
        *out = (int64_t)d;
        if ((double)*out != d)
            return reject(y, "invalid_value", "%s must be a whole number", attr_names[id]);
    } else {
        return reject(y, "invalid_type", "%s must be an integer", attr_names[id]);
    }
    if (*out < 0 || *out > EVENT_MAX_TOKENS)
        return reject(y, "invalid_value", "%s must be from 0 to %lld", attr_names[id],
                      (long long)EVENT_MAX_TOKENS);
    *given = true;
    return B_OK;
}

/* The first of ids (in order) that is given, into *out (0 when none). */
static enum build first_count(const struct attrs *a, const enum attr *ids, size_t n, int64_t *out,
                              bool *given, struct why *y)
{
    *out = 0;
    *given = false;
    for (size_t i = 0; i < n; i++) {
        enum build b = count(a, ids[i], out, given, y);
        if (b != B_OK || *given)
            return b;
    }
    return B_OK;
}

static bool in_list(const struct genai_mapping *m, enum genai_field f, const char *s)
{
    for (size_t i = 0; i < m->n[f]; i++)
        if (strcmp(m->names[f][i], s) == 0)
            return true;
    return false;
}

/* Rule 1 and 6: the token classes of the candidate's set. */
static enum build tokens(const struct genai_mapping *m, const struct cand *c, const struct attrs *a,
                         struct tokens *t, struct why *y)
{
    /* The attributes of each class, per set, first given wins. */
    static const enum attr v_in[] = {AI_INPUT, AI_PROMPT}, v_nc[] = {AI_IN_NO_CACHE},
                           v_cr[] = {AI_IN_CACHE_READ, AI_CACHED_INPUT},
                           v_cw[] = {AI_IN_CACHE_WRITE}, v_out[] = {AI_OUTPUT, AI_COMPLETION},
                           v_rs[] = {AI_OUT_REASONING, AI_REASONING};
    static const enum attr o_in[] = {OI_PROMPT}, o_cr[] = {OI_CACHE_READ},
                           o_cw[] = {OI_CACHE_WRITE}, o_out[] = {OI_COMPLETION},
                           o_rs[] = {OI_REASONING};
    static const enum attr g_in[] = {GA_INPUT, GA_PROMPT},
                           g_cr[] = {GA_CACHE_READ, GA_CACHE_READ_OLD},
                           g_cw[] = {GA_CACHE_CREATION, GA_CACHE_CREATION_OLD},
                           g_out[] = {GA_OUTPUT, GA_COMPLETION},
                           g_rs[] = {GA_REASONING, GA_REASONING_OLD};
    const enum attr *in, *cr, *cw, *out, *rs;
    size_t n_in, n_cr, n_cw, n_out, n_rs;
    int64_t input, read, write, no_cache = 0;
    bool given, nc_given = false;
    enum build b;

#define USE(p, x) (p = x, n_##p = COUNT(x))
    switch (c->set) {
    case SET_VERCEL:
        USE(in, v_in), USE(cr, v_cr), USE(cw, v_cw), USE(out, v_out), USE(rs, v_rs);
        if ((b = first_count(a, v_nc, COUNT(v_nc), &no_cache, &nc_given, y)) != B_OK)
            return b;
        break;
    case SET_OPENINFERENCE:
        USE(in, o_in), USE(cr, o_cr), USE(cw, o_cw), USE(out, o_out), USE(rs, o_rs);
        break;
    default:
        USE(in, g_in), USE(cr, g_cr), USE(cw, g_cw), USE(out, g_out), USE(rs, g_rs);
        break;
    }
#undef USE
    memset(t, 0, sizeof(*t));
    if ((b = first_count(a, in, n_in, &input, &given, y)) != B_OK ||
        (b = first_count(a, cr, n_cr, &read, &given, y)) != B_OK ||
        (b = first_count(a, cw, n_cw, &write, &given, y)) != B_OK ||
        (b = first_count(a, out, n_out, &t->output, &given, y)) != B_OK ||
        (b = first_count(a, rs, n_rs, &t->reasoning, &given, y)) != B_OK)
        return b;
    t->cache_read = read;
    t->cache_write_5m = write;
    if (nc_given)
        t->input_uncached = no_cache;
    else if ((c->ss->scope && c->ss->scope->name &&
              in_list(m, GENAI_EXCLUSIVE_SCOPE, c->ss->scope->name)) ||
             read + write > input)
        t->input_uncached = input; /* Anthropic's own count: the cache is not in it */
    else
        t->input_uncached = input - read - write;
    if (t->reasoning > t->output)
        return reject(y, "invalid_value",
                      "reasoning tokens (%" PRId64 ") exceed output tokens (%" PRId64 ")",
                      t->reasoning, t->output);
    return B_OK;
}

/*
 * A string attribute of the span (first of ids with a non-empty value)
 * into dst: 1..max bytes, no control characters. *given false when none.
 */
static enum build span_string(const struct attrs *a, const enum attr *ids, size_t n, char *dst,
                              size_t max, bool *given, struct why *y)
{
    *given = false;
    for (size_t i = 0; i < n; i++) {
        const Otlp__AnyValue *v = a->v[ids[i]];
        const char *s = str_of(v);
        size_t len;
        if (!v)
            continue;
        if (!s)
            return reject(y, "invalid_type", "%s must be a string", attr_names[ids[i]]);
        len = strlen(s);
        if (len == 0)
            continue;
        if (len > max)
            return reject(y, "invalid_value", "%s is longer than %zu bytes", attr_names[ids[i]],
                          max);
        if (!no_controls(s))
            return reject(y, "invalid_value", "%s holds control characters", attr_names[ids[i]]);
        memcpy(dst, s, len + 1);
        *given = true;
        return B_OK;
    }
    return B_OK;
}

/* A mapped attribute: on the span first, then on the resource. */
static const Otlp__AnyValue *mapped(const struct cand *c, const char *name)
{
    const Otlp__AnyValue *v = find(c->span->attributes, c->span->n_attributes, name);
    if (!v && c->rs->resource)
        v = find(c->rs->resource->attributes, c->rs->resource->n_attributes, name);
    return v;
}

static bool unknown_service(const char *s)
{
    return strcmp(s, "unknown_service") == 0 || strncmp(s, "unknown_service:", 16) == 0;
}

/*
 * A mapping field (team, project, user, request id) into dst: the first of
 * its names with a non-empty value. Slugs for team and project. *given
 * false when none.
 */
static enum build mapped_string(const struct genai_mapping *m, enum genai_field f,
                                const struct cand *c, char *dst, size_t max, bool *given,
                                struct why *y)
{
    char ex[64];

    *given = false;
    for (size_t i = 0; i < m->n[f]; i++) {
        const char *name = m->names[f][i];
        const Otlp__AnyValue *v = mapped(c, name);
        const char *s;
        char num[24];
        size_t len;

        if (!v)
            continue;
        s = str_of(v);
        if (!s && f == GENAI_USER && v->value_case == OTLP__ANY_VALUE__VALUE_INT_VALUE) {
            snprintf(num, sizeof(num), "%" PRId64, v->int_value);
            s = num;
        }
        if (!s)
            return reject(y, "invalid_type", "%s (the %s) must be a string", name, field_names[f]);
        len = strlen(s);
        if (len == 0 || (f == GENAI_PROJECT && unknown_service(s)))
            continue;
        if (f == GENAI_TEAM || f == GENAI_PROJECT) {
            if (!event_slug_valid(s)) {
                excerpt(ex, sizeof(ex), s);
                return reject(y, "invalid_value",
                              "%s = \"%s\" (the %s) is not a slug: [a-z0-9][a-z0-9._-]{0,62}", name,
                              ex, field_names[f]);
            }
        } else if (len > max || !no_controls(s)) {
            return reject(y, "invalid_value",
                          "%s (the %s) must be 1 to %zu bytes, no control characters", name,
                          field_names[f], max);
        }
        memcpy(dst, s, len + 1);
        *given = true;
        return B_OK;
    }
    return B_OK;
}

/* Adds a tag if the value is usable (a string, integer or boolean that fits). */
static bool add_tag(json_t *tags, const char *key, const Otlp__AnyValue *v)
{
    char num[24];
    const char *s = str_of(v);

    if (json_object_size(tags) >= EVENT_TAGS_MAX || json_object_get(tags, key))
        return true;
    if (!s && v && v->value_case == OTLP__ANY_VALUE__VALUE_INT_VALUE) {
        snprintf(num, sizeof(num), "%" PRId64, v->int_value);
        s = num;
    } else if (!s && v && v->value_case == OTLP__ANY_VALUE__VALUE_BOOL_VALUE) {
        s = v->bool_value ? "true" : "false";
    }
    if (!s || !*s || strlen(s) > EVENT_TAG_VAL_MAX || !no_controls(s))
        return true;
    return json_object_set_new(tags, key, json_string(s)) == 0;
}

static enum build build_tags(const struct genai_mapping *m, const struct cand *c, json_t **out)
{
    json_t *tags = json_object();
    const char *scope = c->ss->scope ? c->ss->scope->name : NULL;
    Otlp__AnyValue sv = OTLP__ANY_VALUE__INIT;

    if (!tags)
        return B_NOMEM;
    if (scope && *scope) {
        sv.value_case = OTLP__ANY_VALUE__VALUE_STRING_VALUE;
        sv.string_value = (char *)scope;
        if (!add_tag(tags, "otel.scope", &sv))
            goto nomem;
    }
    for (size_t i = 0; i < m->n[GENAI_TAGS]; i++) {
        const Otlp__AnyValue *v = mapped(c, m->names[GENAI_TAGS][i]);
        if (v && !add_tag(tags, m->names[GENAI_TAGS][i], v))
            goto nomem;
    }
    *out = tags;
    return B_OK;
nomem:
    json_decref(tags);
    return B_NOMEM;
}

/*
 * Rule 5, the AI SDK's provider ids: "<provider>.<api>" ("openai.chat",
 * "openai.responses", "azure.chat", "google.vertex.chat", "xai.chat") or a
 * bare name ("amazon-bedrock", "perplexity"). Keeps the provider part, then
 * renames the AI SDK names the catalog spells otherwise. p is NUL-terminated;
 * a string that starts with '.' is left as it is.
 */
static void vercel_provider(char *p, size_t cap)
{
    static const char *const renames[][2] = {
        {"amazon-bedrock", "aws"},
        {"togetherai", "together"},
        {"vertex", "google"}, /* "vertex.anthropic.messages": Claude on Vertex AI */
    };
    size_t dot = strcspn(p, ".");

    if (dot == 0)
        return;
    p[dot] = '\0';
    for (size_t i = 0; i < COUNT(renames); i++) {
        if (strcmp(p, renames[i][0]) == 0) {
            snprintf(p, cap, "%s", renames[i][1]);
            return;
        }
    }
}

/* Rule 5: the event of one candidate, or why not. */
static enum build build_event(const struct genai_mapping *m, const struct cand *c, int64_t now_us,
                              const char *default_team, struct usage_event *ev, struct why *y)
{
    const Otlp__Span *s = c->span;
    struct attrs a;
    bool given;
    enum build b;
    uint64_t end = s->end_time_unix_nano, start = s->start_time_unix_nano;

    memset(ev, 0, sizeof(*ev));
    if (s->trace_id.len != TRACE_ID_LEN || all_zero(s->trace_id.data, TRACE_ID_LEN))
        return reject(y, "invalid_value", "trace_id must be 16 bytes, not all zero (got %zu)",
                      s->trace_id.len);
    if (s->span_id.len != SPAN_ID_LEN || all_zero(s->span_id.data, SPAN_ID_LEN))
        return reject(y, "invalid_value", "span_id must be 8 bytes, not all zero (got %zu)",
                      s->span_id.len);
    hex(ev->id, s->trace_id.data, TRACE_ID_LEN);
    ev->id[2 * TRACE_ID_LEN] = '-';
    hex(ev->id + 2 * TRACE_ID_LEN + 1, s->span_id.data, SPAN_ID_LEN);

    if (end == 0)
        return reject(y, "missing_field", "the span has no end_time_unix_nano");
    if ((int64_t)(end / NS_PER_US) < MIN_EVENT_US)
        return reject(y, "invalid_value", "end_time_unix_nano is before 2000-01-01");
    ev->ts_us = (int64_t)(end / NS_PER_US);
    if (now_us <= INT64_MAX - EVENT_FUTURE_SLACK && ev->ts_us > now_us + EVENT_FUTURE_SLACK)
        return reject(y, "invalid_value", "end_time_unix_nano is more than 5 minutes ahead");
    ev->ts_given = true;
    ev->latency_ms = -1;
    if (start > 0 && end >= start)
        ev->latency_ms = (end - start) / NS_PER_MS > INT32_MAX
                             ? INT32_MAX
                             : (int64_t)((end - start) / NS_PER_MS);
    ev->status = s->status && s->status->code == OTLP__STATUS_CODE__STATUS_CODE_ERROR ? EVENT_ERROR
                                                                                      : EVENT_OK;
    ev->mode = MODE_STANDARD;
    snprintf(ev->usage_format, sizeof(ev->usage_format), "otlp");

    read_attrs(s, &a);
    if ((b = tokens(m, c, &a, &ev->tokens, y)) != B_OK)
        return b;
    if ((b = span_string(&a, provider_attrs, COUNT(provider_attrs), ev->provider, EVENT_NAME_MAX,
                         &given, y)) != B_OK)
        return b;
    if (!given)
        return reject(y, "missing_field",
                      "no provider: gen_ai.provider.name, gen_ai.system, llm.provider, "
                      "llm.system and ai.model.provider are all absent");
    if (c->set == SET_VERCEL)
        vercel_provider(ev->provider, sizeof(ev->provider));
    if ((b = span_string(&a, model_attrs, COUNT(model_attrs), ev->model, EVENT_NAME_MAX, &given,
                         y)) != B_OK)
        return b;
    if (!given)
        return reject(y, "missing_field",
                      "no model: gen_ai.response.model, gen_ai.request.model, llm.model_name "
                      "and the others are all absent");
    if ((b = span_string(&a, requested_attrs, COUNT(requested_attrs), ev->requested_model,
                         EVENT_NAME_MAX, &given, y)) != B_OK)
        return b;
    if (!given)
        memcpy(ev->requested_model, ev->model, sizeof(ev->model));

    if ((b = mapped_string(m, GENAI_TEAM, c, ev->team, EVENT_SLUG_MAX, &given, y)) != B_OK)
        return b;
    if (!given) {
        char names[GENAI_NAMES_MAX * (GENAI_NAME_MAX + 1)];
        if (default_team) {
            snprintf(ev->team, sizeof(ev->team), "%s", default_team);
        } else {
            genai_mapping_format(m, GENAI_TEAM, names, sizeof(names));
            return reject(y, "missing_field", "no team: none of %.120s is set",
                          names[0] ? names : "(no team attributes configured)");
        }
    }
    if ((b = mapped_string(m, GENAI_PROJECT, c, ev->project, EVENT_SLUG_MAX, &given, y)) != B_OK ||
        (b = mapped_string(m, GENAI_USER, c, ev->user, EVENT_USER_MAX, &given, y)) != B_OK ||
        (b = mapped_string(m, GENAI_REQUEST_ID, c, ev->request_id, EVENT_NAME_MAX, &given, y)) !=
            B_OK)
        return b;
    return build_tags(m, c, &ev->tags);
}

/* ---- the batch ---- */

static void note_reject(struct genai_batch *b, const struct cand *c, const struct usage_event *ev,
                        const struct why *y)
{
    struct genai_reject *r;

    b->rejected++;
    if (b->n_rejects == GENAI_REJECTS_MAX)
        return;
    r = &b->rejects[b->n_rejects++];
    r->span = c->index;
    /* ev->id is "" or exactly GENAI_EVENT_ID_LEN bytes */
    memcpy(r->event_id, ev->id, GENAI_EVENT_ID_LEN);
    r->event_id[GENAI_EVENT_ID_LEN] = '\0';
    r->code = y->code;
    snprintf(r->message, sizeof(r->message), "%s", y->message);
}

enum genai_status genai_map(const struct genai_mapping *m,
                            const struct Otlp__ExportTraceServiceRequest *req, int64_t now_us,
                            const char *default_team, size_t max_bytes, struct genai_batch *out)
{
    struct work w = {0};
    struct genai_batch b = {0};
    size_t counted = 0;
    enum genai_status st = GENAI_ENOMEM;

    memset(out, 0, sizeof(*out));
    /* Pass 1: the spans with usage. */
    for (size_t i = 0; req && i < req->n_resource_spans; i++) {
        const Otlp__ResourceSpans *rs = req->resource_spans[i];
        for (size_t j = 0; j < rs->n_scope_spans; j++) {
            const Otlp__ScopeSpans *ss = rs->scope_spans[j];
            for (size_t k = 0; k < ss->n_spans; k++) {
                struct cand c = {.index = b.spans++, .rs = rs, .ss = ss, .span = ss->spans[k]};
                struct attrs a;
                read_attrs(c.span, &a);
                c.set = usage_set(&a);
                if (c.set == SET_NONE) {
                    b.ignored++;
                    continue;
                }
                c.response_id = str_of(a.v[GA_RESPONSE_ID]);
                if (!add_cand(&w, &c))
                    goto out;
            }
        }
    }
    /* Passes 2 to 4: what not to count. */
    vercel_leaf_rule(&w);
    if (!parent_rule(&w) || !dedupe_rule(&w))
        goto out;
    for (size_t i = 0; i < w.n; i++) {
        b.aggregates += w.c[i].fate == C_AGGREGATE;
        b.duplicates += w.c[i].fate == C_DUPLICATE;
        counted += w.c[i].fate == C_COUNT;
    }
    if (counted > max_bytes / GENAI_EVENT_COST) {
        st = GENAI_ETOOBIG;
        goto out;
    }
    if (counted) {
        b.events = calloc(counted, sizeof(*b.events));
        b.rejects =
            calloc(counted < GENAI_REJECTS_MAX ? counted : GENAI_REJECTS_MAX, sizeof(*b.rejects));
        if (!b.events || !b.rejects)
            goto out;
    }
    /* Pass 5: the events. */
    for (size_t i = 0; i < w.n; i++) {
        struct usage_event *ev;
        struct why y;
        enum build r;

        if (w.c[i].fate != C_COUNT)
            continue;
        ev = &b.events[b.n_events];
        r = build_event(m, &w.c[i], now_us, default_team, ev, &y);
        if (r == B_NOMEM)
            goto out;
        if (r == B_REJECT) {
            note_reject(&b, &w.c[i], ev, &y);
            memset(ev, 0, sizeof(*ev));
            continue;
        }
        b.n_events++;
    }
    *out = b;
    st = GENAI_OK;
out:
    if (st != GENAI_OK)
        genai_batch_clear(&b);
    free(w.c);
    return st;
}

void genai_batch_clear(struct genai_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n_events; i++)
        json_decref(b->events[i].tags);
    free(b->events);
    free(b->rejects);
    memset(b, 0, sizeof(*b));
}

/* An appender that cuts at a character boundary and remembers that it did. */
struct text {
    char *buf;
    size_t cap, len;
    bool cut;
};

static bool append(struct text *t, const char *s)
{
    size_t n = strlen(s);

    if (t->cut)
        return false;
    if (n >= t->cap - t->len) {
        n = t->cap - t->len - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
        t->cut = true;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
    return !t->cut;
}

void genai_batch_summary(const struct genai_batch *b, char *buf, size_t cap)
{
    struct text t = {buf, cap, 0, false};
    char piece[GENAI_EVENT_ID_LEN + sizeof(b->rejects[0].message) + 64];

    if (cap == 0)
        return;
    buf[0] = '\0';
    if (b->rejected == 0)
        return;
    snprintf(piece, sizeof(piece), "%zu of %zu spans rejected", b->rejected, b->spans);
    append(&t, piece);
    for (size_t i = 0; i < b->n_rejects; i++) {
        const struct genai_reject *r = &b->rejects[i];
        size_t mark = t.len;
        snprintf(piece, sizeof(piece), "%sspan %zu%s%s%s: %s", i ? "; " : ": ", r->span,
                 r->event_id[0] ? " (" : "", r->event_id, r->event_id[0] ? ")" : "", r->message);
        if (!append(&t, piece)) {
            /* Drop the partial piece and say there is more, if that fits. */
            t.len = mark;
            buf[mark] = '\0';
            t.cut = false;
            append(&t, mark + 5 < cap ? "; ..." : "");
            return;
        }
    }
    if (b->n_rejects < b->rejected)
        append(&t, "; ...");
}
