//! Authenticated upstream requests (`prepare_request`, `authenticated_fetch`,
//! `AuthenticatedClient`) with a loopback gateway and a loopback mock upstream, and the redaction
//! of every token-carrying type.

mod support;

use bytes::Bytes;
use nexus_sdk::{
    AuthenticatedClient, CachedToken, ClientOptions, FetchRequest, Injection, RequestParts,
    TokenCache,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
use support::{API_KEY, Reply, TestServer, client_for};

/// A gateway that hands out `t1`, and `t2` once asked to force a refresh.
async fn rotating_gateway() -> TestServer {
    TestServer::start(Arc::new(|_, request| {
        Box::pin(async move {
            if request.query.contains("force_refresh=true") {
                Reply::token("t2", 3600)
            } else {
                Reply::token("t1", 3600)
            }
        })
    }))
    .await
}

/// An upstream API that accepts only `Bearer t2`.
async fn upstream_accepting_t2() -> TestServer {
    TestServer::start(Arc::new(|_, request| {
        Box::pin(async move {
            if request.header("authorization") == Some("Bearer t2") {
                Reply::json(
                    200,
                    json!({"ok": true, "echo": String::from_utf8_lossy(&request.body)}),
                )
            } else {
                Reply::json(401, json!({"message": "Bad credentials"}))
            }
        })
    }))
    .await
}

fn fetch_request(upstream: &TestServer, body: &'static str) -> FetchRequest {
    FetchRequest {
        method: "POST".into(),
        url: format!("{}/repos/o/r/issues", upstream.url()),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: Some(Bytes::from_static(body.as_bytes())),
    }
}

#[tokio::test]
async fn an_upstream_401_refreshes_once_and_retries_with_the_new_token() {
    let gateway = rotating_gateway().await;
    let upstream = upstream_accepting_t2().await;
    let client = client_for(&gateway);
    let cache = TokenCache::new();

    let response = client
        .authenticated_fetch(
            &cache,
            "ws",
            "github",
            fetch_request(&upstream, "{\"title\":\"x\"}"),
        )
        .await
        .expect("fetch");
    assert_eq!(response.status, 200);
    let body: serde_json::Value = serde_json::from_slice(&response.body).expect("json");
    assert_eq!(body["echo"], "{\"title\":\"x\"}", "the body was replayed");

    let seen: Vec<Option<String>> = upstream
        .requests()
        .iter()
        .map(|r| r.header("authorization").map(str::to_owned))
        .collect();
    assert_eq!(
        seen,
        [Some("Bearer t1".to_owned()), Some("Bearer t2".to_owned())]
    );
    let resolves = gateway.requests();
    assert_eq!(resolves.len(), 2);
    assert!(!resolves[0].query.contains("force_refresh"));
    assert!(resolves[1].query.contains("force_refresh=true"));
    assert_eq!(
        cache
            .get("ws", "github")
            .and_then(|t| t.access_token().map(str::to_owned)),
        Some("t2".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_401s_cause_a_single_forced_refresh() {
    let gateway = rotating_gateway().await;
    let upstream = upstream_accepting_t2().await;
    let client = client_for(&gateway);
    let cache = TokenCache::new();
    client
        .resolve_cached(&cache, "ws", "github")
        .await
        .expect("warm: t1 cached");
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (client, cache, request) = (
            client.clone(),
            cache.clone(),
            fetch_request(&upstream, "{}"),
        );
        tasks.push(tokio::spawn(async move {
            client
                .authenticated_fetch(&cache, "ws", "github", request)
                .await
        }));
    }
    for task in tasks {
        let response = task.await.expect("no panic").expect("fetch");
        assert_eq!(response.status, 200);
    }
    let forced = gateway
        .requests()
        .iter()
        .filter(|r| r.query.contains("force_refresh=true"))
        .count();
    assert_eq!(
        forced, 1,
        "one refresh for every caller rejected with the same token"
    );
}

#[tokio::test]
async fn a_second_401_is_returned_not_retried_again() {
    let gateway = TestServer::script(vec![Reply::token("always_bad", 3600)]).await;
    let upstream = upstream_accepting_t2().await;
    let client = client_for(&gateway);
    let response = client
        .authenticated_fetch(
            &TokenCache::new(),
            "ws",
            "github",
            fetch_request(&upstream, "{}"),
        )
        .await
        .expect("a 401 is a response, not an error");
    assert_eq!(response.status, 401);
    assert_eq!(upstream.count(), 2, "one retry only");
}

#[tokio::test]
async fn prepare_request_merges_headers_without_sending() {
    let gateway = TestServer::script(vec![Reply::token("t1", 3600)]).await;
    let client = client_for(&gateway);
    let headers = vec![
        ("Authorization".to_owned(), "stale".to_owned()),
        ("Accept".to_owned(), "*/*".to_owned()),
    ];
    let parts = RequestParts {
        method: "GET",
        url: "https://api.github.com/user",
        headers: &headers,
        body: b"",
    };
    let prepared = client
        .prepare_request(&TokenCache::new(), "ws", "github", &parts)
        .await
        .expect("prepared");
    assert_eq!(prepared.url, "https://api.github.com/user");
    assert_eq!(
        prepared.headers,
        [
            ("Accept".to_owned(), "*/*".to_owned()),
            ("Authorization".to_owned(), "Bearer t1".to_owned())
        ]
    );
    assert_eq!(prepared.token.connection_id(), Some("conn_1"));
}

#[tokio::test]
async fn an_unknown_strategy_never_sends_the_request() {
    let gateway = TestServer::script(vec![Reply::json(
        200,
        json!({"access_token": "t", "strategy": {"type": "telepathy"}, "credentials": {}}),
    )])
    .await;
    let upstream = upstream_accepting_t2().await;
    let error = client_for(&gateway)
        .authenticated_fetch(
            &TokenCache::new(),
            "ws",
            "p",
            fetch_request(&upstream, "{}"),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), "unknown_strategy");
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn authenticated_client_retries_a_401_with_a_fresh_token() {
    let gateway = rotating_gateway().await;
    let upstream = upstream_accepting_t2().await;
    let authed = AuthenticatedClient::new(client_for(&gateway), TokenCache::new(), "ws", "github");
    let request = authed
        .request(reqwest::Method::POST, &format!("{}/x", upstream.url()))
        .body("payload")
        .build()
        .expect("request");
    let response = authed.execute(request).await.expect("executed");
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.count(), 2);
    assert_eq!(upstream.requests()[1].body.as_ref(), b"payload");
}

const SECRET: &str = "gho_SUPERSECRET_value";

#[tokio::test]
async fn debug_output_of_token_carrying_types_hides_the_secret() {
    let response = nexus_sdk::client::parse_resolve_response(
        json!({
            "access_token": SECRET, "expires_in": 60, "strategy": {"type": "query_param"},
            "credentials": {"access_token": SECRET, "api_key": SECRET}
        })
        .to_string()
        .as_bytes(),
    )
    .expect("parses");
    assert!(!format!("{response:?}").contains(SECRET));
    let token = CachedToken::from_response(response, chrono::Utc::now(), Instant::now());
    assert!(!format!("{token:?}").contains(SECRET));

    let headers = vec![("X-Other".to_owned(), SECRET.to_owned())];
    let parts = RequestParts {
        method: "GET",
        url: "https://api.example.com/?q=1",
        headers: &headers,
        body: b"",
    };
    assert!(!format!("{parts:?}").contains(SECRET));
    let strategy = token.strategy().expect("valid").clone();
    let injection: Injection =
        nexus_sdk::apply(&strategy, token.credentials(), &parts, chrono::Utc::now())
            .expect("applied");
    assert!(
        injection.url.contains(SECRET),
        "the secret is really injected"
    );
    assert!(!format!("{injection:?}").contains(SECRET));
    let prepared = nexus_sdk::fetch::prepare_with(Arc::new(token), &parts).expect("prepared");
    assert!(!format!("{prepared:?}").contains(SECRET));

    let fetch = FetchRequest {
        method: "GET".into(),
        url: format!("https://api.example.com/?api_key={SECRET}"),
        headers: vec![("Authorization".into(), SECRET.into())],
        body: Some(Bytes::from_static(SECRET.as_bytes())),
    };
    assert!(!format!("{fetch:?}").contains(SECRET));

    let options = ClientOptions::new("http://127.0.0.1:9", SECRET);
    assert!(!format!("{options:?}").contains(SECRET));
    let client = nexus_sdk::NexusClient::new(options).expect("client");
    assert!(!format!("{client:?}").contains(SECRET));
    let authed = AuthenticatedClient::new(client, TokenCache::new(), "ws", "p");
    assert!(!format!("{authed:?}").contains(SECRET));
}

#[tokio::test]
async fn transport_errors_to_the_upstream_do_not_leak_a_query_key() {
    let gateway = TestServer::script(vec![Reply::json(
        200,
        json!({"strategy": {"type": "query_param"}, "credentials": {"api_key": SECRET}}),
    )])
    .await;
    let closed = nexus_testkit::RefusingPort::new();
    let dead = closed.addr();
    let request = FetchRequest {
        method: "GET".into(),
        url: format!("http://{dead}/data"),
        headers: Vec::new(),
        body: None,
    };
    let error = client_for(&gateway)
        .authenticated_fetch(&TokenCache::new(), "ws", "p", request)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "connection_error");
    assert!(!error.to_string().contains(SECRET), "{error}");
    assert!(!format!("{error:?}").contains(SECRET));
    assert!(!error.to_string().contains(API_KEY));
}

#[tokio::test]
async fn an_upstream_that_never_answers_ends_in_a_timeout() {
    let gateway = TestServer::script(vec![Reply::token("t1", 3600)]).await;
    let upstream = nexus_testkit::RecordingUpstream::start().await;
    upstream.script([nexus_testkit::Reply::Silent]);
    let client = support::client_with(&gateway, |options| {
        options.timeout = std::time::Duration::from_millis(300);
    });
    let request = FetchRequest {
        method: "GET".into(),
        url: format!("{}/slow", upstream.url),
        headers: Vec::new(),
        body: None,
    };
    let error = client
        .authenticated_fetch(&TokenCache::new(), "ws", "p", request)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "timeout", "{error}");
    assert_eq!(
        upstream.count(),
        1,
        "the request arrived, the answer never came"
    );
}
