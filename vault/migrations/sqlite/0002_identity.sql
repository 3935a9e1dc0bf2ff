-- Agent identity (issue 8): agents, their sessions, the session signing keys, the trusted
-- identity providers for On-Behalf-Of, and the strict per-workspace audit hash chain.
-- Kept column-for-column identical between migrations/sqlite and migrations/postgres.

CREATE TABLE agents (
    id                       TEXT PRIMARY KEY,
    workspace_id             TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name                     TEXT NOT NULL,
    scopes                   TEXT NOT NULL,
    max_session_ttl_seconds  BIGINT NOT NULL,
    credential_hash          TEXT NOT NULL,
    disabled_at              BIGINT,
    created_at               BIGINT NOT NULL,
    updated_at               BIGINT NOT NULL
);
CREATE INDEX agents_workspace ON agents(workspace_id);

-- The session token is a signed JWT; this row is what makes revocation immediate.
CREATE TABLE agent_sessions (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    agent_id      TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    subject       TEXT NOT NULL,
    user_subject  TEXT,
    user_issuer   TEXT,
    scopes        TEXT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX agent_sessions_agent ON agent_sessions(agent_id);

-- Private keys are sealed by the vault (AAD: signing_keys / - / kid / private_key).
CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    algorithm    TEXT NOT NULL,
    private_key  BLOB NOT NULL,
    public_jwk   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    retired_at   BIGINT
);

CREATE TABLE identity_providers (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    issuer        TEXT NOT NULL,
    jwks_url      TEXT,
    audience      TEXT,
    created_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX identity_providers_issuer ON identity_providers(workspace_id, issuer);

-- Who acted, for whom, queryable. `chain` names the hash chain a record belongs to
-- (`ws:<id>`, or `-` for records without a workspace); NULL for records written before it.
ALTER TABLE audit_events ADD COLUMN agent_id TEXT;
ALTER TABLE audit_events ADD COLUMN session_id TEXT;
ALTER TABLE audit_events ADD COLUMN user_subject TEXT;
ALTER TABLE audit_events ADD COLUMN chain TEXT;
CREATE INDEX audit_events_agent ON audit_events(agent_id);
CREATE INDEX audit_events_chain ON audit_events(chain, id);

-- The newest record of each chain: appends lock this row, so a chain never forks, and verify
-- compares it with the last record, so deleting the newest record is detected too.
CREATE TABLE audit_chain_heads (
    chain      TEXT PRIMARY KEY,
    last_id    BIGINT NOT NULL,
    last_hash  TEXT NOT NULL
);
