//! The resolve lookup (issue 20, cold path) on both databases: the connection and its provider
//! come back from one query, the provider exactly as `get_provider` reads it, and the lookup
//! still picks the same row (active first, newest first, never an MCP user's).

use nexus_protocol::ConnectionStatus;
use nexus_vault::providers::ProviderInput;
use nexus_vault::store::connections::NewConnection;
use nexus_vault::testing::{all_dbs, store_for};

#[tokio::test]
async fn the_connection_comes_with_its_provider_in_one_lookup() {
    for db in all_dbs().await {
        let store = store_for(&db).await;
        let l = db.label;
        store.create_workspace("w1", None).await.unwrap();
        let input: ProviderInput = serde_json::from_value(serde_json::json!({
            "name": "github", "catalog": "github", "client_id": "cid", "client_secret": "s3cret"
        }))
        .unwrap();
        let (provider, secret) = input.resolve().unwrap();
        store
            .upsert_provider(&provider, secret.as_ref(), false)
            .await
            .unwrap();
        let connect = |status, bound| NewConnection {
            workspace_id: "w1",
            provider_name: "github",
            user_id: Some("u1"),
            status,
            scopes: &[],
            tokens: None,
            credentials: None,
            bound_to_mcp_user: bound,
        };
        let active = store
            .insert_connection(connect(ConnectionStatus::Active, false))
            .await
            .unwrap();
        // Newer, but neither may win: one needs re-authorization, one is an MCP user's own.
        store
            .insert_connection(connect(ConnectionStatus::NeedsReauth, false))
            .await
            .unwrap();
        store
            .insert_connection(connect(ConnectionStatus::Active, true))
            .await
            .unwrap();

        let (row, joined) = store
            .find_connection_for("w1", "github")
            .await
            .unwrap()
            .expect("a connection");
        assert_eq!(row.id, active.id, "{l}");
        assert_eq!(row.status, ConnectionStatus::Active, "{l}");
        let joined = joined.expect("its provider");
        let read = store.get_provider("github").await.unwrap().unwrap();
        assert_eq!(joined.id, read.id, "{l}");
        assert_eq!(joined.provider, read.provider, "{l}");
        assert!(joined.has_client_secret, "{l}");
        assert_eq!(joined.created_at, read.created_at, "{l}");
        assert_eq!(joined.updated_at, read.updated_at, "{l}");

        // The provider row gone: the connection is still found, without a provider.
        assert!(store.delete_provider("github").await.unwrap());
        let (row, joined) = store
            .find_connection_for("w1", "github")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.id, active.id, "{l}");
        assert!(joined.is_none(), "{l}");
        assert!(
            store
                .find_connection_for("w1", "gitlab")
                .await
                .unwrap()
                .is_none(),
            "{l}"
        );
    }
}
