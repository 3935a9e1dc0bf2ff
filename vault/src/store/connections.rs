//! Connection rows: one authorized link between a workspace (and optionally a user) and a
//! provider, holding the sealed tokens or static credentials.

use super::providers::{StoredProvider, provider_from_columns};
use super::{Backend, Store, StoreError, now_ms, rfc3339, stored_id};
use crate::crypto::Aad;
use nexus_protocol::webhooks::ConnectionHealth;
use nexus_protocol::{ConnectionStatus, Credentials, SecretString};
use sqlx::{AnyConnection, Row};

pub(crate) const COLUMNS: &str = "id, workspace_id, provider_name, user_id, status, scopes, access_token, access_expires_at, \
     refresh_token, credentials, token_type, version, last_refresh_at, last_error, created_at, updated_at, \
     health, consecutive_failures, last_error_code, last_error_at, last_keepalive_at, next_keepalive_at, owner_kind";

/// `connections.owner_kind` of a connection bound to one MCP user (migration 0029).
pub(crate) const OWNER_MCP_USER: &str = "mcp_user";

/// A connection row. Secret columns stay sealed here; open them with the `Store` methods.
#[derive(Clone)]
pub struct ConnectionRow {
    pub id: String,
    pub workspace_id: String,
    pub provider_name: String,
    pub user_id: Option<String>,
    pub status: ConnectionStatus,
    pub scopes: Vec<String>,
    pub access_expires_at: Option<i64>,
    pub token_type: Option<String>,
    /// Incremented by every token write: a refresher that sees a different version after taking
    /// the lock knows someone else refreshed meanwhile.
    pub version: i64,
    pub last_refresh_at: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Health of its refreshes (`connections::health`), beside the lifecycle `status`.
    pub health: ConnectionHealth,
    /// Transient refresh failures in a row (reset by a success).
    pub consecutive_failures: i64,
    /// The typed code of the last refresh failure (`RefreshErrorCode`) and when it happened.
    pub last_error_code: Option<String>,
    pub last_error_at: Option<i64>,
    /// When the keep-alive worker last refreshed it, and when it is next due (`None`: not
    /// scheduled; `providers::keep_alive`).
    pub last_keepalive_at: Option<i64>,
    pub next_keepalive_at: Option<i64>,
    /// Made through an MCP connect ticket: it belongs to the MCP user `user_id` and only that
    /// user's access token reaches its credential (`mcp_users`); workspace resolves skip it.
    pub bound_to_mcp_user: bool,
    sealed_access: Option<Vec<u8>>,
    sealed_refresh: Option<Vec<u8>>,
    sealed_credentials: Option<Vec<u8>>,
}

impl ConnectionRow {
    pub fn has_refresh_token(&self) -> bool {
        self.sealed_refresh.is_some()
    }

    /// What the admin API shows about this connection: status and times, never a secret.
    pub fn info(&self) -> Result<ConnectionInfo, StoreError> {
        Ok(ConnectionInfo {
            id: self.id.clone(),
            workspace_id: stored_id(self.workspace_id.clone())?,
            provider_name: stored_id(self.provider_name.clone())?,
            user_id: self.user_id.clone(),
            status: self.status,
            scopes: self.scopes.clone(),
            access_expires_at: self.access_expires_at.map(rfc3339),
            has_refresh_token: self.sealed_refresh.is_some(),
            last_refresh_at: self.last_refresh_at.map(rfc3339),
            last_error: self.last_error.clone(),
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
        })
    }
}

pub use nexus_protocol::admin::ConnectionInfo;

/// Tokens from a provider's token endpoint (or imported).
#[derive(Debug, Clone, Default)]
pub struct TokenSet {
    pub access_token: Option<SecretString>,
    /// `None` keeps the stored refresh token (providers that do not rotate omit it).
    pub refresh_token: Option<SecretString>,
    /// Unix milliseconds.
    pub expires_at: Option<i64>,
    pub token_type: Option<String>,
    /// Scopes granted, when the provider says.
    pub scopes: Option<Vec<String>>,
}

/// A connection to create.
pub struct NewConnection<'a> {
    pub workspace_id: &'a str,
    pub provider_name: &'a str,
    pub user_id: Option<&'a str>,
    pub status: ConnectionStatus,
    pub scopes: &'a [String],
    pub tokens: Option<&'a TokenSet>,
    pub credentials: Option<&'a Credentials>,
    /// Bind it to the MCP user `user_id` (the connect-ticket flow): see
    /// [`ConnectionRow::bound_to_mcp_user`].
    pub bound_to_mcp_user: bool,
}

fn aad<'a>(ws: &'a str, id: &'a str, column: &'a str) -> Aad<'a> {
    Aad {
        table: "connections",
        workspace: ws,
        row: id,
        column,
    }
}

impl Store {
    /// Insert a row and nothing else (no event): tests and seeding. The vault's services create
    /// connections through `ConnectionService::create_connection`, which emits
    /// `connection.created` with the insert.
    pub async fn insert_connection(
        &self,
        new: NewConnection<'_>,
    ) -> Result<ConnectionRow, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let id = self.insert_connection_in(&mut conn, new).await?;
        drop(conn);
        self.get_connection_by_id(&id).await
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

    /// A connection by id alone (ids are unique across workspaces).
    pub(crate) async fn get_connection_by_id(&self, id: &str) -> Result<ConnectionRow, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM connections WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| connection_from_row(&r))
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(format!("connection `{id}`")))
    }

    pub async fn get_connection(
        &self,
        workspace_id: &str,
        id: &str,
    ) -> Result<Option<ConnectionRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM connections WHERE workspace_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| connection_from_row(&r)).transpose()
    }

    /// The connection a resolve of `(workspace, provider)` uses: the most recently updated
    /// active one, else the most recent of any status (so the caller learns why it is unusable).
    /// Connections bound to an MCP user are not the workspace's to resolve and never chosen.
    /// Its provider comes with it (one round trip instead of two on every resolve; `None` when
    /// the provider row is gone). `providers` is a global table, not a tenant one, so this join
    /// stays local on a sharded database too (a reference table there).
    pub async fn find_connection_for(
        &self,
        workspace_id: &str,
        provider_name: &str,
    ) -> Result<Option<(ConnectionRow, Option<StoredProvider>)>, StoreError> {
        let columns = format!("c.{}", COLUMNS.replace(", ", ", c."));
        let sql = format!(
            "SELECT {columns}, p.id AS p_id, p.spec AS p_spec, p.client_secret IS NOT NULL AS p_has_secret, \
             p.created_at AS p_created_at, p.updated_at AS p_updated_at \
             FROM connections c LEFT JOIN providers p ON p.name = c.provider_name \
             WHERE c.workspace_id = $1 AND c.provider_name = $2 AND c.status <> 'revoked' \
             AND c.owner_kind IS NULL \
             ORDER BY CASE WHEN c.status = 'active' THEN 0 ELSE 1 END, c.updated_at DESC, c.id LIMIT 1"
        );
        let Some(r) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(provider_name)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let provider = match r.try_get::<Option<String>, _>("p_id")? {
            Some(_) => Some(provider_from_columns(&r, "p_")?),
            None => None,
        };
        Ok(Some((connection_from_row(&r)?, provider)))
    }

    /// A workspace's connections in keyset order `(created_at, id)`: those after `after`
    /// (the key of the last row already seen), at most `limit` (all when `None`). A row
    /// inserted during a walk sorts after every row that existed before it started (its
    /// `created_at` is later or equal, then its id decides), so a walk sees each of those once.
    pub async fn list_connections(
        &self,
        workspace_id: &str,
        after: Option<(i64, &str)>,
        limit: Option<i64>,
    ) -> Result<Vec<ConnectionRow>, StoreError> {
        // Row-value comparison: served by the index `connections_workspace_created` on both
        // databases (migration 0008).
        let sql = format!(
            "SELECT {COLUMNS} FROM connections WHERE workspace_id = $1 \
             AND ($2 IS NULL OR (created_at, id) > ($2, $3)) ORDER BY created_at, id LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(after.map(|(at, _)| at))
            .bind(after.map(|(_, id)| id))
            .bind(limit.unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(connection_from_row).collect()
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
             version = version + 1, last_refresh_at = $6, updated_at = $6, next_keepalive_at = NULL WHERE id = $7",
        )
        .bind(access)
        .bind(tokens.expires_at)
        .bind(refresh)
        .bind(tokens.token_type.clone())
        .bind(scopes)
        .bind(now)
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
             WHERE id = $3",
        )
        .bind(sealed)
        .bind(now_ms())
        .bind(&row.id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Mark `needs_reauth` inside the refresh transaction (the provider rejected the grant).
    pub(crate) async fn mark_needs_reauth(
        &self,
        conn: &mut AnyConnection,
        id: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE connections SET status = 'needs_reauth', last_error = $1, updated_at = $2, version = version + 1 WHERE id = $3")
            .bind(reason)
            .bind(now_ms())
            .bind(id)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    pub fn open_access_token(
        &self,
        row: &ConnectionRow,
    ) -> Result<Option<SecretString>, StoreError> {
        self.open_column(row, "access_token", row.sealed_access.as_deref())
    }

    pub fn open_refresh_token(
        &self,
        row: &ConnectionRow,
    ) -> Result<Option<SecretString>, StoreError> {
        self.open_column(row, "refresh_token", row.sealed_refresh.as_deref())
    }

    pub fn open_credentials(&self, row: &ConnectionRow) -> Result<Option<Credentials>, StoreError> {
        let Some(text) = self.open_column(row, "credentials", row.sealed_credentials.as_deref())?
        else {
            return Ok(None);
        };
        serde_json::from_str(text.expose())
            .map(Some)
            .map_err(|_| StoreError::Corrupt("connection credentials".into()))
    }

    fn open_column(
        &self,
        row: &ConnectionRow,
        column: &str,
        sealed: Option<&[u8]>,
    ) -> Result<Option<SecretString>, StoreError> {
        match sealed {
            Some(bytes) => Ok(Some(SecretString::new(
                self.sealer
                    .open(bytes, &aad(&row.workspace_id, &row.id, column))?,
            ))),
            None => Ok(None),
        }
    }
}

fn scopes_json(scopes: &[String]) -> String {
    serde_json::to_string(scopes).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn connection_from_row(r: &sqlx::any::AnyRow) -> Result<ConnectionRow, StoreError> {
    let status: String = r.try_get("status")?;
    let scopes: String = r.try_get("scopes")?;
    let health: String = r.try_get("health")?;
    Ok(ConnectionRow {
        health: ConnectionHealth::parse(&health)
            .ok_or_else(|| StoreError::Corrupt(format!("connection health `{health}`")))?,
        consecutive_failures: r.try_get("consecutive_failures")?,
        last_error_code: r.try_get("last_error_code")?,
        last_error_at: r.try_get("last_error_at")?,
        last_keepalive_at: r.try_get("last_keepalive_at")?,
        next_keepalive_at: r.try_get("next_keepalive_at")?,
        id: r.try_get("id")?,
        workspace_id: r.try_get("workspace_id")?,
        provider_name: r.try_get("provider_name")?,
        user_id: r.try_get("user_id")?,
        status: ConnectionStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("connection status `{status}`")))?,
        scopes: serde_json::from_str(&scopes).unwrap_or_default(),
        access_expires_at: r.try_get("access_expires_at")?,
        token_type: r.try_get("token_type")?,
        version: r.try_get("version")?,
        last_refresh_at: r.try_get("last_refresh_at")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        bound_to_mcp_user: r.try_get::<Option<String>, _>("owner_kind")?.as_deref()
            == Some(OWNER_MCP_USER),
        sealed_access: r.try_get("access_token")?,
        sealed_refresh: r.try_get("refresh_token")?,
        sealed_credentials: r.try_get("credentials")?,
    })
}

impl Store {
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

impl Store {
    /// The connections of one end user (`None`: the workspace's own, without a user) in a
    /// workspace, the most useful first per provider: active, then needing repair, then the rest,
    /// newest first within each. Connections bound to an MCP user are not among them: a connect
    /// page is a link the workspace key makes for a user id of its choosing (one naming an MCP
    /// user's subject must not reach that user's connection).
    pub async fn connections_of_user(
        &self,
        workspace_id: &str,
        user_id: Option<&str>,
    ) -> Result<Vec<ConnectionRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM connections WHERE workspace_id = $1 \
             AND ((user_id IS NULL AND $2 IS NULL) OR user_id = $2) AND owner_kind IS NULL \
             ORDER BY provider_name, CASE status WHEN 'active' THEN 0 WHEN 'needs_reauth' THEN 1 \
             WHEN 'failed' THEN 2 WHEN 'pending' THEN 3 ELSE 4 END, updated_at DESC, id LIMIT 1000"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(connection_from_row).collect()
    }
}
