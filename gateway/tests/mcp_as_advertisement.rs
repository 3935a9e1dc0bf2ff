//! `GET /v1/mcp/authorization-server` on a real stack (gateway → counting proxy → broker with
//! its authorization server): an MCP server holding only a workspace API key learns the issuer,
//! the RFC 8414 metadata URL and the JWKS URL, and they are exactly what the broker's metadata
//! document says (also for an issuer with a path). The gateway asks the broker once and reuses
//! the answer; no key is 401; an agent session is refused (403): the advertisement is for MCP
//! servers, which hold workspace API keys.

mod common;

use common::{Stack, assert_error, status_and_json};
use serde_json::{Value, json};

const PATH: &str = "/v1/mcp/authorization-server";
const INTERNAL_PATH: &str = "/internal/v1/as/advertisement";

async fn advertisement(stack: &Stack, key: Option<&str>) -> (u16, Value) {
    let mut request = stack.http.get(stack.url(PATH));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    status_and_json(request.send().await.expect("gateway reachable")).await
}

/// The advertisement matches the broker's own RFC 8414 document, fetched where it says.
async fn matches_the_metadata(stack: &Stack, expected_issuer: &str) {
    let (key, _) = stack.broker.new_key("acme").await;
    let (status, advertised) = advertisement(stack, Some(&key)).await;
    assert_eq!(status, 200, "{advertised}");
    assert_eq!(advertised["issuer"], expected_issuer);
    let metadata_url = advertised["metadata_url"].as_str().expect("metadata_url");
    let response = reqwest::get(metadata_url).await.expect("broker reachable");
    let (status, metadata) = status_and_json(response).await;
    assert_eq!(status, 200, "{metadata_url}: {metadata}");
    assert_eq!(advertised["issuer"], metadata["issuer"]);
    assert_eq!(advertised["jwks_uri"], metadata["jwks_uri"]);
    assert_eq!(
        advertised.as_object().unwrap().len(),
        3,
        "exactly issuer, metadata_url, jwks_uri: {advertised}"
    );
    assert_eq!(stack.proxy.count(INTERNAL_PATH), 1);

    // Another workspace's key: the same authorization server, from the gateway's cache.
    let (globex, _) = stack.broker.new_key("globex").await;
    let (status, again) = advertisement(stack, Some(&globex)).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, advertised);
    assert_eq!(stack.proxy.count(INTERNAL_PATH), 1, "not cached");
}

#[tokio::test]
async fn the_gateway_advertises_the_brokers_authorization_server() {
    let stack = Stack::start().await;
    let issuer = stack.broker.url.clone();
    matches_the_metadata(&stack, &issuer).await;
    let advertised = advertisement(&stack, Some(&stack.broker.new_key("acme").await.0))
        .await
        .1;
    assert_eq!(
        advertised["metadata_url"],
        format!("{issuer}/.well-known/oauth-authorization-server")
    );
    assert_eq!(advertised["jwks_uri"], format!("{issuer}/as/jwks"));

    // No key, or an unknown one: 401, and the broker is not asked for the advertisement.
    let (status, body) = advertisement(&stack, None).await;
    assert_error(status, &body, 401, "unauthorized");
    let (status, body) = advertisement(&stack, Some("nxs_not-a-real-key")).await;
    assert_error(status, &body, 401, "unauthorized");

    // An agent session (refused like on /v1/mcp/user-credential: an MCP server holds a key).
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
    let (status, body) = advertisement(&stack, Some(session)).await;
    assert_error(status, &body, 403, "forbidden");
    assert_eq!(stack.proxy.count(INTERNAL_PATH), 1);
}

#[tokio::test]
async fn an_issuer_with_a_path_advertises_its_path_aware_metadata_url() {
    let stack = Stack::start_with_broker(
        None,
        |config| {
            config.authorization_server.issuer = Some(format!("{}/nexus", config.public_url));
        },
        |_| {},
    )
    .await;
    let issuer = format!("{}/nexus", stack.broker.url);
    matches_the_metadata(&stack, &issuer).await;
    let (key, _) = stack.broker.new_key("acme").await;
    let (_, advertised) = advertisement(&stack, Some(&key)).await;
    // RFC 8414 §3: the well-known segment goes between the host and the issuer's path.
    assert_eq!(
        advertised["metadata_url"],
        format!(
            "{}/.well-known/oauth-authorization-server/nexus",
            stack.broker.url
        )
    );
}
