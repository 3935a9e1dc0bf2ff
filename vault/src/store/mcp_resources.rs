//! MCP resources: the remote MCP servers of a workspace that the authorization server mints
//! tokens for. A `resource_uri` names one workspace across all of them (one issuer serves them
//! all, and the resource names the workspace). That global rule lives in `mcp_resource_uris`
//! (migrations 0046–0047), written in the same transaction as every insert and delete of a
//! resource, so `mcp_resources` itself is unique only per workspace and can be distributed by
//! `workspace_id` (docs/operators/scaling.md).

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
    /// Register a resource. `Conflict` when its URI is already registered (in any workspace);
    /// then nothing is written.
    pub async fn insert_mcp_resource(&self, row: &ResourceRow) -> Result<(), StoreError> {
        let conflict = |e: sqlx::Error| {
            if is_unique_violation(&e) {
                StoreError::Conflict(format!("MCP resource {}", row.resource_uri))
            } else {
                e.into()
            }
        };
        // The map first: a second workspace's claim on a URI fails on its key before any tenant
        // row exists. A deferred SQLite transaction is enough, its first statement writes.
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO mcp_resource_uris (resource_uri, workspace_id, resource_id) VALUES ($1, $2, $3)",
        )
        .bind(&row.resource_uri)
        .bind(&row.workspace_id)
        .bind(&row.id)
        .execute(&mut *tx)
        .await
        .map_err(conflict)?;
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
        .execute(&mut *tx)
        .await
        .map_err(conflict)?;
        tx.commit().await?;
        Ok(())
    }

    /// Delete a resource of `ws` (its grants go with it) and free its URI, in one transaction;
    /// `NotFound` when it is not one of `ws`.
    pub async fn delete_mcp_resource(&self, ws: &str, id: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let uri: Option<String> = sqlx::query_scalar(
            "DELETE FROM mcp_resources WHERE workspace_id = $1 AND id = $2 RETURNING resource_uri",
        )
        .bind(ws)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(uri) = uri else {
            return Err(StoreError::NotFound(format!("MCP resource {id}")));
        };
        sqlx::query(
            "DELETE FROM mcp_resource_uris WHERE resource_uri = $1 AND workspace_id = $2 AND resource_id = $3",
        )
        .bind(&uri)
        .bind(ws)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
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

    /// The resource registered under `uri` (already in normal form), in whichever workspace:
    /// the map names the workspace, then the resource is read from that workspace's rows (two
    /// single-shard reads on a sharded database instead of one that fans out).
    pub async fn mcp_resource_by_uri(&self, uri: &str) -> Result<Option<ResourceRow>, StoreError> {
        let workspace: Option<String> = sqlx::query_scalar(
            "SELECT workspace_id FROM mcp_resource_uris WHERE resource_uri = $1",
        )
        .bind(uri)
        .fetch_optional(&self.pool)
        .await?;
        match workspace {
            Some(ws) => self.mcp_resource_by_uri_in(&ws, uri).await,
            None => Ok(None),
        }
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
