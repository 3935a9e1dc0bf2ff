-- Browser login through the identity providers of `nexus idp add` (design 17 §5.1, design 18 §4):
-- the OpenID Connect client the broker signs people in with, and who of them may use the console.
-- The client secret is sealed (AAD identity_providers/{ws}/{id}/login_client_secret), never listed.
ALTER TABLE identity_providers ADD COLUMN login_client_id TEXT;
ALTER TABLE identity_providers ADD COLUMN login_client_secret BLOB;
-- 1 = operators may sign in to the console through this provider, under console_allow.
ALTER TABLE identity_providers ADD COLUMN console_access BIGINT NOT NULL DEFAULT 0;
-- JSON {"subjects":[…],"emails":[…],"groups":[…]}: who of the provider's users is an operator.
ALTER TABLE identity_providers ADD COLUMN console_allow TEXT;
-- The id_token claim that lists the user's groups (default `groups`).
ALTER TABLE identity_providers ADD COLUMN groups_claim TEXT;

-- One row per sign-in started at an identity provider, keyed by the SHA-256 of its `state`;
-- taken (deleted) by the callback. `sealed` holds the PKCE verifier and what to resume, sealed
-- (AAD idp_login_flows/-/{state_hash}/sealed); `binding_hash` is the SHA-256 of the browser
-- cookie set when the flow started (a callback from another browser is refused: login CSRF).
CREATE TABLE idp_login_flows (
    state_hash    TEXT PRIMARY KEY,
    purpose       TEXT NOT NULL,
    workspace_id  TEXT NOT NULL,
    idp_id        TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    binding_hash  TEXT NOT NULL,
    redirect_uri  TEXT NOT NULL,
    sealed        BLOB NOT NULL,
    expires_at    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX idp_login_flows_expires ON idp_login_flows (expires_at);
