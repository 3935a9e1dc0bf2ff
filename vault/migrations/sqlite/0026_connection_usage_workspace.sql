-- Issue 20: `connection_usage` gets the distribution column, its key starts with it, and its
-- foreign key names the connection by (workspace_id, id). SQLite cannot change a key in place:
-- the table is rebuilt (nothing references it).
CREATE TABLE connection_usage_new (
    workspace_id   TEXT NOT NULL,
    connection_id  TEXT NOT NULL,
    principal      TEXT NOT NULL,
    last_used_at   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, connection_id, principal),
    FOREIGN KEY (workspace_id, connection_id) REFERENCES connections (workspace_id, id) ON DELETE CASCADE
);
INSERT INTO connection_usage_new (workspace_id, connection_id, principal, last_used_at)
    SELECT c.workspace_id, u.connection_id, u.principal, u.last_used_at
    FROM connection_usage u JOIN connections c ON c.id = u.connection_id;
DROP TABLE connection_usage;
ALTER TABLE connection_usage_new RENAME TO connection_usage;
