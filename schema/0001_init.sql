-- Tollgate schema v1. Forward-only: never edit this file once applied; add a
-- new numbered migration instead. See schema/README.md for the model.

-- Money is exact. Costs are USD with at most 15 decimals (whole femto-dollars);
-- prices are USD per million tokens with at most 6 decimals; multipliers have
-- at most 3 decimals, so price x multiplier is always a whole femto-dollar
-- amount per token and tokens x price needs no rounding at all.
CREATE DOMAIN usd AS numeric CHECK (scale(VALUE) <= 15);
CREATE DOMAIN usd_per_mtok AS numeric CHECK (VALUE >= 0 AND scale(VALUE) <= 6);
CREATE DOMAIN multiplier AS numeric CHECK (VALUE >= 0 AND scale(VALUE) <= 3);
CREATE DOMAIN slug AS text CHECK (VALUE ~ '^[a-z0-9][a-z0-9._-]{0,62}$');

CREATE TABLE orgs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug        slug NOT NULL UNIQUE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO orgs (slug, name) VALUES ('default', 'Default organisation');

-- Teams and projects share one table: a project is a team-like scope whose
-- parent is a team. Teams may nest (org > team > sub-team). Slugs are unique
-- within an org across both kinds, so one name identifies a scope.
CREATE TABLE teams (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id      bigint NOT NULL REFERENCES orgs (id),
    parent_id   bigint REFERENCES teams (id),
    kind        text NOT NULL DEFAULT 'team' CHECK (kind IN ('team', 'project')),
    slug        slug NOT NULL,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    archived_at timestamptz,
    UNIQUE (org_id, slug),
    CHECK (kind = 'team' OR parent_id IS NOT NULL),
    CHECK (parent_id IS DISTINCT FROM id)
);
CREATE INDEX teams_parent ON teams (parent_id);

CREATE TABLE users (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id      bigint NOT NULL REFERENCES orgs (id),
    external_id text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 256),
    email       text,
    name        text,
    team_id     bigint REFERENCES teams (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, external_id)
);

-- Only a hash of each secret is kept. The prefix (the secret's first 11
-- characters) identifies a key in lists and logs without revealing it.
CREATE TABLE api_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id       bigint NOT NULL REFERENCES orgs (id),
    prefix       text NOT NULL,
    secret_hash  bytea NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
    role         text NOT NULL CHECK (role IN ('ingest', 'verdict', 'read', 'admin')),
    team_id      bigint REFERENCES teams (id),
    name         text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_org ON api_keys (org_id, created_at);

-- The price catalog. A row is one model's prices from effective_from on, for
-- prompts of at least min_prompt_tokens (0 for the base tier; a long-context
-- tier is another row with its threshold). org_id NULL is the public list
-- price; an org's own row (a negotiated price) wins over it. A NULL cache
-- price means the provider has none for that class. A NULL mode multiplier
-- means the mode is not offered for that model.
CREATE TABLE prices (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id              bigint REFERENCES orgs (id),
    provider            text NOT NULL CHECK (provider ~ '^[a-z0-9][a-z0-9._-]*$'),
    model               text NOT NULL CHECK (length(model) BETWEEN 1 AND 200),
    effective_from      timestamptz NOT NULL,
    min_prompt_tokens   bigint NOT NULL DEFAULT 0 CHECK (min_prompt_tokens >= 0),
    input               usd_per_mtok NOT NULL,
    cache_read          usd_per_mtok,
    cache_write_5m      usd_per_mtok,
    cache_write_1h      usd_per_mtok,
    output              usd_per_mtok NOT NULL,
    batch_multiplier    multiplier,
    flex_multiplier     multiplier,
    priority_multiplier multiplier,
    source              text NOT NULL DEFAULT 'admin',
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (org_id, provider, model, effective_from, min_prompt_tokens)
);
CREATE INDEX prices_lookup ON prices (provider, model, effective_from DESC);

-- Idempotency for usage events. The events table is partitioned by month, and
-- a partitioned table's unique keys must include the partition key; this
-- table is not partitioned, so an id is unique for good, across months.
CREATE TABLE usage_event_ids (
    org_id       bigint NOT NULL, -- from the authenticated key; no foreign key on the hot path
    event_id     text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 256),
    ts           timestamptz NOT NULL,
    content_hash bytea NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, event_id)
);

-- One row per LLM call. Token classes are disjoint except reasoning, which
-- is the part of output spent on reasoning (already counted in output).
-- list_cost: the requested model at list price, without cache, batch or
-- routing savings. effective_cost: what was really paid. price_id NULL means
-- unpriced (no price for the model at ts yet): costs are 0 until repriced.
CREATE TABLE usage_events (
    org_id          bigint NOT NULL,
    event_id        text NOT NULL,
    ts              timestamptz NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    team_id         bigint NOT NULL,
    project_id      bigint,
    user_id         bigint,
    api_key_id      bigint,
    provider        text NOT NULL,
    model           text NOT NULL,
    requested_model text,
    request_id      text,
    status          text NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'error')),
    latency_ms      integer CHECK (latency_ms >= 0),
    mode            text NOT NULL DEFAULT 'standard'
                    CHECK (mode IN ('standard', 'batch', 'flex', 'priority')),
    input_uncached  bigint NOT NULL DEFAULT 0 CHECK (input_uncached >= 0),
    cache_read      bigint NOT NULL DEFAULT 0 CHECK (cache_read >= 0),
    cache_write_5m  bigint NOT NULL DEFAULT 0 CHECK (cache_write_5m >= 0),
    cache_write_1h  bigint NOT NULL DEFAULT 0 CHECK (cache_write_1h >= 0),
    output          bigint NOT NULL DEFAULT 0 CHECK (output >= 0),
    reasoning       bigint NOT NULL DEFAULT 0 CHECK (reasoning >= 0 AND reasoning <= output),
    list_cost       usd NOT NULL DEFAULT 0,
    effective_cost  usd NOT NULL DEFAULT 0,
    price_id        bigint,
    tags            jsonb NOT NULL DEFAULT '{}',
    source          text NOT NULL DEFAULT 'api',
    PRIMARY KEY (org_id, ts, event_id)
) PARTITION BY RANGE (ts);
CREATE INDEX usage_events_team_ts ON usage_events (org_id, team_id, ts);
CREATE INDEX usage_events_request ON usage_events (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX usage_events_unpriced ON usage_events (org_id, provider, model) WHERE price_id IS NULL;

-- Creates the month partition of usage_events that holds ts, if missing.
-- The server calls it at start and before writing an event of a new month.
CREATE FUNCTION usage_events_ensure_partition(ts timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    lo   timestamptz := date_trunc('month', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    hi   timestamptz := lo + interval '1 month';
    name text := 'usage_events_' || to_char(lo AT TIME ZONE 'UTC', 'YYYY_MM');
BEGIN
    IF to_regclass(name) IS NULL THEN
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF usage_events FOR VALUES FROM (%L) TO (%L)',
                       name, lo, hi);
    END IF;
    RETURN name;
END $$;

SELECT usage_events_ensure_partition(now() - interval '2 months'),
       usage_events_ensure_partition(now() - interval '1 month'),
       usage_events_ensure_partition(now()),
       usage_events_ensure_partition(now() + interval '1 month');

-- Hourly rollups: what reports and the in-memory ledger read, never the raw
-- events. One row per org, hour, scope path, model and mode. NULL project or
-- user means none; NULLS NOT DISTINCT makes them one key for upserts.
CREATE TABLE spend_hourly (
    org_id            bigint NOT NULL,
    hour              timestamptz NOT NULL,
    team_id           bigint NOT NULL,
    project_id        bigint,
    user_id           bigint,
    provider          text NOT NULL,
    model             text NOT NULL,
    mode              text NOT NULL,
    requests          bigint NOT NULL DEFAULT 0,
    errors            bigint NOT NULL DEFAULT 0,
    unpriced          bigint NOT NULL DEFAULT 0,
    input_uncached    bigint NOT NULL DEFAULT 0,
    cache_read        bigint NOT NULL DEFAULT 0,
    cache_write_5m    bigint NOT NULL DEFAULT 0,
    cache_write_1h    bigint NOT NULL DEFAULT 0,
    output            bigint NOT NULL DEFAULT 0,
    reasoning         bigint NOT NULL DEFAULT 0,
    list_cost         usd NOT NULL DEFAULT 0,
    effective_cost    usd NOT NULL DEFAULT 0,
    CHECK (hour = date_trunc('hour', hour)),
    UNIQUE NULLS NOT DISTINCT (org_id, hour, team_id, project_id, user_id, provider, model, mode)
);
CREATE INDEX spend_hourly_team ON spend_hourly (org_id, team_id, hour);
CREATE INDEX spend_hourly_hour ON spend_hourly (org_id, hour);

-- A budget caps spend on one scope over a period. scope_kind says which
-- column names the scope: org (scope_id = orgs.id), team or project
-- (teams.id), user (users.id), key (api_keys.id), tag (tag_key = tag_value).
-- period 'fixed' uses window_start/window_end; the others repeat in
-- timezone, anchored at anchor_day (day of month 1..28 for month and quarter,
-- ISO weekday 1..7 for week).
CREATE TABLE budgets (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id       bigint NOT NULL REFERENCES orgs (id),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    scope_kind   text NOT NULL CHECK (scope_kind IN ('org', 'team', 'project', 'user', 'key', 'tag')),
    scope_id     bigint,
    tag_key      text,
    tag_value    text,
    amount       usd NOT NULL CHECK (amount >= 0),
    period       text NOT NULL CHECK (period IN ('day', 'week', 'month', 'quarter', 'fixed')),
    timezone     text NOT NULL DEFAULT 'UTC',
    anchor_day   smallint NOT NULL DEFAULT 1 CHECK (anchor_day BETWEEN 1 AND 28),
    window_start timestamptz,
    window_end   timestamptz,
    fail_mode    text NOT NULL DEFAULT 'open' CHECK (fail_mode IN ('open', 'closed')),
    enabled      boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name),
    CHECK ((scope_kind = 'tag') = (tag_key IS NOT NULL AND tag_value IS NOT NULL)),
    CHECK ((scope_kind = 'tag') = (scope_id IS NULL)),
    CHECK ((period = 'fixed') = (window_start IS NOT NULL AND window_end IS NOT NULL)),
    CHECK (window_end IS NULL OR window_end > window_start),
    CHECK (period <> 'week' OR anchor_day <= 7)
);
CREATE INDEX budgets_scope ON budgets (org_id, scope_kind, scope_id);

-- What happens as spend crosses a share of the budget, e.g. alert at 50,
-- downgrade at 80, deny at 100 (percent, up to two decimals).
CREATE TABLE budget_thresholds (
    budget_id bigint NOT NULL REFERENCES budgets (id) ON DELETE CASCADE,
    percent   numeric(7, 2) NOT NULL CHECK (percent > 0),
    action    text NOT NULL CHECK (action IN ('alert', 'downgrade', 'deny')),
    PRIMARY KEY (budget_id, percent, action)
);

-- Routing policies (ladders, target mix, context caps, allow/deny lists),
-- stored as the validated declarative document that the admin API or
-- `tollgate policy apply` wrote.
CREATE TABLE policies (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id     bigint NOT NULL REFERENCES orgs (id),
    name       slug NOT NULL,
    document   jsonb NOT NULL,
    version    integer NOT NULL DEFAULT 1,
    source     text NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'file')),
    enabled    boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name)
);

-- Webhook endpoints. The signing secret must be kept to sign with; during a
-- rotation the previous one keeps signing too until it expires.
CREATE TABLE webhooks (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id              bigint NOT NULL REFERENCES orgs (id),
    url                 text NOT NULL CHECK (url ~ '^https?://'),
    kinds               text[] NOT NULL DEFAULT '{threshold,forecast,denial,unpriced}',
    team_id             bigint REFERENCES teams (id),
    format              text NOT NULL DEFAULT 'standard' CHECK (format IN ('standard', 'slack')),
    secret              text NOT NULL CHECK (secret LIKE 'whsec\_%'),
    previous_secret     text,
    previous_expires_at timestamptz,
    enabled             boolean NOT NULL DEFAULT true,
    disabled_reason     text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- The alert outbox. An alert is written in the same transaction as the
-- state that caused it; the unique key makes it fire once per budget,
-- period, kind and threshold, however many instances see the crossing.
CREATE TABLE alerts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id       bigint NOT NULL REFERENCES orgs (id),
    kind         text NOT NULL CHECK (kind IN ('threshold', 'forecast', 'denial', 'unpriced', 'test')),
    budget_id    bigint REFERENCES budgets (id) ON DELETE SET NULL,
    team_id      bigint REFERENCES teams (id),
    period_start timestamptz,
    threshold    numeric(7, 2),
    dedup_key    text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, dedup_key)
);
CREATE INDEX alerts_created ON alerts (org_id, created_at DESC);

-- One delivery of one alert to one endpoint. msg_id is the stable
-- webhook-id header, the same on every retry, for receivers to dedupe.
CREATE TABLE webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id        bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    webhook_id      bigint NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    msg_id          text NOT NULL UNIQUE,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'dead', 'disabled')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    UNIQUE (alert_id, webhook_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
