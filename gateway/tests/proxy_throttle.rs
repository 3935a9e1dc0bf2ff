//! Proxy mode's throttle rule against a real broker and a recording upstream (issue 16, design 16
//! §7): an upstream 429/503 is passed through, unless the provider set `retry_on_throttle`, the
//! body is replayable, the upstream's `Retry-After` is within `max_delay` and a gateway-wide
//! waiter permit is free; then the call is sent again, and the audit record counts it.

mod common;
mod proxy_kit;

use common::broker::ADMIN_TOKEN;
use nexus_testkit::Reply;
use proxy_kit::{ProxyStack, WS};
use serde_json::{Value, json};
use std::time::Duration;

fn retry_once() -> Value {
    json!({"retry_on_throttle": {"max_attempts": 1, "max_delay": "2s"}})
}

/// The `proxy.request` audit detail of the workspace's only proxied call, as text.
async fn proxy_record(p: &ProxyStack) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let records = p.stack.broker.audit(WS).await;
        if let Some(r) = records.iter().find(|r| r["action"] == "proxy.request") {
            return r.to_string();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no proxy.request record"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_short_retry_after_is_waited_out_once_and_counted() {
    let p = ProxyStack::start().await;
    p.header_provider(retry_once()).await;
    p.upstream
        .script([Reply::with(429, &[("Retry-After", "1")], b"slow down")]);
    let response = p
        .request(reqwest::Method::POST, "up", "/items")
        .body("{\"a\":1}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the retry's answer");
    assert_eq!(response.text().await.unwrap(), "ok");
    let seen = p.upstream.requests();
    assert_eq!(seen.len(), 2, "exactly one retry");
    assert_eq!(seen[1].body, seen[0].body, "the same body sent again");
    let text = proxy_record(&p).await;
    assert!(
        text.contains("\"throttle_retries\\\":1") || text.contains("\"throttle_retries\":1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_503_retries_at_most_max_attempts_then_passes_through() {
    let p = ProxyStack::start().await;
    p.header_provider(json!({"retry_on_throttle": {"max_attempts": 2, "max_delay": 1}}))
        .await;
    let busy = || Reply::with(503, &[("Retry-After", "0")], b"busy");
    p.upstream.script([busy(), busy(), busy()]);
    let response = p
        .request(reqwest::Method::GET, "up", "/items")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "0");
    assert!(
        response.headers().get("nexus-error").is_none(),
        "upstream's"
    );
    assert_eq!(p.upstream.count(), 3, "the first call and two retries");
}

#[tokio::test]
async fn a_long_retry_after_is_passed_through_untouched() {
    let p = ProxyStack::start().await;
    p.header_provider(retry_once()).await;
    p.upstream
        .script([Reply::with(429, &[("Retry-After", "120")], b"later")]);
    let response = p
        .request(reqwest::Method::GET, "up", "/items")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "120");
    assert!(response.headers().get("nexus-error").is_none());
    assert_eq!(response.text().await.unwrap(), "later");
    assert_eq!(p.upstream.count(), 1, "never retried");
}

#[tokio::test]
async fn without_the_setting_a_throttle_is_passed_through() {
    let p = ProxyStack::start().await;
    p.header_provider(Value::Null).await;
    p.upstream
        .script([Reply::with(429, &[("Retry-After", "1")], b"slow down")]);
    let response = p
        .request(reqwest::Method::GET, "up", "/items")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(p.upstream.count(), 1);
}

#[tokio::test]
async fn a_streamed_body_is_never_sent_twice() {
    let p = ProxyStack::start().await;
    p.header_provider(retry_once()).await;
    p.upstream
        .script([Reply::with(429, &[("Retry-After", "1")], b"slow down")]);
    let stream = futures::stream::iter([Ok::<_, std::io::Error>(vec![b'z'; 100_000])]);
    let response = p
        .request(reqwest::Method::POST, "up", "/upload")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(p.upstream.count(), 1, "not replayable: passed through");
}

#[tokio::test]
async fn no_free_waiter_permit_means_no_retry() {
    let p = ProxyStack::start_with(|c| c.proxy.max_retry_waiters = 0).await;
    p.header_provider(retry_once()).await;
    p.upstream
        .script([Reply::with(429, &[("Retry-After", "1")], b"slow down")]);
    let response = p
        .request(reqwest::Method::GET, "up", "/items")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429, "the cap is full: passed through");
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(p.upstream.count(), 1);
}

#[tokio::test]
async fn bad_throttle_settings_are_refused_naming_the_field() {
    let p = ProxyStack::start().await;
    let http = reqwest::Client::new();
    for (setting, field) in [
        ("{ max_attempts: 3, max_delay: 2s }", "max_attempts"),
        ("{ max_attempts: 1, max_delay: -1s }", "max_delay"),
        ("{ max_attempts: 1, max_delay: 1h }", "max_delay"),
    ] {
        let document = format!(
            "providers:\n  - name: up\n    auth_type: api_key\n    api_base_url: {}/base\n    \
             proxy:\n      retry_on_throttle: {setting}\n",
            p.upstream.url
        );
        let response = http
            .post(format!("{}/admin/v1/providers/apply", p.stack.broker.url))
            .bearer_auth(ADMIN_TOKEN)
            .header("Content-Type", "application/yaml")
            .body(document)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{setting}");
        let body: Value = response.json().await.unwrap();
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("retry_on_throttle.{field}")),
            "{setting}: {body}"
        );
        assert!(body["error"].is_string(), "{body}");
    }
    let listed = p
        .stack
        .broker
        .admin(reqwest::Method::GET, "/admin/v1/providers", None, 200)
        .await;
    assert!(
        !listed.to_string().contains("retry_on_throttle"),
        "nothing stored: {listed}"
    );
}

#[tokio::test]
async fn a_caller_that_goes_away_ends_the_wait_and_frees_its_permit() {
    // One permit, taken by a call that waits out a 30 s Retry-After and whose caller gives up.
    let p = ProxyStack::start_with(|c| c.proxy.max_retry_waiters = 1).await;
    p.header_provider(json!({"retry_on_throttle": {"max_delay": "30s"}}))
        .await;
    p.upstream
        .script([Reply::with(429, &[("Retry-After", "30")], b"later")]);
    let gave_up = p
        .request(reqwest::Method::GET, "up", "/items")
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    assert!(
        gave_up.is_err(),
        "the caller timed out while the gateway waited"
    );
    // Only when the wait was cancelled with the caller is the permit free well before 30 s:
    // then a throttled call is retried (200) instead of passed through (429).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        p.upstream
            .script([Reply::with(429, &[("Retry-After", "0")], b"busy")]);
        let response = p
            .request(reqwest::Method::GET, "up", "/items")
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the permit stayed taken: the wait outlived its caller"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The route's deadline counts the throttle waits: with short gateway timeouts (upstream 500 ms,
/// broker 2 s, which made a 3 s deadline before) a 4 s `Retry-After` the provider allows is
/// waited out and the retry's answer arrives, instead of a 504 in the middle of the wait. The
/// retry is counted in the gateway's metrics.
#[tokio::test]
async fn the_route_deadline_includes_the_throttle_wait() {
    let p = ProxyStack::start_with(|c| {
        c.proxy.max_timeout = Duration::from_millis(500);
        c.broker_timeout = Duration::from_secs(2);
    })
    .await;
    p.header_provider(json!({"retry_on_throttle": {"max_attempts": 1, "max_delay": "4s"}}))
        .await;
    p.upstream
        .script([Reply::with(429, &[("Retry-After", "4")], b"slow down")]);
    let response = p
        .request(reqwest::Method::GET, "up", "/items")
        .send()
        .await
        .unwrap();
    assert!(
        response.headers().get("nexus-error").is_none(),
        "the gateway cut the call: {:?}",
        response.headers().get("nexus-error")
    );
    assert_eq!(response.status(), 200, "the retry's answer");
    assert_eq!(p.upstream.count(), 2);
    let metrics = p
        .http
        .get(p.stack.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("nexus_gateway_proxy_retries_total{reason=\"throttled\"} 1\n"),
        "{metrics}"
    );
}
