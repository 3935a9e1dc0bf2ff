//! A WebSocket upstream stand-in that checks the credential on every handshake. See [`WsServer`].
//!
//! One [`WsServer`] is two loopback listeners:
//!
//! - the **WebSocket** listener (`ws://127.0.0.1:P/…`): a handshake must present the currently
//!   valid token (`Authorization: Bearer <token>` or `?access_token=<token>`), unexpired and not
//!   revoked, else it is answered `401`. Every attempt is recorded with its time. An accepted
//!   connection echoes text and binary messages; the text message `drop` makes the server drop
//!   that connection without a close frame; with random drops on, each message may drop it
//!   (seeded, so a run can be repeated).
//! - a **control + token** HTTP server that is also a minimal stand-in gateway:
//!   `GET /v1/resolve` issues the currently valid token (oauth2 strategy) and with
//!   `force_refresh=true` rotates it first; once revoked it answers `409 reauth_required`.
//!
//! | control route | effect |
//! | --- | --- |
//! | `POST /_control/rotate` | a new valid token (the old one is rejected from now on) |
//! | `POST /_control/revoke` | every handshake 401, every resolve `409 reauth_required` |
//! | `POST /_control/reject` `{"reject": bool}` | reject every handshake (401) while resolve works |
//! | `POST /_control/drop` | drop every live connection (no close frame) |
//! | `GET /_control/attempts` | the recorded handshake attempts ([`WsAttempt`]) |
//! | `GET /_control/wait?attempts=N&timeout_ms=M` | 200 once N attempts are recorded, else 408 |
//!
//! Files: `mod.rs` the server, its options and shared state; `handshake.rs` the WebSocket
//! listener (credential check, echo, drops); `control.rs` the control + token routes.

mod control;
mod handshake;

use control::control_router;
use handshake::accept_loop;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::oauth::WaitTimeout;
use crate::serve::{LOOPBACK_ANY_PORT, RunningServer};

/// How a [`WsServer`] starts.
#[derive(Debug, Clone)]
pub struct WsServerOptions {
    /// Where the WebSocket listener binds (loopback, any port by default).
    pub addr: SocketAddr,
    /// Lifetime of each issued token (`expires_in` of `/v1/resolve`; handshakes with an older
    /// token than that are rejected).
    pub token_ttl: Duration,
    /// With `Some(seed)`, every received message drops its connection with
    /// `drop_probability`, drawn from a generator seeded with `seed`.
    pub random_drop_seed: Option<u64>,
    pub drop_probability: f64,
}

impl Default for WsServerOptions {
    fn default() -> Self {
        Self {
            addr: LOOPBACK_ANY_PORT,
            token_ttl: Duration::from_secs(3600),
            random_drop_seed: None,
            drop_probability: 0.0,
        }
    }
}

/// One handshake attempt as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WsAttempt {
    /// Milliseconds since the server started (for the JSON control API).
    pub at_ms: u64,
    /// Microseconds since the server started (precise gaps for Rust tests).
    pub at_us: u64,
    /// The token presented (header or query), if any.
    pub token: Option<String>,
    /// Whether it was the valid token at that moment.
    pub accepted: bool,
    /// 101 when accepted, else the rejection status.
    pub status: u16,
    pub path: String,
}

/// A close frame received from a client (code, reason).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WsClose {
    pub code: u16,
    pub reason: String,
}

/// The token the server currently accepts.
struct ValidToken {
    value: String,
    issued: Instant,
}

struct WsShared {
    started: Instant,
    token_ttl: Duration,
    next_token: AtomicU64,
    valid: Mutex<ValidToken>,
    revoked: Mutex<bool>,
    reject_all: Mutex<bool>,
    attempts: Mutex<Vec<WsAttempt>>,
    attempt_count: watch::Sender<usize>,
    closes: Mutex<Vec<WsClose>>,
    live: watch::Sender<usize>,
    /// Bumped to drop every live connection.
    drop_generation: watch::Sender<u64>,
    random_drops: Mutex<Option<(StdRng, f64)>>,
    resolves: AtomicU64,
}

impl WsShared {
    fn mint(&self) -> ValidToken {
        let n = self.next_token.fetch_add(1, Ordering::Relaxed);
        ValidToken {
            value: format!("ws-token-{n}"),
            issued: Instant::now(),
        }
    }

    fn rotate(&self) -> String {
        let fresh = self.mint();
        let value = fresh.value.clone();
        *self.valid.lock() = fresh;
        value
    }

    fn is_valid(&self, token: &str) -> bool {
        if *self.revoked.lock() || *self.reject_all.lock() {
            return false;
        }
        let valid = self.valid.lock();
        valid.value == token && valid.issued.elapsed() < self.token_ttl
    }

    fn record(&self, attempt: WsAttempt) {
        let count = {
            let mut attempts = self.attempts.lock();
            attempts.push(attempt);
            attempts.len()
        };
        self.attempt_count.send_replace(count);
    }

    fn since_start(&self) -> Duration {
        self.started.elapsed()
    }

    /// Whether the next message should drop its connection (random drops).
    fn draw_drop(&self) -> bool {
        match self.random_drops.lock().as_mut() {
            Some((rng, probability)) => rng.random_bool(probability.clamp(0.0, 1.0)),
            None => false,
        }
    }
}

/// The WebSocket upstream stand-in plus its token endpoint. Dropping it stops both listeners.
pub struct WsServer {
    ws_addr: SocketAddr,
    shared: Arc<WsShared>,
    accept_task: JoinHandle<()>,
    /// `None` only after [`WsServer::shutdown`] took it.
    control: Option<RunningServer>,
}

impl Drop for WsServer {
    fn drop(&mut self) {
        self.accept_task.abort();
        // Live connections watch the drop generation and the sender goes away with `shared`
        // only when the last task ends, so tell them explicitly.
        self.shared.drop_generation.send_modify(|g| *g += 1);
    }
}

impl WsServer {
    /// Start with [`WsServerOptions::default`]. Panics if loopback cannot be bound (tests only).
    pub async fn start() -> Self {
        Self::try_start(WsServerOptions::default())
            .await
            .expect("bind the WebSocket test server on loopback")
    }

    pub async fn try_start(options: WsServerOptions) -> std::io::Result<Self> {
        let listener = TcpListener::bind(options.addr).await?;
        let ws_addr = listener.local_addr()?;
        let shared = Arc::new(WsShared {
            started: Instant::now(),
            token_ttl: options.token_ttl,
            next_token: AtomicU64::new(2),
            valid: Mutex::new(ValidToken {
                value: "ws-token-1".to_owned(),
                issued: Instant::now(),
            }),
            revoked: Mutex::new(false),
            reject_all: Mutex::new(false),
            attempts: Mutex::new(Vec::new()),
            attempt_count: watch::channel(0).0,
            closes: Mutex::new(Vec::new()),
            live: watch::channel(0).0,
            drop_generation: watch::channel(0).0,
            random_drops: Mutex::new(
                options
                    .random_drop_seed
                    .map(|seed| (StdRng::seed_from_u64(seed), options.drop_probability)),
            ),
            resolves: AtomicU64::new(0),
        });
        let accept_task = tokio::spawn(accept_loop(listener, shared.clone()));
        let control_shared = shared.clone();
        let control = RunningServer::start(SocketAddr::new(options.addr.ip(), 0), move |_| {
            control_router(control_shared)
        })
        .await?;
        Ok(Self {
            ws_addr,
            shared,
            accept_task,
            control: Some(control),
        })
    }

    /// `ws://127.0.0.1:PORT` (append any path).
    pub fn url(&self) -> String {
        format!("ws://{}", self.ws_addr)
    }

    /// The control server, which is also the stand-in gateway (`/v1/resolve`).
    pub fn gateway_url(&self) -> String {
        self.control
            .as_ref()
            .map(RunningServer::url)
            .unwrap_or_default()
    }

    /// The token a handshake must present now.
    pub fn current_token(&self) -> String {
        self.shared.valid.lock().value.clone()
    }

    /// Issue a new valid token; the previous one is rejected from now on.
    pub fn rotate(&self) -> String {
        self.shared.rotate()
    }

    /// Revoke the grant: handshakes get 401 and `/v1/resolve` answers `reauth_required`.
    pub fn revoke(&self) {
        *self.shared.revoked.lock() = true;
    }

    /// Reject every handshake with 401 (the upstream refuses even fresh credentials).
    pub fn set_reject_all(&self, reject: bool) {
        *self.shared.reject_all.lock() = reject;
    }

    /// Drop every live connection without a close frame.
    pub fn drop_connections(&self) {
        self.shared.drop_generation.send_modify(|g| *g += 1);
    }

    /// Every handshake attempt so far, in order.
    pub fn attempts(&self) -> Vec<WsAttempt> {
        self.shared.attempts.lock().clone()
    }

    /// Close frames received from clients.
    pub fn closes(&self) -> Vec<WsClose> {
        self.shared.closes.lock().clone()
    }

    /// Connections currently open.
    pub fn live_connections(&self) -> usize {
        *self.shared.live.borrow()
    }

    /// How many `/v1/resolve` calls the stand-in gateway answered.
    pub fn resolves(&self) -> u64 {
        self.shared.resolves.load(Ordering::Relaxed)
    }

    /// Wait until at least `count` handshake attempts are recorded.
    pub async fn wait_for_attempts(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<WsAttempt>, WaitTimeout<usize>> {
        wait_until(&self.shared.attempt_count, |n| n >= count, timeout).await?;
        Ok(self.attempts())
    }

    /// Wait until exactly `count` connections are open.
    pub async fn wait_for_live(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Result<(), WaitTimeout<usize>> {
        wait_until(&self.shared.live, |n| n == count, timeout)
            .await
            .map(|_| ())
    }

    /// Stop both listeners and every live connection.
    pub async fn shutdown(mut self) {
        self.drop_connections();
        self.accept_task.abort();
        if let Some(control) = self.control.take() {
            control.shutdown().await;
        }
    }
}

async fn wait_until(
    signal: &watch::Sender<usize>,
    condition: impl Fn(usize) -> bool,
    timeout: Duration,
) -> Result<usize, WaitTimeout<usize>> {
    let started = Instant::now();
    let mut receiver = signal.subscribe();
    match tokio::time::timeout(timeout, receiver.wait_for(|n| condition(*n))).await {
        Ok(Ok(n)) => Ok(*n),
        _ => Err(WaitTimeout {
            waited_ms: started.elapsed().as_millis(),
            last: *signal.borrow(),
        }),
    }
}
