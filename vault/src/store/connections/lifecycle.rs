//! Creating connection rows and moving their lifecycle status.

use super::{ConnectionRow, NewConnection, OWNER_MCP_USER, aad, scopes_json};
use crate::store::{Store, StoreError, now_ms};
use nexus_protocol::{ConnectionStatus, Credentials, SecretString};
use sqlx::AnyConnection;

impl Store {
    /// Insert a row and nothing else (no event): tests and seeding. The vault's services create
    /// connections through `ConnectionService::create_connection`, which emits
    /// `connection.created` with the insert.
    pub async fn insert_connection(
        &self,
        new: NewConnection<'_>,
    ) -> Result<ConnectionRow, StoreError> {
        let workspace_id = new.workspace_id;
        let mut conn = self.pool.acquire().await?;
        let id = self.insert_connection_in(&mut conn, new).await?;
        drop(conn);
        self.connection_in(workspace_id, &id).await
    }

    /// Insert inside the caller's transaction (so an event can be emitted with it); the new id.
    pub(crate) async fn insert_connection_in(
        &self,
        conn: &mut AnyConnection,
        new: NewConnection<'_>,
    ) -> Result<String, StoreError> {
        let workspace_id = new.workspace_id;
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        let seal = |column: &str, value: Option<&SecretString>| {
            value.map(|v| {
                self.sealer
                    .seal(v.expose(), &aad(workspace_id, &id, column))
            })
        };
        let tokens = new.tokens.cloned().unwrap_or_default();
        let credentials = match new.credentials {
            Some(c) => Some(SecretString::new(
                serde_json::to_string(c).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            )),
            None => None,
        };
        sqlx::query(
            "INSERT INTO connections (id, workspace_id, provider_name, user_id, status, scopes, access_token, \
             access_expires_at, refresh_token, credentials, token_type, version, last_refresh_at, created_at, updated_at, owner_kind) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, NULL, $12, $12, $13)",
        )
        .bind(&id)
        .bind(workspace_id)
        .bind(new.provider_name)
        .bind(new.user_id)
        .bind(new.status.as_str())
        .bind(scopes_json(new.scopes))
        .bind(seal("access_token", tokens.access_token.as_ref()))
        .bind(tokens.expires_at)
        .bind(seal("refresh_token", tokens.refresh_token.as_ref()))
        .bind(seal("credentials", credentials.as_ref()))
        .bind(tokens.token_type)
        .bind(now)
        .bind(new.bound_to_mcp_user.then_some(OWNER_MCP_USER))
        .execute(&mut *conn)
        .await?;
        Ok(id)
    }

    /// Set the status (and the operator-facing reason). Revocation also drops the secrets.
    pub async fn set_connection_status(
        &self,
        workspace_id: &str,
        id: &str,
        status: ConnectionStatus,
        last_error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await?;
        self.set_connection_status_in(&mut conn, workspace_id, id, status, last_error)
            .await
    }

    /// [`Store::set_connection_status`] inside the caller's transaction. A revoked connection
    /// has nothing left to refresh, so its health goes back to `ok`.
    pub(crate) async fn set_connection_status_in(
        &self,
        conn: &mut AnyConnection,
        workspace_id: &str,
        id: &str,
        status: ConnectionStatus,
        last_error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let sql = if status == ConnectionStatus::Revoked {
            "UPDATE connections SET status = $1, last_error = $2, updated_at = $3, access_token = NULL, \
             refresh_token = NULL, credentials = NULL, version = version + 1, health = 'ok', consecutive_failures = 0 \
             WHERE workspace_id = $4 AND id = $5"
        } else {
            "UPDATE connections SET status = $1, last_error = $2, updated_at = $3 WHERE workspace_id = $4 AND id = $5"
        };
        let done = sqlx::query(sql)
            .bind(status.as_str())
            .bind(last_error)
            .bind(now_ms())
            .bind(workspace_id)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Remove a connection that never became usable (its connect flow could not start).
    pub async fn delete_pending_connection(
        &self,
        workspace_id: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM connections WHERE workspace_id = $1 AND id = $2 AND status = 'pending'",
        )
        .bind(workspace_id)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Store static credentials on a connection (the capture form) and make it active, inside
    /// the caller's transaction (which emits the event that goes with it).
    pub(crate) async fn set_credentials(
        &self,
        conn: &mut AnyConnection,
        workspace_id: &str,
        id: &str,
        credentials: &Credentials,
    ) -> Result<(), StoreError> {
        let text =
            serde_json::to_string(credentials).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let sealed = self
            .sealer
            .seal(&text, &aad(workspace_id, id, "credentials"));
        let done = sqlx::query(
            "UPDATE connections SET credentials = $1, status = 'active', last_error = NULL, version = version + 1, updated_at = $2 \
             WHERE workspace_id = $3 AND id = $4",
        )
        .bind(sealed)
        .bind(now_ms())
        .bind(workspace_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("connection `{id}`")));
        }
        Ok(())
    }
}
