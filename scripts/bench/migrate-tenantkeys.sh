#!/usr/bin/env bash
# The distribution-ready key migrations of the audit log, identity and authorization-server
# tables (issue 20: 0030–0039) timed on a large PostgreSQL database while audit appends, session
# lookups and refresh-token rotations run against it. The companion of migrate-1m.sh (0024–0028).
#
#   scripts/bench/migrate-tenantkeys.sh POSTGRES_URL [AUDIT_RECORDS] [CLIENTS]
#
# POSTGRES_URL: a server (a database `nexus_migrate_tenantkeys` is created there and dropped at
# the end). Defaults: 1,000,000 audit records in 10,000 chains, 8 load clients.
#
# 1. Migrate a new database to 0029 (the files, applied as sqlx does) and fill it with SQL
#    (`generate_series`, not the seeding tool: the rows' contents do not matter to a key change,
#    only their number): AUDIT_RECORDS audit records across 10,000 workspace chains plus 1,000
#    chainless ones, 10,000 API keys and agents, 100,000 agent sessions, and per workspace an
#    authorization-server user, resource, login session, request, consent, ticket, identity
#    provider and login flow, 100,000 token families with 200,000 refresh tokens and 50,000
#    codes.
# 2. Start the load: `pgbench` clients each doing an audit append shaped like the broker's
#    (lock a chain head, insert a record, move the head), a session lookup and a refresh-token
#    write, logging every transaction's latency.
# 3. After 15 s of load, apply 0030–0039 the way sqlx does and time each; sample the longest lock
#    wait in `pg_stat_activity` every 100 ms; 15 s more load, then stop.
# 4. Print each migration's time, the longest lock wait, and the load's p50/p99/max before
#    (the floor) and during the migrations.
set -euo pipefail
SERVER="${1:?usage: $0 POSTGRES_URL [AUDIT_RECORDS] [CLIENTS]}"
N="${2:-1000000}"
CLIENTS="${3:-8}"
W=10000
DB=nexus_migrate_tenantkeys
. "$(dirname "$0")/lib/migrate-under-load.sh"
setup_database
for f in "$MIGRATIONS"/00[01]*.sql "$MIGRATIONS"/002*.sql; do apply "$f" 2>/dev/null; done
t0=$(now)
psql "$DB_URL" -1 <<SQL
INSERT INTO workspaces (id, created_at) SELECT 'w' || g, 1 FROM generate_series(0, $W - 1) g;
INSERT INTO audit_events (at, workspace_id, action, principal, outcome, request_id, prev_hash, hash, chain, mac_key)
  SELECT g, 'w' || (g % $W), 'token.issued', 'api_key:bench', 'ok', 'r' || g, md5(g::text), md5((g + 1)::text),
         'ws:w' || (g % $W), 'k1'
  FROM generate_series(1, $N) g;
INSERT INTO audit_events (at, action, principal, outcome, request_id)
  SELECT g, 'legacy', 'admin', 'ok', 'legacy-' || g FROM generate_series(1, 1000) g;
INSERT INTO audit_chain_heads (chain, last_id, last_hash)
  SELECT chain, max(id), md5(max(id)::text) FROM audit_events WHERE chain IS NOT NULL GROUP BY chain;
INSERT INTO api_keys (id, workspace_id, prefix, key_hash, created_at) SELECT 'k' || g, 'w' || g, 'p', 'h', 1 FROM generate_series(0, $W - 1) g;
INSERT INTO agents (id, workspace_id, name, scopes, max_session_ttl_seconds, credential_hash, created_at, updated_at)
  SELECT 'a' || g, 'w' || g, 'bot', '[]', 3600, 'h', 1, 1 FROM generate_series(0, $W - 1) g;
INSERT INTO agent_sessions (id, workspace_id, agent_id, subject, scopes, expires_at, created_at)
  SELECT 's' || g, 'w' || (g % $W), 'a' || (g % $W), 'a', '[]', 99999999999999, 1 FROM generate_series(0, 99999) g;
INSERT INTO as_users (id, workspace_id, idp_issuer, idp_subject, created_at) SELECT 'u' || g, 'w' || g, 'i', 's', 1 FROM generate_series(0, $W - 1) g;
INSERT INTO mcp_resources (id, workspace_id, resource_uri, name, scopes, default_scopes, access_token_ttl_seconds, created_at)
  SELECT 'r' || g, 'w' || g, 'https://mcp/' || g, 'm', '[]', '[]', 600, 1 FROM generate_series(0, $W - 1) g;
INSERT INTO identity_providers (id, workspace_id, issuer, created_at) SELECT 'i' || g, 'w' || g, 'https://idp', 1 FROM generate_series(0, $W - 1) g;
INSERT INTO idp_login_flows (state_hash, purpose, workspace_id, idp_id, nonce, binding_hash, redirect_uri, sealed, expires_at, created_at)
  SELECT 'f' || g, 'console', 'w' || g, 'i' || g, 'n', 'b', 'x', '\x00'::bytea, 9, 1 FROM generate_series(0, $W - 1) g;
INSERT INTO as_login_sessions (id_hash, workspace_id, user_id, auth_time, expires_at, created_at) SELECT 'l' || g, 'w' || g, 'u' || g, 1, 9, 1 FROM generate_series(0, $W - 1) g;
INSERT INTO oauth_authorization_requests (id_hash, client_id, redirect_uri, code_challenge, resource_id, scopes, workspace_id, expires_at, created_at)
  SELECT 'q' || g, 'c', 'x', 'ch', 'r' || g, '[]', 'w' || g, 9, 1 FROM generate_series(0, $W - 1) g;
INSERT INTO oauth_consents (workspace_id, user_id, client_id, resource_id, scopes, granted_at) SELECT 'w' || g, 'u' || g, 'c', 'r' || g, '[]', 1 FROM generate_series(0, $W - 1) g;
INSERT INTO mcp_connect_tickets (id, elicitation_id, workspace_id, user_id, provider_name, reason, created_at, expires_at)
  SELECT 't' || g, 'e' || g, 'w' || g, 'u' || g, 'p', 'r', 1, 9 FROM generate_series(0, $W - 1) g;
INSERT INTO oauth_token_families (id, client_id, user_id, workspace_id, resource_id, scopes, auth_time, created_at, last_used_at, expires_at)
  SELECT 'fam' || g, 'c', 'u' || (g % $W), 'w' || (g % $W), 'r' || (g % $W), '[]', 1, 1, 1, 9 FROM generate_series(0, 99999) g;
INSERT INTO oauth_refresh_tokens (token_hash, family_id, generation, created_at) SELECT md5(g::text), 'fam' || (g % 100000), g / 100000, 1 FROM generate_series(0, 199999) g;
INSERT INTO oauth_authorization_codes (code_hash, client_id, redirect_uri, code_challenge, resource_id, workspace_id, scopes, user_id, auth_time, expires_at, created_at)
  SELECT 'code' || g, 'c', 'x', 'ch', 'r' || (g % $W), 'w' || (g % $W), '[]', 'u' || (g % $W), 1, 9, 1 FROM generate_series(0, 49999) g;
SQL
psql "$DB_URL" -c "VACUUM (ANALYZE)" >/dev/null
echo "filled in $(echo "$(now) - $t0" | bc) s: $(psql "$DB_URL" -At -c "SELECT pg_size_pretty(pg_total_relation_size('audit_events'))") in audit_events" >&2

cat > "$WORK/tenant-load.sql" <<SQL
\set w random(0, $W - 1)
\set s random(0, 99999)
\set t random(0, 199999)
BEGIN;
SELECT last_id, last_hash FROM audit_chain_heads WHERE chain = 'ws:w' || :w FOR UPDATE;
INSERT INTO audit_events (at, workspace_id, action, principal, outcome, request_id, prev_hash, hash, chain, mac_key)
  VALUES (1, 'w' || :w, 'token.issued', 'api_key:bench', 'ok', gen_random_uuid()::text, 'p', 'h', 'ws:w' || :w, 'k1');
UPDATE audit_chain_heads SET last_id = lastval(), last_hash = 'h' WHERE chain = 'ws:w' || :w;
COMMIT;
SELECT id, agent_id, expires_at FROM agent_sessions WHERE id = 's' || :s;
UPDATE oauth_refresh_tokens SET used_at = 1 WHERE token_hash = md5(:t::text);
SQL
migrate_under_load "$WORK/tenant-load.sql" 0030-0039 "$CLIENTS" "$MIGRATIONS"/003*.sql
