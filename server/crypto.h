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

/* base64url without padding of n bytes into out, which must hold 4*ceil(n/3)+1. */
void crypto_b64url(const uint8_t *in, size_t n, char *out);

#endif
