//! A connection made through an MCP connect link belongs to that MCP user: only their own access
//! token (`POST /v1/mcp/user-credential`) reaches its credential. The workspace API key an MCP
//! server holds, and agent sessions of the workspace, resolve it neither by provider nor by id
//! (answered as if it did not exist), so the key never grows into every user's upstream token.
//! Nor the other way round: a connection the key makes for a user's id (its own connect link,
//! completed with an upstream account of its choosing) is never that user's MCP connection.
//! SQLite always, PostgreSQL when `NEXUS_TEST_DATABASE_URL` is set.

mod common;
mod mcp_kit;

use common::{Stack, assert_error, status_and_json};
use mcp_kit::*;
use serde_json::{Value, json};

async fn user_credential(stack: &Stack, key: &str, token: &str) -> (u16, Value) {
    let resp = stack
        .http
        .post(stack.url("/v1/mcp/user-credential"))
        .bearer_auth(key)
        .json(&json!({"provider": "github", "subject_token": token}))
        .send()
        .await
        .expect("gateway reachable");
    status_and_json(resp).await
}

async fn call(stack: &Stack, method: reqwest::Method, path: &str, bearer: &str) -> (u16, Value) {
    let resp = stack
        .http
        .request(method, stack.url(path))
        .bearer_auth(bearer)
        .send()
        .await
        .expect("gateway reachable");
    status_and_json(resp).await
}

/// Not found, saying nothing about the connection (no id, no link, no token).
fn assert_hidden(status: u16, body: &Value, bob_id: &str, bob_token: &str) {
    assert_error(status, body, 404, "connection_not_found");
    let text = body.to_string();
    assert!(!text.contains(bob_id), "{text}");
    assert!(!text.contains(bob_token), "{text}");
    assert!(!text.contains("reauthorize"), "{text}");
}

async fn scenario(stack: Stack) {
    let (key, _) = stack.broker.new_key("acme").await;
    let client = register_client(&stack).await;
    let bob = access_token(&stack, &client, RESOURCE, "bob").await;
    let broker = stack.broker.url.clone();

    // Bob connects through the link bound to him.
    let (status, body) = user_credential(&stack, &key, &bob).await;
    assert_error(status, &body, 409, "connection_required");
    let url = body["connect_url"]
        .as_str()
        .expect("connect_url")
        .to_owned();
    let cookie = log_in_at_ticket(&url, "bob", &broker).await;
    let done = walk_ticket(&url, &cookie).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let (status, bob_cred) = user_credential(&stack, &key, &bob).await;
    assert_eq!(status, 200, "{bob_cred}");
    let bob_id = bob_cred["connection_id"].as_str().expect("id").to_owned();
    let bob_token = bob_cred["access_token"].as_str().expect("token").to_owned();

    // The workspace key: bob's connection is the only one, and it is not the workspace's.
    let (status, body) = stack
        .resolve(&key, "workspace_id=acme&provider=github")
        .await;
    assert_hidden(status, &body, &bob_id, &bob_token);
    // Nor by id: token, forced refresh, status check.
    for (method, path) in [
        (reqwest::Method::GET, format!("/v1/token/{bob_id}")),
        (reqwest::Method::POST, format!("/v1/refresh/{bob_id}")),
        (
            reqwest::Method::GET,
            format!("/v1/check-connection/{bob_id}"),
        ),
    ] {
        let (status, body) = call(&stack, method, &path, &key).await;
        assert_hidden(status, &body, &bob_id, &bob_token);
    }

    // An agent session of the workspace allowed every GitHub scope: the same.
    let (_, agent) = stack.broker.new_agent("acme", &["provider:github"]).await;
    let resp = stack
        .http
        .post(stack.url("/v1/sessions"))
        .bearer_auth(&agent)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let (status, session) = status_and_json(resp).await;
    assert_eq!(status, 201, "{session}");
    let session = session["session_token"].as_str().expect("session_token");
    let (status, body) = stack
        .resolve(session, "workspace_id=acme&provider=github")
        .await;
    assert_hidden(status, &body, &bob_id, &bob_token);

    // With a workspace connection as well, the workspace resolves that one, never bob's.
    let workspace_id = stack.broker.add_connection("acme", "github").await;
    let (status, body) = stack
        .resolve(&key, "workspace_id=acme&provider=github")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["connection_id"], workspace_id.as_str());
    assert_ne!(body["access_token"], bob_token.as_str());
    let (status, body) = call(
        &stack,
        reqwest::Method::GET,
        &format!("/v1/token/{workspace_id}"),
        &key,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        &stack,
        reqwest::Method::GET,
        &format!("/v1/token/{bob_id}"),
        &key,
    )
    .await;
    assert_hidden(status, &body, &bob_id, &bob_token);

    // Bob's own token still reaches his credential, and only his.
    let (status, again) = user_credential(&stack, &key, &bob).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["connection_id"], bob_id.as_str());

    // The admin listing still shows it (metadata only, never a secret).
    let listed = stack
        .broker
        .admin(
            reqwest::Method::GET,
            "/admin/v1/workspaces/acme/connections",
            None,
            200,
        )
        .await;
    let text = listed.to_string();
    assert!(text.contains(&bob_id), "{text}");
    assert!(!text.contains(&bob_token), "{text}");
}

/// The `sub` of an access token (a JWT; read, not verified: the test minted it).
fn subject_of(token: &str) -> String {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    let claims: Value = serde_json::from_slice(&bytes).expect("JSON claims");
    claims["sub"].as_str().expect("sub").to_owned()
}

/// The workspace key's own connect flow (`POST /v1/request-connection`) for `user_id`, completed
/// at the provider by whoever holds the link. Returns the new, active connection's id.
async fn plant(stack: &Stack, key: &str, user_id: &str) -> String {
    let resp = stack
        .http
        .post(stack.url("/v1/request-connection"))
        .bearer_auth(key)
        .json(&json!({"user_id": user_id, "provider_name": "github",
                      "return_url": "https://app.example/done"}))
        .send()
        .await
        .expect("gateway reachable");
    let (status, started) = status_and_json(resp).await;
    assert_eq!(status, 200, "{started}");
    let at_provider = get(started["authUrl"].as_str().expect("authUrl"), None).await;
    assert!(
        matches!(at_provider.status, 302 | 303),
        "{}",
        at_provider.body
    );
    let callback = get(&at_provider.location.expect("callback"), None).await;
    assert!(matches!(callback.status, 302 | 303), "{}", callback.body);
    let landing = callback.location.expect("landing");
    assert!(
        landing.starts_with("https://app.example/done?status=success"),
        "{landing}"
    );
    let id = started["connection_id"].as_str().expect("id").to_owned();
    let (status, checked) = call(
        stack,
        reqwest::Method::GET,
        &format!("/v1/check-connection/{id}"),
        key,
    )
    .await;
    assert_eq!(status, 200, "{checked}");
    assert_eq!(checked["status"], "active", "{checked}");
    id
}

async fn planted_scenario(stack: Stack) {
    let (key, _) = stack.broker.new_key("acme").await;
    let client = register_client(&stack).await;
    let bob = access_token(&stack, &client, RESOURCE, "bob").await;
    let bob_sub = subject_of(&bob);
    let broker = stack.broker.url.clone();

    // The key makes a connection for bob's user id and completes it itself: bob's MCP calls must
    // not act as that account, so he is asked to connect his own.
    let planted = plant(&stack, &key, &bob_sub).await;
    let (status, body) = user_credential(&stack, &key, &bob).await;
    assert_error(status, &body, 409, "connection_required");
    assert!(!body.to_string().contains(&planted), "{body}");

    // His own connection, through the link bound to him, is the one used.
    let url = body["connect_url"]
        .as_str()
        .expect("connect_url")
        .to_owned();
    let cookie = log_in_at_ticket(&url, "bob", &broker).await;
    let done = walk_ticket(&url, &cookie).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let (status, cred) = user_credential(&stack, &key, &bob).await;
    assert_eq!(status, 200, "{cred}");
    let bob_id = cred["connection_id"].as_str().expect("id").to_owned();
    assert_ne!(bob_id, planted);

    // A newer planted connection does not displace it either.
    let newer = plant(&stack, &key, &bob_sub).await;
    let (status, again) = user_credential(&stack, &key, &bob).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["connection_id"], bob_id.as_str());
    assert_ne!(again["connection_id"], newer.as_str());

    // The operator may bind a connection to an MCP user (import); it needs the user's id.
    let import = "/admin/v1/workspaces/acme/connections/import";
    let refused = stack
        .broker
        .admin(
            reqwest::Method::POST,
            import,
            Some(json!({"provider_name": "github", "kind": "refresh_token",
                        "secret": "rt-operator", "bound_to_mcp_user": true})),
            400,
        )
        .await;
    assert_eq!(refused["error"], "invalid_request", "{refused}");
    let (_, refresh_token) = stack.broker.oauth.issue_tokens_directly(["read"]);
    let imported = stack
        .broker
        .admin(
            reqwest::Method::POST,
            import,
            Some(json!({"provider_name": "github", "kind": "refresh_token",
                        "secret": refresh_token, "user_id": bob_sub,
                        "bound_to_mcp_user": true})),
            201,
        )
        .await;
    let (status, operator) = user_credential(&stack, &key, &bob).await;
    assert_eq!(status, 200, "{operator}");
    assert_eq!(operator["connection_id"], imported["id"]);
}

#[tokio::test]
async fn a_connection_the_workspace_key_made_for_a_users_id_is_not_theirs_sqlite() {
    planted_scenario(mcp_stack(None).await).await;
}

#[tokio::test]
async fn a_connection_the_workspace_key_made_for_a_users_id_is_not_theirs_postgres() {
    let Some(url) = common::broker::fresh_postgres_database().await else {
        return;
    };
    planted_scenario(mcp_stack(Some(url)).await).await;
}

#[tokio::test]
async fn workspace_principals_cannot_resolve_an_mcp_users_connection_sqlite() {
    scenario(mcp_stack(None).await).await;
}

#[tokio::test]
async fn workspace_principals_cannot_resolve_an_mcp_users_connection_postgres() {
    let Some(url) = common::broker::fresh_postgres_database().await else {
        return;
    };
    scenario(mcp_stack(Some(url)).await).await;
}
