-- Connection health and the webhook outbox (design 18 §5, §6). Kept column-for-column identical
-- to migrations/sqlite/0006_webhooks.sql. Every integer is BIGINT so both drivers read i64.

-- Health of a connection's refreshes, beside its lifecycle `status`.
ALTER TABLE connections ADD COLUMN health TEXT NOT NULL DEFAULT 'ok';
ALTER TABLE connections ADD COLUMN consecutive_failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE connections ADD COLUMN last_error_code TEXT;
ALTER TABLE connections ADD COLUMN last_error_at BIGINT;
ALTER TABLE connections ADD COLUMN last_success_at BIGINT;
-- Incremented by every event about the connection: gap-free per connection.
ALTER TABLE connections ADD COLUMN event_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE connections ADD COLUMN next_keepalive_at BIGINT;
ALTER TABLE connections ADD COLUMN last_keepalive_at BIGINT;

CREATE TABLE webhook_endpoints (
    id                          TEXT PRIMARY KEY,
    workspace_id                TEXT REFERENCES workspaces(id) ON DELETE CASCADE,
    url                         TEXT NOT NULL,
    description                 TEXT,
    secret                      BYTEA NOT NULL,
    previous_secret             BYTEA,
    previous_secret_expires_at  BIGINT,
    disabled_at                 BIGINT,
    disabled_reason             TEXT,
    created_at                  BIGINT NOT NULL,
    updated_at                  BIGINT NOT NULL
);

-- No rows for an endpoint = every event type.
CREATE TABLE webhook_endpoint_events (
    endpoint_id  TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_type   TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, event_type)
);

-- The event body is stored once and sent byte-identical on every attempt.
CREATE TABLE webhook_events (
    id             TEXT PRIMARY KEY,
    workspace_id   TEXT NOT NULL,
    connection_id  TEXT NOT NULL,
    event_type     TEXT NOT NULL,
    sequence       BIGINT NOT NULL,
    payload        TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX webhook_events_connection ON webhook_events(connection_id, sequence);

CREATE TABLE webhook_deliveries (
    id               BIGSERIAL PRIMARY KEY,
    event_id         TEXT NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    ordering_key     TEXT NOT NULL,
    state            TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    lease_owner      TEXT,
    lease_until      BIGINT,
    last_status      BIGINT,
    last_error       TEXT,
    last_attempt_at  BIGINT,
    delivered_at     BIGINT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id)
    WHERE state IN ('pending', 'delivering');
CREATE INDEX webhook_deliveries_chain ON webhook_deliveries (endpoint_id, ordering_key, id)
    WHERE state IN ('pending', 'delivering');
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);

CREATE TABLE webhook_attempts (
    delivery_id  BIGINT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt      BIGINT NOT NULL,
    at           BIGINT NOT NULL,
    status       BIGINT,
    error        TEXT,
    duration_ms  BIGINT,
    PRIMARY KEY (delivery_id, attempt)
);
