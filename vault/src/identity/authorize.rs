//! Checks on a live session: `POST /v1/authorize` (is this scope granted?) and a session's
//! resolve (is the provider covered, which of the connection's scopes may it see, can the
//! token itself be narrowed?). Always audited.

use super::IdentityService;
use super::audit::{self, Decision};
use super::refusals::{scope_not_allowed, user_not_authorized};
use super::scopes::{self, ProviderScopes};
use crate::caller::Caller;
use crate::error::VaultError;
use crate::store::{now_ms, rfc3339};
use nexus_protocol::Scope;
use nexus_protocol::identity::{AuthorizeResponse, InternalAuthorize};
use nexus_protocol::internal::{InternalResolveRequest, Principal};
use nexus_protocol::{ResolveResponse, ScopeEnforcement};

impl IdentityService {
    /// `POST /v1/authorize`: is `scope` granted to this session? Always audited.
    pub async fn authorize_scope(
        &self,
        req: InternalAuthorize,
    ) -> Result<AuthorizeResponse, VaultError> {
        let rid = req.request_id.as_deref();
        if !Scope::is_valid(&req.scope) {
            return Err(VaultError::invalid(
                "`scope` must be a non-empty string without spaces",
            ));
        }
        let live = self.live_session(&req.token, rid).await?;
        let granted = live.row.scopes.contains(&req.scope);
        let (reason, error) = if granted {
            ("granted", None)
        } else if live.row.user_subject.is_some() && live.agent.scopes.contains(&req.scope) {
            // The agent may, but the user it acts for may not.
            (
                "user_not_authorized_for_scope",
                Some(user_not_authorized(std::slice::from_ref(&req.scope))),
            )
        } else {
            (
                "scope_not_allowed",
                Some(scope_not_allowed(std::slice::from_ref(&req.scope))),
            )
        };
        let decision = Decision {
            workspace_id: &live.row.workspace_id,
            action: "session.authorize",
            target: Some(&req.scope),
            agent_id: Some(&live.row.agent_id),
            session_id: Some(&live.row.id),
            user: live.row.user_subject.as_deref(),
            scopes: Some(&live.row.scopes),
            allowed: granted,
            reason,
            request_id: rid,
            ..Default::default()
        };
        // An allowed decision is answered only once recorded; a refusal stays a refusal.
        if granted {
            audit::record_required(&self.store, decision).await?;
        } else {
            audit::record(&self.store, decision).await;
        }
        match error {
            Some(e) => Err(e),
            None => Ok(AuthorizeResponse {
                allowed: true,
                scope: req.scope,
                session_id: live.claims.jti,
            }),
        }
    }

    /// `GET /v1/resolve` for a session principal: the workspace must be the session's and the
    /// provider covered by a `provider:<name>[:<scope>]` scope (for a proxied call to a provider
    /// with `proxy.rules`, the rules decide instead: `proxy_rules`). The credential's `scopes` are
    /// the session's provider scopes ∩ the connection's; enforcement is `advisory` (the
    /// provider token itself is not narrowed).
    pub async fn resolve_for_session(
        &self,
        req: &InternalResolveRequest,
        caller: &Caller,
    ) -> Result<ResolveResponse, VaultError> {
        let Principal::Session {
            workspace_id,
            session_id,
            agent_id,
            scopes,
            user,
        } = &req.principal
        else {
            return Err(VaultError::Internal);
        };
        let rid = caller.request_id.as_deref();
        let deny = |reason: &'static str| Decision {
            workspace_id,
            action: "session.resolve",
            target: Some(&req.provider_name),
            agent_id: Some(agent_id),
            session_id: Some(session_id),
            user: user.as_deref(),
            scopes: Some(scopes),
            allowed: false,
            reason,
            request_id: rid,
            ..Default::default()
        };
        if workspace_id != &req.workspace_id {
            audit::record(&self.store, deny("cross_workspace")).await;
            return Err(VaultError::Forbidden(
                "this session does not belong to that workspace".into(),
            ));
        }
        if let Some(call) = &req.proxy_call
            && let Some(rules) = self.proxy_rules_of(&req.provider_name).await?
        {
            return self.resolve_under_rules(req, caller, call, &rules).await;
        }
        let Some(wanted) = scopes::provider_scopes(scopes, &req.provider_name) else {
            audit::record(&self.store, deny("scope_not_allowed")).await;
            return Err(VaultError::ScopeNotAllowed(format!(
                "this session has no `provider:{}` scope",
                req.provider_name
            )));
        };
        let result = self
            .connections
            .resolve(
                workspace_id,
                &req.provider_name,
                req.min_ttl,
                req.force_refresh,
                caller,
            )
            .await;
        let mut response = match result {
            Ok(r) => r,
            Err(e) => {
                let reason = e.code().to_string();
                audit::record(
                    &self.store,
                    Decision {
                        reason: &reason,
                        ..deny("")
                    },
                )
                .await;
                return Err(e);
            }
        };
        let narrowed_set = matches!(wanted, ProviderScopes::Only(_));
        response.scopes = scopes::narrow(response.scopes, &wanted);
        if narrowed_set && response.scopes.is_empty() {
            audit::record(&self.store, deny("no_common_scope")).await;
            return Err(VaultError::ScopeNotAllowed("the session's scopes for this provider and the connection's have nothing in common".into(),
            ));
        }
        let enforcement = self
            .narrow_if_supported(
                &mut response,
                workspace_id,
                &req.provider_name,
                narrowed_set,
            )
            .await?;
        response.scope_enforcement = Some(enforcement);
        let reason = match enforcement {
            ScopeEnforcement::Token => "token",
            ScopeEnforcement::Advisory => "advisory",
        };
        let token = response
            .access_token
            .as_ref()
            .map(|t| t.expose().to_owned());
        audit::record_required(
            &self.store,
            Decision {
                allowed: true,
                reason,
                scopes: Some(&response.scopes),
                issued_token: token.as_deref(),
                ..deny("")
            },
        )
        .await?;
        Ok(response)
    }

    /// Replace the credential with one minted for `response.scopes` when the provider narrows
    /// on refresh; `Token` then, `Advisory` otherwise. A session allowed every scope of the
    /// provider (`provider:<name>`) needs no narrowing: the connection's token is exactly that.
    async fn narrow_if_supported(
        &self,
        response: &mut ResolveResponse,
        workspace_id: &str,
        provider_name: &str,
        narrowed_set: bool,
    ) -> Result<ScopeEnforcement, VaultError> {
        let provider = match self.store.get_provider(provider_name).await? {
            Some(p) if p.provider.is_oauth2() && p.provider.supports_scope_narrowing => p.provider,
            _ => return Ok(ScopeEnforcement::Advisory),
        };
        let Some(connection_id) = response.connection_id.clone() else {
            return Ok(ScopeEnforcement::Advisory);
        };
        if !narrowed_set {
            return Ok(ScopeEnforcement::Token);
        }
        let mut scopes = response.scopes.clone();
        scopes.sort();
        let Some(token) = self
            .connections
            .narrowed_token(workspace_id, &connection_id, &provider, &scopes)
            .await?
        else {
            return Ok(ScopeEnforcement::Advisory);
        };
        response
            .credentials
            .insert("access_token", token.access_token.expose());
        if let Some(t) = &token.token_type {
            response.credentials.insert("token_type", t.clone());
        }
        response.expires_at = token.expires_at.map(rfc3339);
        response.expires_in = token.expires_at.map(|e| ((e - now_ms()) / 1000).max(0));
        match &response.expires_at {
            Some(at) => response.credentials.insert("expires_at", at.clone()),
            None => response
                .credentials
                .insert("expires_at", serde_json::Value::Null),
        }
        response.access_token = Some(token.access_token);
        Ok(ScopeEnforcement::Token)
    }
}
