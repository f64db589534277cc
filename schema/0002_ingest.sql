-- Ingest: the price catalog's match rules, price imports, event revisions
-- (corrections), and what the as-sent provider and model strings were.

-- Providers and models of the catalog. A model's match rule says which model
-- strings clients send mean it; position orders the rules (first match wins).
CREATE TABLE price_providers (
    provider    text PRIMARY KEY CHECK (provider ~ '^[a-z0-9][a-z0-9._-]*$'),
    match       jsonb NOT NULL,
    model_match jsonb, -- the models it serves first-hand, for calls that name no provider
    source      text NOT NULL DEFAULT 'admin',
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE price_models (
    provider   text NOT NULL REFERENCES price_providers (provider),
    model      text NOT NULL CHECK (length(model) BETWEEN 1 AND 200),
    match      jsonb NOT NULL,
    position   integer NOT NULL,
    source     text NOT NULL DEFAULT 'admin',
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, model)
);

-- One row per catalog import: what was loaded and what it changed.
CREATE TABLE price_imports (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text NOT NULL,
    checksum    text NOT NULL,
    models      integer NOT NULL,
    new_prices  integer NOT NULL,
    repriced    bigint NOT NULL DEFAULT 0,
    imported_at timestamptz NOT NULL DEFAULT now()
);

-- Corrections: an event keeps every revision. The live one has
-- superseded_at NULL; a void or an amendment sets it on the old revision
-- (and an amendment adds revision + 1). Rollups always equal the sum of live
-- revisions.
ALTER TABLE usage_events
    ADD COLUMN revision      integer NOT NULL DEFAULT 1,
    ADD COLUMN superseded_at timestamptz,
    ADD COLUMN raw_provider  text,
    ADD COLUMN raw_model     text,
    ADD COLUMN content_hash  bytea;
ALTER TABLE usage_events DROP CONSTRAINT usage_events_pkey;
ALTER TABLE usage_events ADD PRIMARY KEY (org_id, ts, event_id, revision);
CREATE INDEX usage_events_id ON usage_events (org_id, event_id);

ALTER TABLE usage_event_ids
    ADD COLUMN revision integer NOT NULL DEFAULT 1,
    ADD COLUMN voided_at timestamptz;

CREATE TABLE usage_corrections (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id     bigint NOT NULL REFERENCES orgs (id),
    event_id   text NOT NULL,
    action     text NOT NULL CHECK (action IN ('void', 'amend')),
    revision   integer NOT NULL, -- the revision this correction made (or voided)
    reason     text NOT NULL DEFAULT '' CHECK (length(reason) <= 1000),
    api_key_id bigint,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_corrections_event ON usage_corrections (org_id, event_id);
