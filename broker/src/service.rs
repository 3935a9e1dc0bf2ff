//! The broker's operations, independent of HTTP: resolve, connect, import, provider apply,
//! key rotation. The `api` modules parse requests, authenticate, and call these.

use crate::config::BrokerConfig;
use crate::crypto::{Aad, MasterKey};
use crate::error::ApiError;
use crate::oauth::{OAuthClient, OAuthError, pkce_challenge, random_token};
use crate::providers::file::parse_document;
use crate::providers::{Provider, ProviderInput};
use crate::refresh::{Need, RefreshEngine, status_error};
use crate::store::audit::AuditEvent;
use crate::store::connections::{ConnectionInfo, ConnectionRow, NewConnection, TokenSet};
use crate::store::pending::NewPending;
use crate::store::providers::{StoredProvider, UpsertOutcome};
use crate::store::{Store, StoreError, now_ms, rfc3339};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nexus_protocol::{
    CheckConnectionResponse, ConnectionStatus, Credentials, ErrorCode, RequestConnectionInput,
    RequestConnectionResponse, ResolveResponse, SecretString, Strategy,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// How long a reauthorization link stays valid.
const REAUTH_LINK_LIFETIME_MS: i64 = 7 * 24 * 3600 * 1000;

/// Who asked, for the audit log.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: String,
    pub request_id: Option<String>,
}

impl Caller {
    pub fn admin(request_id: Option<String>) -> Self {
        Self {
            principal: "admin".into(),
            request_id,
        }
    }
}

pub struct Service {
    pub config: BrokerConfig,
    pub store: Store,
    pub oauth: Arc<OAuthClient>,
    pub refresh: RefreshEngine,
}

/// Body of `POST /admin/v1/workspaces/{ws}/connections/import`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ImportRequest {
    pub provider_name: String,
    /// `api_key`, `refresh_token` or `credentials`.
    pub kind: String,
    /// A string, or for `credentials` an object of credential fields.
    #[schema(value_type = Object)]
    pub secret: Value,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// Result of `POST /admin/v1/providers/apply`.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct DriftReport {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    pub pruned: Vec<String>,
    pub dry_run: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RotateResponse {
    pub active_key_id: String,
    pub reencrypted: u64,
}

/// Where the callback sends the browser, or the page it shows when there is no `return_url`.
pub enum CallbackOutcome {
    Redirect(String),
    Page { ok: bool, message: String },
}

/// A sealed, self-contained reauthorization link payload.
#[derive(Serialize, Deserialize)]
struct ReauthLink {
    w: String,
    c: String,
    e: i64,
}

fn reauth_link_aad() -> Aad<'static> {
    Aad {
        table: "reauth_links",
        workspace: "-",
        row: "-",
        column: "token",
    }
}

impl Service {
    // ---- resolve ------------------------------------------------------------------------

    /// `(workspace, provider)` → a credential and its strategy.
    pub async fn resolve(
        &self,
        workspace_id: &str,
        provider_name: &str,
        min_ttl: Option<u64>,
        force: bool,
        caller: &Caller,
    ) -> Result<ResolveResponse, ApiError> {
        let result = async {
            let row = self
                .store
                .find_connection_for(workspace_id, provider_name)
                .await?
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::ConnectionNotFound,
                        format!("no connection for provider `{provider_name}` in this workspace"),
                    )
                })?;
            let id = row.id.clone();
            self.resolve_row(row, min_ttl, force)
                .await
                .map_err(|e| self.with_reauth_url_for(e, workspace_id, &id))
        }
        .await;
        self.audit_issue(workspace_id, provider_name, caller, &result)
            .await;
        result
    }

    /// Token of one connection by id (`GET …/{id}/token`, or `POST …/{id}/refresh` with `force`).
    pub async fn token_by_id(
        &self,
        workspace_id: &str,
        id: &str,
        force: bool,
        caller: &Caller,
    ) -> Result<ResolveResponse, ApiError> {
        let result = async {
            let row = self
                .store
                .get_connection(workspace_id, id)
                .await?
                .ok_or_else(connection_not_found)?;
            self.resolve_row(row, None, force).await
        }
        .await;
        self.audit_issue(workspace_id, id, caller, &result).await;
        result.map_err(|e| self.with_reauth_url_for(e, workspace_id, id))
    }

    async fn resolve_row(
        &self,
        row: ConnectionRow,
        min_ttl: Option<u64>,
        force: bool,
    ) -> Result<ResolveResponse, ApiError> {
        if row.status != ConnectionStatus::Active {
            return Err(status_error(&row));
        }
        let stored = self
            .store
            .get_provider(&row.provider_name)
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::ProviderNotFound,
                    format!("provider `{}` does not exist", row.provider_name),
                )
            })?;
        let provider = stored.provider;
        if !provider.is_oauth2() {
            return self.static_response(&row, &provider);
        }
        let need = if force {
            Need::Force
        } else {
            self.refresh.need_for(min_ttl)
        };
        let row = self.refresh.ensure_fresh(row, need).await?;
        self.oauth_response(&row, &provider)
    }

    fn oauth_response(
        &self,
        row: &ConnectionRow,
        provider: &Provider,
    ) -> Result<ResolveResponse, ApiError> {
        let token = self
            .store
            .open_access_token(row)?
            .ok_or_else(|| ApiError::upstream("no access token is available"))?;
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
            api_base_url: provider.api_base_url.clone(),
            scope_enforcement: None,
            connection_id: Some(row.id.clone()),
        })
    }

    fn static_response(
        &self,
        row: &ConnectionRow,
        provider: &Provider,
    ) -> Result<ResolveResponse, ApiError> {
        let credentials = self.store.open_credentials(row)?.ok_or_else(|| {
            ApiError::new(
                ErrorCode::ConnectionNotActive,
                "the connection has no credentials yet",
            )
        })?;
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
            api_base_url: provider.api_base_url.clone(),
            scope_enforcement: None,
            connection_id: Some(row.id.clone()),
        })
    }

    async fn audit_issue(
        &self,
        workspace_id: &str,
        target: &str,
        caller: &Caller,
        result: &Result<ResolveResponse, ApiError>,
    ) {
        let outcome = match result {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.code.to_string(),
        };
        self.store
            .audit(AuditEvent {
                workspace_id: Some(workspace_id),
                action: "token.issued",
                target: Some(target),
                principal: &caller.principal,
                outcome: &outcome,
                request_id: caller.request_id.as_deref(),
                detail: None,
            })
            .await;
    }

    pub async fn check_connection(
        &self,
        workspace_id: &str,
        id: &str,
    ) -> Result<CheckConnectionResponse, ApiError> {
        let row = self
            .store
            .get_connection(workspace_id, id)
            .await?
            .ok_or_else(connection_not_found)?;
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

    fn with_reauth_url_for(&self, mut e: ApiError, workspace_id: &str, id: &str) -> ApiError {
        if e.code == ErrorCode::ReauthRequired && e.reauth_url.is_none() {
            e.reauth_url = Some(self.reauth_url(workspace_id, id));
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
        let token = URL_SAFE_NO_PAD.encode(self.store.vault().seal(&json, &reauth_link_aad()));
        format!(
            "{}/oauth/reauthorize/{token}",
            self.config.public_url.trim_end_matches('/')
        )
    }

    /// Open a reauthorization link and start a connect flow for its connection.
    pub async fn start_reauthorize(&self, token: &str) -> Result<String, ApiError> {
        let invalid = || ApiError::invalid("this re-authorization link is invalid or expired");
        let sealed = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
        let json = self
            .store
            .vault()
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

    // ---- connect flow -----------------------------------------------------------------------

    async fn provider(&self, name: &str) -> Result<Provider, ApiError> {
        Ok(self
            .store
            .get_provider(name)
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::ProviderNotFound,
                    format!("no provider named `{name}`"),
                )
            })?
            .provider)
    }

    /// Start a connect flow: a `pending` connection plus a pending authorization. For OAuth the
    /// URL is the provider's authorize URL; for static credentials it is the broker's form.
    pub async fn request_connection(
        &self,
        workspace_id: &str,
        input: &RequestConnectionInput,
        caller: &Caller,
    ) -> Result<RequestConnectionResponse, ApiError> {
        self.store.require_workspace(workspace_id).await?;
        if let Some(url) = &input.return_url {
            check_return_url(url)?;
        }
        let stored = self
            .store
            .get_provider(&input.provider_name)
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::ProviderNotFound,
                    format!("no provider named `{}`", input.provider_name),
                )
            })?;
        let scopes = if input.scopes.is_empty() {
            stored.provider.scopes.clone()
        } else {
            input.scopes.clone()
        };
        let user_id = Some(input.user_id.as_str()).filter(|u| !u.is_empty());
        let row = self
            .store
            .insert_connection(NewConnection {
                workspace_id,
                provider_name: &stored.provider.name,
                user_id,
                status: ConnectionStatus::Pending,
                scopes: &scopes,
                tokens: None,
                credentials: None,
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
            .audit(AuditEvent {
                workspace_id: Some(workspace_id),
                action: "connection.requested",
                target: Some(&row.id),
                principal: &caller.principal,
                outcome: "ok",
                request_id: caller.request_id.as_deref(),
                detail: Some(&stored.provider.name),
            })
            .await;
        Ok(response)
    }

    async fn start_flow(
        &self,
        row: &ConnectionRow,
        provider: &Provider,
        scopes: &[String],
        return_url: Option<&str>,
    ) -> Result<RequestConnectionResponse, ApiError> {
        let state = SecretString::new(random_token(32));
        let redirect_uri = self.config.redirect_uri();
        let (auth_url, verifier, nonce) = if provider.is_oauth2() {
            let endpoints = self.oauth.endpoints(provider).await.map_err(oauth_to_api)?;
            let verifier = provider.pkce.then(|| SecretString::new(random_token(48)));
            let nonce = provider.wants_openid(scopes).then(|| random_token(16));
            let mut url = url::Url::parse(&endpoints.authorize)
                .map_err(|_| ApiError::upstream("provider authorize URL is invalid"))?;
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
            let url = format!(
                "{}/connect/{}",
                self.config.public_url.trim_end_matches('/'),
                state.expose()
            );
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
                lifetime_ms: self.config.pending_lifetime.as_millis() as i64,
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
        tx.commit().await?;
        Ok(())
    }

    /// The fields the static-credential form asks for.
    pub async fn form_fields(&self, state: &str) -> Result<(String, Vec<String>), ApiError> {
        let (_, provider_name, expired) = self
            .store
            .peek_pending(state)
            .await?
            .ok_or_else(|| ApiError::not_found("this link is unknown or was already used"))?;
        if expired {
            return Err(ApiError::invalid("this link has expired"));
        }
        let provider = self.provider(&provider_name).await?;
        let strategy = Strategy::from_spec(&provider.strategy)
            .map_err(|e| ApiError::invalid(e.to_string()))?;
        Ok((
            provider.display_name.unwrap_or(provider.name),
            strategy
                .required_fields()
                .iter()
                .map(|s| s.to_string())
                .collect(),
        ))
    }

    /// Store what the form captured.
    pub async fn submit_form(
        &self,
        state: &str,
        fields: &std::collections::HashMap<String, String>,
    ) -> Result<CallbackOutcome, ApiError> {
        let (_, required) = self.form_fields(state).await?;
        let mut credentials = Credentials::default();
        for name in &required {
            match fields.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
                Some(v) => credentials.insert(name.clone(), v),
                None => return Err(ApiError::invalid(format!("field `{name}` is required"))),
            }
        }
        let pending = self
            .store
            .take_pending(state)
            .await?
            .ok_or_else(|| ApiError::not_found("this link was already used"))?;
        self.store
            .set_credentials(&pending.workspace_id, &pending.connection_id, &credentials)
            .await?;
        self.store
            .audit(AuditEvent {
                workspace_id: Some(&pending.workspace_id),
                action: "connection.credentials_captured",
                target: Some(&pending.connection_id),
                principal: "browser",
                outcome: "ok",
                request_id: None,
                detail: Some(&pending.provider_name),
            })
            .await;
        Ok(
            match pending.return_url.and_then(|u| url::Url::parse(&u).ok()) {
                Some(mut url) => {
                    url.query_pairs_mut()
                        .append_pair("status", "success")
                        .append_pair("connection_id", &pending.connection_id);
                    CallbackOutcome::Redirect(url.to_string())
                }
                None => CallbackOutcome::Page {
                    ok: true,
                    message: "Saved. You can close this window.".into(),
                },
            },
        )
    }

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
            other => {
                return Err(ApiError::invalid(format!(
                    "unknown import kind `{other}` (api_key, refresh_token, credentials)"
                )));
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

/// Query of `GET /oauth/callback`.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub iss: Option<String>,
}

fn connection_not_found() -> ApiError {
    ApiError::new(ErrorCode::ConnectionNotFound, "connection not found")
}

fn oauth_to_api(e: OAuthError) -> ApiError {
    ApiError::upstream(e.to_string())
}

/// `bearer` → `Bearer` (providers disagree on case; clients compare exactly).
fn normalize_token_type(t: String) -> String {
    if t.eq_ignore_ascii_case("bearer") {
        "Bearer".into()
    } else {
        t
    }
}

fn check_return_url(url: &str) -> Result<(), ApiError> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(ApiError::invalid(
            "`return_url` must be an absolute http(s) URL",
        )),
    }
}

fn secret_string(v: &Value) -> Result<SecretString, ApiError> {
    match v {
        Value::String(s) if !s.is_empty() => Ok(SecretString::new(s.clone())),
        _ => Err(ApiError::invalid(
            "`secret` must be a non-empty string for this kind",
        )),
    }
}

fn credentials_object(v: &Value) -> Result<Credentials, ApiError> {
    let Value::Object(map) = v else {
        return Err(ApiError::invalid(
            "`secret` must be an object of credential fields for kind `credentials`",
        ));
    };
    let mut c = Credentials::default();
    for (k, v) in map {
        match v {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => c.insert(k.clone(), v.clone()),
            _ => {
                return Err(ApiError::invalid(format!(
                    "credential field `{k}` must be a string"
                )));
            }
        }
    }
    Ok(c)
}
