-- Issue 20: the webhook outbox names its rows by (workspace_id, …), as on PostgreSQL
-- (0040–0045 there): deliveries and attempts learn their workspace (the event's) and the
-- foreign keys event → delivery → attempt carry it. On SQLite (never sharded) the old keys stay
-- (`webhook_events.id`, the AUTOINCREMENT delivery id, (delivery_id, attempt)); the parents get
-- unique (workspace_id, id) indexes for the composite foreign keys to reference. SQLite cannot
-- change a foreign key in place, and rebuilding a referenced table cascade-deletes its children
-- (foreign keys are on during migrations): the attempts are set aside in a table without
-- foreign keys, the deliveries rebuilt (their AUTOINCREMENT counter kept, so no id is handed
-- out twice), then the attempts rebuilt from the copy. Endpoints keep their keys and their
-- foreign key to `workspaces` (on PostgreSQL they become a reference table and lose it).
CREATE UNIQUE INDEX IF NOT EXISTS webhook_events_workspace_key ON webhook_events (workspace_id, id);

CREATE TABLE webhook_attempts_copy AS
    SELECT d.workspace_id AS workspace_id, a.delivery_id, a.attempt, a.at, a.status, a.error, a.duration_ms
    FROM webhook_attempts a JOIN (
        SELECT d.id, e.workspace_id FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
    ) d ON d.id = a.delivery_id;
DROP TABLE webhook_attempts;

CREATE TABLE webhook_deliveries_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id     TEXT NOT NULL,
    event_id         TEXT NOT NULL,
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
    created_at       BIGINT NOT NULL,
    FOREIGN KEY (workspace_id, event_id) REFERENCES webhook_events (workspace_id, id) ON DELETE CASCADE
);
INSERT INTO webhook_deliveries_new (id, workspace_id, event_id, endpoint_id, ordering_key, state, attempts,
        next_attempt_at, lease_owner, lease_until, last_status, last_error, last_attempt_at, delivered_at, created_at)
    SELECT d.id, e.workspace_id, d.event_id, d.endpoint_id, d.ordering_key, d.state, d.attempts,
        d.next_attempt_at, d.lease_owner, d.lease_until, d.last_status, d.last_error, d.last_attempt_at,
        d.delivered_at, d.created_at
    FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id;
-- The copy set the new table's counter to its highest id; the old counter may be higher
-- (deliveries pruned since).
UPDATE sqlite_sequence SET seq = MAX(seq, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'webhook_deliveries'), 0))
    WHERE name = 'webhook_deliveries_new';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'webhook_deliveries_new', seq FROM sqlite_sequence WHERE name = 'webhook_deliveries'
    AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'webhook_deliveries_new');
DROP TABLE webhook_deliveries;
ALTER TABLE webhook_deliveries_new RENAME TO webhook_deliveries;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id)
    WHERE state IN ('pending', 'delivering');
CREATE INDEX webhook_deliveries_chain ON webhook_deliveries (endpoint_id, ordering_key, id)
    WHERE state IN ('pending', 'delivering');
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE UNIQUE INDEX webhook_deliveries_workspace_key ON webhook_deliveries (workspace_id, id);

CREATE TABLE webhook_attempts (
    workspace_id TEXT NOT NULL,
    delivery_id  BIGINT NOT NULL,
    attempt      BIGINT NOT NULL,
    at           BIGINT NOT NULL,
    status       BIGINT,
    error        TEXT,
    duration_ms  BIGINT,
    PRIMARY KEY (delivery_id, attempt),
    FOREIGN KEY (workspace_id, delivery_id) REFERENCES webhook_deliveries (workspace_id, id) ON DELETE CASCADE
);
INSERT INTO webhook_attempts (workspace_id, delivery_id, attempt, at, status, error, duration_ms)
    SELECT workspace_id, delivery_id, attempt, at, status, error, duration_ms FROM webhook_attempts_copy;
DROP TABLE webhook_attempts_copy;
