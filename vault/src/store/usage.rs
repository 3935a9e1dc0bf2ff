//! `connection_usage` (migration 0018): who resolved each connection recently.

use super::{Store, StoreError};
use sqlx::Row;
use std::collections::HashMap;

/// Most connections one `recent_usage` call looks up (a console page holds at most 200).
pub const MAX_LOOKUP: usize = 200;

impl Store {
    /// `principal` used connection `id` of `workspace_id` at `at`. The row is keyed by the
    /// workspace first (migration 0026), like every tenant table.
    pub(crate) async fn touch_usage(
        &self,
        workspace_id: &str,
        id: &str,
        principal: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO connection_usage (workspace_id, connection_id, principal, last_used_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (workspace_id, connection_id, principal) DO UPDATE SET last_used_at = excluded.last_used_at",
        )
        .bind(workspace_id)
        .bind(id)
        .bind(principal)
        .bind(at)
        .execute(&self.pool)
        .await?;
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
