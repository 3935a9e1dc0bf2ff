-- Issue 20: the MCP authorization server's tables name each other by (workspace_id, …), as on
-- PostgreSQL, and `oauth_refresh_tokens` learns its workspace from its family. On SQLite
-- (never sharded) the old keys stay; the parents get unique (workspace_id, id) indexes for the
-- composite foreign keys to reference, and the leaf tables are rebuilt with those keys
-- (SQLite cannot change a foreign key in place; nothing references them).
-- `oauth_token_families` is referenced by the refresh tokens: rebuilding it would cascade-
-- delete them (foreign keys are on during migrations), so on SQLite its own foreign keys to
-- `as_users` and `mcp_resources` stay single-column.
CREATE UNIQUE INDEX IF NOT EXISTS as_users_workspace_key ON as_users (workspace_id, id);
CREATE UNIQUE INDEX IF NOT EXISTS mcp_resources_workspace_key ON mcp_resources (workspace_id, id);
CREATE UNIQUE INDEX IF NOT EXISTS oauth_token_families_workspace_key ON oauth_token_families (workspace_id, id);

CREATE TABLE as_login_sessions_new (
    id_hash       TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    idp_id        TEXT,
    auth_time     BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    FOREIGN KEY (workspace_id, user_id) REFERENCES as_users (workspace_id, id) ON DELETE CASCADE
);
INSERT INTO as_login_sessions_new (id_hash, workspace_id, user_id, idp_id, auth_time, expires_at, created_at)
    SELECT id_hash, workspace_id, user_id, idp_id, auth_time, expires_at, created_at FROM as_login_sessions;
DROP TABLE as_login_sessions;
ALTER TABLE as_login_sessions_new RENAME TO as_login_sessions;

CREATE TABLE oauth_authorization_requests_new (
    id_hash         TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    state           TEXT,
    code_challenge  TEXT NOT NULL,
    resource_id     TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    prompt          TEXT,
    workspace_id    TEXT NOT NULL,
    csrf_hash       TEXT,
    expires_at      BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    FOREIGN KEY (workspace_id, resource_id) REFERENCES mcp_resources (workspace_id, id) ON DELETE CASCADE
);
INSERT INTO oauth_authorization_requests_new (id_hash, client_id, redirect_uri, state, code_challenge,
        resource_id, scopes, prompt, workspace_id, csrf_hash, expires_at, created_at)
    SELECT id_hash, client_id, redirect_uri, state, code_challenge,
        resource_id, scopes, prompt, workspace_id, csrf_hash, expires_at, created_at
    FROM oauth_authorization_requests;
DROP TABLE oauth_authorization_requests;
ALTER TABLE oauth_authorization_requests_new RENAME TO oauth_authorization_requests;

CREATE TABLE oauth_authorization_codes_new (
    code_hash       TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    code_challenge  TEXT NOT NULL,
    resource_id     TEXT NOT NULL,
    workspace_id    TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    auth_time       BIGINT NOT NULL,
    family_id       TEXT,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT,
    created_at      BIGINT NOT NULL,
    FOREIGN KEY (workspace_id, resource_id) REFERENCES mcp_resources (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, user_id) REFERENCES as_users (workspace_id, id) ON DELETE CASCADE
);
INSERT INTO oauth_authorization_codes_new (code_hash, client_id, redirect_uri, code_challenge, resource_id,
        workspace_id, scopes, user_id, auth_time, family_id, expires_at, used_at, created_at)
    SELECT code_hash, client_id, redirect_uri, code_challenge, resource_id,
        workspace_id, scopes, user_id, auth_time, family_id, expires_at, used_at, created_at
    FROM oauth_authorization_codes;
DROP TABLE oauth_authorization_codes;
ALTER TABLE oauth_authorization_codes_new RENAME TO oauth_authorization_codes;

CREATE TABLE oauth_refresh_tokens_new (
    token_hash    TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    family_id     TEXT NOT NULL,
    generation    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    used_at       BIGINT,
    FOREIGN KEY (workspace_id, family_id) REFERENCES oauth_token_families (workspace_id, id) ON DELETE CASCADE
);
INSERT INTO oauth_refresh_tokens_new (token_hash, workspace_id, family_id, generation, created_at, used_at)
    SELECT t.token_hash, f.workspace_id, t.family_id, t.generation, t.created_at, t.used_at
    FROM oauth_refresh_tokens t JOIN oauth_token_families f ON f.id = t.family_id;
DROP TABLE oauth_refresh_tokens;
ALTER TABLE oauth_refresh_tokens_new RENAME TO oauth_refresh_tokens;
CREATE INDEX oauth_refresh_tokens_family ON oauth_refresh_tokens (workspace_id, family_id);

CREATE TABLE oauth_consents_new (
    workspace_id  TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    client_id     TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    granted_at    BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, user_id, client_id, resource_id),
    FOREIGN KEY (workspace_id, user_id) REFERENCES as_users (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, resource_id) REFERENCES mcp_resources (workspace_id, id) ON DELETE CASCADE
);
INSERT INTO oauth_consents_new (workspace_id, user_id, client_id, resource_id, scopes, granted_at)
    SELECT workspace_id, user_id, client_id, resource_id, scopes, granted_at FROM oauth_consents;
DROP TABLE oauth_consents;
ALTER TABLE oauth_consents_new RENAME TO oauth_consents;

CREATE TABLE mcp_connect_tickets_new (
    id              TEXT PRIMARY KEY,
    elicitation_id  TEXT NOT NULL,
    workspace_id    TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    provider_name   TEXT NOT NULL,
    reason          TEXT NOT NULL,
    -- The one-time CSRF token of the ticket's login form (SHA-256), when one was shown.
    csrf_hash       TEXT,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    consumed_at     BIGINT,
    UNIQUE (workspace_id, elicitation_id),
    FOREIGN KEY (workspace_id, user_id) REFERENCES as_users (workspace_id, id) ON DELETE CASCADE
);
INSERT INTO mcp_connect_tickets_new (id, elicitation_id, workspace_id, user_id, provider_name, reason,
        csrf_hash, created_at, expires_at, consumed_at)
    SELECT id, elicitation_id, workspace_id, user_id, provider_name, reason,
        csrf_hash, created_at, expires_at, consumed_at
    FROM mcp_connect_tickets;
DROP TABLE mcp_connect_tickets;
ALTER TABLE mcp_connect_tickets_new RENAME TO mcp_connect_tickets;
CREATE INDEX mcp_connect_tickets_user
    ON mcp_connect_tickets (workspace_id, user_id, provider_name, expires_at);
