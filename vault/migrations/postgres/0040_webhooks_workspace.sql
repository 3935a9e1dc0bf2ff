-- no-transaction
-- Issue 20: the webhook outbox becomes distribution-ready (docs/operators/scaling.md).
-- `webhook_events` already carries its workspace; the delivery queue and its attempts learn
-- theirs (the event's), so an event, its deliveries and their attempts sit on one shard and
-- name each other by (workspace_id, …). `webhook_endpoints` and `webhook_endpoint_events` stay
-- keyed by the endpoint id: an endpoint without a workspace receives every workspace's events,
-- so they are a reference table pair (small, admin-created, read by every event's fan-out).
--
-- This step: the columns (catalog only), then the backfill in 64 batches per table, each its
-- own BEGIN … COMMIT (bare statements of one query string would share a transaction). Batch k
-- takes the k-th 64th of the ids up to today's largest (an index range scan on the id, so a
-- batch costs its own rows, not a scan of the table): it holds row locks on ~1/64 of the queue
-- for as long as it takes to write them, so a dispatcher's completion waits for one batch at
-- most and its claim skips locked rows (`SKIP LOCKED`); event writes never wait. A first
-- version (16 batches by `id % 16`, each a full scan) held its locks for 3.5 s at 1,000,000
-- deliveries. Rows written meanwhile (larger ids, or by an older broker) are caught in 0045
-- under the new key's index. Every step may run again after an interruption (`IF NOT
-- EXISTS`, `workspace_id IS NULL`).
BEGIN;
SET LOCAL lock_timeout = '5s';
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS workspace_id TEXT;
ALTER TABLE webhook_attempts ADD COLUMN IF NOT EXISTS workspace_id TEXT;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 0 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 1 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 1 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 2 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 2 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 3 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 3 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 4 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 4 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 5 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 5 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 6 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 6 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 7 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 7 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 8 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 8 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 9 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 9 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 10 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 10 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 11 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 11 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 12 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 12 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 13 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 13 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 14 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 14 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 15 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 15 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 16 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 16 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 17 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 17 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 18 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 18 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 19 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 19 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 20 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 20 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 21 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 21 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 22 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 22 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 23 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 23 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 24 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 24 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 25 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 25 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 26 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 26 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 27 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 27 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 28 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 28 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 29 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 29 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 30 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 30 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 31 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 31 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 32 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 32 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 33 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 33 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 34 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 34 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 35 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 35 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 36 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 36 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 37 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 37 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 38 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 38 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 39 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 39 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 40 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 40 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 41 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 41 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 42 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 42 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 43 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 43 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 44 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 44 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 45 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 45 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 46 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 46 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 47 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 47 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 48 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 48 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 49 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 49 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 50 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 50 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 51 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 51 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 52 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 52 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 53 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 53 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 54 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 54 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 55 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 55 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 56 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 56 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 57 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 57 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 58 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 58 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 59 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 59 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 60 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 60 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 61 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 61 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 62 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 62 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 63 / 64;
COMMIT;
BEGIN;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL
    AND d.id > (SELECT max(id) FROM webhook_deliveries) * 63 / 64 AND d.id <= (SELECT max(id) FROM webhook_deliveries) * 64 / 64;
COMMIT;
-- Attempts take their delivery's workspace, in the same ranges of delivery ids.
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 0 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 1 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 1 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 2 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 2 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 3 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 3 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 4 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 4 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 5 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 5 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 6 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 6 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 7 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 7 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 8 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 8 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 9 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 9 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 10 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 10 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 11 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 11 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 12 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 12 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 13 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 13 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 14 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 14 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 15 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 15 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 16 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 16 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 17 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 17 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 18 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 18 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 19 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 19 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 20 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 20 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 21 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 21 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 22 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 22 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 23 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 23 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 24 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 24 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 25 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 25 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 26 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 26 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 27 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 27 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 28 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 28 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 29 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 29 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 30 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 30 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 31 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 31 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 32 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 32 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 33 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 33 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 34 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 34 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 35 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 35 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 36 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 36 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 37 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 37 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 38 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 38 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 39 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 39 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 40 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 40 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 41 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 41 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 42 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 42 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 43 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 43 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 44 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 44 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 45 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 45 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 46 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 46 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 47 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 47 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 48 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 48 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 49 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 49 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 50 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 50 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 51 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 51 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 52 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 52 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 53 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 53 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 54 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 54 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 55 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 55 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 56 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 56 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 57 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 57 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 58 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 58 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 59 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 59 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 60 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 60 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 61 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 61 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 62 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 62 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 63 / 64;
COMMIT;
BEGIN;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL
    AND a.delivery_id > (SELECT max(id) FROM webhook_deliveries) * 63 / 64 AND a.delivery_id <= (SELECT max(id) FROM webhook_deliveries) * 64 / 64;
COMMIT;
