-- Issue 20: a session names its agent by (workspace_id, agent_id), as on PostgreSQL. SQLite
-- cannot change a foreign key in place: the table is rebuilt (nothing references it).
CREATE TABLE agent_sessions_new (
    id                TEXT PRIMARY KEY,
    workspace_id      TEXT NOT NULL,
    agent_id          TEXT NOT NULL,
    subject           TEXT NOT NULL,
    user_subject      TEXT,
    user_issuer       TEXT,
    scopes            TEXT NOT NULL,
    expires_at        BIGINT NOT NULL,
    revoked_at        BIGINT,
    created_at        BIGINT NOT NULL,
    agent_generation  BIGINT NOT NULL DEFAULT 0,
    FOREIGN KEY (workspace_id, agent_id) REFERENCES agents (workspace_id, id) ON DELETE CASCADE
);
INSERT INTO agent_sessions_new (id, workspace_id, agent_id, subject, user_subject, user_issuer,
                                scopes, expires_at, revoked_at, created_at, agent_generation)
    SELECT id, workspace_id, agent_id, subject, user_subject, user_issuer,
           scopes, expires_at, revoked_at, created_at, agent_generation
    FROM agent_sessions;
DROP TABLE agent_sessions;
ALTER TABLE agent_sessions_new RENAME TO agent_sessions;
CREATE INDEX agent_sessions_agent ON agent_sessions (agent_id);
