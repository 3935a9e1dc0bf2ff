-- Issue 20: records written before migration 0002 have no chain; as on PostgreSQL they get
-- the empty chain '', which no head, anchor, verify or re-key walk names. On SQLite (never
-- sharded) `id` stays the key of `audit_events` (its AUTOINCREMENT rowid).
UPDATE audit_events SET chain = '' WHERE chain IS NULL;
