-- Nexus as the OAuth authorization server of remote MCP servers (issue 17, design 17 §3).
-- Kept column-for-column identical between migrations/sqlite and migrations/postgres.
-- Every secret (authorization code, refresh token, request id, CSRF token, login cookie,
-- client secret) is stored only as its SHA-256 in hex.

-- An MCP server registered in a workspace: tokens are minted for its `resource_uri`.
CREATE TABLE mcp_resources (
    id                        TEXT PRIMARY KEY,
    workspace_id              TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    resource_uri              TEXT NOT NULL UNIQUE,
    name                      TEXT NOT NULL,
    scopes                    TEXT NOT NULL,
    default_scopes            TEXT NOT NULL,
    access_token_ttl_seconds  BIGINT NOT NULL,
    created_at                BIGINT NOT NULL,
    disabled_at               BIGINT
);
CREATE INDEX mcp_resources_workspace ON mcp_resources(workspace_id);

-- OAuth clients: fetched Client ID Metadata Documents (kind `cimd`, cached until
-- `cache_expires_at`), dynamically registered clients (`dcr`) and pre-registered ones.
CREATE TABLE oauth_clients (
    client_id                   TEXT PRIMARY KEY,
    kind                        TEXT NOT NULL,
    metadata                    TEXT NOT NULL,
    redirect_uris               TEXT NOT NULL,
    grant_types                 TEXT NOT NULL,
    token_endpoint_auth_method  TEXT NOT NULL,
    client_secret_hash          TEXT,
    agent_id                    TEXT,
    workspace_id                TEXT,
    cache_expires_at            BIGINT,
    fetch_error                 TEXT,
    created_at                  BIGINT NOT NULL,
    updated_at                  BIGINT NOT NULL
);

-- People who log in at the authorization server; `id` is the access token's `sub`.
CREATE TABLE as_users (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    idp_issuer    TEXT NOT NULL,
    idp_subject   TEXT NOT NULL,
    display_name  TEXT,
    email         TEXT,
    created_at    BIGINT NOT NULL,
    UNIQUE (workspace_id, idp_issuer, idp_subject)
);

-- Browser login sessions (the cookie's value, hashed).
CREATE TABLE as_login_sessions (
    id_hash       TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    user_id       TEXT NOT NULL REFERENCES as_users(id) ON DELETE CASCADE,
    idp_id        TEXT,
    auth_time     BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);

-- A validated `/as/authorize` request waiting for login and consent.
CREATE TABLE oauth_authorization_requests (
    id_hash         TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    state           TEXT,
    code_challenge  TEXT NOT NULL,
    resource_id     TEXT NOT NULL REFERENCES mcp_resources(id) ON DELETE CASCADE,
    scopes          TEXT NOT NULL,
    prompt          TEXT,
    workspace_id    TEXT NOT NULL,
    csrf_hash       TEXT,
    expires_at      BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
);

CREATE TABLE oauth_authorization_codes (
    code_hash       TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    code_challenge  TEXT NOT NULL,
    resource_id     TEXT NOT NULL REFERENCES mcp_resources(id) ON DELETE CASCADE,
    workspace_id    TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    user_id         TEXT NOT NULL REFERENCES as_users(id) ON DELETE CASCADE,
    auth_time       BIGINT NOT NULL,
    family_id       TEXT,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT,
    created_at      BIGINT NOT NULL
);

-- One grant: the refresh tokens minted from one authorization code. `id` is the token `sid`.
CREATE TABLE oauth_token_families (
    id              TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL REFERENCES as_users(id) ON DELETE CASCADE,
    workspace_id    TEXT NOT NULL,
    resource_id     TEXT NOT NULL REFERENCES mcp_resources(id) ON DELETE CASCADE,
    scopes          TEXT NOT NULL,
    agent_id        TEXT,
    auth_time       BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    revoked_at      BIGINT,
    revoked_reason  TEXT
);

CREATE TABLE oauth_refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    family_id   TEXT NOT NULL REFERENCES oauth_token_families(id) ON DELETE CASCADE,
    generation  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX oauth_refresh_tokens_family ON oauth_refresh_tokens(family_id);

CREATE TABLE oauth_consents (
    workspace_id  TEXT NOT NULL,
    user_id       TEXT NOT NULL REFERENCES as_users(id) ON DELETE CASCADE,
    client_id     TEXT NOT NULL,
    resource_id   TEXT NOT NULL REFERENCES mcp_resources(id) ON DELETE CASCADE,
    scopes        TEXT NOT NULL,
    granted_at    BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, user_id, client_id, resource_id)
);

-- Assertion `jti`s seen (ID-JAG, client assertions): a replay is refused until `expires_at`.
CREATE TABLE oauth_assertion_jtis (
    issuer      TEXT NOT NULL,
    jti         TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (issuer, jti)
);
