//! A session's proxied call to a provider that declares `proxy.rules` (design 16 §9).
//!
//! The rules replace the `provider:<name>` check for proxied calls: the call passes only if a
//! rule of a scope the session holds allows its method, host and path
//! ([`nexus_protocol::proxy_rules::authorize`], the one matcher), else `insufficient_scope`.
//! `provider:<name>` alone does not bypass declared rules. The credential is the connection's,
//! not narrowed: it stays at the gateway, which injects it into this one call. A session holding
//! only rule scopes still gets `scope_not_allowed` from `/v1/resolve` (the raw token is never
//! handed out for them). API keys are not subject to rules (a workspace key is workspace-wide).

use super::IdentityService;
use super::audit::{self, Decision};
use crate::caller::Caller;
use crate::error::VaultError;
use nexus_protocol::ResolveResponse;
use nexus_protocol::internal::{InternalResolveRequest, Principal};
use nexus_protocol::proxy_rules::{ProxyCall, Rule, authorize, compile};

impl IdentityService {
    /// The provider's proxy rules, parsed, when it declares any.
    pub(super) async fn proxy_rules_of(
        &self,
        provider_name: &str,
    ) -> Result<Option<Vec<Rule>>, VaultError> {
        let written = self
            .store
            .get_provider(provider_name)
            .await?
            .and_then(|p| p.provider.proxy)
            .map(|proxy| proxy.rules)
            .filter(|rules| !rules.is_empty());
        let Some(written) = written else {
            return Ok(None);
        };
        // Checked when the provider was written; a stored rule that no longer parses (a
        // stricter grammar) fails closed.
        compile(&written).map(Some).map_err(|err| {
            tracing::error!(provider = provider_name, error = %err, "stored proxy rule does not parse");
            VaultError::Internal
        })
    }

    /// Resolve for a proxied call under `rules` (the workspace is already checked). Audited as
    /// `session.proxy`, allowed or denied.
    pub(super) async fn resolve_under_rules(
        &self,
        req: &InternalResolveRequest,
        caller: &Caller,
        call: &ProxyCall,
        rules: &[Rule],
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
        let base = Decision {
            workspace_id,
            action: "session.proxy",
            target: Some(&req.provider_name),
            agent_id: Some(agent_id),
            session_id: Some(session_id),
            user: user.as_deref(),
            scopes: Some(scopes),
            request_id: caller.request_id.as_deref(),
            ..Default::default()
        };
        let matched = match authorize(rules, scopes, call) {
            Ok((scope, _pattern)) => scope.to_owned(),
            Err(denied) => {
                audit::record(
                    &self.store,
                    Decision {
                        reason: "insufficient_scope",
                        ..base.clone()
                    },
                )
                .await;
                let needed = if denied.needed.is_empty() {
                    "no rule of this provider allows it".to_owned()
                } else {
                    format!("it needs one of: {}", denied.needed.join(", "))
                };
                return Err(VaultError::InsufficientScope(format!(
                    "this session's scopes allow no {} call to this path of `{}`; {needed}",
                    call.method, req.provider_name
                )));
            }
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
        let response = match result {
            Ok(response) => response,
            Err(err) => {
                let reason = err.code().to_string();
                audit::record(
                    &self.store,
                    Decision {
                        reason: &reason,
                        ..base.clone()
                    },
                )
                .await;
                return Err(err);
            }
        };
        let token = response.access_token.as_ref().map(|t| t.expose());
        let matched = [matched];
        audit::record(
            &self.store,
            Decision {
                allowed: true,
                reason: "proxy_rule",
                scopes: Some(&matched),
                issued_token: token,
                ..base
            },
        )
        .await;
        Ok(response)
    }
}
