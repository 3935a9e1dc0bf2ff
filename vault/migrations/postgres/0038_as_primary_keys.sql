-- no-transaction
-- Issue 20: the MCP authorization server's tables are keyed by workspace and name each other
-- by (workspace_id, …), so a grant, its family, its refresh tokens, its user and its resource
-- sit on one shard. `oauth_refresh_tokens` learns its workspace from its family.
--
-- These tables hold one row per user login, consent, authorization request, code, token
-- family and refresh-token rotation: far fewer than `connections` or `audit_events`, so their
-- new keys are built in place rather than CONCURRENTLY. To keep each lock short the file is
-- not one transaction: each step below is its own (`BEGIN … COMMIT`, `lock_timeout` 5 s), so a
-- table is locked only for its own key build (writes to it wait; reads go on), and every step
-- can run again after an interruption (`IF EXISTS` / `IF NOT EXISTS`). A deployment with large
-- AS tables can make the builds catalog-only: build each `*_workspace_key` index below first,
-- by hand, with `CREATE UNIQUE INDEX CONCURRENTLY` (refresh tokens: after adding and
-- backfilling the column in batches); `IF NOT EXISTS` then skips the build. Secrets presented
-- without their workspace (codes, refresh tokens, login cookies, authorization request ids,
-- ticket ids, OAuth callback states) keep a non-unique index on the hash or id alone; on a
-- sharded database those lookups fan out (docs/operators/scaling.md). Foreign keys are added
-- NOT VALID in the last step; 0039 validates them.

-- The old single-column foreign keys: they depend on the keys being replaced (catalog only).
BEGIN;
SET LOCAL lock_timeout = '5s';
ALTER TABLE as_login_sessions DROP CONSTRAINT IF EXISTS as_login_sessions_user_id_fkey;
ALTER TABLE mcp_connect_tickets DROP CONSTRAINT IF EXISTS mcp_connect_tickets_user_id_fkey;
ALTER TABLE oauth_authorization_codes DROP CONSTRAINT IF EXISTS oauth_authorization_codes_resource_id_fkey;
ALTER TABLE oauth_authorization_codes DROP CONSTRAINT IF EXISTS oauth_authorization_codes_user_id_fkey;
ALTER TABLE oauth_authorization_requests DROP CONSTRAINT IF EXISTS oauth_authorization_requests_resource_id_fkey;
ALTER TABLE oauth_consents DROP CONSTRAINT IF EXISTS oauth_consents_resource_id_fkey;
ALTER TABLE oauth_consents DROP CONSTRAINT IF EXISTS oauth_consents_user_id_fkey;
ALTER TABLE oauth_refresh_tokens DROP CONSTRAINT IF EXISTS oauth_refresh_tokens_family_id_fkey;
ALTER TABLE oauth_token_families DROP CONSTRAINT IF EXISTS oauth_token_families_resource_id_fkey;
ALTER TABLE oauth_token_families DROP CONSTRAINT IF EXISTS oauth_token_families_user_id_fkey;
-- (and this file's own, should it run again after its last step)
ALTER TABLE as_login_sessions DROP CONSTRAINT IF EXISTS as_login_sessions_user_fkey;
ALTER TABLE mcp_connect_tickets DROP CONSTRAINT IF EXISTS mcp_connect_tickets_user_fkey;
ALTER TABLE oauth_authorization_requests DROP CONSTRAINT IF EXISTS oauth_authorization_requests_resource_fkey;
ALTER TABLE oauth_authorization_codes DROP CONSTRAINT IF EXISTS oauth_authorization_codes_resource_fkey;
ALTER TABLE oauth_authorization_codes DROP CONSTRAINT IF EXISTS oauth_authorization_codes_user_fkey;
ALTER TABLE oauth_consents DROP CONSTRAINT IF EXISTS oauth_consents_resource_fkey;
ALTER TABLE oauth_consents DROP CONSTRAINT IF EXISTS oauth_consents_user_fkey;
ALTER TABLE oauth_token_families DROP CONSTRAINT IF EXISTS oauth_token_families_resource_fkey;
ALTER TABLE oauth_token_families DROP CONSTRAINT IF EXISTS oauth_token_families_user_fkey;
ALTER TABLE oauth_refresh_tokens DROP CONSTRAINT IF EXISTS oauth_refresh_tokens_family_fkey;
COMMIT;

-- oauth_refresh_tokens: the distribution column (catalog only), then its backfill from the
-- family in 16 batches (by the first hex digit of the token hash), each in an explicit
-- BEGIN … COMMIT (bare statements of one query string would share a transaction): a batch
-- holds row locks on 1/16 of the tokens, so a rotation waits for one batch at most, never for
-- the whole backfill. Any other rows (not hex, or written meanwhile) are caught in the key step below.
BEGIN;
SET LOCAL lock_timeout = '5s';
ALTER TABLE oauth_refresh_tokens ADD COLUMN IF NOT EXISTS workspace_id TEXT;
COMMIT;
BEGIN;
UPDATE oauth_refresh_tokens SET workspace_id = f.workspace_id FROM oauth_token_families f
    WHERE f.id = oauth_refresh_tokens.family_id AND oauth_refresh_tokens.workspace_id IS NULL
    AND left(oauth_refresh_tokens.token_hash, 1) = '0';
COMMIT;
BEGIN;
UPDATE oauth_refresh_tokens SET workspace_id = f.workspace_id FROM oauth_token_families f
    WHERE f.id = oauth_refresh_tokens.family_id AND oauth_refresh_tokens.workspace_id IS NULL
    AND left(oauth_refresh_tokens.token_hash, 1) = '1';
COMMIT;
BEGIN;
UPDATE oauth_refresh_tokens SET workspace_id = f.workspace_id FROM oauth_token_families f
    WHERE f.id = oauth_refresh_tokens.family_id AND oauth_refresh_tokens.workspace_id IS NULL
    AND left(oauth_refresh_tokens.token_hash, 1) = '2';
COMMIT;
BEGIN;
UPDATE oauth_refresh_tokens SET workspace_id = f.workspace_id FROM oauth_token_families f
    WHERE f.id = oauth_refresh_tokens.family_id AND oauth_refresh_tokens.workspace_id IS NULL
    AND left(oauth_refresh_tokens.token_hash, 1) = '3';
COMMIT;
BEGIN;
UPDATE oauth_refresh_tokens SET workspace_id = f.workspace_id FROM oauth_token_families f
    WHERE f.id = oauth_refresh_tokens.family_id AND oauth_refresh_tokens.workspace_id IS NULL
    AND left(oauth_refresh_tokens.token_hash, 1) = '4';
COMMIT;
BEGIN;
UPDATE oauth_refresh_tokens SET workspace_id = f.workspace_id FROM oauth_token_families f
    WHERE f.id = oauth_refresh_tokens.family_id AND oauth_refresh_tokens.workspace_id IS NULL
    AND left(oauth_refresh_tokens.token_hash, 1) = '5';
COMMIT;
BEGIN;
UPDATE oauth_refresh_tokens SET workspace_id = f.workspace_id FROM oauth_token_families f
    WHERE f.id = oauth_refresh_tokens.family_id AND oauth_refresh_tokens.workspace_id IS NULL
    AND left(oauth_refresh_tokens.token_hash, 1) = '6';
COMMIT;
BEGIN;
UPDATE oauth_refresh_tokens SET workspace_id = f.workspace_id FROM oauth_token_families f
    WHERE f.id = oauth_refresh_tokens.family_id AND oauth_refresh_tokens.workspace_id IS NULL
    AND left(oauth_refresh_tokens.token_hash, 1) = '7';
COMMIT;
BEGIN;
UPDATE oauth_refresh_tokens SET workspace_id = f.workspace_id FROM oauth_token_families f
    WHERE f.id = oauth_refresh_tokens.family_id AND oauth_refresh_tokens.workspace_id IS NULL
    AND left(oauth_refresh_tokens.token_hash, 1) = '8';
COMMIT;
BEGIN;
UPDATE oauth_refresh_tokens SET workspace_id = f.workspace_id FROM oauth_token_families f
    WHERE f.id = oauth_refresh_tokens.family_id AND oauth_refresh_tokens.workspace_id IS NULL
    AND left(oauth_refresh_tokens.token_hash, 1) = '9';
COMMIT;
BEGIN;
UPDATE oauth_refresh_tokens SET workspace_id = f.workspace_id FROM oauth_token_families f
    WHERE f.id = oauth_refresh_tokens.family_id AND oauth_refresh_tokens.workspace_id IS NULL
    AND left(oauth_refresh_tokens.token_hash, 1) = 'a';
COMMIT;
BEGIN;
UPDATE oauth_refresh_tokens SET workspace_id = f.workspace_id FROM oauth_token_families f
    WHERE f.id = oauth_refresh_tokens.family_id AND oauth_refresh_tokens.workspace_id IS NULL
    AND left(oauth_refresh_tokens.token_hash, 1) = 'b';
COMMIT;
BEGIN;
UPDATE oauth_refresh_tokens SET workspace_id = f.workspace_id FROM oauth_token_families f
    WHERE f.id = oauth_refresh_tokens.family_id AND oauth_refresh_tokens.workspace_id IS NULL
    AND left(oauth_refresh_tokens.token_hash, 1) = 'c';
COMMIT;
BEGIN;
UPDATE oauth_refresh_tokens SET workspace_id = f.workspace_id FROM oauth_token_families f
    WHERE f.id = oauth_refresh_tokens.family_id AND oauth_refresh_tokens.workspace_id IS NULL
    AND left(oauth_refresh_tokens.token_hash, 1) = 'd';
COMMIT;
BEGIN;
UPDATE oauth_refresh_tokens SET workspace_id = f.workspace_id FROM oauth_token_families f
    WHERE f.id = oauth_refresh_tokens.family_id AND oauth_refresh_tokens.workspace_id IS NULL
    AND left(oauth_refresh_tokens.token_hash, 1) = 'e';
COMMIT;
BEGIN;
UPDATE oauth_refresh_tokens SET workspace_id = f.workspace_id FROM oauth_token_families f
    WHERE f.id = oauth_refresh_tokens.family_id AND oauth_refresh_tokens.workspace_id IS NULL
    AND left(oauth_refresh_tokens.token_hash, 1) = 'f';
COMMIT;

-- New keys, each (workspace_id, old key), one table per transaction.
BEGIN;
SET LOCAL lock_timeout = '5s';
CREATE UNIQUE INDEX IF NOT EXISTS identity_providers_workspace_key ON identity_providers (workspace_id, id);
ALTER TABLE identity_providers DROP CONSTRAINT IF EXISTS identity_providers_pkey;
ALTER TABLE identity_providers ADD CONSTRAINT identity_providers_pkey PRIMARY KEY USING INDEX identity_providers_workspace_key;
CREATE INDEX IF NOT EXISTS identity_providers_id ON identity_providers (id);
COMMIT;

BEGIN;
SET LOCAL lock_timeout = '5s';
CREATE UNIQUE INDEX IF NOT EXISTS mcp_resources_workspace_key ON mcp_resources (workspace_id, id);
ALTER TABLE mcp_resources DROP CONSTRAINT IF EXISTS mcp_resources_pkey;
ALTER TABLE mcp_resources ADD CONSTRAINT mcp_resources_pkey PRIMARY KEY USING INDEX mcp_resources_workspace_key;
CREATE INDEX IF NOT EXISTS mcp_resources_id ON mcp_resources (id);
COMMIT;

BEGIN;
SET LOCAL lock_timeout = '5s';
CREATE UNIQUE INDEX IF NOT EXISTS as_users_workspace_key ON as_users (workspace_id, id);
ALTER TABLE as_users DROP CONSTRAINT IF EXISTS as_users_pkey;
ALTER TABLE as_users ADD CONSTRAINT as_users_pkey PRIMARY KEY USING INDEX as_users_workspace_key;
COMMIT;

BEGIN;
SET LOCAL lock_timeout = '5s';
CREATE UNIQUE INDEX IF NOT EXISTS as_login_sessions_workspace_key ON as_login_sessions (workspace_id, id_hash);
ALTER TABLE as_login_sessions DROP CONSTRAINT IF EXISTS as_login_sessions_pkey;
ALTER TABLE as_login_sessions ADD CONSTRAINT as_login_sessions_pkey PRIMARY KEY USING INDEX as_login_sessions_workspace_key;
CREATE INDEX IF NOT EXISTS as_login_sessions_id_hash ON as_login_sessions (id_hash);
COMMIT;

BEGIN;
SET LOCAL lock_timeout = '5s';
CREATE UNIQUE INDEX IF NOT EXISTS oauth_authorization_requests_workspace_key ON oauth_authorization_requests (workspace_id, id_hash);
ALTER TABLE oauth_authorization_requests DROP CONSTRAINT IF EXISTS oauth_authorization_requests_pkey;
ALTER TABLE oauth_authorization_requests ADD CONSTRAINT oauth_authorization_requests_pkey PRIMARY KEY USING INDEX oauth_authorization_requests_workspace_key;
CREATE INDEX IF NOT EXISTS oauth_authorization_requests_id_hash ON oauth_authorization_requests (id_hash);
COMMIT;

BEGIN;
SET LOCAL lock_timeout = '5s';
CREATE INDEX IF NOT EXISTS oauth_authorization_codes_code_hash ON oauth_authorization_codes (code_hash);
COMMIT;
BEGIN;
SET LOCAL lock_timeout = '5s';
CREATE UNIQUE INDEX IF NOT EXISTS oauth_authorization_codes_workspace_key ON oauth_authorization_codes (workspace_id, code_hash);
ALTER TABLE oauth_authorization_codes DROP CONSTRAINT IF EXISTS oauth_authorization_codes_pkey;
ALTER TABLE oauth_authorization_codes ADD CONSTRAINT oauth_authorization_codes_pkey PRIMARY KEY USING INDEX oauth_authorization_codes_workspace_key;
COMMIT;

BEGIN;
SET LOCAL lock_timeout = '5s';
CREATE INDEX IF NOT EXISTS oauth_token_families_id ON oauth_token_families (id);
COMMIT;
BEGIN;
SET LOCAL lock_timeout = '5s';
CREATE UNIQUE INDEX IF NOT EXISTS oauth_token_families_workspace_key ON oauth_token_families (workspace_id, id);
ALTER TABLE oauth_token_families DROP CONSTRAINT IF EXISTS oauth_token_families_pkey;
ALTER TABLE oauth_token_families ADD CONSTRAINT oauth_token_families_pkey PRIMARY KEY USING INDEX oauth_token_families_workspace_key;
COMMIT;

-- Both new indexes first, each in its own transaction (writes to the tokens wait for one
-- build, reads go on; NULLs are allowed in a unique index, so the key can be built before the
-- column is NOT NULL), then the swap, which holds ACCESS EXCLUSIVE only for the NOT NULL check.
BEGIN;
SET LOCAL lock_timeout = '5s';
CREATE INDEX IF NOT EXISTS oauth_refresh_tokens_token_hash ON oauth_refresh_tokens (token_hash);
COMMIT;
BEGIN;
SET LOCAL lock_timeout = '5s';
CREATE UNIQUE INDEX IF NOT EXISTS oauth_refresh_tokens_workspace_key ON oauth_refresh_tokens (workspace_id, token_hash);
COMMIT;
BEGIN;
SET LOCAL lock_timeout = '5s';
-- Tokens the batches missed (written since by an older broker in a rolling upgrade): few,
-- and the new key's index finds them (workspace_id IS NULL).
UPDATE oauth_refresh_tokens SET workspace_id = f.workspace_id
    FROM oauth_token_families f WHERE f.id = oauth_refresh_tokens.family_id
    AND oauth_refresh_tokens.workspace_id IS NULL;
DELETE FROM oauth_refresh_tokens WHERE workspace_id IS NULL;
ALTER TABLE oauth_refresh_tokens ALTER COLUMN workspace_id SET NOT NULL;
ALTER TABLE oauth_refresh_tokens DROP CONSTRAINT IF EXISTS oauth_refresh_tokens_pkey;
ALTER TABLE oauth_refresh_tokens ADD CONSTRAINT oauth_refresh_tokens_pkey PRIMARY KEY USING INDEX oauth_refresh_tokens_workspace_key;
COMMIT;

BEGIN;
SET LOCAL lock_timeout = '5s';
CREATE UNIQUE INDEX IF NOT EXISTS mcp_connect_tickets_workspace_key ON mcp_connect_tickets (workspace_id, id);
ALTER TABLE mcp_connect_tickets DROP CONSTRAINT IF EXISTS mcp_connect_tickets_pkey;
ALTER TABLE mcp_connect_tickets ADD CONSTRAINT mcp_connect_tickets_pkey PRIMARY KEY USING INDEX mcp_connect_tickets_workspace_key;
CREATE INDEX IF NOT EXISTS mcp_connect_tickets_id ON mcp_connect_tickets (id);
ALTER TABLE mcp_connect_tickets DROP CONSTRAINT IF EXISTS mcp_connect_tickets_elicitation_id_key;
CREATE UNIQUE INDEX IF NOT EXISTS mcp_connect_tickets_elicitation ON mcp_connect_tickets (workspace_id, elicitation_id);
COMMIT;

-- The two OAuth callback states (a provider connection's, an identity provider login's):
-- the callback presents the state alone, so each keeps a non-unique index on its hash.
BEGIN;
SET LOCAL lock_timeout = '5s';
CREATE UNIQUE INDEX IF NOT EXISTS pending_authorizations_workspace_key ON pending_authorizations (workspace_id, state_hash);
ALTER TABLE pending_authorizations DROP CONSTRAINT IF EXISTS pending_authorizations_pkey;
ALTER TABLE pending_authorizations ADD CONSTRAINT pending_authorizations_pkey PRIMARY KEY USING INDEX pending_authorizations_workspace_key;
CREATE INDEX IF NOT EXISTS pending_authorizations_state_hash ON pending_authorizations (state_hash);
COMMIT;

BEGIN;
SET LOCAL lock_timeout = '5s';
CREATE UNIQUE INDEX IF NOT EXISTS idp_login_flows_workspace_key ON idp_login_flows (workspace_id, state_hash);
ALTER TABLE idp_login_flows DROP CONSTRAINT IF EXISTS idp_login_flows_pkey;
ALTER TABLE idp_login_flows ADD CONSTRAINT idp_login_flows_pkey PRIMARY KEY USING INDEX idp_login_flows_workspace_key;
CREATE INDEX IF NOT EXISTS idp_login_flows_state_hash ON idp_login_flows (state_hash);
COMMIT;

-- Composite foreign keys between tenant tables, NOT VALID (catalog only).
BEGIN;
SET LOCAL lock_timeout = '5s';
ALTER TABLE as_login_sessions ADD CONSTRAINT as_login_sessions_user_fkey
    FOREIGN KEY (workspace_id, user_id) REFERENCES as_users (workspace_id, id) ON DELETE CASCADE NOT VALID;
ALTER TABLE mcp_connect_tickets ADD CONSTRAINT mcp_connect_tickets_user_fkey
    FOREIGN KEY (workspace_id, user_id) REFERENCES as_users (workspace_id, id) ON DELETE CASCADE NOT VALID;
ALTER TABLE oauth_authorization_requests ADD CONSTRAINT oauth_authorization_requests_resource_fkey
    FOREIGN KEY (workspace_id, resource_id) REFERENCES mcp_resources (workspace_id, id) ON DELETE CASCADE NOT VALID;
ALTER TABLE oauth_authorization_codes ADD CONSTRAINT oauth_authorization_codes_resource_fkey
    FOREIGN KEY (workspace_id, resource_id) REFERENCES mcp_resources (workspace_id, id) ON DELETE CASCADE NOT VALID;
ALTER TABLE oauth_authorization_codes ADD CONSTRAINT oauth_authorization_codes_user_fkey
    FOREIGN KEY (workspace_id, user_id) REFERENCES as_users (workspace_id, id) ON DELETE CASCADE NOT VALID;
ALTER TABLE oauth_consents ADD CONSTRAINT oauth_consents_resource_fkey
    FOREIGN KEY (workspace_id, resource_id) REFERENCES mcp_resources (workspace_id, id) ON DELETE CASCADE NOT VALID;
ALTER TABLE oauth_consents ADD CONSTRAINT oauth_consents_user_fkey
    FOREIGN KEY (workspace_id, user_id) REFERENCES as_users (workspace_id, id) ON DELETE CASCADE NOT VALID;
ALTER TABLE oauth_token_families ADD CONSTRAINT oauth_token_families_resource_fkey
    FOREIGN KEY (workspace_id, resource_id) REFERENCES mcp_resources (workspace_id, id) ON DELETE CASCADE NOT VALID;
ALTER TABLE oauth_token_families ADD CONSTRAINT oauth_token_families_user_fkey
    FOREIGN KEY (workspace_id, user_id) REFERENCES as_users (workspace_id, id) ON DELETE CASCADE NOT VALID;
ALTER TABLE oauth_refresh_tokens ADD CONSTRAINT oauth_refresh_tokens_family_fkey
    FOREIGN KEY (workspace_id, family_id) REFERENCES oauth_token_families (workspace_id, id) ON DELETE CASCADE NOT VALID;
COMMIT;
