/*
 * pricing: the price catalog in memory and the exact cost of a call. A
 * catalog holds providers (with the match rule for the provider strings
 * clients send), their models (with the match rule for model strings), and
 * dated, tiered price rows. Pure: no I/O; the server fills a catalog from
 * Postgres, and `tollgate prices import` from a catalog file. A built
 * catalog is read-only and may be shared by any number of threads.
 *
 * Match rules are JSON objects in the catalog file's grammar:
 *   {"equals": s} {"starts_with": s} {"ends_with": s} {"contains": s}
 *   {"regex": POSIX-extended} {"or": [rule...]} {"and": [rule...]} {"not": rule}
 * Matching is case-insensitive on the model and provider strings (ASCII
 * case folding; regexes are compiled once, with REG_ICASE). Rules nest at
 * most PRICING_RULE_DEPTH deep; "or" and "and" need at least one rule.
 */
#ifndef TOLLGATE_PRICING_H
#define TOLLGATE_PRICING_H

#include "money.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum usage_mode { MODE_STANDARD = 0, MODE_BATCH, MODE_FLEX, MODE_PRIORITY, MODE_COUNT };

/* Parses "standard", "batch", "flex", "priority". */
bool pricing_parse_mode(const char *s, enum usage_mode *out) __attribute__((warn_unused_result));
const char *pricing_mode_name(enum usage_mode m);

/* Disjoint token classes, except reasoning, which is part of output. */
struct tokens {
    int64_t input_uncached;
    int64_t cache_read;
    int64_t cache_write_5m;
    int64_t cache_write_1h;
    int64_t output;
    int64_t reasoning;
};

/* All input tokens (uncached + cache read + cache writes): what tiers compare. */
int64_t pricing_prompt_tokens(const struct tokens *t);

#define PRICE_NONE (-1) /* a token class or mode the model does not offer */

/*
 * Bounds that keep the cost of any int64 token counts inside money_t (6
 * classes x 2^63 tokens x 1e15 femto-USD x 1000 < 2^127): a price of at most
 * USD 1,000,000 per Mtok and a multiplier of at most 1000x.
 */
#define PRICE_MAX          ((int64_t)1000000000000000LL) /* femto-USD per token */
#define MODE_MILLI_MAX     1000000
#define PRICING_RULE_DEPTH 16

/* One price row. Prices are femto-USD per token (USD/Mtok x 1e9). */
struct price {
    int64_t id;                /* the row's id in Postgres (the price version); 0 if none */
    int64_t org_id;            /* 0 = list price; else that org's own price */
    int64_t effective_from;    /* unix seconds */
    int64_t min_prompt_tokens; /* 0 = base tier */
    int64_t input;
    int64_t cache_read;             /* or PRICE_NONE: billed at input */
    int64_t cache_write_5m;         /* or PRICE_NONE: billed at input */
    int64_t cache_write_1h;         /* or PRICE_NONE: billed at input */
    int64_t output;                 /* reasoning is billed as output */
    int32_t mode_milli[MODE_COUNT]; /* multiplier in thousandths; [MODE_STANDARD] = 1000;
                                       PRICE_NONE = not offered (billed as standard) */
};

/*
 * A price given in USD per million tokens ("2.5"), as femto-USD per token
 * (2500000000). The text follows money_parse_usd's grammar with at most 6
 * decimals; values above PRICE_MAX are refused. *out is set only on success.
 */
bool pricing_parse_mtok(const char *usd_per_mtok, int64_t *out) __attribute__((warn_unused_result));

struct catalog;

struct catalog *catalog_new(void);
void catalog_free(struct catalog **cp);

/*
 * Adds a provider id (lower-case, e.g. "openai"; the grammar of the prices
 * table, ^[a-z0-9][a-z0-9._-]*$, at most 200 bytes) with the rule matching
 * the provider strings clients send ("OpenAI", "azure.ai.openai", ...);
 * match NULL means {"equals": id}. The catalog keeps its own copy of match.
 * Refuses a bad id, a duplicate id or a bad rule; nothing changes then.
 */
bool catalog_add_provider(struct catalog *c, const char *id, const json_t *match, char *err,
                          size_t errlen) __attribute__((warn_unused_result));

/*
 * Sets the rule for the model strings a provider serves first-hand (the
 * catalog's "model_match", e.g. {"contains": "claude"} for anthropic). It is
 * used only when a call names no provider: see catalog_resolve. Replaces an
 * earlier one; on failure nothing changes.
 */
bool catalog_set_provider_model_match(struct catalog *c, const char *provider,
                                      const json_t *model_match, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Adds a model of a known provider; match NULL means {"equals": model}.
 * Model ids are 1 to 200 bytes and unique within their provider (ignoring
 * case). On failure nothing changes.
 */
bool catalog_add_model(struct catalog *c, const char *provider, const char *model,
                       const json_t *match, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Adds a copy of a price row to a known model. Refuses, with the reason in
 * err, a row whose prices times its multipliers are not whole femto-dollars
 * (each price x mode_milli must be divisible by 1000), negative values,
 * PRICE_NONE for input or output, prices above PRICE_MAX, multipliers above
 * MODE_MILLI_MAX, mode_milli[MODE_STANDARD] other than 1000, and a second
 * row with the same (org_id, effective_from, min_prompt_tokens). On failure
 * nothing changes.
 */
bool catalog_add_price(struct catalog *c, const char *provider, const char *model,
                       const struct price *p, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Resolves what a client sent to canonical ids (pointers into c). A
 * provider string resolves to the provider with that id (ignoring case),
 * else to the first provider, in the order added, whose match rule accepts
 * it; only that provider's models are then tried, and an unknown provider
 * string resolves nothing. The provider string may be empty or NULL: then
 * the providers whose model_match accepts the model are tried first, then
 * every provider's models, in order. Models are tried in the order they
 * were added; the first match wins. Returns false when nothing matches;
 * the out-parameters are set only on success. Exact names are found by
 * hash; only rules that are not plain "equals" are scanned.
 */
bool catalog_resolve(const struct catalog *c, const char *provider, const char *model,
                     const char **cprovider, const char **cmodel);

/*
 * The price in force for a resolved model: the org's own rows win over list
 * rows; among them the latest effective_from <= ts, and within it the
 * highest min_prompt_tokens <= prompt_tokens. When the org has no row that
 * applies (none in force at ts, or no tier at or below prompt_tokens), the
 * list rows are used. org_id 0 means list rows only. NULL when there is
 * none (ids compare ignoring case).
 */
const struct price *catalog_price(const struct catalog *c, int64_t org_id, const char *cprovider,
                                  const char *cmodel, int64_t ts, int64_t prompt_tokens);

/*
 * The cost of one call. effective: each class at its own price (classes
 * without one at the input price), reasoning inside output, times the
 * mode's multiplier (standard when the mode is not offered). list: what
 * the requested model would have cost at list, standard mode, no cache
 * discount: every input token at its input price and output at its output
 * price. requested may be the same row as p, or NULL for p. Token counts
 * must not be negative (the event decoder ensures it). Never rounds: p and
 * requested must be rows a catalog accepted (or obey the same rules).
 * Either out-parameter may be NULL.
 */
void pricing_cost(const struct price *p, const struct price *requested, const struct tokens *t,
                  enum usage_mode mode, money_t *effective, money_t *list);

/*
 * A view of one model, for iterating a catalog (as `prices import` does),
 * in the order added; prices in the order added. Valid while c lives.
 */
struct catalog_model {
    const char *provider;
    const char *model;
    const json_t *match;
    const struct price *prices;
    size_t n_prices;
};
size_t catalog_model_count(const struct catalog *c);
bool catalog_model_at(const struct catalog *c, size_t i, struct catalog_model *out);

/* A view of one provider; model_match is NULL when it has none. */
size_t catalog_provider_count(const struct catalog *c);
bool catalog_provider_at(const struct catalog *c, size_t i, const char **id, const json_t **match);
const json_t *catalog_provider_model_match(const struct catalog *c, size_t i);

/*
 * Builds c from a catalog file (the format in prices/README.md). On
 * failure err names the first bad entry (its path in the document) and c
 * may hold the entries before it.
 */
bool catalog_load_json(struct catalog *c, const json_t *doc, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
