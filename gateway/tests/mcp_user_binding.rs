//! A connection made through an MCP connect link belongs to that MCP user: only their own access
//! token (`POST /v1/mcp/user-credential`) reaches its credential. The workspace API key an MCP
//! server holds, and agent sessions of the workspace, resolve it neither by provider nor by id
//! (answered as if it did not exist), so the key never grows into every user's upstream token.
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
