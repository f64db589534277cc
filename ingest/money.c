/*
 * money: exact USD amounts as __int128 femto-dollars, parsed from and
 * written as decimal text with no float anywhere. Both functions work on
 * caller memory only: nothing is allocated, nothing is kept. Pure; any
 * thread.
 */
#include "money.h"

__extension__ typedef unsigned __int128 umoney_t;

#define MAX_INT_DIGITS 21 /* values must stay below 1e21 USD */

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

bool money_parse_usd(const char *s, int max_frac, money_t *out)
{
    money_t v = 0;
    int int_digits = 0, frac = 0;
    const char *p = s;

    if (!s || max_frac < 0 || max_frac > MONEY_SCALE || !is_digit(*p))
        return false;
    /* Integer part: leading zeros do not count towards the 1e21 limit. */
    for (; is_digit(*p); p++) {
        if (int_digits == 0 && *p == '0')
            continue;
        if (++int_digits > MAX_INT_DIGITS)
            return false;
        v = v * 10 + (*p - '0');
    }
    if (*p == '.') {
        for (p++; is_digit(*p); p++) {
            if (++frac > max_frac)
                return false;
            v = v * 10 + (*p - '0');
        }
    }
    if (*p != '\0')
        return false;
    for (int i = frac; i < MONEY_SCALE; i++)
        v *= 10;
    *out = v;
    return true;
}

size_t money_format_usd(money_t v, int min_frac, char buf[MONEY_BUF])
{
    char digits[MONEY_BUF];
    size_t nd = 0, len = 0;
    umoney_t mag = v < 0 ? (umoney_t)0 - (umoney_t)v : (umoney_t)v;
    int frac = MONEY_SCALE;

    if (min_frac < 0)
        min_frac = 0;
    if (min_frac > MONEY_SCALE)
        min_frac = MONEY_SCALE;
    /* Digits least significant first, at least one past the decimal point. */
    /* 128-bit division is slow: only while the value does not fit 64 bits. */
    while (mag > UINT64_MAX) {
        digits[nd++] = (char)('0' + (int)(mag % 10));
        mag /= 10;
    }
    uint64_t low = (uint64_t)mag;
    do {
        digits[nd++] = (char)('0' + (int)(low % 10));
        low /= 10;
    } while (low != 0 || nd <= MONEY_SCALE);
    /* Trim trailing zeros of the fraction, keeping min_frac decimals. */
    size_t skip = 0;
    while (frac > min_frac && digits[skip] == '0') {
        skip++;
        frac--;
    }
    if (v < 0)
        buf[len++] = '-';
    for (size_t i = nd; i-- > MONEY_SCALE;)
        buf[len++] = digits[i];
    if (frac > 0) {
        buf[len++] = '.';
        for (size_t i = MONEY_SCALE; i-- > skip;)
            buf[len++] = digits[i];
    }
    buf[len] = '\0';
    return len;
}
