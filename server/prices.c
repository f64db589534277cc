/*
 * prices: see prices.h. The current catalog sits behind a rwlock; a reload
 * builds the new catalog without the lock and swaps it in under the write
 * lock. Changes are detected by a cheap fingerprint query of the tables.
 */
#include "prices.h"

#include "log.h"
#include "metrics.h"
#include "rollup.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static struct catalog *current;
static char fingerprint[256];

static const char fingerprint_sql[] =
    "SELECT (SELECT count(*) || ':' || coalesce(max(id), 0) FROM prices) || '/' ||"
    " (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM price_models) || '/' ||"
    " (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM price_providers)";

static void pg_error(PGconn *pg, PGresult *r, const char *what, char *err, size_t errlen)
{
    const char *m = r ? PQresultErrorMessage(r) : PQerrorMessage(pg);
    if (!m || !*m)
        m = PQerrorMessage(pg);
    snprintf(err, errlen, "%s: %.*s", what, (int)strcspn(m, "\n"), m);
}

void prices_format_mtok(int64_t per_token, char buf[MONEY_BUF])
{
    money_format_usd((money_t)per_token * 1000000, 0, buf);
}

/* "0.5" -> 500 thousandths; NULL or "" -> PRICE_NONE. */
static bool parse_milli(const char *s, int32_t *out)
{
    money_t v;
    if (!s || !*s) {
        *out = PRICE_NONE;
        return true;
    }
    if (!money_parse_usd(s, 3, &v) || v > 1000 * MONEY_PER_USD)
        return false;
    *out = (int32_t)(v / (MONEY_PER_USD / 1000));
    return true;
}

static bool parse_price(const char *s, int64_t *out)
{
    if (!s || !*s) {
        *out = PRICE_NONE;
        return true;
    }
    return pricing_parse_mtok(s, out);
}

static json_t *parse_json(const char *s)
{
    return json_loads(s, JSON_DECODE_ANY, NULL);
}

/* Builds a catalog from the three tables. */
static struct catalog *load(PGconn *pg, char *err, size_t errlen)
{
    struct catalog *c = catalog_new();
    PGresult *r = NULL;

    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r = PQexec(pg, "SELECT provider, match::text, model_match::text FROM price_providers"
                   " ORDER BY provider");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pg_error(pg, r, "reading price_providers", err, errlen);
        goto failed;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *m = parse_json(PQgetvalue(r, i, 1));
        json_t *mm = PQgetisnull(r, i, 2) ? NULL : parse_json(PQgetvalue(r, i, 2));
        bool ok =
            catalog_add_provider(c, PQgetvalue(r, i, 0), m, err, errlen) &&
            (!mm || catalog_set_provider_model_match(c, PQgetvalue(r, i, 0), mm, err, errlen));
        json_decref(m);
        json_decref(mm);
        if (!ok)
            goto failed;
    }
    PQclear(r);
    /* Models, then models that have prices but no row of their own (admin prices). */
    r = PQexec(pg, "SELECT m.provider, m.model, m.match::text FROM ("
                   " SELECT provider, model, match, position FROM price_models"
                   " UNION ALL SELECT DISTINCT p.provider, p.model, NULL::jsonb, 2147483647"
                   " FROM prices p WHERE NOT EXISTS (SELECT 1 FROM price_models m"
                   " WHERE m.provider = p.provider AND m.model = p.model)) m"
                   " ORDER BY m.provider, m.position, m.model");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pg_error(pg, r, "reading price_models", err, errlen);
        goto failed;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        const char *prov = PQgetvalue(r, i, 0);
        json_t *m = PQgetisnull(r, i, 2) ? NULL : parse_json(PQgetvalue(r, i, 2));
        bool ok;
        char perr[256];
        /* a provider known only through an admin price matches its own name */
        if (!catalog_add_provider(c, prov, NULL, perr, sizeof(perr)))
            (void)perr; /* already there: fine */
        ok = catalog_add_model(c, prov, PQgetvalue(r, i, 1), m, err, errlen);
        json_decref(m);
        if (!ok)
            goto failed;
    }
    PQclear(r);
    r = PQexec(pg, "SELECT id, coalesce(org_id, 0), provider, model,"
                   " extract(epoch FROM effective_from)::bigint, min_prompt_tokens, input,"
                   " cache_read, cache_write_5m, cache_write_1h, output, batch_multiplier,"
                   " flex_multiplier, priority_multiplier FROM prices ORDER BY id");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pg_error(pg, r, "reading prices", err, errlen);
        goto failed;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        struct price p = {0};
        p.id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        p.org_id = strtoll(PQgetvalue(r, i, 1), NULL, 10);
        p.effective_from = strtoll(PQgetvalue(r, i, 4), NULL, 10);
        p.min_prompt_tokens = strtoll(PQgetvalue(r, i, 5), NULL, 10);
        p.mode_milli[MODE_STANDARD] = 1000;
        if (!parse_price(PQgetvalue(r, i, 6), &p.input) ||
            !parse_price(PQgetvalue(r, i, 7), &p.cache_read) ||
            !parse_price(PQgetvalue(r, i, 8), &p.cache_write_5m) ||
            !parse_price(PQgetvalue(r, i, 9), &p.cache_write_1h) ||
            !parse_price(PQgetvalue(r, i, 10), &p.output) ||
            !parse_milli(PQgetvalue(r, i, 11), &p.mode_milli[MODE_BATCH]) ||
            !parse_milli(PQgetvalue(r, i, 12), &p.mode_milli[MODE_FLEX]) ||
            !parse_milli(PQgetvalue(r, i, 13), &p.mode_milli[MODE_PRIORITY])) {
            snprintf(err, errlen, "prices row %" PRId64 " does not parse", p.id);
            goto failed;
        }
        if (!catalog_add_price(c, PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), &p, err, errlen))
            goto failed;
    }
    PQclear(r);
    return c;
failed:
    PQclear(r);
    catalog_free(&c);
    return NULL;
}

static bool read_fingerprint(PGconn *pg, char out[256], char *err, size_t errlen)
{
    PGresult *r = PQexec(pg, fingerprint_sql);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (ok)
        snprintf(out, 256, "%s", PQgetvalue(r, 0, 0));
    else
        pg_error(pg, r, "reading the price fingerprint", err, errlen);
    PQclear(r);
    return ok;
}

bool prices_refresh(PGconn *pg, bool force, bool *reloaded, char *err, size_t errlen)
{
    char fp[256];
    struct catalog *c, *old;

    *reloaded = false;
    if (!read_fingerprint(pg, fp, err, errlen))
        return false;
    pthread_rwlock_rdlock(&lock);
    bool same = current && strcmp(fp, fingerprint) == 0;
    pthread_rwlock_unlock(&lock);
    if (same && !force)
        return true;
    if (!(c = load(pg, err, errlen)))
        return false;
    pthread_rwlock_wrlock(&lock);
    old = current;
    current = c;
    snprintf(fingerprint, sizeof(fingerprint), "%s", fp);
    pthread_rwlock_unlock(&lock);
    catalog_free(&old);
    *reloaded = true;
    log_info(NULL, "price catalog loaded: %zu models", catalog_model_count(c));
    return true;
}

bool prices_init(PGconn *pg, char *err, size_t errlen)
{
    bool reloaded;
    return prices_refresh(pg, true, &reloaded, err, errlen);
}

void prices_shutdown(void)
{
    pthread_rwlock_wrlock(&lock);
    catalog_free(&current);
    fingerprint[0] = '\0';
    pthread_rwlock_unlock(&lock);
}

const struct catalog *prices_lock(void)
{
    pthread_rwlock_rdlock(&lock);
    return current;
}

void prices_unlock(void)
{
    pthread_rwlock_unlock(&lock);
}

void prices_price_row(const struct catalog *c, struct ingest_row *row)
{
    const struct usage_event *ev = &row->ev;
    const char *cp, *cm, *lp, *lm;
    const struct price *p, *list;
    int64_t ts = ev->ts_us / 1000000, prompt = pricing_prompt_tokens(&ev->tokens);

    row->price_id = 0;
    row->list_cost = row->effective_cost = 0;
    snprintf(row->provider, sizeof(row->provider), "%s", ev->provider);
    snprintf(row->model, sizeof(row->model), "%s", ev->model);
    if (!c || !catalog_resolve(c, ev->provider, ev->model, &cp, &cm))
        return;
    p = catalog_price(c, row->org_id, cp, cm, ts, prompt);
    if (!p)
        return;
    /*
     * List cost: the requested model (else the one that ran) at its list
     * price, not the org's negotiated one; a model with only an org price
     * has that as its list.
     */
    lp = cp, lm = cm;
    if (strcmp(ev->requested_model, ev->model) != 0 &&
        !catalog_resolve(c, ev->provider, ev->requested_model, &lp, &lm))
        lp = cp, lm = cm;
    list = catalog_price(c, 0, lp, lm, ts, prompt);
    if (!list)
        list = catalog_price(c, row->org_id, lp, lm, ts, prompt);
    pricing_cost(p, list ? list : p, &ev->tokens, ev->mode, &row->effective_cost, &row->list_cost);
    row->price_id = p->id;
    snprintf(row->provider, sizeof(row->provider), "%s", cp);
    snprintf(row->model, sizeof(row->model), "%s", cm);
}

/* ---- import ---- */

static const char *opt(int64_t v, char *buf)
{
    if (v == PRICE_NONE)
        return NULL;
    prices_format_mtok(v, buf);
    return buf;
}

static const char *opt_milli(int32_t v, char *buf)
{
    if (v == PRICE_NONE)
        return NULL;
    snprintf(buf, 16, "%d.%03d", v / 1000, v % 1000);
    return buf;
}

/*
 * Adds one list-price row of the catalog. A row whose date is new is added
 * as it is. A row whose date is taken with other prices is a changed price:
 * it is added from now on (past events keep the price they had), unless the
 * latest row already has these prices (the change was imported before).
 */
#define SAME_PRICES(x)                                                                             \
    "(" x ".input = $5::numeric AND " x ".cache_read IS NOT DISTINCT FROM $6::numeric"             \
    " AND " x ".cache_write_5m IS NOT DISTINCT FROM $7::numeric"                                   \
    " AND " x ".cache_write_1h IS NOT DISTINCT FROM $8::numeric AND " x ".output = $9::numeric"    \
    " AND " x ".batch_multiplier IS NOT DISTINCT FROM $10::numeric"                                \
    " AND " x ".flex_multiplier IS NOT DISTINCT FROM $11::numeric"                                 \
    " AND " x ".priority_multiplier IS NOT DISTINCT FROM $12::numeric)"

static const char import_price_sql[] =
    "WITH tier AS (SELECT * FROM prices WHERE org_id IS NULL AND provider = $1::text"
    "  AND model = $2::text AND min_prompt_tokens = $4::bigint),"
    " at_date AS (SELECT * FROM tier WHERE effective_from = to_timestamp($3::bigint)),"
    " latest AS (SELECT * FROM tier ORDER BY effective_from DESC LIMIT 1)"
    " INSERT INTO prices (provider, model, effective_from, min_prompt_tokens, input, cache_read,"
    " cache_write_5m, cache_write_1h, output, batch_multiplier, flex_multiplier,"
    " priority_multiplier, source)"
    " SELECT $1::text, $2::text, CASE WHEN EXISTS (SELECT 1 FROM at_date) THEN now()"
    "  ELSE to_timestamp($3::bigint) END, $4::bigint, $5::numeric, $6::numeric, $7::numeric,"
    "  $8::numeric, $9::numeric, $10::numeric, $11::numeric, $12::numeric, $13"
    " WHERE NOT EXISTS (SELECT 1 FROM at_date d WHERE " SAME_PRICES(
        "d") ")"
             " AND NOT (EXISTS (SELECT 1 FROM at_date)"
             "  AND EXISTS (SELECT 1 FROM latest l WHERE " SAME_PRICES("l") "))";

static bool exec_params(PGconn *pg, const char *sql, int n, const char *const *p, int *affected,
                        const char *what, char *err, size_t errlen)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, p, NULL, NULL, 0);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        pg_error(pg, r, what, err, errlen);
    else if (affected)
        *affected += atoi(PQcmdTuples(r));
    PQclear(r);
    return ok;
}

static bool import_catalog(PGconn *pg, const struct catalog *c, const char *source,
                           struct prices_import_result *res, char *err, size_t errlen)
{
    char pos[24];
    for (size_t i = 0; i < catalog_provider_count(c); i++) {
        const char *id;
        const json_t *m;
        char *mt;
        if (!catalog_provider_at(c, i, &id, &m))
            continue;
        const json_t *mmj = catalog_provider_model_match(c, i);
        char *mm = mmj ? json_dumps(mmj, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        mt = json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY);
        const char *p[4] = {id, mt ? mt : "null", source, mm};
        bool ok = exec_params(pg,
                              "INSERT INTO price_providers (provider, match, source, model_match)"
                              " VALUES ($1, $2, $3, $4) ON CONFLICT (provider) DO UPDATE"
                              " SET match = excluded.match, source = excluded.source,"
                              " model_match = excluded.model_match, updated_at = now()"
                              " WHERE price_providers.match <> excluded.match OR"
                              " price_providers.model_match IS DISTINCT FROM excluded.model_match",
                              4, p, NULL, "importing a provider", err, errlen);
        free(mt);
        free(mm);
        if (!ok)
            return false;
        res->providers++;
    }
    for (size_t i = 0; i < catalog_model_count(c); i++) {
        struct catalog_model cm;
        char *mt;
        if (!catalog_model_at(c, i, &cm))
            continue;
        mt = json_dumps(cm.match, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(pos, sizeof(pos), "%zu", i);
        const char *p[5] = {cm.provider, cm.model, mt ? mt : "null", pos, source};
        bool ok = exec_params(pg,
                              "INSERT INTO price_models (provider, model, match, position, source)"
                              " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (provider, model) DO UPDATE"
                              " SET match = excluded.match, position = excluded.position,"
                              " source = excluded.source, updated_at = now()"
                              " WHERE price_models.match <> excluded.match"
                              " OR price_models.position <> excluded.position",
                              5, p, NULL, "importing a model", err, errlen);
        free(mt);
        if (!ok)
            return false;
        res->models++;
        for (size_t k = 0; k < cm.n_prices; k++) {
            const struct price *pr = &cm.prices[k];
            char eff[24], tier[24], in[MONEY_BUF], cr[MONEY_BUF], w5[MONEY_BUF], w1[MONEY_BUF],
                out[MONEY_BUF], b[16], f[16], pri[16];
            snprintf(eff, sizeof(eff), "%" PRId64, pr->effective_from);
            snprintf(tier, sizeof(tier), "%" PRId64, pr->min_prompt_tokens);
            prices_format_mtok(pr->input, in);
            prices_format_mtok(pr->output, out);
            const char *pp[13] = {cm.provider,
                                  cm.model,
                                  eff,
                                  tier,
                                  in,
                                  opt(pr->cache_read, cr),
                                  opt(pr->cache_write_5m, w5),
                                  opt(pr->cache_write_1h, w1),
                                  out,
                                  opt_milli(pr->mode_milli[MODE_BATCH], b),
                                  opt_milli(pr->mode_milli[MODE_FLEX], f),
                                  opt_milli(pr->mode_milli[MODE_PRIORITY], pri),
                                  source};
            if (!exec_params(pg, import_price_sql, 13, pp, &res->new_prices, "importing a price",
                             err, errlen))
                return false;
        }
    }
    return true;
}

bool prices_import(PGconn *pg, const char *path, struct prices_import_result *res, char *err,
                   size_t errlen)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    struct catalog *c = NULL;
    char source[256], count[16], newp[16], rep[24], *text = NULL;
    uint8_t sum[32];
    char hex[65];
    bool ok = false, reloaded;
    PGresult *r;

    memset(res, 0, sizeof(*res));
    if (!doc) {
        snprintf(err, errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        return false;
    }
    if (!(c = catalog_new()) || !catalog_load_json(c, doc, err, errlen))
        goto out;
    snprintf(source, sizeof(source), "%s",
             json_string_value(json_object_get(doc, "source"))
                 ? json_string_value(json_object_get(doc, "source"))
                 : path);
    text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    crypto_sha256(text ? text : "", text ? strlen(text) : 0, sum);
    crypto_hex(sum, sizeof(sum), hex);
    r = PQexec(pg, "BEGIN");
    PQclear(r);
    if (!import_catalog(pg, c, source, res, err, errlen)) {
        PQclear(PQexec(pg, "ROLLBACK"));
        goto out;
    }
    snprintf(count, sizeof(count), "%d", res->models);
    snprintf(newp, sizeof(newp), "%d", res->new_prices);
    {
        const char *p[4] = {source, hex, count, newp};
        if (!exec_params(pg,
                         "INSERT INTO price_imports (source, checksum, models, new_prices)"
                         " VALUES ($1, $2, $3, $4)",
                         4, p, NULL, "recording the import", err, errlen)) {
            PQclear(PQexec(pg, "ROLLBACK"));
            goto out;
        }
    }
    r = PQexec(pg, "COMMIT");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        pg_error(pg, r, "committing the import", err, errlen);
        PQclear(r);
        goto out;
    }
    PQclear(r);
    if (!prices_refresh(pg, true, &reloaded, err, errlen) ||
        !prices_reprice(pg, &res->repriced, err, errlen))
        goto out;
    snprintf(rep, sizeof(rep), "%lld", res->repriced);
    {
        const char *p[2] = {rep, hex};
        PQclear(PQexecParams(pg,
                             "UPDATE price_imports SET repriced = $1 WHERE id ="
                             " (SELECT max(id) FROM price_imports WHERE checksum = $2)",
                             2, NULL, p, NULL, NULL, 0));
    }
    ok = true;
out:
    free(text);
    catalog_free(&c);
    json_decref(doc);
    return ok;
}

/* ---- repricing ---- */

#define REPRICE_BATCH   5000
#define REPRICE_BATCH_S "5000"

static const char reprice_select[] =
    "SELECT org_id, event_id, ts, revision, (extract(epoch FROM ts) * 1000000)::bigint,"
    " coalesce(raw_provider, provider),"
    " coalesce(raw_model, model), coalesce(requested_model, model), mode, input_uncached,"
    " cache_read, cache_write_5m, cache_write_1h, output, reasoning"
    " FROM usage_events WHERE price_id IS NULL AND superseded_at IS NULL"
    " AND (org_id, ts, event_id, revision) > ($1::bigint, $2::timestamptz, $3::text, $4::int)"
    " ORDER BY org_id, ts, event_id, revision LIMIT " REPRICE_BATCH_S;

/*
 * Prices the staged events that are still unpriced and live (a correction
 * may have superseded one since it was read), then moves exactly those out
 * of their unpriced rollup rows (keyed by the names as sent) into their
 * priced ones.
 */
static const char reprice_apply[] =
    "WITH upd AS (UPDATE usage_events e SET raw_provider = coalesce(e.raw_provider, e.provider),"
    "  raw_model = coalesce(e.raw_model, e.model), provider = s.provider, model = s.model,"
    "  price_id = s.price_id, list_cost = s.list_cost, effective_cost = s.effective_cost"
    "  FROM reprice_stage s WHERE e.org_id = s.org_id AND e.ts = s.ts AND e.event_id = s.event_id"
    "  AND e.revision = s.revision AND e.price_id IS NULL AND e.superseded_at IS NULL"
    "  RETURNING e.*)"
    " INSERT INTO spend_hourly AS h " ROLLUP_COLUMNS
    " SELECT u.org_id, date_trunc('hour', u.ts), u.team_id, u.project_id, u.user_id, x.provider,"
    " x.model, u.mode, sum(x.sign), coalesce(sum(x.sign) FILTER (WHERE u.status = 'error'), 0),"
    " sum(x.sign * x.unpriced), sum(x.sign * u.input_uncached), sum(x.sign * u.cache_read),"
    " sum(x.sign * u.cache_write_5m), sum(x.sign * u.cache_write_1h), sum(x.sign * u.output),"
    " sum(x.sign * u.reasoning), sum(x.list_cost), sum(x.effective_cost)"
    " FROM upd u CROSS JOIN LATERAL (VALUES (-1, u.raw_provider, u.raw_model, 1, 0::numeric,"
    "  0::numeric), (1, u.provider, u.model, 0, u.list_cost, u.effective_cost))"
    "  x (sign, provider, model, unpriced, list_cost, effective_cost)"
    " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8" ROLLUP_ADD ";\n"
    "DELETE FROM spend_hourly WHERE requests = 0 AND (org_id, hour) IN"
    " (SELECT DISTINCT org_id, date_trunc('hour', ts) FROM reprice_stage)";

bool prices_reprice(PGconn *pg, long long *repriced, char *err, size_t errlen)
{
    char org[24] = "0", ts[64] = "-infinity", id[EVENT_ID_MAX + 1] = "", rev[16] = "0";
    bool ok = false;
    PGresult *r = NULL;

    *repriced = 0;
    r = PQexec(pg, "CREATE TEMP TABLE IF NOT EXISTS reprice_stage (org_id bigint, ts timestamptz,"
                   " event_id text, revision integer, provider text, model text, price_id bigint,"
                   " list_cost numeric, effective_cost numeric)");
    PQclear(r);
    for (;;) {
        const char *p[4] = {org, ts, id, rev};
        const struct catalog *c;
        char *copy = NULL;
        size_t len = 0, cap = 0;
        int n, priced = 0;

        r = PQexecParams(pg, reprice_select, 4, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            pg_error(pg, r, "reading unpriced events", err, errlen);
            goto out;
        }
        n = PQntuples(r);
        if (n == 0)
            break;
        c = prices_lock();
        for (int i = 0; i < n; i++) {
            struct ingest_row row = {0};
            char line[1024], el[MONEY_BUF], ef[MONEY_BUF];
            int k;
            row.org_id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
            row.ev.ts_us = strtoll(PQgetvalue(r, i, 4), NULL, 10);
            snprintf(row.ev.provider, sizeof(row.ev.provider), "%s", PQgetvalue(r, i, 5));
            snprintf(row.ev.model, sizeof(row.ev.model), "%s", PQgetvalue(r, i, 6));
            snprintf(row.ev.requested_model, sizeof(row.ev.requested_model), "%s",
                     PQgetvalue(r, i, 7));
            if (!pricing_parse_mode(PQgetvalue(r, i, 8), &row.ev.mode))
                row.ev.mode = MODE_STANDARD;
            row.ev.tokens.input_uncached = strtoll(PQgetvalue(r, i, 9), NULL, 10);
            row.ev.tokens.cache_read = strtoll(PQgetvalue(r, i, 10), NULL, 10);
            row.ev.tokens.cache_write_5m = strtoll(PQgetvalue(r, i, 11), NULL, 10);
            row.ev.tokens.cache_write_1h = strtoll(PQgetvalue(r, i, 12), NULL, 10);
            row.ev.tokens.output = strtoll(PQgetvalue(r, i, 13), NULL, 10);
            row.ev.tokens.reasoning = strtoll(PQgetvalue(r, i, 14), NULL, 10);
            prices_price_row(c, &row);
            if (!row.price_id)
                continue;
            money_format_usd(row.list_cost, 0, el);
            money_format_usd(row.effective_cost, 0, ef);
            /* event ids and model names never hold tabs or newlines (validated on ingest) */
            k = snprintf(line, sizeof(line), "%s\t%s\t%s\t%s\t%s\t%s\t%" PRId64 "\t%s\t%s\n",
                         PQgetvalue(r, i, 0), PQgetvalue(r, i, 2), PQgetvalue(r, i, 1),
                         PQgetvalue(r, i, 3), row.provider, row.model, row.price_id, el, ef);
            if (k <= 0 || (size_t)k >= sizeof(line))
                continue;
            if (len + (size_t)k + 1 > cap) {
                cap = (cap ? cap * 2 : 65536) + (size_t)k;
                char *nc = realloc(copy, cap);
                if (!nc) {
                    prices_unlock();
                    free(copy);
                    snprintf(err, errlen, "out of memory");
                    goto out;
                }
                copy = nc;
            }
            memcpy(copy + len, line, (size_t)k);
            len += (size_t)k;
            priced++;
        }
        prices_unlock();
        /* the keyset cursor: the last row read */
        snprintf(org, sizeof(org), "%s", PQgetvalue(r, n - 1, 0));
        snprintf(ts, sizeof(ts), "%s", PQgetvalue(r, n - 1, 2));
        snprintf(id, sizeof(id), "%s", PQgetvalue(r, n - 1, 1));
        snprintf(rev, sizeof(rev), "%s", PQgetvalue(r, n - 1, 3));
        PQclear(r);
        r = NULL;
        if (priced) {
            bool wrote;
            PQclear(PQexec(pg, "BEGIN"));
            PQclear(PQexec(pg, "TRUNCATE reprice_stage"));
            r = PQexec(pg, "COPY reprice_stage FROM STDIN");
            wrote = PQresultStatus(r) == PGRES_COPY_IN;
            PQclear(r);
            wrote = wrote && PQputCopyData(pg, copy, (int)len) == 1 && PQputCopyEnd(pg, NULL) == 1;
            while ((r = PQgetResult(pg)) != NULL) {
                wrote = wrote && PQresultStatus(r) == PGRES_COMMAND_OK;
                PQclear(r);
            }
            free(copy);
            if (wrote) {
                r = PQexec(pg, reprice_apply);
                wrote = PQresultStatus(r) == PGRES_COMMAND_OK;
                if (!wrote)
                    pg_error(pg, r, "repricing", err, errlen);
                PQclear(r);
            } else {
                pg_error(pg, NULL, "repricing: COPY", err, errlen);
            }
            r = PQexec(pg, wrote ? "COMMIT" : "ROLLBACK");
            wrote = wrote && PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
            r = NULL;
            if (!wrote)
                goto out;
            *repriced += priced;
            metrics_add(M_EVENTS_REPRICED, (unsigned long)priced);
        } else {
            free(copy);
        }
        if (n < REPRICE_BATCH)
            break;
    }
    ok = true;
out:
    PQclear(r);
    return ok;
}
