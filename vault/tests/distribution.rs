//! The distribution-ready keys of issue 20 (migrations 0024–0028) on both databases: a database
//! an older broker left at migration 0022, with a connection, its pending authorization and its
//! usage, upgrades with every row kept; the usage rows learn their workspace; the foreign keys
//! name the connection by (workspace_id, id), cascade, and refuse a row of another workspace;
//! on PostgreSQL the primary key of `connections` is (workspace_id, id) and the foreign keys
//! are validated.

mod common;

use common::migrate::{add_workspaces, count, exec, migrated_to};
use nexus_vault::testing::{all_dbs, raw_pool, store_for};
use sqlx::Row;

const PENDING: &str = "INSERT INTO pending_authorizations (state_hash, connection_id, workspace_id, provider_name, redirect_uri, scopes, expires_at, created_at)";

#[tokio::test]
async fn tenant_keys_start_with_the_workspace_after_an_upgrade() {
    for db in all_dbs().await {
        let l = db.label;
        let old = migrated_to(&db, 22).await;
        add_workspaces(&old, &["a", "b"]).await;
        exec(&old, "INSERT INTO connections (id, workspace_id, provider_name, status, scopes, created_at, updated_at) VALUES ('conn_1', 'a', 'github', 'pending', '', 1, 1)").await.unwrap();
        exec(
            &old,
            &format!("{PENDING} VALUES ('s1', 'conn_1', 'a', 'github', 'http://x', '', 9, 1)"),
        )
        .await
        .unwrap();
        exec(&old, "INSERT INTO connection_usage (connection_id, principal, last_used_at) VALUES ('conn_1', 'api_key:k', 5)").await.unwrap();
        old.close().await;

        let store = store_for(&db).await;
        let pool = raw_pool(&db.url).await;
        assert_eq!(
            count(&pool, "SELECT COUNT(*) FROM connection_usage WHERE workspace_id = 'a' AND connection_id = 'conn_1'").await,
            1,
            "{l}: the usage row learned its workspace"
        );
        assert_eq!(
            count(&pool, "SELECT COUNT(*) FROM pending_authorizations").await,
            1,
            "{l}"
        );

        // A pending authorization or usage row naming the connection under another workspace
        // is refused: the foreign keys carry the workspace.
        assert!(
            exec(
                &pool,
                &format!("{PENDING} VALUES ('s2', 'conn_1', 'b', 'github', 'http://x', '', 9, 1)")
            )
            .await
            .is_err(),
            "{l}: cross-workspace pending authorization accepted"
        );
        assert!(
            exec(&pool, "INSERT INTO connection_usage (workspace_id, connection_id, principal, last_used_at) VALUES ('b', 'conn_1', 'p', 1)").await.is_err(),
            "{l}: cross-workspace usage accepted"
        );
        // The same id in another workspace is another row of the (workspace_id, id) key.
        if l == "postgres" {
            exec(&pool, "INSERT INTO connections (id, workspace_id, provider_name, status, scopes, created_at, updated_at) VALUES ('conn_2', 'b', 'github', 'pending', '', 1, 1)").await.unwrap();
            let key: String = sqlx::query(
                "SELECT string_agg(a.attname, ',' ORDER BY k.ord)::text AS cols FROM pg_index i \
                 CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                 WHERE i.indrelid = 'connections'::regclass AND i.indisprimary",
            )
            .fetch_one(&pool)
            .await
            .unwrap()
            .try_get("cols")
            .unwrap();
            assert_eq!(key, "workspace_id,id");
            assert_eq!(
                count(
                    &pool,
                    "SELECT COUNT(*) FROM pg_constraint WHERE contype = 'f' AND NOT convalidated"
                )
                .await,
                0,
                "every foreign key validated"
            );
        }

        // Deleting the connection cascades to both.
        exec(&pool, "DELETE FROM connections WHERE id = 'conn_1'")
            .await
            .unwrap();
        drop(store);
        assert_eq!(
            count(&pool, "SELECT COUNT(*) FROM pending_authorizations").await,
            0,
            "{l}"
        );
        assert_eq!(
            count(&pool, "SELECT COUNT(*) FROM connection_usage").await,
            0,
            "{l}"
        );
    }
}
