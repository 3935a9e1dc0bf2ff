//! Store behaviour on both databases: migrations, workspaces, API keys, providers, connections,
//! pending authorizations, audit.

use nexus_protocol::{ConnectionStatus, Credentials, SecretString};
use nexus_vault::providers::ProviderInput;
use nexus_vault::store::StoreError;
use nexus_vault::store::audit::{AuditEvent, AuditQuery};
use nexus_vault::store::connections::{NewConnection, TokenSet};
use nexus_vault::store::pending::NewPending;
use nexus_vault::store::providers::UpsertOutcome;
use nexus_vault::testing::{all_dbs, store_for};

#[tokio::test]
async fn workspaces_and_api_keys() {
    for db in all_dbs().await {
        let store = store_for(&db).await;
        let l = db.label;
        store.create_workspace("acme", Some("Acme")).await.unwrap();
        assert!(
            matches!(
                store.create_workspace("acme", None).await,
                Err(StoreError::Conflict(_))
            ),
            "{l}"
        );
        assert!(
            matches!(
                store.create_api_key("nope").await,
                Err(StoreError::NotFound(_))
            ),
            "{l}"
        );
        let created = store.create_api_key("acme").await.unwrap();
        let verified = store.verify_api_key(&created.api_key).await.unwrap();
        assert_eq!(
            verified,
            Some(("acme".to_owned(), created.key_id.clone())),
            "{l}"
        );
        // A key with the right id but a wrong secret, and garbage, are rejected.
        let forged = SecretString::new(format!("nxk_{}_forged", created.key_id));
        assert_eq!(store.verify_api_key(&forged).await.unwrap(), None, "{l}");
        assert_eq!(
            store.verify_api_key(&"garbage".into()).await.unwrap(),
            None,
            "{l}"
        );
        let listed = store.list_api_keys("acme").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(
            !serde_json::to_string(&listed)
                .unwrap()
                .contains(created.api_key.expose()),
            "{l}"
        );
        store.revoke_api_key("acme", &created.key_id).await.unwrap();
        assert_eq!(
            store.verify_api_key(&created.api_key).await.unwrap(),
            None,
            "{l}: revoked key still verifies"
        );
        assert!(
            matches!(
                store.revoke_api_key("acme", "missing").await,
                Err(StoreError::NotFound(_))
            ),
            "{l}"
        );
    }
}

#[tokio::test]
async fn providers_upsert_is_idempotent_and_secret_is_sealed() {
    for db in all_dbs().await {
        let store = store_for(&db).await;
        let l = db.label;
        let input: ProviderInput = serde_json::from_value(serde_json::json!({
            "name": "github", "catalog": "github", "client_id": "cid", "client_secret": "first-secret"
        }))
        .unwrap();
        let (provider, secret) = input.resolve().unwrap();
        assert_eq!(
            store
                .upsert_provider(&provider, secret.as_ref(), false)
                .await
                .unwrap(),
            UpsertOutcome::Created,
            "{l}"
        );
        assert_eq!(
            store
                .upsert_provider(&provider, secret.as_ref(), false)
                .await
                .unwrap(),
            UpsertOutcome::Unchanged,
            "{l}"
        );
        let rotated = SecretString::new("second-secret");
        assert_eq!(
            store
                .upsert_provider(&provider, Some(&rotated), true)
                .await
                .unwrap(),
            UpsertOutcome::Updated,
            "{l}"
        );
        assert_eq!(
            store
                .provider_client_secret("github")
                .await
                .unwrap()
                .unwrap()
                .expose(),
            "first-secret",
            "{l}: dry run wrote"
        );
        store
            .upsert_provider(&provider, Some(&rotated), false)
            .await
            .unwrap();
        assert_eq!(
            store
                .provider_client_secret("github")
                .await
                .unwrap()
                .unwrap()
                .expose(),
            "second-secret",
            "{l}"
        );
        let stored = store.get_provider("github").await.unwrap().unwrap();
        assert!(stored.has_client_secret);
        assert_eq!(stored.provider, provider);
        assert_eq!(store.list_providers().await.unwrap().len(), 1);
        assert!(store.delete_provider("github").await.unwrap());
        assert!(!store.delete_provider("github").await.unwrap());
    }
}

#[tokio::test]
async fn connections_tokens_and_pending() {
    for db in all_dbs().await {
        let store = store_for(&db).await;
        let l = db.label;
        store.create_workspace("w1", None).await.unwrap();
        let tokens = TokenSet {
            access_token: Some("at-1".into()),
            refresh_token: Some("rt-1".into()),
            expires_at: Some(1),
            token_type: Some("Bearer".into()),
            scopes: None,
        };
        let scopes = vec!["repo".to_owned()];
        let row = store
            .insert_connection(NewConnection {
                workspace_id: "w1",
                provider_name: "github",
                user_id: Some("u1"),
                status: ConnectionStatus::Active,
                scopes: &scopes,
                tokens: Some(&tokens),
                credentials: None,
                bound_to_mcp_user: false,
            })
            .await
            .unwrap();
        assert_eq!(
            store.open_access_token(&row).unwrap().unwrap().expose(),
            "at-1",
            "{l}"
        );
        assert_eq!(
            store.open_refresh_token(&row).unwrap().unwrap().expose(),
            "rt-1",
            "{l}"
        );
        let (found, provider) = store
            .find_connection_for("w1", "github")
            .await
            .unwrap()
            .unwrap();
        assert!(
            provider.is_none(),
            "{l}: no provider row, none read with it"
        );
        assert_eq!(found.id, row.id);
        assert_eq!(found.scopes, scopes);
        assert!(
            store
                .find_connection_for("w1", "gitlab")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .get_connection("other", &row.id)
                .await
                .unwrap()
                .is_none(),
            "{l}: workspace isolation"
        );

        let mut creds = Credentials::default();
        creds.insert("api_key", "k-123");
        let static_row = store
            .insert_connection(NewConnection {
                workspace_id: "w1",
                provider_name: "stripe",
                user_id: None,
                status: ConnectionStatus::Active,
                scopes: &[],
                tokens: None,
                credentials: Some(&creds),
                bound_to_mcp_user: false,
            })
            .await
            .unwrap();
        assert_eq!(
            store
                .open_credentials(&static_row)
                .unwrap()
                .unwrap()
                .get_str("api_key")
                .as_deref(),
            Some("k-123")
        );
        assert!(
            store
                .set_connection_status("w1", &static_row.id, ConnectionStatus::Revoked, None)
                .await
                .unwrap()
        );
        let revoked = store
            .get_connection("w1", &static_row.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(revoked.status, ConnectionStatus::Revoked);
        assert!(
            store.open_credentials(&revoked).unwrap().is_none(),
            "{l}: revocation must drop secrets"
        );

        let state = SecretString::new("state-abc");
        let verifier = SecretString::new("verifier-xyz");
        store
            .insert_pending(NewPending {
                state: &state,
                connection_id: &row.id,
                workspace_id: "w1",
                provider_name: "github",
                code_verifier: Some(&verifier),
                nonce: Some("n1"),
                redirect_uri: "http://127.0.0.1/cb",
                return_url: None,
                scopes: &scopes,
                lifetime_ms: 60_000,
            })
            .await
            .unwrap();
        let taken = store.take_pending("state-abc").await.unwrap().unwrap();
        assert!(!taken.expired);
        assert_eq!(taken.code_verifier.unwrap().expose(), "verifier-xyz");
        assert!(
            store.take_pending("state-abc").await.unwrap().is_none(),
            "{l}: state must be one-time"
        );
    }
}

#[tokio::test]
async fn audit_is_queryable_by_workspace_and_time() {
    for db in all_dbs().await {
        let store = store_for(&db).await;
        let event = |ws| AuditEvent {
            workspace_id: ws,
            action: "token.issued",
            target: Some("github"),
            principal: "api_key:k1",
            outcome: "ok",
            request_id: Some("req-1"),
            detail: None,
        };
        store.audit(event(Some("a"))).await;
        store.audit(event(Some("b"))).await;
        store.audit(event(None)).await;
        let all = store
            .query_audit(&AuditQuery {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(all.len(), 3, "{}", db.label);
        let only_a = store
            .query_audit(&AuditQuery {
                workspace_id: Some("a".into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(only_a.len(), 1);
        assert_eq!(only_a[0].principal, "api_key:k1");
        let future = store
            .query_audit(&AuditQuery {
                since: Some(i64::MAX / 2),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(future.is_empty());
        assert!(all.iter().all(|r| r.hash.is_some()));
    }
}

#[tokio::test]
async fn abandoned_connect_flows_are_swept() {
    for db in all_dbs().await {
        let store = store_for(&db).await;
        store.create_workspace("w1", None).await.unwrap();
        let mut ids = Vec::new();
        for state in ["old-state", "new-state"] {
            let row = store
                .insert_connection(NewConnection {
                    workspace_id: "w1",
                    provider_name: "github",
                    user_id: None,
                    status: ConnectionStatus::Pending,
                    scopes: &[],
                    tokens: None,
                    credentials: None,
                    bound_to_mcp_user: false,
                })
                .await
                .unwrap();
            store
                .insert_pending(NewPending {
                    state: &SecretString::new(state),
                    connection_id: &row.id,
                    workspace_id: "w1",
                    provider_name: "github",
                    code_verifier: None,
                    nonce: None,
                    redirect_uri: "http://127.0.0.1/cb",
                    return_url: None,
                    scopes: &[],
                    lifetime_ms: 600_000,
                })
                .await
                .unwrap();
            ids.push(row.id);
            if state == "old-state" {
                // Two days ago.
                let raw = sqlx::AnyPool::connect(&db.url).await.unwrap();
                sqlx::query(
                    "UPDATE pending_authorizations SET expires_at = expires_at - 172800000",
                )
                .execute(&raw)
                .await
                .unwrap();
            }
        }
        let old = store.get_connection("w1", &ids[0]).await.unwrap().unwrap();
        assert_eq!(old.status, ConnectionStatus::Failed, "{}", db.label);
        assert!(store.take_pending("old-state").await.unwrap().is_none());
        let new = store.get_connection("w1", &ids[1]).await.unwrap().unwrap();
        assert_eq!(new.status, ConnectionStatus::Pending);
        assert!(store.take_pending("new-state").await.unwrap().is_some());
    }
}
