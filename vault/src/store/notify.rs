//! PostgreSQL `LISTEN`/`NOTIFY` on one channel, so every broker sharing a database hears what
//! the others revoked (and relays it to its gateways). On SQLite there is one broker process
//! and nothing to tell: [`Store::notify`] does nothing and there is no listener.

use super::{Backend, Store, StoreError};
use sqlx::postgres::PgListener;

/// The channel brokers notify and listen on.
pub const REVOCATIONS_CHANNEL: &str = "nexus_revocations";

impl Store {
    /// `NOTIFY` the revocations channel with `payload` (PostgreSQL; a no-op on SQLite). Called
    /// after the revocation committed, so a listener that re-reads sees it.
    pub async fn notify(&self, payload: &str) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(REVOCATIONS_CHANNEL)
            .bind(payload)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// A dedicated connection `LISTEN`ing on [`REVOCATIONS_CHANNEL`].
pub struct RevocationListener(PgListener);

impl RevocationListener {
    /// `None` when `database_url` is not PostgreSQL (no other broker can exist).
    pub async fn connect(database_url: &str) -> Result<Option<Self>, StoreError> {
        if Backend::from_url(database_url)? != Backend::Postgres {
            return Ok(None);
        }
        let mut listener = PgListener::connect(database_url).await?;
        listener.listen(REVOCATIONS_CHANNEL).await?;
        Ok(Some(Self(listener)))
    }

    /// The next payload, or `Ok(None)` when the connection was lost: notifications sent until
    /// the next call reconnects are gone, so the caller must treat it as a gap.
    pub async fn next(&mut self) -> Result<Option<String>, StoreError> {
        Ok(self.0.try_recv().await?.map(|n| n.payload().to_owned()))
    }
}
