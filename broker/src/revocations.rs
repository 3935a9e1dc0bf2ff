//! The broker's revocation bus: every revocation the broker commits is published here and
//! relayed to each gateway holding `GET /internal/v1/events` ([`crate::api::events`]).
//!
//! Delivery is best effort and in process: a gateway that misses events (it was disconnected,
//! or fell behind the bus's buffer and was cut off) flushes its caches when it reconnects, and
//! the caches' TTLs remain the fallback bound.

use nexus_protocol::internal::RevocationEvent;
use tokio::sync::broadcast;

/// Events buffered per subscriber before a slow one is cut off (and must reconnect and flush).
const BUFFER: usize = 1024;

#[derive(Clone)]
pub struct Revocations {
    sender: broadcast::Sender<RevocationEvent>,
}

impl Default for Revocations {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(BUFFER).0,
        }
    }
}

impl Revocations {
    /// Publishes after the revocation committed; nobody listening is fine.
    pub fn publish(&self, event: RevocationEvent) {
        tracing::debug!(target: "nexus_broker::revocations", ?event, "revocation published");
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<RevocationEvent> {
        self.sender.subscribe()
    }
}
