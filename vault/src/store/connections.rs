//! Connection rows: one authorized link between a workspace (and optionally a user) and a
//! provider, holding the sealed tokens or static credentials.

//!
//! The SQL is split by what it serves: [`lifecycle`] creates rows and moves their status,
//! [`lookup`] reads them, [`refresh`] is the token write-back under the refresh lock. Every
//! statement names its row by `(workspace_id, id)`, the key a sharded database routes by.

mod lifecycle;
pub(super) mod lookup;
pub(crate) mod pg_lookup;
mod refresh;

use super::{Store, StoreError, rfc3339, stored_id};
use crate::crypto::Aad;
use nexus_protocol::webhooks::ConnectionHealth;
use nexus_protocol::{ConnectionStatus, Credentials, SecretString};
use sqlx::Row;

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

/// A connection's key, `(workspace_id, id)`: what a background scan (keep-alive) carries to
/// the row's own statements, so each of those stays on the row's shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnectionKey {
    pub workspace_id: String,
    pub id: String,
}

pub(crate) fn key_from(r: &sqlx::any::AnyRow) -> Result<ConnectionKey, StoreError> {
    Ok(ConnectionKey {
        workspace_id: r.try_get("workspace_id")?,
        id: r.try_get("id")?,
    })
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

/// One row's columns → [`ConnectionRow`], for any row type that decodes them: the `Any`
/// driver's rows everywhere, and the typed PostgreSQL rows of the resolve lookup
/// ([`pg_lookup`]), so the decoding exists once.
pub(crate) fn connection_from_row<R>(r: &R) -> Result<ConnectionRow, StoreError>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
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
