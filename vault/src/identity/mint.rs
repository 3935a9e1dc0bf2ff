//! Minting sessions: `POST /v1/sessions` (an agent credential, optionally acting for a user)
//! and `POST /v1/token` (RFC 8693 On-Behalf-Of exchange). The scopes granted are decided by
//! [`super::scopes::grant`]; every decision is audited.

use super::audit::{self, Decision};
use super::obo::VerifiedUser;
use super::refusals::{scope_not_allowed, unauthorized, user_not_authorized};
use super::scopes::{self, Grant};
use super::signing::SessionClaims;
use super::{IdentityService, SESSION_AUDIENCE};
use crate::error::VaultError;
use crate::store::identity::{Agent, SessionRow};
use crate::store::{now_ms, rfc3339};
use nexus_protocol::Scope;
use nexus_protocol::SecretString;
use nexus_protocol::identity::looks_like_jwt;
use nexus_protocol::identity::{
    Actor, CreateSessionRequest, InternalCreateSession, InternalTokenExchange, JWT_TOKEN_TYPE,
    SessionResponse, TokenExchangeResponse,
};

/// Most scopes one request may name.
const MAX_SCOPES: usize = 100;

/// The acting agent of a mint, and the scopes it may hand out.
pub(super) struct Acting {
    pub(super) agent: Agent,
    pub(super) declared: Vec<String>,
}

impl IdentityService {
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
        if request.scopes.len() > MAX_SCOPES || !request.scopes.iter().all(|s| Scope::is_valid(s)) {
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
        let user_permissions = user.as_ref().map(|u| u.permissions.as_slice());
        let granted = match scopes::grant(&actor.declared, &request.scopes, user_permissions) {
            Grant::Granted(granted) => granted,
            Grant::OutsideAgent(outside) => {
                let scopes = deny("scope_not_allowed", outside).await;
                return Err(scope_not_allowed(&scopes));
            }
            Grant::UserLacks(lacking) => {
                let scopes = deny("user_not_authorized_for_scope", lacking).await;
                return Err(user_not_authorized(&scopes));
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
            agent_generation: agent.credential_generation,
            created_at: now,
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
        let token = self.signer.sign(&self.store, &claims).await?;
        // The token leaves only once its record is durable (the session row without it is
        // unusable: nobody holds its token).
        audit::record_required(
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
        .await?;
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
}
