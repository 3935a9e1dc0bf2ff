//! Issue 20: `mcp_resources` is unique per workspace, and the global rule "one resource URI,
//! one workspace" lives in the map `mcp_resource_uris` (migrations 0046–0047), written with
//! every insert and delete of a resource. On both databases: a URI taken by one workspace is
//! refused to another with a typed conflict and nothing half-written, also when they race;
//! deleting the resource frees the URI; a database filled before 0046 gets its map backfilled
//! and the authorization server still finds every resource by URI. On PostgreSQL the global
//! unique constraint is gone from the tenant table.

mod common;

use common::migrate::{add_workspaces, assert_nothing_left_invalid, count, exec, migrated_to};
use nexus_vault::store::mcp_resources::ResourceRow;
use nexus_vault::store::{Store, StoreError};
use nexus_vault::testing::{all_dbs, raw_pool, store_for};

const BEFORE: i64 = 45;

fn resource(id: &str, ws: &str, uri: &str) -> ResourceRow {
    ResourceRow {
        id: id.into(),
        workspace_id: ws.into(),
        resource_uri: uri.into(),
        name: "mcp".into(),
        scopes: vec!["read".into()],
        default_scopes: vec!["read".into()],
        access_token_ttl_seconds: 600,
        created_at: 1,
        disabled_at: None,
    }
}

async fn workspaces(store: &Store, ids: &[&str]) {
    for ws in ids {
        store.create_workspace(ws, None).await.unwrap();
    }
}

/// Rows for `uri` in the tenant table and in the map.
async fn rows_for(pool: &sqlx::AnyPool, uri: &str) -> (i64, i64) {
    (
        count(
            pool,
            &format!("SELECT COUNT(*) FROM mcp_resources WHERE resource_uri = '{uri}'"),
        )
        .await,
        count(
            pool,
            &format!("SELECT COUNT(*) FROM mcp_resource_uris WHERE resource_uri = '{uri}'"),
        )
        .await,
    )
}

#[tokio::test]
async fn a_uri_names_one_workspace_until_its_resource_is_deleted() {
    for db in all_dbs().await {
        let l = db.label;
        let store = store_for(&db).await;
        let pool = raw_pool(&db.url).await;
        workspaces(&store, &["a", "b"]).await;
        let uri = "https://mcp.example/one";

        store
            .insert_mcp_resource(&resource("r_a", "a", uri))
            .await
            .unwrap();
        let err = store
            .insert_mcp_resource(&resource("r_b", "b", uri))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{l}: {err:?}");
        assert_eq!(rows_for(&pool, uri).await, (1, 1), "{l}: nothing of b's");
        assert!(
            store
                .mcp_resource_by_uri_in("b", uri)
                .await
                .unwrap()
                .is_none()
        );
        let found = store.mcp_resource_by_uri(uri).await.unwrap().unwrap();
        assert_eq!(
            (found.id.as_str(), found.workspace_id.as_str()),
            ("r_a", "a")
        );

        // Only the owner deletes it: another workspace's delete is NotFound and frees nothing.
        let err = store.delete_mcp_resource("b", "r_a").await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)), "{l}: {err:?}");
        assert_eq!(rows_for(&pool, uri).await, (1, 1), "{l}");

        store.delete_mcp_resource("a", "r_a").await.unwrap();
        assert_eq!(rows_for(&pool, uri).await, (0, 0), "{l}: URI freed");
        assert!(store.mcp_resource_by_uri(uri).await.unwrap().is_none());
        store
            .insert_mcp_resource(&resource("r_b", "b", uri))
            .await
            .unwrap();
        let found = store.mcp_resource_by_uri(uri).await.unwrap().unwrap();
        assert_eq!(
            (found.id.as_str(), found.workspace_id.as_str()),
            ("r_b", "b")
        );

        // A second resource id under a URI its own workspace already has is refused too.
        let err = store
            .insert_mcp_resource(&resource("r_b2", "b", uri))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{l}: {err:?}");
        assert_eq!(rows_for(&pool, uri).await, (1, 1), "{l}");
    }
}

#[tokio::test]
async fn racing_workspaces_get_one_winner_and_no_half_rows() {
    for db in all_dbs().await {
        let l = db.label;
        let store = store_for(&db).await;
        let pool = raw_pool(&db.url).await;
        let ids: Vec<String> = (0..8).map(|i| format!("w{i}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        workspaces(&store, &refs).await;
        let uri = "https://mcp.example/raced";
        let results = futures::future::join_all(ids.iter().map(|ws| {
            let store = store.clone();
            let row = resource(&format!("r_{ws}"), ws, uri);
            async move { store.insert_mcp_resource(&row).await }
        }))
        .await;
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "{l}: {results:?}");
        for r in &results {
            if let Err(e) = r {
                assert!(matches!(e, StoreError::Conflict(_)), "{l}: {e:?}");
            }
        }
        assert_eq!(rows_for(&pool, uri).await, (1, 1), "{l}");
        let found = store.mcp_resource_by_uri(uri).await.unwrap().unwrap();
        let map_ws = count(
            &pool,
            &format!(
                "SELECT COUNT(*) FROM mcp_resource_uris WHERE resource_uri = '{uri}' \
                 AND workspace_id = '{}' AND resource_id = '{}'",
                found.workspace_id, found.id
            ),
        )
        .await;
        assert_eq!(map_ws, 1, "{l}: the map names the winner");
    }
}

#[tokio::test]
async fn resources_written_before_0046_are_backfilled_into_the_map() {
    for db in all_dbs().await {
        let l = db.label;
        let postgres = l == "postgres";
        let old = migrated_to(&db, BEFORE).await;
        add_workspaces(&old, &["a", "b"]).await;
        for (id, ws, uri, disabled) in [
            ("r1", "a", "https://mcp.example/a", "NULL"),
            ("r2", "a", "https://mcp.example/a2", "5"),
            ("r3", "b", "https://mcp.example/b", "NULL"),
        ] {
            exec(
                &old,
                &format!(
                    "INSERT INTO mcp_resources (id, workspace_id, resource_uri, name, scopes, default_scopes, \
                     access_token_ttl_seconds, created_at, disabled_at) \
                     VALUES ('{id}', '{ws}', '{uri}', 'mcp', '[\"read\"]', '[\"read\"]', 600, 1, {disabled})"
                ),
            )
            .await
            .unwrap();
        }
        old.close().await;

        let store = store_for(&db).await;
        let pool = raw_pool(&db.url).await;
        assert_eq!(
            count(&pool, "SELECT COUNT(*) FROM mcp_resources").await,
            3,
            "{l}"
        );
        assert_eq!(
            count(
                &pool,
                "SELECT COUNT(*) FROM mcp_resource_uris m JOIN mcp_resources r \
                 ON r.workspace_id = m.workspace_id AND r.id = m.resource_id AND r.resource_uri = m.resource_uri"
            )
            .await,
            3,
            "{l}: every resource in the map, under its own workspace and id"
        );
        for (uri, id, ws) in [
            ("https://mcp.example/a", "r1", "a"),
            ("https://mcp.example/a2", "r2", "a"),
            ("https://mcp.example/b", "r3", "b"),
        ] {
            let found = store.mcp_resource_by_uri(uri).await.unwrap().unwrap();
            assert_eq!(
                (found.id.as_str(), found.workspace_id.as_str()),
                (id, ws),
                "{l}"
            );
        }
        let disabled = store
            .mcp_resource_by_uri("https://mcp.example/a2")
            .await
            .unwrap()
            .unwrap();
        assert!(disabled.disabled_at.is_some(), "{l}: kept disabled");
        // The backfilled map refuses the URI to another workspace, and a delete frees it.
        let err = store
            .insert_mcp_resource(&resource("r4", "b", "https://mcp.example/a"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{l}: {err:?}");
        store.delete_mcp_resource("a", "r1").await.unwrap();
        store
            .insert_mcp_resource(&resource("r4", "b", "https://mcp.example/a"))
            .await
            .unwrap();

        if postgres {
            // The tenant table is unique per workspace only (what a sharded database can keep):
            // the same URI in two workspaces is the map's to refuse, not the table's.
            assert_eq!(
                count(
                    &pool,
                    "SELECT COUNT(*) FROM pg_constraint WHERE conrelid = 'mcp_resources'::regclass \
                     AND contype = 'u' AND conname = 'mcp_resources_workspace_uri_key'"
                )
                .await,
                1,
                "{l}: unique (workspace_id, resource_uri)"
            );
            assert_eq!(
                count(
                    &pool,
                    "SELECT COUNT(*) FROM pg_indexes WHERE tablename = 'mcp_resources' \
                     AND indexdef LIKE 'CREATE UNIQUE INDEX%(resource_uri)'"
                )
                .await,
                0,
                "{l}: no global unique index on resource_uri"
            );
            exec(
                &pool,
                "INSERT INTO mcp_resources (id, workspace_id, resource_uri, name, scopes, default_scopes, \
                 access_token_ttl_seconds, created_at) \
                 VALUES ('raw', 'a', 'https://mcp.example/b', 'mcp', '[]', '[]', 600, 1)",
            )
            .await
            .expect("the tenant table no longer holds the global rule");
            let twice = exec(
                &pool,
                "INSERT INTO mcp_resources (id, workspace_id, resource_uri, name, scopes, default_scopes, \
                 access_token_ttl_seconds, created_at) \
                 VALUES ('raw2', 'a', 'https://mcp.example/b', 'mcp', '[]', '[]', 600, 1)",
            )
            .await;
            assert!(twice.is_err(), "{l}: but one URI once per workspace");
            assert_nothing_left_invalid(&pool).await;
        }
    }
}
