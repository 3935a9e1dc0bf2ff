-- no-transaction
-- Issue 20: the webhook outbox's new keys and foreign keys. One BEGIN … COMMIT per step, each
-- with `lock_timeout` 5 s (the migration fails, the broker exits, start it again, rather than
-- queue the outbox behind a long query), and each may run again after an interruption.
--
-- 1. Rows an older broker queued since 0040's backfill (found through the new keys' indexes,
--    `workspace_id IS NULL`), under the lock that the CHECKs take first, so none can follow;
--    the CHECKs are added NOT VALID (catalog only) and let step 3 skip its NOT NULL scans.
BEGIN;
SET LOCAL lock_timeout = '5s';
ALTER TABLE webhook_deliveries DROP CONSTRAINT IF EXISTS webhook_deliveries_workspace_present;
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_workspace_present CHECK (workspace_id IS NOT NULL) NOT VALID;
ALTER TABLE webhook_attempts DROP CONSTRAINT IF EXISTS webhook_attempts_workspace_present;
ALTER TABLE webhook_attempts ADD CONSTRAINT webhook_attempts_workspace_present CHECK (workspace_id IS NOT NULL) NOT VALID;
UPDATE webhook_deliveries d SET workspace_id = e.workspace_id FROM webhook_events e
    WHERE e.id = d.event_id AND d.workspace_id IS NULL;
UPDATE webhook_attempts a SET workspace_id = d.workspace_id FROM webhook_deliveries d
    WHERE d.id = a.delivery_id AND a.workspace_id IS NULL;
COMMIT;

-- 2. VALIDATE scans each table under SHARE UPDATE EXCLUSIVE: deliveries are queued, claimed
--    and completed meanwhile.
BEGIN;
SET LOCAL lock_timeout = '5s';
ALTER TABLE webhook_deliveries VALIDATE CONSTRAINT webhook_deliveries_workspace_present;
COMMIT;
BEGIN;
SET LOCAL lock_timeout = '5s';
ALTER TABLE webhook_attempts VALIDATE CONSTRAINT webhook_attempts_workspace_present;
COMMIT;

-- 3. Catalog only, under ACCESS EXCLUSIVE for milliseconds: NOT NULL (proved by the validated
--    CHECKs, no scan), the old single-column foreign keys (they depend on the keys being
--    replaced), the primary keys swapped to the indexes 0041, 0042 and 0044 built (each swap
--    once: `ADD … USING INDEX` renames the index, so a second run finds none to swap), and the
--    composite foreign keys NOT VALID. `webhook_endpoints` loses its foreign key to
--    `workspaces`: a reference table cannot reference a distributed one; endpoints are never
--    orphaned by the application (a workspace's endpoint is added only after the workspace is
--    checked, and workspaces are not deleted).
BEGIN;
SET LOCAL lock_timeout = '5s';
ALTER TABLE webhook_deliveries ALTER COLUMN workspace_id SET NOT NULL;
ALTER TABLE webhook_attempts ALTER COLUMN workspace_id SET NOT NULL;
ALTER TABLE webhook_deliveries DROP CONSTRAINT IF EXISTS webhook_deliveries_workspace_present;
ALTER TABLE webhook_attempts DROP CONSTRAINT IF EXISTS webhook_attempts_workspace_present;
ALTER TABLE webhook_attempts DROP CONSTRAINT IF EXISTS webhook_attempts_delivery_id_fkey;
ALTER TABLE webhook_attempts DROP CONSTRAINT IF EXISTS webhook_attempts_delivery_fkey;
ALTER TABLE webhook_deliveries DROP CONSTRAINT IF EXISTS webhook_deliveries_event_id_fkey;
ALTER TABLE webhook_deliveries DROP CONSTRAINT IF EXISTS webhook_deliveries_event_fkey;
ALTER TABLE webhook_endpoints DROP CONSTRAINT IF EXISTS webhook_endpoints_workspace_id_fkey;
DO $$
BEGIN
    IF to_regclass('webhook_events_workspace_key') IS NOT NULL THEN
        ALTER TABLE webhook_events DROP CONSTRAINT webhook_events_pkey;
        ALTER TABLE webhook_events ADD CONSTRAINT webhook_events_pkey PRIMARY KEY USING INDEX webhook_events_workspace_key;
    END IF;
    IF to_regclass('webhook_deliveries_workspace_key') IS NOT NULL THEN
        ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_pkey;
        ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_pkey PRIMARY KEY USING INDEX webhook_deliveries_workspace_key;
    END IF;
    IF to_regclass('webhook_attempts_workspace_key') IS NOT NULL THEN
        ALTER TABLE webhook_attempts DROP CONSTRAINT webhook_attempts_pkey;
        ALTER TABLE webhook_attempts ADD CONSTRAINT webhook_attempts_pkey PRIMARY KEY USING INDEX webhook_attempts_workspace_key;
    END IF;
END $$;
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_event_fkey
    FOREIGN KEY (workspace_id, event_id) REFERENCES webhook_events (workspace_id, id) ON DELETE CASCADE NOT VALID;
ALTER TABLE webhook_attempts ADD CONSTRAINT webhook_attempts_delivery_fkey
    FOREIGN KEY (workspace_id, delivery_id) REFERENCES webhook_deliveries (workspace_id, id) ON DELETE CASCADE NOT VALID;
COMMIT;

-- 4. VALIDATE the two foreign keys: a scan of the referencing table under SHARE UPDATE
--    EXCLUSIVE, ROW SHARE on the referenced one.
BEGIN;
SET LOCAL lock_timeout = '5s';
ALTER TABLE webhook_deliveries VALIDATE CONSTRAINT webhook_deliveries_event_fkey;
COMMIT;
BEGIN;
SET LOCAL lock_timeout = '5s';
ALTER TABLE webhook_attempts VALIDATE CONSTRAINT webhook_attempts_delivery_fkey;
COMMIT;
