-- Issue 20: the PostgreSQL twin indexes audit_events (id) for the key swap of 0034; on SQLite id stays the key.
SELECT 1;
