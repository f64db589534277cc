/*
 * crypto: the few primitives the server needs, on OpenSSL's libcrypto and the
 * kernel's random source. Stateless and thread-safe.
 */
#ifndef TOLLGATE_CRYPTO_H
#define TOLLGATE_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPTO_SHA256_LEN 32

/* SHA-256 of data into out (32 bytes). */
void crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_SHA256_LEN]);

/* Lower-case hex of n bytes into out, which must hold 2n+1 bytes. */
void crypto_hex(const uint8_t *in, size_t n, char *out);

/* Fills buf with n bytes from the kernel's CSPRNG. Returns false if it failed. */
bool crypto_random(void *buf, size_t n) __attribute__((warn_unused_result));

/*
 * HMAC-SHA-256 with key over the concatenation of parts[0..n) (lens[i]
 * bytes each) into out. Returns false only when OpenSSL fails (out of
 * memory); out is then untouched.
 */
bool crypto_hmac_sha256(const void *key, size_t keylen, const void *const *parts,
                        const size_t *lens, int n, uint8_t out[CRYPTO_SHA256_LEN])
    __attribute__((warn_unused_result));

/* Standard base64 with padding of n bytes into out, which must hold 4*ceil(n/3)+1. */
void crypto_b64(const uint8_t *in, size_t n, char *out);

/*
 * Decodes standard base64 (padding optional, no whitespace) into out, at
 * most cap bytes. Returns false on a character outside the alphabet, bad
 * padding or a result longer than cap; *outlen is set only on success.
 */
bool crypto_b64_decode(const char *s, uint8_t *out, size_t cap, size_t *outlen)
    __attribute__((warn_unused_result));

/* base64url without padding of n bytes into out, which must hold 4*ceil(n/3)+1. */
void crypto_b64url(const uint8_t *in, size_t n, char *out);

#endif
