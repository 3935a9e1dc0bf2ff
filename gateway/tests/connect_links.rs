//! `POST /v1/connect-links` through the gateway to the real broker: an app with its workspace API
//! key gets a signed, single-use link to the broker's connect page for its own workspace; every
//! client mistake is a typed 4xx; an agent session is refused. SQLite always, PostgreSQL when
//! `NEXUS_TEST_DATABASE_URL` is set.

mod common;

use common::{Stack, assert_error, status_and_json};
use serde_json::{Value, json};

async fn post(stack: &Stack, bearer: Option<&str>, body: &str) -> (u16, Value, Option<String>) {
    let mut request = stack
        .http
        .post(stack.url("/v1/connect-links"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().await.expect("gateway reachable");
    let cache = response
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = status_and_json(response).await;
    (status, body, cache)
}

async fn scenario(stack: Stack) {
    let (key, _) = stack.broker.new_key("acme").await;

    // The app's key: a link to the broker's connect page, never cached, carrying no key.
    let (status, link, cache) = post(
        &stack,
        Some(&key),
        r#"{"user_id": "u-42", "providers": ["github"], "ttl_seconds": 600}"#,
    )
    .await;
    assert_eq!(status, 201, "{link}");
    assert_eq!(cache.as_deref(), Some("no-store"));
    let url = link["url"].as_str().expect("url");
    assert!(
        url.starts_with(&format!("{}/connect/l/v1.", stack.broker.url)),
        "{url}"
    );
    assert!(!url.contains(&key), "the API key in a link");
    assert!(
        link["expires_at"]
            .as_str()
            .is_some_and(|e| e.ends_with('Z'))
    );
    // The link opens the interstitial of the caller's workspace (a GET does not use it up).
    let page = stack.http.get(url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("acme"), "{html}");
    assert!(!html.contains(&key));
    // An empty body is every field defaulted.
    let (status, body, _) = post(&stack, Some(&key), "{}").await;
    assert_eq!(status, 201, "{body}");

    // Client mistakes: typed 4xx, each with its reason.
    for (body, expected, code) in [
        (r#"{"ttl_seconds": 5}"#, 400, "invalid_request"),
        (r#"{"ttl_seconds": 100000}"#, 400, "invalid_request"),
        (
            r#"{"providers": ["no-such-provider"]}"#,
            404,
            "provider_not_found",
        ),
        (r#"{"providers": ["Not A Name!"]}"#, 400, "invalid_request"),
        (r#"{"workspace_id": "globex"}"#, 400, "invalid_request"),
        (r#"{"user_id": ""}"#, 400, "invalid_request"),
        ("not json", 400, "invalid_request"),
    ] {
        let (status, answer, _) = post(&stack, Some(&key), body).await;
        assert_error(status, &answer, expected, code);
        assert!(!answer.to_string().contains(&key));
    }
    let oversized = format!(r#"{{"user_id": "{}"}}"#, "u".repeat(100 * 1024));
    let (status, answer, _) = post(&stack, Some(&key), &oversized).await;
    assert_error(status, &answer, 413, "payload_too_large");

    // No key, a wrong key: 401. An agent session acts for a task, not for the people who
    // connect accounts: 403.
    let (status, answer, _) = post(&stack, None, "{}").await;
    assert_error(status, &answer, 401, "unauthorized");
    let (status, answer, _) = post(&stack, Some("nxk_not_a_key"), "{}").await;
    assert_error(status, &answer, 401, "unauthorized");
    let (_, credential) = stack.broker.new_agent("acme", &["github:read"]).await;
    let session = stack
        .http
        .post(stack.url("/v1/sessions"))
        .bearer_auth(&credential)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let (status, session) = status_and_json(session).await;
    assert_eq!(status, 201, "{session}");
    let token = session["session_token"].as_str().expect("session token");
    let (status, answer, _) = post(&stack, Some(token), "{}").await;
    assert_error(status, &answer, 403, "forbidden");
}

#[tokio::test]
async fn an_api_key_gets_a_connect_link_for_its_own_workspace() {
    scenario(Stack::start().await).await;
    if let Some(url) = common::broker::fresh_postgres_database().await {
        scenario(Stack::start_on(Some(url), |_| {}).await).await;
    }
}
