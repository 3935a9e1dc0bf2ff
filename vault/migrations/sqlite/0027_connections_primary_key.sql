-- Issue 20: `pending_authorizations` names its connection by (workspace_id, id), as on
-- PostgreSQL. Rebuilt (nothing references it); the connections' key itself stays `id` on
-- SQLite (see 0024).
CREATE TABLE pending_authorizations_new (
    state_hash     TEXT PRIMARY KEY,
    connection_id  TEXT NOT NULL,
    workspace_id   TEXT NOT NULL,
    provider_name  TEXT NOT NULL,
    code_verifier  BLOB,
    nonce          TEXT,
    redirect_uri   TEXT NOT NULL,
    return_url     TEXT,
    scopes         TEXT NOT NULL,
    expires_at     BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    FOREIGN KEY (workspace_id, connection_id) REFERENCES connections (workspace_id, id) ON DELETE CASCADE
);
INSERT INTO pending_authorizations_new
    SELECT state_hash, connection_id, workspace_id, provider_name, code_verifier, nonce,
           redirect_uri, return_url, scopes, expires_at, created_at
    FROM pending_authorizations;
DROP TABLE pending_authorizations;
ALTER TABLE pending_authorizations_new RENAME TO pending_authorizations;
