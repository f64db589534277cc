/*
 * ledger: budgets, routing policies, their accounts and the holds, behind
 * one mutex. Budgets and policies are copied in by ledger_replace and
 * indexed by scope (org, team id, project id, key id, user name, tag key and
 * value) so that a verdict or an applied event visits only the accounts on
 * its path, never all of them. Holds live in a slab, found by reservation id
 * and by request id through two open-addressing tables. Everything the
 * ledger allocates is its own and is freed by ledger_free. The zones handed
 * to ledger_replace are borrowed. Pure: time comes in as "now".
 */
#include "ledger.h"

#include "period.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

__extension__ typedef unsigned __int128 u128;

#define SLOT_EMPTY 0u
#define SLOT_TOMB  UINT32_MAX
#define EST_CACHE  8

/* ---- accounts ------------------------------------------------------------ */

/* A budget and its account in the current period. */
struct bacct {
    struct budget b;
    struct period_rule rule;
    bool active;        /* now lies in a period (a fixed window may be before or past) */
    int64_t start, end; /* the current period when active */
    money_t spent, reserved;
    money_t since_mark; /* spend applied since the last ledger_mark */
    bool pending;       /* waiting for ledger_set_budget_spend */
    int64_t pending_since;
    size_t holds;
    uint32_t stamp; /* the last path walk that collected it */
};

/* A routing policy and its tier mix in the current mix period. */
struct pacct {
    struct routing_policy p;
    struct period_rule rule;
    int64_t start, end;
    money_t spend[POLICY_TIERS_MAX], spend_mark[POLICY_TIERS_MAX];
    int64_t req[POLICY_TIERS_MAX], req_mark[POLICY_TIERS_MAX];
    bool pending;
    int64_t pending_since;
    uint32_t stamp;
};

struct hold {
    bool live;
    char rsv[LEDGER_RSV_MAX];
    char *req; /* owned; NULL = none */
    money_t amount;
    int64_t expires;
    uint32_t *budgets; /* indexes into budgets; owned */
    size_t n;
};

/* ---- indexes --------------------------------------------------------------- */

/* What a scope index compares: a scope as it sits in one org. */
struct probe {
    enum scope_kind kind;
    int64_t org;
    int64_t id;          /* team, project, key; 0 otherwise */
    const char *s1, *s2; /* user name; tag key and value; NULL otherwise */
};

/* A multimap from scope to item (budget or policy), built once, never edited. */
struct sindex {
    struct probe *keys; /* per item */
    uint32_t *slots;    /* item + 1; 0 = empty */
    uint64_t *hashes;
    size_t mask;
};

/* A map from budget or policy id to its index (first one wins). */
struct idmap {
    int64_t *keys;
    uint32_t *slots; /* index + 1; 0 = empty */
    size_t mask;
};

/* A map from a hold's reservation id or request id to the hold, with deletions. */
struct smap {
    uint32_t *slots; /* hold + 1; 0 = empty; SLOT_TOMB = deleted */
    uint64_t *hashes;
    size_t cap, used, tombs;
    bool by_request; /* keyed by hold.req, else by hold.rsv */
};

struct ledger {
    pthread_mutex_t mu;

    struct bacct *budgets;
    size_t n_budgets;
    struct sindex bidx;
    struct idmap bids;

    struct pacct *policies;
    size_t n_policies;
    struct sindex pidx;
    struct idmap pids;

    struct hold *holds;
    size_t n_holds, cap_holds, live_holds;
    uint32_t *free_holds;
    size_t n_free;
    struct smap by_rsv, by_req;

    /* scratch for path walks, sized to the budgets and policies */
    uint32_t stamp;
    uint32_t *path_b;
    size_t n_path_b;
    uint32_t *path_p;
    int *path_rank;
    size_t n_path_p;

    uint64_t epoch;
    bool loading; /* between ledger_mark and ledger_synced */
    int64_t last_sync;
};

/* ---- small helpers --------------------------------------------------------- */

static uint64_t mix64(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 33);
}

static uint64_t hash_str(uint64_t h, const char *s)
{
    for (; s != NULL && *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return mix64(h, 0x5bd1e995);
}

static size_t table_size(size_t n)
{
    size_t cap = 16;
    while (cap < n * 2 + 16)
        cap *= 2;
    return cap;
}

static bool streq(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

static struct probe scope_probe(int64_t org, const struct scope *s)
{
    struct probe p = {.kind = s->kind, .org = org};
    switch (s->kind) {
    case SCOPE_TEAM:
    case SCOPE_PROJECT:
    case SCOPE_KEY:
        p.id = s->id;
        break;
    case SCOPE_USER:
        p.s1 = s->name;
        break;
    case SCOPE_TAG:
        p.s1 = s->name;
        p.s2 = s->tag_value;
        break;
    case SCOPE_ORG:
    default:
        break;
    }
    return p;
}

static uint64_t probe_hash(const struct probe *p)
{
    uint64_t h = mix64(mix64(mix64(0xcbf29ce484222325ULL, (uint64_t)p->kind), (uint64_t)p->org),
                       (uint64_t)p->id);
    h = hash_str(h, p->s1);
    return hash_str(h, p->s2);
}

static bool probe_eq(const struct probe *a, const struct probe *b)
{
    return a->kind == b->kind && a->org == b->org && a->id == b->id && streq(a->s1, b->s1) &&
           streq(a->s2, b->s2);
}

static void sindex_free(struct sindex *x)
{
    free(x->keys);
    free(x->slots);
    free(x->hashes);
    memset(x, 0, sizeof(*x));
}

/* Builds the index of n keys (taken over: keys is owned by x on success). */
static bool sindex_build(struct sindex *x, struct probe *keys, size_t n)
{
    size_t cap = table_size(n);
    x->keys = keys;
    x->slots = calloc(cap, sizeof(*x->slots));
    x->hashes = calloc(cap, sizeof(*x->hashes));
    x->mask = cap - 1;
    if (x->slots == NULL || x->hashes == NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = probe_hash(&keys[i]);
        size_t j = h & x->mask;
        while (x->slots[j] != SLOT_EMPTY)
            j = (j + 1) & x->mask;
        x->slots[j] = (uint32_t)i + 1;
        x->hashes[j] = h;
    }
    return true;
}

static void idmap_free(struct idmap *m)
{
    free(m->keys);
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

static bool idmap_build(struct idmap *m, size_t n)
{
    size_t cap = table_size(n);
    m->keys = calloc(cap, sizeof(*m->keys));
    m->slots = calloc(cap, sizeof(*m->slots));
    m->mask = cap - 1;
    return m->keys != NULL && m->slots != NULL;
}

static void idmap_put(struct idmap *m, int64_t id, uint32_t idx)
{
    size_t j = mix64(0, (uint64_t)id) & m->mask;
    for (; m->slots[j] != SLOT_EMPTY; j = (j + 1) & m->mask)
        if (m->keys[j] == id)
            return; /* a duplicate id: the first one keeps it */
    m->keys[j] = id;
    m->slots[j] = idx + 1;
}

/* The index of id, or -1. */
static long idmap_get(const struct idmap *m, int64_t id)
{
    if (m->slots == NULL)
        return -1;
    size_t j = mix64(0, (uint64_t)id) & m->mask;
    for (; m->slots[j] != SLOT_EMPTY; j = (j + 1) & m->mask)
        if (m->keys[j] == id)
            return (long)m->slots[j] - 1;
    return -1;
}

/* ---- holds ------------------------------------------------------------------ */

static const char *hold_key(const struct ledger *l, const struct smap *m, uint32_t h)
{
    return m->by_request ? l->holds[h].req : l->holds[h].rsv;
}

static bool smap_grow(struct ledger *l, struct smap *m)
{
    size_t cap = table_size(m->used * 2 + 16);
    uint32_t *slots = calloc(cap, sizeof(*slots));
    uint64_t *hashes = calloc(cap, sizeof(*hashes));
    if (slots == NULL || hashes == NULL) {
        free(slots);
        free(hashes);
        return false;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i] == SLOT_EMPTY || m->slots[i] == SLOT_TOMB)
            continue;
        size_t j = m->hashes[i] & (cap - 1);
        while (slots[j] != SLOT_EMPTY)
            j = (j + 1) & (cap - 1);
        slots[j] = m->slots[i];
        hashes[j] = m->hashes[i];
    }
    free(m->slots);
    free(m->hashes);
    m->slots = slots;
    m->hashes = hashes;
    m->cap = cap;
    m->tombs = 0;
    (void)l;
    return true;
}

/* The slot holding key, or (size_t)-1. */
static size_t smap_find(const struct ledger *l, const struct smap *m, const char *key)
{
    if (m->cap == 0 || key == NULL || key[0] == '\0')
        return (size_t)-1;
    uint64_t h = hash_str(0xcbf29ce484222325ULL, key);
    for (size_t j = h & (m->cap - 1); m->slots[j] != SLOT_EMPTY; j = (j + 1) & (m->cap - 1)) {
        if (m->slots[j] != SLOT_TOMB && m->hashes[j] == h &&
            strcmp(hold_key(l, m, m->slots[j] - 1), key) == 0)
            return j;
    }
    return (size_t)-1;
}

static bool smap_put(struct ledger *l, struct smap *m, uint32_t hold)
{
    if ((m->used + m->tombs + 1) * 2 > m->cap && !smap_grow(l, m))
        return false;
    uint64_t h = hash_str(0xcbf29ce484222325ULL, hold_key(l, m, hold));
    size_t j = h & (m->cap - 1);
    while (m->slots[j] != SLOT_EMPTY && m->slots[j] != SLOT_TOMB)
        j = (j + 1) & (m->cap - 1);
    if (m->slots[j] == SLOT_TOMB)
        m->tombs--;
    m->slots[j] = hold + 1;
    m->hashes[j] = h;
    m->used++;
    return true;
}

static void smap_del(struct ledger *l, struct smap *m, const char *key)
{
    size_t j = smap_find(l, m, key);
    if (j == (size_t)-1)
        return;
    m->slots[j] = SLOT_TOMB;
    m->used--;
    m->tombs++;
}

/* Drops hold h: its amount leaves the reserved sums of its budgets. */
static money_t hold_drop(struct ledger *l, uint32_t h)
{
    struct hold *x = &l->holds[h];
    for (size_t i = 0; i < x->n; i++) {
        struct bacct *a = &l->budgets[x->budgets[i]];
        a->reserved -= x->amount;
        a->holds--;
    }
    smap_del(l, &l->by_rsv, x->rsv);
    if (x->req != NULL)
        smap_del(l, &l->by_req, x->req);
    money_t amount = x->amount;
    free(x->req);
    free(x->budgets);
    memset(x, 0, sizeof(*x));
    l->free_holds[l->n_free++] = h;
    l->live_holds--;
    return amount;
}

static long hold_by(struct ledger *l, struct smap *m, const char *key)
{
    size_t j = smap_find(l, m, key);
    return j == (size_t)-1 ? -1 : (long)m->slots[j] - 1;
}

/* A free hold slot, or -1 when out of memory. */
static long hold_alloc(struct ledger *l)
{
    if (l->n_free > 0)
        return (long)l->free_holds[--l->n_free];
    if (l->n_holds == l->cap_holds) {
        size_t cap = l->cap_holds ? l->cap_holds * 2 : 64;
        struct hold *holds = realloc(l->holds, cap * sizeof(*holds));
        if (holds == NULL)
            return -1;
        l->holds = holds;
        uint32_t *fr = realloc(l->free_holds, cap * sizeof(*fr));
        if (fr == NULL)
            return -1;
        l->free_holds = fr;
        l->cap_holds = cap;
    }
    memset(&l->holds[l->n_holds], 0, sizeof(l->holds[0]));
    return (long)l->n_holds++;
}

/* ---- lifetime --------------------------------------------------------------- */

struct ledger *ledger_new(void)
{
    struct ledger *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    if (pthread_mutex_init(&l->mu, NULL) != 0) {
        free(l);
        return NULL;
    }
    l->by_req.by_request = true;
    return l;
}

static void free_holds(struct ledger *l)
{
    for (size_t i = 0; i < l->n_holds; i++) {
        free(l->holds[i].req);
        free(l->holds[i].budgets);
    }
    free(l->holds);
    free(l->free_holds);
    free(l->by_rsv.slots);
    free(l->by_rsv.hashes);
    free(l->by_req.slots);
    free(l->by_req.hashes);
}

void ledger_free(struct ledger **lp)
{
    struct ledger *l = *lp;
    if (l == NULL)
        return;
    free(l->budgets);
    sindex_free(&l->bidx);
    idmap_free(&l->bids);
    free(l->policies);
    sindex_free(&l->pidx);
    idmap_free(&l->pids);
    free_holds(l);
    free(l->path_b);
    free(l->path_p);
    free(l->path_rank);
    pthread_mutex_destroy(&l->mu);
    free(l);
    *lp = NULL;
}

/* ---- periods ---------------------------------------------------------------- */

static void budget_period(struct bacct *a, int64_t now)
{
    a->active = period_bounds(&a->rule, now, &a->start, &a->end);
}

static void mix_period(struct pacct *a, int64_t now)
{
    if (!period_bounds(&a->rule, now, &a->start, &a->end))
        a->start = a->end = 0; /* cannot happen: mix periods are never fixed */
}

static bool same_scope(int64_t org_a, const struct scope *a, int64_t org_b, const struct scope *b)
{
    struct probe pa = scope_probe(org_a, a), pb = scope_probe(org_b, b);
    return probe_eq(&pa, &pb) && strcmp(a->name, b->name) == 0;
}

static bool same_rule(const struct bacct *old, const struct budget *b, const struct tz *zone)
{
    const struct budget *o = &old->b;
    if (o->period != b->period || old->rule.zone != zone || strcmp(o->timezone, b->timezone) != 0)
        return false;
    if (b->period == PERIOD_FIXED)
        return o->window_start == b->window_start && o->window_end == b->window_end;
    return b->period == PERIOD_DAY || o->anchor == b->anchor;
}

static bool same_mix(const struct pacct *old, const struct routing_policy *p, const struct tz *zone)
{
    const struct routing_policy *o = &old->p;
    if (!same_scope(o->org_id, &o->scope, p->org_id, &p->scope) || o->n_tiers != p->n_tiers ||
        o->n_ladders != p->n_ladders || o->mix_set != p->mix_set || o->mix_basis != p->mix_basis ||
        o->mix_period != p->mix_period || old->rule.zone != zone ||
        strcmp(o->mix_timezone, p->mix_timezone) != 0)
        return false;
    for (size_t t = 0; t < p->n_tiers; t++)
        if (o->mix_bp[t] != p->mix_bp[t])
            return false;
    for (size_t i = 0; i < p->n_ladders; i++) {
        if (strcmp(o->ladders[i].provider, p->ladders[i].provider) != 0)
            return false;
        for (size_t t = 0; t < POLICY_TIERS_MAX; t++)
            if (strcmp(o->ladders[i].models[t], p->ladders[i].models[t]) != 0)
                return false;
    }
    return true;
}

/* ---- replace ---------------------------------------------------------------- */

struct built {
    struct bacct *budgets;
    size_t n_budgets;
    struct sindex bidx;
    struct idmap bids;
    struct pacct *policies;
    size_t n_policies;
    struct sindex pidx;
    struct idmap pids;
    uint32_t *path_b, *path_p;
    int *path_rank;
    long *kept; /* old budget index -> new index or -1 */
};

static void built_free(struct built *n)
{
    free(n->budgets);
    sindex_free(&n->bidx);
    idmap_free(&n->bids);
    free(n->policies);
    sindex_free(&n->pidx);
    idmap_free(&n->pids);
    free(n->path_b);
    free(n->path_p);
    free(n->path_rank);
    free(n->kept);
}

static bool build_budgets(struct ledger *l, struct built *n, const struct budget *budgets,
                          const struct tz *const *zones, size_t n_budgets, int64_t now)
{
    size_t cnt = 0;
    for (size_t i = 0; i < n_budgets; i++)
        cnt += budgets[i].enabled;
    n->budgets = calloc(cnt + 1, sizeof(*n->budgets));
    struct probe *keys = calloc(cnt + 1, sizeof(*keys));
    n->path_b = calloc(cnt + 1, sizeof(*n->path_b));
    n->kept = malloc((l->n_budgets + 1) * sizeof(*n->kept));
    if (n->budgets == NULL || keys == NULL || n->path_b == NULL || n->kept == NULL ||
        !idmap_build(&n->bids, cnt)) {
        free(keys);
        return false;
    }
    for (size_t i = 0; i < l->n_budgets; i++)
        n->kept[i] = -1;
    for (size_t i = 0; i < n_budgets; i++) {
        if (!budgets[i].enabled)
            continue;
        struct bacct *a = &n->budgets[n->n_budgets];
        const struct tz *zone = zones != NULL ? zones[i] : NULL;
        a->b = budgets[i];
        a->rule = (struct period_rule){.kind = a->b.period,
                                       .anchor = a->b.anchor,
                                       .zone = zone,
                                       .fixed_start = a->b.window_start,
                                       .fixed_end = a->b.window_end};
        long old = idmap_get(&l->bids, a->b.id);
        if (old >= 0 && n->kept[old] < 0 &&
            same_scope(l->budgets[old].b.org_id, &l->budgets[old].b.scope, a->b.org_id,
                       &a->b.scope) &&
            same_rule(&l->budgets[old], &a->b, zone)) {
            const struct bacct *o = &l->budgets[old];
            a->active = o->active;
            a->start = o->start;
            a->end = o->end;
            a->spent = o->spent;
            a->reserved = o->reserved;
            a->since_mark = o->since_mark;
            a->pending = o->pending;
            a->pending_since = o->pending_since;
            a->holds = o->holds;
            n->kept[old] = (long)n->n_budgets;
        } else {
            budget_period(a, now);
            a->pending = true;
            a->pending_since = now;
        }
        keys[n->n_budgets] = scope_probe(a->b.org_id, &a->b.scope);
        idmap_put(&n->bids, a->b.id, (uint32_t)n->n_budgets);
        n->n_budgets++;
    }
    /* the probes point into n->budgets, which no longer moves */
    for (size_t i = 0; i < n->n_budgets; i++)
        keys[i] = scope_probe(n->budgets[i].b.org_id, &n->budgets[i].b.scope);
    if (!sindex_build(&n->bidx, keys, n->n_budgets))
        return false;
    return true;
}

static bool build_policies(struct ledger *l, struct built *n, const struct routing_policy *policies,
                           const struct tz *const *mix_zones, size_t n_policies, int64_t now)
{
    size_t cnt = 0;
    for (size_t i = 0; i < n_policies; i++)
        cnt += policies[i].enabled;
    n->policies = calloc(cnt + 1, sizeof(*n->policies));
    struct probe *keys = calloc(cnt + 1, sizeof(*keys));
    n->path_p = calloc(cnt + 1, sizeof(*n->path_p));
    n->path_rank = calloc(cnt + 1, sizeof(*n->path_rank));
    if (n->policies == NULL || keys == NULL || n->path_p == NULL || n->path_rank == NULL ||
        !idmap_build(&n->pids, cnt)) {
        free(keys);
        return false;
    }
    for (size_t i = 0; i < n_policies; i++) {
        if (!policies[i].enabled)
            continue;
        struct pacct *a = &n->policies[n->n_policies];
        const struct tz *zone = mix_zones != NULL ? mix_zones[i] : NULL;
        a->p = policies[i];
        a->rule = (struct period_rule){.kind = a->p.mix_period, .anchor = 1, .zone = zone};
        long old = idmap_get(&l->pids, a->p.id);
        if (old >= 0 && same_mix(&l->policies[old], &a->p, zone)) {
            const struct pacct *o = &l->policies[old];
            a->start = o->start;
            a->end = o->end;
            memcpy(a->spend, o->spend, sizeof(a->spend));
            memcpy(a->spend_mark, o->spend_mark, sizeof(a->spend_mark));
            memcpy(a->req, o->req, sizeof(a->req));
            memcpy(a->req_mark, o->req_mark, sizeof(a->req_mark));
            a->pending = o->pending;
            a->pending_since = o->pending_since;
        } else {
            mix_period(a, now);
            a->pending = a->p.mix_set;
            a->pending_since = now;
        }
        idmap_put(&n->pids, a->p.id, (uint32_t)n->n_policies);
        n->n_policies++;
    }
    for (size_t i = 0; i < n->n_policies; i++)
        keys[i] = scope_probe(n->policies[i].p.org_id, &n->policies[i].p.scope);
    return sindex_build(&n->pidx, keys, n->n_policies);
}

/* Moves every hold onto the new budget indexes; a hold keeps only budgets that were kept. */
static void remap_holds(struct ledger *l, const long *kept)
{
    for (size_t h = 0; h < l->n_holds; h++) {
        struct hold *x = &l->holds[h];
        if (!x->live)
            continue;
        size_t k = 0;
        for (size_t i = 0; i < x->n; i++)
            if (kept[x->budgets[i]] >= 0)
                x->budgets[k++] = (uint32_t)kept[x->budgets[i]];
        x->n = k;
    }
}

bool ledger_replace(struct ledger *l, const struct budget *budgets, const struct tz *const *zones,
                    size_t n_budgets, const struct routing_policy *policies,
                    const struct tz *const *mix_zones, size_t n_policies, int64_t now)
{
    struct built n = {0};
    pthread_mutex_lock(&l->mu);
    bool ok = build_budgets(l, &n, budgets, zones, n_budgets, now) &&
              build_policies(l, &n, policies, mix_zones, n_policies, now);
    if (ok) {
        remap_holds(l, n.kept);
        struct built old = {.budgets = l->budgets,
                            .bidx = l->bidx,
                            .bids = l->bids,
                            .policies = l->policies,
                            .pidx = l->pidx,
                            .pids = l->pids,
                            .path_b = l->path_b,
                            .path_p = l->path_p,
                            .path_rank = l->path_rank,
                            .kept = n.kept};
        l->budgets = n.budgets;
        l->n_budgets = n.n_budgets;
        l->bidx = n.bidx;
        l->bids = n.bids;
        l->policies = n.policies;
        l->n_policies = n.n_policies;
        l->pidx = n.pidx;
        l->pids = n.pids;
        l->path_b = n.path_b;
        l->path_p = n.path_p;
        l->path_rank = n.path_rank;
        n = old;
    }
    pthread_mutex_unlock(&l->mu);
    built_free(&n);
    return ok;
}

/* ---- paths ------------------------------------------------------------------ */

struct path_ctx {
    struct ledger *l;
    bool for_ts; /* collect budgets whose period holds ts, else active ones */
    int64_t ts;
};

static void visit_budgets(struct path_ctx *c, const struct probe *q)
{
    struct ledger *l = c->l;
    if (l->bidx.slots == NULL)
        return;
    uint64_t h = probe_hash(q);
    for (size_t j = h & l->bidx.mask; l->bidx.slots[j] != SLOT_EMPTY; j = (j + 1) & l->bidx.mask) {
        uint32_t i = l->bidx.slots[j] - 1;
        if (l->bidx.hashes[j] != h || !probe_eq(&l->bidx.keys[i], q))
            continue;
        struct bacct *a = &l->budgets[i];
        if (a->stamp == l->stamp || !a->active)
            continue;
        if (c->for_ts && (c->ts < a->start || c->ts >= a->end))
            continue;
        a->stamp = l->stamp;
        l->path_b[l->n_path_b++] = i;
    }
}

static void visit_policies(struct path_ctx *c, const struct probe *q, int rank)
{
    struct ledger *l = c->l;
    if (l->pidx.slots == NULL)
        return;
    uint64_t h = probe_hash(q);
    for (size_t j = h & l->pidx.mask; l->pidx.slots[j] != SLOT_EMPTY; j = (j + 1) & l->pidx.mask) {
        uint32_t i = l->pidx.slots[j] - 1;
        if (l->pidx.hashes[j] != h || !probe_eq(&l->pidx.keys[i], q))
            continue;
        struct pacct *a = &l->policies[i];
        if (a->stamp == l->stamp)
            continue;
        a->stamp = l->stamp;
        /* insertion in order of specificity: smaller rank first, stable */
        size_t k = l->n_path_p++;
        while (k > 0 && l->path_rank[k - 1] > rank) {
            l->path_p[k] = l->path_p[k - 1];
            l->path_rank[k] = l->path_rank[k - 1];
            k--;
        }
        l->path_p[k] = i;
        l->path_rank[k] = rank;
    }
}

static void visit(struct path_ctx *c, const struct probe *q, int rank)
{
    visit_budgets(c, q);
    visit_policies(c, q, rank);
}

/*
 * Collects the budgets and policies on the path of cs into path_b and
 * path_p (policies most specific first: user, key and tag; project; the
 * team, then its ancestors; the org).
 */
static void collect(struct ledger *l, const struct call_scope *cs, bool for_ts, int64_t ts)
{
    struct path_ctx c = {.l = l, .for_ts = for_ts, .ts = ts};
    l->n_path_b = l->n_path_p = 0;
    if (++l->stamp == 0) { /* wrapped: clear the stamps once */
        for (size_t i = 0; i < l->n_budgets; i++)
            l->budgets[i].stamp = 0;
        for (size_t i = 0; i < l->n_policies; i++)
            l->policies[i].stamp = 0;
        l->stamp = 1;
    }
    int64_t org = cs->org_id;
    if (cs->user != NULL && cs->user[0] != '\0')
        visit(&c, &(struct probe){.kind = SCOPE_USER, .org = org, .s1 = cs->user}, 0);
    if (cs->key_id != 0)
        visit(&c, &(struct probe){.kind = SCOPE_KEY, .org = org, .id = cs->key_id}, 0);
    if (json_is_object(cs->tags)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)cs->tags, k, v)
        {
            if (json_is_string(v))
                visit(&c,
                      &(struct probe){
                          .kind = SCOPE_TAG, .org = org, .s1 = k, .s2 = json_string_value(v)},
                      0);
        }
    }
    if (cs->project_id != 0)
        visit(&c, &(struct probe){.kind = SCOPE_PROJECT, .org = org, .id = cs->project_id}, 1);
    for (size_t i = 0; i < cs->n_teams && i < LEDGER_TEAM_DEPTH; i++)
        if (cs->teams[i] != 0)
            visit(&c, &(struct probe){.kind = SCOPE_TEAM, .org = org, .id = cs->teams[i]},
                  2 + (int)i);
    visit(&c, &(struct probe){.kind = SCOPE_ORG, .org = org}, 2 + LEDGER_TEAM_DEPTH);
}

/* ---- exact arithmetic -------------------------------------------------------- */

/* a * x as a 192-bit number (hi, lo) for a >= 0 and x < 2^32. */
struct wide {
    u128 hi;
    uint64_t lo;
};

static struct wide wmul(money_t a, uint32_t x)
{
    u128 ua = (u128)a;
    u128 lo = (u128)(uint64_t)ua * x;
    struct wide w = {(ua >> 64) * x + (lo >> 64), (uint64_t)lo};
    return w;
}

/* True if a * x > b * y, exactly (b >= 0). */
static bool mul_gt(money_t a, uint32_t x, money_t b, uint32_t y)
{
    if (a <= 0)
        return false;
    struct wide l = wmul(a, x), r = wmul(b, y);
    return l.hi > r.hi || (l.hi == r.hi && l.lo > r.lo);
}

/* True if spending projected crosses a threshold of percent_x100 on amount. */
static bool crosses(money_t projected, money_t amount, int32_t percent_x100)
{
    return mul_gt(projected, 10000, amount, (uint32_t)percent_x100);
}

/* floor(u / a * 10^digits), clamped to [0, INT64_MAX / 100]; a == 0: 0 or the clamp. */
static int64_t fraction(money_t u, money_t a, int digits)
{
    const int64_t cap = INT64_MAX / 100;
    if (u <= 0)
        return 0;
    if (a <= 0)
        return cap;
    money_t q = u / a, r = u % a;
    for (int i = 0; i < digits; i++) {
        if (q > cap)
            return cap;
        r *= 10; /* r < a < 1e36: no overflow */
        q = q * 10 + r / a;
        r %= a;
    }
    return q > cap ? cap : (int64_t)q;
}

/* ---- loads ---------------------------------------------------------------- */

uint64_t ledger_mark(struct ledger *l)
{
    pthread_mutex_lock(&l->mu);
    uint64_t epoch = ++l->epoch;
    l->loading = true;
    for (size_t i = 0; i < l->n_budgets; i++)
        l->budgets[i].since_mark = 0;
    for (size_t i = 0; i < l->n_policies; i++) {
        memset(l->policies[i].spend_mark, 0, sizeof(l->policies[i].spend_mark));
        memset(l->policies[i].req_mark, 0, sizeof(l->policies[i].req_mark));
    }
    pthread_mutex_unlock(&l->mu);
    return epoch;
}

size_t ledger_loads(struct ledger *l, bool all, struct ledger_load *out, size_t cap)
{
    size_t n = 0;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->n_budgets; i++) {
        const struct bacct *a = &l->budgets[i];
        if (!a->active || !(all || a->pending))
            continue;
        if (n < cap)
            out[n] = (struct ledger_load){.kind = LEDGER_LOAD_BUDGET,
                                          .id = a->b.id,
                                          .org_id = a->b.org_id,
                                          .scope = a->b.scope,
                                          .start = a->start,
                                          .end = a->end};
        n++;
    }
    for (size_t i = 0; i < l->n_policies; i++) {
        const struct pacct *a = &l->policies[i];
        if (!a->p.mix_set || !(all || a->pending))
            continue;
        if (n < cap)
            out[n] = (struct ledger_load){.kind = LEDGER_LOAD_MIX,
                                          .id = a->p.id,
                                          .org_id = a->p.org_id,
                                          .scope = a->p.scope,
                                          .start = a->start,
                                          .end = a->end};
        n++;
    }
    pthread_mutex_unlock(&l->mu);
    return n;
}

void ledger_set_budget_spend(struct ledger *l, uint64_t epoch, int64_t budget_id, int64_t start,
                             money_t db_spent)
{
    pthread_mutex_lock(&l->mu);
    long i = idmap_get(&l->bids, budget_id);
    if (l->loading && epoch == l->epoch && i >= 0 && l->budgets[i].active &&
        l->budgets[i].start == start) {
        struct bacct *a = &l->budgets[i];
        a->spent = db_spent + a->since_mark;
        a->pending = false;
    }
    pthread_mutex_unlock(&l->mu);
}

void ledger_set_mix(struct ledger *l, uint64_t epoch, int64_t policy_id, int64_t start,
                    const money_t tier_spend[POLICY_TIERS_MAX],
                    const int64_t tier_requests[POLICY_TIERS_MAX])
{
    pthread_mutex_lock(&l->mu);
    long i = idmap_get(&l->pids, policy_id);
    if (l->loading && epoch == l->epoch && i >= 0 && l->policies[i].p.mix_set &&
        l->policies[i].start == start) {
        struct pacct *a = &l->policies[i];
        for (size_t t = 0; t < POLICY_TIERS_MAX; t++) {
            a->spend[t] = tier_spend[t] + a->spend_mark[t];
            a->req[t] = tier_requests[t] + a->req_mark[t];
        }
        a->pending = false;
    }
    pthread_mutex_unlock(&l->mu);
}

void ledger_synced(struct ledger *l, uint64_t epoch, bool ok, int64_t now)
{
    pthread_mutex_lock(&l->mu);
    if (epoch == l->epoch && l->loading) {
        l->loading = false;
        if (ok)
            l->last_sync = now;
    }
    pthread_mutex_unlock(&l->mu);
}

/* ---- spend ------------------------------------------------------------------ */

static bool has_text(const char *s)
{
    return s != NULL && s[0] != '\0';
}

void ledger_apply(struct ledger *l, const struct ledger_spend *s)
{
    pthread_mutex_lock(&l->mu);
    collect(l, &s->scope, true, s->ts);
    for (size_t i = 0; i < l->n_path_b; i++) {
        struct bacct *a = &l->budgets[l->path_b[i]];
        a->spent += s->cost;
        a->since_mark += s->cost;
    }
    for (size_t i = 0; i < l->n_path_p; i++) {
        struct pacct *a = &l->policies[l->path_p[i]];
        if (!a->p.mix_set || s->ts < a->start || s->ts >= a->end || !has_text(s->provider) ||
            !has_text(s->model))
            continue;
        int t = policy_tier_of(&a->p, s->provider, s->model);
        if (t < 0 || t >= POLICY_TIERS_MAX)
            continue;
        a->spend[t] += s->cost;
        a->spend_mark[t] += s->cost;
        a->req[t] += s->requests;
        a->req_mark[t] += s->requests;
    }
    long h = hold_by(l, &l->by_req, s->request_id);
    if (h >= 0)
        (void)hold_drop(l, (uint32_t)h);
    pthread_mutex_unlock(&l->mu);
}

size_t ledger_tick(struct ledger *l, int64_t now)
{
    size_t pending = 0;
    pthread_mutex_lock(&l->mu);
    for (size_t h = 0; h < l->n_holds; h++)
        if (l->holds[h].live && l->holds[h].expires <= now)
            (void)hold_drop(l, (uint32_t)h);
    for (size_t i = 0; i < l->n_budgets; i++) {
        struct bacct *a = &l->budgets[i];
        bool was = a->active;
        int64_t start = a->start;
        if (!a->active || now >= a->end || now < a->start)
            budget_period(a, now);
        if (a->active && (!was || a->start != start)) {
            /* a new period: spend starts over; live holds stay reserved */
            a->spent = a->since_mark = 0;
            a->pending = true;
            a->pending_since = now;
        }
        pending += a->active && a->pending;
    }
    for (size_t i = 0; i < l->n_policies; i++) {
        struct pacct *a = &l->policies[i];
        if (!a->p.mix_set)
            continue;
        if (now >= a->end || now < a->start) {
            mix_period(a, now);
            memset(a->spend, 0, sizeof(a->spend));
            memset(a->spend_mark, 0, sizeof(a->spend_mark));
            memset(a->req, 0, sizeof(a->req));
            memset(a->req_mark, 0, sizeof(a->req_mark));
            a->pending = true;
            a->pending_since = now;
        }
        pending += a->pending;
    }
    pthread_mutex_unlock(&l->mu);
    return pending;
}

bool ledger_release(struct ledger *l, const char *reservation_id, money_t *released)
{
    pthread_mutex_lock(&l->mu);
    long h = hold_by(l, &l->by_rsv, reservation_id);
    bool found = h >= 0;
    if (found) {
        money_t amount = hold_drop(l, (uint32_t)h);
        if (released != NULL)
            *released = amount;
    }
    pthread_mutex_unlock(&l->mu);
    return found;
}

/* ---- names ------------------------------------------------------------------- */

static const char *const priority_names[] = {"interactive", "batch", "critical"};
static const char *const decision_names[] = {"allow", "downgrade", "deny"};

bool ledger_parse_priority(const char *s, enum priority *out)
{
    for (size_t i = 0; s != NULL && i < 3; i++) {
        if (strcmp(s, priority_names[i]) == 0) {
            *out = (enum priority)i;
            return true;
        }
    }
    return false;
}

const char *ledger_priority_name(enum priority p)
{
    return (unsigned)p < 3 ? priority_names[p] : "unknown";
}

const char *ledger_decision_name(enum decision d)
{
    return (unsigned)d < 3 ? decision_names[d] : "unknown";
}

/* ---- verdicts ----------------------------------------------------------------- */

/* One verdict in progress: the request, its path, and what has been decided. */
struct vctx {
    struct ledger *l;
    const struct verdict_request *rq;
    int64_t now;
    bool critical;
    const struct routing_policy *ladder; /* the most specific policy laddering the model */
    bool ledger_stale;
    struct {
        const char *model;
        money_t cost;
        bool priced;
    } est[EST_CACHE];
    size_t n_est;
};

/* What the budgets on the path say about one candidate. */
struct eval {
    enum action worst;
    long bi;           /* the deciding budget; -1 = none */
    int32_t thr;       /* its threshold of action worst */
    money_t projected; /* its spent + reserved + estimate */
    long skip_bi;      /* a budget whose deny threshold was skipped; -1 = none */
    int32_t skip_thr;
    bool skip_critical; /* the skip was for a critical call (else a free one) */
};

static money_t estimate(struct vctx *v, const char *model, bool *priced)
{
    for (size_t i = 0; i < v->n_est; i++) {
        if (v->est[i].model == model) {
            *priced = v->est[i].priced;
            return v->est[i].cost;
        }
    }
    bool p = false;
    money_t c = 0;
    if (v->rq->estimate != NULL)
        c = v->rq->estimate(v->rq->estimate_arg, v->rq->provider, model, &p);
    if (!p || c < 0)
        c = 0;
    if (v->n_est < EST_CACHE) {
        v->est[v->n_est].model = model;
        v->est[v->n_est].cost = c;
        v->est[v->n_est].priced = p;
        v->n_est++;
    }
    *priced = p;
    return c;
}

static money_t remaining(const struct bacct *a)
{
    return a->b.amount - a->spent - a->reserved;
}

/* Whether a deny threshold of a applies to this call; sets the skip flags when not. */
static bool deny_applies(const struct vctx *v, const struct bacct *a, bool free_call,
                         bool *critical_skip)
{
    if (v->critical && !a->b.deny_critical) {
        *critical_skip = true;
        return false;
    }
    if (free_call && !a->b.deny_free) {
        *critical_skip = false;
        return false;
    }
    return true;
}

static void evaluate(struct vctx *v, money_t e, bool priced, struct eval *ev)
{
    struct ledger *l = v->l;
    *ev = (struct eval){.worst = ACTION_NONE, .bi = -1, .skip_bi = -1};
    bool free_call = priced && e == 0;
    for (size_t k = 0; k < l->n_path_b; k++) {
        long i = (long)l->path_b[k];
        const struct bacct *a = &l->budgets[i];
        money_t projected = a->spent + a->reserved + e;
        enum action act = ACTION_NONE;
        int32_t thr = 0;
        for (size_t t = 0; t < a->b.n_thresholds; t++) {
            const struct threshold *th = &a->b.thresholds[t];
            if (th->action <= act || !crosses(projected, a->b.amount, th->percent_x100))
                continue;
            bool crit = false;
            if (th->action == ACTION_DENY && !deny_applies(v, a, free_call, &crit)) {
                if (ev->skip_bi < 0) {
                    ev->skip_bi = i;
                    ev->skip_thr = th->percent_x100;
                    ev->skip_critical = crit;
                }
                continue;
            }
            act = th->action;
            thr = th->percent_x100;
        }
        if (act == ACTION_NONE)
            continue;
        if (act > ev->worst ||
            (act == ev->worst && remaining(a) < remaining(&l->budgets[ev->bi]))) {
            ev->worst = act;
            ev->bi = i;
            ev->thr = thr;
            ev->projected = projected;
        }
    }
}

/* True if some policy on the path lists model as denied or leaves it off its allow list. */
static const struct routing_policy *list_block(struct vctx *v, const char *model, bool *denied)
{
    struct ledger *l = v->l;
    for (size_t k = 0; k < l->n_path_p; k++) {
        const struct routing_policy *p = &l->policies[l->path_p[k]].p;
        for (size_t i = 0; i < p->n_deny; i++) {
            if (policy_pattern_match(p->deny[i], model)) {
                *denied = true;
                return p;
            }
        }
        if (p->n_allow == 0)
            continue;
        bool ok = false;
        for (size_t i = 0; i < p->n_allow && !ok; i++)
            ok = policy_pattern_match(p->allow[i], model);
        if (!ok) {
            *denied = false;
            return p;
        }
    }
    return NULL;
}

/* The next usable rung below model on the deciding ladder (skipping listed-out models), or NULL. */
static const char *rung_below(struct vctx *v, const char *model)
{
    if (v->ladder == NULL)
        return NULL;
    const char *m = policy_downgrade(v->ladder, v->rq->provider, model);
    for (int guard = 0; m != NULL && guard < POLICY_TIERS_MAX; guard++) {
        bool denied;
        if (list_block(v, m, &denied) == NULL)
            return m;
        m = policy_downgrade(v->ladder, v->rq->provider, m);
    }
    return NULL;
}

static bool budget_stale(const struct vctx *v, const struct bacct *a)
{
    int64_t max = v->rq->max_staleness;
    return v->ledger_stale || (max > 0 && a->pending && v->now - a->pending_since > max);
}

/* ---- reason sentences ---------------------------------------------------------- */

struct text {
    char *buf;
    size_t cap, len;
};

__attribute__((format(printf, 2, 3))) static void put(struct text *t, const char *fmt, ...)
{
    if (t->len + 1 >= t->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len = t->len + (size_t)n < t->cap ? t->len + (size_t)n : t->cap - 1;
}

static void put_pct(struct text *t, int64_t x100, bool trim)
{
    if (trim && x100 % 100 == 0)
        put(t, "%lld%%", (long long)(x100 / 100));
    else
        put(t, "%lld.%02lld%%", (long long)(x100 / 100), (long long)(x100 % 100));
}

static void put_usd(struct text *t, money_t v)
{
    char buf[MONEY_BUF];
    money_format_usd(v, 2, buf);
    put(t, "USD %s", buf);
}

static void put_scope(struct text *t, const struct scope *s)
{
    if (s->kind == SCOPE_ORG)
        put(t, "org");
    else if (s->kind == SCOPE_TAG)
        put(t, "tag %s=%s", s->name, s->tag_value);
    else
        put(t, "%s %s", policy_scope_kind_name(s->kind), s->name);
}

static const char *period_words(enum period_kind k)
{
    switch (k) {
    case PERIOD_DAY:
        return "today";
    case PERIOD_WEEK:
        return "this week";
    case PERIOD_MONTH:
        return "this month";
    case PERIOD_QUARTER:
        return "this quarter";
    case PERIOD_FIXED:
    default:
        return "in its window";
    }
}

/* `Budget "x" (team s) would reach 83.20% of USD 5000.00 this month` */
static void put_budget(struct text *t, const struct bacct *a, money_t projected)
{
    put(t, "Budget \"%s\" (", a->b.name);
    put_scope(t, &a->b.scope);
    put(t, ") would reach ");
    if (a->b.amount > 0) {
        put_pct(t, fraction(projected, a->b.amount, 4), false);
        put(t, " of ");
    } else {
        put_usd(t, projected);
        put(t, " against ");
    }
    put_usd(t, a->b.amount);
    put(t, " %s", period_words(a->b.period));
}

static void put_threshold(struct text *t, enum action act, int32_t thr)
{
    put(t, "; %s at ", policy_action_name(act));
    put_pct(t, thr, true);
}

static void fill_budget(struct verdict *out, const struct bacct *a, int32_t thr, enum action act)
{
    out->has_budget = true;
    struct verdict_budget *vb = &out->budget;
    vb->id = a->b.id;
    snprintf(vb->name, sizeof(vb->name), "%s", a->b.name);
    vb->scope = a->b.scope;
    vb->limit = a->b.amount;
    vb->spent = a->spent;
    vb->reserved = a->reserved;
    vb->period_start = a->start;
    vb->period_end = a->end;
    vb->threshold_x100 = thr;
    vb->action = act;
}

/* The budget with the highest used fraction after this call, or -1. */
static long tightest(struct vctx *v, money_t e)
{
    struct ledger *l = v->l;
    long best = -1;
    int64_t best_frac = -1;
    for (size_t k = 0; k < l->n_path_b; k++) {
        const struct bacct *a = &l->budgets[l->path_b[k]];
        int64_t f = fraction(a->spent + a->reserved + e, a->b.amount, 6);
        if (f > best_frac) {
            best_frac = f;
            best = (long)l->path_b[k];
        }
    }
    return best;
}

static void set_policy(struct verdict *out, const struct routing_policy *p)
{
    if (p == NULL)
        return;
    out->policy_id = p->id;
    snprintf(out->policy_name, sizeof(out->policy_name), "%s", p->name);
}

static void deny_list(struct vctx *v, struct verdict *out, const struct routing_policy *p,
                      bool denied)
{
    struct text t = {out->reason, sizeof(out->reason), 0};
    out->decision = DECISION_DENY;
    out->reason_code = denied ? "model_denied" : "model_not_allowed";
    set_policy(out, p);
    put(&t, "Model %s is %s the %s list of policy \"%s\".", v->rq->model, denied ? "on" : "not on",
        denied ? "deny" : "allow", p->name);
}

/* ---- the verdict ------------------------------------------------------------------ */

/* A downgrade one of rules 2 to 4 asked for, and what came of it. */
struct move {
    const char *code; /* NULL = none asked */
    const struct routing_policy *policy;
    bool moved;    /* the model changed */
    bool bypassed; /* skipped: a critical call */
    /* target mix detail */
    int tier;
    int64_t share_x100;
};

static void holds_replace(struct ledger *l, const struct verdict_request *rq)
{
    long h = hold_by(l, &l->by_rsv, rq->reservation_id);
    if (h >= 0)
        (void)hold_drop(l, (uint32_t)h);
    h = hold_by(l, &l->by_req, rq->request_id);
    if (h >= 0)
        (void)hold_drop(l, (uint32_t)h);
}

static bool hold_make(struct ledger *l, const struct verdict_request *rq, money_t amount,
                      int64_t expires)
{
    long h = hold_alloc(l);
    if (h < 0)
        return false;
    struct hold *x = &l->holds[h];
    memset(x, 0, sizeof(*x));
    snprintf(x->rsv, sizeof(x->rsv), "%s", rq->reservation_id);
    x->amount = amount;
    x->expires = expires;
    x->budgets = malloc((l->n_path_b + 1) * sizeof(*x->budgets));
    if (has_text(rq->request_id))
        x->req = strdup(rq->request_id);
    if (x->budgets == NULL || (has_text(rq->request_id) && x->req == NULL))
        goto fail;
    x->live = true;
    if (!smap_put(l, &l->by_rsv, (uint32_t)h))
        goto fail;
    if (x->req != NULL && !smap_put(l, &l->by_req, (uint32_t)h)) {
        smap_del(l, &l->by_rsv, x->rsv);
        goto fail;
    }
    for (size_t k = 0; k < l->n_path_b; k++) {
        struct bacct *a = &l->budgets[l->path_b[k]];
        a->reserved += amount;
        a->holds++;
        x->budgets[x->n++] = l->path_b[k];
    }
    l->live_holds++;
    return true;
fail:
    free(x->budgets);
    free(x->req);
    memset(x, 0, sizeof(*x));
    l->free_holds[l->n_free++] = (uint32_t)h;
    return false;
}

/* Rules 2 and 3: the input-token cap and the target mix. Returns false on a deny. */
static bool rules_cap_mix(struct vctx *v, struct verdict *out, const char **cand, struct move *mv)
{
    struct ledger *l = v->l;
    const struct routing_policy *cap = NULL;
    for (size_t k = 0; k < l->n_path_p; k++) {
        const struct routing_policy *p = &l->policies[l->path_p[k]].p;
        if (p->input_cap > 0 && (cap == NULL || p->input_cap < cap->input_cap))
            cap = p;
    }
    if (cap != NULL && v->rq->input_tokens > cap->input_cap) {
        mv->code = "input_token_cap";
        mv->policy = cap;
        if (cap->cap_action == ACTION_DENY) {
            struct text t = {out->reason, sizeof(out->reason), 0};
            out->decision = DECISION_DENY;
            out->reason_code = "input_token_cap";
            set_policy(out, cap);
            put(&t, "Estimated input of %lld tokens is over the cap of %lld of policy \"%s\".",
                (long long)v->rq->input_tokens, (long long)cap->input_cap, cap->name);
            return false;
        }
    }
    if (mv->code == NULL) {
        for (size_t k = 0; k < l->n_path_p; k++) {
            const struct pacct *a = &l->policies[l->path_p[k]];
            const struct routing_policy *p = &a->p;
            if (!p->mix_set || v->rq->provider == NULL)
                continue;
            int t = policy_tier_of(p, v->rq->provider, *cand);
            if (t < 0 || (size_t)t + 1 >= p->n_tiers)
                continue;
            money_t total = 0, mine;
            if (p->mix_basis == MIX_BY_SPEND) {
                for (size_t i = 0; i < p->n_tiers; i++)
                    total += a->spend[i];
                mine = a->spend[t];
            } else {
                for (size_t i = 0; i < p->n_tiers; i++)
                    total += a->req[i];
                mine = a->req[t];
            }
            if (total <= 0 || !mul_gt(mine, 10000, total, (uint32_t)p->mix_bp[t]))
                continue;
            mv->code = "target_mix";
            mv->policy = p;
            mv->tier = t;
            mv->share_x100 = fraction(mine, total, 4);
            break;
        }
    }
    if (mv->code == NULL)
        return true;
    const struct routing_policy *bp = v->ladder != NULL ? v->ladder : mv->policy;
    if (v->critical && bp->critical_bypass) {
        mv->bypassed = true;
        return true;
    }
    const char *next = rung_below(v, *cand);
    if (next != NULL) {
        *cand = next;
        mv->moved = true;
    }
    return true;
}

static void explain_move(struct vctx *v, struct text *t, const struct move *mv, const char *model)
{
    const struct routing_policy *p = mv->policy;
    if (strcmp(mv->code, "input_token_cap") == 0) {
        put(t, "Estimated input of %lld tokens is over the cap of %lld of policy \"%s\"",
            (long long)v->rq->input_tokens, (long long)p->input_cap, p->name);
    } else {
        put(t, "Tier %s has ", p->tiers[mv->tier]);
        put_pct(t, mv->share_x100, false);
        put(t, " of %s %s in policy \"%s\", above its target of ",
            p->mix_basis == MIX_BY_SPEND ? "spend" : "requests", period_words(p->mix_period),
            p->name);
        put_pct(t, p->mix_bp[mv->tier], true);
    }
    if (mv->moved)
        put(t, ": downgraded %s to %s.", v->rq->model, model);
    else if (mv->bypassed)
        put(t, "; critical calls skip downgrades, so %s stays.", model);
    else
        put(t, "; no cheaper model below %s, so it stays.", model);
}

/* Rule 4 and the outcome. cand is the model after rules 2 and 3. */
static void rule_budgets(struct vctx *v, struct verdict *out, const char *cand, struct move *mv)
{
    struct ledger *l = v->l;
    struct text t = {out->reason, sizeof(out->reason), 0};
    bool priced;
    money_t e = estimate(v, cand, &priced);
    bool free_call = priced && e == 0;

    /* staleness: a fail-closed budget with a deny threshold that would apply denies */
    long stale_open = -1;
    for (size_t k = 0; k < l->n_path_b; k++) {
        const struct bacct *a = &l->budgets[l->path_b[k]];
        if (!budget_stale(v, a))
            continue;
        int32_t deny_thr = 0;
        for (size_t i = 0; i < a->b.n_thresholds && deny_thr == 0; i++)
            if (a->b.thresholds[i].action == ACTION_DENY)
                deny_thr = a->b.thresholds[i].percent_x100;
        bool crit;
        if (a->b.fail_mode == FAIL_CLOSED && deny_thr > 0 && deny_applies(v, a, free_call, &crit)) {
            out->decision = DECISION_DENY;
            out->reason_code = "stale_fail_closed";
            fill_budget(out, a, deny_thr, ACTION_DENY);
            put(&t, "Spend for budget \"%s\" (", a->b.name);
            put_scope(&t, &a->b.scope);
            put(&t, ") is not synced (over %lld s old) and it fails closed.",
                (long long)v->rq->max_staleness);
            return;
        }
        if (stale_open < 0)
            stale_open = (long)l->path_b[k];
    }

    struct eval ev;
    evaluate(v, e, priced, &ev);
    struct eval first = ev;
    const char *asked = cand;
    const char *code = NULL;

    if (ev.worst == ACTION_DOWNGRADE && !mv->moved && !mv->bypassed) {
        bool bypass = v->critical && (v->ladder == NULL || v->ladder->critical_bypass);
        const char *next = bypass ? NULL : rung_below(v, cand);
        code = "budget_threshold";
        if (next != NULL) {
            cand = next;
            e = estimate(v, cand, &priced);
            evaluate(v, e, priced, &ev);
        } else if (bypass) {
            mv->bypassed = true;
        }
    }
    if (ev.worst == ACTION_DENY) {
        /* walk down until no deny threshold is crossed */
        struct eval at = ev;
        const char *m = cand;
        for (;;) {
            m = rung_below(v, m);
            if (m == NULL) {
                const struct bacct *a = &l->budgets[ev.bi];
                out->decision = DECISION_DENY;
                out->reason_code = "budget_exhausted";
                fill_budget(out, a, ev.thr, ACTION_DENY);
                put_budget(&t, a, ev.projected);
                put_threshold(&t, ACTION_DENY, ev.thr);
                put(&t, ": %s.",
                    cand == v->rq->model && v->ladder == NULL ? "denied"
                                                              : "no cheaper model fits, denied");
                return;
            }
            e = estimate(v, m, &priced);
            evaluate(v, e, priced, &at);
            if (at.worst != ACTION_DENY)
                break;
        }
        const struct bacct *a = &l->budgets[ev.bi];
        cand = m;
        out->decision = DECISION_DOWNGRADE;
        out->reason_code = "budget_fit";
        set_policy(out, v->ladder);
        fill_budget(out, a, ev.thr, ACTION_DOWNGRADE);
        put_budget(&t, a, ev.projected);
        put_threshold(&t, ACTION_DENY, ev.thr);
        put(&t, ": downgraded %s to %s.", v->rq->model, cand);
        snprintf(out->model, sizeof(out->model), "%s", cand);
        out->estimate = e;
        out->priced = priced;
        return;
    }

    snprintf(out->model, sizeof(out->model), "%s", cand);
    out->estimate = e;
    out->priced = priced;
    bool moved = mv->moved || cand != asked;
    out->decision = moved ? DECISION_DOWNGRADE : DECISION_ALLOW;

    if (code != NULL) { /* a downgrade threshold acted (moved, or no rung below, or bypassed) */
        const struct bacct *a = &l->budgets[first.bi];
        out->reason_code = mv->bypassed ? "critical_exempt" : code;
        set_policy(out, v->ladder);
        fill_budget(out, a, first.thr, moved ? ACTION_DOWNGRADE : ACTION_NONE);
        put_budget(&t, a, first.projected);
        put_threshold(&t, ACTION_DOWNGRADE, first.thr);
        if (moved)
            put(&t, ": downgraded %s to %s.", v->rq->model, cand);
        else if (mv->bypassed)
            put(&t, ": critical calls skip downgrades, so %s stays.", cand);
        else
            put(&t, ": no cheaper model below %s, so it stays.", cand);
        return;
    }
    if (mv->code != NULL) { /* rule 2 or 3 asked for a downgrade */
        out->reason_code = mv->bypassed ? "critical_exempt" : mv->code;
        set_policy(out, mv->policy);
        long b = ev.bi >= 0 ? ev.bi : tightest(v, e);
        if (b >= 0)
            fill_budget(out, &l->budgets[b], ev.bi >= 0 ? ev.thr : 0,
                        ev.worst == ACTION_ALERT ? ACTION_ALERT : ACTION_NONE);
        explain_move(v, &t, mv, cand);
        return;
    }
    if (ev.skip_bi >= 0 && ev.worst < ACTION_DOWNGRADE) {
        const struct bacct *a = &l->budgets[ev.skip_bi];
        out->reason_code = ev.skip_critical ? "critical_exempt" : "free_model";
        fill_budget(out, a, ev.skip_thr, ACTION_NONE);
        put_budget(&t, a, a->spent + a->reserved + e);
        put_threshold(&t, ACTION_DENY, ev.skip_thr);
        put(&t, ": it does not apply to %s.",
            ev.skip_critical ? "critical calls" : "models that cost nothing");
        return;
    }
    if (l->n_path_b == 0) {
        out->reason_code = "no_budget";
        put(&t, "No budget applies to this call.");
        return;
    }
    long b = ev.bi >= 0 ? ev.bi : tightest(v, e);
    const struct bacct *a = &l->budgets[b];
    money_t projected = a->spent + a->reserved + e;
    fill_budget(out, a, ev.bi >= 0 ? ev.thr : 0, ev.worst);
    if (stale_open >= 0) {
        const struct bacct *s = &l->budgets[stale_open];
        out->reason_code = "stale_fail_open";
        put(&t, "Spend for budget \"%s\" (", s->b.name);
        put_scope(&t, &s->b.scope);
        put(&t, ") is not synced (over %lld s old); it fails open and was checked from memory.",
            (long long)v->rq->max_staleness);
        return;
    }
    out->reason_code = "within_budget";
    put_budget(&t, a, projected);
    if (ev.worst == ACTION_ALERT)
        put_threshold(&t, ACTION_ALERT, ev.thr);
    put(&t, ".");
}

void ledger_verdict(struct ledger *l, const struct verdict_request *rq, int64_t now,
                    struct verdict *out)
{
    memset(out, 0, sizeof(*out));
    out->reason_code = "within_budget";
    snprintf(out->model, sizeof(out->model), "%s", rq->model != NULL ? rq->model : "");
    if (rq->model == NULL)
        return;

    pthread_mutex_lock(&l->mu);
    struct vctx v = {.l = l, .rq = rq, .now = now, .critical = rq->priority == PRIORITY_CRITICAL};
    if (rq->reserve)
        holds_replace(l, rq);
    collect(l, &rq->scope, false, now);
    v.ledger_stale =
        rq->max_staleness > 0 && (l->last_sync == 0 || now - l->last_sync > rq->max_staleness);
    for (size_t k = 0; k < l->n_path_p && rq->provider != NULL; k++) {
        const struct routing_policy *p = &l->policies[l->path_p[k]].p;
        if (policy_tier_of(p, rq->provider, rq->model) >= 0) {
            v.ladder = p;
            break;
        }
    }

    bool denied;
    const struct routing_policy *lp = list_block(&v, rq->model, &denied);
    struct move mv = {0};
    const char *cand = rq->model;
    if (lp != NULL) {
        deny_list(&v, out, lp, denied);
    } else if (rules_cap_mix(&v, out, &cand, &mv)) {
        rule_budgets(&v, out, cand, &mv);
    }

    if (out->decision != DECISION_DENY) {
        if (v.ladder != NULL) {
            int t = policy_tier_of(v.ladder, rq->provider, out->model);
            if (t >= 0 && (size_t)t < v.ladder->n_tiers)
                snprintf(out->tier, sizeof(out->tier), "%s", v.ladder->tiers[t]);
        }
        if (rq->reserve && has_text(rq->reservation_id) &&
            strlen(rq->reservation_id) < LEDGER_RSV_MAX &&
            hold_make(l, rq, out->estimate, now + rq->hold_ttl)) {
            out->reserved = true;
            out->hold_expires = now + rq->hold_ttl;
        }
    } else {
        bool priced;
        out->estimate = estimate(&v, rq->model, &priced);
        out->priced = priced;
    }
    pthread_mutex_unlock(&l->mu);
}

/* ---- reading ------------------------------------------------------------------------ */

bool ledger_budget_status(struct ledger *l, int64_t budget_id, struct budget_status *out)
{
    pthread_mutex_lock(&l->mu);
    long i = idmap_get(&l->bids, budget_id);
    if (i >= 0) {
        const struct bacct *a = &l->budgets[i];
        money_t used = a->spent + a->reserved;
        int64_t f = fraction(used, a->b.amount, 4);
        *out = (struct budget_status){.limit = a->b.amount,
                                      .spent = a->spent,
                                      .reserved = a->reserved,
                                      .period_start = a->active ? a->start : 0,
                                      .period_end = a->active ? a->end : 0,
                                      .used_x100 = f > INT32_MAX ? INT32_MAX : (int32_t)f,
                                      .state = ACTION_NONE,
                                      .holds = a->holds,
                                      .loaded = !a->pending};
        for (size_t t = 0; t < a->b.n_thresholds; t++) {
            const struct threshold *th = &a->b.thresholds[t];
            if (th->action > out->state && crosses(used, a->b.amount, th->percent_x100))
                out->state = th->action;
        }
    }
    pthread_mutex_unlock(&l->mu);
    return i >= 0;
}

void ledger_stats(struct ledger *l, struct ledger_stats *out)
{
    pthread_mutex_lock(&l->mu);
    *out = (struct ledger_stats){.budgets = l->n_budgets,
                                 .policies = l->n_policies,
                                 .holds = l->live_holds,
                                 .last_sync = l->last_sync};
    for (size_t i = 0; i < l->n_budgets; i++)
        out->pending += l->budgets[i].active && l->budgets[i].pending;
    for (size_t i = 0; i < l->n_policies; i++)
        out->pending += l->policies[i].p.mix_set && l->policies[i].pending;
    for (size_t h = 0; h < l->n_holds; h++)
        if (l->holds[h].live)
            out->held += l->holds[h].amount;
    pthread_mutex_unlock(&l->mu);
}
