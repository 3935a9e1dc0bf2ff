//! Connections of one MCP user (design 17 §5.4): `connections.user_id` is the user's id at the
//! authorization server (an access token's `sub`), so each user's own upstream account is used,
//! never a colleague's. Resolving goes through the same path as `resolve` (refresh with single
//! flight, usage, the `token.issued` audit record, naming the user).

use super::ConnectionService;
use crate::caller::Caller;
use crate::error::VaultError;
use nexus_protocol::{ConnectionStatus, RequestConnectionInput, ResolveResponse};

impl ConnectionService {
    /// `(workspace, provider, user)` → the user's credential and its strategy.
    pub async fn resolve_for_user(
        &self,
        workspace_id: &str,
        provider_name: &str,
        user_id: &str,
        min_ttl: Option<u64>,
        force: bool,
        caller: &Caller,
    ) -> Result<ResolveResponse, VaultError> {
        let found = self
            .lookups
            .run(
                self.store
                    .find_user_connection(workspace_id, provider_name, user_id),
            )
            .await
            .map(|row| row.map(|row| (row, None)));
        let detail = format!("mcp_user={user_id}");
        self.resolve_found(
            workspace_id,
            provider_name,
            found,
            min_ttl,
            force,
            caller,
            Some(&detail),
        )
        .await
    }

    /// Start the connect flow for `user`'s account at `provider`; answers where to send the
    /// browser. A connection of the user that needs re-authorization is authorized again (the
    /// same row); otherwise a new connection bound to the user is started. `return_url` gets
    /// `status=…&connection_id=…` after the provider's callback.
    pub async fn connect_for_user(
        &self,
        workspace_id: &str,
        provider_name: &str,
        user_id: &str,
        return_url: &str,
        caller: &Caller,
    ) -> Result<String, VaultError> {
        let existing = self
            .store
            .find_user_connection(workspace_id, provider_name, user_id)
            .await?;
        if let Some(row) = existing.filter(|r| {
            matches!(
                r.status,
                ConnectionStatus::NeedsReauth | ConnectionStatus::Failed
            )
        }) {
            let provider = self.provider(&row.provider_name).await?;
            let started = self
                .start_flow(&row, &provider, &row.scopes, Some(return_url))
                .await?;
            return Ok(started.auth_url);
        }
        let input = RequestConnectionInput {
            user_id: user_id.to_owned(),
            provider_name: provider_name.to_owned(),
            scopes: Vec::new(),
            return_url: Some(return_url.to_owned()),
            metadata: Default::default(),
        };
        // Bound to the user: the workspace's own resolves never reach it (`find_connection_for`,
        // `workspace_connection`), so the MCP server's API key alone does not yield it.
        let started = self
            .request_connection_owned(workspace_id, &input, true, caller)
            .await?;
        Ok(started.auth_url)
    }

    /// True when `connection_id` is an active connection of `user` to `provider`, bound to them
    /// (the same rule as `find_user_connection`).
    pub async fn is_active_user_connection(
        &self,
        workspace_id: &str,
        provider_name: &str,
        user_id: &str,
        connection_id: &str,
    ) -> Result<bool, VaultError> {
        Ok(self
            .store
            .get_connection(workspace_id, connection_id)
            .await?
            .is_some_and(|row| {
                row.status == ConnectionStatus::Active
                    && row.provider_name == provider_name
                    && row.user_id.as_deref() == Some(user_id)
                    && row.bound_to_mcp_user
            }))
    }
}

impl ConnectionService {
    /// The origin the connect flow of `provider_name` sends a browser to (the provider's
    /// authorization endpoint, or this broker's form for static credentials), so a page whose
    /// form leads there can allow it in its `form-action`. `None` when it cannot be known now.
    pub async fn connect_origin(&self, provider_name: &str) -> Option<String> {
        let provider = self.provider(provider_name).await.ok()?;
        let url = if provider.is_oauth2() {
            self.oauth.endpoints(&provider).await.ok()?.authorize
        } else {
            self.public_url.clone()
        };
        crate::authorization_server::redirect_uri::origin(&url)
    }
}
