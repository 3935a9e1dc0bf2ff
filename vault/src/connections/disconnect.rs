//! Disconnect (design 18 §2.1): revoke the grant at the provider (RFC 7009) when it can be
//! revoked, then drop the connection's secrets and mark it `revoked`. Revocation happens before
//! the local write: a crash between the two leaves a dead grant that the next refresh turns into
//! `needs_reauth` (the safe direction), never a live grant Nexus has forgotten.

use super::revocation::{Revocation, TokenKind};
use super::{ConnectionService, connection_not_found};
use crate::caller::Caller;
use crate::error::VaultError;
use crate::store::audit::AuditEvent;
use crate::store::connections::ConnectionRow;
use nexus_protocol::ConnectionStatus;

/// The outcome of a disconnect, for the page to describe.
#[derive(Debug, Clone)]
pub struct Disconnected {
    pub provider_name: String,
    /// The provider's display name (else its name).
    pub provider_label: String,
    pub revocation: Revocation,
    /// Where a person removes access by hand (provider's `manage_url`), if declared.
    pub manage_url: Option<String>,
}

impl ConnectionService {
    /// Disconnect one connection of `workspace_id`; `user_id` (when given: a connect page) must
    /// own it, and a page never reaches a connection bound to an MCP user (see
    /// `Store::connections_of_user`); the operator (`None`) reaches every one.
    pub async fn disconnect(
        &self,
        workspace_id: &str,
        user_id: Option<&str>,
        id: &str,
        caller: &Caller,
    ) -> Result<Disconnected, VaultError> {
        let row = self
            .store
            .get_connection(workspace_id, id)
            .await?
            .filter(|r| {
                user_id.is_none() || (r.user_id.as_deref() == user_id && !r.bound_to_mcp_user)
            })
            .ok_or_else(connection_not_found)?;
        if row.status == ConnectionStatus::Revoked {
            return Err(VaultError::invalid(
                "this connection is already disconnected",
            ));
        }
        let provider = self.provider(&row.provider_name).await.ok();
        let revocation = self.revocation_at_provider(&row).await;
        if !self.mark_revoked(workspace_id, id, "disconnected").await? {
            return Err(connection_not_found());
        }
        let outcome = match &revocation {
            Revocation::Revoked => "revoked_at_provider",
            Revocation::Unsupported => "revocation_unsupported",
            Revocation::Failed { .. } => "revocation_failed",
        };
        self.store
            .audit_required(AuditEvent {
                workspace_id: Some(workspace_id),
                action: "connection.disconnected",
                target: Some(id),
                principal: &caller.principal,
                outcome,
                request_id: caller.request_id.as_deref(),
                detail: Some(&row.provider_name),
            })
            .await?;
        Ok(Disconnected {
            provider_label: provider
                .as_ref()
                .and_then(|p| p.display_name.clone())
                .unwrap_or_else(|| row.provider_name.clone()),
            manage_url: provider.and_then(|p| p.manage_url),
            provider_name: row.provider_name,
            revocation,
        })
    }

    /// RFC 7009 at the connection's provider (OAuth providers only) with the refresh token (it
    /// ends the whole grant), else the access token. Used by disconnect and by revoke.
    pub(super) async fn revocation_at_provider(&self, row: &ConnectionRow) -> Revocation {
        let p = match self.provider(&row.provider_name).await {
            Ok(p) if p.is_oauth2() => p,
            _ => return Revocation::Unsupported,
        };
        let p = &p;
        // Both tokens, refresh first (it usually ends the whole grant): RFC 7009 only says a
        // provider SHOULD drop the grant's access tokens with its refresh token.
        let tokens: Vec<_> = [
            (self.store.open_refresh_token(row), TokenKind::Refresh),
            (self.store.open_access_token(row), TokenKind::Access),
        ]
        .into_iter()
        .filter_map(|(token, kind)| Some((token.ok()??, kind)))
        .collect();
        if tokens.is_empty() {
            // Never authorized (or unreadable): nothing lives at the provider Nexus could name.
            return Revocation::Unsupported;
        }
        let endpoint = match self.oauth.endpoints(p).await {
            Ok(e) => e.revocation,
            Err(_) => {
                return Revocation::Failed {
                    status: None,
                    error: None,
                };
            }
        };
        let Some(endpoint) = endpoint else {
            return Revocation::Unsupported;
        };
        let secret = match self.store.provider_client_secret(&p.name).await {
            Ok(s) => s,
            Err(_) => {
                return Revocation::Failed {
                    status: None,
                    error: None,
                };
            }
        };
        let mut outcome = Revocation::Revoked;
        for (token, kind) in &tokens {
            let answer = self
                .oauth
                .revoke(p, secret.as_ref(), &endpoint, token, *kind)
                .await;
            if outcome == Revocation::Revoked {
                outcome = answer;
            }
        }
        outcome
    }
}
