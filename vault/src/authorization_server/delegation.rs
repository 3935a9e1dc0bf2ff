//! Agent delegation in force when tokens are issued (design 17 §4). A client bound to an agent
//! ([`super::client_agent`]) acts for that agent on the binding workspace's resources, so:
//!
//! - the binding is read again at every authorization, code exchange, refresh and ID-JAG
//!   redemption: `act` follows the current binding (unbinding or rebinding takes effect at the
//!   next refresh), never the one stored with the grant;
//! - an agent that is disabled (or gone) stops its clients: `unauthorized_client` (RFC 6749
//!   §5.2: the client may not use the grant right now; the grant itself is not the fault, and
//!   `invalid_grant` would tell the client to throw its refresh token away), nothing written,
//!   one `denied` audit record at the token endpoint;
//! - the scopes granted are cut to those the agent declares. A scope the agent lacks is dropped
//!   rather than refused (RFC 6749 §3.3 lets the server grant less; the token answer's `scope`
//!   says what was granted): MCP clients ask for every scope of the protected-resource metadata
//!   when no challenge names one, and refusing would lock a bound client out entirely. Nothing
//!   left is `invalid_scope`.

use super::{AuthorizationError, AuthorizationServerService};
use crate::store::audit::AuditEvent;
use crate::store::oauth_clients::ClientRow;
use nexus_protocol::oauth::OAuthErrorCode;

/// The agent a client acts for on one workspace's resources, as it is now.
#[derive(Debug, Clone)]
pub(crate) struct Delegate {
    pub agent_id: String,
    /// The agent's declared scopes: the ceiling of every scope the client is granted.
    pub scopes: Vec<String>,
}

/// `scopes` cut to `delegate`'s, in their order (all of them without a delegate);
/// `invalid_scope` when nothing is left.
pub(crate) fn within_agent(
    delegate: Option<&Delegate>,
    scopes: &[String],
) -> Result<Vec<String>, AuthorizationError> {
    let kept: Vec<String> = scopes
        .iter()
        .filter(|s| delegate.is_none_or(|d| d.scopes.contains(s)))
        .cloned()
        .collect();
    if kept.is_empty() {
        return Err(AuthorizationError::new(
            OAuthErrorCode::InvalidScope,
            "none of the scopes is held by the agent this client acts for",
        ));
    }
    Ok(kept)
}

fn agent_unavailable() -> AuthorizationError {
    AuthorizationError::new(
        OAuthErrorCode::UnauthorizedClient,
        "the agent this client acts for is disabled or deleted",
    )
}

impl AuthorizationServerService {
    /// The agent `client` acts for on `workspace`'s resources: `None` when it is not bound
    /// there, `unauthorized_client` when the agent is disabled or deleted. `grant` names the
    /// step for the audit record (a grant type); `None` records nothing (the authorization
    /// endpoint, which anyone can call with a public client's id).
    pub(crate) async fn delegate(
        &self,
        client: &ClientRow,
        workspace: &str,
        grant: Option<&str>,
    ) -> Result<Option<Delegate>, AuthorizationError> {
        let Some(agent_id) = client.agent_for(workspace) else {
            return Ok(None);
        };
        let agent = self.store.get_agent(workspace, &agent_id).await?;
        let reason = match agent {
            Some(agent) if !agent.disabled => {
                return Ok(Some(Delegate {
                    agent_id,
                    scopes: agent.scopes,
                }));
            }
            Some(_) => "agent_disabled",
            None => "agent_deleted",
        };
        tracing::warn!(client = %client.client_id, agent = %agent_id, reason, "delegated client refused");
        if let Some(grant) = grant {
            let detail = format!("grant={grant} reason={reason}");
            self.store
                .audit(AuditEvent {
                    workspace_id: Some(workspace),
                    action: "oauth.token",
                    target: Some(&agent_id),
                    principal: &client.client_id,
                    outcome: "denied",
                    request_id: None,
                    detail: Some(&detail),
                })
                .await;
        }
        Err(agent_unavailable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn scopes_are_cut_to_the_agent_s_and_nothing_left_is_invalid_scope() {
        let agent = Delegate {
            agent_id: "agt_1".into(),
            scopes: v(&["a", "c"]),
        };
        assert_eq!(
            within_agent(Some(&agent), &v(&["c", "b", "a"])).unwrap(),
            v(&["c", "a"])
        );
        assert_eq!(within_agent(None, &v(&["b"])).unwrap(), v(&["b"]));
        assert_eq!(
            within_agent(Some(&agent), &v(&["b"])).unwrap_err().code,
            OAuthErrorCode::InvalidScope
        );
    }
}
