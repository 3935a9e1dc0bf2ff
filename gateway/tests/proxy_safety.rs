//! Proxy mode's safety rules against a real broker and a recording upstream (issue 16): no path
//! escapes the base, hop-by-hop / `Proxy-*` / `Nexus-*` headers never cross, the caller's key is
//! never forwarded, redirects are returned, the target is the base URL or an allowed host only,
//! errors are typed and marked `Nexus-Error`, and bodies stream both ways.

mod common;
mod proxy_kit;

use common::raw_http;
use futures::StreamExt;
use nexus_testkit::{RecordingUpstream, Reply};
use proxy_kit::ProxyStack;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Each must be refused before any upstream request.
const ESCAPES: &[&str] = &[
    "/../x",
    "/..%2fx",
    "/..%2Fx",
    "/%2e%2e/x",
    "/%2E%2E/x",
    "/.%2e/x",
    "/%2e./x",
    "/%252e%252e/x",
    "/%25252e%25252e/x",
    "/..%5cx",
    "/%5c..%5cx",
    "/a%2f..%2fx",
    "/a/..;/x",
    "/..;jsessionid=1/x",
    "/./x",
    "/.../x",
    "/..%20/x",
    "/..%09/x",
    "/%00/x",
    "/a//x",
    "/%2fetc",
    "/%u002e%u002e/x",
    "/\\..\\x",
    "/x%23/../y",
    "/x/%2e%2e",
    "/x/%2E%2e",
    "/x/..",
];

fn code(response: &raw_http::RawResponse) -> String {
    response.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn path_escapes_never_reach_the_upstream() {
    let p = ProxyStack::start().await;
    p.header_provider(Value::Null).await;
    for escape in ESCAPES {
        let target = p.target("up", escape);
        let response = raw_http::send(
            &p.stack.gateway_url,
            "GET",
            target.as_bytes(),
            &[&p.auth_header()],
        )
        .await;
        assert_eq!(response.status, 400, "{escape}: {}", response.head);
        assert_eq!(code(&response), "invalid_proxy_path", "{escape}");
        assert_eq!(
            response.header("nexus-error").as_deref(),
            Some("invalid_proxy_path")
        );
    }
    assert_eq!(
        p.upstream.count(),
        0,
        "no escape attempt reached the upstream"
    );

    // Harmless look-alikes reach exactly their path under the base.
    for (tail, expected) in [
        ("/%c0%ae%c0%ae/x", "/base/%C0%AE%C0%AE/x"),
        ("/x?../../y", "/base/x"),
        ("/a..b/%7euser", "/base/a..b/~user"),
    ] {
        let target = p.target("up", tail);
        let response = raw_http::send(
            &p.stack.gateway_url,
            "GET",
            target.as_bytes(),
            &[&p.auth_header()],
        )
        .await;
        assert_eq!(response.status, 200, "{tail}");
        let seen = p.upstream.requests().pop().expect("recorded");
        assert_eq!(seen.path(), expected, "{tail}");
    }
    let last = p.upstream.requests();
    assert_eq!(
        last[1].target, "/base/x?../../y",
        "the query is forwarded as sent"
    );
}

#[tokio::test]
async fn hop_by_hop_proxy_and_nexus_headers_never_cross_either_way() {
    let p = ProxyStack::start().await;
    p.header_provider(Value::Null).await;
    p.upstream.script([Reply::with(
        200,
        &[
            ("Connection", "X-Internal"),
            ("X-Internal", "1"),
            ("Nexus-Error", "forged"),
            ("Proxy-Authenticate", "Basic"),
            ("Keep-Alive", "timeout=5"),
            ("X-Kept", "yes"),
            ("Cache-Control", "public, max-age=60"),
        ],
        b"hello",
    )]);
    let target = p.target("up", "/things?x=1");
    let auth = format!("Authorization: Bearer {}", p.key);
    let response = raw_http::send(
        &p.stack.gateway_url,
        "GET",
        target.as_bytes(),
        &[
            &auth,
            "Connection: X-Secret",
            "X-Secret: s",
            "Keep-Alive: timeout=5",
            "TE: trailers",
            "Trailer: X-T",
            "Proxy-Authorization: Basic eA==",
            "Proxy-Foo: y",
            "Nexus-Trace: 1",
            "X-Forwarded-For: 10.0.0.1",
            "X-Caller: kept",
        ],
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.head);
    assert_eq!(response.body, b"hello");
    let seen = &p.upstream.requests()[0];
    assert_eq!(seen.header("X-Upstream-Key"), Some("sk_upstream"));
    assert_eq!(seen.header("x-caller"), Some("kept"));
    assert_eq!(seen.header("host"), Some(p.upstream.authority()));
    assert_eq!(seen.target, "/base/things?x=1");
    for name in [
        "authorization",
        "x-api-key",
        "x-secret",
        "keep-alive",
        "te",
        "trailer",
        "proxy-authorization",
        "proxy-foo",
        "nexus-trace",
        "x-forwarded-for",
    ] {
        assert!(
            seen.header(name).is_none(),
            "{name} reached the upstream: {seen:?}"
        );
    }
    assert!(
        !seen.headers.iter().any(|(_, v)| v.contains(&p.key)),
        "the caller's key never reaches the upstream"
    );
    for name in [
        "x-internal",
        "nexus-error",
        "proxy-authenticate",
        "keep-alive",
    ] {
        assert!(
            response.header(name).is_none(),
            "{name} reached the caller: {}",
            response.head
        );
    }
    assert_eq!(response.header("x-kept").as_deref(), Some("yes"));
    assert_eq!(response.header("cache-control").as_deref(), Some("private"));
}

#[tokio::test]
async fn redirects_and_upstream_errors_pass_through_unfollowed_and_unmarked() {
    let p = ProxyStack::start().await;
    p.header_provider(Value::Null).await;
    p.upstream.script([
        Reply::with(302, &[("Location", "http://127.0.0.1:1/elsewhere")], b""),
        Reply::with(
            500,
            &[("Content-Type", "text/html")],
            b"<h1>upstream broke</h1>",
        ),
        Reply::with(429, &[("Retry-After", "7")], b"slow down"),
    ]);
    let redirect = p
        .request(reqwest::Method::GET, "up", "/go")
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 302);
    assert_eq!(
        redirect.headers()["location"],
        "http://127.0.0.1:1/elsewhere"
    );
    let broken = p
        .request(reqwest::Method::GET, "up", "/b")
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), 500);
    assert!(broken.headers().get("nexus-error").is_none());
    assert_eq!(broken.text().await.unwrap(), "<h1>upstream broke</h1>");
    let throttled = p
        .request(reqwest::Method::GET, "up", "/c")
        .send()
        .await
        .unwrap();
    assert_eq!(throttled.status(), 429);
    assert_eq!(throttled.headers()["retry-after"], "7");
    assert!(throttled.headers().get("nexus-error").is_none());
    assert_eq!(
        p.upstream.count(),
        3,
        "one request each, nothing followed or retried"
    );
}

#[tokio::test]
async fn the_target_is_the_base_url_or_an_allowed_host_only() {
    let p = ProxyStack::start().await;
    let uploads = RecordingUpstream::start().await;
    p.header_provider(json!({"allowed_hosts": [uploads.authority()]}))
        .await;
    let allowed = p
        .request(reqwest::Method::PUT, "up", "/files/1")
        .header("Nexus-Proxy-Host", uploads.authority())
        .body("data")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    let seen = &uploads.requests()[0];
    assert_eq!(seen.path(), "/base/files/1");
    assert!(seen.header("nexus-proxy-host").is_none());
    assert_eq!(seen.body, b"data");

    let refused = p
        .request(reqwest::Method::GET, "up", "/x")
        .header("Nexus-Proxy-Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.headers()["nexus-error"], "proxy_host_not_allowed");
    assert_eq!(
        p.upstream.count() + uploads.count(),
        1,
        "the refused call went nowhere"
    );
}

#[tokio::test]
async fn gateway_failures_are_typed_and_marked() {
    let p = ProxyStack::start().await;
    p.header_provider(json!({"timeout": "300ms"})).await;
    // No response headers in time: 504 upstream_timeout.
    p.upstream.script([Reply::Silent]);
    let slow = p
        .request(reqwest::Method::GET, "up", "/slow")
        .send()
        .await
        .unwrap();
    assert_eq!(slow.status(), 504);
    assert_eq!(slow.headers()["nexus-error"], "upstream_timeout");
    assert_eq!(slow.headers()["cache-control"], "no-store");
    let body: Value = slow.json().await.unwrap();
    assert_eq!(body["error"], "upstream_timeout");

    // Nothing listening: 502 upstream_unavailable.
    let closed = nexus_testkit::RefusingPort::new();
    let dead = format!("{}/api", closed.http_url());
    let provider = json!({"name": "dead", "auth_type": "api_key", "api_base_url": dead,
        "strategy": {"type": "header", "config": {"header_name": "X-K"}}});
    p.add_provider(provider).await;
    p.stack.broker.add_connection(proxy_kit::WS, "dead").await;
    let down = p
        .request(reqwest::Method::GET, "dead", "/x")
        .send()
        .await
        .unwrap();
    assert_eq!(down.status(), 502);
    assert_eq!(down.headers()["nexus-error"], "upstream_unavailable");

    // A provider without an API base URL: 404 proxy_not_enabled; a wrong workspace: 403.
    p.stack
        .broker
        .add_connection(proxy_kit::WS, "static-api")
        .await;
    let off = p
        .request(reqwest::Method::GET, "static-api", "/x")
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), 404);
    assert_eq!(off.headers()["nexus-error"], "proxy_not_enabled");
    let other = p
        .stack
        .http
        .get(p.stack.url("/v1/proxy/globex/up/x"))
        .header("X-API-Key", &p.key)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 403);
    let unauthenticated = p.stack.http.get(p.url("up", "/x")).send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
    assert_eq!(unauthenticated.headers()["nexus-error"], "unauthorized");
    assert_eq!(
        p.upstream.count(),
        1,
        "only the timed-out call reached the upstream"
    );
}

#[tokio::test]
async fn request_bodies_stream_to_the_upstream_before_they_end() {
    let p = ProxyStack::start().await;
    p.header_provider(Value::Null).await;
    let part = vec![b'a'; 256 * 1024];
    let progress = p.upstream.body_progress();
    // The second half is produced only once the upstream has received the first: a gateway
    // that buffered the whole body would wait forever (the deadline below turns that into a
    // failure).
    let first = part.clone();
    let second = vec![b'b'; 256 * 1024];
    let half = part.len() as u64;
    let body = futures::stream::once(async move { Ok::<_, std::io::Error>(first) }).chain(
        futures::stream::once(async move {
            let mut progress = progress;
            progress
                .wait_for(|got| *got >= half)
                .await
                .expect("upstream alive");
            Ok(second)
        }),
    );
    let call = p
        .request(reqwest::Method::POST, "up", "/upload")
        .body(reqwest::Body::wrap_stream(body))
        .send();
    let response = tokio::time::timeout(Duration::from_secs(20), call)
        .await
        .expect("the body streamed (not buffered)")
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = &p.upstream.requests()[0];
    assert_eq!(seen.body.len(), 512 * 1024);
    assert!(seen.body[..256 * 1024].iter().all(|b| *b == b'a'));
    assert!(seen.body[256 * 1024..].iter().all(|b| *b == b'b'));
}

#[tokio::test]
async fn response_bodies_stream_to_the_caller_before_they_end() {
    let p = ProxyStack::start().await;
    p.header_provider(Value::Null).await;
    let release = Arc::new(tokio::sync::Notify::new());
    p.upstream.script([Reply::Gated {
        first: vec![b'1'; 1000],
        release: release.clone(),
        rest: vec![b'2'; 1000],
    }]);
    let mut response = p
        .request(reqwest::Method::GET, "up", "/download")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The upstream sends the rest only after we saw the first part: buffering would deadlock.
    let mut got = Vec::new();
    while got.len() < 1000 {
        let chunk = tokio::time::timeout(Duration::from_secs(20), response.chunk())
            .await
            .expect("the first part arrived before the body ended")
            .unwrap()
            .expect("more body");
        got.extend_from_slice(&chunk);
    }
    release.notify_one();
    while let Some(chunk) = response.chunk().await.unwrap() {
        got.extend_from_slice(&chunk);
    }
    assert_eq!(got.len(), 2000);
    assert!(got[1000..].iter().all(|b| *b == b'2'));
}

#[tokio::test]
async fn agent_sessions_proxy_within_their_scopes_and_their_token_stays_home() {
    let p = ProxyStack::start().await;
    p.header_provider(Value::Null).await;
    let allowed = p.session_token(&["provider:up"]).await;
    let response = p
        .http
        .get(p.url("up", "/me"))
        .bearer_auth(&allowed)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = &p.upstream.requests()[0];
    assert_eq!(seen.header("X-Upstream-Key"), Some("sk_upstream"));
    assert!(
        seen.header("authorization").is_none(),
        "the session token stays at the gateway"
    );

    let other = p.session_token(&["provider:static-api"]).await;
    let refused = p
        .http
        .get(p.url("up", "/me"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.headers()["nexus-error"], "scope_not_allowed");
    assert_eq!(p.upstream.count(), 1);
}
