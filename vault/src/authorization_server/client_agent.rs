//! Agent delegation: an admin binds a registered OAuth client (a cached metadata document or
//! a dynamically registered client) to an enabled agent of a workspace; the client's access
//! tokens for that workspace's resources then carry `act: {sub: <agent>}` (RFC 8693 §4.1).

use super::AuthorizationServerService;
use crate::caller::Caller;
use crate::error::VaultError;
use nexus_protocol::{AgentId, WorkspaceId};

fn client_not_found() -> VaultError {
    VaultError::not_found("no such OAuth client")
}

impl AuthorizationServerService {
    /// Bind `client_id` to agent `agent_id` of `ws`. Checks everything before writing: the
    /// agent exists in `ws` and is enabled, the client is registered (a failed document fetch
    /// is not a client).
    pub async fn bind_client_agent(
        &self,
        ws: &WorkspaceId,
        client_id: &str,
        agent_id: &str,
        caller: &Caller,
    ) -> Result<(), VaultError> {
        self.store.require_workspace(ws.as_str()).await?;
        if !AgentId::is_valid(agent_id) {
            return Err(VaultError::not_found("no such agent in this workspace"));
        }
        let agent = self
            .store
            .get_agent(ws.as_str(), agent_id)
            .await?
            .ok_or_else(|| VaultError::not_found("no such agent in this workspace"))?;
        if agent.disabled {
            return Err(VaultError::invalid("the agent is disabled"));
        }
        if !self
            .store
            .set_oauth_client_agent(client_id, ws.as_str(), Some(agent_id))
            .await?
        {
            return Err(client_not_found());
        }
        self.audit
            .admin_event(
                Some(ws.as_str()),
                "mcp_client.agent_bound",
                client_id,
                caller,
            )
            .await?;
        Ok(())
    }

    /// Remove the binding made in `ws`: the client's next tokens carry no `act` (grants
    /// already issued keep theirs until they end).
    pub async fn unbind_client_agent(
        &self,
        ws: &WorkspaceId,
        client_id: &str,
        caller: &Caller,
    ) -> Result<(), VaultError> {
        self.store.require_workspace(ws.as_str()).await?;
        if !self
            .store
            .set_oauth_client_agent(client_id, ws.as_str(), None)
            .await?
        {
            return Err(VaultError::not_found(
                "no such OAuth client bound to an agent of this workspace",
            ));
        }
        self.audit
            .admin_event(
                Some(ws.as_str()),
                "mcp_client.agent_unbound",
                client_id,
                caller,
            )
            .await?;
        Ok(())
    }
}
