-- Issue 20: the PostgreSQL twin swaps the webhook outbox's primary keys and validates its
-- composite foreign keys; on SQLite 0040 rebuilt the tables with them.
SELECT 1;
