//! Test harness: a gateway on 127.0.0.1:0 in front of the real broker (SQLite in a temp dir),
//! with a counting, gating proxy between them so tests can see (and hold) every internal call
//! the gateway makes.

#![allow(dead_code)]

pub mod broker;
pub mod proxy;
pub mod raw_http;

use nexus_gateway::{Gateway, GatewayConfig};
use proxy::CountingProxy;
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpListener;

pub const INTERNAL_TOKEN: &str = "internal-test-token-0123456789";

/// A running gateway and what it talks to.
pub struct Stack {
    pub gateway_url: String,
    pub proxy: CountingProxy,
    pub broker: broker::TestBroker,
    pub http: reqwest::Client,
}

/// Settings a test may change before the stack starts.
pub fn test_config(broker_url: &str) -> GatewayConfig {
    let mut config = GatewayConfig::new(broker_url, INTERNAL_TOKEN);
    // Revocation must be visible at once in tests; the cache has its own test.
    config.key_cache_ttl = Duration::ZERO;
    config.rate_limit_per_second = 0;
    config.session_create_per_minute = 0;
    // The counting proxy buffers whole bodies and counts every call: no long-lived stream.
    config.revocation_feed = false;
    config.broker_timeout = Duration::from_secs(10);
    config
}

impl Stack {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut GatewayConfig)) -> Self {
        Self::start_on(None, adjust).await
    }

    /// A stack whose broker uses `database_url` (a fresh SQLite file when `None`).
    pub async fn start_on(
        database_url: Option<String>,
        adjust: impl FnOnce(&mut GatewayConfig),
    ) -> Self {
        Self::start_with_broker(database_url, |_| {}, adjust).await
    }

    /// A stack whose broker configuration is adjusted before it starts.
    pub async fn start_with_broker(
        database_url: Option<String>,
        adjust_broker: impl FnOnce(&mut nexus_broker::BrokerConfig),
        adjust: impl FnOnce(&mut GatewayConfig),
    ) -> Self {
        Self::start_served(database_url, adjust_broker, adjust, false).await
    }

    /// A stack whose gateway is served as `nexus serve` serves it: by `nexus_listener`, with
    /// the gateway's front.
    pub async fn start_fronted(adjust: impl FnOnce(&mut GatewayConfig)) -> Self {
        Self::start_served(None, |_| {}, adjust, true).await
    }

    async fn start_served(
        database_url: Option<String>,
        adjust_broker: impl FnOnce(&mut nexus_broker::BrokerConfig),
        adjust: impl FnOnce(&mut GatewayConfig),
        fronted: bool,
    ) -> Self {
        let broker =
            broker::TestBroker::start_configured(INTERNAL_TOKEN, database_url, adjust_broker).await;
        let proxy = CountingProxy::start(&broker.url).await;
        let mut config = test_config(&proxy.url);
        adjust(&mut config);
        let gateway_url = if fronted {
            let gateway = Gateway::new(config).expect("valid gateway config");
            serve_fronted(&gateway).await
        } else {
            serve_gateway(config).await
        };
        Self {
            gateway_url,
            proxy,
            broker,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.gateway_url)
    }

    /// `GET /v1/resolve?{query}` with `Authorization: Bearer {key}`.
    pub async fn resolve(&self, key: &str, query: &str) -> (u16, Value) {
        let response = self
            .http
            .get(self.url(&format!("/v1/resolve?{query}")))
            .bearer_auth(key)
            .send()
            .await
            .expect("gateway reachable");
        status_and_json(response).await
    }
}

/// Serves a gateway built from `config` on an ephemeral loopback port; returns its base URL.
pub async fn serve_gateway(config: GatewayConfig) -> String {
    let gateway = Gateway::new(config).expect("valid gateway config");
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("local addr");
    let router = gateway.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{address}")
}

/// Serves `gateway` as `nexus serve` does (`nexus_listener`, default limits, the gateway's
/// front) on an ephemeral loopback port; returns its base URL.
pub async fn serve_fronted(gateway: &Gateway) -> String {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("local addr");
    let front: nexus_listener::Front = std::sync::Arc::new(gateway.front());
    let router = gateway.router();
    let connections = nexus_listener::Connections::new(nexus_listener::Limits::default());
    tokio::spawn(async move {
        // Never asked to stop: the sender lives as long as the server.
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        let _ =
            nexus_listener::serve_with_front(listener, router, Some(front), connections, stopped)
                .await;
    });
    format!("http://{address}")
}

pub async fn status_and_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let json =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, json)
}

/// Asserts `body` is the error envelope with `code`, carrying a request id.
pub fn assert_error(status: u16, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status, expected_status, "status for {body}");
    assert_eq!(body["error"], code, "code in {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message in {body}"
    );
    assert!(
        body["request_id"].as_str().is_some_and(|id| !id.is_empty()),
        "request_id in {body}"
    );
}

/// Polls `condition` until it holds or 10 s pass (a deadline, not a sleep-as-synchronisation).
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A sink that keeps what the access-log writer thread writes (`.0` holds the bytes).
#[derive(Clone, Default)]
pub struct Captured(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
