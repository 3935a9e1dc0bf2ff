//! The WebSocket bridge against the testkit's credential-checking WebSocket server (real
//! WebSocket over loopback, real HTTP stand-in gateway).

use futures::future::BoxFuture;
use nexus_sdk::bridge::{
    Bridge, BridgeOptions, DisconnectReason, Sleeper, WebSocketHandler, WsMessage, WsSender,
    backoff_bounds,
};
use nexus_sdk::{ClientOptions, NexusClient, RetryPolicy, TokenCache};
use nexus_testkit::{RefusingPort, WsServer, WsServerOptions};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);
const MIN: Duration = Duration::from_millis(20);
const MAX: Duration = Duration::from_millis(200);

/// What the handler saw, in order.
#[derive(Debug)]
enum Event {
    Connected(WsSender),
    Message(WsMessage),
    Disconnected(DisconnectReason),
}

struct ChannelHandler(mpsc::UnboundedSender<Event>);

impl WebSocketHandler for ChannelHandler {
    fn on_connect(&self, sender: WsSender) {
        let _ = self.0.send(Event::Connected(sender));
    }
    fn on_message(&self, message: WsMessage) {
        let _ = self.0.send(Event::Message(message));
    }
    fn on_disconnect(&self, reason: DisconnectReason) {
        let _ = self.0.send(Event::Disconnected(reason));
    }
}

fn handler() -> (Arc<ChannelHandler>, mpsc::UnboundedReceiver<Event>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Arc::new(ChannelHandler(tx)), rx)
}

fn bridge_for(server: &WsServer) -> Bridge {
    let mut options = ClientOptions::new(server.gateway_url(), "nexus-test-key");
    options.retry = RetryPolicy::none();
    let client = NexusClient::new(options).expect("client");
    Bridge::new(client, TokenCache::with_safety_buffer(Duration::ZERO))
}

fn fast_options() -> BridgeOptions {
    BridgeOptions {
        min_backoff: MIN,
        max_backoff: MAX,
        ..BridgeOptions::default()
    }
}

async fn next_event(events: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("an event within the deadline")
        .expect("the handler is alive")
}

async fn next_connect(events: &mut mpsc::UnboundedReceiver<Event>) -> WsSender {
    loop {
        if let Event::Connected(sender) = next_event(events).await {
            return sender;
        }
    }
}

async fn next_disconnect(events: &mut mpsc::UnboundedReceiver<Event>) -> DisconnectReason {
    loop {
        if let Event::Disconnected(reason) = next_event(events).await {
            return reason;
        }
    }
}

/// Records every backoff delay the bridge asks for, and really waits it.
#[derive(Default)]
struct RecordingSleeper(Mutex<Vec<Duration>>);

impl Sleeper for RecordingSleeper {
    fn sleep(&self, delay: Duration) -> BoxFuture<'static, ()> {
        self.0.lock().push(delay);
        Box::pin(tokio::time::sleep(delay))
    }
}

#[tokio::test]
async fn connects_with_the_current_token_echoes_and_reconnects_after_drops() {
    let server = WsServer::start().await;
    let (handler, mut events) = handler();
    let handle = bridge_for(&server).maintain_websocket(
        "ws_1",
        "chat",
        &format!("{}/stream", server.url()),
        handler,
        fast_options(),
    );

    let sender = next_connect(&mut events).await;
    sender.send_text("hello").await.expect("send");
    match next_event(&mut events).await {
        Event::Message(WsMessage::Text(text)) => assert_eq!(text, "hello"),
        other => panic!("expected the echo, got {other:?}"),
    }

    // Three drops, each with a token rotation: every reconnect must present the new token.
    for _ in 0..3 {
        server.rotate();
        server.drop_connections();
        let reason = next_disconnect(&mut events).await;
        assert_eq!(reason.kind(), "error", "{reason}");
        assert!(sender.is_closed() || sender.send_text("late").await.is_err());
        next_connect(&mut events).await;
    }

    let attempts = server.attempts();
    let accepted: Vec<_> = attempts.iter().filter(|a| a.accepted).collect();
    assert_eq!(accepted.len(), 4, "{attempts:?}");
    assert!(
        attempts.iter().all(|a| a.accepted),
        "a stale token was presented: {attempts:?}"
    );
    assert_eq!(
        attempts.last().and_then(|a| a.token.clone()),
        Some(server.current_token())
    );
    assert!(attempts.iter().all(|a| a.path == "/stream"));
    // Every reconnect waited at least the backoff floor after the previous connection.
    for pair in attempts.windows(2) {
        let gap = Duration::from_micros(pair[1].at_us - pair[0].at_us);
        assert!(gap >= MIN, "reconnected after {gap:?}, floor {MIN:?}");
    }
    handle.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn random_drops_are_followed_by_reconnects() {
    let server = WsServer::try_start(WsServerOptions {
        random_drop_seed: Some(7),
        drop_probability: 0.5,
        ..WsServerOptions::default()
    })
    .await
    .expect("server");
    let (handler, mut events) = handler();
    let handle = bridge_for(&server).maintain_websocket(
        "ws_1",
        "chat",
        &server.url(),
        handler,
        fast_options(),
    );
    let mut connects = 0;
    while connects < 4 {
        let sender = next_connect(&mut events).await;
        connects += 1;
        // Keep sending until the server drops this connection at random.
        while sender.send_text("x").await.is_ok() {
            if let Ok(Some(Event::Disconnected(_))) =
                tokio::time::timeout(Duration::from_millis(5), events.recv()).await
            {
                break;
            }
        }
    }
    assert!(server.attempts().len() >= 4);
    assert!(server.attempts().iter().all(|a| a.accepted));
    handle.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn backoff_delays_grow_within_the_configured_bounds() {
    // Nothing listens on this port: every attempt fails right away. The port stays reserved
    // until the test ends, so no other test's server can be handed it meanwhile.
    let closed = RefusingPort::new();
    let dead_url = closed.ws_url();
    let server = WsServer::start().await;
    let sleeper = Arc::new(RecordingSleeper::default());
    let (handler, _events) = handler();
    let handle = bridge_for(&server).maintain_websocket(
        "ws_1",
        "chat",
        &dead_url,
        handler,
        BridgeOptions {
            sleeper: sleeper.clone(),
            ..fast_options()
        },
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    while sleeper.0.lock().len() < 7 {
        assert!(tokio::time::Instant::now() < deadline, "too few attempts");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    handle.shutdown().await.expect("clean shutdown");
    let delays = sleeper.0.lock().clone();
    for (n, delay) in delays.iter().enumerate() {
        let (low, high) = backoff_bounds(MIN, MAX, n as u32);
        assert!(
            *delay >= low && *delay <= high,
            "delay {n} = {delay:?} outside [{low:?}, {high:?}]"
        );
    }
    // Every failed attempt after a failure resolved afresh (the cache entry was dropped).
    assert!(server.resolves() >= delays.len() as u64);
}

#[tokio::test]
async fn a_revoked_grant_ends_in_reauth_required() {
    let server = WsServer::start().await;
    let (handler, mut events) = handler();
    let handle = bridge_for(&server).maintain_websocket(
        "ws_1",
        "chat",
        &server.url(),
        handler,
        fast_options(),
    );
    next_connect(&mut events).await;
    server.revoke();
    server.drop_connections();
    let error = tokio::time::timeout(WAIT, handle.join())
        .await
        .expect("the bridge stops by itself")
        .expect_err("a terminal error");
    assert_eq!(error.code(), "reauth_required");
    assert_eq!(error.reauth_url(), Some("https://example.invalid/reauth"));
    assert_eq!(
        server.attempts().len(),
        1,
        "no handshake after the revocation"
    );
}

#[tokio::test]
async fn fresh_credentials_rejected_three_times_stop_the_bridge() {
    let server = WsServer::start().await;
    server.set_reject_all(true);
    let (handler, _events) = handler();
    let handle = bridge_for(&server).maintain_websocket(
        "ws_1",
        "chat",
        &server.url(),
        handler,
        fast_options(),
    );
    let error = tokio::time::timeout(WAIT, handle.join())
        .await
        .expect("the bridge stops by itself")
        .expect_err("a terminal error");
    assert_eq!(error.code(), "unauthorized");
    assert_eq!(error.status(), Some(401));
    // The cached credential, then three force-refreshed ones.
    let attempts = server.attempts();
    assert_eq!(attempts.len(), 4, "{attempts:?}");
    let tokens: std::collections::HashSet<_> = attempts.iter().map(|a| a.token.clone()).collect();
    assert_eq!(
        tokens.len(),
        4,
        "each attempt after a 401 used a refreshed token"
    );
}

#[tokio::test]
async fn shutdown_closes_normally_and_releases_everything() {
    let server = WsServer::start().await;
    let (handler, mut events) = handler();
    let handle = bridge_for(&server).maintain_websocket(
        "ws_1",
        "chat",
        &server.url(),
        handler.clone(),
        fast_options(),
    );
    let sender = next_connect(&mut events).await;
    server.wait_for_live(1, WAIT).await.expect("connected");
    tokio::time::timeout(WAIT, handle.shutdown())
        .await
        .expect("shutdown returns promptly")
        .expect("no error");
    assert_eq!(
        next_disconnect(&mut events).await,
        DisconnectReason::Cancelled
    );
    server
        .wait_for_live(0, WAIT)
        .await
        .expect("the server saw the close");
    assert_eq!(server.closes().first().map(|c| c.code), Some(1000));
    assert!(sender.send_text("after").await.is_err());
    // The bridge's task and its connection are gone: nothing else holds the handler.
    drop(events);
    assert_eq!(Arc::strong_count(&handler), 1);
}

#[tokio::test]
async fn shutdown_during_backoff_returns_promptly() {
    let server = WsServer::start().await;
    server.set_reject_all(true);
    let (handler, _events) = handler();
    let handle = bridge_for(&server).maintain_websocket(
        "ws_1",
        "chat",
        &server.url(),
        handler.clone(),
        BridgeOptions {
            min_backoff: Duration::from_secs(60),
            max_backoff: Duration::from_secs(120),
            ..BridgeOptions::default()
        },
    );
    server
        .wait_for_attempts(1, WAIT)
        .await
        .expect("one attempt");
    tokio::time::timeout(WAIT, handle.shutdown())
        .await
        .expect("shutdown does not wait out the backoff")
        .expect("no error");
    assert_eq!(Arc::strong_count(&handler), 1);
}

#[tokio::test]
async fn proactive_reconnect_uses_a_fresh_credential() {
    let server = WsServer::try_start(WsServerOptions {
        token_ttl: Duration::from_secs(3),
        ..WsServerOptions::default()
    })
    .await
    .expect("server");
    let (handler, mut events) = handler();
    let handle = bridge_for(&server).maintain_websocket(
        "ws_1",
        "chat",
        &server.url(),
        handler,
        BridgeOptions {
            reconnect_before_expiry: true,
            expiry_margin: Duration::from_secs(2),
            ..fast_options()
        },
    );
    next_connect(&mut events).await;
    assert_eq!(
        next_disconnect(&mut events).await,
        DisconnectReason::CredentialExpiring
    );
    next_connect(&mut events).await;
    let attempts = server.attempts();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(attempts.iter().all(|a| a.accepted));
    assert_ne!(
        attempts[0].token, attempts[1].token,
        "the reconnect used a refreshed token"
    );
    assert_eq!(server.closes().first().map(|c| c.code), Some(1000));
    handle.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn an_oversized_message_disconnects_with_an_error_and_reconnects() {
    let server = WsServer::start().await;
    let (handler, mut events) = handler();
    let handle = bridge_for(&server).maintain_websocket(
        "ws_1",
        "chat",
        &server.url(),
        handler,
        BridgeOptions {
            max_message_size: 1024,
            ..fast_options()
        },
    );
    let sender = next_connect(&mut events).await;
    // The server echoes it back: 2 KiB incoming is over the limit.
    sender.send_text("y".repeat(2048)).await.expect("send");
    let reason = next_disconnect(&mut events).await;
    match &reason {
        DisconnectReason::Error(text) => assert!(text.contains("too large"), "{text}"),
        other => panic!("expected an error, got {other:?}"),
    }
    next_connect(&mut events).await;
    handle.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_missed_pong_counts_as_a_drop() {
    // A raw TCP server that completes the handshake by hand and then never answers.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("ws://{}", listener.local_addr().expect("addr"));
    let silent = tokio::spawn(async move {
        let mut kept = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = vec![0u8; 4096];
            let n = stream.read(&mut buf).await.unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            let key = request
                .lines()
                .find_map(|l| {
                    l.strip_prefix("Sec-WebSocket-Key: ")
                        .or_else(|| l.strip_prefix("sec-websocket-key: "))
                })
                .unwrap_or("")
                .trim()
                .to_owned();
            let accept =
                tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
            let reply = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            );
            let _ = stream.write_all(reply.as_bytes()).await;
            kept.push(stream); // open, silent
        }
    });
    let server = WsServer::start().await; // the token endpoint only
    let (handler, mut events) = handler();
    let handle = bridge_for(&server).maintain_websocket(
        "ws_1",
        "chat",
        &url,
        handler,
        BridgeOptions {
            ping_interval: Duration::from_millis(50),
            ping_timeout: Duration::from_millis(100),
            ..fast_options()
        },
    );
    next_connect(&mut events).await;
    match next_disconnect(&mut events).await {
        DisconnectReason::Error(text) => assert!(text.contains("pong"), "{text}"),
        other => panic!("expected a pong timeout, got {other:?}"),
    }
    next_connect(&mut events).await; // and it reconnects
    handle.shutdown().await.expect("clean shutdown");
    silent.abort();
}

#[tokio::test]
async fn a_url_that_is_not_websocket_is_a_typed_error() {
    let server = WsServer::start().await;
    let (handler, _events) = handler();
    let handle = bridge_for(&server).maintain_websocket(
        "ws_1",
        "chat",
        "ftp://127.0.0.1/x",
        handler,
        fast_options(),
    );
    let error = handle.join().await.expect_err("typed error");
    assert_eq!(error.code(), "invalid_request");
    assert_eq!(server.resolves(), 0);
}
