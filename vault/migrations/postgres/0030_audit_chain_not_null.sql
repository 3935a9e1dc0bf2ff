-- Issue 20, distribution-ready schema (docs/operators/scaling.md "Path to a sharded
-- PostgreSQL"): the audit tables are distributed by `chain` (`ws:<id>` per workspace, `-` for
-- records without one), the unit of appending, locking and verification; `audit_chain_heads`
-- and `audit_chain_anchors` are already keyed by it. `audit_events` gets the key
-- (chain, id), so `chain` must be NOT NULL. Records written before migration 0002 have no
-- chain (they were never linked): they get the empty chain '', which no head, anchor, verify
-- or re-key walk names. The NULLs are found through `audit_events_chain (chain, id)`, so the
-- UPDATE touches only them. SET NOT NULL would scan the table under ACCESS EXCLUSIVE: a CHECK
-- added NOT VALID here (catalog only) and validated in 0034 (SHARE UPDATE EXCLUSIVE) lets
-- PostgreSQL skip that scan.
SET LOCAL lock_timeout = '5s';
UPDATE audit_events SET chain = '' WHERE chain IS NULL;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_chain_present CHECK (chain IS NOT NULL) NOT VALID;
