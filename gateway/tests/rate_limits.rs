//! Rate limits count by who calls (issue 14 item 6): every session of one agent draws on one
//! budget, and `POST /v1/sessions` is limited per agent credential before the broker writes
//! anything. Real broker (SQLite) behind the real gateway on loopback.

mod common;

use common::{Stack, assert_error, status_and_json};
use serde_json::{Value, json};

const SCOPES: [&str; 1] = ["provider:static-api:read"];

async fn create_session(stack: &Stack, credential: &str) -> (u16, Option<String>, Value) {
    let response = stack
        .http
        .post(stack.url("/v1/sessions"))
        .bearer_auth(credential)
        .json(&json!({}))
        .send()
        .await
        .expect("gateway reachable");
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().expect("ascii").to_owned());
    let (status, body) = status_and_json(response).await;
    (status, retry_after, body)
}

fn token(session: &Value) -> String {
    session["session_token"]
        .as_str()
        .expect("session_token")
        .to_owned()
}

#[tokio::test]
async fn sessions_of_one_agent_share_one_budget_and_creation_is_limited() {
    let stack = Stack::start_with(|c| {
        c.rate_limit_per_second = 1;
        c.rate_limit_burst = 3;
        c.session_create_per_minute = 1;
        c.session_create_burst = 4;
    })
    .await;
    stack.broker.add_connection("acme", "static-api").await;
    let (_, agent) = stack.broker.new_agent("acme", &SCOPES).await;
    let (_, other_agent) = stack.broker.new_agent("acme", &SCOPES).await;

    // Creation: the burst, then 429 with Retry-After and the envelope.
    let mut sessions = Vec::new();
    for _ in 0..4 {
        let (status, _, body) = create_session(&stack, &agent).await;
        assert_eq!(status, 201, "{body}");
        sessions.push(token(&body));
    }
    let (status, retry_after, body) = create_session(&stack, &agent).await;
    assert_error(status, &body, 429, "rate_limited");
    let retry_after: u64 = retry_after.expect("Retry-After").parse().expect("seconds");
    assert!(retry_after >= 1, "Retry-After {retry_after}");
    assert_eq!(body["retry_after"], json!(retry_after));

    // Another agent is unaffected.
    let (status, _, body) = create_session(&stack, &other_agent).await;
    assert_eq!(status, 201, "{body}");
    let other_session = token(&body);

    // Requests: eight, spread over four sessions (two each, under any per-session burst of 3),
    // must run into the agent's single budget of 3 (+ at most a refill or two).
    let query = "workspace_id=acme&provider_name=static-api";
    let mut statuses = Vec::new();
    for round in 0..8 {
        let (status, body) = stack.resolve(&sessions[round % 4], query).await;
        if status == 429 {
            assert_error(status, &body, 429, "rate_limited");
        }
        statuses.push(status);
    }
    assert!(
        statuses.contains(&429),
        "sessions of one agent must share a budget: {statuses:?}"
    );
    assert_ne!(statuses[0], 429, "the first request is within budget");

    let (status, body) = stack.resolve(&other_session, query).await;
    assert_ne!(status, 429, "another agent has its own budget: {body}");
}
