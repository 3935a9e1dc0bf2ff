-- Issue 20: validate the foreign keys 0027 added NOT VALID. VALIDATE scans the referencing
-- tables under SHARE UPDATE EXCLUSIVE (reads and writes go on) and takes only ROW SHARE on
-- `connections`.
ALTER TABLE pending_authorizations VALIDATE CONSTRAINT pending_authorizations_connection_fkey;
ALTER TABLE connection_usage VALIDATE CONSTRAINT connection_usage_connection_fkey;
