// links: policies/tz.c
/*
 * Fuzz target for tz_parse: the bytes are a TZif file. Whatever parses
 * must answer every query with an offset within a day or so, and map the
 * local time of an instant back to that instant or an earlier one with the
 * same local time (an overlap).
 */
#include "tz.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const int64_t probes[] = {
    INT64_MIN,    -4000000000LL, -2147483648LL, 0,
    951782400LL,  1772953199LL,  1772953200LL,  1792990800LL,
    2147483647LL, 2215036800LL,  4102444800LL,  253402300799LL,
    INT64_MAX,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[128];
    struct tz *z = tz_parse("fuzz", data, size, err, sizeof(err));

    if (!z) {
        CHECK(err[0] != '\0');
        return 0;
    }
    CHECK(tz_name(z)[0] == 'f');
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        int64_t t = probes[i];
        int32_t off = tz_offset(z, t);
        CHECK(off >= -26 * 3600 && off <= 26 * 3600);
        if (t > -(1LL << 40) && t < (1LL << 40)) {
            int64_t local = t + off;
            int64_t u = tz_local_to_utc(z, local);
            int64_t back = u + tz_offset(z, u);
            /* t itself has that local time, so the answer is t or an earlier one. */
            CHECK(back == local);
            CHECK(u <= t);
        } else {
            (void)tz_local_to_utc(z, t);
        }
    }
    tz_free(&z);
    CHECK(z == NULL);
    return 0;
}
