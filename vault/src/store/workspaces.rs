//! Workspaces: the tenant boundary. Every connection, API key and audit record belongs to one.

use super::{Store, StoreError, is_unique_violation, now_ms, rfc3339, stored_id};
pub use nexus_protocol::admin::Workspace;
use sqlx::Row;

impl Store {
    pub async fn create_workspace(
        &self,
        id: &str,
        name: Option<&str>,
    ) -> Result<Workspace, StoreError> {
        let now = now_ms();
        let result =
            sqlx::query("INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(name)
                .bind(now)
                .execute(&self.pool)
                .await;
        match result {
            Ok(_) => Ok(Workspace {
                id: stored_id(id.to_owned())?,
                name: name.map(str::to_owned),
                created_at: rfc3339(now),
            }),
            Err(e) if is_unique_violation(&e) => {
                Err(StoreError::Conflict(format!("workspace `{id}`")))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get_workspace(&self, id: &str) -> Result<Option<Workspace>, StoreError> {
        let row = sqlx::query("SELECT id, name, created_at FROM workspaces WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| workspace_from_row(&r)).transpose()
    }

    pub async fn list_workspaces(&self) -> Result<Vec<Workspace>, StoreError> {
        let rows = sqlx::query("SELECT id, name, created_at FROM workspaces ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(workspace_from_row).collect()
    }

    /// `NotFound` unless the workspace exists (admin routes call this first, for a clean 404).
    pub async fn require_workspace(&self, id: &str) -> Result<(), StoreError> {
        match self.get_workspace(id).await? {
            Some(_) => Ok(()),
            None => Err(StoreError::NotFound(format!("workspace `{id}`"))),
        }
    }
}

fn workspace_from_row(r: &sqlx::any::AnyRow) -> Result<Workspace, StoreError> {
    Ok(Workspace {
        id: stored_id(r.try_get("id")?)?,
        name: r.try_get("name")?,
        created_at: rfc3339(r.try_get("created_at")?),
    })
}
