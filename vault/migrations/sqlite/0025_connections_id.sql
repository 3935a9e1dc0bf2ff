-- Issue 20: on PostgreSQL an index on `connections (id)` for id-only lookups once the primary
-- key moves (0027). On SQLite `id` stays the primary key: nothing to build.
SELECT 1;
