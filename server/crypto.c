/*
 * crypto: SHA-256 and HMAC through EVP, randomness through getrandom(2).
 */
#include "crypto.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <string.h>
#include <sys/random.h>

void crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_SHA256_LEN])
{
    unsigned int n = CRYPTO_SHA256_LEN;
    /* EVP_Digest cannot fail for SHA-256 short of memory corruption. */
    (void)EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

void crypto_hex(const uint8_t *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

bool crypto_random(void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom((char *)buf + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        got += (size_t)r;
    }
    return true;
}

bool crypto_hmac_sha256(const void *key, size_t keylen, const void *const *parts,
                        const size_t *lens, int n, uint8_t out[CRYPTO_SHA256_LEN])
{
    static const uint8_t empty[1];
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    uint8_t md[CRYPTO_SHA256_LEN];
    size_t mdlen = 0;
    bool ok = false;

    if (!ctx || !EVP_MAC_init(ctx, keylen ? key : empty, keylen, params))
        goto out;
    for (int i = 0; i < n; i++)
        if (lens[i] && !EVP_MAC_update(ctx, parts[i], lens[i]))
            goto out;
    if (!EVP_MAC_final(ctx, md, &mdlen, sizeof(md)) || mdlen != sizeof(md))
        goto out;
    memcpy(out, md, sizeof(md));
    ok = true;
out:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return ok;
}

static const char b64_tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void crypto_b64(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0, i = 0;

    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_tab[v >> 18 & 63];
        out[o++] = b64_tab[v >> 12 & 63];
        out[o++] = b64_tab[v >> 6 & 63];
        out[o++] = b64_tab[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64_tab[v >> 18 & 63];
        out[o++] = b64_tab[v >> 12 & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64_tab[v >> 18 & 63];
        out[o++] = b64_tab[v >> 12 & 63];
        out[o++] = b64_tab[v >> 6 & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
}

static int b64_value(char c)
{
    const char *p = c ? strchr(b64_tab, c) : NULL;
    return p ? (int)(p - b64_tab) : -1;
}

bool crypto_b64_decode(const char *s, uint8_t *out, size_t cap, size_t *outlen)
{
    size_t len = strlen(s), o = 0;
    uint32_t acc = 0;
    int bits = 0;

    if (len >= 1 && s[len - 1] == '=')
        len--;
    if (len >= 1 && s[len - 1] == '=')
        len--;
    if (len % 4 == 1 || (strlen(s) != len && strlen(s) % 4 != 0))
        return false;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value(s[i]);
        if (v < 0)
            return false;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return false;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    if (acc & ((1u << bits) - 1)) /* leftover bits must be zero */
        return false;
    *outlen = o;
    return true;
}

void crypto_b64url(const uint8_t *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, i = 0;

    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = tab[v >> 6 & 63];
        out[o++] = tab[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = tab[v >> 6 & 63];
    }
    out[o] = '\0';
}
