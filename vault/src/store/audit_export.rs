//! Reading the audit log in id order, one page at a time (keyset pagination), for the
//! JSON-lines export: memory stays at one page whatever the size of the table.

use super::audit::{AuditRecord, audit_record};
use super::{Store, StoreError};

impl Store {
    /// Up to `limit` records with an id above `after_id`, oldest first, of one workspace or all.
    pub async fn audit_page(
        &self,
        workspace_id: Option<&str>,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, workspace_id, action, target, principal, outcome, request_id, client_request_id, detail, hash, agent_id, session_id, user_subject FROM audit_events \
             WHERE id > $1 AND ($2 IS NULL OR workspace_id = $2) ORDER BY id LIMIT $3",
        )
        .bind(after_id)
        .bind(workspace_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_record).collect()
    }
}
