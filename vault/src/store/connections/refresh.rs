//! The refresh path's writes: the row locked for a refresh, then the new tokens, a rotated
//! refresh token or a rejected grant written back inside that same transaction.

use super::{COLUMNS, ConnectionRow, TokenSet, aad, connection_from_row, scopes_json};
use crate::store::{Backend, Store, StoreError, now_ms};
use nexus_protocol::SecretString;
use sqlx::AnyConnection;

impl Store {
    /// Read the row while holding the refresh lock (inside a `begin_locking` transaction).
    pub(crate) async fn lock_connection(
        &self,
        conn: &mut AnyConnection,
        workspace_id: &str,
        id: &str,
    ) -> Result<Option<ConnectionRow>, StoreError> {
        let sql = match self.backend {
            Backend::Postgres => format!(
                "SELECT {COLUMNS} FROM connections WHERE workspace_id = $1 AND id = $2 FOR UPDATE"
            ),
            // The transaction already holds SQLite's write lock (BEGIN IMMEDIATE).
            Backend::Sqlite => {
                format!("SELECT {COLUMNS} FROM connections WHERE workspace_id = $1 AND id = $2")
            }
        };
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        row.map(|r| connection_from_row(&r)).transpose()
    }

    /// Write new tokens, mark the connection active and bump its version. A `None` refresh token
    /// keeps the stored one.
    pub(crate) async fn write_tokens(
        &self,
        conn: &mut AnyConnection,
        row: &ConnectionRow,
        tokens: &TokenSet,
    ) -> Result<(), StoreError> {
        let seal = |column: &str, v: &SecretString| {
            self.sealer
                .seal(v.expose(), &aad(&row.workspace_id, &row.id, column))
        };
        let access = tokens
            .access_token
            .as_ref()
            .map(|t| seal("access_token", t));
        let refresh = tokens
            .refresh_token
            .as_ref()
            .map(|t| seal("refresh_token", t));
        let scopes = tokens.scopes.as_deref().map(scopes_json);
        let now = now_ms();
        sqlx::query(
            "UPDATE connections SET access_token = $1, access_expires_at = $2, refresh_token = COALESCE($3, refresh_token), \
             token_type = COALESCE($4, token_type), scopes = COALESCE($5, scopes), status = 'active', last_error = NULL, \
             version = version + 1, last_refresh_at = $6, updated_at = $6, next_keepalive_at = NULL \
             WHERE workspace_id = $7 AND id = $8",
        )
        .bind(access)
        .bind(tokens.expires_at)
        .bind(refresh)
        .bind(tokens.token_type.clone())
        .bind(scopes)
        .bind(now)
        .bind(&row.workspace_id)
        .bind(&row.id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Store the refresh token a provider rotated while minting a narrowed token (inside the
    /// refresh lock). The connection's own access token is left as it is.
    pub(crate) async fn write_rotated_refresh_token(
        &self,
        conn: &mut AnyConnection,
        row: &ConnectionRow,
        refresh_token: &SecretString,
    ) -> Result<(), StoreError> {
        let sealed = self.sealer.seal(
            refresh_token.expose(),
            &aad(&row.workspace_id, &row.id, "refresh_token"),
        );
        sqlx::query(
            "UPDATE connections SET refresh_token = $1, version = version + 1, updated_at = $2, next_keepalive_at = NULL \
             WHERE workspace_id = $3 AND id = $4",
        )
        .bind(sealed)
        .bind(now_ms())
        .bind(&row.workspace_id)
        .bind(&row.id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Mark `needs_reauth` inside the refresh transaction (the provider rejected the grant).
    pub(crate) async fn mark_needs_reauth(
        &self,
        conn: &mut AnyConnection,
        workspace_id: &str,
        id: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE connections SET status = 'needs_reauth', last_error = $1, updated_at = $2, version = version + 1 \
             WHERE workspace_id = $3 AND id = $4",
        )
            .bind(reason)
            .bind(now_ms())
            .bind(workspace_id)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}
