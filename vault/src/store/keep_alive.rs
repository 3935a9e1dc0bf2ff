//! Keep-alive bookkeeping on `connections` (columns from migration 0006): `next_keepalive_at`
//! is when an idle connection is due (`NULL`: not scheduled since its refresh token was last
//! used; every token write clears it), `last_keepalive_at` when the worker last refreshed it.
//! The claim moves `next_keepalive_at` forward by a lease, so replicas never pick the same row.

use super::{Backend, Store, StoreError};
use sqlx::Row;

/// Connections of a keep-alive provider that can be kept alive: active, with a refresh token.
const KEEPABLE: &str = "provider_name = $1 AND status = 'active' AND refresh_token IS NOT NULL";

impl Store {
    /// Up to `limit` keepable connections of `provider` without a schedule, each with the time
    /// its refresh token was last used (its last refresh, else its creation).
    pub(crate) async fn keepalive_unscheduled(
        &self,
        provider: &str,
        limit: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let sql = format!(
            "SELECT id, COALESCE(last_refresh_at, created_at) AS last_used FROM connections \
             WHERE {KEEPABLE} AND next_keepalive_at IS NULL LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(provider)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("last_used")?)))
            .collect()
    }

    /// Schedule connection `id` at `due`, computed from `last_used`; not if the row changed
    /// meanwhile (scheduled by another replica, or refreshed: then `due` is stale). True when
    /// written.
    pub(crate) async fn schedule_keepalive(
        &self,
        id: &str,
        last_used: i64,
        due: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE connections SET next_keepalive_at = $1 WHERE id = $2 AND next_keepalive_at IS NULL \
             AND COALESCE(last_refresh_at, created_at) = $3",
        )
        .bind(due)
        .bind(id)
        .bind(last_used)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Claim up to `batch` connections of `provider` due at `now`: their `next_keepalive_at`
    /// moves to `now + lease_ms` (the retry time if the refresh fails), so no other replica
    /// claims them. Rows locked by a refresh in progress are skipped (PostgreSQL).
    pub(crate) async fn claim_keepalive(
        &self,
        provider: &str,
        now: i64,
        lease_ms: i64,
        batch: i64,
    ) -> Result<Vec<String>, StoreError> {
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            // One process by design, and one UPDATE statement is atomic.
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE connections SET next_keepalive_at = $2 + $3 WHERE id IN (SELECT id FROM connections \
             WHERE {KEEPABLE} AND next_keepalive_at <= $2 ORDER BY next_keepalive_at LIMIT $4 {lock}) \
             AND next_keepalive_at <= $2 RETURNING id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(provider)
            .bind(now)
            .bind(lease_ms)
            .bind(batch)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
    }

    /// The worker refreshed connection `id` at `at`.
    pub(crate) async fn record_keepalive(&self, id: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE connections SET last_keepalive_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
