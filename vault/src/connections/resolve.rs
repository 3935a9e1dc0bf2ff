//! Resolve: `(workspace, provider)` or a connection id → a credential and its strategy; and
//! the sealed re-authorization links handed out with `reauth_required`.

use super::refresh::{Need, status_error};
use super::{
    ConnectionService, REAUTH_LINK_LIFETIME_MS, ReauthLink, connection_not_found,
    normalize_token_type, reauth_link_aad,
};
use crate::caller::Caller;
use crate::error::VaultError;
use crate::providers::{Provider, StoredProvider};
use crate::store::StoreError;
use crate::store::audit::AuditEvent;
use crate::store::connections::ConnectionRow;
use crate::store::connections::pg_lookup::LookedUp;
use crate::store::{now_ms, rfc3339};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nexus_protocol::{
    CheckConnectionResponse, ConnectionStatus, Credentials, ResolveResponse, SecretString,
};
use std::sync::Arc;

impl ConnectionService {
    /// `(workspace, provider)` → a credential and its strategy.
    pub async fn resolve(
        &self,
        workspace_id: &str,
        provider_name: &str,
        min_ttl: Option<u64>,
        force: bool,
        caller: &Caller,
    ) -> Result<ResolveResponse, VaultError> {
        let found = self
            .lookups
            .run(async {
                match &self.pg_lookup {
                    Some(pg) => pg.find_connection_for(workspace_id, provider_name).await,
                    None => self
                        .store
                        .find_connection_for(workspace_id, provider_name)
                        .await
                        .map(|found| found.map(|(row, provider)| (row, provider.map(Arc::new)))),
                }
            })
            .await;
        self.resolve_found(
            workspace_id,
            provider_name,
            found,
            min_ttl,
            force,
            caller,
            None,
        )
        .await
    }

    /// The one resolve path once the connection is looked up (by workspace, or by MCP user;
    /// with its provider when the lookup read it too, else the provider is read here): a miss
    /// is explained, the row is refreshed if needed (single flight), its use is
    /// recorded, and the `token.issued` audit record (with `detail`) is written before the
    /// answer is released.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn resolve_found(
        &self,
        workspace_id: &str,
        provider_name: &str,
        found: Result<Option<LookedUp>, StoreError>,
        min_ttl: Option<u64>,
        force: bool,
        caller: &Caller,
        detail: Option<&str>,
    ) -> Result<ResolveResponse, VaultError> {
        let result = async {
            let Some((row, provider)) = found? else {
                return Err(self.missing_connection_error(provider_name).await);
            };
            let id = row.id.clone();
            let resolved = self
                .resolve_row_with(row, provider, min_ttl, force)
                .await
                .map_err(|e| self.with_reauth_url_for(e, workspace_id, &id))?;
            self.usage
                .touch(&self.store, workspace_id, &id, &caller.principal);
            Ok(resolved)
        }
        .await;
        self.audit_issue_for(workspace_id, provider_name, caller, detail, result)
            .await
    }

    /// Why `(workspace, provider)` has no connection: the provider itself is unknown
    /// (`provider_not_found`, usually a typo in the caller's configuration) or it exists but this
    /// workspace never connected it (`connection_not_found`). Only checked on the miss path.
    pub(super) async fn missing_connection_error(&self, provider_name: &str) -> VaultError {
        match self.store.get_provider(provider_name).await {
            Ok(None) => {
                VaultError::provider_not_found(format!("provider `{provider_name}` does not exist"))
            }
            Ok(Some(_)) => VaultError::connection_not_found(format!(
                "no connection for provider `{provider_name}` in this workspace"
            )),
            Err(e) => e.into(),
        }
    }

    /// Token of one connection by id (`GET …/{id}/token`, or `POST …/{id}/refresh` with `force`).
    pub async fn token_by_id(
        &self,
        workspace_id: &str,
        id: &str,
        force: bool,
        caller: &Caller,
    ) -> Result<ResolveResponse, VaultError> {
        let result = async {
            let row = self.workspace_connection(workspace_id, id).await?;
            let resolved = self.resolve_row(row, None, force).await?;
            self.usage
                .touch(&self.store, workspace_id, id, &caller.principal);
            Ok(resolved)
        }
        .await;
        self.audit_issue(workspace_id, id, caller, result)
            .await
            .map_err(|e| self.with_reauth_url_for(e, workspace_id, id))
    }

    /// A connection by id as a workspace principal (API key, agent session) may see it: one
    /// bound to an MCP user is answered as if it did not exist (no hint that it does), since
    /// only that user's own access token may reach it (`mcp_users`).
    async fn workspace_connection(
        &self,
        workspace_id: &str,
        id: &str,
    ) -> Result<ConnectionRow, VaultError> {
        self.store
            .get_connection(workspace_id, id)
            .await?
            .filter(|row| !row.bound_to_mcp_user)
            .ok_or_else(connection_not_found)
    }

    pub(super) async fn resolve_row(
        &self,
        row: ConnectionRow,
        min_ttl: Option<u64>,
        force: bool,
    ) -> Result<ResolveResponse, VaultError> {
        self.resolve_row_with(row, None, min_ttl, force).await
    }

    /// [`Self::resolve_row`] with the row's provider when it was read with the row (`None`:
    /// read it now, which also explains a provider that no longer exists).
    async fn resolve_row_with(
        &self,
        row: ConnectionRow,
        provider: Option<Arc<StoredProvider>>,
        min_ttl: Option<u64>,
        force: bool,
    ) -> Result<ResolveResponse, VaultError> {
        if row.status != ConnectionStatus::Active {
            return Err(status_error(&row));
        }
        let stored = match provider {
            Some(stored) => Some(stored),
            None => self
                .store
                .get_provider(&row.provider_name)
                .await?
                .map(Arc::new),
        };
        let stored = stored.ok_or_else(|| {
            VaultError::provider_not_found(format!(
                "provider `{}` does not exist",
                row.provider_name
            ))
        })?;
        let provider = &stored.provider;
        if !provider.is_oauth2() {
            return self.static_response(&row, provider);
        }
        let need = if force {
            Need::Force
        } else {
            self.refresh.need_for(min_ttl)
        };
        let row = self.refresh.ensure_fresh(row, need).await?;
        self.oauth_response(&row, provider)
    }

    fn oauth_response(
        &self,
        row: &ConnectionRow,
        provider: &Provider,
    ) -> Result<ResolveResponse, VaultError> {
        let token = self
            .store
            .open_access_token(row)?
            .ok_or_else(|| VaultError::upstream("no access token is available"))?;
        let token_type = row
            .token_type
            .clone()
            .filter(|t| !t.is_empty())
            .map(normalize_token_type)
            .unwrap_or_else(|| "Bearer".into());
        let expires_at = row.access_expires_at.map(rfc3339);
        let mut credentials = Credentials::default();
        credentials.insert("access_token", token.expose());
        credentials.insert("token_type", token_type.clone());
        if let Some(at) = &expires_at {
            credentials.insert("expires_at", at.clone());
        }
        Ok(ResolveResponse {
            access_token: Some(token),
            token_type,
            expires_in: row
                .access_expires_at
                .map(|e| ((e - now_ms()) / 1000).max(0)),
            expires_at,
            strategy: provider.strategy.clone(),
            credentials,
            scopes: row.scopes.clone(),
            scope: None,
            provider: Some(row.provider_name.clone()),
            api_base_url: provider.api_base_url.clone(),
            scope_enforcement: None,
            connection_id: Some(row.id.clone()),
            proxy: provider.proxy.clone(),
        })
    }

    fn static_response(
        &self,
        row: &ConnectionRow,
        provider: &Provider,
    ) -> Result<ResolveResponse, VaultError> {
        let credentials = self
            .store
            .open_credentials(row)?
            .ok_or_else(|| VaultError::NotActive("the connection has no credentials yet".into()))?;
        let access_token = credentials
            .get_str("access_token")
            .or_else(|| credentials.get_str("api_key"))
            .map(SecretString::new);
        Ok(ResolveResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_at: None,
            expires_in: None,
            strategy: provider.strategy.clone(),
            credentials,
            scopes: row.scopes.clone(),
            scope: None,
            provider: Some(row.provider_name.clone()),
            api_base_url: provider.api_base_url.clone(),
            scope_enforcement: None,
            connection_id: Some(row.id.clone()),
            proxy: provider.proxy.clone(),
        })
    }

    /// Record the outcome of a resolve (`token.issued`) and only then answer it: a credential
    /// whose record could not be written is withheld (`upstream_unavailable`, retryable), so no
    /// token is ever handed out without its durable audit record. A refusal stays the refusal.
    async fn audit_issue(
        &self,
        workspace_id: &str,
        target: &str,
        caller: &Caller,
        result: Result<ResolveResponse, VaultError>,
    ) -> Result<ResolveResponse, VaultError> {
        self.audit_issue_for(workspace_id, target, caller, None, result)
            .await
    }

    /// [`Self::audit_issue`] with a `detail` (the MCP user a credential was resolved for).
    pub(super) async fn audit_issue_for(
        &self,
        workspace_id: &str,
        target: &str,
        caller: &Caller,
        detail: Option<&str>,
        result: Result<ResolveResponse, VaultError>,
    ) -> Result<ResolveResponse, VaultError> {
        let outcome = match &result {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.code().to_string(),
        };
        let event = AuditEvent {
            workspace_id: Some(workspace_id),
            action: "token.issued",
            target: Some(target),
            principal: &caller.principal,
            outcome: &outcome,
            request_id: caller.request_id.as_deref(),
            detail,
        };
        match result {
            Ok(response) => {
                self.store.audit_required(event).await?;
                Ok(response)
            }
            Err(refused) => {
                self.store.audit(event).await;
                Err(refused)
            }
        }
    }

    pub async fn check_connection(
        &self,
        workspace_id: &str,
        id: &str,
    ) -> Result<CheckConnectionResponse, VaultError> {
        let row = self.workspace_connection(workspace_id, id).await?;
        let reauth_url = matches!(
            row.status,
            ConnectionStatus::NeedsReauth | ConnectionStatus::Failed
        )
        .then(|| self.reauth_url(&row.workspace_id, &row.id));
        Ok(CheckConnectionResponse {
            status: row.status,
            connection_id: Some(row.id),
            provider_name: Some(row.provider_name),
            reauth_url,
        })
    }

    // ---- re-authorization links -----------------------------------------------------------

    pub(super) fn with_reauth_url_for(
        &self,
        mut e: VaultError,
        workspace_id: &str,
        id: &str,
    ) -> VaultError {
        if let VaultError::ReauthRequired {
            link: link @ None, ..
        } = &mut e
        {
            *link = Some(self.reauth_url(workspace_id, id));
        }
        e
    }

    /// A link a person opens to authorize the connection again. The payload is sealed by the
    /// vault, so it cannot be forged or pointed at another connection, and it expires.
    pub fn reauth_url(&self, workspace_id: &str, connection_id: &str) -> String {
        let link = ReauthLink {
            w: workspace_id.to_owned(),
            c: connection_id.to_owned(),
            e: now_ms() + REAUTH_LINK_LIFETIME_MS,
        };
        let json = serde_json::to_string(&link).unwrap_or_default();
        let token = URL_SAFE_NO_PAD.encode(self.store.sealer().seal(&json, &reauth_link_aad()));
        format!("{}/oauth/reauthorize/{token}", self.public_url)
    }

    /// Open a reauthorization link and start a connect flow for its connection.
    pub async fn start_reauthorize(&self, token: &str) -> Result<String, VaultError> {
        let invalid = || VaultError::invalid("this re-authorization link is invalid or expired");
        let sealed = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
        let json = self
            .store
            .sealer()
            .open(&sealed, &reauth_link_aad())
            .map_err(|_| invalid())?;
        let link: ReauthLink = serde_json::from_str(&json).map_err(|_| invalid())?;
        if link.e < now_ms() {
            return Err(invalid());
        }
        let row = self
            .store
            .get_connection(&link.w, &link.c)
            .await?
            .ok_or_else(connection_not_found)?;
        let provider = self.provider(&row.provider_name).await?;
        let started = self.start_flow(&row, &provider, &row.scopes, None).await?;
        Ok(started.auth_url)
    }
}
