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

use super::lookup::RESOLVE_LOOKUP;
use super::{ConnectionRow, connection_from_row};
use crate::store::StoreError;
use crate::store::providers::{ProviderColumns, StoredProvider, provider_from_parts};
use parking_lot::Mutex;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::{Connection, Row};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Providers remembered at most (a global table of a few rows in practice); beyond it the
/// memory starts over.
const PROVIDERS_REMEMBERED: usize = 1024;

/// As long as the pool waits for a connection (`store::Store::connect_sized`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// What a resolve lookup finds: the connection and its provider (`None`: the provider row is
/// gone), shared rather than copied.
pub(crate) type LookedUp = (ConnectionRow, Option<Arc<StoredProvider>>);

/// The lookup's own connections: idle ones wait here between lookups.
pub(crate) struct PgLookup {
    options: PgConnectOptions,
    idle: Mutex<Vec<PgConnection>>,
    /// Idle connections kept at most (the lookup slots); more are closed when given back.
    keep: usize,
    /// The providers last read, by id, with the column values they were decoded from: a row
    /// whose values are the same is the same provider, so its spec is not parsed again.
    providers: Mutex<HashMap<String, Arc<DecodedProvider>>>,
}

/// A provider's column values and what they decode to.
struct DecodedProvider {
    spec: String,
    has_secret: bool,
    created_at: i64,
    updated_at: i64,
    decoded: Arc<StoredProvider>,
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
            providers: Mutex::default(),
        })
    }

    /// [`crate::store::Store::find_connection_for`] on a connection of this lookup.
    pub(crate) async fn find_connection_for(
        &self,
        workspace_id: &str,
        provider_name: &str,
    ) -> Result<Option<LookedUp>, StoreError> {
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
                let Some(row) = fetched? else { return Ok(None) };
                Ok(Some((connection_from_row(&row)?, self.provider_of(&row)?)))
            }
        }
    }

    /// The row's provider (`None`: the provider row is gone), decoded as
    /// `provider_from_columns` does, or the one decoded before from the same values.
    fn provider_of(&self, row: &PgRow) -> Result<Option<Arc<StoredProvider>>, StoreError> {
        let columns = ProviderColumns::JOINED;
        let Some(id) = row.try_get::<Option<String>, _>(columns.id)? else {
            return Ok(None);
        };
        let spec: String = row.try_get(columns.spec)?;
        let has_secret: bool = row.try_get(columns.has_secret)?;
        let created_at: i64 = row.try_get(columns.created_at)?;
        let updated_at: i64 = row.try_get(columns.updated_at)?;
        if let Some(known) = self.providers.lock().get(&id)
            && known.spec == spec
            && known.has_secret == has_secret
            && known.created_at == created_at
            && known.updated_at == updated_at
        {
            return Ok(Some(known.decoded.clone()));
        }
        let decoded = Arc::new(provider_from_parts(
            id.clone(),
            &spec,
            has_secret,
            created_at,
            updated_at,
        )?);
        let mut providers = self.providers.lock();
        if providers.len() >= PROVIDERS_REMEMBERED {
            providers.clear();
        }
        providers.insert(
            id,
            Arc::new(DecodedProvider {
                spec,
                has_secret,
                created_at,
                updated_at,
                decoded: decoded.clone(),
            }),
        );
        Ok(Some(decoded))
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
