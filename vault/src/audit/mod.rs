//! The audit log for operators: recording admin changes, querying records, and verifying the
//! hash chain that makes tampering with them detectable. (Identity decisions are recorded by
//! `identity::audit`; the chain itself is written in [`crate::store::audit_chain`].)

use crate::caller::Caller;
use crate::error::VaultError;
use crate::store::Store;
use crate::store::audit::{AuditEvent, AuditQuery, AuditRecord};
use crate::store::audit_chain::ChainVerdict;

#[derive(Clone)]
pub struct AuditService {
    store: Store,
}

impl AuditService {
    pub(crate) fn new(store: Store) -> Self {
        Self { store }
    }

    /// Record a successful admin change (`workspace.created`, `agent.disabled`, …).
    pub async fn admin_event(
        &self,
        workspace_id: Option<&str>,
        action: &str,
        target: &str,
        caller: &Caller,
    ) {
        self.store
            .audit(AuditEvent {
                workspace_id,
                action,
                target: Some(target),
                principal: &caller.principal,
                outcome: "ok",
                request_id: caller.request_id.as_deref(),
                detail: None,
            })
            .await;
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
}
