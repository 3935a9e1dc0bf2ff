//! With a proxy configured in the environment, `authenticated_fetch` still goes through it
//! (through reqwest, which owns proxy handling; names then arrive in Title-Case). Its own test
//! binary: the proxy variables are process-wide.

mod support;

use nexus_sdk::{FetchRequest, TokenCache};
use nexus_testkit::RecordingUpstream;
use serde_json::json;
use std::sync::Arc;
use support::{Reply, TestServer, client_for};

#[tokio::test]
async fn a_proxied_upstream_request_goes_through_the_proxy() {
    let proxy = RecordingUpstream::start().await;
    // SAFETY: the only test of this binary sets the variables before anything reads them.
    unsafe {
        for name in ["HTTP_PROXY", "http_proxy"] {
            std::env::set_var(name, &proxy.url);
        }
        for name in ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
            std::env::remove_var(name);
        }
        // The gateway is on loopback and is reached directly.
        for name in ["NO_PROXY", "no_proxy"] {
            std::env::set_var(name, "127.0.0.1,localhost");
        }
    }
    let gateway = TestServer::start(Arc::new(|_, _| {
        Box::pin(async move {
            Reply::json(
                200,
                json!({
                    "access_token": "k-9", "expires_in": 3600,
                    "strategy": {"type": "header", "config": {"header_name": "X-API-Key", "value_prefix": ""}},
                    "credentials": {"api_key": "k-9"}
                }),
            )
        })
    }))
    .await;
    let client = client_for(&gateway);
    let request = FetchRequest {
        method: "GET".into(),
        url: "http://upstream.example/v1/things".into(),
        headers: vec![("X-Custom-ID".into(), "c-1".into())],
        body: None,
    };
    let answer = client
        .authenticated_fetch(&TokenCache::new(), "ws", "crm", request)
        .await
        .expect("fetch");
    assert_eq!(answer.status, 200);

    let seen = proxy.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].target, "http://upstream.example/v1/things");
    assert_eq!(seen[0].header("x-api-key"), Some("k-9"));
    assert_eq!(seen[0].header("x-custom-id"), Some("c-1"));
}
