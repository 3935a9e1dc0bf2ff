-- Issue 20: the PostgreSQL twin swaps the key of audit_events to (chain, id); nothing to do on SQLite.
SELECT 1;
