//! The front remembers the caller of a kept-alive connection (the key cache's verdict on its
//! API key), and never longer than the key cache would: a key revoked on the broker's feed is
//! refused on the very next request of the same connection, so is a key whose cached verdict
//! expired, and another key on the same connection is looked up on its own. Real gateway
//! (served by `nexus_listener` with its front, as `nexus serve` does), real broker (SQLite),
//! raw HTTP/1.1 on one loopback connection.

mod common;

use common::broker::TestBroker;
use common::{INTERNAL_TOKEN, test_config, wait_until};
use nexus_gateway::{Gateway, GatewayConfig};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WS: &str = "acme";
const QUERY: &str = "workspace_id=acme&provider_name=static-api";

/// One kept-alive HTTP/1.1 connection to the gateway.
struct Connection {
    stream: TcpStream,
    read: Vec<u8>,
}

impl Connection {
    async fn open(url: &str) -> Self {
        let stream = TcpStream::connect(url.trim_start_matches("http://"))
            .await
            .expect("connect");
        Self {
            stream,
            read: Vec::new(),
        }
    }

    /// `GET /v1/resolve` with `key`; the status (the body is read and dropped).
    async fn resolve(&mut self, key: &str) -> u16 {
        let request = format!(
            "GET /v1/resolve?{QUERY} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n\r\n"
        );
        self.stream
            .write_all(request.as_bytes())
            .await
            .expect("write");
        let head_end = loop {
            if let Some(at) = self.read.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            self.fill().await;
        };
        let head = String::from_utf8_lossy(&self.read[..head_end]).into_owned();
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .expect("content-length");
        while self.read.len() < head_end + length {
            self.fill().await;
        }
        self.read.drain(..head_end + length);
        status
    }

    async fn fill(&mut self) {
        let mut buf = [0u8; 4096];
        let n = self.stream.read(&mut buf).await.expect("read");
        assert!(n > 0, "the gateway closed the connection");
        self.read.extend_from_slice(&buf[..n]);
    }
}

/// A fronted gateway with production cache settings, adjusted.
async fn start(broker: &TestBroker, adjust: impl FnOnce(&mut GatewayConfig)) -> (Gateway, String) {
    let mut config = test_config(&broker.url);
    config.key_cache_ttl = Duration::from_secs(10);
    config.token_cache_max_ttl = Duration::from_secs(300);
    adjust(&mut config);
    let gateway = Gateway::new(config).expect("gateway config");
    let url = common::serve_fronted(&gateway).await;
    (gateway, url)
}

/// Polls on a new connection each time (nothing remembered) until `key` is refused; panics
/// after `within`.
async fn until_refused_on_new_connections(url: &str, key: &str, within: Duration) {
    let started = Instant::now();
    loop {
        let status = Connection::open(url).await.resolve(key).await;
        if status != 200 {
            assert_eq!(status, 401);
            return;
        }
        assert!(started.elapsed() < within, "the key is still served");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_revoked_key_is_refused_on_the_next_request_of_the_connection() {
    let broker = TestBroker::start(INTERNAL_TOKEN).await;
    let (gateway, url) = start(&broker, |config| config.revocation_feed = true).await;
    wait_until("the revocation stream", || {
        gateway.revocation_feed_connected()
    })
    .await;
    broker.add_connection(WS, "static-api").await;
    let (key, key_id) = broker.new_key(WS).await;
    let (other_key, _) = broker.new_key(WS).await;

    let mut connection = Connection::open(&url).await;
    // Cold (the handler caches the verdict and the token), then warm: remembered.
    for _ in 0..3 {
        assert_eq!(connection.resolve(&key).await, 200);
    }
    // Another key on the same connection is its own caller, and a key never seen is refused.
    assert_eq!(connection.resolve(&other_key).await, 200);
    assert_eq!(connection.resolve("nxk_not_a_key").await, 401);
    assert_eq!(connection.resolve(&key).await, 200);
    assert_eq!(connection.resolve(&key).await, 200);

    broker.revoke_key(WS, &key_id).await;
    // Once a connection with nothing remembered sees the revocation (the feed flushed the key
    // cache; it would have kept the verdict for 10 s), this one sees it too.
    until_refused_on_new_connections(&url, &key, Duration::from_secs(5)).await;
    assert_eq!(connection.resolve(&key).await, 401);
    assert_eq!(connection.resolve(&other_key).await, 200);
}

#[tokio::test]
async fn a_remembered_verdict_expires_with_the_key_cache() {
    let broker = TestBroker::start(INTERNAL_TOKEN).await;
    // No feed: the key cache's time to live is the only bound.
    let (_gateway, url) = start(&broker, |config| {
        config.revocation_feed = false;
        config.key_cache_ttl = Duration::from_millis(500);
    })
    .await;
    broker.add_connection(WS, "static-api").await;
    let (key, key_id) = broker.new_key(WS).await;

    let mut connection = Connection::open(&url).await;
    for _ in 0..3 {
        assert_eq!(connection.resolve(&key).await, 200);
    }
    broker.revoke_key(WS, &key_id).await;
    until_refused_on_new_connections(&url, &key, Duration::from_secs(10)).await;
    assert_eq!(connection.resolve(&key).await, 401);
}
