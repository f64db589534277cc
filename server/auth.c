/*
 * auth: key hashing and the lookup cache. The cache is direct-mapped on the
 * hash's first bytes; a colliding key simply replaces the older entry. One
 * mutex guards it: entries are tiny and held for a copy, never across I/O.
 */
#include "auth.h"

#include "log.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_SLOTS 4096

struct slot {
    uint8_t hash[CRYPTO_SHA256_LEN];
    bool used;
    bool found; /* false caches a miss */
    time_t expires;
    struct auth_key key;
};

static struct slot cache[CACHE_SLOTS];
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static long cache_ttl;

static const struct {
    const char *name;
    enum auth_role role;
} roles[] = {
    {"ingest", ROLE_INGEST},
    {"verdict", ROLE_VERDICT},
    {"read", ROLE_READ},
    {"admin", ROLE_ADMIN},
};

bool auth_parse_role(const char *s, enum auth_role *out)
{
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
        if (s && strcmp(s, roles[i].name) == 0) {
            *out = roles[i].role;
            return true;
        }
    }
    return false;
}

const char *auth_role_name(enum auth_role r)
{
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
        if (roles[i].role == r)
            return roles[i].name;
    return "unknown";
}

bool auth_secret_valid(const char *s)
{
    if (!s || strlen(s) != AUTH_SECRET_LEN || strncmp(s, "tg_", 3) != 0)
        return false;
    for (const char *p = s + 3; *p; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

bool auth_new_secret(char secret[AUTH_SECRET_LEN + 1], uint8_t hash[CRYPTO_SHA256_LEN])
{
    uint8_t raw[32];
    char enc[45];

    if (!crypto_random(raw, sizeof(raw)))
        return false;
    crypto_b64url(raw, sizeof(raw), enc);
    memcpy(secret, "tg_", 3);
    memcpy(secret + 3, enc, AUTH_SECRET_LEN - 3 + 1); /* 43 characters and the NUL */
    crypto_sha256(secret, AUTH_SECRET_LEN, hash);
    return true;
}

void auth_init(long ttl_seconds)
{
    cache_ttl = ttl_seconds;
}

static struct slot *slot_for(const uint8_t hash[CRYPTO_SHA256_LEN])
{
    uint32_t h;
    memcpy(&h, hash, sizeof(h));
    return &cache[h % CACHE_SLOTS];
}

/*
 * Returns 1 on a hit (key found), 0 on a cached miss, -1 if not cached. An
 * expired entry counts only with stale_ok: when Postgres cannot be asked, a
 * key known a moment ago keeps working, so ingest can still spool.
 */
static int cache_get(const uint8_t hash[CRYPTO_SHA256_LEN], struct auth_key *out, bool stale_ok)
{
    struct slot *s = slot_for(hash);
    int r = -1;

    pthread_mutex_lock(&cache_mu);
    if (s->used && (stale_ok || s->expires > time(NULL)) &&
        memcmp(s->hash, hash, CRYPTO_SHA256_LEN) == 0) {
        r = s->found;
        if (s->found)
            *out = s->key;
    }
    pthread_mutex_unlock(&cache_mu);
    return r;
}

static void cache_put(const uint8_t hash[CRYPTO_SHA256_LEN], bool found, const struct auth_key *k)
{
    struct slot *s = slot_for(hash);

    if (cache_ttl <= 0)
        return;
    pthread_mutex_lock(&cache_mu);
    memcpy(s->hash, hash, CRYPTO_SHA256_LEN);
    s->used = true;
    s->found = found;
    s->expires = time(NULL) + cache_ttl;
    if (found)
        s->key = *k;
    pthread_mutex_unlock(&cache_mu);
}

void auth_forget(int64_t key_id)
{
    pthread_mutex_lock(&cache_mu);
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        if (cache[i].used && cache[i].found && cache[i].key.id == key_id)
            cache[i].used = false;
    pthread_mutex_unlock(&cache_mu);
}

enum auth_result auth_lookup(struct db *db, const char *secret, struct auth_key *out)
{
    uint8_t hash[CRYPTO_SHA256_LEN];
    char hex[2 * CRYPTO_SHA256_LEN + 3] = "\\x";
    const char *params[1] = {hex};
    struct db_conn *c;
    struct auth_key k = {0};
    PGresult *r;
    int cached;

    if (!auth_secret_valid(secret))
        return AUTH_MALFORMED;
    crypto_sha256(secret, AUTH_SECRET_LEN, hash);
    cached = cache_get(hash, out, false);
    if (cached >= 0)
        return cached ? AUTH_OK : AUTH_UNKNOWN;

    crypto_hex(hash, sizeof(hash), hex + 2);
    c = db_acquire(db, 2000);
    if (!c)
        goto unavailable;
    r = db_query(c,
                 "UPDATE api_keys SET last_used_at = now() WHERE secret_hash = $1::bytea"
                 " AND revoked_at IS NULL"
                 " RETURNING id, org_id, coalesce(team_id, 0), role, prefix",
                 1, params);
    if (!r) {
        log_error(NULL, "api key lookup failed: %s", db_conn_error(c));
        db_release(db, &c);
        goto unavailable;
    }
    db_release(db, &c);
    if (PQntuples(r) != 1) {
        PQclear(r);
        cache_put(hash, false, NULL);
        return AUTH_UNKNOWN;
    }
    k.id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    k.org_id = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    k.team_id = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    if (!auth_parse_role(PQgetvalue(r, 0, 3), &k.role)) {
        PQclear(r);
        return AUTH_UNKNOWN; /* impossible: the column has a CHECK */
    }
    snprintf(k.prefix, sizeof(k.prefix), "%s", PQgetvalue(r, 0, 4));
    PQclear(r);
    cache_put(hash, true, &k);
    *out = k;
    return AUTH_OK;
unavailable:
    cached = cache_get(hash, out, true);
    if (cached >= 0)
        return cached ? AUTH_OK : AUTH_UNKNOWN;
    return AUTH_UNAVAILABLE;
}
