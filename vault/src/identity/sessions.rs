//! Sessions: minting (`POST /v1/sessions`, `POST /v1/token`), verifying, status, revocation,
//! `authorize`, and the scope check of a session's resolve. Every decision is audited.
//!
//! A session token is a signed JWT, but the broker also keeps a row per session: verification
//! checks the signature *and* the row, so revocation (and disabling the agent) takes effect at
//! the next request, before `exp`.

use super::audit::{self, Decision};
use super::obo::VerifiedUser;
use super::signing::SessionClaims;
use super::{SESSION_AUDIENCE, is_valid_scope};
use crate::error::VaultError;
use crate::service::{Caller, Service};
use crate::store::identity::{Agent, SessionRow};
use crate::store::{now_ms, rfc3339};
use nexus_protocol::identity::{
    Actor, AuthorizeResponse, CreateSessionRequest, InternalAuthorize, InternalCreateSession,
    InternalSessionOp, InternalTokenExchange, JWT_TOKEN_TYPE, SessionResponse, SessionStatus,
    TokenExchangeResponse, parse_provider_scope,
};
use nexus_protocol::internal::{InternalResolveRequest, Principal};
use nexus_protocol::{ResolveResponse, ScopeEnforcement, SecretString};
use std::collections::BTreeSet;

/// Most scopes one request may name.
const MAX_SCOPES: usize = 100;

fn unauthorized(message: &str) -> VaultError {
    VaultError::Unauthenticated(message.into())
}

fn scope_not_allowed(scopes: &[String]) -> VaultError {
    VaultError::ScopeNotAllowed(format!(
        "scope not allowed for this agent: {}",
        scopes.join(" ")
    ))
}

fn user_not_authorized(scopes: &[String]) -> VaultError {
    VaultError::UserNotAuthorized(format!(
        "the user is not authorized for: {}",
        scopes.join(" ")
    ))
}

fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.matches('.').count() == 2
}

/// What a verified session token gives: its claims, its row and its agent.
struct LiveSession {
    claims: SessionClaims,
    row: SessionRow,
    agent: Agent,
}

/// The acting agent of a mint, and the scopes it may hand out.
struct Acting {
    agent: Agent,
    declared: Vec<String>,
}

impl Service {
    // ---- minting ---------------------------------------------------------------------------

    /// `POST /v1/sessions`.
    pub async fn create_session(
        &self,
        req: InternalCreateSession,
    ) -> Result<SessionResponse, VaultError> {
        let rid = req.request_id.as_deref();
        let actor = self
            .actor_from_credential(&req.credential, rid, "session.created")
            .await?;
        let user = match &req.request.on_behalf_of {
            Some(obo) => Some(
                self.verify_user(&actor.agent, &obo.subject_token, rid, "session.created")
                    .await?,
            ),
            None => None,
        };
        self.mint(
            actor,
            &req.request,
            user,
            &req.issuer,
            rid,
            "session.created",
        )
        .await
    }

    /// `POST /v1/token` (RFC 8693): a user's token + the agent's → an On-Behalf-Of session.
    pub async fn token_exchange(
        &self,
        req: InternalTokenExchange,
    ) -> Result<TokenExchangeResponse, VaultError> {
        let rid = req.request_id.as_deref();
        let action = "session.token_exchange";
        let actor = if looks_like_jwt(req.actor_token.expose()) {
            let live = self.live_session(&req.actor_token, rid).await?;
            let declared = live.row.scopes.clone();
            Acting {
                agent: live.agent,
                declared,
            }
        } else {
            self.actor_from_credential(&req.actor_token, rid, action)
                .await?
        };
        let user = self
            .verify_user(&actor.agent, &req.subject_token, rid, action)
            .await?;
        let request = CreateSessionRequest {
            scopes: req
                .scope
                .as_deref()
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            ttl_seconds: None,
            on_behalf_of: None,
        };
        let session = self
            .mint(actor, &request, Some(user), &req.issuer, rid, action)
            .await?;
        Ok(TokenExchangeResponse {
            access_token: session.session_token,
            issued_token_type: JWT_TOKEN_TYPE.into(),
            token_type: "Bearer".into(),
            expires_in: session.expires_in,
            scope: session.scopes.join(" "),
            session_id: session.session_id,
        })
    }

    /// The agent of a credential; a disabled agent is refused (and audited).
    async fn actor_from_credential(
        &self,
        credential: &SecretString,
        rid: Option<&str>,
        action: &str,
    ) -> Result<Acting, VaultError> {
        let agent = self
            .store
            .agent_by_credential(credential)
            .await?
            .ok_or_else(|| unauthorized("unknown agent credential"))?;
        if agent.disabled {
            audit::record(
                &self.store,
                Decision {
                    workspace_id: &agent.workspace_id,
                    action,
                    agent_id: Some(&agent.agent_id),
                    allowed: false,
                    reason: "agent_disabled",
                    request_id: rid,
                    ..Default::default()
                },
            )
            .await;
            return Err(unauthorized("this agent is disabled"));
        }
        let declared = agent.scopes.clone();
        Ok(Acting { agent, declared })
    }

    async fn verify_user(
        &self,
        agent: &Agent,
        subject_token: &SecretString,
        rid: Option<&str>,
        action: &str,
    ) -> Result<VerifiedUser, VaultError> {
        match self
            .identity
            .trusted
            .verify(&self.store, &agent.workspace_id, subject_token.expose())
            .await
        {
            Ok(user) => Ok(user),
            Err(e) => {
                let reason = format!("invalid_subject_token: {e}");
                audit::record(
                    &self.store,
                    Decision {
                        workspace_id: &agent.workspace_id,
                        action,
                        agent_id: Some(&agent.agent_id),
                        allowed: false,
                        reason: &reason,
                        request_id: rid,
                        ..Default::default()
                    },
                )
                .await;
                Err(VaultError::InvalidSubjectToken(e.to_string()))
            }
        }
    }

    /// Check the request against the agent (and the user), store the session, sign its token.
    async fn mint(
        &self,
        actor: Acting,
        request: &CreateSessionRequest,
        user: Option<VerifiedUser>,
        issuer: &str,
        rid: Option<&str>,
        action: &str,
    ) -> Result<SessionResponse, VaultError> {
        let agent = &actor.agent;
        if request.scopes.len() > MAX_SCOPES || !request.scopes.iter().all(|s| is_valid_scope(s)) {
            return Err(VaultError::invalid(format!(
                "`scopes` must be at most {MAX_SCOPES} non-empty strings without spaces"
            )));
        }
        let ttl = match request.ttl_seconds {
            Some(0) => return Err(VaultError::invalid("`ttl_seconds` must be at least 1")),
            Some(t) => t.min(agent.max_session_ttl_seconds),
            None => agent.max_session_ttl_seconds,
        };
        let deny = |reason: &'static str, scopes: Vec<String>| {
            let user = user.clone();
            async move {
                audit::record(
                    &self.store,
                    Decision {
                        workspace_id: &agent.workspace_id,
                        action,
                        agent_id: Some(&agent.agent_id),
                        user: user.as_ref().map(|u| u.subject.as_str()),
                        user_scopes: user.as_ref().map(|u| u.permissions.as_slice()),
                        scopes: Some(&scopes),
                        allowed: false,
                        reason,
                        request_id: rid,
                        ..Default::default()
                    },
                )
                .await;
                scopes
            }
        };
        let explicit = !request.scopes.is_empty();
        let requested: Vec<String> = if explicit {
            dedup(&request.scopes)
        } else {
            actor.declared.clone()
        };
        let outside: Vec<String> = requested
            .iter()
            .filter(|s| !actor.declared.contains(s))
            .cloned()
            .collect();
        if !outside.is_empty() {
            let scopes = deny("scope_not_allowed", outside).await;
            return Err(scope_not_allowed(&scopes));
        }
        let granted = match &user {
            None => requested,
            Some(u) => {
                let (held, lacking): (Vec<String>, Vec<String>) = requested
                    .into_iter()
                    .partition(|s| u.permissions.contains(s));
                if (explicit && !lacking.is_empty()) || held.is_empty() {
                    let scopes = deny("user_not_authorized_for_scope", lacking).await;
                    return Err(user_not_authorized(&scopes));
                }
                held
            }
        };

        let session_id = format!("ses_{}", hex::encode(rand::random::<[u8; 16]>()));
        let now = now_ms();
        let ttl_ms = i64::try_from(ttl.saturating_mul(1000)).unwrap_or(i64::MAX);
        let expires_at = now.saturating_add(ttl_ms);
        let subject = user
            .as_ref()
            .map_or_else(|| agent.agent_id.clone(), |u| u.subject.clone());
        let row = SessionRow {
            id: session_id.clone(),
            workspace_id: agent.workspace_id.clone(),
            agent_id: agent.agent_id.clone(),
            subject: subject.clone(),
            user_subject: user.as_ref().map(|u| u.subject.clone()),
            scopes: granted.clone(),
            expires_at,
            revoked_at: None,
        };
        self.store
            .insert_session(&row, user.as_ref().map(|u| u.issuer.as_str()))
            .await?;
        let act = user.as_ref().map(|_| Actor {
            sub: agent.agent_id.clone(),
        });
        let claims = SessionClaims {
            iss: issuer.to_owned(),
            sub: subject.clone(),
            aud: SESSION_AUDIENCE.into(),
            exp: expires_at / 1000,
            iat: now / 1000,
            jti: session_id.clone(),
            client_id: agent.agent_id.clone(),
            scope: granted.join(" "),
            workspace_id: agent.workspace_id.clone(),
            act: act.clone(),
        };
        let token = self.identity.signer.sign(&self.store, &claims).await?;
        audit::record(
            &self.store,
            Decision {
                workspace_id: &agent.workspace_id,
                action,
                agent_id: Some(&agent.agent_id),
                session_id: Some(&session_id),
                user: user.as_ref().map(|u| u.subject.as_str()),
                user_scopes: user.as_ref().map(|u| u.permissions.as_slice()),
                scopes: Some(&granted),
                allowed: true,
                reason: "granted",
                request_id: rid,
                issued_token: Some(&token),
                ..Default::default()
            },
        )
        .await;
        Ok(SessionResponse {
            session_token: SecretString::new(token),
            token_type: "session".into(),
            session_id,
            expires_in: ttl,
            expires_at: rfc3339(expires_at),
            scopes: granted,
            agent_id: agent.agent_id.clone(),
            sub: subject,
            act,
        })
    }

    // ---- verification ----------------------------------------------------------------------

    /// A session token → its principal, when the session is usable now.
    pub async fn verify_session_token(
        &self,
        token: &SecretString,
        rid: Option<&str>,
    ) -> Result<Principal, VaultError> {
        let live = self.live_session(token, rid).await?;
        Ok(Principal::Session {
            workspace_id: live.row.workspace_id,
            session_id: live.row.id,
            agent_id: live.agent.agent_id,
            scopes: live.row.scopes,
            user: live.row.user_subject,
        })
    }

    /// Signature, row, revocation, expiry and agent state. A refusal of a known session is
    /// audited (`session.verify`, denied, with the reason).
    async fn live_session(
        &self,
        token: &SecretString,
        rid: Option<&str>,
    ) -> Result<LiveSession, VaultError> {
        let (claims, row) = self.signed_session(token).await?;
        let agent = self
            .store
            .agent_by_id(&row.agent_id)
            .await?
            .ok_or_else(|| unauthorized("this session's agent no longer exists"))?;
        let refusal = if row.revoked_at.is_some() {
            Some(("session_revoked", "this session has been revoked"))
        } else if row.expires_at <= now_ms() || claims.exp.saturating_mul(1000) <= now_ms() {
            Some(("session_expired", "this session has expired"))
        } else if agent.disabled {
            Some(("agent_disabled", "this session's agent is disabled"))
        } else {
            None
        };
        if let Some((reason, message)) = refusal {
            audit::record(
                &self.store,
                Decision {
                    workspace_id: &row.workspace_id,
                    action: "session.verify",
                    agent_id: Some(&row.agent_id),
                    session_id: Some(&row.id),
                    user: row.user_subject.as_deref(),
                    allowed: false,
                    reason,
                    request_id: rid,
                    ..Default::default()
                },
            )
            .await;
            return Err(unauthorized(message));
        }
        Ok(LiveSession { claims, row, agent })
    }

    /// Signature and row only (status and revocation accept a session in any state).
    async fn signed_session(
        &self,
        token: &SecretString,
    ) -> Result<(SessionClaims, SessionRow), VaultError> {
        let claims = self
            .identity
            .signer
            .verify(&self.store, token.expose())
            .await
            .map_err(|e| unauthorized(&e.to_string()))?;
        let row = self
            .store
            .get_session(&claims.jti)
            .await?
            .filter(|r| r.workspace_id == claims.workspace_id)
            .ok_or_else(|| unauthorized("unknown session"))?;
        Ok((claims, row))
    }

    /// The session `op.session_id`, if `op.credential` is its own token or its agent's
    /// credential; otherwise 404 (a caller learns nothing about other sessions).
    async fn owned_session(&self, op: &InternalSessionOp) -> Result<SessionRow, VaultError> {
        let not_found = || VaultError::not_found("no such session for this caller");
        if looks_like_jwt(op.credential.expose()) {
            let (_, row) = self.signed_session(&op.credential).await?;
            if row.id == op.session_id {
                return Ok(row);
            }
            return Err(not_found());
        }
        let agent = self
            .store
            .agent_by_credential(&op.credential)
            .await?
            .ok_or_else(|| unauthorized("unknown agent credential"))?;
        match self.store.get_session(&op.session_id).await? {
            Some(row) if row.agent_id == agent.agent_id => Ok(row),
            _ => Err(not_found()),
        }
    }

    /// `GET /v1/sessions/{id}`.
    pub async fn session_status(&self, op: InternalSessionOp) -> Result<SessionStatus, VaultError> {
        let row = self.owned_session(&op).await?;
        let status = if row.revoked_at.is_some() {
            "revoked"
        } else if row.expires_at <= now_ms() {
            "expired"
        } else {
            "active"
        };
        Ok(SessionStatus {
            act: row.user_subject.as_ref().map(|_| Actor {
                sub: row.agent_id.clone(),
            }),
            session_id: row.id,
            agent_id: row.agent_id,
            sub: row.subject,
            scopes: row.scopes,
            expires_at: rfc3339(row.expires_at),
            status: status.into(),
        })
    }

    /// `DELETE /v1/sessions/{id}`: idempotent.
    pub async fn revoke_session(&self, op: InternalSessionOp) -> Result<(), VaultError> {
        let row = self.owned_session(&op).await?;
        self.store.revoke_session(&row.id).await?;
        audit::record(
            &self.store,
            Decision {
                workspace_id: &row.workspace_id,
                action: "session.revoked",
                agent_id: Some(&row.agent_id),
                session_id: Some(&row.id),
                user: row.user_subject.as_deref(),
                allowed: true,
                reason: "revoked",
                request_id: op.request_id.as_deref(),
                ..Default::default()
            },
        )
        .await;
        Ok(())
    }

    // ---- checks ----------------------------------------------------------------------------

    /// `POST /v1/authorize`: is `scope` granted to this session? Always audited.
    pub async fn authorize_scope(
        &self,
        req: InternalAuthorize,
    ) -> Result<AuthorizeResponse, VaultError> {
        let rid = req.request_id.as_deref();
        if !is_valid_scope(&req.scope) {
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
        audit::record(
            &self.store,
            Decision {
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
            },
        )
        .await;
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
    /// provider covered by a `provider:<name>[:<scope>]` scope. The credential's `scopes` are
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
        let Some(wanted) = provider_scopes(scopes, &req.provider_name) else {
            audit::record(&self.store, deny("scope_not_allowed")).await;
            return Err(VaultError::ScopeNotAllowed(format!(
                "this session has no `provider:{}` scope",
                req.provider_name
            )));
        };
        let result = self
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
        response.scopes = match wanted {
            ProviderScopes::All => response.scopes,
            ProviderScopes::Only(set) => response
                .scopes
                .into_iter()
                .filter(|s| set.contains(s))
                .collect(),
        };
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
        audit::record(
            &self.store,
            Decision {
                allowed: true,
                reason,
                scopes: Some(&response.scopes),
                issued_token: token.as_deref(),
                ..deny("")
            },
        )
        .await;
        Ok(response)
    }
}

impl Service {
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

/// What a session's scopes allow of one provider.
enum ProviderScopes {
    /// `provider:<name>`: every scope of the connection.
    All,
    /// `provider:<name>:<scope>` entries.
    Only(BTreeSet<String>),
}

fn provider_scopes(scopes: &[String], provider: &str) -> Option<ProviderScopes> {
    let mut only = BTreeSet::new();
    let mut covered = false;
    for scope in scopes {
        match parse_provider_scope(scope) {
            Some((name, None)) if name == provider => return Some(ProviderScopes::All),
            Some((name, Some(s))) if name == provider => {
                covered = true;
                only.insert(s.to_owned());
            }
            _ => {}
        }
    }
    covered.then_some(ProviderScopes::Only(only))
}

fn dedup(scopes: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    scopes
        .iter()
        .filter(|s| seen.insert(s.as_str()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_coverage() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(provider_scopes(&s(&["acme:gliding"]), "gh").is_none());
        assert!(matches!(
            provider_scopes(&s(&["provider:gh"]), "gh"),
            Some(ProviderScopes::All)
        ));
        match provider_scopes(&s(&["provider:gh:repo", "provider:other:x"]), "gh") {
            Some(ProviderScopes::Only(set)) => {
                assert_eq!(set.into_iter().collect::<Vec<_>>(), vec!["repo"])
            }
            _ => panic!("expected a narrowed set"),
        }
        assert!(provider_scopes(&s(&["provider:ghx"]), "gh").is_none());
    }
}
