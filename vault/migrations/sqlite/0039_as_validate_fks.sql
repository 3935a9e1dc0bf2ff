-- Issue 20: the PostgreSQL twin validates the foreign keys of 0038; SQLite checks them on rebuild.
SELECT 1;
