// links: ingest/pricing.c ingest/money.c
/*
 * pricing: a small hand-written catalog (the facts of FORMATS.md, "Pricing
 * facts") priced against hand-computed costs, resolution of model and
 * provider strings, price selection by org, date and tier, the validation
 * of rows and files, the exactness property of STYLE.md ("Money"), and the
 * shipped snapshot prices/genai-prices.json. Tests run from the repo root.
 *
 * Units: a price of P USD per million tokens is P x 1e9 femto-USD per
 * token, so N tokens at P cost N x P / 1e6 USD; expected costs below are
 * written in USD, as money_format_usd prints them.
 */
#include "pricing.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <regex.h>
#include <strings.h>
#include <string.h>
#include <time.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define TS_2024_01_01 1704067200LL
#define TS_2025_06_10 1749513600LL /* o3's price cut */
#define TS_2026_01_01 1767225600LL
#define TS_2026_09_01 1788220800LL
#define ORG_ACME      7LL /* has its own gpt-4o price */
#define ORG_OTHER     8LL

/* ---- the fixture catalog ------------------------------------------------ */

static const char fixture_json[] =
    "{\"format\": \"tollgate-catalog/1\", \"source\": \"tests/unit/pricing.c\", \"providers\": ["
    /* anthropic: cache read 0.1x, writes 1.25x (5m) and 2x (1h); batch 0.5 */
    " {\"id\": \"anthropic\", \"match\": {\"contains\": \"anthropic\"},"
    "  \"model_match\": {\"contains\": \"claude\"}, \"modes\": {\"batch\": \"0.5\"}, \"models\": ["
    "  {\"id\": \"claude-sonnet-4-5\", \"match\": {\"starts_with\": \"claude-sonnet-4-5\"},"
    "   \"prices\": [{\"input\": \"3\", \"cache_read\": \"0.3\", \"cache_write_5m\": \"3.75\","
    "                \"cache_write_1h\": \"6\", \"output\": \"15\"}]},"
    "  {\"id\": \"claude-2\", \"prices\": [{\"input\": \"8\", \"output\": \"24\"}]}]},"
    /* azure: OpenAI's models under another provider, no modes */
    " {\"id\": \"azure\", \"match\": {\"or\": [{\"equals\": \"azure.ai.openai\"},"
    "                                   {\"starts_with\": \"azure\"}]}, \"models\": ["
    "  {\"id\": \"gpt-4o\", \"prices\": [{\"input\": \"2.75\", \"output\": \"11\"}]}]},"
    /* google: tiers above 200k prompt tokens; batch and flex 0.5, priority 1.8 */
    " {\"id\": \"google\", \"match\": {\"or\": [{\"contains\": \"gemini\"}, {\"contains\": "
    "\"vertex\"}]},"
    "  \"model_match\": {\"contains\": \"gemini\"},"
    "  \"modes\": {\"batch\": \"0.5\", \"flex\": \"0.5\", \"priority\": \"1.8\"}, \"models\": ["
    "  {\"id\": \"gemini-2.5-pro\", \"match\": {\"and\": [{\"starts_with\": \"gemini-2.5-pro\"},"
    "                                               {\"not\": {\"regex\": \"-tts($|-)\"}}]},"
    "   \"prices\": [{\"input\": \"1.25\", \"cache_read\": \"0.125\", \"output\": \"10\"},"
    "                {\"min_prompt_tokens\": 200001, \"input\": \"2.5\", \"cache_read\": \"0.25\","
    "                 \"output\": \"15\"}]},"
    "  {\"id\": \"gemini-2.5-flash\", \"match\": {\"regex\": \"^gemini-2\\\\.5-flash(-[0-9]+)?$\"},"
    "   \"prices\": [{\"input\": \"0.3\", \"cache_read\": \"0.03\", \"output\": \"2.5\"}]}]},"
    /* openai: cache read 0.5x on gpt-4o, 0.1x on gpt-5; batch and flex 0.5 */
    " {\"id\": \"openai\", \"match\": {\"contains\": \"openai\"},"
    "  \"model_match\": {\"or\": [{\"starts_with\": \"gpt-\"}, {\"regex\": \"^o[134]\"}]},"
    "  \"modes\": {\"batch\": \"0.5\", \"flex\": \"0.5\"}, \"models\": ["
    "  {\"id\": \"gpt-5\", \"match\": {\"starts_with\": \"gpt-5\"},"
    "   \"prices\": [{\"input\": \"1.25\", \"cache_read\": \"0.125\", \"output\": \"10\"}]},"
    "  {\"id\": \"gpt-5-mini\", \"prices\": [{\"input\": \"0.25\", \"output\": \"2\"}]},"
    "  {\"id\": \"gpt-4o\", \"match\": {\"or\": [{\"equals\": \"gpt-4o\"},"
    "                                   {\"equals\": \"gpt-4o-2024-08-06\"}]},"
    "   \"prices\": [{\"input\": \"2.5\", \"cache_read\": \"1.25\", \"output\": \"10\"}]},"
    "  {\"id\": \"gpt-4o-mini\", \"match\": {\"or\": [{\"equals\": \"gpt-4o-mini\"},"
    "                                        {\"equals\": \"gpt-4o-mini-2024-07-18\"}]},"
    "   \"prices\": [{\"input\": \"0.15\", \"cache_read\": \"0.075\", \"output\": \"0.6\"}]},"
    "  {\"id\": \"gpt-4o-other\", \"match\": {\"starts_with\": \"gpt-4o-\"},"
    "   \"prices\": [{\"input\": \"5\", \"output\": \"15\"}]},"
    "  {\"id\": \"o3\", \"match\": {\"or\": [{\"equals\": \"o3\"}, {\"equals\": "
    "\"o3-2025-04-16\"}]},"
    "   \"prices\": [{\"input\": \"10\", \"cache_read\": \"0.5\", \"output\": \"40\"},"
    "                {\"effective_from\": \"2025-06-10\", \"input\": \"2\", \"cache_read\": "
    "\"0.5\","
    "                 \"output\": \"8\"}]},"
    "  {\"id\": \"o1-next\", \"prices\": [{\"effective_from\": \"2026-01-01\", \"input\": \"1\","
    "                                   \"output\": \"4\"}]}]},"
    " {\"id\": \"x-ai\", \"match\": {\"or\": [{\"equals\": \"xai\"}, {\"equals\": \"x_ai\"}]},"
    "  \"models\": [{\"id\": \"grok-4\", \"match\": {\"starts_with\": \"grok-4\"},"
    "   \"prices\": [{\"input\": \"3\", \"output\": \"15\"}]}]}"
    "]}";

/* A row with the given prices (USD/Mtok text; NULL = none) and standard mode only. */
static struct price row(int64_t org, int64_t from, const char *in, const char *out)
{
    struct price p = {.org_id = org, .effective_from = from};

    cr_assert(pricing_parse_mtok(in, &p.input));
    cr_assert(pricing_parse_mtok(out, &p.output));
    p.cache_read = p.cache_write_5m = p.cache_write_1h = PRICE_NONE;
    p.mode_milli[MODE_STANDARD] = 1000;
    p.mode_milli[MODE_BATCH] = p.mode_milli[MODE_FLEX] = p.mode_milli[MODE_PRIORITY] = PRICE_NONE;
    return p;
}

/* The fixture, plus ACME's negotiated gpt-4o price ($2 / $8, standard and batch 0.5). */
static struct catalog *fixture(void)
{
    json_error_t jerr;
    json_t *doc = json_loads(fixture_json, 0, &jerr);
    struct catalog *c = catalog_new();
    char err[256] = "";

    cr_assert(doc, "fixture JSON: %s at %d:%d", jerr.text, jerr.line, jerr.column);
    cr_assert(c);
    cr_assert(catalog_load_json(c, doc, err, sizeof(err)), "fixture: %s", err);
    json_decref(doc);
    struct price acme = row(ORG_ACME, 0, "2", "8");
    acme.mode_milli[MODE_BATCH] = 500;
    cr_assert(catalog_add_price(c, "openai", "gpt-4o", &acme, err, sizeof(err)), "%s", err);
    return c;
}

static const char *usd(money_t v, char buf[MONEY_BUF])
{
    money_format_usd(v, 0, buf);
    return buf;
}

/* ---- costs against hand-computed values --------------------------------- */

struct cost_case {
    char name[48];
    char provider[24], model[32]; /* what ran, as a client sends it */
    char requested[32];           /* the model asked for; "" = the same */
    int64_t org, ts;
    char mode[12];
    struct tokens t;
    char effective[24], list[24]; /* USD */
};

/* Row layout: name; provider, model, requested; org, ts, mode; tokens; effective, list. */
// clang-format off
static struct cost_case cost_cases[] = {
    /* 1000 x 2.5 + 500 x 10 = 2500 + 5000 = 7500 USD/M -> 0.0075; list the same */
    {"plain input and output",
     "openai", "gpt-4o", "", 0, TS_2026_09_01, "standard",
     {.input_uncached = 1000, .output = 500},
     "0.0075", "0.0075"},
    /* Anthropic cache read 0.1x: 1000 x 3 + 10000 x 0.3 + 200 x 15 = 3000 + 3000 + 3000 = 9000
       -> 0.009; list: (1000 + 10000) x 3 + 200 x 15 = 33000 + 3000 = 36000 -> 0.036 */
    {"anthropic cache read 0.1x",
     "anthropic", "claude-sonnet-4-5-20250929", "", 0, TS_2026_09_01, "standard",
     {.input_uncached = 1000, .cache_read = 10000, .output = 200},
     "0.009", "0.036"},
    /* OpenAI gpt-4o cache read 0.5x: 2000 x 2.5 + 8000 x 1.25 + 100 x 10 = 5000 + 10000 + 1000
       = 16000 -> 0.016; list: 10000 x 2.5 + 100 x 10 = 26000 -> 0.026 */
    {"openai gpt-4o cache read 0.5x",
     "OpenAI", "gpt-4o-2024-08-06", "", 0, TS_2026_09_01, "standard",
     {.input_uncached = 2000, .cache_read = 8000, .output = 100},
     "0.016", "0.026"},
    /* cache write 5m 1.25x: 100 x 3 + 10000 x 3.75 = 300 + 37500 = 37800 -> 0.0378;
       list: 10100 x 3 = 30300 -> 0.0303 */
    {"cache write 5m 1.25x",
     "anthropic", "claude-sonnet-4-5", "", 0, TS_2026_09_01, "standard",
     {.input_uncached = 100, .cache_write_5m = 10000},
     "0.0378", "0.0303"},
    /* cache write 1h 2x: 10000 x 6 = 60000 -> 0.06; list: 10000 x 3 = 30000 -> 0.03 */
    {"cache write 1h 2x",
     "anthropic", "claude-sonnet-4-5", "", 0, TS_2026_09_01, "standard",
     {.cache_write_1h = 10000},
     "0.06", "0.03"},
    /* claude-2 has no cache prices: every input class at input. (100 + 1000 + 1000 + 1000) x 8
       + 10 x 24 = 24800 + 240 = 25040 -> 0.02504; list the same */
    {"classes without a price at input",
     "anthropic", "claude-2", "", 0, TS_2026_09_01, "standard",
     {.input_uncached = 100, .cache_read = 1000, .cache_write_5m = 1000,
      .cache_write_1h = 1000, .output = 10},
     "0.02504", "0.02504"},
    /* reasoning is inside output: 1000 x 1.25 + 1000 x 10 = 1250 + 10000 = 11250 -> 0.01125
       (the 800 reasoning tokens are not added again) */
    {"reasoning inside output",
     "openai", "gpt-5", "", 0, TS_2026_09_01, "standard",
     {.input_uncached = 1000, .output = 1000, .reasoning = 800},
     "0.01125", "0.01125"},
    /* tier cliff, just below: prompt 150000 + 50000 = 200000 -> base row.
       150000 x 1.25 + 50000 x 0.125 + 1000 x 10 = 187500 + 6250 + 10000 = 203750 -> 0.20375;
       list: 200000 x 1.25 + 1000 x 10 = 250000 + 10000 = 260000 -> 0.26 */
    {"long context just below 200k",
     "google", "gemini-2.5-pro", "", 0, TS_2026_09_01, "standard",
     {.input_uncached = 150000, .cache_read = 50000, .output = 1000},
     "0.20375", "0.26"},
    /* tier cliff, above: prompt 150001 + 50000 = 200001 -> the whole request at the tier.
       150001 x 2.5 + 50000 x 0.25 + 1000 x 15 = 375002.5 + 12500 + 15000 = 402502.5
       -> 0.4025025; list: 200001 x 2.5 + 1000 x 15 = 500002.5 + 15000 = 515002.5 -> 0.5150025 */
    {"long context above 200k",
     "google", "gemini-2.5-pro", "", 0, TS_2026_09_01, "standard",
     {.input_uncached = 150001, .cache_read = 50000, .output = 1000},
     "0.4025025", "0.5150025"},
    /* cache writes count towards the tier too: 1 + 200000 = 200001 -> tier (no cache write
       price: at the tier's input 2.5). 1 x 2.5 + 200000 x 2.5 = 500002.5 -> 0.5000025 */
    {"cache writes count for the tier",
     "google", "gemini-2.5-pro", "", 0, TS_2026_09_01, "standard",
     {.input_uncached = 1, .cache_write_5m = 200000},
     "0.5000025", "0.5000025"},
    /* batch 0.5 on every class: (1000 x 3 + 10000 x 0.3 + 1000 x 3.75 + 1000 x 6 + 1000 x 15)
       x 0.5 = (3000 + 3000 + 3750 + 6000 + 15000) x 0.5 = 30750 x 0.5 = 15375 -> 0.015375;
       list: 13000 x 3 + 1000 x 15 = 39000 + 15000 = 54000 -> 0.054 */
    {"batch 0.5 on every class",
     "anthropic", "claude-sonnet-4-5", "", 0, TS_2026_09_01, "batch",
     {.input_uncached = 1000, .cache_read = 10000, .cache_write_5m = 1000,
      .cache_write_1h = 1000, .output = 1000},
     "0.015375", "0.054"},
    /* openai batch with cache: (1000 x 2.5 + 2000 x 1.25 + 100 x 10) x 0.5 = (2500 + 2500 + 1000)
       x 0.5 = 3000 -> 0.003; list: 3000 x 2.5 + 100 x 10 = 8500 -> 0.0085 */
    {"openai batch with cache",
     "openai", "gpt-4o", "", 0, TS_2026_09_01, "batch",
     {.input_uncached = 1000, .cache_read = 2000, .output = 100},
     "0.003", "0.0085"},
    /* flex 0.5: (1000 x 2.5 + 1000 x 1.25 + 1000 x 10) x 0.5 = 13750 x 0.5 = 6875 -> 0.006875;
       list: 2000 x 2.5 + 1000 x 10 = 15000 -> 0.015 */
    {"flex 0.5",
     "openai", "gpt-4o", "", 0, TS_2026_09_01, "flex",
     {.input_uncached = 1000, .cache_read = 1000, .output = 1000},
     "0.006875", "0.015"},
    /* gemini priority 1.8: (1000 x 1.25 + 1000 x 10) x 1.8 = 11250 x 1.8 = 20250 -> 0.02025;
       list 11250 -> 0.01125 */
    {"priority 1.8",
     "google", "gemini-2.5-pro", "", 0, TS_2026_09_01, "priority",
     {.input_uncached = 1000, .output = 1000},
     "0.02025", "0.01125"},
    /* priority on a long prompt: the tier row's prices x 1.8. (200001 x 2.5 + 10 x 15) x 1.8 =
       (500002.5 + 150) x 1.8 = 500152.5 x 1.8 = 900274.5 -> 0.9002745;
       list 500152.5 -> 0.5001525 */
    {"priority on the tier",
     "google", "gemini-2.5-pro", "", 0, TS_2026_09_01, "priority",
     {.input_uncached = 200001, .output = 10},
     "0.9002745", "0.5001525"},
    /* flex is not offered at anthropic: standard. 1000 x 3 + 1000 x 15 = 18000 -> 0.018 */
    {"mode not offered is standard",
     "anthropic", "claude-sonnet-4-5", "", 0, TS_2026_09_01, "flex",
     {.input_uncached = 1000, .output = 1000},
     "0.018", "0.018"},
    /* azure has no modes at all: batch billed as standard. 1000 x 2.75 + 1000 x 11 = 13750
       -> 0.01375 */
    {"no modes at the provider",
     "azure.ai.openai", "gpt-4o", "", 0, TS_2026_09_01, "batch",
     {.input_uncached = 1000, .output = 1000},
     "0.01375", "0.01375"},
    /* o3 before its price cut (2025-06-10): 1000 x 10 + 1000 x 40 = 50000 -> 0.05 */
    {"dated price, the second before",
     "openai", "o3", "", 0, TS_2025_06_10 - 1, "standard",
     {.input_uncached = 1000, .output = 1000},
     "0.05", "0.05"},
    /* o3 from the cut on: 1000 x 2 + 1000 x 8 = 10000 -> 0.01 */
    {"dated price, from its day",
     "openai", "o3-2025-04-16", "", 0, TS_2025_06_10, "standard",
     {.input_uncached = 1000, .output = 1000},
     "0.01", "0.01"},
    /* ACME's own gpt-4o price ($2 / $8) beats the list: 1000 x 2 + 1000 x 8 = 10000 -> 0.01;
       list cost is at list: 1000 x 2.5 + 1000 x 10 = 12500 -> 0.0125 */
    {"org price beats list",
     "openai", "gpt-4o", "", ORG_ACME, TS_2026_09_01, "standard",
     {.input_uncached = 1000, .output = 1000},
     "0.01", "0.0125"},
    /* ACME's row has its own batch 0.5, and no cache price: cache reads at its input.
       (1000 x 2 + 1000 x 2 + 1000 x 8) x 0.5 = 12000 x 0.5 = 6000 -> 0.006;
       list: 2000 x 2.5 + 1000 x 10 = 15000 -> 0.015 */
    {"org price with its own modes",
     "openai", "gpt-4o", "", ORG_ACME, TS_2026_09_01, "batch",
     {.input_uncached = 1000, .cache_read = 1000, .output = 1000},
     "0.006", "0.015"},
    /* another org pays list: 1000 x 2.5 + 1000 x 10 = 12500 -> 0.0125 */
    {"other org pays list",
     "openai", "gpt-4o", "", ORG_OTHER, TS_2026_09_01, "standard",
     {.input_uncached = 1000, .output = 1000},
     "0.0125", "0.0125"},
    /* downgraded: asked gpt-4o, ran gpt-4o-mini. effective: 10000 x 0.15 + 2000 x 0.075 +
       1000 x 0.6 = 1500 + 150 + 600 = 2250 -> 0.00225; list: gpt-4o with no cache discount:
       12000 x 2.5 + 1000 x 10 = 30000 + 10000 = 40000 -> 0.04 */
    {"list cost of a downgraded call",
     "openai", "gpt-4o-mini", "gpt-4o", 0, TS_2026_09_01, "standard",
     {.input_uncached = 10000, .cache_read = 2000, .output = 1000},
     "0.00225", "0.04"},
    /* downgraded and batched: list ignores the batch discount. effective: (10000 x 0.15 + 1000 x
       0.6) x 0.5 = 2100 x 0.5 = 1050 -> 0.00105; list: 10000 x 2.5 + 1000 x 10 = 35000 -> 0.035 */
    {"downgraded batch call",
     "openai", "gpt-4o-mini-2024-07-18", "gpt-4o", 0, TS_2026_09_01, "batch",
     {.input_uncached = 10000, .output = 1000},
     "0.00105", "0.035"},
    /* a single token of the cheapest class is exact: 1 x 0.03 / 1e6 = 0.00000003 */
    {"one cached token",
     "google", "gemini-2.5-flash", "", 0, TS_2026_09_01, "standard",
     {.cache_read = 1},
     "0.00000003", "0.0000003"},
    /* nothing used costs nothing */
    {"zero tokens",
     "openai", "gpt-4o", "", 0, TS_2026_09_01, "batch",
     {0},
     "0", "0"},
};
// clang-format on

ParameterizedTestParameters(pricing, cost)
{
    return cr_make_param_array(struct cost_case, cost_cases, ARRAY_LEN(cost_cases));
}

ParameterizedTest(struct cost_case *tc, pricing, cost)
{
    struct catalog *c = fixture();
    const char *cp, *cm, *rp, *rm;
    enum usage_mode mode;
    money_t eff = -1, list = -1;
    char a[MONEY_BUF], b[MONEY_BUF];
    int64_t prompt = pricing_prompt_tokens(&tc->t);

    cr_assert(pricing_parse_mode(tc->mode, &mode), "%s: mode", tc->name);
    cr_assert(catalog_resolve(c, tc->provider, tc->model, &cp, &cm), "%s: resolve", tc->name);
    const struct price *p = catalog_price(c, tc->org, cp, cm, tc->ts, prompt);
    cr_assert(p, "%s: no price", tc->name);
    /* The list cost is at the requested model's list price (org 0), same tier rule. */
    cr_assert(
        catalog_resolve(c, tc->provider, tc->requested[0] ? tc->requested : tc->model, &rp, &rm));
    const struct price *rq = catalog_price(c, 0, rp, rm, tc->ts, prompt);
    cr_assert(rq, "%s: no list price", tc->name);
    pricing_cost(p, rq, &tc->t, mode, &eff, &list);
    cr_expect_str_eq(usd(eff, a), tc->effective, "%s: effective", tc->name);
    cr_expect_str_eq(usd(list, b), tc->list, "%s: list", tc->name);
    catalog_free(&c);
    cr_expect_null(c);
}

Test(pricing, cost_requested_null_is_p_and_outs_optional)
{
    struct catalog *c = fixture();
    const struct price *p = catalog_price(c, 0, "openai", "gpt-4o", TS_2026_09_01, 0);
    struct tokens t = {.input_uncached = 1000, .cache_read = 1000, .output = 1000};
    money_t eff, list;
    char buf[MONEY_BUF];

    cr_assert(p);
    /* 1000 x 2.5 + 1000 x 1.25 + 1000 x 10 = 13750 -> 0.01375; list 2000 x 2.5 + 10000 = 0.015 */
    pricing_cost(p, NULL, &t, MODE_STANDARD, &eff, &list);
    cr_expect_str_eq(usd(eff, buf), "0.01375");
    cr_expect_str_eq(usd(list, buf), "0.015");
    pricing_cost(p, p, &t, MODE_STANDARD, NULL, &list);
    cr_expect_str_eq(usd(list, buf), "0.015");
    pricing_cost(p, p, &t, MODE_STANDARD, &eff, NULL);
    cr_expect_str_eq(usd(eff, buf), "0.01375");
    catalog_free(&c);
}

/* ---- resolving ---------------------------------------------------------- */

struct resolve_case {
    char provider[24]; /* "-" = NULL */
    char model[40];
    char want_provider[16], want_model[24]; /* "" = must not resolve */
};

static struct resolve_case resolve_cases[] = {
    {"openai", "gpt-4o", "openai", "gpt-4o"},
    {"OpenAI", "GPT-4o-2024-08-06", "openai", "gpt-4o"}, /* case folding on both */
    {"openai", "gpt-4o-mini-2024-07-18", "openai", "gpt-4o-mini"},
    {"openai", "gpt-4o-2099-01-01", "openai", "gpt-4o-other"}, /* no equals: the scan finds it */
    {"openai", "gpt-5", "openai", "gpt-5"},
    /* first match wins: gpt-5's starts_with comes before gpt-5-mini's exact name */
    {"openai", "gpt-5-mini", "openai", "gpt-5"},
    {"openai", "gpt-4o-unknown", "openai", "gpt-4o-other"},
    {"openai", "gpt-3.5-turbo", "", ""},     /* unknown model */
    {"openai", "claude-sonnet-4-5", "", ""}, /* a model of another provider */
    {"openai", "", "", ""},
    {"azure.ai.openai", "gpt-4o", "azure", "gpt-4o"}, /* provider aliases */
    {"Azure", "gpt-4o", "azure", "gpt-4o"},           /* the id itself */
    {"azure_openai", "gpt-4o", "azure", "gpt-4o"},    /* the rule's starts_with */
    {"gcp.vertex_ai", "gemini-2.5-pro-preview-05-06", "google", "gemini-2.5-pro"},
    {"gcp.gemini", "gemini-2.5-pro", "google", "gemini-2.5-pro"},
    {"google", "gemini-2.5-pro-preview-tts", "", ""}, /* {"not": {"regex": ...}} */
    {"google", "gemini-2.5-pro-TTS-001", "", ""},
    {"google", "gemini-2.5-flash", "google", "gemini-2.5-flash"},
    {"google", "Gemini-2.5-Flash-002", "google", "gemini-2.5-flash"}, /* REG_ICASE */
    {"google", "gemini-2.5-flash-lite", "", ""},                      /* the regex is anchored */
    {"x_ai", "grok-4-0709", "x-ai", "grok-4"},
    {"XAI", "grok-4", "x-ai", "grok-4"},
    {"x-ai", "grok-4", "x-ai", "grok-4"},
    {"anthropic", "claude-sonnet-4-5-20250929", "anthropic", "claude-sonnet-4-5"},
    {"aws.bedrock", "claude-sonnet-4-5", "", ""}, /* a provider the catalog does not know */
    {"litellm", "gpt-4o", "", ""},
    /* no provider: those whose model_match accepts the model first (openai, not azure) */
    {"-", "gpt-4o", "openai", "gpt-4o"},
    {"", "gpt-4o", "openai", "gpt-4o"},
    {"-", "claude-sonnet-4-5-20250929", "anthropic", "claude-sonnet-4-5"},
    {"-", "gemini-2.5-flash", "google", "gemini-2.5-flash"},
    {"-", "o3", "openai", "o3"},
    {"-", "grok-4", "x-ai", "grok-4"}, /* no model_match at x-ai: found by the second pass */
    {"-", "claude-2", "anthropic", "claude-2"},
    {"-", "llama-3-70b", "", ""},
};

ParameterizedTestParameters(pricing, resolve)
{
    return cr_make_param_array(struct resolve_case, resolve_cases, ARRAY_LEN(resolve_cases));
}

ParameterizedTest(struct resolve_case *tc, pricing, resolve)
{
    struct catalog *c = fixture();
    const char *cp = "unset", *cm = "unset";
    const char *prov = strcmp(tc->provider, "-") ? tc->provider : NULL;
    bool ok = catalog_resolve(c, prov, tc->model, &cp, &cm);

    if (!tc->want_provider[0]) {
        cr_expect_not(ok, "%s/%s resolved to %s/%s", tc->provider, tc->model, cp, cm);
        cr_expect_str_eq(cp, "unset", "out changed on failure");
    } else {
        cr_assert(ok, "%s/%s did not resolve", tc->provider, tc->model);
        cr_expect_str_eq(cp, tc->want_provider, "%s/%s", tc->provider, tc->model);
        cr_expect_str_eq(cm, tc->want_model, "%s/%s", tc->provider, tc->model);
    }
    catalog_free(&c);
}

/* ---- price selection ---------------------------------------------------- */

Test(pricing, price_selection)
{
    struct catalog *c = fixture();
    const struct price *p;

    /* unknown ids, either part, and ids compare ignoring case */
    cr_expect_null(catalog_price(c, 0, "openai", "nope", TS_2026_09_01, 0));
    cr_expect_null(catalog_price(c, 0, "nope", "gpt-4o", TS_2026_09_01, 0));
    cr_expect_not_null(catalog_price(c, 0, "OpenAI", "GPT-4O", TS_2026_09_01, 0));
    /* o1-next has rows only from 2026-01-01 on: none before */
    cr_expect_null(catalog_price(c, 0, "openai", "o1-next", TS_2026_01_01 - 1, 0));
    cr_assert_not_null(p = catalog_price(c, 0, "openai", "o1-next", TS_2026_01_01, 0));
    cr_expect_eq(p->input, 1000000000LL);
    /* tiers: 200000 -> base, 200001 and up -> the tier */
    cr_assert_not_null(p = catalog_price(c, 0, "google", "gemini-2.5-pro", TS_2026_09_01, 200000));
    cr_expect_eq(p->min_prompt_tokens, 0);
    cr_expect_eq(p->input, 1250000000LL);
    cr_assert_not_null(p = catalog_price(c, 0, "google", "gemini-2.5-pro", TS_2026_09_01, 200001));
    cr_expect_eq(p->min_prompt_tokens, 200001);
    cr_expect_eq(p->output, 15000000000LL);
    cr_expect_eq(p->mode_milli[MODE_PRIORITY], 1800);
    /* ACME's row wins for ACME only; org 0 is list */
    cr_assert_not_null(p = catalog_price(c, ORG_ACME, "openai", "gpt-4o", TS_2026_09_01, 0));
    cr_expect_eq(p->org_id, ORG_ACME);
    cr_assert_not_null(p = catalog_price(c, 0, "openai", "gpt-4o", TS_2026_09_01, 0));
    cr_expect_eq(p->org_id, 0);
    catalog_free(&c);
}

Test(pricing, org_rows_fall_back_to_list)
{
    struct catalog *c = fixture();
    char err[256] = "";
    const struct price *p;

    /* ACME negotiates o3 from 2026-01-01, and a long-context tier only for gemini */
    struct price o3 = row(ORG_ACME, TS_2026_01_01, "1.5", "6");
    cr_assert(catalog_add_price(c, "openai", "o3", &o3, err, sizeof(err)), "%s", err);
    struct price tier = row(ORG_ACME, 0, "2", "12");
    tier.min_prompt_tokens = 200001;
    cr_assert(catalog_add_price(c, "google", "gemini-2.5-pro", &tier, err, sizeof(err)), "%s", err);
    /* before ACME's row starts: list (2 after the 2025 cut) */
    cr_assert_not_null(p = catalog_price(c, ORG_ACME, "openai", "o3", TS_2026_01_01 - 1, 0));
    cr_expect_eq(p->org_id, 0);
    cr_expect_eq(p->input, 2000000000LL);
    cr_assert_not_null(p = catalog_price(c, ORG_ACME, "openai", "o3", TS_2026_01_01, 0));
    cr_expect_eq(p->org_id, ORG_ACME);
    /* a short prompt finds no ACME tier at or below it: list base */
    cr_assert_not_null(
        p = catalog_price(c, ORG_ACME, "google", "gemini-2.5-pro", TS_2026_09_01, 10));
    cr_expect_eq(p->org_id, 0);
    cr_assert_not_null(
        p = catalog_price(c, ORG_ACME, "google", "gemini-2.5-pro", TS_2026_09_01, 300000));
    cr_expect_eq(p->org_id, ORG_ACME);
    cr_expect_eq(p->input, 2000000000LL);
    catalog_free(&c);
}

/* ---- parsing ------------------------------------------------------------ */

struct mtok_case {
    char s[32];
    bool ok;
    int64_t want;
};

static struct mtok_case mtok_cases[] = {
    {"2.5", true, 2500000000LL},
    {"0", true, 0},
    {"10", true, 10000000000LL},
    {"0.000001", true, 1000LL}, /* the smallest step: one pico-dollar per token */
    {"0.003625", true, 3625000LL},
    {"1000000", true, 1000000000000000LL}, /* PRICE_MAX */
    {"1000000.000001", false, 0},
    {"0.0000001", false, 0}, /* 7 decimals */
    {"-1", false, 0},
    {"1e3", false, 0},
    {"", false, 0},
    {"abc", false, 0},
};

ParameterizedTestParameters(pricing, parse_mtok)
{
    return cr_make_param_array(struct mtok_case, mtok_cases, ARRAY_LEN(mtok_cases));
}

ParameterizedTest(struct mtok_case *tc, pricing, parse_mtok)
{
    int64_t got = 42;

    cr_expect_eq(pricing_parse_mtok(tc->s, &got), tc->ok, "\"%s\"", tc->s);
    cr_expect_eq(got, tc->ok ? tc->want : 42, "\"%s\"", tc->s);
}

Test(pricing, modes)
{
    static const char *const names[] = {"standard", "batch", "flex", "priority"};
    enum usage_mode m;

    for (int i = 0; i < MODE_COUNT; i++) {
        cr_assert(pricing_parse_mode(names[i], &m));
        cr_expect_eq((int)m, i);
        cr_expect_str_eq(pricing_mode_name(m), names[i]);
    }
    m = MODE_FLEX;
    cr_expect_not(pricing_parse_mode("Batch", &m));
    cr_expect_not(pricing_parse_mode("", &m));
    cr_expect_not(pricing_parse_mode(NULL, &m));
    cr_expect_eq(m, MODE_FLEX);
}

Test(pricing, prompt_tokens)
{
    struct tokens t = {1, 20, 300, 4000, 50000, 600};
    struct tokens huge = {INT64_MAX, INT64_MAX, 0, 0, 0, 0};

    cr_expect_eq(pricing_prompt_tokens(&t), 4321); /* output and reasoning are not prompt */
    cr_expect_eq(pricing_prompt_tokens(&huge), INT64_MAX);
}

/* ---- validation of rows ------------------------------------------------- */

struct bad_row {
    char name[48];
    int64_t input, cache_read, output;
    int32_t standard, batch;
    int64_t min_prompt, org;
    char want[32]; /* a part of the error text */
};

static struct bad_row bad_rows[] = {
    /* 1 femto x 0.5 = 0.5 femto: not whole */
    {"non-integral after batch", 1, PRICE_NONE, 1000, 1000, 500, 0, 0, "not a whole number"},
    /* 1001 femto x 0.5 = 500.5 */
    {"odd price x batch", 1000, PRICE_NONE, 1001, 1000, 500, 0, 0, "output price"},
    {"cache read x batch", 1000, 3, 1000, 1000, 500, 0, 0, "cache_read price"},
    {"negative input", -5, PRICE_NONE, 1000, 1000, PRICE_NONE, 0, 0, "input price"},
    {"missing output", 1000, PRICE_NONE, PRICE_NONE, 1000, PRICE_NONE, 0, 0, "output price"},
    {"negative cache", 1000, -2, 1000, 1000, PRICE_NONE, 0, 0, "cache_read"},
    {"above PRICE_MAX", PRICE_MAX + 1000, PRICE_NONE, 1000, 1000, PRICE_NONE, 0, 0, "PRICE_MAX"},
    {"negative multiplier", 1000, PRICE_NONE, 1000, 1000, -500, 0, 0, "batch multiplier"},
    {"huge multiplier", 1000, PRICE_NONE, 1000, 1000, MODE_MILLI_MAX + 1, 0, 0, "batch"},
    {"standard not 1", 1000, PRICE_NONE, 1000, 900, PRICE_NONE, 0, 0, "standard"},
    {"negative tier", 1000, PRICE_NONE, 1000, 1000, PRICE_NONE, -1, 0, "min_prompt_tokens"},
    {"negative org", 1000, PRICE_NONE, 1000, 1000, PRICE_NONE, 0, -3, "org_id"},
};

ParameterizedTestParameters(pricing, add_price_refuses)
{
    return cr_make_param_array(struct bad_row, bad_rows, ARRAY_LEN(bad_rows));
}

ParameterizedTest(struct bad_row *tc, pricing, add_price_refuses)
{
    struct catalog *c = fixture();
    struct price p = row(0, TS_2026_09_01, "1", "1");
    char err[256] = "";
    struct catalog_model v;
    size_t gpt4o = SIZE_MAX;

    p.input = tc->input;
    p.cache_read = tc->cache_read;
    p.output = tc->output;
    p.mode_milli[MODE_STANDARD] = tc->standard;
    p.mode_milli[MODE_BATCH] = tc->batch;
    p.min_prompt_tokens = tc->min_prompt;
    p.org_id = tc->org;
    cr_expect_not(catalog_add_price(c, "openai", "gpt-4o", &p, err, sizeof(err)), "%s", tc->name);
    cr_expect(strstr(err, tc->want), "%s: error \"%s\" lacks \"%s\"", tc->name, err, tc->want);
    for (size_t i = 0; i < catalog_model_count(c); i++)
        if (catalog_model_at(c, i, &v) && !strcmp(v.provider, "openai") &&
            !strcmp(v.model, "gpt-4o"))
            gpt4o = i;
    cr_assert(catalog_model_at(c, gpt4o, &v));
    cr_expect_eq(v.n_prices, 2, "%s: the catalog changed", tc->name); /* list + ACME */
    catalog_free(&c);
}

Test(pricing, add_price_accepts_and_refuses_duplicates)
{
    struct catalog *c = fixture();
    char err[256] = "";
    struct price p = row(0, TS_2026_09_01, "0.000001", "0.000003");

    /* 1000 femto x 0.333 = 333 and 3000 x 1.001 = 3003: whole numbers */
    p.mode_milli[MODE_BATCH] = 333;
    p.mode_milli[MODE_PRIORITY] = 1001;
    cr_expect(catalog_add_price(c, "openai", "gpt-4o", &p, err, sizeof(err)), "%s", err);
    cr_expect_not(catalog_add_price(c, "openai", "gpt-4o", &p, err, sizeof(err)));
    cr_expect(strstr(err, "already"), "%s", err);
    cr_expect_not(catalog_add_price(c, "openai", "nope", &p, err, sizeof(err)));
    cr_expect_not(catalog_add_price(c, "nope", "gpt-4o", &p, err, sizeof(err)));
    /* the same row for another org is another row */
    p.org_id = ORG_OTHER;
    cr_expect(catalog_add_price(c, "openai", "gpt-4o", &p, err, sizeof(err)), "%s", err);
    catalog_free(&c);
}

Test(pricing, add_provider_and_model_refuse)
{
    struct catalog *c = catalog_new();
    char err[256] = "";
    json_t *bad_re = json_pack("{s:s}", "regex", "gpt-(4o");
    json_t *lookahead = json_pack("{s:s}", "regex", "^(?!.*-tts)");
    json_t *two = json_pack("{s:s,s:s}", "equals", "a", "contains", "b");
    json_t *empty_or = json_pack("{s:[]}", "or");
    json_t *unknown = json_pack("{s:s}", "glob", "gpt*");
    json_t *deep = json_pack("{s:s}", "equals", "x");

    for (int i = 0; i < PRICING_RULE_DEPTH; i++)
        deep = json_pack("{s:o}", "not", deep);
    cr_assert(c);
    cr_expect_not(catalog_add_provider(c, "OpenAI", NULL, err, sizeof(err))); /* not lower-case */
    cr_expect_not(catalog_add_provider(c, "", NULL, err, sizeof(err)));
    cr_expect_not(catalog_add_provider(c, "-x", NULL, err, sizeof(err)));
    cr_expect_not(catalog_add_provider(c, NULL, NULL, err, sizeof(err)));
    cr_expect(catalog_add_provider(c, "huggingface_groq", NULL, err, sizeof(err)), "%s", err);
    cr_expect(catalog_add_provider(c, "openai", NULL, err, sizeof(err)), "%s", err);
    cr_expect_not(catalog_add_provider(c, "openai", NULL, err, sizeof(err)));
    cr_expect(strstr(err, "already"), "%s", err);
    cr_expect_not(catalog_add_provider(c, "p1", bad_re, err, sizeof(err)));
    cr_expect(strstr(err, "regex"), "%s", err);
    cr_expect_not(catalog_add_model(c, "openai", "m", lookahead, err, sizeof(err))); /* no (?! */
    cr_expect_not(catalog_add_model(c, "openai", "m", two, err, sizeof(err)));
    cr_expect_not(catalog_add_model(c, "openai", "m", empty_or, err, sizeof(err)));
    cr_expect_not(catalog_add_model(c, "openai", "m", unknown, err, sizeof(err)));
    cr_expect(strstr(err, "glob"), "%s", err);
    cr_expect_not(catalog_add_model(c, "openai", "m", deep, err, sizeof(err)));
    cr_expect(strstr(err, "deeper"), "%s", err);
    cr_expect_not(catalog_add_model(c, "nope", "m", NULL, err, sizeof(err)));
    cr_expect_not(catalog_add_model(c, "openai", "", NULL, err, sizeof(err)));
    cr_expect(catalog_add_model(c, "openai", "gpt-4o", NULL, err, sizeof(err)), "%s", err);
    cr_expect_not(catalog_add_model(c, "openai", "GPT-4o", NULL, err, sizeof(err)));
    cr_expect(catalog_add_model(c, "huggingface_groq", "gpt-4o", NULL, err, sizeof(err)));
    cr_expect_eq(catalog_provider_count(c), 2);
    cr_expect_eq(catalog_model_count(c), 2);
    json_decref(bad_re);
    json_decref(lookahead);
    json_decref(two);
    json_decref(empty_or);
    json_decref(unknown);
    json_decref(deep);
    catalog_free(&c);
}

Test(pricing, views)
{
    struct catalog *c = fixture();
    struct catalog_model v;
    const char *id;
    const json_t *match;

    cr_expect_eq(catalog_provider_count(c), 5);
    cr_assert(catalog_provider_at(c, 0, &id, &match));
    cr_expect_str_eq(id, "anthropic");
    cr_expect_str_eq(json_string_value(json_object_get(match, "contains")), "anthropic");
    cr_expect_not_null(catalog_provider_model_match(c, 0));
    cr_expect_null(catalog_provider_model_match(c, 1)); /* azure has none */
    cr_expect_not(catalog_provider_at(c, 5, &id, &match));
    cr_expect_null(catalog_provider_model_match(c, 5));
    cr_expect_eq(catalog_model_count(c), 13);
    cr_assert(catalog_model_at(c, 1, &v));
    cr_expect_str_eq(v.provider, "anthropic");
    cr_expect_str_eq(v.model, "claude-2");
    /* match NULL in the file: {"equals": id} */
    cr_expect_str_eq(json_string_value(json_object_get(v.match, "equals")), "claude-2");
    cr_expect_eq(v.n_prices, 1);
    cr_expect_eq(v.prices[0].input, 8000000000LL);
    cr_expect_eq(v.prices[0].cache_read, PRICE_NONE);
    cr_expect_eq(v.prices[0].mode_milli[MODE_BATCH], 500);
    cr_expect_eq(v.prices[0].mode_milli[MODE_FLEX], PRICE_NONE);
    cr_expect_not(catalog_model_at(c, 13, &v));
    catalog_free(&c);
    catalog_free(&c); /* NULL is fine */
    catalog_free(NULL);
}

/* ---- the catalog file --------------------------------------------------- */

struct bad_file {
    char json[400];
    char want[64]; /* a part of the error text: the path of the bad entry */
};

#define DOC(providers)   "{\"format\": \"tollgate-catalog/1\", \"providers\": [" providers "]}"
#define P_OPENAI(models) "{\"id\": \"openai\", \"models\": [" models "]}"

static struct bad_file bad_files[] = {
    {"[]", "JSON object"},
    {"{\"format\": \"tollgate-catalog/2\", \"providers\": []}", "format"},
    {"{\"providers\": []}", "format"},
    {"{\"format\": \"tollgate-catalog/1\"}", "providers"},
    {"{\"format\": \"tollgate-catalog/1\", \"providers\": [], \"extra\": 1}", "extra"},
    {DOC("{\"id\": \"OpenAI\", \"models\": []}"), "providers[0].id: "},
    {DOC("{\"id\": \"openai\"}"), "providers[0].models"},
    {DOC("{\"id\": \"openai\", \"models\": [], \"modes\": {\"turbo\": \"2\"}}"), "modes.turbo"},
    {DOC("{\"id\": \"openai\", \"models\": [], \"modes\": {\"batch\": \"0.5555\"}}"),
     "modes.batch"},
    {DOC("{\"id\": \"openai\", \"models\": [], \"modes\": {\"standard\": \"1\"}}"),
     "modes.standard"},
    {DOC("{\"id\": \"openai\", \"models\": [], \"modes\": {\"batch\": 0.5}}"), "modes.batch"},
    {DOC("{\"id\": \"openai\", \"models\": [], \"match\": {\"regex\": \"(\"}}"),
     "providers[0].match.regex: "},
    {DOC(P_OPENAI("{\"id\": \"m\"}")), "providers[0].models[0].prices"},
    {DOC(P_OPENAI("{\"id\": \"m\", \"prices\": []}")), "models[0].prices"},
    {DOC(P_OPENAI("{\"id\": \"m\", \"prices\": [{\"input\": \"1\"}]}")),
     "models[0].prices[0].output"},
    {DOC(P_OPENAI("{\"id\": \"m\", \"prices\": [{\"input\": 1, \"output\": \"1\"}]}")),
     "prices[0].input"},
    {DOC(P_OPENAI("{\"id\": \"m\", \"prices\": [{\"input\": \"1.0000001\", \"output\": \"1\"}]}")),
     "prices[0].input"},
    {DOC(P_OPENAI("{\"id\": \"m\", \"prices\": [{\"input\": \"-1\", \"output\": \"1\"}]}")),
     "prices[0].input"},
    {DOC(P_OPENAI("{\"id\": \"m\", \"prices\": [{\"input\": \"1\", \"output\": \"1\", "
                  "\"effective_from\": \"2025-02-30\"}]}")),
     "prices[0].effective_from"},
    {DOC(P_OPENAI("{\"id\": \"m\", \"prices\": [{\"input\": \"1\", \"output\": \"1\", "
                  "\"min_prompt_tokens\": -1}]}")),
     "prices[0].min_prompt_tokens"},
    {DOC(P_OPENAI("{\"id\": \"m\", \"prices\": [{\"input\": \"1\", \"output\": \"1\", "
                  "\"min_prompt_tokens\": 1.5}]}")),
     "prices[0].min_prompt_tokens"},
    {DOC(P_OPENAI("{\"id\": \"m\", \"prices\": [{\"input\": \"1\", \"output\": \"1\", "
                  "\"flavour\": \"x\"}]}")),
     "prices[0].flavour"},
    {DOC(P_OPENAI("{\"id\": \"m\", \"prices\": [{\"input\": \"1\", \"output\": \"1\"}, "
                  "{\"input\": \"2\", \"output\": \"2\"}]}")),
     "prices[1]: a row for org 0"},
    {DOC(P_OPENAI("{\"id\": \"m\", \"prices\": [{\"input\": \"1\", \"output\": \"1\"}]}, "
                  "{\"id\": \"M\", \"prices\": [{\"input\": \"1\", \"output\": \"1\"}]}")),
     "providers[0].models[1]: model"},
    {DOC(P_OPENAI("{\"id\": \"m\", \"match\": {\"or\": [{\"equals\": \"a\"}, {\"regex\": "
                  "\"a{1\"}]}, \"prices\": [{\"input\": \"1\", \"output\": \"1\"}]}")),
     "models[0].match.or[1].regex: "},
    {DOC(P_OPENAI("{\"id\": \"m\", \"match\": \"m\", \"prices\": []}")), "models[0].match"},
};

ParameterizedTestParameters(pricing, load_refuses)
{
    return cr_make_param_array(struct bad_file, bad_files, ARRAY_LEN(bad_files));
}

ParameterizedTest(struct bad_file *tc, pricing, load_refuses)
{
    json_error_t jerr;
    json_t *doc = json_loads(tc->json, 0, &jerr);
    struct catalog *c = catalog_new();
    char err[256] = "";

    cr_assert(doc, "test bug: %s in %s", jerr.text, tc->json);
    cr_expect_not(catalog_load_json(c, doc, err, sizeof(err)), "accepted %s", tc->json);
    cr_expect(strstr(err, tc->want), "error \"%s\" lacks \"%s\"", err, tc->want);
    json_decref(doc);
    catalog_free(&c);
}

Test(pricing, load_dates)
{
    static const char doc_text[] =
        DOC(P_OPENAI("{\"id\": \"m\", \"prices\": ["
                     "{\"input\": \"1\", \"output\": \"1\"},"
                     "{\"effective_from\": \"2024-02-29\", \"input\": \"2\", \"output\": \"2\"},"
                     "{\"effective_from\": \"2025-06-10T12:30:05Z\", \"input\": \"3\", \"output\": "
                     "\"3\"}]}"));
    json_t *doc = json_loads(doc_text, 0, NULL);
    struct catalog *c = catalog_new();
    struct catalog_model v;
    char err[256] = "";

    cr_assert(catalog_load_json(c, doc, err, sizeof(err)), "%s", err);
    cr_assert(catalog_model_at(c, 0, &v));
    cr_assert_eq(v.n_prices, 3);
    cr_expect_eq(v.prices[0].effective_from, 0);
    cr_expect_eq(v.prices[1].effective_from, 1709164800LL); /* 2024-02-29T00:00:00Z */
    cr_expect_eq(v.prices[2].effective_from, TS_2025_06_10 + 12 * 3600 + 30 * 60 + 5);
    json_decref(doc);
    catalog_free(&c);
}

/* ---- exactness (STYLE.md, "Money") -------------------------------------- */

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/*
 * A million random events priced one by one add up to exactly the price of
 * their summed tokens, per model and mode. Prices include awkward ones
 * (6 decimals, multipliers 0.333 and 1.001) so that any rounding or float
 * would show. Tiers are held fixed (one row per group), as the property is
 * about the arithmetic, not the tier choice.
 */
Test(pricing, million_events_sum_exactly)
{
    struct catalog *c = fixture();
    char err[256] = "";
    struct price odd = row(0, 0, "1.234567", "9.876543");

    odd.cache_read = 123457000LL; /* 0.123457 */
    odd.cache_write_5m = 1543209000LL;
    odd.mode_milli[MODE_BATCH] = 333;
    odd.mode_milli[MODE_PRIORITY] = 1001;
    cr_assert(catalog_add_model(c, "openai", "odd", NULL, err, sizeof(err)), "%s", err);
    cr_assert(catalog_add_price(c, "openai", "odd", &odd, err, sizeof(err)), "%s", err);

    static const char *const groups[][2] = {
        {"openai", "gpt-4o"},
        {"openai", "gpt-4o-mini"},
        {"openai", "odd"},
        {"anthropic", "claude-sonnet-4-5"},
        {"google", "gemini-2.5-pro"},
        {"google", "gemini-2.5-flash"},
    };
    enum { NG = sizeof(groups) / sizeof(groups[0]) };
    const struct price *rows[NG];
    struct tokens sum[NG][MODE_COUNT];
    money_t eff_sum[NG][MODE_COUNT], list_sum[NG][MODE_COUNT];
    uint64_t seed = 0x2545f4914f6cdd1dULL;

    memset(sum, 0, sizeof(sum));
    memset(eff_sum, 0, sizeof(eff_sum));
    memset(list_sum, 0, sizeof(list_sum));
    for (int g = 0; g < NG; g++)
        cr_assert_not_null(rows[g] =
                               catalog_price(c, 0, groups[g][0], groups[g][1], TS_2026_09_01, 0));
    for (int i = 0; i < 1000000; i++) {
        int g = (int)(xorshift(&seed) % NG);
        enum usage_mode m = (enum usage_mode)(xorshift(&seed) % MODE_COUNT);
        uint64_t r = xorshift(&seed);
        struct tokens t = {
            .input_uncached = (int64_t)(r % 200000),
            .cache_read = (int64_t)((r >> 20) % 150000),
            .cache_write_5m = (int64_t)((r >> 40) % 5000),
            .cache_write_1h = (int64_t)(xorshift(&seed) % 3000),
            .output = (int64_t)(xorshift(&seed) % 64000),
        };
        t.reasoning = t.output / 3;
        money_t e, l;
        pricing_cost(rows[g], rows[g], &t, m, &e, &l);
        eff_sum[g][m] += e;
        list_sum[g][m] += l;
        sum[g][m].input_uncached += t.input_uncached;
        sum[g][m].cache_read += t.cache_read;
        sum[g][m].cache_write_5m += t.cache_write_5m;
        sum[g][m].cache_write_1h += t.cache_write_1h;
        sum[g][m].output += t.output;
        sum[g][m].reasoning += t.reasoning;
    }
    for (int g = 0; g < NG; g++)
        for (int m = 0; m < MODE_COUNT; m++) {
            money_t e, l;
            char a[MONEY_BUF], b[MONEY_BUF];
            pricing_cost(rows[g], rows[g], &sum[g][m], (enum usage_mode)m, &e, &l);
            cr_expect(e == eff_sum[g][m], "%s/%s %s: effective %s != sum %s", groups[g][0],
                      groups[g][1], pricing_mode_name((enum usage_mode)m), usd(e, a),
                      usd(eff_sum[g][m], b));
            cr_expect(l == list_sum[g][m], "%s/%s %s: list %s != sum %s", groups[g][0],
                      groups[g][1], pricing_mode_name((enum usage_mode)m), usd(l, a),
                      usd(list_sum[g][m], b));
            cr_expect(e > 0);
        }
    catalog_free(&c);
}

/* Extreme counts stay inside money_t: PRICE_MAX x 1000x on every class of INT64_MAX tokens. */
Test(pricing, extreme_counts_do_not_overflow)
{
    struct price p = {.input = PRICE_MAX,
                      .cache_read = PRICE_MAX,
                      .cache_write_5m = PRICE_MAX,
                      .cache_write_1h = PRICE_MAX,
                      .output = PRICE_MAX,
                      .mode_milli = {1000, MODE_MILLI_MAX, PRICE_NONE, PRICE_NONE}};
    struct tokens t = {INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, 0};
    money_t e, l;

    pricing_cost(&p, &p, &t, MODE_BATCH, &e, &l);
    /* 5 x (2^63 - 1) x 1e15 x 1000 */
    cr_expect(e == (money_t)5 * INT64_MAX * PRICE_MAX * 1000);
    cr_expect(l == (money_t)5 * INT64_MAX * PRICE_MAX);
}

/* ---- the shipped snapshot ----------------------------------------------- */

#define SNAPSHOT "prices/genai-prices.json"

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static struct catalog *snapshot(void)
{
    json_error_t jerr;
    struct timespec t0;
    char err[256] = "";

    json_t *doc = json_load_file(SNAPSHOT, 0, &jerr);
    cr_assert(doc, "%s: %s (line %d); tests run from the repo root", SNAPSHOT, jerr.text,
              jerr.line);
    struct catalog *c = catalog_new();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* This also compiles every exported regex as POSIX ERE: any that is not fails here. */
    cr_assert(catalog_load_json(c, doc, err, sizeof(err)), "%s: %s", SNAPSHOT, err);
    double took = seconds_since(&t0);
    cr_log_info("loaded %zu models of %zu providers in %.1f ms", catalog_model_count(c),
                catalog_provider_count(c), took * 1000);
    cr_expect_lt(took, 5.0, "loading took %.2f s", took);
    cr_expect_str_eq(json_string_value(json_object_get(doc, "source")),
                     "@pydantic/genai-prices 0.1.8");
    json_decref(doc);
    return c;
}

/* The list price row at ts for what a client sends; fails the test when missing. */
static const struct price *snap_price(struct catalog *c, const char *provider, const char *model,
                                      int64_t prompt, const char *want_model)
{
    const char *cp, *cm;

    cr_assert(catalog_resolve(c, provider, model, &cp, &cm), "%s/%s does not resolve",
              provider ? provider : "-", model);
    cr_expect_str_eq(cm, want_model, "%s/%s", provider ? provider : "-", model);
    const struct price *p = catalog_price(c, 0, cp, cm, TS_2026_09_01, prompt);
    cr_assert(p, "no price for %s/%s", cp, cm);
    return p;
}

#define MTOK(usd_per_mtok_x1000) ((int64_t)(usd_per_mtok_x1000)*1000000LL) /* $/M x 1000 */

Test(pricing, snapshot_known_prices)
{
    struct catalog *c = snapshot();
    const struct price *p;
    const char *cp, *cm;

    cr_expect_gt(catalog_model_count(c), 1500);
    cr_expect_gt(catalog_provider_count(c), 30);

    /* gpt-4o: $2.50 / $10, cache read $1.25; batch and flex 0.5 */
    p = snap_price(c, "openai", "gpt-4o-2024-08-06", 1000, "gpt-4o");
    cr_expect_eq(p->input, MTOK(2500));
    cr_expect_eq(p->cache_read, MTOK(1250));
    cr_expect_eq(p->output, MTOK(10000));
    cr_expect_eq(p->mode_milli[MODE_BATCH], 500);
    cr_expect_eq(p->mode_milli[MODE_FLEX], 500);
    cr_expect_eq(p->mode_milli[MODE_PRIORITY], PRICE_NONE);

    /* claude-sonnet-4-5: $3 / $15, cache read $0.30, writes $3.75 (5m) and $6 (1h);
       above 200k prompt tokens $6 / $22.50, $0.60, $7.50, $12 */
    p = snap_price(c, "anthropic", "claude-sonnet-4-5-20250929", 200000, "claude-sonnet-4-5");
    cr_expect_eq(p->input, MTOK(3000));
    cr_expect_eq(p->cache_read, MTOK(300));
    cr_expect_eq(p->cache_write_5m, MTOK(3750));
    cr_expect_eq(p->cache_write_1h, MTOK(6000));
    cr_expect_eq(p->output, MTOK(15000));
    cr_expect_eq(p->mode_milli[MODE_BATCH], 500);
    p = snap_price(c, "Anthropic", "claude-sonnet-4-5", 200001, "claude-sonnet-4-5");
    cr_expect_eq(p->min_prompt_tokens, 200001);
    cr_expect_eq(p->input, MTOK(6000));
    cr_expect_eq(p->cache_read, MTOK(600));
    cr_expect_eq(p->cache_write_5m, MTOK(7500));
    cr_expect_eq(p->cache_write_1h, MTOK(12000));
    cr_expect_eq(p->output, MTOK(22500));

    /* gemini-2.5-pro: $1.25 / $10 up to 200k prompt tokens, $2.50 / $15 above */
    p = snap_price(c, "gcp.vertex_ai", "gemini-2.5-pro", 200000, "gemini-2.5-pro");
    cr_expect_eq(p->input, MTOK(1250));
    cr_expect_eq(p->cache_read, MTOK(125));
    cr_expect_eq(p->output, MTOK(10000));
    cr_expect_eq(p->mode_milli[MODE_PRIORITY], 1800);
    p = snap_price(c, "gcp.gemini", "gemini-2.5-pro", 200001, "gemini-2.5-pro");
    cr_expect_eq(p->input, MTOK(2500));
    cr_expect_eq(p->cache_read, MTOK(250));
    cr_expect_eq(p->output, MTOK(15000));

    /* o3's dated price: $10 / $40 before 2025-06-10, $2 / $8 from then */
    cr_assert(catalog_resolve(c, "openai", "o3", &cp, &cm));
    cr_assert_not_null(p = catalog_price(c, 0, cp, cm, TS_2025_06_10 - 1, 0));
    cr_expect_eq(p->input, MTOK(10000));
    cr_assert_not_null(p = catalog_price(c, 0, cp, cm, TS_2025_06_10, 0));
    cr_expect_eq(p->input, MTOK(2000));
    catalog_free(&c);
}

struct snap_resolve {
    char provider[24]; /* "-" = NULL */
    char model[48];
    char want_provider[24], want_model[48]; /* want_model "!" + id: must not be that id */
};

static struct snap_resolve snap_resolves[] = {
    {"openai", "gpt-4o-2024-08-06", "openai", "gpt-4o"},
    {"-", "gpt-4o-2024-08-06", "openai", "gpt-4o"},
    {"OpenAI", "gpt-4o-mini", "openai", "gpt-4o-mini"},
    {"azure.ai.openai", "gpt-4o", "azure", "gpt-4o"},
    {"azure", "gpt-4o-mini", "azure", "gpt-4o-mini"},
    {"anthropic", "claude-3-5-sonnet-20241022", "anthropic", "claude-3-5-sonnet"},
    {"-", "claude-3-5-sonnet-20241022", "anthropic", "claude-3-5-sonnet"},
    {"aws.bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0", "aws", ""},
    {"google", "gemini-2.5-flash", "google", "gemini-2.5-flash"},
    {"-", "gemini-2.5-flash", "google", "gemini-2.5-flash"},
    {"gcp.vertex_ai", "gemini-2.5-flash", "google", "gemini-2.5-flash"},
    {"vertex_ai", "gemini-2.5-pro", "google", "gemini-2.5-pro"},
    {"gemini", "gemini-2.5-pro-preview-06-05", "google", "gemini-2.5-pro"},
    {"google", "gemini-2.5-pro-preview-tts", "google", "!gemini-2.5-pro"},
    {"x_ai", "grok-4", "x-ai", ""},
    {"xai", "grok-4", "x-ai", ""},
    {"mistral_ai", "mistral-large-latest", "mistral", ""},
};

ParameterizedTestParameters(pricing, snapshot_resolves)
{
    return cr_make_param_array(struct snap_resolve, snap_resolves, ARRAY_LEN(snap_resolves));
}

ParameterizedTest(struct snap_resolve *tc, pricing, snapshot_resolves)
{
    struct catalog *c = snapshot();
    const char *cp = NULL, *cm = NULL;
    const char *prov = strcmp(tc->provider, "-") ? tc->provider : NULL;
    bool ok = catalog_resolve(c, prov, tc->model, &cp, &cm);

    if (tc->want_model[0] == '!') {
        cr_expect(!ok || strcmp(cm, tc->want_model + 1) != 0, "%s/%s resolved to %s", tc->provider,
                  tc->model, cm);
    } else {
        cr_assert(ok, "%s/%s does not resolve", tc->provider, tc->model);
        cr_expect_str_eq(cp, tc->want_provider, "%s/%s", tc->provider, tc->model);
        if (tc->want_model[0])
            cr_expect_str_eq(cm, tc->want_model, "%s/%s", tc->provider, tc->model);
        cr_expect_not_null(catalog_price(c, 0, cp, cm, TS_2026_09_01, 0), "%s/%s has no price", cp,
                           cm);
    }
    catalog_free(&c);
}

/* Every model has a list row from the start, and every row is one pricing_cost can use. */
Test(pricing, snapshot_consistent)
{
    struct catalog *c = snapshot();
    struct catalog_model v;
    size_t rows = 0;

    for (size_t i = 0; i < catalog_model_count(c); i++) {
        cr_assert(catalog_model_at(c, i, &v));
        cr_assert_gt(v.n_prices, 0, "%s/%s has no rows", v.provider, v.model);
        rows += v.n_prices;
        cr_expect_not_null(catalog_price(c, 0, v.provider, v.model, TS_2024_01_01, 0),
                           "%s/%s: no price in force on 2024-01-01", v.provider, v.model);
        /* its own id resolves, under its provider, to a model of that provider */
        const char *cp, *cm;
        if (catalog_resolve(c, v.provider, v.model, &cp, &cm))
            cr_expect_str_eq(cp, v.provider);
    }
    cr_log_info("%zu price rows", rows);
    catalog_free(&c);
}

/* A naive matcher of a rule's JSON, as the header states the grammar: the reference. */
static bool ref_match(const json_t *r, const char *s)
{
    const char *key;
    json_t *v;
    size_t sl = strlen(s);

    json_object_foreach((json_t *)r, key, v)
    {
        const char *t = json_string_value(v);
        size_t tl = t ? strlen(t) : 0;
        size_t i;
        if (!strcmp(key, "equals"))
            return !strcasecmp(s, t);
        if (!strcmp(key, "starts_with"))
            return sl >= tl && !strncasecmp(s, t, tl);
        if (!strcmp(key, "ends_with"))
            return sl >= tl && !strcasecmp(s + sl - tl, t);
        if (!strcmp(key, "contains"))
            return strcasestr(s, t) != NULL;
        if (!strcmp(key, "regex")) {
            regex_t re;
            cr_assert_eq(regcomp(&re, t, REG_EXTENDED | REG_ICASE | REG_NOSUB), 0, "%s", t);
            bool ok = regexec(&re, s, 0, NULL, 0) == 0;
            regfree(&re);
            return ok;
        }
        if (!strcmp(key, "not"))
            return !ref_match(v, s);
        if (!strcmp(key, "or")) {
            for (i = 0; i < json_array_size(v); i++)
                if (ref_match(json_array_get(v, i), s))
                    return true;
            return false;
        }
        if (!strcmp(key, "and")) {
            for (i = 0; i < json_array_size(v); i++)
                if (!ref_match(json_array_get(v, i), s))
                    return false;
            return true;
        }
    }
    cr_assert_fail("unknown rule");
    return false;
}

/*
 * The resolver (exact names by hash, the other rules scanned) agrees with
 * a naive first-match scan, for every model id of the snapshot and variants
 * of it, under its own provider.
 */
Test(pricing, snapshot_resolve_matches_naive_scan)
{
    struct catalog *c = snapshot();
    static const char *const suffixes[] = {"", "-2024-08-06", "-latest", ":free", "-tts"};
    size_t n = catalog_model_count(c), checked = 0;
    struct catalog_model v, w;

    for (size_t i = 0; i < n; i++) {
        cr_assert(catalog_model_at(c, i, &v));
        for (size_t k = 0; k < ARRAY_LEN(suffixes); k++) {
            char probe[256];
            const char *cp, *cm, *want = NULL;
            snprintf(probe, sizeof(probe), "%s%s", v.model, suffixes[k]);
            if (k == 1)
                for (char *q = probe; *q; q++)
                    *q = (char)(*q >= 'a' && *q <= 'z' ? *q - 'a' + 'A' : *q); /* and case */
            for (size_t j = 0; j < n && !want; j++) {
                cr_assert(catalog_model_at(c, j, &w));
                if (!strcmp(w.provider, v.provider) && ref_match(w.match, probe))
                    want = w.model;
            }
            bool ok = catalog_resolve(c, v.provider, probe, &cp, &cm);
            cr_assert_eq(ok, want != NULL, "%s/%s: resolve %d, naive %s", v.provider, probe, ok,
                         want ? want : "none");
            if (ok)
                cr_assert_str_eq(cm, want, "%s/%s", v.provider, probe);
            checked++;
        }
    }
    cr_log_info("%zu model strings agree", checked);
    catalog_free(&c);
}

/* Resolving is fast enough to do for every event (a generous bound: it also runs under ASan). */
Test(pricing, snapshot_resolve_speed)
{
    struct catalog *c = snapshot();
    static const char *const calls[][2] = {
        {"openai", "gpt-4o-2024-08-06"},
        {"anthropic", "claude-3-5-sonnet-20241022"},
        {"gcp.vertex_ai", "gemini-2.5-flash"},
        {"openrouter", "openai/gpt-4o"},
        {NULL, "gpt-4o-mini"},
        {"azure.ai.openai", "gpt-4o"},
        {"openrouter", "no-such/model"},
        {NULL, "no-such-model"},
    };
    enum { N = 20000 };
    struct timespec t0;
    const char *cp, *cm;
    size_t found = 0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < N; i++)
        found += catalog_resolve(c, calls[i % 8][0], calls[i % 8][1], &cp, &cm);
    double took = seconds_since(&t0);
    cr_log_info("resolve: %.2f us per call (mixed, incl. misses)", took * 1e6 / N);
    cr_expect_eq(found, (size_t)N / 8 * 6);
    cr_expect_lt(took, 10.0, "%d resolves took %.2f s", N, took);
    catalog_free(&c);
}
