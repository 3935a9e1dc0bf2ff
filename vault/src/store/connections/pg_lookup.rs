//! The resolve lookup on PostgreSQL over a few connections of its own (issue 20, cold path).
//!
//! Through the shared `Any` pool one lookup costs three round trips — sqlx pings a pooled
//! connection when it hands it out and again when it takes it back — and every column is
//! converted into the `Any` driver's values before it is decoded. The lookup is the one
//! statement every resolve runs, so it keeps its own connections: typed (`PgConnection`, the
//! statement prepared once per connection) and handed from one lookup to the next without a
//! ping. Only the lookup gate's holders use them, so there are at most as many as lookup slots.
//!
//! A connection that fails below SQL (the server restarted, the socket broke) is dropped, and a
//! lookup that met the failure on a connection kept from before runs once more on a new one:
//! a restarted server costs no failed resolve, as with the pool's ping, without a ping per use.

use super::ConnectionRow;
use super::lookup::{RESOLVE_LOOKUP, resolve_pair_from_row};
use crate::store::StoreError;
use crate::store::providers::StoredProvider;
use parking_lot::Mutex;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use std::time::Duration;

/// As long as the pool waits for a connection (`store::Store::connect_sized`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The lookup's own connections: idle ones wait here between lookups.
pub(crate) struct PgLookup {
    options: PgConnectOptions,
    idle: Mutex<Vec<PgConnection>>,
    /// Idle connections kept at most (the lookup slots); more are closed when given back.
    keep: usize,
}

impl PgLookup {
    /// Lookups on the PostgreSQL database at `url`, keeping at most `keep` idle connections.
    /// `None` when the url is not one the PostgreSQL driver reads (the store's pool, which
    /// connected with it, then serves the lookup).
    pub(crate) fn for_url(url: &str, keep: usize) -> Option<Self> {
        let options = url.parse::<PgConnectOptions>().ok()?;
        Some(Self {
            options,
            idle: Mutex::new(Vec::new()),
            keep: keep.max(1),
        })
    }

    /// [`crate::store::Store::find_connection_for`] on a connection of this lookup.
    pub(crate) async fn find_connection_for(
        &self,
        workspace_id: &str,
        provider_name: &str,
    ) -> Result<Option<(ConnectionRow, Option<StoredProvider>)>, StoreError> {
        let kept = self.idle.lock().pop();
        let reused = kept.is_some();
        let mut conn = match kept {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        let mut fetched = fetch(&mut conn, workspace_id, provider_name).await;
        if reused && fetched.as_ref().is_err_and(below_sql) {
            conn = self.connect().await?;
            fetched = fetch(&mut conn, workspace_id, provider_name).await;
        }
        match fetched {
            // The connection is gone with the error.
            Err(e) if below_sql(&e) => Err(e.into()),
            fetched => {
                self.give_back(conn);
                fetched?.as_ref().map(resolve_pair_from_row).transpose()
            }
        }
    }

    async fn connect(&self) -> Result<PgConnection, StoreError> {
        match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&self.options)).await
        {
            Ok(conn) => Ok(conn?),
            Err(_) => Err(sqlx::Error::PoolTimedOut.into()),
        }
    }

    fn give_back(&self, conn: PgConnection) {
        let mut idle = self.idle.lock();
        if idle.len() < self.keep {
            idle.push(conn);
        }
    }
}

async fn fetch(
    conn: &mut PgConnection,
    workspace_id: &str,
    provider_name: &str,
) -> Result<Option<PgRow>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(RESOLVE_LOOKUP.as_str()))
        .bind(workspace_id)
        .bind(provider_name)
        .fetch_optional(conn)
        .await
}

/// The connection failed, not the statement: it broke without an answer, or the server ended
/// the session (a shutdown or an operator's terminate arrives as a fatal error, class 57P, and
/// connection exceptions are class 08), so the connection is not to be used again.
fn below_sql(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => true,
    }
}
