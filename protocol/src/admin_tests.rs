//! One JSON sample per admin type, in the shape the broker sends or accepts (values as in the
//! broker's tests): each must parse and serialise back to the same JSON.

use super::*;
use serde::de::DeserializeOwned;
use serde_json::json;

fn round_trip<T: Serialize + DeserializeOwned + fmt::Debug>(sample: Value) -> T {
    let parsed: T = serde_json::from_value(sample.clone())
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", std::any::type_name::<T>()));
    assert_eq!(serde_json::to_value(&parsed).unwrap(), sample);
    parsed
}

#[test]
fn workspaces_and_api_keys() {
    let ws: Workspace =
        round_trip(json!({"id": "acme", "name": "Acme", "created_at": "2026-01-02T03:04:05.678Z"}));
    assert_eq!(ws.id, "acme");
    round_trip::<Workspace>(
        json!({"id": "dev", "name": null, "created_at": "2026-01-02T03:04:05Z"}),
    );
    round_trip::<CreateWorkspaceRequest>(json!({"id": "dev", "name": "Development"}));
    let bare: CreateWorkspaceRequest = round_trip(json!({"id": "acme"}));
    assert_eq!(bare.name, None);
    let key: CreatedApiKey = round_trip(json!({
        "key_id": "4f1c2a9b0d3e5f67", "api_key": "nxk_4f1c2a9b0d3e5f67_s3cr3t",
        "created_at": "2026-01-02T03:04:05Z"
    }));
    assert!(!format!("{key:?}").contains("s3cr3t"));
    round_trip::<ApiKeyInfo>(json!({
        "key_id": "4f1c2a9b0d3e5f67", "workspace_id": "acme", "prefix": "nxk_4f1c2a9b0d3e5f67",
        "created_at": "2026-01-02T03:04:05Z", "revoked_at": null
    }));
}

#[test]
fn connections_and_imports() {
    round_trip::<ConnectionInfo>(json!({
        "id": "conn_7d0e", "workspace_id": "w1", "provider_name": "testprov", "user_id": "u1",
        "status": "active", "scopes": ["repo", "user"],
        "access_expires_at": "2026-01-02T04:04:05Z", "has_refresh_token": true,
        "last_refresh_at": null, "last_error": null,
        "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05Z"
    }));
    let import: ImportRequest = round_trip(
        json!({"provider_name": "static-api", "kind": "api_key", "secret": "sk_static_test"}),
    );
    assert_eq!(import.kind, ImportKind::ApiKey);
    assert!(!format!("{import:?}").contains("sk_static_test"));
    round_trip::<ImportRequest>(json!({
        "provider_name": "basic", "kind": "credentials",
        "secret": {"username": "u", "password": "p"}, "user_id": "u1", "scopes": ["read"]
    }));
    // Bound to an MCP user: written only when true, false when absent.
    let bound: ImportRequest = round_trip(json!({
        "provider_name": "github", "kind": "refresh_token", "secret": "rt",
        "user_id": "usr_1", "bound_to_mcp_user": true
    }));
    assert!(bound.bound_to_mcp_user);
    assert!(!import.bound_to_mcp_user);
    assert!(
        serde_json::from_value::<ImportRequest>(
            json!({"provider_name": "x", "kind": "password", "secret": "s"})
        )
        .is_err()
    );
    round_trip::<AdminConnectRequest>(json!({"provider_name": "github"}));
    round_trip::<AdminConnectRequest>(json!({
        "provider_name": "github", "user_id": "alice", "scopes": ["repo"],
        "return_url": "https://app.example/done"
    }));
}

#[test]
fn providers_keys_and_audit() {
    round_trip::<DriftReport>(json!({
        "created": ["github"], "updated": [], "unchanged": ["notion-key"], "pruned": [],
        "dry_run": true
    }));
    let rotate: RotateKeysRequest = round_trip(json!({}));
    assert_eq!(rotate.new_key, None);
    let rotate: RotateKeysRequest = round_trip(json!({"new_key": "base64-master-key"}));
    assert!(!format!("{rotate:?}").contains("base64-master-key"));
    round_trip::<RotateResponse>(json!({"active_key_id": "k2", "reencrypted": 3}));
    round_trip::<AuditRecord>(json!({
        "id": 7, "at": "2026-01-02T03:04:05Z", "workspace_id": "acme",
        "action": "api_key.created", "target": "4f1c2a9b0d3e5f67", "principal": "admin",
        "outcome": "ok", "request_id": "req-1", "detail": null, "hash": "ab12",
        "agent_id": null, "session_id": null, "user": null
    }));
    round_trip::<ChainVerdict>(json!({"ok": true, "checked": 12}));
    let broken: ChainVerdict = round_trip(json!({"ok": false, "checked": 4, "first_broken_id": 3}));
    assert_eq!(broken.first_broken_id, Some(3));
}

#[test]
fn agents_and_identity_providers() {
    let agent = json!({
        "agent_id": "agt_01", "workspace_id": "w1", "name": "support-bot",
        "scopes": ["crm:contacts:read", "provider:github:repo"],
        "max_session_ttl_seconds": 900, "disabled": false, "created_at": "2026-01-02T03:04:05Z"
    });
    round_trip::<Agent>(agent.clone());
    let mut created = agent.clone();
    created["agent_credential"] = json!("nxa_agt_01_s3cr3t");
    let created: CreatedAgent = round_trip(created);
    assert_eq!(created.agent.agent_id, "agt_01");
    assert!(!format!("{created:?}").contains("s3cr3t"));
    round_trip::<RotatedCredential>(
        json!({"agent_id": "agt_01", "agent_credential": "nxa_agt_01_new"}),
    );
    round_trip::<CreateAgentRequest>(json!({"name": "bot", "scopes": ["a:b"]}));
    round_trip::<CreateAgentRequest>(
        json!({"name": "bot", "scopes": [], "max_session_ttl_seconds": 60}),
    );
    assert!(
        serde_json::from_value::<CreateAgentRequest>(json!({"name": "bot", "extra": 1})).is_err()
    );
    assert!(
        serde_json::from_value::<CreateAgentRequest>(json!({"name": "bot", "scopes": ["a b"]}))
            .is_err()
    );
    round_trip::<IdentityProvider>(json!({
        "id": "idp_01", "workspace_id": "w1", "issuer": "http://127.0.0.1:9/",
        "jwks_url": null, "audience": "nexus-tests", "allow_id_jag": false,
        "created_at": "2026-01-02T03:04:05Z"
    }));
    round_trip::<IdentityProvider>(json!({
        "id": "idp_02", "workspace_id": "w1", "issuer": "https://id.example",
        "jwks_url": null, "audience": null, "allow_id_jag": false,
        "created_at": "2026-01-02T03:04:05Z", "login_client_id": "nexus-login",
        "console": {"groups": ["nexus-ops"], "groups_claim": "groups"}
    }));
    let add: AddIdentityProviderRequest = round_trip(json!({
        "issuer": "https://id.example", "login_client_id": "nexus-login",
        "login_client_secret": "s3cr3t", "console": {"emails": ["ops@example.com"], "groups_claim": "roles"}
    }));
    assert!(!format!("{add:?}").contains("s3cr3t"));
    assert!(serde_json::from_value::<ConsoleAccess>(json!({"groups": ["a"], "other": 1})).is_err());
    // Answers of brokers before `allow_id_jag` existed still parse (as not trusted for ID-JAGs).
    let older: IdentityProvider = serde_json::from_value(json!({
        "id": "idp_01", "workspace_id": "w1", "issuer": "http://127.0.0.1:9/",
        "jwks_url": null, "audience": null, "created_at": "2026-01-02T03:04:05Z"
    }))
    .unwrap();
    assert!(!older.allow_id_jag);
    round_trip::<AddIdentityProviderRequest>(json!({"issuer": "https://id.example"}));
    round_trip::<AddIdentityProviderRequest>(json!({
        "issuer": "https://id.example", "jwks_url": "https://id.example/jwks", "audience": "api"
    }));
    let id_jag: AddIdentityProviderRequest =
        round_trip(json!({"issuer": "https://id.example", "allow_id_jag": true}));
    assert!(id_jag.allow_id_jag);
}

#[test]
fn workspace_paths_cannot_escape() {
    let ws = WorkspaceId::new("acme").unwrap();
    assert_eq!(
        workspace_path(&ws, "/api-keys"),
        "/admin/v1/workspaces/acme/api-keys"
    );
    assert!(WorkspaceId::new("../x").is_err());
}
