//! The store: one schema on PostgreSQL (production) or SQLite (embedded default).
//!
//! Queries go through sqlx's `Any` driver and are written once, in the SQL both databases
//! accept (`$1` placeholders, `ON CONFLICT`, `RETURNING`); the few dialect differences (row
//! locks) are explicit in [`Backend`]. Secrets are sealed by the [`Sealer`] before they reach a
//! query and opened after they leave one, so nothing above this module handles ciphertext and
//! nothing below it sees plaintext in the database.

pub mod api_keys;
pub mod as_sessions;
pub mod audit;
pub(crate) mod audit_batch;
pub mod audit_chain;
mod audit_checkpoint;
mod audit_export;
mod audit_head;
#[cfg(feature = "testing")]
pub use audit_head::AuditHeadStats;
mod audit_insert_pg;
mod audit_insert_sqlite;
pub mod audit_prune;
mod audit_rekey;
pub mod browser_sessions;
pub mod bulk;
pub mod connections;
pub mod console;
pub mod events;
pub mod identity;
pub mod identity_providers;
mod keep_alive;
pub mod mcp_resources;
pub mod mcp_users;
pub mod notify;
pub mod oauth_assertions;
pub mod oauth_clients;
pub mod oauth_grants;
pub mod pending;
mod pg_array;
pub mod providers;
pub mod rotation;
pub mod signing_keys;
pub mod usage;
pub mod webhooks;
pub mod workspaces;

use crate::crypto::{CryptoError, Sealer};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Connection, Executor};
use std::sync::Arc;
use std::time::Duration;

/// An id read back from the database (or about to be answered), as its protocol type. Ids are
/// checked before they are stored, so one that breaks its rule means the row is corrupt.
pub(crate) fn stored_id<T>(value: String) -> Result<T, StoreError>
where
    T: TryFrom<String, Error = nexus_protocol::IdError>,
{
    T::try_from(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A database failure. sqlx errors name the query and the database error, never bound values.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The audit transaction that held this record failed (a database failure, named).
    #[error("audit record not written: {0}")]
    AuditNotWritten(String),
    #[error("unsupported database URL (use sqlite:// or postgres://)")]
    UnsupportedUrl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }
}

/// A pooled connection idle at least this long is pinged before it is handed out.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

/// The database plus the sealer that seals its secret columns. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    pub(crate) sealer: Arc<Sealer>,
    /// Group commit of audit records (one queue per chain), shared by the clones.
    audit_writer: Arc<audit_batch::AuditWriter>,
}

impl Store {
    /// Connect with the default pool size and apply the migrations of this backend.
    pub async fn connect(url: &str, sealer: Arc<Sealer>) -> Result<Self, StoreError> {
        Self::connect_sized(url, sealer, None).await
    }

    /// Connect with at most `max_connections` pooled connections (`None`: the default).
    pub async fn connect_sized(
        url: &str,
        sealer: Arc<Sealer>,
        max_connections: Option<u32>,
    ) -> Result<Self, StoreError> {
        install_default_drivers();
        let backend = Backend::from_url(url)?;
        // PostgreSQL: each refresh in flight holds a connection (its row lock) for the duration
        // of the provider call, so leave room for them next to ordinary queries; audit appends
        // take one connection per busy chain (group commit), not one per resolve.
        let default_size = if backend == Backend::Postgres { 32 } else { 16 };
        let max_connections = max_connections.unwrap_or(default_size);
        let mut options = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30))
            // sqlx pings every connection it hands out, by default: a round trip (and a wake-up
            // of the server's backend) per query on a busy pool, where the connection was in use
            // a moment ago. Only one idle for a while is pinged (a server restart or a dropped
            // link shows up there); sqlx still pings each connection given back.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_WHEN_IDLE_FOR {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            });
        if backend == Backend::Sqlite {
            // One file shared by the pool's connections: wait for the write lock instead of
            // failing with SQLITE_BUSY, and let readers proceed during a write (WAL).
            options = options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute("PRAGMA busy_timeout = 30000").await?;
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(url).await?;
        let store = Self {
            pool,
            backend,
            sealer,
            audit_writer: Arc::default(),
        };
        store.migrate().await?;
        // Audit heads: a chain's first append in this process is then one
        // statement, not a read and a statement (see `audit_head`). SQLite locks instead.
        if backend == Backend::Postgres {
            store.preload_audit_heads().await;
        }
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        // Migration 0003 keys the audit chain: chains written before it are re-keyed once, by
        // the process that applies it (see `audit_rekey`).
        let chain_was_keyed = self.migration_applied(3).await;
        match self.backend {
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
            Backend::Sqlite => {
                sqlx::migrate!("./migrations/sqlite")
                    .run(&self.pool)
                    .await?
            }
        }
        if !chain_was_keyed {
            self.rekey_plain_chains().await?;
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn sealer(&self) -> &Arc<Sealer> {
        &self.sealer
    }

    /// `SELECT 1`, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Begin a transaction that holds the write lock needed to refresh a connection:
    /// SQLite takes the database write lock up front (`BEGIN IMMEDIATE`); PostgreSQL takes a
    /// row lock afterwards with `SELECT … FOR UPDATE` (see `connections::lock_for_refresh`).
    pub(crate) async fn begin_locking(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }
}

/// Milliseconds since the Unix epoch: the unit of every time column.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// RFC 3339 text of a millisecond timestamp (for API bodies).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// True when a database error is a foreign-key violation (both backends).
pub(crate) fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.is_foreign_key_violation() || db.message().contains("FOREIGN KEY constraint failed")
        }
        _ => false,
    }
}

/// True when a database error is a unique-constraint violation (both backends).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.is_unique_violation() || db.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

/// The resolve path's PostgreSQL statements whose text the store builds, by name, exactly as
/// the broker sends them. `scripts/bench/explain-hot-queries.sh` prints their plans through
/// the `hot_statements` example, so the plans in the docs are of these statements and not of
/// copies that drift (the script's copies of the audit insert had).
#[cfg(feature = "testing")]
pub fn hot_statements_pg() -> Vec<(&'static str, String)> {
    vec![
        (
            "resolve_lookup",
            connections::lookup::RESOLVE_LOOKUP.clone(),
        ),
        (
            "audit_append_after_head",
            audit_insert_pg::INSERT_AFTER_HEAD.to_owned(),
        ),
        (
            "audit_append_at_genesis",
            audit_insert_pg::INSERT_AT_GENESIS.to_owned(),
        ),
        ("usage_record", usage::RECORD_PG.to_owned()),
    ]
}

/// The columns every statement on one connection row selects (`get_connection`,
/// `lock_connection`, the admin listing), for the same script.
#[cfg(feature = "testing")]
pub fn connection_columns() -> &'static str {
    connections::COLUMNS
}
