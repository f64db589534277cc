// links: server/crypto.c
/*
 * crypto: SHA-256 against the FIPS 180-2 vectors, hex, base64url against the
 * RFC 4648 vectors (url alphabet, no padding) and the random source, alone.
 */
#include "crypto.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdlib.h>
#include <string.h>

#define CANARY 0x5a

/* ---- crypto_sha256 + crypto_hex --------------------------------------- */

struct sha_case {
    char in[64];
    char hex[2 * CRYPTO_SHA256_LEN + 1];
};

static struct sha_case sha_cases[] = {
    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
};

ParameterizedTestParameters(crypto, sha256)
{
    return cr_make_param_array(struct sha_case, sha_cases,
                               sizeof(sha_cases) / sizeof(sha_cases[0]));
}

ParameterizedTest(struct sha_case *tc, crypto, sha256)
{
    uint8_t hash[CRYPTO_SHA256_LEN];
    char hex[2 * CRYPTO_SHA256_LEN + 1];

    crypto_sha256(tc->in, strlen(tc->in), hash);
    crypto_hex(hash, sizeof(hash), hex);
    cr_expect_str_eq(hex, tc->hex, "SHA-256(\"%s\")", tc->in);
}

Test(crypto, sha256_million_a)
{
    size_t n = 1000000;
    char *a = malloc(n);
    uint8_t hash[CRYPTO_SHA256_LEN];
    char hex[2 * CRYPTO_SHA256_LEN + 1];

    cr_assert_not_null(a);
    memset(a, 'a', n);
    crypto_sha256(a, n, hash);
    crypto_hex(hash, sizeof(hash), hex);
    cr_expect_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

/* Only len bytes are hashed: a NUL inside counts, bytes after do not. */
Test(crypto, sha256_uses_len)
{
    uint8_t a[CRYPTO_SHA256_LEN], b[CRYPTO_SHA256_LEN];
    char hex[2 * CRYPTO_SHA256_LEN + 1];

    crypto_sha256("abcdef", 3, a);
    crypto_hex(a, sizeof(a), hex);
    cr_expect_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    crypto_sha256("ab\0c", 4, b);
    cr_expect_neq(memcmp(a, b, sizeof(a)), 0);
}

struct hex_case {
    uint8_t in[8];
    size_t n;
    char want[17];
};

static struct hex_case hex_cases[] = {
    {{0}, 0, ""},
    {{0x00}, 1, "00"},
    {{0xff}, 1, "ff"},
    {{0x0f, 0xf0}, 2, "0ff0"},
    {{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}, 8, "0123456789abcdef"},
};

ParameterizedTestParameters(crypto, hex)
{
    return cr_make_param_array(struct hex_case, hex_cases,
                               sizeof(hex_cases) / sizeof(hex_cases[0]));
}

ParameterizedTest(struct hex_case *tc, crypto, hex)
{
    char out[17 + 8];

    memset(out, CANARY, sizeof(out));
    crypto_hex(tc->in, tc->n, out);
    cr_expect_str_eq(out, tc->want);
    for (size_t i = 2 * tc->n + 1; i < sizeof(out); i++)
        cr_assert_eq((unsigned char)out[i], CANARY, "byte %zu past 2n+1 written", i);
}

/* ---- crypto_b64url ---------------------------------------------------- */

struct b64_case {
    uint8_t in[8];
    size_t n;
    char want[16];
};

static struct b64_case b64_cases[] = {
    /* RFC 4648 section 10, without the padding */
    {"", 0, ""},
    {"f", 1, "Zg"},
    {"fo", 2, "Zm8"},
    {"foo", 3, "Zm9v"},
    {"foob", 4, "Zm9vYg"},
    {"fooba", 5, "Zm9vYmE"},
    {"foobar", 6, "Zm9vYmFy"},
    /* the two characters where the url alphabet differs: '+' -> '-', '/' -> '_' */
    {{0xfb, 0xff}, 2, "-_8"},
    {{0xfb, 0xef, 0xbe}, 3, "----"},
    {{0xff, 0xff, 0xff}, 3, "____"},
    {{0x00, 0x00, 0x00}, 3, "AAAA"},
    {{0x00}, 1, "AA"},
    {{0xff}, 1, "_w"},
    {{0x14, 0xfb, 0x9c, 0x03, 0xd9, 0x7e}, 6, "FPucA9l-"},
    {{0x14, 0xfb, 0x9c, 0x03, 0xd9}, 5, "FPucA9k"},
    {{0x14, 0xfb, 0x9c, 0x03}, 4, "FPucAw"},
};

ParameterizedTestParameters(crypto, b64url)
{
    return cr_make_param_array(struct b64_case, b64_cases,
                               sizeof(b64_cases) / sizeof(b64_cases[0]));
}

ParameterizedTest(struct b64_case *tc, crypto, b64url)
{
    size_t cap = 4 * ((tc->n + 2) / 3) + 1; /* what the header asks the caller for */
    char out[32];

    memset(out, CANARY, sizeof(out));
    crypto_b64url(tc->in, tc->n, out);
    cr_expect_str_eq(out, tc->want, "b64url of %zu bytes", tc->n);
    for (size_t i = cap; i < sizeof(out); i++)
        cr_assert_eq((unsigned char)out[i], CANARY, "byte %zu past 4*ceil(n/3)+1 written", i);
}

/* A 32-byte key body encodes to 43 characters, all in the url alphabet. */
Test(crypto, b64url_32_bytes)
{
    uint8_t in[32];
    char out[45];

    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i * 37 + 11);
    crypto_b64url(in, sizeof(in), out);
    cr_assert_eq(strlen(out), 43);
    cr_expect_eq(strspn(out, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                 43);
}

/* ---- crypto_random ---------------------------------------------------- */

Test(crypto, random_fills_and_differs)
{
    uint8_t a[32], b[32], zero[32] = {0};

    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    cr_assert(crypto_random(a, sizeof(a)));
    cr_assert(crypto_random(b, sizeof(b)));
    cr_expect_neq(memcmp(a, zero, sizeof(a)), 0, "32 zero bytes from the CSPRNG");
    cr_expect_neq(memcmp(a, b, sizeof(a)), 0, "two draws were equal");
}

Test(crypto, random_zero_bytes)
{
    uint8_t canary = CANARY;

    cr_expect(crypto_random(&canary, 0));
    cr_expect_eq(canary, CANARY);
}

/* A large request is filled to its end (getrandom may return short reads). */
Test(crypto, random_large)
{
    size_t n = 1 << 20;
    uint8_t *buf = calloc(1, n);
    size_t zero_tail = 0;

    cr_assert_not_null(buf);
    cr_assert(crypto_random(buf, n));
    for (size_t i = n - 64; i < n; i++)
        zero_tail += buf[i] == 0;
    cr_expect_lt(zero_tail, 64, "the last 64 bytes were left zero");
    free(buf);
}

/* ---- HMAC-SHA-256 (RFC 4231) and base64 (RFC 4648) ------------------- */

Test(crypto, hmac_sha256_rfc4231_case_2_in_parts)
{
    const void *parts[3] = {"what do ya", " want ", "for nothing?"};
    size_t lens[3] = {10, 6, 12};
    uint8_t mac[CRYPTO_SHA256_LEN];
    char hex[2 * CRYPTO_SHA256_LEN + 1];

    cr_assert(crypto_hmac_sha256("Jefe", 4, parts, lens, 3, mac));
    crypto_hex(mac, sizeof(mac), hex);
    cr_expect_str_eq(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

Test(crypto, b64_rfc4648_vectors_both_ways)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char out[16];
        uint8_t back[16];
        size_t n = 99;
        crypto_b64((const uint8_t *)plain[i], strlen(plain[i]), out);
        cr_expect_str_eq(out, enc[i]);
        cr_assert(crypto_b64_decode(enc[i], back, sizeof(back), &n), "%s", enc[i]);
        cr_expect_eq(n, strlen(plain[i]));
        cr_expect(!memcmp(back, plain[i], n));
    }
}

Test(crypto, b64_decode_refuses_bad_input)
{
    uint8_t out[8];
    size_t n = 77;
    cr_expect(crypto_b64_decode("Zm9v", out, sizeof(out), &n) && n == 3);
    cr_expect(crypto_b64_decode("Zg", out, sizeof(out), &n) && n == 1); /* padding optional */
    cr_expect(!crypto_b64_decode("Zm9v-_", out, sizeof(out), &n));      /* url alphabet */
    cr_expect(!crypto_b64_decode("Z", out, sizeof(out), &n));
    cr_expect(!crypto_b64_decode("Zg=", out, sizeof(out), &n));
    cr_expect(!crypto_b64_decode("Zh==", out, sizeof(out), &n)); /* stray bits */
    cr_expect(!crypto_b64_decode("Zm9vYmFyYmF6", out, 8, &n));   /* 9 bytes > cap */
    cr_expect(!crypto_b64_decode("Zm 9v", out, sizeof(out), &n));
}
