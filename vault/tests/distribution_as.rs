//! The distribution-ready keys of issue 20 for the MCP authorization server's tables and the
//! OAuth callback states (migrations 0038–0039) on both databases. A database left at migration
//! 0037 with one row in each of those tables — a user, a resource, a login session, an
//! authorization request, a code, a consent, a token family and its refresh token, a connect
//! ticket, an identity provider with a login flow, a connection's pending authorization —
//! upgrades with every row kept; the refresh token learns its workspace from its family and
//! still rotates, the code still redeems, the foreign keys carry the workspace and cascade, and
//! on PostgreSQL every one of these tables is keyed (workspace_id, …) with every foreign key
//! validated.

mod common;

use common::migrate::{count, exec, migrated_to, primary_key};
use nexus_vault::store::oauth_grants::{CodeRedemption, RefreshRotation};
use nexus_vault::store::pending::state_hash;
use nexus_vault::testing::{all_dbs, raw_pool, store_for};

const BEFORE: i64 = 37;

const TABLES: [&str; 12] = [
    "as_users",
    "mcp_resources",
    "as_login_sessions",
    "oauth_authorization_requests",
    "oauth_authorization_codes",
    "oauth_consents",
    "oauth_token_families",
    "oauth_refresh_tokens",
    "mcp_connect_tickets",
    "identity_providers",
    "idp_login_flows",
    "pending_authorizations",
];

/// One row in each table of `TABLES`, all in workspace `a`, written with the 0037 schema.
async fn fill(pool: &sqlx::AnyPool, postgres: bool) {
    let code = state_hash("code-1");
    let refresh = state_hash("rt-1");
    let sealed = if postgres { "'\\x00'::bytea" } else { "X'00'" };
    let rows = [
        "INSERT INTO workspaces (id, created_at) VALUES ('a', 1)".to_owned(),
        "INSERT INTO workspaces (id, created_at) VALUES ('b', 1)".to_owned(),
        "INSERT INTO as_users (id, workspace_id, idp_issuer, idp_subject, created_at) VALUES ('u1', 'a', 'https://idp', 'alice', 1)".to_owned(),
        "INSERT INTO mcp_resources (id, workspace_id, resource_uri, name, scopes, default_scopes, access_token_ttl_seconds, created_at) VALUES ('r1', 'a', 'https://mcp.example/a', 'mcp', '[\"read\"]', '[\"read\"]', 600, 1)".to_owned(),
        "INSERT INTO as_login_sessions (id_hash, workspace_id, user_id, auth_time, expires_at, created_at) VALUES ('ls1', 'a', 'u1', 1, 99999999999999, 1)".to_owned(),
        "INSERT INTO oauth_authorization_requests (id_hash, client_id, redirect_uri, code_challenge, resource_id, scopes, workspace_id, expires_at, created_at) VALUES ('rq1', 'c1', 'http://cb', 'ch', 'r1', '[\"read\"]', 'a', 99999999999999, 1)".to_owned(),
        format!("INSERT INTO oauth_authorization_codes (code_hash, client_id, redirect_uri, code_challenge, resource_id, workspace_id, scopes, user_id, auth_time, expires_at, created_at) VALUES ('{code}', 'c1', 'http://cb', 'ch', 'r1', 'a', '[\"read\"]', 'u1', 1, 99999999999999, 1)"),
        "INSERT INTO oauth_consents (workspace_id, user_id, client_id, resource_id, scopes, granted_at) VALUES ('a', 'u1', 'c1', 'r1', '[\"read\"]', 1)".to_owned(),
        "INSERT INTO oauth_token_families (id, client_id, user_id, workspace_id, resource_id, scopes, auth_time, created_at, last_used_at, expires_at) VALUES ('fam1', 'c1', 'u1', 'a', 'r1', '[\"read\"]', 1, 1, 1, 99999999999999)".to_owned(),
        format!("INSERT INTO oauth_refresh_tokens (token_hash, family_id, generation, created_at) VALUES ('{refresh}', 'fam1', 0, 1)"),
        "INSERT INTO mcp_connect_tickets (id, elicitation_id, workspace_id, user_id, provider_name, reason, created_at, expires_at) VALUES ('t1', 'e1', 'a', 'u1', 'github', 'missing', 1, 99999999999999)".to_owned(),
        "INSERT INTO identity_providers (id, workspace_id, issuer, created_at) VALUES ('idp1', 'a', 'https://idp', 1)".to_owned(),
        format!("INSERT INTO idp_login_flows (state_hash, purpose, workspace_id, idp_id, nonce, binding_hash, redirect_uri, sealed, expires_at, created_at) VALUES ('st1', 'console', 'a', 'idp1', 'n', 'b', 'http://cb', {sealed}, 99999999999999, 1)"),
        "INSERT INTO connections (id, workspace_id, provider_name, status, scopes, created_at, updated_at) VALUES ('conn_1', 'a', 'github', 'pending', '', 1, 1)".to_owned(),
        "INSERT INTO pending_authorizations (state_hash, connection_id, workspace_id, provider_name, redirect_uri, scopes, expires_at, created_at) VALUES ('ps1', 'conn_1', 'a', 'github', 'http://x', '', 9, 1)".to_owned(),
    ];
    for sql in &rows {
        exec(pool, sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

#[tokio::test]
async fn authorization_server_rows_survive_the_key_change() {
    for db in all_dbs().await {
        let l = db.label;
        let postgres = l == "postgres";
        let old = migrated_to(&db, BEFORE).await;
        fill(&old, postgres).await;
        old.close().await;

        let store = store_for(&db).await;
        let pool = raw_pool(&db.url).await;
        for table in TABLES {
            assert_eq!(
                count(&pool, &format!("SELECT COUNT(*) FROM {table}")).await,
                1,
                "{l}: {table} kept its row"
            );
        }
        assert_eq!(
            count(
                &pool,
                "SELECT COUNT(*) FROM oauth_refresh_tokens WHERE workspace_id = 'a'"
            )
            .await,
            1,
            "{l}: the refresh token learned its family's workspace"
        );

        // The grant still works: the code redeems, the refresh token rotates within its family.
        assert!(
            matches!(
                store.redeem_authorization_code("code-1").await.unwrap(),
                CodeRedemption::Fresh(c) if c.workspace_id == "a"
            ),
            "{l}"
        );
        match store
            .rotate_refresh_token("rt-1", "rt-2", None)
            .await
            .unwrap()
        {
            RefreshRotation::Rotated(f) => assert_eq!(
                (f.id.as_str(), f.workspace_id.as_str()),
                ("fam1", "a"),
                "{l}"
            ),
            _ => panic!("{l}: the upgraded refresh token did not rotate"),
        }
        assert_eq!(
            count(&pool, "SELECT COUNT(*) FROM oauth_refresh_tokens WHERE workspace_id = 'a' AND family_id = 'fam1'").await,
            2,
            "{l}: the successor carries the workspace"
        );

        // Rows naming a parent under another workspace are refused by the composite keys.
        for sql in [
            "INSERT INTO oauth_refresh_tokens (token_hash, workspace_id, family_id, generation, created_at) VALUES ('x', 'b', 'fam1', 9, 1)",
            "INSERT INTO oauth_consents (workspace_id, user_id, client_id, resource_id, scopes, granted_at) VALUES ('b', 'u1', 'c2', 'r1', '[]', 1)",
            "INSERT INTO as_login_sessions (id_hash, workspace_id, user_id, auth_time, expires_at, created_at) VALUES ('ls2', 'b', 'u1', 1, 9, 1)",
        ] {
            assert!(exec(&pool, sql).await.is_err(), "{l}: accepted {sql}");
        }

        if postgres {
            for table in [
                "as_users",
                "mcp_resources",
                "oauth_token_families",
                "mcp_connect_tickets",
                "identity_providers",
            ] {
                assert_eq!(
                    primary_key(&pool, table).await,
                    "workspace_id,id",
                    "{table}"
                );
            }
            for (table, key) in [
                ("as_login_sessions", "workspace_id,id_hash"),
                ("oauth_authorization_requests", "workspace_id,id_hash"),
                ("oauth_authorization_codes", "workspace_id,code_hash"),
                ("oauth_refresh_tokens", "workspace_id,token_hash"),
                ("idp_login_flows", "workspace_id,state_hash"),
                ("pending_authorizations", "workspace_id,state_hash"),
            ] {
                assert_eq!(primary_key(&pool, table).await, key, "{table}");
            }
            assert_eq!(
                count(
                    &pool,
                    "SELECT COUNT(*) FROM pg_constraint WHERE NOT convalidated"
                )
                .await,
                0,
                "every constraint validated"
            );
        }

        // Deleting the user cascades through the composite keys to everything of its grant.
        exec(&pool, "DELETE FROM as_users WHERE id = 'u1'")
            .await
            .unwrap();
        drop(store);
        for table in [
            "as_login_sessions",
            "oauth_authorization_codes",
            "oauth_consents",
            "oauth_token_families",
            "oauth_refresh_tokens",
            "mcp_connect_tickets",
        ] {
            assert_eq!(
                count(&pool, &format!("SELECT COUNT(*) FROM {table}")).await,
                0,
                "{l}: {table} cascaded"
            );
        }
    }
}
