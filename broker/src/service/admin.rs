//! Admin operations: import and revoke connections, providers (one, or a whole document), key
//! rotation, and the audit helper.

use super::{
    Caller, DriftReport, ImportRequest, RotateResponse, Service, connection_not_found,
    credentials_object, secret_string,
};
use crate::crypto::MasterKey;
use crate::error::ApiError;
use crate::providers::ProviderInput;
use crate::providers::file::parse_document;
use crate::store::audit::AuditEvent;
use crate::store::connections::{ConnectionInfo, NewConnection, TokenSet};
use crate::store::providers::{StoredProvider, UpsertOutcome};
use nexus_protocol::{ConnectionStatus, Credentials, Strategy};

impl Service {
    // ---- admin: connections -----------------------------------------------------------------

    pub async fn import_connection(
        &self,
        workspace_id: &str,
        req: &ImportRequest,
        caller: &Caller,
    ) -> Result<ConnectionInfo, ApiError> {
        self.store.require_workspace(workspace_id).await?;
        let provider = self.provider(&req.provider_name).await?;
        let (tokens, credentials) = match req.kind.as_str() {
            "refresh_token" => {
                if !provider.is_oauth2() {
                    return Err(ApiError::invalid(
                        "a refresh token can only be imported for an oauth2 provider",
                    ));
                }
                let token = secret_string(&req.secret)?;
                // No access token yet: the first resolve refreshes.
                (
                    Some(TokenSet {
                        refresh_token: Some(token),
                        ..Default::default()
                    }),
                    None,
                )
            }
            "api_key" | "credentials" => {
                if provider.is_oauth2() {
                    return Err(ApiError::invalid(
                        "static credentials can only be imported for a static provider",
                    ));
                }
                let credentials = if req.kind == "api_key" {
                    let mut c = Credentials::default();
                    c.insert("api_key", secret_string(&req.secret)?.expose());
                    c
                } else {
                    credentials_object(&req.secret)?
                };
                let strategy = Strategy::from_spec(&provider.strategy)
                    .map_err(|e| ApiError::invalid(e.to_string()))?;
                for field in strategy.required_fields() {
                    if credentials.get_str(field).is_none_or(|v| v.is_empty()) {
                        return Err(ApiError::invalid(format!(
                            "the provider's strategy needs credential field `{field}`"
                        )));
                    }
                }
                (None, Some(credentials))
            }
            _ => {
                return Err(ApiError::invalid(
                    "unknown import kind (api_key, refresh_token, credentials)",
                ));
            }
        };
        let scopes = if req.scopes.is_empty() {
            provider.scopes.clone()
        } else {
            req.scopes.clone()
        };
        let row = self
            .store
            .insert_connection(NewConnection {
                workspace_id,
                provider_name: &provider.name,
                user_id: req.user_id.as_deref(),
                status: ConnectionStatus::Active,
                scopes: &scopes,
                tokens: tokens.as_ref(),
                credentials: credentials.as_ref(),
            })
            .await?;
        self.admin_audit(Some(workspace_id), "connection.imported", &row.id, caller)
            .await;
        Ok(row.info())
    }

    pub async fn revoke_connection(
        &self,
        workspace_id: &str,
        id: &str,
        caller: &Caller,
    ) -> Result<(), ApiError> {
        if !self
            .store
            .set_connection_status(
                workspace_id,
                id,
                ConnectionStatus::Revoked,
                Some("revoked by an admin"),
            )
            .await?
        {
            return Err(connection_not_found());
        }
        self.admin_audit(Some(workspace_id), "connection.revoked", id, caller)
            .await;
        Ok(())
    }

    // ---- admin: providers -------------------------------------------------------------------

    pub async fn put_provider(
        &self,
        input: ProviderInput,
        caller: &Caller,
    ) -> Result<StoredProvider, ApiError> {
        let (provider, secret) = input
            .resolve()
            .map_err(|e| ApiError::invalid(e.to_string()))?;
        let outcome = self
            .store
            .upsert_provider(&provider, secret.as_ref(), false)
            .await?;
        if outcome != UpsertOutcome::Unchanged {
            self.admin_audit(None, "provider.upserted", &provider.name, caller)
                .await;
        }
        self.store
            .get_provider(&provider.name)
            .await?
            .ok_or_else(ApiError::internal)
    }

    /// Apply a providers document. Every entry is validated before anything is written, so a
    /// bad document changes nothing.
    pub async fn apply_providers(
        &self,
        text: &str,
        dry_run: bool,
        prune: bool,
        caller: &Caller,
    ) -> Result<DriftReport, ApiError> {
        let inputs = parse_document(text).map_err(|e| ApiError::invalid(e.to_string()))?;
        let resolved = inputs
            .into_iter()
            .map(|i| i.resolve().map_err(|e| ApiError::invalid(e.to_string())))
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
                .audit(AuditEvent {
                    workspace_id: None,
                    action: "providers.applied",
                    target: None,
                    principal: &caller.principal,
                    outcome: "ok",
                    request_id: caller.request_id.as_deref(),
                    detail: Some(&detail),
                })
                .await;
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
    ) -> Result<RotateResponse, ApiError> {
        let key = match new_key {
            Some(text) => {
                MasterKey::from_base64(text).map_err(|e| ApiError::invalid(e.to_string()))?
            }
            None if self.store.vault().has_file() => MasterKey::generate(),
            None => {
                return Err(ApiError::invalid(
                    "no keyring file is configured (NEXUS_MASTER_KEY_FILE): pass `new_key`, or configure a file so the generated key is kept",
                ));
            }
        };
        self.store.vault().rotate_to(key).map_err(|e| {
            tracing::error!(error = %e, "could not save the keyring");
            ApiError::internal()
        })?;
        let active = self.store.vault().active_id();
        self.store.record_active_key(&active).await?;
        let reencrypted = self.store.reencrypt_all().await?;
        self.admin_audit(None, "keys.rotated", &active, caller)
            .await;
        Ok(RotateResponse {
            active_key_id: active,
            reencrypted,
        })
    }

    pub async fn admin_audit(
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
}
