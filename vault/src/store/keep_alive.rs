//! Keep-alive bookkeeping on `connections` (columns from migration 0006): `next_keepalive_at`
//! is when an idle connection is due (`NULL`: not scheduled since its refresh token was last
//! used; every token write clears it), `last_keepalive_at` when the worker last refreshed it.
//! The claim moves `next_keepalive_at` forward by a lease, so replicas never pick the same row.

use super::connections::{ConnectionKey, key_from};
use super::{Backend, Store, StoreError};
use sqlx::Row;

/// Connections of a keep-alive provider that can be kept alive: active, with a refresh token.
const KEEPABLE: &str = "provider_name = $1 AND status = 'active' AND refresh_token IS NOT NULL";

impl Store {
    /// Up to `limit` keepable connections of `provider` without a schedule, as `(workspace_id,
    /// id)` keys, each with the time its refresh token was last used (its last refresh, else its
    /// creation). A scan of every workspace (background work that fans out on a sharded
    /// database); what follows for each row names it by its key.
    pub(crate) async fn keepalive_unscheduled(
        &self,
        provider: &str,
        limit: i64,
    ) -> Result<Vec<(ConnectionKey, i64)>, StoreError> {
        let sql = format!(
            "SELECT workspace_id, id, COALESCE(last_refresh_at, created_at) AS last_used FROM connections \
             WHERE {KEEPABLE} AND next_keepalive_at IS NULL LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(provider)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((key_from(r)?, r.try_get("last_used")?)))
            .collect()
    }

    /// Schedule connection `key` at `due`, computed from `last_used`; not if the row changed
    /// meanwhile (scheduled by another replica, or refreshed: then `due` is stale). True when
    /// written.
    pub(crate) async fn schedule_keepalive(
        &self,
        key: &ConnectionKey,
        last_used: i64,
        due: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE connections SET next_keepalive_at = $1 WHERE workspace_id = $2 AND id = $3 \
             AND next_keepalive_at IS NULL AND COALESCE(last_refresh_at, created_at) = $4",
        )
        .bind(due)
        .bind(&key.workspace_id)
        .bind(&key.id)
        .bind(last_used)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Claim up to `batch` connections of `provider` due at `now`: their `next_keepalive_at`
    /// moves to `now + lease_ms` (the retry time if the refresh fails), so no other replica
    /// claims them. Rows locked by a refresh in progress are skipped (PostgreSQL). Like the
    /// schedule's scan, the claim looks at every workspace.
    pub(crate) async fn claim_keepalive(
        &self,
        provider: &str,
        now: i64,
        lease_ms: i64,
        batch: i64,
    ) -> Result<Vec<ConnectionKey>, StoreError> {
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            // One process by design, and one UPDATE statement is atomic.
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE connections SET next_keepalive_at = $2 + $3 WHERE (workspace_id, id) IN \
             (SELECT workspace_id, id FROM connections WHERE {KEEPABLE} AND next_keepalive_at <= $2 \
             ORDER BY next_keepalive_at LIMIT $4 {lock}) \
             AND next_keepalive_at <= $2 RETURNING workspace_id, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(provider)
            .bind(now)
            .bind(lease_ms)
            .bind(batch)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(key_from).collect()
    }

    /// The worker refreshed connection `key` at `at`.
    pub(crate) async fn record_keepalive(
        &self,
        key: &ConnectionKey,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE connections SET last_keepalive_at = $1 WHERE workspace_id = $2 AND id = $3",
        )
        .bind(at)
        .bind(&key.workspace_id)
        .bind(&key.id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
