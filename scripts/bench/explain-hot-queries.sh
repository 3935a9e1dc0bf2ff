#!/usr/bin/env bash
# EXPLAIN (ANALYZE, BUFFERS) of every query on the broker's resolve path and of the admin
# connection listing, prepared as the broker prepares them, against a seeded PostgreSQL
# database (vault example `seed`; see docs/operators/scaling.md). The statements the store
# builds (the resolve lookup, the audit append, the usage write) are taken from the store
# itself through the vault example `hot_statements`, so these plans are of what the broker
# sends; the simple key lookups are written out below, with the store's column list. Writes
# nothing that stays: the write statements run inside transactions that are rolled back.
#
#   scripts/bench/explain-hot-queries.sh postgres://postgres@127.0.0.1:55432/DB
#
# HOT_STATEMENTS: a built `hot_statements` example (default: built with cargo).
set -euo pipefail
URL="${1:?usage: $0 POSTGRES_URL (a database loaded by the seed example)}"
cd "$(dirname "$0")/../.."
if [ -n "${HOT_STATEMENTS:-}" ]; then
  STATEMENTS="$("$HOT_STATEMENTS")"
else
  STATEMENTS="$(cargo run -q -p nexus-vault --example hot_statements)"
fi
statement() {
  local sql
  sql="$(printf '%s\n' "$STATEMENTS" | awk -F '\t' -v n="$1" '$1 == n { print $2 }')"
  [ -n "$sql" ] || { echo "explain-hot-queries: the store has no statement named $1" >&2; exit 1; }
  printf '%s' "$sql"
}
LOOKUP="$(statement resolve_lookup)"
AUDIT_AFTER_HEAD="$(statement audit_append_after_head)"
AUDIT_AT_GENESIS="$(statement audit_append_at_genesis)"
USAGE_RECORD="$(statement usage_record)"
# A seeded workspace/provider pair and one of its connections.
read -r WS PROVIDER ID < <(psql "$URL" -Atq -F ' ' -c \
  "SELECT workspace_id, provider_name, id FROM connections ORDER BY workspace_id DESC, id LIMIT 1")
COLUMNS="$(statement connection_columns)"
echo "database: $(psql "$URL" -Atq -c "SELECT count(*) || ' connections, ' || (SELECT count(*) FROM workspaces) || ' workspaces' FROM connections")"
echo "workspace $WS, provider $PROVIDER, connection $ID"
# 16 records of one audit batch, one array per column in the statement's order (at, workspace,
# action, target, principal, outcome, request id, detail, prev hash, hash, agent, session, user,
# client request id); request ids are unique within a chain.
RECORDS=16
fill() { echo "array_fill($1, ARRAY[$RECORDS])"; }
REQUEST_IDS="ARRAY[$(seq -f "'explain_%g'" -s, 1 "$RECORDS")]"
NONE="$(fill NULL::text)"
AUDIT_ARGS="$(fill 0::bigint), $(fill "'$WS'::text"), $(fill "'token.issued'::text"), $(fill "'$PROVIDER'::text"), $(fill "'api_key:explain'::text"), $(fill "'ok'::text"), $REQUEST_IDS, $NONE, $(fill "'h'::text"), $(fill "'h'::text"), $NONE, $NONE, $NONE, $NONE"
psql "$URL" -q -v ON_ERROR_STOP=1 <<SQL
\echo '--- 1. resolve lookup: the connection of a (workspace, provider) and its provider (statement from the store)'
PREPARE lookup(text, text) AS $LOOKUP;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY OFF) EXECUTE lookup('$WS', '$PROVIDER');
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
\echo '--- 5. audit append after a known head: 16 records and the head moved by compare-and-set, one statement (from the store; rolled back here)'
BEGIN;
INSERT INTO audit_chain_heads (chain, last_id, last_hash) VALUES ('ws:$WS', 0, 'known') ON CONFLICT (chain) DO UPDATE SET last_hash = 'known';
PREPARE audit_after_head AS $AUDIT_AFTER_HEAD;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY OFF) EXECUTE audit_after_head('h16', 'ws:$WS', 'known', 'k', $AUDIT_ARGS);
ROLLBACK;
\echo '--- 5b. audit append starting a chain (creates its head row; from the store; rolled back here)'
BEGIN;
DELETE FROM audit_chain_heads WHERE chain = 'ws:explain-new';
PREPARE audit_at_genesis AS $AUDIT_AT_GENESIS;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY OFF) EXECUTE audit_at_genesis('h16', 'ws:explain-new', '', 'k', $AUDIT_ARGS);
ROLLBACK;
\echo '--- 5c. usage write: who used the connection, once a second per broker (from the store; one use; rolled back here)'
BEGIN;
PREPARE usage_record AS $USAGE_RECORD;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY OFF) EXECUTE usage_record(ARRAY['$WS'], ARRAY['$ID'], ARRAY['api_key:explain'], ARRAY[0::bigint]);
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
