//! The audit log for operators: recording admin changes, querying records, and verifying the
//! hash chain that makes tampering with them detectable. (Identity decisions are recorded by
//! `identity::audit`; the chain itself is written in [`crate::store::audit_chain`].)

pub mod checkpoint;
mod export;
mod prune;

pub use export::{EXPORT_PAGE, export_pages};
pub use prune::prune;

use crate::caller::Caller;
use crate::error::VaultError;
use crate::store::Store;
use crate::store::audit::{AuditEvent, AuditQuery, AuditRecord};
use crate::store::audit_batch::OwnedRecord;
use crate::store::audit_chain::ChainVerdict;
use crate::store::audit_chain::sanitize_client_request_id;
use nexus_protocol::audit::{AuditHeads, CheckpointVerdict};
use nexus_protocol::proxy::ProxyAuditRecord;
use std::borrow::Cow;

#[derive(Clone)]
pub struct AuditService {
    store: Store,
}

impl AuditService {
    pub(crate) fn new(store: Store) -> Self {
        Self { store }
    }

    /// Record a successful admin change (`workspace.created`, `agent.disabled`, …). The
    /// change is answered as done only once this record is durable: a failure is returned
    /// (`upstream_unavailable`), never swallowed. (The change itself is already committed:
    /// the operator learns that it went unrecorded; see `docs/operators/hardening.md`.)
    pub async fn admin_event(
        &self,
        workspace_id: Option<&str>,
        action: &str,
        target: &str,
        caller: &Caller,
    ) -> Result<(), VaultError> {
        Ok(self
            .store
            .audit_required(AuditEvent {
                workspace_id,
                action,
                target: Some(target),
                principal: &caller.principal,
                outcome: "ok",
                request_id: caller.request_id.as_deref(),
                detail: None,
            })
            .await?)
    }

    /// Record a failed caller authentication on `surface` (`admin_api`, …) from `source` (an
    /// IP address). The presented secret is never passed here. Callers rate-limit per source.
    pub async fn authentication_failed(
        &self,
        surface: &str,
        source: &str,
        request_id: Option<&str>,
    ) {
        let detail = format!("source={source}");
        self.store
            .audit(AuditEvent {
                workspace_id: None,
                action: "auth.failed",
                target: Some(surface),
                principal: "unauthenticated",
                outcome: "denied",
                request_id,
                detail: Some(&detail),
            })
            .await;
    }

    /// Record an API key a gateway presented and the store refused (unknown, revoked, wrong
    /// secret, malformed), from client address `source`. Only the key's id (public, listed by
    /// `api-keys list`) is kept, never the key. Callers rate-limit per source.
    pub async fn api_key_refused(
        &self,
        key: &nexus_protocol::SecretString,
        source: &str,
        request_id: Option<&str>,
    ) {
        let detail = match crate::store::api_keys::key_id_of(key.expose()) {
            Some(key_id) => format!("source={source} key_id={key_id}"),
            None => format!("source={source} key=malformed"),
        };
        self.store
            .audit(AuditEvent {
                workspace_id: None,
                action: "auth.failed",
                target: Some("gateway_api_key"),
                principal: "unauthenticated",
                outcome: "denied",
                request_id,
                detail: Some(&detail),
            })
            .await;
    }

    /// Record the gateway's proxied calls (proxy mode), one `proxy.request` event each, target
    /// the provider. The detail holds method, host, path template, status, sizes and times;
    /// the gateway never sends headers, bodies, the query or a credential. The batch is queued
    /// on its chains at once (one transaction per chain, shared with other batches in flight)
    /// and this returns once all of it is durable, or an error (`upstream_unavailable`) so the
    /// gateway keeps the batch and sends it again: a proxied call's record is never dropped
    /// silently. The records are moved into the queue (their strings are not copied).
    pub async fn proxy_calls(&self, records: Vec<ProxyAuditRecord>) -> Result<(), VaultError> {
        let owned = records
            .into_iter()
            .map(|r| OwnedRecord {
                detail: Some(proxy_detail(&r)),
                client_request_id: sanitize_client_request_id(r.request_id.as_deref()),
                workspace_id: Some(r.workspace_id),
                action: Cow::Borrowed("proxy.request"),
                target: Some(r.provider),
                principal: r.principal,
                outcome: r.outcome,
                agent_id: None,
                session_id: None,
                user_subject: None,
            })
            .collect();
        Ok(self.store.append_audit_owned(owned).await?)
    }

    pub async fn query(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, VaultError> {
        Ok(self.store.query_audit(q).await?)
    }

    /// Walk the hash chain of one workspace (or of the records without one).
    pub async fn verify_chain(
        &self,
        workspace_id: Option<&str>,
    ) -> Result<ChainVerdict, VaultError> {
        Ok(self.store.verify_audit_chain(workspace_id).await?)
    }

    /// Every chain's length and head, each walked and verified (what a checkpoint states).
    pub async fn heads(&self) -> Result<AuditHeads, VaultError> {
        let (chains, ok) = self.store.audit_chain_heads().await?;
        Ok(AuditHeads { chains, ok })
    }

    /// Compare the database with the chains of a checkpoint (whose signature the caller has
    /// checked): every chain must still verify and hold the checkpoint's head at its position.
    pub async fn check_checkpoint(
        &self,
        checkpoint: &AuditHeads,
    ) -> Result<CheckpointVerdict, VaultError> {
        check_chain_heads(&checkpoint.chains)?;
        let mut problems = Vec::new();
        for head in &checkpoint.chains {
            if let Some(problem) = self.store.check_chain_against(head).await? {
                problems.push(problem);
            }
        }
        Ok(CheckpointVerdict {
            ok: problems.is_empty(),
            chains_checked: checkpoint.chains.len() as u64,
            problems,
        })
    }
}

/// Chain names are `-` or `ws:<workspace id>` (what `heads` reports); anything else is not from
/// a checkpoint and is refused before it reaches a query.
fn check_chain_heads(chains: &[nexus_protocol::audit::ChainHead]) -> Result<(), VaultError> {
    for head in chains {
        let valid = head.chain == "-"
            || head
                .chain
                .strip_prefix("ws:")
                .is_some_and(nexus_protocol::WorkspaceId::is_valid);
        if !valid || head.head_id < 0 || i64::try_from(head.records).is_err() {
            return Err(VaultError::invalid(
                "a checkpoint chain is `-` or `ws:<workspace id>`, with a record count and head id the database can hold",
            ));
        }
    }
    Ok(())
}

/// The `detail` of one `proxy.request` record (JSON; what the gateway measured, no secret).
/// Serialized from borrowed fields in one allocation; the keys in the order (sorted) the
/// `json!` map wrote them before, so records read the same.
fn proxy_detail(r: &ProxyAuditRecord) -> String {
    #[derive(serde::Serialize)]
    struct Detail<'a> {
        bytes_in: u64,
        bytes_out: u64,
        duration_ms: u64,
        error_code: Option<&'a str>,
        host: &'a str,
        latency_ms: u64,
        method: &'a str,
        path: &'a str,
        retried_401: bool,
        status: u16,
        throttle_retries: u8,
    }
    let detail = Detail {
        bytes_in: r.bytes_in,
        bytes_out: r.bytes_out,
        duration_ms: r.duration_ms,
        error_code: r.error_code.as_deref(),
        host: &r.host,
        latency_ms: r.latency_ms,
        method: &r.method,
        path: &r.path_template,
        retried_401: r.retried_401,
        status: r.status,
        throttle_retries: r.throttle_retries,
    };
    serde_json::to_string(&detail).expect("a struct of strings and numbers serializes")
}
