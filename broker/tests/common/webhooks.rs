//! Webhook settings and endpoint registration shared by the tests that listen for events.

use super::{TestBroker, raw_pool, test_config};
use nexus_testkit::WebhookReceiver;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

pub const DEADLINE: Duration = Duration::from_secs(20);

/// Webhook settings for tests: loopback receivers, quick polls and retries.
pub fn webhook_config(db_url: &str) -> nexus_broker::BrokerConfig {
    let mut config = test_config(db_url);
    config.webhooks.allow_loopback = true;
    config.webhooks.poll = Duration::from_millis(50);
    config.webhooks.backoff = vec![Duration::from_millis(100), Duration::from_millis(200)];
    config.webhooks.timeout = Duration::from_secs(2);
    config
}

/// Register the receiver; returns the endpoint id, and gives the receiver the secret.
pub async fn add_endpoint(b: &TestBroker, receiver: &WebhookReceiver, events: Value) -> String {
    let (status, created) = TestBroker::send(
        b.admin(Method::POST, "/admin/v1/webhooks")
            .json(&json!({"url": receiver.url(), "events": events})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"));
    receiver.set_secrets([secret]);
    created["id"].as_str().expect("id").to_owned()
}

/// Poll `sql` (a `COUNT(*)`) every 20 ms until `done(count)`, failing at the deadline.
pub async fn poll_count(db_url: &str, sql: &'static str, done: impl Fn(i64) -> bool) {
    let pool = raw_pool(db_url).await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tick.tick().await;
        let n: i64 = sqlx::query_scalar(sql)
            .fetch_one(&pool)
            .await
            .expect("count");
        if done(n) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "`{sql}` stayed at {n}"
        );
    }
}

/// Wait until no delivery is pending or in flight.
pub async fn drained(db_url: &str) {
    poll_count(
        db_url,
        "SELECT COUNT(*) FROM webhook_deliveries WHERE state IN ('pending', 'delivering')",
        |n| n == 0,
    )
    .await;
}
