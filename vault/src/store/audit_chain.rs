//! The audit hash chain: strict, one chain per workspace.
//!
//! Every record carries `hash = SHA-256(prev_hash || canonical record)`, where `prev_hash` is the
//! hash of the previous record *of the same chain* (`ws:<workspace id>`, or `-` for records
//! without a workspace). Appends lock the chain's head row (`audit_chain_heads`), so concurrent
//! writers — in one process or many — never fork a chain. [`Store::verify_audit_chain`] walks a
//! chain and reports the first record whose content, link or position does not hold: an edited
//! field changes the hash, a deleted record breaks the next record's link, and a deleted newest
//! record no longer matches the head.
//!
//! Records written before the chain existed (`chain IS NULL`) are not part of any chain.

use super::audit::AuditEvent;
use super::{Backend, Store, StoreError, now_ms};
use sha2::{Digest, Sha256};
use sqlx::Row;

/// Rows read per query while verifying.
const VERIFY_PAGE: i64 = 1000;

/// Who acted and for whom, beyond the principal label: the identity columns of a record.
#[derive(Debug, Clone, Default)]
pub struct AuditIdentity<'a> {
    pub agent_id: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub user_subject: Option<&'a str>,
}

pub use nexus_protocol::admin::ChainVerdict;

/// The chain a record of this workspace belongs to.
pub fn chain_of(workspace_id: Option<&str>) -> String {
    match workspace_id {
        Some(ws) => format!("ws:{ws}"),
        None => "-".to_owned(),
    }
}

/// The bytes a record's hash covers (everything but its id and its own hash).
#[allow(clippy::too_many_arguments)]
fn record_hash(
    prev_hash: &str,
    at: i64,
    e: &AuditEvent<'_>,
    identity: &AuditIdentity<'_>,
) -> String {
    let canonical = serde_json::json!([
        at,
        e.workspace_id,
        e.action,
        e.target,
        e.principal,
        e.outcome,
        e.request_id,
        e.detail,
        identity.agent_id,
        identity.session_id,
        identity.user_subject
    ]);
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(canonical.to_string().as_bytes());
    hex::encode(h.finalize())
}

impl Store {
    /// Append one record to its workspace's chain, atomically with the chain head.
    pub(crate) async fn append_audit(
        &self,
        e: &AuditEvent<'_>,
        identity: &AuditIdentity<'_>,
    ) -> Result<(), StoreError> {
        let chain = chain_of(e.workspace_id);
        let mut tx = self.begin_locking().await?;
        sqlx::query(
            "INSERT INTO audit_chain_heads (chain, last_id, last_hash) VALUES ($1, 0, '') ON CONFLICT (chain) DO NOTHING",
        )
        .bind(&chain)
        .execute(&mut *tx)
        .await?;
        // SQLite already holds the database write lock (BEGIN IMMEDIATE); PostgreSQL locks the
        // head row, which serializes appends to this chain only.
        let select_head = match self.backend {
            Backend::Postgres => {
                "SELECT last_hash FROM audit_chain_heads WHERE chain = $1 FOR UPDATE"
            }
            Backend::Sqlite => "SELECT last_hash FROM audit_chain_heads WHERE chain = $1",
        };
        let prev: String = sqlx::query(select_head)
            .bind(&chain)
            .fetch_one(&mut *tx)
            .await?
            .try_get("last_hash")?;
        let at = now_ms();
        let hash = record_hash(&prev, at, e, identity);
        let id: i64 = sqlx::query(
            "INSERT INTO audit_events (at, workspace_id, action, target, principal, outcome, request_id, detail, prev_hash, hash, agent_id, session_id, user_subject, chain) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
        )
        .bind(at)
        .bind(e.workspace_id)
        .bind(e.action)
        .bind(e.target)
        .bind(e.principal)
        .bind(e.outcome)
        .bind(e.request_id)
        .bind(e.detail)
        .bind(&prev)
        .bind(&hash)
        .bind(identity.agent_id)
        .bind(identity.session_id)
        .bind(identity.user_subject)
        .bind(&chain)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        sqlx::query("UPDATE audit_chain_heads SET last_id = $1, last_hash = $2 WHERE chain = $3")
            .bind(id)
            .bind(&hash)
            .bind(&chain)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Verify one workspace's chain, or every chain.
    pub async fn verify_audit_chain(
        &self,
        workspace_id: Option<&str>,
    ) -> Result<ChainVerdict, StoreError> {
        let chains: Vec<String> = match workspace_id {
            Some(ws) => vec![chain_of(Some(ws))],
            None => sqlx::query(
                "SELECT chain FROM audit_chain_heads UNION SELECT DISTINCT chain FROM audit_events WHERE chain IS NOT NULL",
            )
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>("chain"))
            .collect::<Result<_, _>>()?,
        };
        let mut verdict = ChainVerdict {
            ok: true,
            checked: 0,
            first_broken_id: None,
        };
        for chain in chains {
            let (checked, broken) = self.verify_one_chain(&chain).await?;
            verdict.checked += checked;
            if let Some(id) = broken {
                verdict.ok = false;
                verdict.first_broken_id = Some(verdict.first_broken_id.map_or(id, |b| b.min(id)));
            }
        }
        Ok(verdict)
    }

    /// `(records checked, first broken id)`.
    async fn verify_one_chain(&self, chain: &str) -> Result<(u64, Option<i64>), StoreError> {
        let mut expected_prev = String::new();
        let mut after = 0i64;
        let mut checked = 0u64;
        let mut last_id = None;
        loop {
            let rows = sqlx::query(
                "SELECT id, at, workspace_id, action, target, principal, outcome, request_id, detail, prev_hash, hash, agent_id, session_id, user_subject \
                 FROM audit_events WHERE chain = $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .bind(chain)
            .bind(after)
            .bind(VERIFY_PAGE)
            .fetch_all(&self.pool)
            .await?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                let id: i64 = r.try_get("id")?;
                checked += 1;
                let workspace_id: Option<String> = r.try_get("workspace_id")?;
                let action: String = r.try_get("action")?;
                let target: Option<String> = r.try_get("target")?;
                let principal: String = r.try_get("principal")?;
                let outcome: String = r.try_get("outcome")?;
                let request_id: Option<String> = r.try_get("request_id")?;
                let detail: Option<String> = r.try_get("detail")?;
                let agent_id: Option<String> = r.try_get("agent_id")?;
                let session_id: Option<String> = r.try_get("session_id")?;
                let user_subject: Option<String> = r.try_get("user_subject")?;
                let event = AuditEvent {
                    workspace_id: workspace_id.as_deref(),
                    action: &action,
                    target: target.as_deref(),
                    principal: &principal,
                    outcome: &outcome,
                    request_id: request_id.as_deref(),
                    detail: detail.as_deref(),
                };
                let identity = AuditIdentity {
                    agent_id: agent_id.as_deref(),
                    session_id: session_id.as_deref(),
                    user_subject: user_subject.as_deref(),
                };
                let stored_prev: Option<String> = r.try_get("prev_hash")?;
                let stored_hash: Option<String> = r.try_get("hash")?;
                let recomputed = record_hash(&expected_prev, r.try_get("at")?, &event, &identity);
                let in_chain = chain_of(workspace_id.as_deref()) == chain;
                if !in_chain
                    || stored_prev.as_deref().unwrap_or("") != expected_prev
                    || stored_hash.as_deref() != Some(recomputed.as_str())
                {
                    return Ok((checked, Some(id)));
                }
                expected_prev = recomputed;
                after = id;
                last_id = Some(id);
            }
        }
        let head = sqlx::query("SELECT last_id, last_hash FROM audit_chain_heads WHERE chain = $1")
            .bind(chain)
            .fetch_optional(&self.pool)
            .await?;
        let head_holds = match &head {
            Some(h) => {
                let head_hash: String = h.try_get("last_hash")?;
                let head_id: i64 = h.try_get("last_id")?;
                head_hash == expected_prev && (last_id.is_none() || last_id == Some(head_id))
            }
            None => last_id.is_none(),
        };
        if head_holds {
            Ok((checked, None))
        } else {
            let broken = match head {
                Some(h) => h.try_get::<i64, _>("last_id")?,
                None => last_id.unwrap_or(0),
            };
            Ok((checked, Some(broken)))
        }
    }
}
