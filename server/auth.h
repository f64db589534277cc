/*
 * auth: API keys. A key is "tg_" + 43 base64url characters (32 random
 * bytes); only its SHA-256 is stored. Lookups are cached in memory for
 * key-cache-ttl seconds (hits and misses alike), so a busy gateway costs
 * Postgres one query per key per TTL. Thread-safe.
 */
#ifndef TOLLGATE_AUTH_H
#define TOLLGATE_AUTH_H

#include "crypto.h"
#include "db.h"

#include <stdbool.h>
#include <stdint.h>

#define AUTH_SECRET_LEN 46 /* "tg_" + 43 */
#define AUTH_PREFIX_LEN 11 /* what lists show: "tg_" + 8 */

enum auth_role {
    ROLE_INGEST = 1 << 0,
    ROLE_VERDICT = 1 << 1,
    ROLE_READ = 1 << 2,
    ROLE_ADMIN = 1 << 3,
};

struct auth_key {
    int64_t id;
    int64_t org_id;
    int64_t team_id; /* 0 when the key is not scoped to a team */
    enum auth_role role;
    char prefix[AUTH_PREFIX_LEN + 1];
};

enum auth_result {
    AUTH_OK = 0,
    AUTH_MALFORMED,   /* not a Tollgate key at all */
    AUTH_UNKNOWN,     /* well-formed, but no such key, or revoked */
    AUTH_UNAVAILABLE, /* Postgres could not be asked */
};

/* Parses "ingest", "verdict", "read" or "admin". */
bool auth_parse_role(const char *s, enum auth_role *out) __attribute__((warn_unused_result));
const char *auth_role_name(enum auth_role r);

/* True if s has the shape of a key (length, prefix and alphabet). */
bool auth_secret_valid(const char *s);

/*
 * Makes a new random secret (AUTH_SECRET_LEN+1 bytes) and its hash. Returns
 * false if the kernel gave no randomness.
 */
bool auth_new_secret(char secret[AUTH_SECRET_LEN + 1], uint8_t hash[CRYPTO_SHA256_LEN])
    __attribute__((warn_unused_result));

/* Sets up the cache. ttl_seconds 0 disables caching. Call once before use. */
void auth_init(long ttl_seconds);

/*
 * Resolves a bearer secret to its key. Checks the cache, else asks Postgres
 * through a connection borrowed from db (and records last_used_at there).
 * out is set only on AUTH_OK.
 */
enum auth_result auth_lookup(struct db *db, const char *secret, struct auth_key *out);

/* Drops a key from this instance's cache at once (after revoking it). */
void auth_forget(int64_t key_id);

#endif
