-- Issue 20: the PostgreSQL twin builds an index CONCURRENTLY; on SQLite 0040 did the work.
SELECT 1;
