-- Connect tickets (design 17 §5.4): a link an MCP server hands its user (URL-mode elicitation)
-- when their upstream connection is missing or must be authorized again. The ticket names the
-- user it was made for: opening it needs that user's login session at the authorization server
-- (another account is refused), so the id alone authorizes nothing. `elicitation_id` is the
-- separate, stable id of the elicitation. One live ticket per (workspace, user, provider) is
-- reused; `consumed_at` is set when the connection it led to is active.
-- A new, empty table: nothing to build CONCURRENTLY.
CREATE TABLE mcp_connect_tickets (
    id              TEXT PRIMARY KEY,
    elicitation_id  TEXT NOT NULL UNIQUE,
    workspace_id    TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL REFERENCES as_users(id) ON DELETE CASCADE,
    provider_name   TEXT NOT NULL,
    reason          TEXT NOT NULL,
    -- The one-time CSRF token of the ticket's login form (SHA-256), when one was shown.
    csrf_hash       TEXT,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    consumed_at     BIGINT
);
CREATE INDEX mcp_connect_tickets_user
    ON mcp_connect_tickets (workspace_id, user_id, provider_name, expires_at);
