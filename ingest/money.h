/*
 * money: exact amounts of USD as integers of femto-dollars (1e-15 USD).
 * A price of USD per million tokens with up to 6 decimals is a whole number
 * of pico-dollars per token, and times a mode multiplier with up to 3
 * decimals it is still a whole number of femto-dollars per token; so
 * tokens x price never rounds. Sums use __int128: about 1.7e23 USD of
 * headroom. Pure; any thread.
 */
#ifndef TOLLGATE_MONEY_H
#define TOLLGATE_MONEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

__extension__ typedef __int128 money_t;

#define MONEY_SCALE   15 /* decimals of USD in one unit */
#define MONEY_PER_USD ((money_t)1000000000000000LL)
#define MONEY_BUF     48 /* enough for any money_t in decimal */

/*
 * Parses a non-negative decimal amount of USD ("12", "0.000125", "3.") with
 * at most max_frac decimals (0..15) into *out. Rejects a sign, an exponent,
 * spaces, an empty string, more decimals than max_frac, and values of 1e21
 * USD or more. *out is set only on success.
 */
bool money_parse_usd(const char *s, int max_frac, money_t *out) __attribute__((warn_unused_result));

/*
 * Writes v as decimal USD into buf, exactly: trailing zeros of the fraction
 * are trimmed down to min_frac decimals (0..15), e.g. 2 gives "12.50",
 * "0.000125". Negative values get a leading '-'. Returns the length.
 */
size_t money_format_usd(money_t v, int min_frac, char buf[MONEY_BUF]);

#endif
