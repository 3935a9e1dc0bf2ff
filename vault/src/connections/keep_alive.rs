//! The keep-alive worker: refreshes connections whose refresh token went unused for the
//! provider's `keep_alive.idle_after` (`providers::keep_alive`), before the provider forgets it.
//!
//! Each tick, per provider with a policy:
//! 1. schedule: connections without a `next_keepalive_at` (new, or refreshed since: every token
//!    write clears it) get `last use + idle_after × (1 − U(0, jitter))`, written only if the
//!    last use is still the one read (a schedule computed before a refresh would be stale);
//! 2. claim: up to [`BATCH`] due connections have `next_keepalive_at` moved a lease ahead in one
//!    statement (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so two replicas never take the same
//!    row, and a failed refresh is tried again once the lease has passed;
//! 3. refresh each through the refresh engine's single flight (`Need::Force`), at most
//!    [`PER_PROVIDER`] at a time: its row lock and version check make a concurrent refresh by
//!    traffic count once. Failures move health and emit events like any refresh.
//!
//! A connection in use is refreshed by its traffic, which clears its schedule, so it never
//! becomes due: only idle ones are touched. The broker runs [`KeepAliveWorker::run`]; tests call
//! [`KeepAliveWorker::tick`] with their own clock.

use super::ConnectionService;
use super::refresh::Need;
use crate::error::VaultError;
use crate::providers::keep_alive::KeepAlive;
use crate::store::connections::ConnectionKey;
use crate::store::now_ms;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// Connections claimed per provider and tick.
pub const BATCH: i64 = 20;
/// Refreshes in flight per provider.
pub const PER_PROVIDER: usize = 4;
/// Connections scheduled per provider and tick (the rest next tick).
const SCHEDULE_BATCH: i64 = 500;
/// How long a claim holds a connection: a failed keep-alive refresh is retried after this.
pub const LEASE_MS: i64 = 3_600_000;
/// Time between ticks of [`KeepAliveWorker::run`].
pub const EVERY: Duration = Duration::from_secs(60);

/// Milliseconds since the epoch, as the worker schedules (replaceable in tests).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// What one tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickReport {
    pub scheduled: usize,
    /// Connections refreshed by this tick.
    pub refreshed: Vec<String>,
    /// Connections whose keep-alive refresh failed (retried after the lease).
    pub failed: Vec<String>,
}

pub struct KeepAliveWorker {
    connections: Arc<ConnectionService>,
    clock: Clock,
}

impl KeepAliveWorker {
    pub fn new(connections: Arc<ConnectionService>) -> Self {
        Self::with_clock(connections, Arc::new(now_ms))
    }

    pub fn with_clock(connections: Arc<ConnectionService>, clock: Clock) -> Self {
        Self { connections, clock }
    }

    /// Ticks every [`EVERY`] until the task is dropped.
    pub async fn run(self: Arc<Self>) {
        loop {
            match self.tick().await {
                Ok(r) if !r.refreshed.is_empty() || !r.failed.is_empty() => tracing::info!(
                    refreshed = r.refreshed.len(),
                    failed = r.failed.len(),
                    "keep-alive refreshed idle connections"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "keep-alive tick failed"),
            }
            tokio::time::sleep(EVERY).await;
        }
    }

    /// Schedule, claim and refresh what is due now, for every provider with a policy.
    pub async fn tick(&self) -> Result<TickReport, VaultError> {
        let store = &self.connections.store;
        let mut report = TickReport::default();
        for stored in store.list_providers().await? {
            let Some(policy) = stored.provider.keep_alive else {
                continue;
            };
            let name = &stored.provider.name;
            report.scheduled += self.schedule(name, &policy).await?;
            let now = (self.clock)();
            let due = store.claim_keepalive(name, now, LEASE_MS, BATCH).await?;
            let outcomes: Vec<(String, bool)> = futures::stream::iter(due)
                .map(|key| async move {
                    let ok = self.refresh(&key).await;
                    (key.id, ok)
                })
                .buffer_unordered(PER_PROVIDER)
                .collect()
                .await;
            for (id, ok) in outcomes {
                if ok {
                    report.refreshed.push(id);
                } else {
                    report.failed.push(id);
                }
            }
        }
        Ok(report)
    }

    async fn schedule(&self, provider: &str, policy: &KeepAlive) -> Result<usize, VaultError> {
        let store = &self.connections.store;
        let unscheduled = store
            .keepalive_unscheduled(provider, SCHEDULE_BATCH)
            .await?;
        let mut scheduled = 0;
        for (key, last_used) in &unscheduled {
            let due = policy.due_at(*last_used, rand::random::<f64>());
            if store.schedule_keepalive(key, *last_used, due).await? {
                scheduled += 1;
            }
        }
        Ok(scheduled)
    }

    /// One keep-alive refresh; `true` when the connection has fresh tokens afterwards.
    async fn refresh(&self, key: &ConnectionKey) -> bool {
        let store = &self.connections.store;
        let result = async {
            let row = store.connection_in(&key.workspace_id, &key.id).await?;
            let before = row.version;
            let after = self
                .connections
                .refresh
                .ensure_fresh(row, Need::Force)
                .await?;
            // Through a provider outage the engine hands back the still-valid old token: that
            // kept nothing alive.
            if after.version == before {
                return Err(VaultError::upstream(
                    "the provider did not refresh the token",
                ));
            }
            store.record_keepalive(key, (self.clock)()).await?;
            Ok::<_, VaultError>(())
        }
        .await;
        match result {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(connection = %key.id, error = %e, "keep-alive refresh failed");
                false
            }
        }
    }
}
