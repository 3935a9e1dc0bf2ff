-- Issue 20: the PostgreSQL twin builds the (chain, id) key of audit_events; SQLite keeps id (see 0030).
SELECT 1;
