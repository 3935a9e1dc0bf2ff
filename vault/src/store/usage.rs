//! `connection_usage` (migration 0018): who resolved each connection recently.

use super::pg_array::{bigint_array, text_array};
use super::{Backend, Store, StoreError};
use sqlx::Row;
use std::collections::HashMap;

/// `principal` resolved connection `connection_id` of `workspace_id` at `at` (ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Use {
    pub(crate) workspace_id: String,
    pub(crate) connection_id: String,
    pub(crate) principal: String,
    pub(crate) at: i64,
}

/// One statement for any number of uses (arrays, [`super::pg_array`]). Rows are locked in the
/// order given: the recorder sorts them, so two brokers writing overlapping batches cannot
/// deadlock.
pub(super) const RECORD_PG: &str = "INSERT INTO connection_usage (workspace_id, connection_id, principal, last_used_at) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) \
     ON CONFLICT (workspace_id, connection_id, principal) \
     DO UPDATE SET last_used_at = GREATEST(connection_usage.last_used_at, excluded.last_used_at)";

const RECORD_SQLITE: &str = "INSERT INTO connection_usage (workspace_id, connection_id, principal, last_used_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (workspace_id, connection_id, principal) \
     DO UPDATE SET last_used_at = max(connection_usage.last_used_at, excluded.last_used_at)";

/// Most connections one `recent_usage` call looks up (a console page holds at most 200).
pub const MAX_LOOKUP: usize = 200;

impl Store {
    /// Record `uses` (each (workspace, connection, principal) at most once; the recorder
    /// dedups) in one statement on PostgreSQL, one transaction on SQLite. A row only moves
    /// forward in time (another process may have written a later use). All or nothing: one use
    /// of a connection deleted meanwhile fails the call (the caller retries them one by one).
    pub(crate) async fn record_usage(&self, uses: &[Use]) -> Result<(), StoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        match self.backend {
            Backend::Postgres => {
                let text = |f: fn(&Use) -> &str| text_array(uses.iter().map(|u| Some(f(u))));
                sqlx::query(RECORD_PG)
                    .bind(text(|u| &u.workspace_id))
                    .bind(text(|u| &u.connection_id))
                    .bind(text(|u| &u.principal))
                    .bind(bigint_array(uses.iter().map(|u| u.at)))
                    .execute(&self.pool)
                    .await?;
            }
            Backend::Sqlite => {
                let mut tx = self.begin_locking().await?;
                for u in uses {
                    sqlx::query(RECORD_SQLITE)
                        .bind(&u.workspace_id)
                        .bind(&u.connection_id)
                        .bind(&u.principal)
                        .bind(u.at)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// For each of `ids` (at most [`MAX_LOOKUP`]), the principals that used it since `since`,
    /// most recent first.
    pub async fn recent_usage(
        &self,
        ids: &[&str],
        since: i64,
    ) -> Result<HashMap<String, Vec<(String, i64)>>, StoreError> {
        let mut out: HashMap<String, Vec<(String, i64)>> = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let ids = &ids[..ids.len().min(MAX_LOOKUP)];
        // Only placeholders are written into the SQL; the ids are bound.
        let list = (0..ids.len())
            .map(|i| format!("${}", i + 2))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT connection_id, principal, last_used_at FROM connection_usage \
             WHERE last_used_at >= $1 AND connection_id IN ({list}) ORDER BY last_used_at DESC"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(since);
        for id in ids {
            query = query.bind(*id);
        }
        for r in query.fetch_all(&self.pool).await? {
            out.entry(r.try_get("connection_id")?)
                .or_default()
                .push((r.try_get("principal")?, r.try_get("last_used_at")?));
        }
        Ok(out)
    }
}
