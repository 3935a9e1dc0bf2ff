//! Verifying sessions: a session token → its principal (signature, row, revocation, expiry,
//! agent state), and a session's status and revocation by its owner.
//!
//! A session token is a signed JWT, but the vault also keeps a row per session: verification
//! checks the signature *and* the row, so revocation (and disabling the agent) takes effect at
//! the next request, before `exp`.

use super::IdentityService;
use super::audit::{self, Decision};
use super::refusals::unauthorized;
use super::signing::SessionClaims;
use crate::error::VaultError;
use crate::store::identity::{Agent, SessionRow};
use crate::store::{now_ms, rfc3339};
use nexus_protocol::SecretString;
use nexus_protocol::identity::looks_like_jwt;
use nexus_protocol::identity::{Actor, InternalSessionOp, SessionStatus};
use nexus_protocol::internal::Principal;

/// Why a session cannot be used (any more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    Revoked,
    Expired,
    AgentDisabled,
    /// The agent's credential was rotated (or the agent disabled) after the session was minted.
    AgentCredentialChanged,
    AgentDeleted,
}

impl Unusable {
    /// The reason as the status, the admin listing and the audit record name it.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Revoked => "session_revoked",
            Self::Expired => "session_expired",
            Self::AgentDisabled => "agent_disabled",
            Self::AgentCredentialChanged => "agent_credential_changed",
            Self::AgentDeleted => "agent_deleted",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Self::Revoked => "this session has been revoked",
            Self::Expired => "this session has expired",
            Self::AgentDisabled => "this session's agent is disabled",
            Self::AgentCredentialChanged => {
                "this session ended when its agent's credential was rotated or the agent disabled"
            }
            Self::AgentDeleted => "this session's agent no longer exists",
        }
    }
}

/// Why `row` cannot be used now, or `None` when it can. One rule for verify, status and the
/// admin listing: revoked, expired, agent gone, disabled, or minted under an older credential
/// generation (rotation and disable bump it, so re-enabling never revives a session).
pub fn unusable(row: &SessionRow, agent: Option<&Agent>) -> Option<Unusable> {
    let Some(agent) = agent else {
        return Some(Unusable::AgentDeleted);
    };
    if row.revoked_at.is_some() {
        Some(Unusable::Revoked)
    } else if row.expires_at <= now_ms() {
        Some(Unusable::Expired)
    } else if agent.disabled {
        Some(Unusable::AgentDisabled)
    } else if row.agent_generation != agent.credential_generation {
        Some(Unusable::AgentCredentialChanged)
    } else {
        None
    }
}

/// What a verified session token gives: its claims, its row and its agent.
pub(super) struct LiveSession {
    pub(super) claims: SessionClaims,
    pub(super) row: SessionRow,
    pub(super) agent: Agent,
}

impl IdentityService {
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
    pub(super) async fn live_session(
        &self,
        token: &SecretString,
        rid: Option<&str>,
    ) -> Result<LiveSession, VaultError> {
        let (claims, row) = self.signed_session(token).await?;
        let agent = self
            .store
            .agent_by_id(&row.workspace_id, &row.agent_id)
            .await?
            .ok_or_else(|| unauthorized("this session's agent no longer exists"))?;
        let refusal = unusable(&row, Some(&agent))
            .or_else(|| (claims.exp.saturating_mul(1000) <= now_ms()).then_some(Unusable::Expired));
        if let Some(why) = refusal {
            let (reason, message) = (why.reason(), why.message());
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
            .signer
            .verify(&self.store, token.expose())
            .await
            .map_err(|e| unauthorized(&e.to_string()))?;
        let row = self
            .store
            .get_session(&claims.workspace_id, &claims.jti)
            .await?
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
        match self
            .store
            .get_session(&agent.workspace_id, &op.session_id)
            .await?
        {
            Some(row) if row.agent_id == agent.agent_id => Ok(row),
            _ => Err(not_found()),
        }
    }

    /// `GET /v1/sessions/{id}`.
    pub async fn session_status(&self, op: InternalSessionOp) -> Result<SessionStatus, VaultError> {
        let row = self.owned_session(&op).await?;
        let agent = self
            .store
            .agent_by_id(&row.workspace_id, &row.agent_id)
            .await?;
        let why = unusable(&row, agent.as_ref());
        let status = match why {
            Some(Unusable::Revoked) => "revoked",
            Some(Unusable::Expired) => "expired",
            Some(_) => "revoked",
            None => "active",
        };
        Ok(SessionStatus {
            active: Some(why.is_none()),
            inactive_reason: why.map(|w| w.reason().to_owned()),
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
        self.store
            .revoke_session(&row.workspace_id, &row.id)
            .await?;
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
}
