//! The broker's revocation bus: every revocation the broker commits is published here and
//! relayed to each gateway holding `GET /internal/v1/events` ([`crate::api::events`]).
//!
//! Several brokers may share one PostgreSQL database: each also `NOTIFY`s what it revoked and
//! relays what the others notify (`LISTEN`, [`nexus_vault::store::notify`]), so a gateway hears
//! every revocation whichever broker it follows. On SQLite there is one broker: in process only.
//!
//! Delivery is best effort: a gateway that misses events (it was disconnected, or fell behind
//! and was cut off) flushes its caches when it reconnects; a broker whose `LISTEN` connection
//! dropped tells its gateways to flush ([`RevocationEvent::Resync`]). The caches' TTLs remain
//! the fallback bound.

use nexus_protocol::internal::RevocationEvent;
use nexus_vault::store::Store;
use nexus_vault::store::notify::RevocationListener;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Events buffered per subscriber before a slow one is cut off (and must reconnect and flush).
const BUFFER: usize = 1024;
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What goes over `NOTIFY`: the event and which broker sent it (it already relayed it).
#[derive(Serialize, Deserialize)]
struct Notice {
    origin: String,
    event: RevocationEvent,
}

#[derive(Clone)]
pub struct Revocations {
    sender: broadcast::Sender<RevocationEvent>,
    /// This broker process, to skip its own notifications.
    origin: String,
    /// Set when the broker shuts down: open event streams end so a graceful shutdown is not
    /// held up by gateways' long-lived requests.
    closing: watch::Sender<bool>,
}

impl Default for Revocations {
    fn default() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Self {
            sender: broadcast::channel(BUFFER).0,
            origin: format!("{}-{nanos:x}", std::process::id()),
            closing: watch::channel(false).0,
        }
    }
}

impl Revocations {
    /// Publishes after the revocation committed: to this broker's gateways at once, and (on
    /// PostgreSQL) to the other brokers. A failed `NOTIFY` is logged: the other brokers'
    /// gateways then fall back to their TTLs.
    pub async fn publish(&self, store: &Store, event: RevocationEvent) {
        tracing::debug!(target: "nexus_broker::revocations", ?event, "revocation published");
        let _ = self.sender.send(event.clone());
        let notice = Notice {
            origin: self.origin.clone(),
            event,
        };
        let Ok(payload) = serde_json::to_string(&notice) else {
            return;
        };
        if let Err(e) = store.notify(&payload).await {
            tracing::warn!(target: "nexus_broker::revocations", error = %e,
                "could not notify other brokers of a revocation");
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<RevocationEvent> {
        self.sender.subscribe()
    }

    /// Ends every open event stream, now and for streams opened later (shutdown).
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`Revocations::close_streams`] was called.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// On PostgreSQL, relays other brokers' notifications to this broker's gateways for as
    /// long as the runtime runs, reconnecting with backoff. The first `LISTEN` is in place when
    /// this returns (so nothing notified after start-up is missed). Nothing to do on SQLite.
    pub async fn start_relay(&self, database_url: String) {
        let first = match RevocationListener::connect(&database_url).await {
            Ok(None) => return,
            Ok(Some(listener)) => Some(listener),
            Err(e) => {
                tracing::warn!(target: "nexus_broker::revocations", error = %e,
                    "cannot LISTEN for other brokers' revocations; retrying");
                None
            }
        };
        let this = self.clone();
        tokio::spawn(async move { this.relay(first, &database_url).await });
    }

    async fn relay(&self, mut listener: Option<RevocationListener>, database_url: &str) {
        let mut backoff = Duration::from_millis(100);
        loop {
            if let Some(mut connected) = listener.take() {
                backoff = Duration::from_millis(100);
                self.follow(&mut connected).await;
                // Notifications sent while we were not listening are lost.
                let _ = self.sender.send(RevocationEvent::Resync);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            match RevocationListener::connect(database_url).await {
                Ok(connected) => {
                    listener = connected;
                    // Whatever was notified before this LISTEN is lost too.
                    let _ = self.sender.send(RevocationEvent::Resync);
                }
                Err(e) => tracing::warn!(target: "nexus_broker::revocations", error = %e,
                    "cannot LISTEN for other brokers' revocations; retrying"),
            }
        }
    }

    /// Relays until the connection is lost or fails.
    async fn follow(&self, listener: &mut RevocationListener) {
        loop {
            match listener.next().await {
                Ok(Some(payload)) => match serde_json::from_str::<Notice>(&payload) {
                    Ok(notice) if notice.origin != self.origin => {
                        let _ = self.sender.send(notice.event);
                    }
                    Ok(_) => {}
                    Err(_) => tracing::warn!(target: "nexus_broker::revocations",
                        "unreadable revocation notice; ignored"),
                },
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(target: "nexus_broker::revocations", error = %e,
                        "LISTEN connection failed");
                    return;
                }
            }
        }
    }
}
