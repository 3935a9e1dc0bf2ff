//! The audit log: every control-plane change and every token issued.
//!
//! Each record carries `hash = SHA-256(prev_hash || canonical record)`, chained per workspace
//! and appended under a lock (see [`super::audit_chain`]).

use super::audit_chain::AuditIdentity;
use super::{Store, StoreError, rfc3339};
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

pub use nexus_protocol::admin::AuditRecord;

/// Filter of `GET /admin/v1/audit`. Times are unix milliseconds.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub workspace_id: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub agent_id: Option<String>,
    pub user: Option<String>,
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
        self.append_audit(e, &AuditIdentity::default()).await
    }

    /// Record an event with the agent, session and acting-for user it concerns (identity
    /// events). Like [`Store::audit`], a failure is logged, not returned.
    pub async fn audit_as(&self, e: AuditEvent<'_>, identity: AuditIdentity<'_>) {
        if let Err(err) = self.append_audit(&e, &identity).await {
            tracing::error!(error = %err, action = e.action, "could not write audit record");
        }
    }

    pub async fn query_audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        // NULL filters are skipped by the `$n IS NULL OR …` form, so one statement serves all.
        let rows = sqlx::query(
            "SELECT id, at, workspace_id, action, target, principal, outcome, request_id, detail, hash, agent_id, session_id, user_subject FROM audit_events \
             WHERE ($1 IS NULL OR workspace_id = $1) AND ($2 IS NULL OR at >= $2) AND ($3 IS NULL OR at <= $3) \
             AND ($5 IS NULL OR agent_id = $5) AND ($6 IS NULL OR user_subject = $6) \
             ORDER BY id DESC LIMIT $4",
        )
        .bind(q.workspace_id.clone())
        .bind(q.since)
        .bind(q.until)
        .bind(q.limit)
        .bind(q.agent_id.clone())
        .bind(q.user.clone())
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
                    agent_id: r.try_get("agent_id")?,
                    session_id: r.try_get("session_id")?,
                    user: r.try_get("user_subject")?,
                })
            })
            .collect()
    }
}
