//! The bridge's logs (at every level) never contain a credential, and go through `tracing`.

use nexus_sdk::bridge::{
    Bridge, BridgeOptions, DisconnectReason, WebSocketHandler, WsMessage, WsSender,
};
use nexus_sdk::{ClientOptions, NexusClient, RetryPolicy, TokenCache};
use nexus_testkit::WsServer;
use parking_lot::Mutex;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Quiet;

impl WebSocketHandler for Quiet {
    fn on_connect(&self, _: WsSender) {}
    fn on_message(&self, _: WsMessage) {}
    fn on_disconnect(&self, _: DisconnectReason) {}
}

#[tokio::test] // current-thread runtime: the bridge's tasks log on this thread's subscriber
async fn no_credential_in_any_log_line() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = WsServer::start().await;
    let mut options = ClientOptions::new(server.gateway_url(), "nexus-test-key");
    options.retry = RetryPolicy::none();
    let bridge = Bridge::new(
        NexusClient::new(options).expect("client"),
        TokenCache::new(),
    );
    // Connect once, then every handshake is rejected until the bridge gives up.
    let handle = bridge.maintain_websocket(
        "ws_1",
        "chat",
        &format!("{}/?access_token=in-url", server.url()),
        Arc::new(Quiet),
        BridgeOptions {
            min_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            ..BridgeOptions::default()
        },
    );
    server
        .wait_for_live(1, Duration::from_secs(10))
        .await
        .expect("connected");
    server.set_reject_all(true);
    server.drop_connections();
    let error = tokio::time::timeout(Duration::from_secs(10), handle.join())
        .await
        .expect("stops")
        .expect_err("terminal");
    assert_eq!(error.code(), "unauthorized");

    let logs = String::from_utf8_lossy(&captured.0.lock()).to_string();
    assert!(
        logs.contains("nexus bridge"),
        "the bridge logged nothing: {logs}"
    );
    for secret in ["ws-token-", "nexus-test-key", "in-url"] {
        assert!(
            !logs.contains(secret),
            "`{secret}` leaked into the logs:\n{logs}"
        );
    }
    assert!(!error.to_string().contains("ws-token-"));
}
