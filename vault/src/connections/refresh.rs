//! The refresh engine: exactly one refresh per connection at a time, across every broker
//! process sharing the database.
//!
//! Two gates, in order:
//! 1. in-process single-flight: one task per connection goes on; the others wait on a
//!    per-connection async mutex and then find the fresh token;
//! 2. a database lock held for the whole refresh: a PostgreSQL row lock (`SELECT … FOR
//!    UPDATE`) or SQLite's write lock (`BEGIN IMMEDIATE`).
//!
//! After each gate the row is read again: if its `version` moved since the caller looked,
//! someone else refreshed and that token is used. The new tokens (including a rotated refresh
//! token) are written in the same transaction that holds the lock, so no process can ever
//! read the old refresh token after the provider has invalidated it. If the broker dies
//! mid-refresh the transaction rolls back and the lock is released with the connection.

use super::gates::KeyedGates;
use super::health::{self, Outcome};
use crate::error::VaultError;
use crate::oauth::{OAuthClient, OAuthError};
use crate::store::connections::ConnectionRow;
use crate::store::{Backend, Store, now_ms};
use nexus_protocol::ConnectionStatus;
use std::sync::Arc;
use std::time::Duration;

/// See `RefreshEngine::as_fresh_as_it_gets`.
const RECENT_REFRESH_MS: i64 = 60_000;

pub struct RefreshEngine {
    store: Store,
    oauth: Arc<OAuthClient>,
    margin: Duration,
    flights: KeyedGates,
    /// SQLite only: one refresh transaction at a time in this process (see `refresh_locked`).
    sqlite_writer: tokio::sync::Mutex<()>,
}

/// Why a refresh was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The token must stay valid for at least this many milliseconds.
    ValidFor(i64),
    /// Refresh at the provider regardless (the caller saw the token rejected upstream).
    Force,
}

impl RefreshEngine {
    pub fn new(store: Store, oauth: Arc<OAuthClient>, margin: Duration) -> Self {
        Self {
            store,
            oauth,
            margin,
            flights: KeyedGates::default(),
            sqlite_writer: tokio::sync::Mutex::new(()),
        }
    }

    /// How long a token must still be valid to be handed out without refreshing: the margin
    /// plus up to 10 % jitter (so a fleet of tokens issued together does not refresh together),
    /// and at least the caller's `min_ttl`.
    pub fn need_for(&self, min_ttl: Option<u64>) -> Need {
        let margin = self.margin.as_millis() as i64;
        let jitter = if margin > 0 {
            rand::random_range(0..=margin / 10)
        } else {
            0
        };
        let min_ttl = min_ttl
            .unwrap_or(0)
            .saturating_mul(1000)
            .min(i64::MAX as u64) as i64;
        Need::ValidFor((margin + jitter).max(min_ttl))
    }

    /// A row whose access token satisfies `need`, refreshing it if necessary.
    pub async fn ensure_fresh(
        &self,
        row: ConnectionRow,
        need: Need,
    ) -> Result<ConnectionRow, VaultError> {
        if let Need::ValidFor(ms) = need
            && (valid_for(&row, ms) || self.as_fresh_as_it_gets(&row))
        {
            return Ok(row);
        }
        let seen_version = row.version;
        let gate = self.flights.gate(&row.id);
        let _in_process = gate.lock().await;

        let current = self
            .store
            .get_connection(&row.workspace_id, &row.id)
            .await?
            .ok_or_else(not_found)?;
        if refreshed_meanwhile(&current, seen_version) {
            return Ok(current);
        }
        self.refresh_locked(&current, seen_version).await
    }

    async fn refresh_locked(
        &self,
        row: &ConnectionRow,
        seen_version: i64,
    ) -> Result<ConnectionRow, VaultError> {
        // Everything that needs the database but not the lock is read first: while the lock is
        // held this task uses only the transaction's connection, so a full pool can never wait
        // on itself. The client secret is read now, not at start-up, so a rotated secret
        // applies to this refresh.
        let provider = self
            .store
            .get_provider(&row.provider_name)
            .await?
            .ok_or_else(|| {
                VaultError::provider_not_found(format!(
                    "provider `{}` no longer exists",
                    row.provider_name
                ))
            })?
            .provider;
        let secret = self.store.provider_client_secret(&provider.name).await?;
        // SQLite has one write lock for the whole file: queue for it here, without holding a
        // pooled connection, instead of inside `BEGIN IMMEDIATE`.
        let _sqlite_turn = self.sqlite_turn().await;
        let mut tx = self.store.begin_locking().await?;
        let locked = self
            .store
            .lock_connection(&mut tx, &row.workspace_id, &row.id)
            .await?
            .ok_or_else(not_found)?;
        if refreshed_meanwhile(&locked, seen_version) {
            tx.commit().await.map_err(crate::store::StoreError::from)?;
            return Ok(locked);
        }
        if locked.status != ConnectionStatus::Active {
            return Err(status_error(&locked));
        }
        let Some(refresh_token) = self.store.open_refresh_token(&locked)? else {
            // Nothing to refresh with: hand out what is still valid, else ask for a person.
            return if valid_for(&locked, 0) {
                Ok(locked)
            } else {
                Err(reauth(&locked, "no refresh token"))
            };
        };
        match self
            .oauth
            .refresh(&provider, secret.as_ref(), &refresh_token)
            .await
        {
            Ok(response) => {
                self.store
                    .write_tokens(&mut tx, &locked, &response.tokens)
                    .await?;
                health::record(&self.store, &mut tx, &locked, Outcome::Success).await?;
                tx.commit().await.map_err(crate::store::StoreError::from)?;
                tracing::info!(connection = %locked.id, provider = %provider.name, "refreshed access token");
                self.store
                    .get_connection(&locked.workspace_id, &locked.id)
                    .await?
                    .ok_or_else(not_found)
            }
            Err(OAuthError::Rejected(code)) => {
                let reason = format!("provider rejected the refresh token ({code})");
                self.store
                    .mark_needs_reauth(&mut tx, &locked.workspace_id, &locked.id, &reason)
                    .await?;
                let outcome = Outcome::Rejected(health::rejected(reason.clone()));
                health::record(&self.store, &mut tx, &locked, outcome).await?;
                tx.commit().await.map_err(crate::store::StoreError::from)?;
                tracing::warn!(connection = %locked.id, provider = %provider.name, code, "connection needs re-authorization");
                Err(reauth(&locked, &reason))
            }
            Err(other) => {
                // The tokens stay as they were; only the health moves (and maybe an event).
                let protocol = matches!(other, OAuthError::Protocol(_));
                let outcome = Outcome::Transient(health::transient(other.to_string(), protocol));
                health::record(&self.store, &mut tx, &locked, outcome).await?;
                tx.commit().await.map_err(crate::store::StoreError::from)?;
                tracing::warn!(connection = %locked.id, provider = %provider.name, error = %other, "refresh failed");
                if valid_for(&locked, 0) {
                    // Keep serving a still-valid token through a provider outage.
                    Ok(locked)
                } else {
                    Err(VaultError::upstream(format!(
                        "could not refresh the token: {other}"
                    )))
                }
            }
        }
    }

    /// SQLite has one write lock for the whole file: every transaction of this process that
    /// holds it across a provider call (a refresh, a narrowing mint) queues here first, without
    /// holding a pooled connection. Nothing to wait for on PostgreSQL (row locks).
    pub(crate) async fn sqlite_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.store.backend() {
            Backend::Sqlite => Some(self.sqlite_writer.lock().await),
            Backend::Postgres => None,
        }
    }

    /// A token refreshed moments ago that is still valid beyond the margin is as fresh as the
    /// provider makes them: a `min_ttl` longer than the provider's token lifetime must not turn
    /// every resolve into a refresh (and the provider's rate limit into an outage).
    fn as_fresh_as_it_gets(&self, row: &ConnectionRow) -> bool {
        let margin = self.margin.as_millis() as i64;
        row.last_refresh_at
            .is_some_and(|at| now_ms() - at < RECENT_REFRESH_MS)
            && valid_for(row, margin)
    }
}

/// True when the row's access token is valid for at least `ms` more milliseconds.
pub fn valid_for(row: &ConnectionRow, ms: i64) -> bool {
    row.status == ConnectionStatus::Active
        && row.access_expires_at.is_some_and(|exp| exp - now_ms() > ms)
}

/// Someone refreshed (or re-authorized) since the caller read `seen_version`, and the result is
/// usable: take it instead of refreshing again.
fn refreshed_meanwhile(row: &ConnectionRow, seen_version: i64) -> bool {
    row.version != seen_version && valid_for(row, 0)
}

fn not_found() -> VaultError {
    VaultError::connection_not_found("connection not found")
}

pub(crate) fn reauth(row: &ConnectionRow, reason: &str) -> VaultError {
    let _ = row;
    VaultError::reauth(format!("the connection must be authorized again: {reason}"))
}

/// The error a resolve gets for a connection that is not `active`.
pub(crate) fn status_error(row: &ConnectionRow) -> VaultError {
    match row.status {
        ConnectionStatus::Pending => {
            VaultError::NotActive("the connection is waiting for authorization".into())
        }
        ConnectionStatus::NeedsReauth | ConnectionStatus::Failed => reauth(
            row,
            row.last_error
                .as_deref()
                .unwrap_or("the provider rejected the connection"),
        ),
        ConnectionStatus::Revoked => VaultError::connection_not_found("the connection was revoked"),
        ConnectionStatus::Active => VaultError::Internal,
    }
}
