//! OAuth clients of the authorization server: cached Client ID Metadata Documents (`cimd`),
//! dynamically registered clients (`dcr`) and pre-registered ones. A client secret is stored
//! only as its SHA-256.

use super::mcp_resources::{json_list, list_from};
use super::{Store, StoreError, now_ms};
use sqlx::Row;

#[derive(Debug, Clone)]
pub struct ClientRow {
    pub client_id: String,
    /// `cimd`, `dcr` or `preregistered`.
    pub kind: String,
    /// The validated metadata as JSON text (what the consent page shows comes from here).
    pub metadata: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub token_endpoint_auth_method: String,
    pub client_secret_hash: Option<String>,
    /// A Nexus agent the client acts for: its tokens carry `act`.
    pub agent_id: Option<String>,
    pub workspace_id: Option<String>,
    /// CIMD only: refetch after this (ms).
    pub cache_expires_at: Option<i64>,
    /// CIMD only: the reason code of a failed fetch (negative cache entry).
    pub fetch_error: Option<String>,
}

const COLUMNS: &str = "client_id, kind, metadata, redirect_uris, grant_types, token_endpoint_auth_method, \
     client_secret_hash, agent_id, workspace_id, cache_expires_at, fetch_error";

fn client_from(r: &sqlx::any::AnyRow) -> Result<ClientRow, StoreError> {
    Ok(ClientRow {
        client_id: r.try_get("client_id")?,
        kind: r.try_get("kind")?,
        metadata: r.try_get("metadata")?,
        redirect_uris: list_from(&r.try_get::<String, _>("redirect_uris")?, "redirect_uris")?,
        grant_types: list_from(&r.try_get::<String, _>("grant_types")?, "grant_types")?,
        token_endpoint_auth_method: r.try_get("token_endpoint_auth_method")?,
        client_secret_hash: r.try_get("client_secret_hash")?,
        agent_id: r.try_get("agent_id")?,
        workspace_id: r.try_get("workspace_id")?,
        cache_expires_at: r.try_get("cache_expires_at")?,
        fetch_error: r.try_get("fetch_error")?,
    })
}

impl ClientRow {
    /// The agent the client acts for in workspace `ws`: a binding made in one workspace
    /// never puts `act` on tokens for another workspace's resources.
    pub fn agent_for(&self, ws: &str) -> Option<String> {
        self.agent_id
            .clone()
            .filter(|_| self.workspace_id.as_deref() == Some(ws))
    }
}

impl Store {
    /// Bind (`Some`) or unbind (`None`) the agent a client acts for; `false` when there is
    /// no such client, or (unbinding) it is not bound in `ws`.
    pub async fn set_oauth_client_agent(
        &self,
        client_id: &str,
        ws: &str,
        agent_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        let done =
            match agent_id {
                Some(agent) => sqlx::query(
                    "UPDATE oauth_clients SET agent_id = $1, workspace_id = $2, updated_at = $3 \
                     WHERE client_id = $4 AND fetch_error IS NULL",
                )
                .bind(agent)
                .bind(ws)
                .bind(now_ms())
                .bind(client_id)
                .execute(&self.pool)
                .await?,
                None => {
                    sqlx::query(
                        "UPDATE oauth_clients SET agent_id = NULL, updated_at = $1 \
                     WHERE client_id = $2 AND workspace_id = $3 AND agent_id IS NOT NULL",
                    )
                    .bind(now_ms())
                    .bind(client_id)
                    .bind(ws)
                    .execute(&self.pool)
                    .await?
                }
            };
        Ok(done.rows_affected() == 1)
    }

    pub async fn oauth_client(&self, client_id: &str) -> Result<Option<ClientRow>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM oauth_clients WHERE client_id = $1"
        )))
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(client_from).transpose()
    }

    /// Insert a client, or replace a cached document's row (a refetch). Rows of other kinds
    /// are never overwritten: a registered `client_id` cannot be taken over by a document.
    pub async fn upsert_oauth_client(&self, c: &ClientRow) -> Result<(), StoreError> {
        let now = now_ms();
        let done = sqlx::query(
            "INSERT INTO oauth_clients (client_id, kind, metadata, redirect_uris, grant_types, token_endpoint_auth_method, \
             client_secret_hash, agent_id, workspace_id, cache_expires_at, fetch_error, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
             ON CONFLICT (client_id) DO UPDATE SET metadata = excluded.metadata, redirect_uris = excluded.redirect_uris, \
             grant_types = excluded.grant_types, token_endpoint_auth_method = excluded.token_endpoint_auth_method, \
             cache_expires_at = excluded.cache_expires_at, fetch_error = excluded.fetch_error, updated_at = excluded.updated_at \
             WHERE oauth_clients.kind = 'cimd' AND excluded.kind = 'cimd'",
        )
        .bind(&c.client_id)
        .bind(&c.kind)
        .bind(&c.metadata)
        .bind(json_list(&c.redirect_uris))
        .bind(json_list(&c.grant_types))
        .bind(&c.token_endpoint_auth_method)
        .bind(&c.client_secret_hash)
        .bind(&c.agent_id)
        .bind(&c.workspace_id)
        .bind(c.cache_expires_at)
        .bind(&c.fetch_error)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("client {}", c.client_id)));
        }
        Ok(())
    }
}
