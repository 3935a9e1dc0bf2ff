-- no-transaction
-- Issue 20: the webhook outbox becomes distribution-ready (docs/operators/scaling.md).
-- `webhook_events` already carries its workspace; the delivery queue and its attempts learn
-- theirs (the event's), so an event, its deliveries and their attempts sit on one shard and
-- name each other by (workspace_id, …). `webhook_endpoints` and `webhook_endpoint_events` stay
-- keyed by the endpoint id: an endpoint without a workspace receives every workspace's events,
-- so they are a reference table pair (small, admin-created, read by every event's fan-out).
--
-- This step: the columns (catalog only), then the backfill in 16 batches (by the delivery id
-- modulo 16), each its own BEGIN … COMMIT (bare statements of one query string would share a
-- transaction): a batch holds row locks on 1/16 of the queue, so a dispatcher's completion
-- waits for one batch at most and its claim skips locked rows (`SKIP LOCKED`). Rows written
-- meanwhile by an older broker are caught in 0045 under the new key's index. Every step may
-- run again after an interruption (`IF NOT EXISTS`, `workspace_id IS NULL`).
BEGIN;
SET LOCAL lock_timeout = '5s';
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS workspace_id TEXT;
ALTER TABLE webhook_attempts ADD COLUMN IF NOT EXISTS workspace_id TEXT;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL AND d.id % 16 = 0;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL AND d.id % 16 = 1;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL AND d.id % 16 = 2;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL AND d.id % 16 = 3;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL AND d.id % 16 = 4;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL AND d.id % 16 = 5;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL AND d.id % 16 = 6;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL AND d.id % 16 = 7;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL AND d.id % 16 = 8;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL AND d.id % 16 = 9;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL AND d.id % 16 = 10;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL AND d.id % 16 = 11;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL AND d.id % 16 = 12;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL AND d.id % 16 = 13;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL AND d.id % 16 = 14;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL AND d.id % 16 = 15;
COMMIT;
-- Attempts take their delivery's workspace, in the same 16 batches.
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL AND a.delivery_id % 16 = 0;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL AND a.delivery_id % 16 = 1;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL AND a.delivery_id % 16 = 2;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL AND a.delivery_id % 16 = 3;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL AND a.delivery_id % 16 = 4;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL AND a.delivery_id % 16 = 5;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL AND a.delivery_id % 16 = 6;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL AND a.delivery_id % 16 = 7;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL AND a.delivery_id % 16 = 8;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL AND a.delivery_id % 16 = 9;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL AND a.delivery_id % 16 = 10;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL AND a.delivery_id % 16 = 11;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL AND a.delivery_id % 16 = 12;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL AND a.delivery_id % 16 = 13;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL AND a.delivery_id % 16 = 14;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL AND a.delivery_id % 16 = 15;
COMMIT;
