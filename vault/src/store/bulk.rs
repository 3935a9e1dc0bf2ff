//! Bulk loading: many workspaces and connections in few statements (the seeding tool, large
//! imports). Rows are sealed exactly as [`Store::insert_connection`] seals them (same AAD: table,
//! workspace, row id, column), so a bulk-loaded connection resolves like any other.

use super::connections::TokenSet;
use super::{Store, StoreError, now_ms};
use crate::crypto::Aad;
use nexus_protocol::ConnectionStatus;

/// Rows per multi-row `INSERT` (SQLite allows 32,766 parameters per statement, PostgreSQL
/// 65,535; a connection row binds 12).
const ROWS_PER_STATEMENT: usize = 500;

/// One active OAuth connection to load.
pub struct BulkConnection<'a> {
    pub workspace_id: &'a str,
    pub provider_name: &'a str,
    pub user_id: Option<&'a str>,
    pub scopes: &'a [String],
    pub tokens: &'a TokenSet,
}

impl Store {
    /// Create the workspaces that do not exist yet, in one transaction.
    pub async fn insert_workspaces_bulk(&self, ids: &[String]) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO workspaces (id, created_at) VALUES {} ON CONFLICT (id) DO NOTHING",
                placeholders(chunk.len(), 2)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id.as_str()).bind(now);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Insert `rows` as active connections, sealed as in production, in one transaction;
    /// returns their new ids in order.
    pub async fn insert_connections_bulk(
        &self,
        rows: &[BulkConnection<'_>],
    ) -> Result<Vec<String>, StoreError> {
        let now = now_ms();
        let ids: Vec<String> = rows
            .iter()
            .map(|_| uuid::Uuid::new_v4().to_string())
            .collect();
        let mut tx = self.pool.begin().await?;
        for (chunk, chunk_ids) in rows
            .chunks(ROWS_PER_STATEMENT)
            .zip(ids.chunks(ROWS_PER_STATEMENT))
        {
            let sql = format!(
                "INSERT INTO connections (id, workspace_id, provider_name, user_id, status, scopes, access_token, \
                 access_expires_at, refresh_token, token_type, created_at, updated_at, version) VALUES {}",
                placeholders_then(chunk.len(), 12, "0")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (row, id) in chunk.iter().zip(chunk_ids) {
                let seal = |column: &str, value: Option<&nexus_protocol::SecretString>| {
                    value.map(|v| {
                        let aad = Aad {
                            table: "connections",
                            workspace: row.workspace_id,
                            row: id,
                            column,
                        };
                        self.sealer.seal(v.expose(), &aad)
                    })
                };
                q = q
                    .bind(id.as_str())
                    .bind(row.workspace_id)
                    .bind(row.provider_name)
                    .bind(row.user_id)
                    .bind(ConnectionStatus::Active.as_str())
                    .bind(serde_json::to_string(row.scopes).unwrap_or_else(|_| "[]".into()))
                    .bind(seal("access_token", row.tokens.access_token.as_ref()))
                    .bind(row.tokens.expires_at)
                    .bind(seal("refresh_token", row.tokens.refresh_token.as_ref()))
                    .bind(row.tokens.token_type.clone())
                    .bind(now)
                    .bind(now);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(ids)
    }
}

/// `($1, $2), ($3, $4), …`: `rows` groups of `per_row` parameters.
pub(super) fn placeholders(rows: usize, per_row: usize) -> String {
    placeholders_then(rows, per_row, "")
}

/// Like [`placeholders`], each group ending with the literal `tail` when it is not empty.
fn placeholders_then(rows: usize, per_row: usize, tail: &str) -> String {
    (0..rows)
        .map(|r| {
            let mut params: Vec<String> = (1..=per_row)
                .map(|c| format!("${}", r * per_row + c))
                .collect();
            if !tail.is_empty() {
                params.push(tail.to_owned());
            }
            format!("({})", params.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}
