//! The audit log: every control-plane change and every token issued.
//!
//! Each record carries `hash = SHA-256(prev_hash || canonical record)`. The chain is best-effort
//! today (concurrent writers may fork it); a later issue makes it strict.

use super::{Store, StoreError, now_ms, rfc3339};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

/// One event to record. `principal` is a non-secret label (`admin`, `api_key:<id>`).
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    pub workspace_id: Option<&'a str>,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub principal: &'a str,
    pub outcome: &'a str,
    pub request_id: Option<&'a str>,
    pub detail: Option<&'a str>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    pub id: i64,
    pub at: String,
    pub workspace_id: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub principal: String,
    pub outcome: String,
    pub request_id: Option<String>,
    pub detail: Option<String>,
    pub hash: Option<String>,
}

/// Filter of `GET /admin/v1/audit`. Times are unix milliseconds.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub workspace_id: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: i64,
}

impl Store {
    /// Record an event. Failures are logged, not returned: an audit write must not turn a
    /// completed operation into an error for the caller (the operation already happened).
    pub async fn audit(&self, e: AuditEvent<'_>) {
        if let Err(err) = self.try_audit(&e).await {
            tracing::error!(error = %err, action = e.action, "could not write audit record");
        }
    }

    async fn try_audit(&self, e: &AuditEvent<'_>) -> Result<(), StoreError> {
        let at = now_ms();
        let prev: Option<String> =
            sqlx::query("SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?
                .map(|r| r.try_get("hash"))
                .transpose()?
                .flatten();
        let canonical = serde_json::json!([
            at,
            e.workspace_id,
            e.action,
            e.target,
            e.principal,
            e.outcome,
            e.request_id,
            e.detail
        ]);
        let mut h = Sha256::new();
        h.update(prev.as_deref().unwrap_or("").as_bytes());
        h.update(canonical.to_string().as_bytes());
        let hash = hex::encode(h.finalize());
        sqlx::query(
            "INSERT INTO audit_events (at, workspace_id, action, target, principal, outcome, request_id, detail, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(at)
        .bind(e.workspace_id)
        .bind(e.action)
        .bind(e.target)
        .bind(e.principal)
        .bind(e.outcome)
        .bind(e.request_id)
        .bind(e.detail)
        .bind(prev)
        .bind(hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn query_audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        // NULL filters are skipped by the `$n IS NULL OR …` form, so one statement serves all.
        let rows = sqlx::query(
            "SELECT id, at, workspace_id, action, target, principal, outcome, request_id, detail, hash FROM audit_events \
             WHERE ($1 IS NULL OR workspace_id = $1) AND ($2 IS NULL OR at >= $2) AND ($3 IS NULL OR at <= $3) \
             ORDER BY id DESC LIMIT $4",
        )
        .bind(q.workspace_id.clone())
        .bind(q.since)
        .bind(q.until)
        .bind(q.limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditRecord {
                    id: r.try_get("id")?,
                    at: rfc3339(r.try_get("at")?),
                    workspace_id: r.try_get("workspace_id")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    principal: r.try_get("principal")?,
                    outcome: r.try_get("outcome")?,
                    request_id: r.try_get("request_id")?,
                    detail: r.try_get("detail")?,
                    hash: r.try_get("hash")?,
                })
            })
            .collect()
    }
}
