//! Operator operations: workspaces, workspace API keys, providers (one, or a whole
//! document), and master key rotation. Every change is audited.

use crate::audit::AuditService;
use crate::caller::Caller;
use crate::crypto::MasterKey;
use crate::error::VaultError;
use crate::providers::ProviderInput;
use crate::providers::file::parse_document;
use crate::store::Store;
use crate::store::api_keys::{ApiKeyInfo, CreatedApiKey};
use crate::store::audit::AuditEvent;
use crate::store::providers::{StoredProvider, UpsertOutcome};
use crate::store::workspaces::Workspace;
use nexus_protocol::WorkspaceId;
use nexus_protocol::admin::{DriftReport, RotateResponse};

/// The workspace id rule ([`WorkspaceId`]), as a caller sees it: the message states the rule
/// and never quotes the value.
pub fn check_workspace_id(id: &str) -> Result<(), VaultError> {
    WorkspaceId::new(id)
        .map(drop)
        .map_err(|e| VaultError::invalid(format!("{} {}", e.what(), e.expected())))
}

fn no_such_provider(name: &str) -> VaultError {
    VaultError::provider_not_found(format!("no provider named `{name}`"))
}

/// Workspaces, API keys, providers and keys. Built once by [`crate::Vault`].
pub struct AdminService {
    store: Store,
    audit: AuditService,
}

impl AdminService {
    pub(crate) fn new(store: Store, audit: AuditService) -> Self {
        Self { store, audit }
    }

    // ---- workspaces and API keys ----------------------------------------------------------

    pub async fn list_workspaces(&self) -> Result<Vec<Workspace>, VaultError> {
        Ok(self.store.list_workspaces().await?)
    }

    pub async fn create_workspace(
        &self,
        id: &str,
        name: Option<&str>,
        caller: &Caller,
    ) -> Result<Workspace, VaultError> {
        check_workspace_id(id)?;
        if name.is_some_and(|n| n.len() > 200) {
            return Err(VaultError::invalid("`name` is longer than 200 characters"));
        }
        let ws = self.store.create_workspace(id, name).await?;
        self.audit
            .admin_event(
                Some(ws.id.as_str()),
                "workspace.created",
                ws.id.as_str(),
                caller,
            )
            .await?;
        Ok(ws)
    }

    pub async fn create_api_key(
        &self,
        workspace_id: &str,
        caller: &Caller,
    ) -> Result<CreatedApiKey, VaultError> {
        let created = self.store.create_api_key(workspace_id).await?;
        self.audit
            .admin_event(
                Some(workspace_id),
                "api_key.created",
                &created.key_id,
                caller,
            )
            .await?;
        Ok(created)
    }

    pub async fn list_api_keys(&self, workspace_id: &str) -> Result<Vec<ApiKeyInfo>, VaultError> {
        self.store.require_workspace(workspace_id).await?;
        Ok(self.store.list_api_keys(workspace_id).await?)
    }

    pub async fn revoke_api_key(
        &self,
        workspace_id: &str,
        key_id: &str,
        caller: &Caller,
    ) -> Result<(), VaultError> {
        self.store.revoke_api_key(workspace_id, key_id).await?;
        self.audit
            .admin_event(Some(workspace_id), "api_key.revoked", key_id, caller)
            .await?;
        Ok(())
    }

    /// A workspace API key → `(workspace id, key id)`; unknown or revoked keys are refused.
    pub async fn verify_api_key(
        &self,
        key: &nexus_protocol::SecretString,
    ) -> Result<(String, String), VaultError> {
        self.store
            .verify_api_key(key)
            .await?
            .ok_or_else(|| VaultError::Unauthenticated("unknown or revoked API key".into()))
    }

    // ---- providers ----------------------------------------------------------------------------

    /// Every provider (never a client secret).
    pub async fn list_providers(&self) -> Result<Vec<StoredProvider>, VaultError> {
        Ok(self.store.list_providers().await?)
    }

    /// What clients may know of every provider, grouped by auth type (the original gateway's
    /// `GET /v1/providers`): see [`crate::providers::Provider::metadata`].
    pub async fn providers_metadata(
        &self,
    ) -> Result<nexus_protocol::compat::ProvidersMetadata, VaultError> {
        let mut by_type = nexus_protocol::compat::ProvidersMetadata::new();
        for stored in self.store.list_providers().await? {
            let provider = stored.provider;
            by_type
                .entry(provider.auth_type.clone())
                .or_default()
                .insert(provider.name.clone(), provider.metadata());
        }
        Ok(by_type)
    }

    pub async fn get_provider(&self, name: &str) -> Result<StoredProvider, VaultError> {
        self.store
            .get_provider(name)
            .await?
            .ok_or_else(|| no_such_provider(name))
    }

    pub async fn delete_provider(&self, name: &str, caller: &Caller) -> Result<(), VaultError> {
        if !self.store.delete_provider(name).await? {
            return Err(no_such_provider(name));
        }
        self.audit
            .admin_event(None, "provider.deleted", name, caller)
            .await?;
        Ok(())
    }

    pub async fn put_provider(
        &self,
        input: ProviderInput,
        caller: &Caller,
    ) -> Result<StoredProvider, VaultError> {
        let (provider, secret) = input
            .resolve()
            .map_err(|e| VaultError::invalid(e.to_string()))?;
        let outcome = self
            .store
            .upsert_provider(&provider, secret.as_ref(), false)
            .await?;
        if outcome != UpsertOutcome::Unchanged {
            self.audit
                .admin_event(None, "provider.upserted", &provider.name, caller)
                .await?;
        }
        self.store
            .get_provider(&provider.name)
            .await?
            .ok_or(VaultError::Internal)
    }

    /// Apply a providers document. Every entry is validated before anything is written, so a
    /// bad document changes nothing.
    pub async fn apply_providers(
        &self,
        text: &str,
        dry_run: bool,
        prune: bool,
        caller: &Caller,
    ) -> Result<DriftReport, VaultError> {
        let inputs = parse_document(text).map_err(|e| VaultError::invalid(e.to_string()))?;
        let resolved = inputs
            .into_iter()
            .map(|i| i.resolve().map_err(|e| VaultError::invalid(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let mut report = DriftReport {
            dry_run,
            ..Default::default()
        };
        for (provider, secret) in &resolved {
            match self
                .store
                .upsert_provider(provider, secret.as_ref(), dry_run)
                .await?
            {
                UpsertOutcome::Created => report.created.push(provider.name.clone()),
                UpsertOutcome::Updated => report.updated.push(provider.name.clone()),
                UpsertOutcome::Unchanged => report.unchanged.push(provider.name.clone()),
            }
        }
        if prune {
            let wanted: std::collections::BTreeSet<&str> =
                resolved.iter().map(|(p, _)| p.name.as_str()).collect();
            for existing in self.store.list_providers().await? {
                if !wanted.contains(existing.provider.name.as_str()) {
                    if !dry_run {
                        self.store.delete_provider(&existing.provider.name).await?;
                    }
                    report.pruned.push(existing.provider.name);
                }
            }
        }
        if !dry_run {
            let detail = format!(
                "created={} updated={} pruned={}",
                report.created.len(),
                report.updated.len(),
                report.pruned.len()
            );
            self.store
                .audit_required(AuditEvent {
                    workspace_id: None,
                    action: "providers.applied",
                    target: None,
                    principal: &caller.principal,
                    outcome: "ok",
                    request_id: caller.request_id.as_deref(),
                    detail: Some(&detail),
                })
                .await?;
        }
        Ok(report)
    }

    // ---- admin: keys -----------------------------------------------------------------------

    /// Make a new key active and re-encrypt every row under it, while the broker keeps serving
    /// (reads of not-yet-rewritten rows still open under the old key).
    pub async fn rotate_keys(
        &self,
        new_key: Option<&str>,
        caller: &Caller,
    ) -> Result<RotateResponse, VaultError> {
        let key = match new_key {
            Some(text) => {
                MasterKey::from_base64(text).map_err(|e| VaultError::invalid(e.to_string()))?
            }
            None if self.store.sealer().has_file() => MasterKey::generate(),
            None => {
                return Err(VaultError::invalid(
                    "no keyring file is configured (NEXUS_MASTER_KEY_FILE): pass `new_key`, or configure a file so the generated key is kept",
                ));
            }
        };
        self.store.sealer().rotate_to(key).map_err(|e| {
            tracing::error!(error = %e, "could not save the keyring");
            VaultError::Internal
        })?;
        let active = self.store.sealer().active_id();
        self.store.record_active_key(&active).await?;
        let reencrypted = self.store.reencrypt_all().await?;
        self.audit
            .admin_event(None, "keys.rotated", &active, caller)
            .await?;
        Ok(RotateResponse {
            active_key_id: active,
            reencrypted,
        })
    }
}
