//! The OAuth callback of the connect flow: state and `iss` checks, the code exchange, and the
//! connection's first tokens.

use crate::connections::{CallbackOutcome, CallbackQuery, ConnectionService};
use crate::store::StoreError;
use crate::store::audit::AuditEvent;
use crate::store::connections::TokenSet;
use nexus_protocol::ConnectionStatus;

impl ConnectionService {
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
        crate::connections::health::record_activation(&self.store, &mut tx, &row).await?;
        tx.commit().await?;
        Ok(())
    }
}
