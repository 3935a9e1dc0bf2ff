//! The bridge: long-lived upstream connections authenticated with Nexus credentials.
//!
//! - [`Bridge::maintain_websocket`]: keep a WebSocket open with the credential of a
//!   (workspace, provider), reconnecting with backoff, refreshing on 401/403, optionally
//!   reconnecting before the credential expires. Events go to a [`WebSocketHandler`].
//! - [`grpc`]: per-call credentials for tonic clients (a tower layer) and a retry-once helper
//!   for `UNAUTHENTICATED`.
//!
//! The semantics (backoff formula, when a resolve is forced, when to give up) are shared with
//! the Go bridge and documented in `docs/bridge.md`.

mod handshake;
mod options;
mod session;

pub mod grpc;

pub use options::{
    BridgeOptions, DEFAULT_EXPIRY_MARGIN, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_BACKOFF,
    DEFAULT_MAX_FRESH_REJECTIONS, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MIN_BACKOFF,
    DEFAULT_PING_INTERVAL, DEFAULT_PING_TIMEOUT, DEFAULT_STABLE_AFTER, DEFAULT_WRITE_TIMEOUT,
    Sleeper, TokioSleeper, backoff_bounds, backoff_delay,
};

use crate::cache::TokenCache;
use crate::client::NexusClient;
use crate::error::{ApiError, NexusError, Result};
use crate::token::CachedToken;
use bytes::Bytes;
use nexus_protocol::ErrorCode;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A message received from or sent to the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMessage {
    Text(String),
    Binary(Bytes),
}

/// Why a connection ended (given to [`WebSocketHandler::on_disconnect`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The upstream sent a close frame.
    ClosedByPeer { code: u16, reason: String },
    /// The connection broke: reset, missed pong, message too large, write timeout, …
    Error(String),
    /// Proactive reconnect: the credential is about to expire.
    CredentialExpiring,
    /// The bridge was shut down (the socket was closed with a normal close frame).
    Cancelled,
}

impl DisconnectReason {
    /// The stable name shared with the Go, Python and Node bridges.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ClosedByPeer { .. } => "closed_by_peer",
            Self::Error(_) => "error",
            Self::CredentialExpiring => "credential_expiring",
            Self::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClosedByPeer { code, reason } => write!(f, "closed_by_peer({code}, {reason})"),
            Self::Error(text) => write!(f, "error({text})"),
            other => f.write_str(other.kind()),
        }
    }
}

/// Receives the events of one bridged WebSocket. Called from the bridge's task: return
/// quickly (hand longer work to a task or a channel), never block.
pub trait WebSocketHandler: Send + Sync + 'static {
    /// A connection is open; `sender` sends on it until it ends.
    fn on_connect(&self, sender: WsSender);
    fn on_message(&self, message: WsMessage);
    fn on_disconnect(&self, reason: DisconnectReason);
}

/// One outgoing message and where to report whether it was written.
pub(crate) type Outgoing = (WsMessage, oneshot::Sender<Result<()>>);

/// Sends on one connection. Cheap to clone; fails once that connection has ended.
#[derive(Clone, Debug)]
pub struct WsSender {
    queue: mpsc::Sender<Outgoing>,
}

impl WsSender {
    /// Send a message and wait until it is written (bounded by the write timeout).
    pub async fn send(&self, message: WsMessage) -> Result<()> {
        let (done, written) = oneshot::channel();
        self.queue
            .send((message, done))
            .await
            .map_err(|_| closed())?;
        written.await.map_err(|_| closed())?
    }

    pub async fn send_text(&self, text: impl Into<String>) -> Result<()> {
        self.send(WsMessage::Text(text.into())).await
    }

    pub async fn send_binary(&self, data: impl Into<Bytes>) -> Result<()> {
        self.send(WsMessage::Binary(data.into())).await
    }

    /// Whether the connection this sender belongs to has ended.
    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }
}

fn closed() -> NexusError {
    NexusError::Connect("the WebSocket connection is closed".into())
}

/// A running bridge. Dropping the handle does not stop it: call [`BridgeHandle::shutdown`]
/// (or cancel the token given by [`BridgeHandle::cancellation_token`]).
#[derive(Debug)]
pub struct BridgeHandle {
    cancel: CancellationToken,
    task: JoinHandle<Result<()>>,
}

impl BridgeHandle {
    /// Ask the bridge to stop (close the socket normally, stop every task) without waiting.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// The token that stops this bridge (cancel it from anywhere).
    pub fn cancellation_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Whether the bridge has stopped.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stop the bridge and wait until it has: `Ok(())`, or the terminal error if it had
    /// already stopped on one.
    pub async fn shutdown(self) -> Result<()> {
        self.cancel.cancel();
        self.join().await
    }

    /// Wait until the bridge stops by itself: `Ok(())` after a cancellation, else the terminal
    /// error (`reauth_required`, `unauthorized`, `forbidden`, an unusable URL or strategy, …).
    pub async fn join(self) -> Result<()> {
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(NexusError::Connect(format!("the bridge task failed: {e}"))),
        }
    }
}

/// Builds bridges from a [`NexusClient`] and a [`TokenCache`] shared with the rest of the
/// application (so a bridge and ordinary requests use and refresh the same credential).
#[derive(Debug, Clone)]
pub struct Bridge {
    client: NexusClient,
    cache: TokenCache,
}

impl Bridge {
    pub fn new(client: NexusClient, cache: TokenCache) -> Self {
        Self { client, cache }
    }

    /// Keep a WebSocket to `url` open with the credential of (`workspace_id`, `provider`)
    /// until the handle is shut down or the credential cannot be renewed. Spawns on the
    /// current tokio runtime (panics outside one, like `tokio::spawn`).
    pub fn maintain_websocket(
        &self,
        workspace_id: &str,
        provider: &str,
        url: &str,
        handler: Arc<dyn WebSocketHandler>,
        options: BridgeOptions,
    ) -> BridgeHandle {
        let cancel = CancellationToken::new();
        let run = Run {
            client: self.client.clone(),
            cache: self.cache.clone(),
            workspace_id: workspace_id.to_owned(),
            provider: provider.to_owned(),
            url: url.to_owned(),
            handler,
            options,
            cancel: cancel.clone(),
        };
        BridgeHandle {
            cancel,
            task: tokio::spawn(run.run()),
        }
    }
}

/// Where the credential of the next attempt comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// First attempt: a cached credential is fine.
    Cache,
    /// After a failure or a drop: drop the cached one and resolve again (it may have been
    /// rotated meanwhile).
    FreshResolve,
    /// After a 401/403 handshake or before expiry: the gateway refreshes at the provider.
    ForcedRefresh,
}

/// The state of one `maintain_websocket` call.
struct Run {
    client: NexusClient,
    cache: TokenCache,
    workspace_id: String,
    provider: String,
    url: String,
    handler: Arc<dyn WebSocketHandler>,
    options: BridgeOptions,
    cancel: CancellationToken,
}

impl Run {
    /// The connect / serve / back off loop.
    async fn run(self) -> Result<()> {
        // A bad URL does not fix itself: fail before the first resolve.
        handshake::http_form(&self.url)?;
        let mut source = Source::Cache;
        let mut failures: u32 = 0;
        let mut fresh_rejections: u32 = 0;
        while !self.cancel.is_cancelled() {
            let token = match self.credential(source).await {
                Ok(token) => token,
                Err(_) if self.cancel.is_cancelled() => break,
                Err(error) if is_terminal(&error) => {
                    tracing::warn!(provider = %self.provider, code = error.code(),
                        "nexus bridge: stopping, the credential cannot be renewed");
                    return Err(error);
                }
                Err(error) => {
                    tracing::info!(provider = %self.provider, code = error.code(),
                        "nexus bridge: resolving the credential failed");
                    // Keep `source`: a forced refresh that failed is tried again as one.
                    if !self.back_off(&mut failures).await {
                        break;
                    }
                    continue;
                }
            };
            let request = handshake::build(&self.url, &token, &self.options.headers)?;
            let socket = match session::dial(request, &self.options, &self.cancel).await {
                session::Dial::Open(socket) => socket,
                session::Dial::Cancelled => break,
                session::Dial::Rejected(status) => {
                    tracing::info!(provider = %self.provider, status,
                        "nexus bridge: the upstream rejected the credential");
                    if source == Source::ForcedRefresh {
                        fresh_rejections += 1;
                        if fresh_rejections >= self.options.max_fresh_rejections {
                            return Err(rejected_error(status, fresh_rejections));
                        }
                    }
                    source = Source::ForcedRefresh;
                    if !self.back_off(&mut failures).await {
                        break;
                    }
                    continue;
                }
                session::Dial::Failed(detail) => {
                    tracing::info!(provider = %self.provider, %detail,
                        "nexus bridge: connecting failed");
                    source = Source::FreshResolve;
                    if !self.back_off(&mut failures).await {
                        break;
                    }
                    continue;
                }
            };
            fresh_rejections = 0;
            let expiry = self.reconnect_deadline(&token);
            let (reason, up_for) =
                session::serve(socket, &self.handler, &self.options, &self.cancel, expiry).await;
            tracing::info!(provider = %self.provider, reason = reason.kind(),
                "nexus bridge: disconnected");
            let cancelled = reason == DisconnectReason::Cancelled;
            let expiring = reason == DisconnectReason::CredentialExpiring;
            self.handler.on_disconnect(reason);
            if up_for >= self.options.stable_after {
                failures = 0;
            }
            if cancelled {
                return Ok(());
            }
            if expiring {
                source = Source::ForcedRefresh; // reconnect at once, with a new credential
                continue;
            }
            source = Source::FreshResolve;
            if !self.back_off(&mut failures).await {
                break;
            }
        }
        Ok(())
    }

    async fn credential(&self, source: Source) -> Result<Arc<CachedToken>> {
        let (ws, provider) = (self.workspace_id.as_str(), self.provider.as_str());
        if source != Source::Cache {
            self.cache.invalidate(ws, provider);
        }
        let force = source == Source::ForcedRefresh;
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(NexusError::WaitAborted("cancelled".into())),
            result = self.client.resolve_through(&self.cache, ws, provider, force) => result,
        }
    }

    /// Wait the backoff for the current failure count, then count one more failure. False
    /// when cancelled during the wait.
    async fn back_off(&self, failures: &mut u32) -> bool {
        let delay = backoff_delay(
            self.options.min_backoff,
            self.options.max_backoff,
            *failures,
        );
        *failures = failures.saturating_add(1);
        tracing::debug!(
            ?delay,
            failures = *failures,
            "nexus bridge: waiting before the next attempt"
        );
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => false,
            () = self.options.sleeper.sleep(delay) => true,
        }
    }

    /// When to reconnect proactively: `margin` before expiry, or at half the remaining
    /// lifetime when that is shorter (never sooner than the backoff floor).
    fn reconnect_deadline(&self, token: &CachedToken) -> Option<Duration> {
        if !self.options.reconnect_before_expiry {
            return None;
        }
        token.expires_at()?;
        let left = token.time_left(std::time::Instant::now());
        let at = if left > self.options.expiry_margin {
            left - self.options.expiry_margin
        } else {
            left / 2
        };
        Some(at.max(self.options.min_backoff))
    }
}

/// Whether a resolve error means retrying cannot help: everything but the failures that pass
/// by themselves (network, timeouts, overload, server faults).
fn is_terminal(error: &NexusError) -> bool {
    !matches!(
        error.code(),
        "connection_error"
            | "timeout"
            | "upstream_unavailable"
            | "rate_limited"
            | "internal_error"
            | "invalid_response"
    )
}

/// The terminal error after the upstream rejected `n` freshly refreshed credentials.
fn rejected_error(status: u16, n: u32) -> NexusError {
    let code = if status == 403 {
        ErrorCode::Forbidden
    } else {
        ErrorCode::Unauthorized
    };
    NexusError::Api(Box::new(ApiError {
        status,
        code,
        message: format!(
            "the WebSocket server rejected {n} freshly refreshed credentials in a row"
        ),
        request_id: None,
        reauth_url: None,
        retry_after: None,
    }))
}
