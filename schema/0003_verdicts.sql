-- Verdicts: who wrote each budget, how budgets treat critical and free
-- calls, verdict counts, and the notification that tells every instance
-- to reload its budgets and policies.

-- source says who owns a row: 'file' rows are managed by `tollgate policy
-- apply`, which removes those no longer in its directory; 'api' rows by the
-- admin API. deny_critical: deny thresholds also deny calls of priority
-- critical (by default those are let through). deny_free: deny thresholds
-- also deny calls that cost nothing (by default those are let through).
ALTER TABLE budgets
    ADD COLUMN deny_critical boolean NOT NULL DEFAULT false,
    ADD COLUMN deny_free     boolean NOT NULL DEFAULT false,
    ADD COLUMN source        text NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'file'));

-- Verdict counts per hour (never a row per verdict): how many calls were
-- allowed, downgraded or denied, why, and what the estimates were at the
-- requested model and at the one chosen (their difference is what routing
-- saved on the estimate; realised savings come from the events).
CREATE TABLE verdict_hourly (
    org_id              bigint NOT NULL,
    hour                timestamptz NOT NULL CHECK (hour = date_trunc('hour', hour)),
    team_id             bigint, -- NULL: the call named no known team
    provider            text NOT NULL,
    requested_model     text NOT NULL,
    model               text NOT NULL,
    decision            text NOT NULL CHECK (decision IN ('allow', 'downgrade', 'deny')),
    reason              text NOT NULL,
    verdicts            bigint NOT NULL DEFAULT 0,
    estimated_requested usd NOT NULL DEFAULT 0,
    estimated_chosen    usd NOT NULL DEFAULT 0,
    UNIQUE NULLS NOT DISTINCT (org_id, hour, team_id, provider, requested_model, model, decision, reason)
);
CREATE INDEX verdict_hourly_team ON verdict_hourly (org_id, team_id, hour);

-- Any change to budgets or policies, by any writer, notifies every listening
-- instance once per statement; they reload within a second.
CREATE FUNCTION tollgate_policies_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tollgate_policies', TG_TABLE_NAME);
    RETURN NULL;
END $$;

CREATE TRIGGER budgets_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON budgets
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_policies_changed();
CREATE TRIGGER budget_thresholds_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON budget_thresholds
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_policies_changed();
CREATE TRIGGER policies_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON policies
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_policies_changed();
