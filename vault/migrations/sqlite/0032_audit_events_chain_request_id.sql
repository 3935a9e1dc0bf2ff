-- Issue 20: `request_id` is unique per chain, as on PostgreSQL (0032 there, 0034 drops the
-- global index), so both backends accept the same rows.
CREATE UNIQUE INDEX IF NOT EXISTS audit_events_chain_request_id ON audit_events (chain, request_id);
DROP INDEX IF EXISTS audit_events_request_id;
