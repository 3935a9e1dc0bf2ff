//! `POST /v1/mcp/user-credential` with an access token that acts for an agent (`act`), on a
//! real stack (gateway → broker with the authorization server), SQLite always and PostgreSQL
//! when `NEXUS_TEST_DATABASE_URL` is set: while the agent is enabled the token reaches the
//! user's credential path (here: `connection_required`, the user has not connected); once the
//! agent is disabled the same unexpired token is refused (401 `invalid_subject_token`, never
//! echoed); enabled again, it works again.

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

async fn set_disabled(stack: &Stack, agent: &str, disabled: bool) {
    let verb = if disabled { "disable" } else { "enable" };
    let path = format!("/admin/v1/workspaces/acme/agents/{agent}/{verb}");
    stack
        .broker
        .admin(reqwest::Method::POST, &path, None, 200)
        .await;
}

fn act_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()["act"].clone()
}

async fn scenario(stack: Stack) {
    let (key, _) = stack.broker.new_key("acme").await;
    let client = register_client(&stack).await;
    let agent = stack
        .broker
        .admin(
            reqwest::Method::POST,
            "/admin/v1/workspaces/acme/agents",
            Some(json!({"name": "delegate", "scopes": ["notes:read"]})),
            201,
        )
        .await["agent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let encoded: String = url::form_urlencoded::byte_serialize(client.as_bytes()).collect();
    stack
        .broker
        .admin(
            reqwest::Method::PUT,
            &format!("/admin/v1/workspaces/acme/mcp-clients/{encoded}/agent"),
            Some(json!({"agent_id": agent})),
            204,
        )
        .await;
    let token = access_token(&stack, &client, RESOURCE, "alice").await;
    assert_eq!(act_of(&token), json!({"sub": agent}));

    let (status, body) = user_credential(&stack, &key, &token).await;
    assert_error(status, &body, 409, "connection_required");

    set_disabled(&stack, &agent, true).await;
    let (status, body) = user_credential(&stack, &key, &token).await;
    assert_error(status, &body, 401, "invalid_subject_token");
    assert!(!body.to_string().contains(&token), "the token echoed");

    set_disabled(&stack, &agent, false).await;
    let (status, body) = user_credential(&stack, &key, &token).await;
    assert_error(status, &body, 409, "connection_required");
}

#[tokio::test]
async fn a_disabled_agent_s_tokens_reach_no_user_credential_sqlite() {
    scenario(mcp_stack(None).await).await;
}

#[tokio::test]
async fn a_disabled_agent_s_tokens_reach_no_user_credential_postgres() {
    let Some(url) = common::broker::fresh_postgres_database().await else {
        return;
    };
    scenario(mcp_stack(Some(url)).await).await;
}
