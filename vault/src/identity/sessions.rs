//! An agent's sessions, for operators: list them (with whether each can still be used) and
//! revoke one or all. Every revocation is audited.

use super::IdentityService;
use super::agents::{agent_not_found, valid_agent};
use super::verify::unusable;
use crate::caller::Caller;
use crate::error::VaultError;
use crate::store::rfc3339;
use nexus_protocol::admin::{AgentSession, RevokedSessions};
use nexus_protocol::ids::{AgentId, SessionId};

/// Most sessions one listing returns (newest first).
const MAX_LISTED: i64 = 1000;

impl IdentityService {
    /// The sessions of an agent that have not expired yet, newest first.
    pub async fn list_agent_sessions(
        &self,
        ws: &str,
        agent_id: &str,
    ) -> Result<Vec<AgentSession>, VaultError> {
        let agent = self.get_agent(ws, agent_id).await?;
        let id = AgentId::new(agent.agent_id.clone()).map_err(|_| agent_not_found())?;
        let rows = self
            .store
            .list_agent_sessions(ws, agent_id, MAX_LISTED)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let why = unusable(&row, Some(&agent));
                AgentSession {
                    session_id: row.id,
                    agent_id: id.clone(),
                    sub: row.subject,
                    user: row.user_subject,
                    scopes: row.scopes,
                    created_at: rfc3339(row.created_at),
                    expires_at: rfc3339(row.expires_at),
                    active: why.is_none(),
                    inactive_reason: why.map(|w| w.reason().to_owned()),
                }
            })
            .collect())
    }

    /// Revoke one session of the agent (`session_id`) or all of them (`None`). Revoking an
    /// already revoked session answers `revoked: 0`; a session of another agent is 404.
    pub async fn revoke_agent_sessions(
        &self,
        ws: &str,
        agent_id: &str,
        session_id: Option<&str>,
        caller: &Caller,
    ) -> Result<RevokedSessions, VaultError> {
        valid_agent(ws, agent_id)?;
        let agent = self.get_agent(ws, agent_id).await?;
        if let Some(sid) = session_id {
            let not_found = || VaultError::not_found("no such session for this agent");
            if !SessionId::is_valid(sid) {
                return Err(not_found());
            }
            match self.store.get_session(ws, sid).await? {
                Some(row) if row.workspace_id == ws && row.agent_id == agent.agent_id => {}
                _ => return Err(not_found()),
            }
        }
        let revoked = self
            .store
            .revoke_agent_sessions(ws, agent_id, session_id)
            .await?;
        let (action, target) = match session_id {
            Some(sid) => ("session.revoked", sid),
            None => ("agent.sessions_revoked", agent_id),
        };
        self.audit
            .admin_event(Some(ws), action, target, caller)
            .await?;
        Ok(RevokedSessions { revoked })
    }
}
