//! The verification of a subject token in `McpUsers::user_credential` (design 17 §5.4), on
//! SQLite and PostgreSQL, with tokens signed by the vault's own key: only a live access token
//! of this issuer, for a live resource of the API key's workspace, is accepted; time bounds
//! (`exp`, `nbf`) are enforced; refusals never quote the token.

use nexus_protocol::internal::Principal;
use nexus_protocol::mcp::UserCredentialRequest;
use nexus_protocol::oauth::AccessTokenClaims;
use nexus_vault::caller::Caller;
use nexus_vault::store::mcp_resources::ResourceRow;
use nexus_vault::testing::{all_dbs, sign_access_token, vault_config};
use nexus_vault::{Vault, VaultError};

const RESOURCE: &str = "http://127.0.0.1:9/mcp";

fn claims(user: &str, now: i64) -> AccessTokenClaims {
    AccessTokenClaims {
        iss: "http://127.0.0.1:9".into(),
        sub: user.into(),
        aud: RESOURCE.into(),
        client_id: "client".into(),
        scope: "notes:read".into(),
        exp: now + 600,
        iat: now,
        nbf: now,
        jti: "at_1".into(),
        auth_time: now,
        sid: None,
        workspace_id: "acme".into(),
        act: None,
    }
}

fn key(ws: &str) -> Principal {
    Principal::ApiKey {
        workspace_id: ws.into(),
        key_id: "k1".into(),
    }
}

async fn ask(vault: &Vault, principal: &Principal, token: &str) -> Result<(), VaultError> {
    let request = UserCredentialRequest {
        provider: "github".into(),
        subject_token: token.into(),
        min_ttl: None,
        force_refresh: false,
    };
    vault
        .mcp_users()
        .user_credential(principal, &request, None)
        .await
        .map(|_| ())
}

fn refused(result: Result<(), VaultError>, token: &str, what: &str) -> String {
    match result {
        Err(VaultError::InvalidSubjectToken(message)) => {
            assert!(!message.contains(token), "{what}: token quoted");
            message
        }
        other => panic!("{what}: expected invalid_subject_token, got {other:?}"),
    }
}

#[tokio::test]
async fn only_live_tokens_for_the_keys_workspace_are_accepted() {
    for db in all_dbs().await {
        let vault = Vault::start(vault_config(&db.url)).await.expect("vault");
        let admin = Caller::admin(None);
        for ws in ["acme", "globex"] {
            vault
                .admin()
                .create_workspace(ws, None, &admin)
                .await
                .unwrap();
        }
        vault
            .store()
            .insert_mcp_resource(&ResourceRow {
                id: "res_1".into(),
                workspace_id: "acme".into(),
                resource_uri: RESOURCE.into(),
                name: "Notes".into(),
                scopes: vec!["notes:read".into()],
                default_scopes: vec!["notes:read".into()],
                access_token_ttl_seconds: 600,
                created_at: 0,
                disabled_at: None,
            })
            .await
            .unwrap();
        let user = vault
            .store()
            .upsert_as_user("acme", "nexus-dev-local", "alice")
            .await
            .unwrap();
        let now = chrono::Utc::now().timestamp();

        // A live token passes verification and reaches the resolve (this vault has no provider
        // `github` ⇒ provider_not_found), so the refusals below are about the token alone.
        let live = sign_access_token(&vault, &claims(&user, now)).await;
        match ask(&vault, &key("acme"), &live).await {
            Err(VaultError::NotFound { what, .. }) => {
                assert_eq!(what, nexus_vault::error::Missing::Provider)
            }
            other => panic!("{}: {other:?}", db.label),
        }
        // Another workspace's key: forbidden.
        assert!(matches!(
            ask(&vault, &key("globex"), &live).await,
            Err(VaultError::Forbidden(_))
        ));
        // An agent session: forbidden.
        let session = Principal::Session {
            workspace_id: "acme".into(),
            session_id: "s".into(),
            agent_id: "a".into(),
            scopes: vec![],
            user: None,
        };
        assert!(matches!(
            ask(&vault, &session, &live).await,
            Err(VaultError::Forbidden(_))
        ));

        let variants: [(&str, AccessTokenClaims, &str); 5] = [
            (
                "expired",
                AccessTokenClaims {
                    exp: now - 1,
                    ..claims(&user, now - 700)
                },
                "expired",
            ),
            (
                "not yet valid",
                AccessTokenClaims {
                    nbf: now + 3600,
                    ..claims(&user, now)
                },
                "expired",
            ),
            (
                "other issuer",
                AccessTokenClaims {
                    iss: "https://elsewhere.example".into(),
                    ..claims(&user, now)
                },
                "not an access token",
            ),
            (
                "unknown resource",
                AccessTokenClaims {
                    aud: "http://127.0.0.1:9/unknown".into(),
                    ..claims(&user, now)
                },
                "audience",
            ),
            (
                "workspace claim disagrees with the resource",
                AccessTokenClaims {
                    workspace_id: "globex".into(),
                    ..claims(&user, now)
                },
                "audience",
            ),
        ];
        for (what, c, expected) in variants {
            let token = sign_access_token(&vault, &c).await;
            let message = refused(ask(&vault, &key("acme"), &token).await, &token, what);
            assert!(
                message.contains(expected),
                "{}: {what}: {message}",
                db.label
            );
        }
        // A grant (sid) that does not exist (or was revoked) is refused.
        let orphan = sign_access_token(
            &vault,
            &AccessTokenClaims {
                sid: Some("fam_missing".into()),
                ..claims(&user, now)
            },
        )
        .await;
        let message = refused(ask(&vault, &key("acme"), &orphan).await, &orphan, "sid");
        assert!(message.contains("revoked"), "{message}");
        // Garbage and an empty token.
        for garbage in ["", "x.y.z", "not a token"] {
            refused(ask(&vault, &key("acme"), garbage).await, "\u{0}", garbage);
        }
    }
}
