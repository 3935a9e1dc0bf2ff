//! `NexusClient` and `TokenCache` against a real HTTP gateway stand-in on 127.0.0.1.

mod support;

use nexus_sdk::{
    ConnectionStatus, NexusClient, RequestConnectionInput, ResolveOptions, RetryPolicy, TokenCache,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::{API_KEY, Reply, TestServer, client_for, client_with, wait_until};
use tokio::sync::watch;

const CALLERS: usize = 1000;

/// A gateway whose resolve replies are held until the test opens the gate.
async fn gated_gateway(reply: Reply) -> (TestServer, watch::Sender<bool>) {
    let (open, gate) = watch::channel(false);
    let server = TestServer::start(Arc::new(move |_, _| {
        let mut gate = gate.clone();
        let reply = reply.clone();
        Box::pin(async move {
            let _ = gate.wait_for(|open| *open).await;
            reply
        })
    }))
    .await;
    (server, open)
}

/// Start `CALLERS` concurrent `resolve_cached` calls on a cold cache, wait until every one of
/// them is waiting on the cache, then let the gateway answer.
async fn thundering_herd(
    reply: Reply,
) -> (
    TestServer,
    TokenCache,
    Vec<nexus_sdk::Result<Arc<nexus_sdk::CachedToken>>>,
) {
    let (server, open) = gated_gateway(reply).await;
    let client = client_for(&server);
    let cache = TokenCache::new();
    let mut tasks = Vec::with_capacity(CALLERS);
    for _ in 0..CALLERS {
        let (client, cache) = (client.clone(), cache.clone());
        tasks.push(tokio::spawn(async move {
            client.resolve_cached(&cache, "ws_1", "github").await
        }));
    }
    let probe = cache.clone();
    wait_until(
        "every caller is waiting on the cache",
        Duration::from_secs(60),
        || probe.stats().misses == CALLERS as u64,
    )
    .await;
    open.send_replace(true);
    let mut results = Vec::with_capacity(CALLERS);
    for task in tasks {
        results.push(task.await.expect("caller task did not panic"));
    }
    (server, cache, results)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_cold_misses_make_one_gateway_call() {
    let (server, cache, results) = thundering_herd(Reply::token("gho_shared", 3600)).await;
    assert_eq!(server.count(), 1, "exactly one gateway request");
    for result in &results {
        let token = result.as_ref().expect("every caller gets the token");
        assert_eq!(token.access_token(), Some("gho_shared"));
    }
    let stats = cache.stats();
    assert_eq!(stats.fetches, 1);
    assert_eq!(stats.joined, CALLERS as u64 - 1);
    // And the next call is a hit.
    let client = client_for(&server);
    client
        .resolve_cached(&cache, "ws_1", "github")
        .await
        .expect("cached");
    assert_eq!(server.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_error_is_shared_by_every_waiter() {
    let reply = Reply::json(
        409,
        json!({"error": "reauth_required", "message": "authorize again",
               "reauth_url": "https://nexus.example.com/connect/c1"}),
    );
    let (server, cache, results) = thundering_herd(reply).await;
    assert_eq!(server.count(), 1, "exactly one gateway request");
    for result in results {
        let error = result.expect_err("every caller sees the error");
        assert_eq!(error.code(), "reauth_required");
        assert_eq!(error.status(), Some(409));
        assert_eq!(
            error.reauth_url(),
            Some("https://nexus.example.com/connect/c1")
        );
    }
    assert!(cache.is_empty(), "errors are not cached");
}

#[tokio::test]
async fn resolve_sends_the_bearer_key_and_the_query() {
    let server = TestServer::script(vec![Reply::token("t", 60)]).await;
    let client = client_for(&server);
    let options = ResolveOptions {
        min_ttl: Some(120),
        force_refresh: true,
    };
    let token = client
        .resolve("ws 1", "git/hub", options)
        .await
        .expect("resolved");
    assert_eq!(token.access_token(), Some("t"));
    assert_eq!(token.scopes(), ["repo"]);
    assert_eq!(token.api_base_url(), Some("https://api.example.com"));
    let seconds = token.seconds_remaining().expect("has expiry");
    assert!((30..=60).contains(&seconds), "seconds_remaining {seconds}");
    let request = &server.requests()[0];
    assert_eq!(request.path, "/v1/resolve");
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {API_KEY}").as_str())
    );
    let query: Vec<(String, String)> = url::form_urlencoded::parse(request.query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(
        query,
        [
            ("workspace_id".into(), "ws 1".into()),
            ("provider_name".into(), "git/hub".into()),
            ("min_ttl".into(), "120".into()),
            ("force_refresh".into(), "true".into()),
        ]
    );
}

#[tokio::test]
async fn backoff_retries_503_until_success() {
    let server = TestServer::script(vec![
        Reply::error(503, "upstream_unavailable", "down"),
        Reply::error(503, "upstream_unavailable", "down"),
        Reply::token("after_retries", 3600),
    ])
    .await;
    let token = client_for(&server)
        .resolve("ws", "github", ResolveOptions::default())
        .await
        .expect("succeeds on the third attempt");
    assert_eq!(token.access_token(), Some("after_retries"));
    assert_eq!(server.count(), 3);
}

#[tokio::test]
async fn retries_stop_at_max_retries() {
    let server = TestServer::script(vec![Reply::error(502, "upstream_unavailable", "down")]).await;
    let client = client_with(&server, |o| o.retry.max_retries = 2);
    let error = client
        .resolve("ws", "github", ResolveOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "upstream_unavailable");
    assert_eq!(server.count(), 3, "one attempt plus two retries");
}

#[tokio::test]
async fn a_400_is_not_retried() {
    let server = TestServer::script(vec![Reply::error(
        400,
        "invalid_request",
        "workspace_id is required",
    )])
    .await;
    let error = client_for(&server)
        .resolve("", "github", ResolveOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_request");
    assert_eq!(error.status(), Some(400));
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn a_429_waits_for_retry_after() {
    let server = TestServer::script(vec![
        Reply::error(429, "rate_limited", "slow down").with_header("retry-after", "1"),
        Reply::token("patient", 3600),
    ])
    .await;
    let token = client_for(&server)
        .resolve("ws", "github", ResolveOptions::default())
        .await
        .expect("succeeds after waiting");
    assert_eq!(token.access_token(), Some("patient"));
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    // The backoff alone would retry within 5 ms; Retry-After asked for a full second.
    let gap = requests[1].at - requests[0].at;
    assert!(
        gap >= Duration::from_secs(1),
        "retried after {gap:?}, before Retry-After"
    );
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_is_returned_not_waited() {
    let server = TestServer::script(vec![
        Reply::error(429, "rate_limited", "slow down").with_header("retry-after", "3600"),
    ])
    .await;
    let error = client_for(&server)
        .resolve("ws", "github", ResolveOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "rate_limited");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn a_429_is_not_retried_when_retry_after_is_disabled() {
    let server = TestServer::script(vec![
        Reply::error(429, "rate_limited", "slow down").with_header("retry-after", "1"),
        Reply::token("never", 3600),
    ])
    .await;
    let client = client_with(&server, |o| o.retry.respect_retry_after = false);
    let error = client
        .resolve("ws", "github", ResolveOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "rate_limited");
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn an_html_error_page_is_a_typed_invalid_response() {
    let server = TestServer::script(vec![Reply::text(
        502,
        "text/html",
        "<html><body><h1>502 Bad Gateway</h1></body></html>",
    )])
    .await;
    let client = client_with(&server, |o| o.retry = RetryPolicy::none());
    let error = client
        .resolve("ws", "github", ResolveOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_response");
    assert_eq!(error.status(), Some(502));
}

#[tokio::test]
async fn a_garbage_success_body_is_a_typed_invalid_response() {
    let server = TestServer::script(vec![Reply::text(
        200,
        "application/json",
        "{\"access_token\": \"tok_SECRET\", oops",
    )])
    .await;
    let error = client_for(&server)
        .resolve("ws", "github", ResolveOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_response");
    assert!(
        !error.to_string().contains("tok_SECRET"),
        "the body is not quoted: {error}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_typed_error() {
    let closed = nexus_testkit::RefusingPort::new();
    let mut options = nexus_sdk::ClientOptions::new(closed.http_url(), API_KEY);
    options.retry.initial_backoff = Duration::from_millis(1);
    let client = NexusClient::new(options).expect("client");
    let error = client
        .resolve("ws", "github", ResolveOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "connection_error");
    assert!(!error.to_string().contains(API_KEY));
}

#[tokio::test]
async fn a_slow_gateway_times_out() {
    let (server, _gate) = gated_gateway(Reply::token("late", 60)).await;
    let client = client_with(&server, |o| o.timeout = Duration::from_millis(200));
    let error = client
        .resolve("ws", "github", ResolveOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "timeout");
}

#[tokio::test]
async fn the_safety_buffer_decides_what_is_served_from_cache() {
    let server = TestServer::script(vec![Reply::token("short", 10)]).await;
    let client = client_for(&server);
    let cache = TokenCache::new(); // 30 s buffer: a 10 s token is never served from cache
    client
        .resolve_cached(&cache, "ws", "p")
        .await
        .expect("first");
    client
        .resolve_cached(&cache, "ws", "p")
        .await
        .expect("second");
    assert_eq!(server.count(), 2);

    let server = TestServer::script(vec![Reply::token("long", 3600)]).await;
    let client = client_for(&server);
    let cache = TokenCache::with_safety_buffer(Duration::from_secs(5));
    for _ in 0..3 {
        client
            .resolve_cached(&cache, "ws", "p")
            .await
            .expect("cached");
    }
    assert_eq!(server.count(), 1);

    let short_buffer = TokenCache::with_safety_buffer(Duration::from_secs(5));
    let server = TestServer::script(vec![Reply::token("short", 10)]).await;
    let client = client_for(&server);
    client
        .resolve_cached(&short_buffer, "ws", "p")
        .await
        .expect("first");
    client
        .resolve_cached(&short_buffer, "ws", "p")
        .await
        .expect("hit: 10 s > 5 s buffer");
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn invalidate_and_clear_force_a_new_resolve() {
    let server = TestServer::script(vec![Reply::token("a", 3600)]).await;
    let client = client_for(&server);
    let cache = TokenCache::new();
    client
        .resolve_cached(&cache, "ws", "p")
        .await
        .expect("first");
    client
        .resolve_cached(&cache, "ws", "q")
        .await
        .expect("other key");
    assert_eq!(server.count(), 2);
    cache.invalidate("ws", "p");
    assert!(cache.get("ws", "p").is_none());
    assert!(cache.get("ws", "q").is_some(), "other keys stay");
    client
        .resolve_cached(&cache, "ws", "p")
        .await
        .expect("again");
    assert_eq!(server.count(), 3);
    cache.clear();
    assert!(cache.is_empty());
}

#[tokio::test]
async fn lifecycle_calls_use_the_documented_paths() {
    let server = TestServer::start(Arc::new(|_, request| {
        Box::pin(async move {
            match (request.method.as_str(), request.path.as_str()) {
                ("POST", "/v1/request-connection") => Reply::json(
                    200,
                    json!({"authUrl": "https://github.com/login/oauth/authorize?x=1",
                           "connection_id": "conn/1", "state": "st", "scopes": ["repo"],
                           "provider_id": "prov_1"}),
                ),
                ("GET", "/v1/check-connection/conn%2F1") => {
                    Reply::json(200, json!({"status": "active", "connection_id": "conn/1"}))
                }
                ("GET", "/v1/token/conn%2F1") => Reply::token("by_id", 3600),
                ("POST", "/v1/refresh/conn%2F1") => Reply::token("refreshed", 3600),
                _ => Reply::error(404, "not_found", "no route"),
            }
        })
    }))
    .await;
    let client = client_for(&server);
    let input = RequestConnectionInput {
        user_id: "user_1".into(),
        provider_name: "github".into(),
        scopes: vec!["repo".into()],
        return_url: None,
        metadata: Default::default(),
    };
    let started = client
        .request_connection(&input)
        .await
        .expect("request-connection");
    assert_eq!(started.connection_id, "conn/1");
    assert!(started.auth_url.starts_with("https://github.com/"));
    let sent: serde_json::Value =
        serde_json::from_slice(&server.requests()[0].body).expect("json body");
    assert_eq!(sent["user_id"], "user_1");
    assert_eq!(sent["provider_name"], "github");

    let check = client.check_connection("conn/1").await.expect("check");
    assert_eq!(check.status, ConnectionStatus::Active);
    let token = client.get_token("conn/1").await.expect("token");
    assert_eq!(token.access_token(), Some("by_id"));
    let token = client.refresh_connection("conn/1").await.expect("refresh");
    assert_eq!(token.access_token(), Some("refreshed"));
    for request in server.requests() {
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {API_KEY}").as_str())
        );
    }
}

#[tokio::test]
async fn wait_for_active_polls_until_active() {
    let server = TestServer::script(vec![
        Reply::json(200, json!({"status": "pending"})),
        Reply::json(200, json!({"status": "pending"})),
        Reply::json(200, json!({"status": "active"})),
    ])
    .await;
    let check = client_for(&server)
        .wait_for_active("c1", Duration::from_millis(5), Duration::from_secs(30))
        .await
        .expect("becomes active");
    assert_eq!(check.status, ConnectionStatus::Active);
    assert_eq!(server.count(), 3);
}

#[tokio::test]
async fn wait_for_active_stops_on_needs_reauth() {
    let server = TestServer::script(vec![Reply::json(
        200,
        json!({"status": "needs_reauth", "reauth_url": "https://nexus.example.com/re"}),
    )])
    .await;
    let error = client_for(&server)
        .wait_for_active("c1", Duration::from_millis(5), Duration::from_secs(30))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "connection_failed");
    assert_eq!(error.reauth_url(), Some("https://nexus.example.com/re"));
}

#[tokio::test]
async fn wait_for_active_times_out_and_can_be_cancelled() {
    let server = TestServer::script(vec![Reply::json(200, json!({"status": "pending"}))]).await;
    let client = client_for(&server);
    let error = client
        .wait_for_active("c1", Duration::from_millis(5), Duration::from_millis(100))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "wait_aborted");

    let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
    let waiter = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .wait_for_active_or_cancel(
                    "c1",
                    Duration::from_millis(5),
                    Duration::from_secs(600),
                    async {
                        let _ = cancelled.await;
                    },
                )
                .await
        }
    });
    let before = server.count();
    wait_until("the waiter is polling", Duration::from_secs(10), || {
        server.count() > before
    })
    .await;
    let _ = cancel.send(());
    let error = waiter.await.expect("no panic").unwrap_err();
    assert_eq!(error.code(), "wait_aborted");
}

#[tokio::test]
async fn a_bad_gateway_url_or_key_is_rejected_up_front() {
    let bad_url = NexusClient::new(nexus_sdk::ClientOptions::new("not a url", "k")).unwrap_err();
    assert_eq!(bad_url.code(), "invalid_request");
    let bad_key = NexusClient::new(nexus_sdk::ClientOptions::new(
        "http://127.0.0.1:1",
        "k\r\nX: y",
    ))
    .unwrap_err();
    assert_eq!(bad_key.code(), "invalid_request");
    assert!(!bad_key.to_string().contains("X: y"));
}
