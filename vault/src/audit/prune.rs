//! Audit retention (`nexus audit prune`): delete records up to the heads of a signed checkpoint,
//! after checking that the database still holds that checkpoint. The CLI checks the signature
//! and that an export holds the records first; the broker refuses anything but a checkpoint's
//! heads, so there is no way to prune "everything before T" without one.

use super::{AuditService, check_chain_heads};
use crate::caller::Caller;
use crate::error::VaultError;
use crate::store::audit::AuditEvent;
use crate::store::{Store, StoreError};
use nexus_protocol::audit::{AuditPruneReport, AuditPruneRequest, ChainPruneResult};

impl AuditService {
    /// Prune the chains of `request` (or only its workspace's) to their checkpoint heads.
    ///
    /// Every selected chain is checked against its head before anything is deleted: one that
    /// does not hold the checkpoint (edited, truncated, re-chained, pruned past it) refuses the
    /// whole request. Then each chain is cut in its own transaction (records and anchor commit
    /// together): a failure part-way leaves the chains before it pruned and anchored, the rest
    /// untouched, and the same request again finishes the job (a chain already anchored at its
    /// head is skipped).
    ///
    /// Each chain cut is recorded (`audit.pruned`, target the chain, in the chain of records
    /// without a workspace), once its records are gone.
    pub async fn prune(
        &self,
        request: &AuditPruneRequest,
        caller: &Caller,
    ) -> Result<AuditPruneReport, VaultError> {
        let report = prune(&self.store, request).await?;
        for chain in report.chains.iter().filter(|c| c.deleted > 0) {
            let detail = format!(
                "deleted={} pruned_total={} anchor_id={}",
                chain.deleted, chain.pruned_total, chain.anchor_id
            );
            self.store
                .audit_required(AuditEvent {
                    workspace_id: None,
                    action: "audit.pruned",
                    target: Some(&chain.chain),
                    principal: &caller.principal,
                    outcome: "ok",
                    request_id: caller.request_id.as_deref(),
                    detail: Some(&detail),
                })
                .await?;
        }
        Ok(report)
    }
}

/// [`AuditService::prune`] on a store.
pub async fn prune(
    store: &Store,
    request: &AuditPruneRequest,
) -> Result<AuditPruneReport, VaultError> {
    check_chain_heads(&request.chains)?;
    let selected: Vec<_> = match &request.workspace_id {
        None => request.chains.iter().collect(),
        Some(ws) => {
            let chain = format!("ws:{ws}");
            let found: Vec<_> = request.chains.iter().filter(|h| h.chain == chain).collect();
            if found.is_empty() {
                return Err(VaultError::invalid(format!(
                    "the checkpoint has no chain for workspace {ws}"
                )));
            }
            found
        }
    };
    let mut problems = Vec::new();
    for head in &selected {
        if let Some(p) = store.check_chain_against(head).await? {
            problems.push(format!("{}: {}", p.chain, p.problem));
        }
    }
    if !problems.is_empty() {
        return Err(VaultError::invalid(format!(
            "nothing pruned: the audit log does not hold this checkpoint ({})",
            problems.join("; ")
        )));
    }
    let mut chains = Vec::with_capacity(selected.len());
    for head in selected {
        let done = store.prune_chain_to(head).await.map_err(|e| match e {
            StoreError::Conflict(what) | StoreError::Corrupt(what) => {
                VaultError::invalid(format!("chain {} not pruned: {what}", head.chain))
            }
            other => other.into(),
        })?;
        chains.push(ChainPruneResult {
            chain: done.chain,
            deleted: done.deleted,
            pruned_total: done.pruned_total,
            anchor_id: done.anchor_id,
        });
    }
    Ok(AuditPruneReport { chains })
}
