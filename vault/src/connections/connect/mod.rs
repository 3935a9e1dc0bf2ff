//! The connect flow: start (OAuth authorize URL or the static-credential form), the OAuth
//! callback, and the form submission.
//!
//! - `mod.rs`: starting a flow ([`ConnectionService::request_connection`]);
//! - `callback.rs`: the OAuth redirect target and the token exchange behind it;
//! - `capture.rs`: the static-credential form and its submission.

mod callback;
mod capture;

pub use capture::{CaptureForm, Captured};

use super::{ConnectionService, check_return_url, oauth_failure};
use crate::caller::Caller;
use crate::error::VaultError;
use crate::oauth::{pkce_challenge, random_token};
use crate::providers::Provider;
use crate::store::audit::AuditEvent;
use crate::store::connections::{ConnectionRow, NewConnection};
use crate::store::pending::NewPending;
use nexus_protocol::{
    ConnectionStatus, RequestConnectionInput, RequestConnectionResponse, SecretString,
};

impl ConnectionService {
    pub(crate) async fn provider(&self, name: &str) -> Result<Provider, VaultError> {
        Ok(self
            .store
            .get_provider(name)
            .await?
            .ok_or_else(|| VaultError::provider_not_found(format!("no provider named `{name}`")))?
            .provider)
    }

    /// Start a connect flow: a `pending` connection plus a pending authorization. For OAuth the
    /// URL is the provider's authorize URL; for static credentials it is the broker's form.
    pub async fn request_connection(
        &self,
        workspace_id: &str,
        input: &RequestConnectionInput,
        caller: &Caller,
    ) -> Result<RequestConnectionResponse, VaultError> {
        self.request_connection_owned(workspace_id, input, false, caller)
            .await
    }

    /// [`Self::request_connection`]; `bound_to_mcp_user`: the connection belongs to the MCP
    /// user `input.user_id` (the connect-ticket flow), not to the workspace.
    pub(super) async fn request_connection_owned(
        &self,
        workspace_id: &str,
        input: &RequestConnectionInput,
        bound_to_mcp_user: bool,
        caller: &Caller,
    ) -> Result<RequestConnectionResponse, VaultError> {
        self.store.require_workspace(workspace_id).await?;
        if let Some(url) = &input.return_url {
            check_return_url(url)?;
        }
        let stored = self
            .store
            .get_provider(&input.provider_name)
            .await?
            .ok_or_else(|| {
                VaultError::provider_not_found(format!(
                    "no provider named `{}`",
                    input.provider_name
                ))
            })?;
        let scopes = if input.scopes.is_empty() {
            stored.provider.scopes.clone()
        } else {
            input.scopes.clone()
        };
        let user_id = Some(input.user_id.as_str()).filter(|u| !u.is_empty());
        let row = self
            .create_connection(NewConnection {
                workspace_id,
                provider_name: &stored.provider.name,
                user_id,
                status: ConnectionStatus::Pending,
                scopes: &scopes,
                tokens: None,
                credentials: None,
                bound_to_mcp_user,
            })
            .await?;
        let started = self
            .start_flow(&row, &stored.provider, &scopes, input.return_url.as_deref())
            .await;
        let mut response = match started {
            Ok(r) => r,
            Err(e) => {
                // No half-made connection is left behind when the flow cannot start.
                self.store
                    .delete_pending_connection(workspace_id, &row.id)
                    .await?;
                return Err(e);
            }
        };
        response.provider_id = stored.id;
        self.store
            .audit_required(AuditEvent {
                workspace_id: Some(workspace_id),
                action: "connection.requested",
                target: Some(&row.id),
                principal: &caller.principal,
                outcome: "ok",
                request_id: caller.request_id.as_deref(),
                detail: Some(&stored.provider.name),
            })
            .await?;
        Ok(response)
    }

    pub(super) async fn start_flow(
        &self,
        row: &ConnectionRow,
        provider: &Provider,
        scopes: &[String],
        return_url: Option<&str>,
    ) -> Result<RequestConnectionResponse, VaultError> {
        let state = SecretString::new(random_token(32));
        let redirect_uri = self.redirect_uri.clone();
        let (auth_url, verifier, nonce) = if provider.is_oauth2() {
            let endpoints = self
                .oauth
                .endpoints(provider)
                .await
                .map_err(oauth_failure)?;
            let verifier = provider.pkce.then(|| SecretString::new(random_token(48)));
            let nonce = provider.wants_openid(scopes).then(|| random_token(16));
            let mut url = url::Url::parse(&endpoints.authorize)
                .map_err(|_| VaultError::upstream("provider authorize URL is invalid"))?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("response_type", "code");
                q.append_pair(
                    "client_id",
                    provider.client_id.as_deref().unwrap_or_default(),
                );
                q.append_pair("redirect_uri", &redirect_uri);
                if !scopes.is_empty() {
                    q.append_pair("scope", &scopes.join(&provider.scope_separator));
                }
                q.append_pair("state", state.expose());
                if let Some(v) = &verifier {
                    q.append_pair("code_challenge", &pkce_challenge(v.expose()));
                    q.append_pair("code_challenge_method", "S256");
                }
                if let Some(n) = &nonce {
                    q.append_pair("nonce", n);
                }
                for (k, v) in &provider.extra_authorize_params {
                    q.append_pair(k, v);
                }
            }
            (url.to_string(), verifier, nonce)
        } else {
            let url = format!("{}/connect/{}", self.public_url, state.expose());
            (url, None, None)
        };
        self.store
            .insert_pending(NewPending {
                state: &state,
                connection_id: &row.id,
                workspace_id: &row.workspace_id,
                provider_name: &provider.name,
                code_verifier: verifier.as_ref(),
                nonce: nonce.as_deref(),
                redirect_uri: &redirect_uri,
                return_url,
                scopes,
                lifetime_ms: self.pending_lifetime.as_millis() as i64,
            })
            .await?;
        Ok(RequestConnectionResponse {
            auth_url,
            connection_id: row.id.clone(),
            state: state.expose().to_owned(),
            scopes: scopes.to_vec(),
            provider_id: String::new(),
        })
    }
}
