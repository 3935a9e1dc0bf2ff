-- no-transaction
-- An authorization code remembers that it was presented again after it was spent
-- (`replayed_at`), so the token family of the exchange that spent it is refused when the replay
-- lands before that family is stored (RFC 6749 §4.1.2). Nullable, no default: a catalog-only
-- change, no table rewrite. `lock_timeout` 5 s: a busy table fails the migration, the broker
-- exits, start it again; `IF NOT EXISTS` lets it run again.
BEGIN;
SET LOCAL lock_timeout = '5s';
ALTER TABLE oauth_authorization_codes ADD COLUMN IF NOT EXISTS replayed_at BIGINT;
COMMIT;
