-- Issue 20: the PostgreSQL twin validates the foreign key of 0036; SQLite checks it on rebuild.
SELECT 1;
