// links: server/auth.c server/crypto.c server/log.c server/db.c server/metrics.c
/*
 * auth: role names, the shape of a secret and making new secrets. auth.c
 * borrows Postgres connections in auth_lookup, so db.c (and what it needs) is
 * linked, but nothing here reaches it: no connection is ever made.
 */
#include "auth.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#define B43 "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq" /* 43 characters */

/* ---- roles ------------------------------------------------------------ */

struct role_case {
    char name[16];
    bool ok;
    enum auth_role role;
};

static struct role_case role_cases[] = {
    {"ingest", true, ROLE_INGEST},
    {"verdict", true, ROLE_VERDICT},
    {"read", true, ROLE_READ},
    {"admin", true, ROLE_ADMIN},
    {"", false, 0},
    {"Admin", false, 0},
    {"ADMIN", false, 0},
    {"admins", false, 0},
    {"adm", false, 0},
    {"admin ", false, 0},
    {"root", false, 0},
    {"unknown", false, 0},
};

ParameterizedTestParameters(auth, roles)
{
    return cr_make_param_array(struct role_case, role_cases,
                               sizeof(role_cases) / sizeof(role_cases[0]));
}

ParameterizedTest(struct role_case *tc, auth, roles)
{
    enum auth_role got = (enum auth_role)77;

    cr_assert_eq(auth_parse_role(tc->name, &got), tc->ok, "auth_parse_role(\"%s\")", tc->name);
    if (!tc->ok) {
        cr_expect_eq((int)got, 77, "out changed on failure for \"%s\"", tc->name);
        return;
    }
    cr_expect_eq(got, tc->role, "role of \"%s\"", tc->name);
    /* round trip */
    cr_expect_str_eq(auth_role_name(got), tc->name);
}

Test(auth, parse_role_null)
{
    enum auth_role got = ROLE_READ;

    cr_expect_not(auth_parse_role(NULL, &got));
    cr_expect_eq(got, ROLE_READ);
}

/* Roles are distinct bits, and only single roles have names. */
Test(auth, role_names_of_non_roles)
{
    cr_expect_eq(ROLE_INGEST & (ROLE_VERDICT | ROLE_READ | ROLE_ADMIN), 0);
    cr_expect_eq(ROLE_VERDICT & (ROLE_READ | ROLE_ADMIN), 0);
    cr_expect_eq(ROLE_READ & ROLE_ADMIN, 0);
    cr_expect_str_eq(auth_role_name((enum auth_role)0), "unknown");
    cr_expect_str_eq(auth_role_name((enum auth_role)(ROLE_READ | ROLE_ADMIN)), "unknown");
    cr_expect_str_eq(auth_role_name((enum auth_role)(1 << 4)), "unknown");
    cr_expect_str_eq(auth_role_name((enum auth_role) - 1), "unknown");
}

/* ---- auth_secret_valid ------------------------------------------------ */

struct secret_case {
    char s[64];
    bool ok;
};

static struct secret_case secret_cases[] = {
    {"tg_" B43, true},
    {"tg_"
     "0123456789-_0123456789-_0123456789-_0123456",
     true},
    {"tg_"
     "___________________________________________",
     true},
    /* wrong prefix */
    {"TG_" B43, false},
    {"tg-" B43, false},
    {"tk_" B43, false},
    {"gt_" B43, false},
    {"_tg" B43, false},
    {"xtg_"
     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop",
     false},
    /* wrong length */
    {"tg_"
     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop",
     false},                /* 45 */
    {"tg_" B43 "r", false}, /* 47 */
    {"tg_", false},
    {"", false},
    /* a character outside the url alphabet */
    {"tg_"
     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop+",
     false},
    {"tg_"
     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop/",
     false},
    {"tg_"
     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop=",
     false},
    {"tg_"
     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop.",
     false},
    {"tg_"
     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop ",
     false},
    {"tg_"
     " BCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq",
     false},
    {"tg_"
     "ABCDEFGHIJKLMNOPQRSTU~WXYZabcdefghijklmnopq",
     false},
    {"tg_"
     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop\x7f",
     false},
    /* 41 characters and a two-byte UTF-8 one: right byte length, wrong alphabet */
    {"tg_"
     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmno\xc3\xa9",
     false},
};

ParameterizedTestParameters(auth, secret_valid)
{
    return cr_make_param_array(struct secret_case, secret_cases,
                               sizeof(secret_cases) / sizeof(secret_cases[0]));
}

ParameterizedTest(struct secret_case *tc, auth, secret_valid)
{
    cr_expect_eq(auth_secret_valid(tc->s), tc->ok, "auth_secret_valid(\"%s\") (%zu bytes)", tc->s,
                 strlen(tc->s));
}

Test(auth, secret_valid_null)
{
    cr_expect_not(auth_secret_valid(NULL));
}

/* ---- auth_new_secret -------------------------------------------------- */

Test(auth, new_secret_is_valid_and_hashed)
{
    char secret[AUTH_SECRET_LEN + 1 + 8];
    uint8_t hash[CRYPTO_SHA256_LEN], want[CRYPTO_SHA256_LEN];

    memset(secret, 0x5a, sizeof(secret));
    cr_assert(auth_new_secret(secret, hash));
    cr_assert_eq(strlen(secret), AUTH_SECRET_LEN);
    for (size_t i = AUTH_SECRET_LEN + 1; i < sizeof(secret); i++)
        cr_assert_eq(secret[i], 0x5a, "byte %zu past the secret written", i);
    cr_expect(auth_secret_valid(secret), "not valid: %s", secret);
    cr_expect_eq(strncmp(secret, "tg_", 3), 0);
    crypto_sha256(secret, strlen(secret), want);
    cr_expect_eq(memcmp(hash, want, sizeof(want)), 0, "hash is not SHA-256 of %s", secret);
}

Test(auth, new_secrets_are_distinct)
{
    enum { N = 64 };
    static char secrets[N][AUTH_SECRET_LEN + 1];
    static uint8_t hashes[N][CRYPTO_SHA256_LEN];

    for (int i = 0; i < N; i++) {
        cr_assert(auth_new_secret(secrets[i], hashes[i]));
        cr_assert(auth_secret_valid(secrets[i]), "not valid: %s", secrets[i]);
        for (int j = 0; j < i; j++) {
            cr_assert_str_neq(secrets[i], secrets[j]);
            cr_assert_neq(memcmp(hashes[i], hashes[j], CRYPTO_SHA256_LEN), 0);
        }
    }
}

/* The prefix shown in lists is the first AUTH_PREFIX_LEN characters. */
Test(auth, prefix_fits_key)
{
    struct auth_key k;

    cr_expect_eq(sizeof(k.prefix), AUTH_PREFIX_LEN + 1);
    cr_expect_lt(AUTH_PREFIX_LEN, AUTH_SECRET_LEN);
}

/* ---- auth_lookup: refused before Postgres is asked -------------------- */

/*
 * A malformed secret is refused without touching the pool: a NULL db would
 * crash if it were used.
 */
Test(auth, lookup_malformed_needs_no_db)
{
    struct auth_key k = {.id = 99};

    auth_init(10);
    cr_expect_eq(auth_lookup(NULL, "tg_short", &k), AUTH_MALFORMED);
    cr_expect_eq(auth_lookup(NULL, NULL, &k), AUTH_MALFORMED);
    cr_expect_eq(auth_lookup(NULL, "Bearer tg_" B43, &k), AUTH_MALFORMED);
    cr_expect_eq(k.id, 99, "out set on failure");
}
