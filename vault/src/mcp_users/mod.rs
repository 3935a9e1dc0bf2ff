//! From MCP user to upstream token (design 17 §5.4). An MCP server, holding its workspace API
//! key, presents the access token it received; the token is verified by the authorization
//! server that issued it ([`AuthorizationServerService::verify_access_token`]), its audience must
//! be an MCP resource of the key's workspace, and the credential is that of the token's user
//! (`sub`), resolved like any other. A user without a usable connection gets
//! `connection_required` with a connect link bound to them ([`tickets`]).
//!
//! This module calls the authorization server; the authorization server never calls it.

pub mod tickets;

use crate::authorization_server::AuthorizationServerService;
use crate::authorization_server::access_token::VerifyFailure;
use crate::caller::Caller;
use crate::connections::ConnectionService;
use crate::error::{ConnectionRequired, Missing, VaultError};
use crate::store::Store;
use nexus_protocol::internal::Principal;
use nexus_protocol::mcp::UserCredentialRequest;
use nexus_protocol::{ConnectionRequiredReason, ProviderName, ResolveResponse};

/// Longest subject token looked at (an access token of ours is well under 2 KiB).
const MAX_SUBJECT_TOKEN_LEN: usize = 8 * 1024;

/// The MCP user operations, over the vault's services (see [`crate::Vault::mcp_users`]).
pub struct McpUsers<'a> {
    pub(crate) store: &'a Store,
    pub(crate) connections: &'a ConnectionService,
    pub(crate) server: &'a AuthorizationServerService,
}

impl McpUsers<'_> {
    /// The upstream credential of the MCP user whose access token is `request.subject_token`,
    /// for a workspace API key (`principal`).
    pub async fn user_credential(
        &self,
        principal: &Principal,
        request: &UserCredentialRequest,
        request_id: Option<String>,
    ) -> Result<ResolveResponse, VaultError> {
        let Principal::ApiKey { workspace_id, .. } = principal else {
            return Err(VaultError::Forbidden(
                "user credentials are for an MCP server's workspace API key, not an agent session"
                    .into(),
            ));
        };
        if !ProviderName::is_valid(&request.provider) {
            return Err(VaultError::invalid(
                "`provider` is not a valid provider name",
            ));
        }
        let token = request.subject_token.expose();
        if token.is_empty() || token.len() > MAX_SUBJECT_TOKEN_LEN {
            return Err(VaultError::InvalidSubjectToken(
                "the subject token is not an access token issued by this server".into(),
            ));
        }
        let (claims, resource) = match self.server.verify_access_token(token).await {
            Ok(verified) => verified,
            Err(VerifyFailure::Refused(why)) => {
                return Err(VaultError::InvalidSubjectToken(why.describe().into()));
            }
            Err(VerifyFailure::Store(e)) => return Err(e.into()),
        };
        if &resource.workspace_id != workspace_id {
            return Err(VaultError::Forbidden(
                "the subject token was issued for an MCP resource of another workspace".into(),
            ));
        }
        let caller = Caller {
            principal: principal.audit_label(),
            request_id,
        };
        let resolved = self
            .connections
            .resolve_for_user(
                workspace_id,
                &request.provider,
                &claims.sub,
                request.min_ttl,
                request.force_refresh,
                &caller,
            )
            .await;
        let reason = match resolved {
            Ok(response) => return Ok(response),
            Err(VaultError::NotFound {
                what: Missing::Connection,
                ..
            })
            | Err(VaultError::NotActive(_)) => ConnectionRequiredReason::Missing,
            Err(VaultError::ReauthRequired { .. }) => ConnectionRequiredReason::ReauthRequired,
            Err(other) => return Err(other),
        };
        let ticket = self
            .ticket_for(workspace_id, &claims.sub, &request.provider, &reason)
            .await?;
        let message = match reason {
            ConnectionRequiredReason::ReauthRequired => format!(
                "your `{}` connection must be authorized again: open the link",
                request.provider
            ),
            _ => format!("connect your `{}` account: open the link", request.provider),
        };
        Err(VaultError::ConnectionRequired(Box::new(
            ConnectionRequired {
                message,
                provider: request.provider.clone(),
                reason,
                connect_url: self.connect_url(&ticket.id),
                elicitation_id: ticket.elicitation_id,
            },
        )))
    }
}
