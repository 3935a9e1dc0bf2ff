//! MCP resources: the remote MCP servers of a workspace that the authorization server mints
//! tokens for. `resource_uri` is unique across workspaces (one issuer serves them all, and the
//! resource names the workspace).

use super::{Store, StoreError, is_unique_violation, now_ms, rfc3339};
use nexus_protocol::oauth::McpResource;
use sqlx::Row;

/// A resource row. `disabled_at` set ⇒ no new authorization for it.
#[derive(Debug, Clone)]
pub struct ResourceRow {
    pub id: String,
    pub workspace_id: String,
    pub resource_uri: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub default_scopes: Vec<String>,
    pub access_token_ttl_seconds: u64,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

impl ResourceRow {
    pub fn to_wire(&self) -> McpResource {
        McpResource {
            id: self.id.clone(),
            workspace_id: self.workspace_id.clone(),
            resource_uri: self.resource_uri.clone(),
            name: self.name.clone(),
            scopes: self.scopes.clone(),
            default_scopes: self.default_scopes.clone(),
            access_token_ttl_seconds: self.access_token_ttl_seconds,
            created_at: rfc3339(self.created_at),
            disabled_at: self.disabled_at.map(rfc3339),
        }
    }
}

pub(crate) fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn list_from(text: &str, column: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt(format!("{column} column")))
}

const COLUMNS: &str = "id, workspace_id, resource_uri, name, scopes, default_scopes, \
     access_token_ttl_seconds, created_at, disabled_at";

fn resource_from(r: &sqlx::any::AnyRow) -> Result<ResourceRow, StoreError> {
    let ttl: i64 = r.try_get("access_token_ttl_seconds")?;
    Ok(ResourceRow {
        id: r.try_get("id")?,
        workspace_id: r.try_get("workspace_id")?,
        resource_uri: r.try_get("resource_uri")?,
        name: r.try_get("name")?,
        scopes: list_from(&r.try_get::<String, _>("scopes")?, "scopes")?,
        default_scopes: list_from(&r.try_get::<String, _>("default_scopes")?, "default_scopes")?,
        access_token_ttl_seconds: u64::try_from(ttl).unwrap_or_default(),
        created_at: r.try_get("created_at")?,
        disabled_at: r.try_get("disabled_at")?,
    })
}

impl Store {
    pub async fn insert_mcp_resource(&self, row: &ResourceRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO mcp_resources (id, workspace_id, resource_uri, name, scopes, default_scopes, \
             access_token_ttl_seconds, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&row.id)
        .bind(&row.workspace_id)
        .bind(&row.resource_uri)
        .bind(&row.name)
        .bind(json_list(&row.scopes))
        .bind(json_list(&row.default_scopes))
        .bind(i64::try_from(row.access_token_ttl_seconds).unwrap_or(i64::MAX))
        .bind(row.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(format!("MCP resource {}", row.resource_uri))
            } else {
                e.into()
            }
        })?;
        Ok(())
    }

    pub async fn list_mcp_resources(&self, ws: &str) -> Result<Vec<ResourceRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM mcp_resources WHERE workspace_id = $1 ORDER BY created_at, id"
        )))
        .bind(ws)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(resource_from).collect()
    }

    /// The resource registered under `uri` (already in normal form).
    pub async fn mcp_resource_by_uri(&self, uri: &str) -> Result<Option<ResourceRow>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM mcp_resources WHERE resource_uri = $1"
        )))
        .bind(uri)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(resource_from).transpose()
    }

    /// The resource registered under `uri` in `workspace_id`: for callers that know the
    /// workspace (an access token's signed claims), so the lookup stays on one shard.
    pub async fn mcp_resource_by_uri_in(
        &self,
        workspace_id: &str,
        uri: &str,
    ) -> Result<Option<ResourceRow>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM mcp_resources WHERE workspace_id = $1 AND resource_uri = $2"
        )))
        .bind(workspace_id)
        .bind(uri)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(resource_from).transpose()
    }

    pub async fn mcp_resource(&self, id: &str) -> Result<Option<ResourceRow>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM mcp_resources WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(resource_from).transpose()
    }

    /// Disable a resource of `ws` (idempotent); `NotFound` when it is not one of `ws`.
    pub async fn disable_mcp_resource(&self, ws: &str, id: &str) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE mcp_resources SET disabled_at = COALESCE(disabled_at, $1) WHERE workspace_id = $2 AND id = $3",
        )
        .bind(now_ms())
        .bind(ws)
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("MCP resource {id}")));
        }
        Ok(())
    }
}
