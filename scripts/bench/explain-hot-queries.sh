#!/usr/bin/env bash
# EXPLAIN (ANALYZE, BUFFERS) of every query on the broker's resolve path and of the admin
# connection listing, as the broker sends them (the statements of vault/src/store/, prepared),
# against a seeded PostgreSQL database (vault example `seed`; see docs/operators/scaling.md).
# Writes nothing that stays: the audit statements run inside a transaction that is rolled back.
#
#   scripts/bench/explain-hot-queries.sh postgres://postgres@127.0.0.1:55432/DB
set -euo pipefail
URL="${1:?usage: $0 POSTGRES_URL (a database loaded by the seed example)}"
# A seeded workspace/provider pair and one of its connections.
read -r WS PROVIDER ID < <(psql "$URL" -Atq -F ' ' -c \
  "SELECT workspace_id, provider_name, id FROM connections ORDER BY workspace_id DESC, id LIMIT 1")
COLUMNS="id, workspace_id, provider_name, user_id, status, scopes, access_token, access_expires_at, refresh_token, credentials, token_type, version, last_refresh_at, last_error, created_at, updated_at"
echo "database: $(psql "$URL" -Atq -c "SELECT count(*) || ' connections, ' || (SELECT count(*) FROM workspaces) || ' workspaces' FROM connections")"
echo "workspace $WS, provider $PROVIDER, connection $ID"
psql "$URL" -q -v ON_ERROR_STOP=1 <<SQL
\echo '--- 1. find_connection_for (resolve by workspace and provider)'
PREPARE find_for(text, text) AS SELECT $COLUMNS FROM connections WHERE workspace_id = \$1 AND provider_name = \$2 AND status <> 'revoked' ORDER BY CASE WHEN status = 'active' THEN 0 ELSE 1 END, updated_at DESC, id LIMIT 1;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY OFF) EXECUTE find_for('$WS', '$PROVIDER');
\echo '--- 1b. find_connection_for with its provider (what resolve sends since session 6: one query)'
PREPARE find_with(text, text) AS SELECT c.id, c.status, c.access_token, c.access_expires_at, c.updated_at, p.id AS p_id, p.spec AS p_spec, p.client_secret IS NOT NULL AS p_has_secret, p.created_at AS p_created_at, p.updated_at AS p_updated_at FROM connections c LEFT JOIN providers p ON p.name = c.provider_name WHERE c.workspace_id = \$1 AND c.provider_name = \$2 AND c.status <> 'revoked' AND c.owner_kind IS NULL ORDER BY CASE WHEN c.status = 'active' THEN 0 ELSE 1 END, c.updated_at DESC, c.id LIMIT 1;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY OFF) EXECUTE find_with('$WS', '$PROVIDER');
\echo '--- 2. get_connection (resolve by id, refresh re-read)'
PREPARE get_conn(text, text) AS SELECT $COLUMNS FROM connections WHERE workspace_id = \$1 AND id = \$2;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY OFF) EXECUTE get_conn('$WS', '$ID');
\echo '--- 3. get_provider'
PREPARE get_provider(text) AS SELECT id, spec, client_secret IS NOT NULL AS has_secret, created_at, updated_at FROM providers WHERE name = \$1;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY OFF) EXECUTE get_provider('$PROVIDER');
\echo '--- 4. refresh: lock_connection'
BEGIN;
PREPARE lock_conn(text, text) AS SELECT $COLUMNS FROM connections WHERE workspace_id = \$1 AND id = \$2 FOR UPDATE;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY OFF) EXECUTE lock_conn('$WS', '$ID');
ROLLBACK;
\echo '--- 5. audit group commit (one transaction per batch; rolled back here)'
BEGIN;
INSERT INTO audit_chain_heads (chain, last_id, last_hash) VALUES ('ws:$WS', 0, '') ON CONFLICT (chain) DO NOTHING;
PREPARE head(text) AS SELECT last_hash FROM audit_chain_heads WHERE chain = \$1 FOR UPDATE;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY OFF) EXECUTE head('ws:$WS');
PREPARE ids(bigint) AS SELECT nextval(pg_get_serial_sequence('audit_events', 'id')) AS id FROM generate_series(1, \$1);
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY OFF) EXECUTE ids(16);
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY OFF) INSERT INTO audit_events (id, at, workspace_id, action, target, principal, outcome, request_id, detail, prev_hash, hash, agent_id, session_id, user_subject, chain, client_request_id, mac_key)
  SELECT nextval(pg_get_serial_sequence('audit_events', 'id')), 0, '$WS', 'token.issued', '$PROVIDER', 'api_key:k', 'ok', 'req_' || g, NULL, '', 'h' || g, NULL, NULL, NULL, 'ws:$WS', NULL, 'k' FROM generate_series(1, 16) g;
PREPARE move_head(bigint, text, text) AS UPDATE audit_chain_heads SET last_id = \$1, last_hash = \$2 WHERE chain = \$3;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY OFF) EXECUTE move_head(1, 'h', 'ws:$WS');
ROLLBACK;
\echo '--- 5b. audit append after a known head (one autocommit statement; rolled back here)'
BEGIN;
INSERT INTO audit_chain_heads (chain, last_id, last_hash) VALUES ('ws:$WS', 0, 'known') ON CONFLICT (chain) DO UPDATE SET last_hash = 'known';
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY OFF) WITH ids AS (SELECT nextval(pg_get_serial_sequence('audit_events', 'id')) AS id FROM generate_series(1, 2)),
  ranked AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM ids),
  head AS (UPDATE audit_chain_heads SET last_id = (SELECT max(id) FROM ids), last_hash = 'h2' WHERE chain = 'ws:$WS' AND last_hash = 'known' RETURNING chain)
  INSERT INTO audit_events (id, at, workspace_id, action, target, principal, outcome, request_id, detail, prev_hash, hash, agent_id, session_id, user_subject, chain, client_request_id, mac_key)
  SELECT ranked.id, v.at, v.ws, 'token.issued', '$PROVIDER', 'api_key:k', 'ok', v.req, NULL, v.prev, v.hash, NULL, NULL, NULL, 'ws:$WS', NULL, 'k'
  FROM (VALUES (1, 0::bigint, '$WS', 'req_x1', 'known', 'h1'), (2, 0::bigint, '$WS', 'req_x2', 'h1', 'h2')) AS v(n, at, ws, req, prev, hash)
  JOIN ranked ON ranked.n = v.n WHERE EXISTS (SELECT 1 FROM head);
ROLLBACK;
\echo '--- 6. admin listing of a workspace''s connections (keyset order)'
PREPARE list_conn(text, bigint, text, bigint) AS SELECT $COLUMNS FROM connections WHERE workspace_id = \$1 AND (\$2 IS NULL OR (created_at, id) > (\$2, \$3)) ORDER BY created_at, id LIMIT \$4;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY OFF) EXECUTE list_conn('$WS', NULL, NULL, 9223372036854775807);
\echo '--- 6b. one keyset page of that listing (limit 50 after a cursor)'
PREPARE page_conn(text, bigint, text, bigint) AS SELECT $COLUMNS FROM connections WHERE workspace_id = \$1 AND (\$2 IS NULL OR (created_at, id) > (\$2, \$3)) ORDER BY created_at, id LIMIT \$4;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY OFF) EXECUTE page_conn('$WS', 0, '', 50);
\echo '--- 7. API key check (gateway key-cache miss)'
PREPARE key(text) AS SELECT workspace_id, key_hash, revoked_at FROM api_keys WHERE id = \$1;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY OFF) EXECUTE key('key_missing');
SQL
