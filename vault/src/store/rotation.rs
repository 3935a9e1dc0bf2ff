//! Re-encryption of every sealed column under the active key (online key rotation).
//!
//! Rows are read in pages and rewritten one by one with a compare-and-set on the old
//! ciphertext, so a concurrent refresh that writes a new token in the meantime is never
//! overwritten (its value is already sealed under the active key, or will be on the next pass).

use super::{Store, StoreError, now_ms};
use crate::crypto::{Aad, sealed_key_id};
use sqlx::Row;

/// One sealed column. `select` returns `id`, `ws` (the workspace in the AAD, `NULL` for `-`),
/// `key_ws` (the row's `workspace_id` on a tenant table, else `NULL`) and `sealed`; `update`
/// takes the new value, the id and the old value, and for a tenant table the workspace as `$4`,
/// so each rewrite names its row by the key a sharded database routes by (the page scan itself
/// is background work over every workspace).
struct SealedColumn {
    table: &'static str,
    column: &'static str,
    select: &'static str,
    update: &'static str,
}

const PAGE: i64 = 500;

const COLUMNS: &[SealedColumn] = &[
    SealedColumn {
        table: "providers",
        column: "client_secret",
        select: "SELECT id, NULL AS ws, NULL AS key_ws, client_secret AS sealed FROM providers WHERE client_secret IS NOT NULL AND id > $1 ORDER BY id LIMIT $2",
        update: "UPDATE providers SET client_secret = $1 WHERE id = $2 AND client_secret = $3",
    },
    SealedColumn {
        table: "connections",
        column: "access_token",
        select: "SELECT id, workspace_id AS ws, workspace_id AS key_ws, access_token AS sealed FROM connections WHERE access_token IS NOT NULL AND id > $1 ORDER BY id LIMIT $2",
        update: "UPDATE connections SET access_token = $1 WHERE workspace_id = $4 AND id = $2 AND access_token = $3",
    },
    SealedColumn {
        table: "connections",
        column: "refresh_token",
        select: "SELECT id, workspace_id AS ws, workspace_id AS key_ws, refresh_token AS sealed FROM connections WHERE refresh_token IS NOT NULL AND id > $1 ORDER BY id LIMIT $2",
        update: "UPDATE connections SET refresh_token = $1 WHERE workspace_id = $4 AND id = $2 AND refresh_token = $3",
    },
    SealedColumn {
        table: "connections",
        column: "credentials",
        select: "SELECT id, workspace_id AS ws, workspace_id AS key_ws, credentials AS sealed FROM connections WHERE credentials IS NOT NULL AND id > $1 ORDER BY id LIMIT $2",
        update: "UPDATE connections SET credentials = $1 WHERE workspace_id = $4 AND id = $2 AND credentials = $3",
    },
    SealedColumn {
        table: "pending_authorizations",
        column: "code_verifier",
        select: "SELECT state_hash AS id, NULL AS ws, workspace_id AS key_ws, code_verifier AS sealed FROM pending_authorizations WHERE code_verifier IS NOT NULL AND state_hash > $1 ORDER BY state_hash LIMIT $2",
        update: "UPDATE pending_authorizations SET code_verifier = $1 WHERE workspace_id = $4 AND state_hash = $2 AND code_verifier = $3",
    },
    SealedColumn {
        table: "webhook_endpoints",
        column: "secret",
        select: "SELECT id, NULL AS ws, NULL AS key_ws, secret AS sealed FROM webhook_endpoints WHERE id > $1 ORDER BY id LIMIT $2",
        update: "UPDATE webhook_endpoints SET secret = $1 WHERE id = $2 AND secret = $3",
    },
    SealedColumn {
        table: "webhook_endpoints",
        column: "previous_secret",
        select: "SELECT id, NULL AS ws, NULL AS key_ws, previous_secret AS sealed FROM webhook_endpoints WHERE previous_secret IS NOT NULL AND id > $1 ORDER BY id LIMIT $2",
        update: "UPDATE webhook_endpoints SET previous_secret = $1 WHERE id = $2 AND previous_secret = $3",
    },
    SealedColumn {
        table: "identity_providers",
        column: "login_client_secret",
        select: "SELECT id, workspace_id AS ws, workspace_id AS key_ws, login_client_secret AS sealed FROM identity_providers WHERE login_client_secret IS NOT NULL AND id > $1 ORDER BY id LIMIT $2",
        update: "UPDATE identity_providers SET login_client_secret = $1 WHERE workspace_id = $4 AND id = $2 AND login_client_secret = $3",
    },
    SealedColumn {
        table: "idp_login_flows",
        column: "sealed",
        select: "SELECT state_hash AS id, NULL AS ws, workspace_id AS key_ws, sealed FROM idp_login_flows WHERE state_hash > $1 ORDER BY state_hash LIMIT $2",
        update: "UPDATE idp_login_flows SET sealed = $1 WHERE workspace_id = $4 AND state_hash = $2 AND sealed = $3",
    },
];

impl Store {
    /// Record key metadata (never the key) and mark `active_id` active.
    pub async fn record_active_key(&self, active_id: &str) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query("UPDATE encryption_keys SET retired_at = $1 WHERE retired_at IS NULL AND active_at IS NOT NULL AND id <> $2")
            .bind(now)
            .bind(active_id)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO encryption_keys (id, created_at, active_at) VALUES ($1, $2, $2) \
             ON CONFLICT (id) DO UPDATE SET active_at = COALESCE(encryption_keys.active_at, $2), retired_at = NULL",
        )
        .bind(active_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Re-seal every value not sealed under the active key. Returns how many were rewritten.
    pub async fn reencrypt_all(&self) -> Result<u64, StoreError> {
        let active = self.sealer.active_id();
        let mut total = 0;
        for col in COLUMNS {
            let mut after = String::new();
            loop {
                let rows = sqlx::query(col.select)
                    .bind(&after)
                    .bind(PAGE)
                    .fetch_all(&self.pool)
                    .await?;
                let Some(last) = rows.last() else { break };
                after = last.try_get("id")?;
                for row in &rows {
                    total += self.reseal_row(col, row, &active).await?;
                }
                if (rows.len() as i64) < PAGE {
                    break;
                }
            }
        }
        Ok(total)
    }

    async fn reseal_row(
        &self,
        col: &SealedColumn,
        row: &sqlx::any::AnyRow,
        active: &str,
    ) -> Result<u64, StoreError> {
        let id: String = row.try_get("id")?;
        let ws: Option<String> = row.try_get("ws")?;
        let key_ws: Option<String> = row.try_get("key_ws")?;
        let sealed: Vec<u8> = row.try_get("sealed")?;
        if sealed_key_id(&sealed)? == active {
            return Ok(0);
        }
        let aad = Aad {
            table: col.table,
            workspace: ws.as_deref().unwrap_or("-"),
            row: &id,
            column: col.column,
        };
        let plain = self.sealer.open(&sealed, &aad)?;
        let resealed = self.sealer.seal(&plain, &aad);
        let mut update = sqlx::query(col.update)
            .bind(resealed)
            .bind(&id)
            .bind(sealed);
        if let Some(ws) = key_ws {
            update = update.bind(ws);
        }
        let done = update.execute(&self.pool).await?;
        Ok(done.rows_affected())
    }
}
