//! `NativeWebSocketBridge`: the core's bridged WebSocket (`nexus_sdk::bridge`) for JavaScript.
//!
//! Thin: reconnects, backoff, refresh and keepalive are the core's. The core's handler pushes
//! events into a channel; `src/bridge.ts` pulls them (`nextEvent`) and re-emits them on an
//! `EventEmitter` and an async iterator. When the bridge stops, `nextEvent` resolves
//! `{ kind: 'stopped' }` after a close, or rejects with the terminal error (decoded by
//! `src/errors.ts`).

use crate::client::NativeClient;
use crate::error::{invalid_argument, to_napi};
use napi::bindgen_prelude::{Buffer, Either};
use napi_derive::napi;
use nexus_sdk::NexusError;
use nexus_sdk::bridge::{
    Bridge, BridgeOptions, DisconnectReason, WebSocketHandler, WsMessage, WsSender,
};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::mpsc;

/// Options of `openWebSocket`, milliseconds; absent fields keep the core's defaults.
#[napi(object)]
pub struct NativeBridgeOptions {
    pub min_backoff_ms: Option<u32>,
    pub max_backoff_ms: Option<u32>,
    pub stable_after_ms: Option<u32>,
    pub ping_interval_ms: Option<u32>,
    pub ping_timeout_ms: Option<u32>,
    pub max_message_size: Option<u32>,
    pub write_timeout_ms: Option<u32>,
    pub reconnect_before_expiry: Option<bool>,
    pub expiry_margin_ms: Option<u32>,
    pub headers: Option<Vec<Vec<String>>>,
}

/// One event: `kind` is `connected`, `message` (`text` or `binary`), `disconnected`
/// (`reason`, `code`, `detail`) or `stopped`.
#[napi(object)]
pub struct NativeBridgeEvent {
    pub kind: String,
    pub text: Option<String>,
    pub binary: Option<Buffer>,
    pub reason: Option<String>,
    pub code: Option<u32>,
    pub detail: Option<String>,
}

impl NativeBridgeEvent {
    fn of(kind: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            text: None,
            binary: None,
            reason: None,
            code: None,
            detail: None,
        }
    }
}

enum Event {
    Connected,
    Message(WsMessage),
    Disconnected(DisconnectReason),
    Stopped(Option<NexusError>),
}

/// A poisoned lock only means another thread panicked while holding it; the `Option` inside
/// is still consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Forward {
    events: mpsc::UnboundedSender<Event>,
    sender: Arc<Mutex<Option<WsSender>>>,
}

impl WebSocketHandler for Forward {
    fn on_connect(&self, sender: WsSender) {
        *lock(&self.sender) = Some(sender);
        let _ = self.events.send(Event::Connected);
    }
    fn on_message(&self, message: WsMessage) {
        let _ = self.events.send(Event::Message(message));
    }
    fn on_disconnect(&self, reason: DisconnectReason) {
        *lock(&self.sender) = None;
        let _ = self.events.send(Event::Disconnected(reason));
    }
}

#[napi]
pub struct NativeWebSocketBridge {
    events: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Event>>>,
    sender: Arc<Mutex<Option<WsSender>>>,
    /// Cancels the core's bridge (its `CancellationToken`, behind a closure).
    cancel: Box<dyn Fn() + Send + Sync>,
    done: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

fn millis(target: &mut Duration, value: Option<u32>) {
    if let Some(ms) = value {
        *target = Duration::from_millis(u64::from(ms));
    }
}

fn bridge_options(options: Option<NativeBridgeOptions>) -> napi::Result<BridgeOptions> {
    let mut core = BridgeOptions::default();
    let Some(o) = options else {
        return Ok(core);
    };
    millis(&mut core.min_backoff, o.min_backoff_ms);
    millis(&mut core.max_backoff, o.max_backoff_ms);
    millis(&mut core.stable_after, o.stable_after_ms);
    millis(&mut core.ping_interval, o.ping_interval_ms);
    millis(&mut core.ping_timeout, o.ping_timeout_ms);
    millis(&mut core.write_timeout, o.write_timeout_ms);
    millis(&mut core.expiry_margin, o.expiry_margin_ms);
    if core.min_backoff.is_zero() || core.ping_interval.is_zero() {
        return Err(invalid_argument(
            "minBackoffMs and pingIntervalMs must be greater than 0",
        ));
    }
    if let Some(limit) = o.max_message_size {
        core.max_message_size = limit as usize;
    }
    core.reconnect_before_expiry = o.reconnect_before_expiry.unwrap_or(false);
    for pair in o.headers.unwrap_or_default() {
        match <[String; 2]>::try_from(pair) {
            Ok([name, value]) => core.headers.push((name, value)),
            Err(_) => return Err(invalid_argument("headers must be [name, value] pairs")),
        }
    }
    Ok(core)
}

/// Start bridging `url` with the credential of (`workspaceId`, `provider`), through the
/// client's token cache. Must be called from JavaScript (napi runs it inside its runtime).
#[napi]
pub fn open_web_socket(
    client: &NativeClient,
    workspace_id: String,
    provider: String,
    url: String,
    options: Option<NativeBridgeOptions>,
) -> napi::Result<NativeWebSocketBridge> {
    let options = bridge_options(options)?;
    let (tx, rx) = mpsc::unbounded_channel();
    let sender = Arc::new(Mutex::new(None));
    let handler = Arc::new(Forward {
        events: tx.clone(),
        sender: sender.clone(),
    });
    let bridge = Bridge::new(client.core().clone(), client.token_cache().clone());
    // napi's tokio runtime: spawn the bridge and a task that reports its end.
    let handle = napi::bindgen_prelude::within_runtime_if_available(|| {
        bridge.maintain_websocket(&workspace_id, &provider, &url, handler, options)
    });
    let token = handle.cancellation_token();
    let done = napi::bindgen_prelude::spawn(async move {
        let result = handle.join().await;
        let _ = tx.send(Event::Stopped(result.err()));
    });
    Ok(NativeWebSocketBridge {
        events: Arc::new(tokio::sync::Mutex::new(rx)),
        sender,
        cancel: Box::new(move || token.cancel()),
        done: Mutex::new(Some(done)),
    })
}

#[napi]
impl NativeWebSocketBridge {
    /// The next event, or `null` when none arrived within `timeoutMs`.
    #[napi]
    pub async fn next_event(&self, timeout_ms: u32) -> napi::Result<Option<NativeBridgeEvent>> {
        let limit = Duration::from_millis(u64::from(timeout_ms));
        let events = self.events.clone();
        let mut events = events.lock().await;
        let Ok(Some(event)) = tokio::time::timeout(limit, events.recv()).await else {
            return Ok(None);
        };
        Ok(Some(match event {
            Event::Connected => NativeBridgeEvent::of("connected"),
            Event::Message(WsMessage::Text(text)) => NativeBridgeEvent {
                text: Some(text),
                ..NativeBridgeEvent::of("message")
            },
            Event::Message(WsMessage::Binary(data)) => NativeBridgeEvent {
                binary: Some(Buffer::from(data.to_vec())),
                ..NativeBridgeEvent::of("message")
            },
            Event::Disconnected(reason) => {
                let (code, detail) = match &reason {
                    DisconnectReason::ClosedByPeer { code, reason } => {
                        (Some(u32::from(*code)), Some(reason.clone()))
                    }
                    DisconnectReason::Error(text) => (None, Some(text.clone())),
                    _ => (None, None),
                };
                NativeBridgeEvent {
                    reason: Some(reason.kind().to_owned()),
                    code,
                    detail,
                    ..NativeBridgeEvent::of("disconnected")
                }
            }
            Event::Stopped(None) => NativeBridgeEvent::of("stopped"),
            Event::Stopped(Some(error)) => return Err(to_napi(error)),
        }))
    }

    /// Send text or binary on the current connection (rejects when not connected).
    #[napi]
    pub async fn send(&self, data: Either<String, Buffer>) -> napi::Result<()> {
        let message = match data {
            Either::A(text) => WsMessage::Text(text),
            Either::B(bytes) => WsMessage::Binary(bytes.to_vec().into()),
        };
        let sender = lock(&self.sender)
            .clone()
            .ok_or_else(|| to_napi(NexusError::Connect("the WebSocket is not connected".into())))?;
        sender.send(message).await.map_err(to_napi)
    }

    /// Whether a connection is open now.
    #[napi(getter)]
    pub fn connected(&self) -> bool {
        lock(&self.sender).as_ref().is_some_and(|s| !s.is_closed())
    }

    /// Close with a normal close frame and stop the bridge; resolves once it has. Idempotent.
    #[napi]
    pub async fn close(&self) -> napi::Result<()> {
        (self.cancel)();
        let done = lock(&self.done).take();
        if let Some(done) = done {
            let _ = done.await;
        }
        Ok(())
    }
}
