-- Issue 20: on PostgreSQL 0046 builds an index CONCURRENTLY and 0047 does the rest; on SQLite
-- 0046 did it all.
SELECT 1;
