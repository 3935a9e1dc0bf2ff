//! The gateway's end of the broker's revocation stream (`GET /internal/v1/events`): a task
//! that holds the stream open, drops cached key verdicts and tokens when the broker reports a
//! revocation, and reconnects with backoff when the stream breaks.
//!
//! **Staleness bound:** with the stream up, a revocation reaches this gateway's caches as soon as
//! the line arrives (milliseconds on a LAN). Every (re)connection flushes both caches, because
//! events may have been missed while disconnected; while the broker is unreachable the caches'
//! TTLs (`key_cache_ttl`, `token_cache_max_ttl`) are the fallback bound.
//!
//! Flushes are whole-cache: revocations are rare, and a flush costs one broker call per key or
//! token in use, while a missed targeted invalidation would serve a revoked credential.

use crate::Inner;
use crate::broker::BrokerClient;
use nexus_protocol::internal::RevocationEvent;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The broker sends a heartbeat every 10 s; silence for this long means the stream is dead.
const SILENCE_LIMIT: Duration = Duration::from_secs(30);
/// A line longer than this is not an event the broker sends.
const MAX_LINE: usize = 64 * 1024;

/// Whether the stream is up, for `Gateway::revocation_feed_connected` (readiness, tests).
#[derive(Default)]
pub struct FeedStatus {
    connected: AtomicBool,
}

impl FeedStatus {
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }
}

/// Starts the feed on the current tokio runtime; it stops when the gateway is dropped. Without
/// a runtime (a gateway built outside one) nothing is started and only the TTLs apply.
pub(crate) fn spawn(gateway: Weak<Inner>, broker: BrokerClient, status: Arc<FeedStatus>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no async runtime: revocations reach this gateway only through cache TTLs");
        return;
    };
    runtime.spawn(run(gateway, broker, status));
}

async fn run(gateway: Weak<Inner>, broker: BrokerClient, status: Arc<FeedStatus>) {
    let mut backoff = FIRST_BACKOFF;
    while gateway.strong_count() > 0 {
        match follow(&gateway, &broker, &status).await {
            Ok(()) => backoff = FIRST_BACKOFF,
            Err(reason) => {
                tracing::warn!(target: "nexus_gateway::revocations", %reason,
                    "revocation stream from the broker unavailable; retrying");
            }
        }
        status.connected.store(false, Ordering::Release);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection: `Ok` when it was established and later ended, `Err` when it never was.
async fn follow(
    gateway: &Weak<Inner>,
    broker: &BrokerClient,
    status: &FeedStatus,
) -> Result<(), String> {
    let mut response = broker.open_events().await?;
    let mut pending = Vec::new();
    let mut established = false;
    loop {
        let chunk = match tokio::time::timeout(SILENCE_LIMIT, response.chunk()).await {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) | Ok(Err(_)) | Err(_) => break,
        };
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let Some(inner) = gateway.upgrade() else {
                return Ok(());
            };
            match serde_json::from_slice::<RevocationEvent>(&line) {
                Ok(event) => apply(&inner, &event),
                Err(_) => tracing::warn!(target: "nexus_gateway::revocations",
                    "unreadable line on the revocation stream; ignored"),
            }
            if !established {
                // Connected only now that the broker's first line arrived: events from here on
                // are seen, so flush whatever may have been missed before.
                established = true;
                flush(&inner);
                status.connected.store(true, Ordering::Release);
                tracing::info!(target: "nexus_gateway::revocations", "revocation stream connected");
            }
        }
        if pending.len() > MAX_LINE {
            break;
        }
    }
    if established {
        Ok(())
    } else {
        Err("the stream ended before its first line".into())
    }
}

fn apply(inner: &Inner, event: &RevocationEvent) {
    match event {
        RevocationEvent::Heartbeat => {}
        RevocationEvent::ApiKeyRevoked { .. } => inner.keys.flush(),
        RevocationEvent::ConnectionRevoked { .. } => inner.tokens.flush(),
        // Sessions are verified at the broker on every request: nothing cached to drop.
        RevocationEvent::SessionRevoked { .. } => {}
        RevocationEvent::Resync => flush(inner),
    }
}

fn flush(inner: &Inner) {
    inner.keys.flush();
    inner.tokens.flush();
}
