//! The connect flow: start (OAuth authorize URL or the static-credential form), the OAuth
//! callback, and the form submission.

use super::{CallbackOutcome, CallbackQuery, ConnectionService, check_return_url, oauth_failure};
use crate::caller::Caller;
use crate::error::VaultError;
use crate::oauth::{pkce_challenge, random_token};
use crate::providers::Provider;
use crate::store::StoreError;
use crate::store::audit::AuditEvent;
use crate::store::connections::{ConnectionRow, NewConnection, TokenSet};
use crate::store::pending::NewPending;
use nexus_protocol::{
    ConnectionStatus, Credentials, RequestConnectionInput, RequestConnectionResponse, SecretString,
    Strategy,
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

    /// The OAuth redirect target. Every failure ends in a redirect with an error code (or a
    /// short page when there is nowhere to redirect), never in a stack trace.
    pub async fn oauth_callback(&self, q: &CallbackQuery) -> CallbackOutcome {
        let Some(state) = q.state.as_deref().filter(|s| !s.is_empty()) else {
            return CallbackOutcome::Page {
                ok: false,
                message: "The request has no state parameter.".into(),
            };
        };
        if q.iss.as_deref().is_none_or(str::is_empty) && self.iss_required(state).await {
            // RFC 9207 §2.4: this provider always sends `iss`, so a response without it did not
            // come from it (or was tampered with). Refused before the one-time state is taken,
            // so the connection stays pending and the genuine response can still complete it.
            tracing::warn!("callback without `iss` from a provider that always sends it");
            return CallbackOutcome::Page {
                ok: false,
                message: "The authorization response has no `iss` parameter, which this \
                          provider always sends (missing_iss); nothing was changed."
                    .into(),
            };
        }
        let pending = match self.store.take_pending(state).await {
            Ok(Some(p)) => p,
            Ok(None) => {
                return CallbackOutcome::Page {
                    ok: false,
                    message: "This authorization link is unknown or was already used.".into(),
                };
            }
            Err(e) => {
                tracing::error!(error = %e, "callback: reading pending authorization failed");
                return CallbackOutcome::Page {
                    ok: false,
                    message: "The broker could not complete the authorization.".into(),
                };
            }
        };
        let result = self.complete_callback(q, &pending).await;
        let (status, error) = match &result {
            Ok(()) => ("success", None),
            Err(code) => ("error", Some(*code)),
        };
        if let Some(code) = error {
            // A flow that started a new connection leaves it `failed`; a re-authorization of an
            // existing connection leaves its status as it was.
            if let Ok(Some(row)) = self
                .store
                .get_connection(&pending.workspace_id, &pending.connection_id)
                .await
                && row.status == ConnectionStatus::Pending
            {
                let _ = self
                    .store
                    .set_connection_status(
                        &row.workspace_id,
                        &row.id,
                        ConnectionStatus::Failed,
                        Some(code),
                    )
                    .await;
            }
        }
        // Best effort: this page hands nothing out (every later resolve is recorded).
        self.store
            .audit(AuditEvent {
                workspace_id: Some(&pending.workspace_id),
                action: "connection.authorized",
                target: Some(&pending.connection_id),
                principal: "browser",
                outcome: error.unwrap_or("ok"),
                request_id: None,
                detail: Some(&pending.provider_name),
            })
            .await;
        match pending.return_url {
            Some(return_url) => {
                let mut url = match url::Url::parse(&return_url) {
                    Ok(u) => u,
                    Err(_) => {
                        return CallbackOutcome::Page {
                            ok: error.is_none(),
                            message: status.into(),
                        };
                    }
                };
                {
                    let mut qp = url.query_pairs_mut();
                    qp.append_pair("status", status);
                    qp.append_pair("connection_id", &pending.connection_id);
                    if let Some(code) = error {
                        qp.append_pair("error", code);
                    }
                }
                CallbackOutcome::Redirect(url.to_string())
            }
            None => CallbackOutcome::Page {
                ok: error.is_none(),
                message: match error {
                    None => "Connected. You can close this window.".into(),
                    Some(code) => format!("The connection failed ({code})."),
                },
            },
        }
    }

    /// True when the provider of the pending authorization `state` advertises
    /// `authorization_response_iss_parameter_supported`. An unknown state or a provider that
    /// cannot be read is left to the usual checks (which refuse it with their own code).
    async fn iss_required(&self, state: &str) -> bool {
        let Ok(Some((_, provider_name, _))) = self.store.peek_pending(state).await else {
            return false;
        };
        let Ok(provider) = self.provider(&provider_name).await else {
            return false;
        };
        self.oauth
            .endpoints(&provider)
            .await
            .is_ok_and(|e| e.iss_required)
    }

    /// Returns a short error code on failure (used in the redirect and the audit record).
    async fn complete_callback(
        &self,
        q: &CallbackQuery,
        pending: &crate::store::pending::Pending,
    ) -> Result<(), &'static str> {
        if pending.expired {
            return Err("expired_state");
        }
        if let Some(err) = &q.error {
            return Err(if err == "access_denied" {
                "access_denied"
            } else {
                "authorization_failed"
            });
        }
        let provider = self
            .provider(&pending.provider_name)
            .await
            .map_err(|_| "provider_not_found")?;
        let endpoints = self
            .oauth
            .endpoints(&provider)
            .await
            .map_err(|_| "upstream_unavailable")?;
        // RFC 9207: when the provider names itself, it must be the issuer we talked to.
        if let (Some(iss), Some(expected)) = (&q.iss, &endpoints.issuer)
            && iss.trim_end_matches('/') != expected.trim_end_matches('/')
        {
            return Err("issuer_mismatch");
        }
        let code = q
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or("missing_code")?;
        let secret = self
            .store
            .provider_client_secret(&provider.name)
            .await
            .map_err(|_| "internal_error")?;
        let response = self
            .oauth
            .exchange_code(
                &provider,
                secret.as_ref(),
                code,
                pending.code_verifier.as_ref(),
                &pending.redirect_uri,
            )
            .await
            .map_err(|e| {
                tracing::warn!(provider = %provider.name, error = %e, "code exchange failed");
                "token_exchange_failed"
            })?;
        if let Some(nonce) = &pending.nonce {
            let id_token = response.id_token.as_deref().ok_or("missing_id_token")?;
            self.oauth
                .validate_id_token(&provider, id_token, nonce)
                .await
                .map_err(|e| {
                    tracing::warn!(provider = %provider.name, error = %e, "id_token rejected");
                    "invalid_id_token"
                })?;
        }
        let mut tokens = response.tokens;
        if tokens.scopes.is_none() {
            tokens.scopes = Some(pending.scopes.clone());
        }
        self.write_tokens_now(&pending.workspace_id, &pending.connection_id, &tokens)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "storing tokens failed");
                "internal_error"
            })
    }

    /// Write tokens under the refresh lock (so a concurrent refresh cannot interleave).
    async fn write_tokens_now(
        &self,
        workspace_id: &str,
        id: &str,
        tokens: &TokenSet,
    ) -> Result<(), StoreError> {
        let mut tx = self.store.begin_locking().await?;
        let row = self
            .store
            .lock_connection(&mut tx, workspace_id, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("connection `{id}`")))?;
        self.store.write_tokens(&mut tx, &row, tokens).await?;
        super::health::record_activation(&self.store, &mut tx, &row).await?;
        tx.commit().await?;
        Ok(())
    }

    /// What the static-credential step asks for: the provider and the credential fields its
    /// strategy reads (the broker's form and `GET /v1/capture-schema` show the same list).
    pub async fn capture_form(&self, state: &str) -> Result<CaptureForm, VaultError> {
        let (_, provider_name, expired) = self
            .store
            .peek_pending(state)
            .await?
            .ok_or_else(bad_state)?;
        if expired {
            return Err(bad_state());
        }
        let provider = self.provider(&provider_name).await?;
        let strategy = Strategy::from_spec(&provider.strategy)
            .map_err(|e| VaultError::invalid(e.to_string()))?;
        let fields = strategy
            .required_fields()
            .iter()
            .map(|s| s.to_string())
            .collect();
        Ok(CaptureForm {
            display_name: provider
                .display_name
                .unwrap_or_else(|| provider.name.clone()),
            provider_name: provider.name,
            fields,
        })
    }

    /// Store what the static-credential step captured (the broker's form and
    /// `POST /v1/capture-credential`): every required field present, none with a control
    /// character, the one-time state used up, the connection active. Values are never echoed.
    pub async fn capture_credentials(
        &self,
        state: &str,
        fields: &std::collections::HashMap<String, String>,
    ) -> Result<Captured, VaultError> {
        let form = self.capture_form(state).await?;
        let mut credentials = Credentials::default();
        for name in &form.fields {
            match fields.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
                Some(v) => {
                    super::check_storable(name, v)?;
                    credentials.insert(name.clone(), v);
                }
                None => return Err(VaultError::invalid(format!("field `{name}` is required"))),
            }
        }
        let pending = self
            .store
            .take_pending(state)
            .await?
            .ok_or_else(bad_state)?;
        self.store_static_credentials(&pending.workspace_id, &pending.connection_id, &credentials)
            .await?;
        self.store
            .audit_required(AuditEvent {
                workspace_id: Some(&pending.workspace_id),
                action: "connection.credentials_captured",
                target: Some(&pending.connection_id),
                principal: "browser",
                outcome: "ok",
                request_id: None,
                detail: Some(&pending.provider_name),
            })
            .await?;
        let redirect_url = pending
            .return_url
            .and_then(|u| url::Url::parse(&u).ok())
            .map(|mut url| {
                url.query_pairs_mut()
                    .append_pair("status", "success")
                    .append_pair("connection_id", &pending.connection_id);
                url.to_string()
            });
        Ok(Captured {
            connection_id: pending.connection_id,
            redirect_url,
        })
    }

    /// Store static credentials on an existing connection and make it active, with the health
    /// change and its event in the same transaction. Shared by the capture form (`/connect`,
    /// `capture-credential`) and the connect page's reconnect.
    pub(super) async fn store_static_credentials(
        &self,
        workspace_id: &str,
        id: &str,
        credentials: &Credentials,
    ) -> Result<(), VaultError> {
        let mut tx = self.store.begin_locking().await?;
        let before = self
            .store
            .lock_connection(&mut tx, workspace_id, id)
            .await?
            .ok_or_else(super::connection_not_found)?;
        self.store
            .set_credentials(&mut tx, workspace_id, id, credentials)
            .await?;
        super::health::record_activation(&self.store, &mut tx, &before).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}

/// See [`ConnectionService::capture_form`].
pub struct CaptureForm {
    pub provider_name: String,
    /// What a person reads: the display name, else the name.
    pub display_name: String,
    pub fields: Vec<String>,
}

/// See [`ConnectionService::capture_credentials`].
pub struct Captured {
    pub connection_id: String,
    /// The caller's `return_url` with `status=success&connection_id=…`, if it gave one.
    pub redirect_url: Option<String>,
}

/// One answer for every state that cannot be used (unknown, already used, expired): the state
/// is the credential here, so which of the three it was is not said.
fn bad_state() -> VaultError {
    VaultError::invalid("this link is unknown, already used or expired")
}
