//! The header names an upstream receives from the core's own HTTP client
//! (`authenticated_fetch`, `AuthenticatedClient`), recorded as they came over the wire by the
//! testkit's recording upstream (no parser that case-folds names).

mod support;

use nexus_sdk::{AuthenticatedClient, FetchRequest, TokenCache};
use nexus_testkit::{RawRequest, RecordingUpstream};
use serde_json::json;
use std::sync::Arc;
use support::{Reply, TestServer, client_for};

/// A gateway whose credential goes into `X-Trial-Key` (a `header` strategy, no prefix).
async fn header_strategy_gateway() -> TestServer {
    TestServer::start(Arc::new(|_, _| {
        Box::pin(async move {
            Reply::json(
                200,
                json!({
                    "access_token": "k-123", "expires_in": 3600,
                    "strategy": {"type": "header", "config": {"header_name": "X-Trial-Key", "value_prefix": ""}},
                    "credentials": {"api_key": "k-123"}
                }),
            )
        })
    }))
    .await
}

#[tokio::test]
async fn credential_and_caller_headers_reach_the_upstream_in_title_case() {
    let gateway = header_strategy_gateway().await;
    let upstream = RecordingUpstream::start().await;
    let client = client_for(&gateway);
    let cache = TokenCache::new();
    let request = FetchRequest {
        method: "GET".into(),
        url: format!("{}/v1/things", upstream.url),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: None,
    };
    let answer = client
        .authenticated_fetch(&cache, "ws", "trial", request)
        .await
        .expect("fetch");
    assert_eq!(answer.status, 200);

    let authenticated = AuthenticatedClient::new(client, cache, "ws", "trial");
    let request = authenticated
        .request(reqwest::Method::GET, &format!("{}/v1/other", upstream.url))
        .header("x-request-id", "r-1")
        .build()
        .expect("request");
    let answer = authenticated.execute(request).await.expect("execute");
    assert_eq!(answer.status(), 200);

    let seen = upstream.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for request in &seen {
        assert!(sent(request, "X-Trial-Key"), "{request:?}");
    }
    assert!(sent(&seen[0], "Content-Type"), "{:?}", seen[0]);
    assert!(sent(&seen[1], "X-Request-Id"), "{:?}", seen[1]);
}

/// Whether a header named exactly `name` (same case) reached the upstream.
fn sent(request: &RawRequest, name: &str) -> bool {
    request.headers.iter().any(|(n, _)| n == name)
}
