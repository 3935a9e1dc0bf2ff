-- Issue 20: swap the primary key of `audit_events` to (chain, id). VALIDATE scans the table
-- under SHARE UPDATE EXCLUSIVE (appends go on); with the CHECK validated, SET NOT NULL needs no
-- scan, and the rest is catalog-only: `ADD PRIMARY KEY USING INDEX` reuses the index 0031
-- built, and the indexes dropped are the old global ones (`audit_events_chain` is the same
-- columns as the new key). The ACCESS EXCLUSIVE lock is held for this short transaction;
-- `lock_timeout` fails the migration (the broker exits; start it again) rather than queue
-- every append behind a long query.
SET LOCAL lock_timeout = '5s';
ALTER TABLE audit_events VALIDATE CONSTRAINT audit_events_chain_present;
ALTER TABLE audit_events ALTER COLUMN chain SET NOT NULL;
ALTER TABLE audit_events DROP CONSTRAINT audit_events_chain_present;
ALTER TABLE audit_events DROP CONSTRAINT audit_events_pkey;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_pkey PRIMARY KEY USING INDEX audit_events_chain_key;
DROP INDEX audit_events_request_id;
DROP INDEX audit_events_chain;
