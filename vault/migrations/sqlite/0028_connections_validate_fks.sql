-- Issue 20: on PostgreSQL the foreign keys of 0027 are validated here; SQLite checked the rows
-- as 0026 and 0027 copied them.
SELECT 1;
