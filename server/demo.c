/*
 * demo: the demo data set as SQL run in one transaction (see demo.h). Costs
 * are computed exactly in numeric from the catalog rows it loads, with the
 * same rules as the pricing module: each token class at its own price, the
 * long-context tier for the whole request, and the mode multiplier.
 */
#include "demo.h"

#include <stdio.h>
#include <string.h>

static const char demo_sql[] =
    "SELECT setseed(0.4242);\n"
    /* Teams and projects: slug, name, parent, monthly budget as a share of 30-day spend. */
    "CREATE TEMP TABLE demo_team (slug text, name text, parent text, budget_factor numeric)"
    " ON COMMIT DROP;\n"
    "INSERT INTO demo_team VALUES"
    " ('search', 'Search', NULL, 1.00), ('support', 'Customer Support', NULL, 0.80),"
    " ('growth', 'Growth', NULL, 2.20), ('data-platform', 'Data Platform', NULL, 1.60),"
    " ('research', 'Research', NULL, 1.10), ('mobile', 'Mobile', NULL, 0.90),"
    " ('search-ranking', 'Ranking', 'search', NULL), ('query-rewrite', 'Query rewrite', 'search', "
    "NULL),"
    " ('support-chatbot', 'Support chatbot', 'support', NULL),"
    " ('ticket-summaries', 'Ticket summaries', 'support', NULL),"
    " ('email-gen', 'Email generation', 'growth', NULL), ('etl-enrich', 'ETL enrichment', "
    "'data-platform', NULL),"
    " ('evals', 'Evaluations', 'research', NULL), ('mobile-assistant', 'In-app assistant', "
    "'mobile', NULL);\n"
    "INSERT INTO teams (org_id, kind, slug, name)"
    " SELECT o.id, 'team', d.slug, d.name FROM demo_team d, orgs o"
    " WHERE o.slug = 'default' AND d.parent IS NULL ON CONFLICT DO NOTHING;\n"
    "INSERT INTO teams (org_id, parent_id, kind, slug, name)"
    " SELECT o.id, p.id, 'project', d.slug, d.name FROM demo_team d JOIN orgs o ON o.slug = "
    "'default'"
    " JOIN teams p ON p.org_id = o.id AND p.slug = d.parent ON CONFLICT DO NOTHING;\n"
    /* Users: three per project. */
    "INSERT INTO users (org_id, external_id, email, name, team_id)"
    " SELECT t.org_id, t.slug || '-user' || n || '@example.com', t.slug || '-user' || n || "
    "'@example.com',"
    " initcap(t.slug) || ' user ' || n, t.parent_id"
    " FROM teams t JOIN orgs o ON o.id = t.org_id AND o.slug = 'default', generate_series(1, 3) n"
    " WHERE t.kind = 'project' ON CONFLICT DO NOTHING;\n"
    /* A list-price catalog (USD per million tokens), effective for the whole demo window. */
    "INSERT INTO prices (provider, model, effective_from, min_prompt_tokens, input, cache_read,"
    " cache_write_5m, cache_write_1h, output, batch_multiplier, flex_multiplier,"
    " priority_multiplier, source) VALUES"
    " ('openai', 'gpt-4o', '2024-05-13', 0, 2.50, 1.25, NULL, NULL, 10.00, 0.5, NULL, NULL, "
    "'demo'),"
    " ('openai', 'gpt-4o-mini', '2024-07-18', 0, 0.15, 0.075, NULL, NULL, 0.60, 0.5, NULL, NULL, "
    "'demo'),"
    " ('openai', 'gpt-5', '2025-08-07', 0, 1.25, 0.125, NULL, NULL, 10.00, 0.5, 0.5, NULL, 'demo'),"
    " ('openai', 'gpt-5-mini', '2025-08-07', 0, 0.25, 0.025, NULL, NULL, 2.00, 0.5, 0.5, NULL, "
    "'demo'),"
    " ('anthropic', 'claude-opus-4-1', '2025-08-05', 0, 15.00, 1.50, 18.75, 30.00, 75.00, 0.5, "
    "NULL, NULL, 'demo'),"
    " ('anthropic', 'claude-sonnet-4-5', '2025-09-29', 0, 3.00, 0.30, 3.75, 6.00, 15.00, 0.5, "
    "NULL, NULL, 'demo'),"
    " ('anthropic', 'claude-sonnet-4-5', '2025-09-29', 200000, 6.00, 0.60, 7.50, 12.00, 22.50, "
    "0.5, NULL, NULL, 'demo'),"
    " ('anthropic', 'claude-haiku-4-5', '2025-10-15', 0, 1.00, 0.10, 1.25, 2.00, 5.00, 0.5, NULL, "
    "NULL, 'demo'),"
    " ('google', 'gemini-2.5-pro', '2025-06-17', 0, 1.25, 0.125, NULL, NULL, 10.00, 0.5, 0.5, 1.8, "
    "'demo'),"
    " ('google', 'gemini-2.5-pro', '2025-06-17', 200000, 2.50, 0.25, NULL, NULL, 15.00, 0.5, 0.5, "
    "1.8, 'demo'),"
    " ('google', 'gemini-2.5-flash', '2025-06-17', 0, 0.30, 0.03, NULL, NULL, 2.50, 0.5, 0.5, 1.8, "
    "'demo')"
    " ON CONFLICT DO NOTHING;\n"
    /*
     * The traffic: per project, which model is asked for and which one runs
     * (a downgrade when they differ), the mode, calls per hour at peak, and
     * token ranges. cache is the share of the prompt read from the cache.
     */
    "CREATE TEMP TABLE demo_mix (id int, project text, provider text, requested text, model text,"
    " mode text, per_hour int, in_lo int, in_hi int, cache numeric, cw int, out_lo int, out_hi int)"
    " ON COMMIT DROP;\n"
    // clang-format off
    "INSERT INTO demo_mix VALUES"
    " (1, 'search-ranking', 'openai', 'gpt-4o', 'gpt-4o', 'standard', 30, 20000, 90000, 0.6, 0, 300, 1200),"
    " (2, 'search-ranking', 'openai', 'gpt-4o', 'gpt-4o-mini', 'standard', 40, 20000, 90000, 0.6, 0, 300, 1200),"
    " (3, 'query-rewrite', 'openai', 'gpt-4o-mini', 'gpt-4o-mini', 'standard', 60, 1000, 4000, 0, 0, 50, 300),"
    " (4, 'support-chatbot', 'anthropic', 'claude-sonnet-4-5', 'claude-sonnet-4-5', 'standard', 30, 20000, 80000, 0.8, 3000, 500, 2000),"
    " (5, 'support-chatbot', 'anthropic', 'claude-sonnet-4-5', 'claude-haiku-4-5', 'standard', 20, 20000, 80000, 0.8, 3000, 500, 2000),"
    " (6, 'ticket-summaries', 'anthropic', 'claude-haiku-4-5', 'claude-haiku-4-5', 'batch', 30, 5000, 30000, 0, 0, 300, 1200),"
    " (7, 'email-gen', 'openai', 'gpt-5-mini', 'gpt-5-mini', 'standard', 40, 6000, 20000, 0.2, 0, 3000, 9000),"
    " (8, 'etl-enrich', 'google', 'gemini-2.5-flash', 'gemini-2.5-flash', 'batch', 60, 30000, 120000, 0, 0, 1000, 4000),"
    " (9, 'evals', 'anthropic', 'claude-opus-4-1', 'claude-opus-4-1', 'standard', 4, 20000, 80000, 0.3, 5000, 1500, 6000),"
    " (10, 'evals', 'openai', 'gpt-5', 'gpt-5', 'flex', 10, 30000, 120000, 0.4, 0, 3000, 15000),"
    " (11, 'evals', 'google', 'gemini-2.5-pro', 'gemini-2.5-pro', 'standard', 2, 150000, 500000, 0, 0, 2000, 8000),"
    " (12, 'mobile-assistant', 'google', 'gemini-2.5-flash', 'gemini-2.5-flash', 'priority', 40, 8000, 30000, 0.3, 0, 800, 3000),"
    " (13, 'mobile-assistant', 'mistral', 'mistral-large-2411', 'mistral-large-2411', 'standard', 1, 2000, 8000, 0, 0, 200, 800);\n"
    // clang-format on
    /* One row per call: busier in working hours (UTC 13-22), quieter at weekends. */
    "CREATE TEMP TABLE demo_ev ON COMMIT DROP AS"
    " SELECT 'demo-' || to_char(h, 'YYYYMMDDHH24') || '-' || m.id || '-' || n AS event_id,"
    "   h + (random() * interval '3599 seconds') AS ts, m.*, p.id AS project_id, p.parent_id AS "
    "team_id,"
    "   p.org_id, (m.in_lo + floor(random() * (m.in_hi - m.in_lo)))::bigint AS prompt,"
    "   (m.out_lo + floor(random() * (m.out_hi - m.out_lo)))::bigint AS out_tok,"
    "   1 + floor(random() * 3)::int AS user_n, random() < 0.01 AS failed"
    " FROM generate_series(date_trunc('hour', now()) - interval '30 days',"
    "                      date_trunc('hour', now()) - interval '1 hour', interval '1 hour') h"
    " CROSS JOIN demo_mix m"
    " JOIN teams p ON p.slug = m.project AND p.org_id = (SELECT id FROM orgs WHERE slug = "
    "'default')"
    " CROSS JOIN LATERAL generate_series(1, greatest(0, round(m.per_hour"
    "   * CASE WHEN extract(hour FROM h) BETWEEN 13 AND 22 THEN 1.0 ELSE 0.35 END"
    "   * CASE WHEN extract(isodow FROM h) >= 6 THEN 0.4 ELSE 1.0 END"
    "   * (0.7 + 0.6 * random()))::int)) n;\n"
    "SELECT usage_events_ensure_partition(d) FROM generate_series(now() - interval '31 days', "
    "now(),"
    " interval '1 day') d;\n"
    "CREATE TEMP TABLE demo_new ON COMMIT DROP AS"
    " WITH ins AS (INSERT INTO usage_event_ids (org_id, event_id, ts, content_hash)"
    "   SELECT org_id, event_id, ts, sha256(convert_to(event_id, 'UTF8')) FROM demo_ev"
    "   ON CONFLICT DO NOTHING RETURNING event_id)"
    " SELECT e.* FROM demo_ev e JOIN ins USING (event_id);\n"
    "INSERT INTO usage_events (org_id, event_id, ts, team_id, project_id, user_id, provider, model,"
    " requested_model, request_id, status, latency_ms, mode, input_uncached, cache_read,"
    " cache_write_5m, output, reasoning, list_cost, effective_cost, price_id, source)"
    " SELECT e.org_id, e.event_id, e.ts, e.team_id, e.project_id, u.id, e.provider, e.model,"
    "   e.requested, 'req-' || e.event_id, CASE WHEN e.failed THEN 'error' ELSE 'ok' END,"
    "   (200 + e.out_tok * 2 + floor(random() * 400))::int, e.mode,"
    "   t.iu, t.cr, t.cw, e.out_tok, t.rs,"
    "   CASE WHEN lp.id IS NULL THEN 0 ELSE (t.prompt * lp.input + e.out_tok * lp.output) * "
    "0.000001 END,"
    "   CASE WHEN pr.id IS NULL THEN 0 ELSE (t.iu * pr.input + t.cr * coalesce(pr.cache_read, "
    "pr.input)"
    "     + t.cw * coalesce(pr.cache_write_5m, pr.input) + e.out_tok * pr.output) * 0.000001"
    "     * CASE e.mode WHEN 'batch' THEN pr.batch_multiplier WHEN 'flex' THEN pr.flex_multiplier"
    "       WHEN 'priority' THEN pr.priority_multiplier ELSE 1 END END,"
    "   pr.id, 'demo'"
    " FROM demo_new e"
    " JOIN users u ON u.org_id = e.org_id AND u.external_id = e.project || '-user' || e.user_n || "
    "'@example.com'"
    " CROSS JOIN LATERAL (SELECT e.prompt AS prompt,"
    "   CASE WHEN random() < 0.5 THEN e.cw ELSE 0 END AS cw,"
    "   floor(e.prompt * e.cache)::bigint AS cr,"
    "   CASE WHEN e.model LIKE 'gpt-5%' OR e.model LIKE 'gemini-2.5-pro' THEN e.out_tok / 3 ELSE 0 "
    "END AS rs) t0"
    " CROSS JOIN LATERAL (SELECT t0.prompt, least(t0.cw, t0.prompt - t0.cr) AS cw, t0.cr, t0.rs,"
    "   t0.prompt - t0.cr - least(t0.cw, t0.prompt - t0.cr) AS iu) t"
    " LEFT JOIN LATERAL (SELECT * FROM prices p WHERE p.org_id IS NULL AND p.provider = e.provider"
    "   AND p.model = e.model AND p.effective_from <= e.ts AND p.min_prompt_tokens <= t.prompt"
    "   ORDER BY p.effective_from DESC, p.min_prompt_tokens DESC LIMIT 1) pr ON true"
    " LEFT JOIN LATERAL (SELECT * FROM prices p WHERE p.org_id IS NULL AND p.provider = e.provider"
    "   AND p.model = e.requested AND p.effective_from <= e.ts AND p.min_prompt_tokens <= t.prompt"
    "   ORDER BY p.effective_from DESC, p.min_prompt_tokens DESC LIMIT 1) lp ON true;\n"
    "INSERT INTO spend_hourly AS s (org_id, hour, team_id, project_id, user_id, provider, model,"
    " mode, requests, errors, unpriced, input_uncached, cache_read, cache_write_5m, cache_write_1h,"
    " output, reasoning, list_cost, effective_cost)"
    " SELECT ev.org_id, date_trunc('hour', ev.ts), ev.team_id, ev.project_id, ev.user_id, "
    "ev.provider,"
    "   ev.model, ev.mode, count(*), count(*) FILTER (WHERE ev.status = 'error'),"
    "   count(*) FILTER (WHERE ev.price_id IS NULL), sum(ev.input_uncached), sum(ev.cache_read),"
    "   sum(ev.cache_write_5m), sum(ev.cache_write_1h), sum(ev.output), sum(ev.reasoning),"
    "   sum(ev.list_cost), sum(ev.effective_cost)"
    " FROM usage_events ev JOIN demo_new n ON n.event_id = ev.event_id AND n.org_id = ev.org_id"
    "   AND n.ts = ev.ts"
    " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"
    " ON CONFLICT (org_id, hour, team_id, project_id, user_id, provider, model, mode) DO UPDATE SET"
    "   requests = s.requests + excluded.requests, errors = s.errors + excluded.errors,"
    "   unpriced = s.unpriced + excluded.unpriced,"
    "   input_uncached = s.input_uncached + excluded.input_uncached,"
    "   cache_read = s.cache_read + excluded.cache_read,"
    "   cache_write_5m = s.cache_write_5m + excluded.cache_write_5m,"
    "   cache_write_1h = s.cache_write_1h + excluded.cache_write_1h, output = s.output + "
    "excluded.output,"
    "   reasoning = s.reasoning + excluded.reasoning, list_cost = s.list_cost + excluded.list_cost,"
    "   effective_cost = s.effective_cost + excluded.effective_cost;\n"
    /* Monthly budgets sized from the last 30 days, so some teams sit near or over. */
    "INSERT INTO budgets (org_id, name, scope_kind, scope_id, amount, period, timezone)"
    " SELECT t.org_id, t.name || ' monthly', 'team', t.id,"
    "   greatest(100, round(coalesce(sum(s.effective_cost), 0) * d.budget_factor, -2)), 'month', "
    "'UTC'"
    " FROM demo_team d JOIN teams t ON t.slug = d.slug AND t.kind = 'team'"
    "   AND t.org_id = (SELECT id FROM orgs WHERE slug = 'default')"
    " LEFT JOIN spend_hourly s ON s.org_id = t.org_id AND s.team_id = t.id"
    "   AND s.hour >= now() - interval '30 days'"
    " WHERE d.parent IS NULL GROUP BY t.org_id, t.id, t.name, d.budget_factor"
    " ON CONFLICT (org_id, name) DO NOTHING;\n"
    "INSERT INTO budgets (org_id, name, scope_kind, scope_id, amount, period, timezone)"
    " SELECT o.id, 'Company monthly', 'org', o.id,"
    "   round(coalesce((SELECT sum(effective_cost) FROM spend_hourly WHERE org_id = o.id"
    "     AND hour >= now() - interval '30 days'), 0) * 1.25, -3), 'month', 'UTC'"
    " FROM orgs o WHERE o.slug = 'default' ON CONFLICT (org_id, name) DO NOTHING;\n"
    "INSERT INTO budget_thresholds (budget_id, percent, action)"
    " SELECT b.id, v.percent, v.action FROM budgets b"
    " JOIN orgs o ON o.id = b.org_id AND o.slug = 'default'"
    " CROSS JOIN (VALUES (50, 'alert'), (80, 'alert'), (90, 'downgrade'), (100, 'deny')) v "
    "(percent, action)"
    " ON CONFLICT DO NOTHING;\n";

static bool exec(PGconn *pg, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

    if (!ok)
        snprintf(err, errlen, "%.*s", (int)strcspn(PQresultErrorMessage(r), "\n"),
                 PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

bool demo_load(PGconn *pg, bool if_empty, char *err, size_t errlen)
{
    PGresult *r;

    if (if_empty) {
        r = PQexec(pg, "SELECT EXISTS (SELECT 1 FROM usage_events)");
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            snprintf(err, errlen, "%s", PQresultErrorMessage(r));
            PQclear(r);
            return false;
        }
        if (PQgetvalue(r, 0, 0)[0] == 't') {
            PQclear(r);
            printf("the database has usage already; demo not loaded\n");
            return true;
        }
        PQclear(r);
    }
    if (!exec(pg, "BEGIN", err, errlen))
        return false;
    if (!exec(pg, demo_sql, err, errlen)) {
        PQclear(PQexec(pg, "ROLLBACK"));
        return false;
    }
    r = PQexec(pg, "SELECT count(*), coalesce(sum(effective_cost), 0)::numeric(20, 2),"
                   " coalesce(sum(list_cost), 0)::numeric(20, 2)"
                   " FROM usage_events WHERE source = 'demo'");
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        printf("demo loaded: %s usage events over 30 days, $%s spent ($%s at list price)\n",
               PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2));
    PQclear(r);
    return exec(pg, "COMMIT", err, errlen);
}
