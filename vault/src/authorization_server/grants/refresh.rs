//! `grant_type=refresh_token`: every use rotates (for every client, design D8). The token's
//! family is checked before it is spent (right client, still live), so a wrong client cannot
//! burn another's token. A spent token presented again revokes the whole family. The client's
//! agent binding is read again (see `delegation`): `act` and the scope ceiling follow it.

use super::{Form, new_refresh_token};
use crate::authorization_server::access_token::NewAccessToken;
use crate::authorization_server::delegation::within_agent;
use crate::authorization_server::{AuthorizationError, AuthorizationServerService};
use crate::store::now_ms;
use crate::store::oauth_clients::ClientRow;
use crate::store::oauth_grants::RefreshRotation;
use nexus_protocol::oauth::{GRANT_REFRESH_TOKEN, OAuthErrorCode, TokenResponse};

/// A family unused this long is dead.
const IDLE_LIMIT_MS: i64 = 7 * 24 * 3600 * 1000;

impl AuthorizationServerService {
    pub(super) async fn refresh(
        &self,
        form: &Form,
        client: &ClientRow,
    ) -> Result<TokenResponse, AuthorizationError> {
        let presented = form.require("refresh_token")?;
        let bad = || {
            AuthorizationError::invalid_grant("the refresh token is invalid, expired or revoked")
        };
        let Some(family_id) = self.store.family_of_refresh_token(presented).await? else {
            return Err(bad());
        };
        let family = self.store.token_family(&family_id).await?.ok_or_else(bad)?;
        let now = now_ms();
        if family.client_id != client.client_id
            || family.revoked_at.is_some()
            || family.expires_at < now
            || family.last_used_at + IDLE_LIMIT_MS < now
        {
            return Err(bad());
        }
        let resource = self
            .store
            .mcp_resource(&family.resource_id)
            .await?
            .filter(|r| r.disabled_at.is_none())
            .ok_or_else(bad)?;
        if form.get("resource").is_some() {
            let named = self.resource_named(form.get("resource")).await?;
            if named.id != resource.id {
                return Err(AuthorizationError::new(
                    OAuthErrorCode::InvalidTarget,
                    "the resource differs from the grant's",
                ));
            }
        }
        let scopes = match form.get("scope") {
            None => family.scopes.clone(),
            Some(asked) => {
                let mut asked: Vec<String> = asked
                    .split(' ')
                    .filter(|s| !s.is_empty() && *s != "offline_access")
                    .map(str::to_owned)
                    .collect();
                asked.sort();
                asked.dedup();
                if asked.is_empty() || asked.iter().any(|s| !family.scopes.contains(s)) {
                    return Err(AuthorizationError::new(
                        OAuthErrorCode::InvalidScope,
                        "scope must be a subset of the grant's scopes",
                    ));
                }
                asked
            }
        };
        // The binding is read again: `act` and the scope ceiling follow the client's agent as
        // it is now (unbound ⇒ no `act`; disabled ⇒ refused before the token is spent).
        let delegate = self
            .delegate(client, &family.workspace_id, Some(GRANT_REFRESH_TOKEN))
            .await?;
        let scopes = within_agent(delegate.as_ref(), &scopes)?;
        let agent_id = delegate.map(|d| d.agent_id);
        let next = new_refresh_token();
        let rotated = self
            .store
            .rotate_refresh_token(presented, &next, agent_id.as_deref())
            .await?;
        let family = match rotated {
            RefreshRotation::Rotated(f) => f,
            RefreshRotation::Reused(family) => {
                if let Err(e) = self
                    .audit_family("oauth.refresh_reuse", &family, "denied")
                    .await
                {
                    tracing::error!(error = %e, "could not write audit record");
                }
                tracing::warn!(family, "refresh token replayed: grant revoked");
                return Err(bad());
            }
            RefreshRotation::Unknown => return Err(bad()),
        };
        if family.revoked_at.is_some() {
            return Err(bad());
        }
        let access = self
            .mint_access_token(NewAccessToken {
                family: &family,
                resource: &resource,
                scopes: &scopes,
            })
            .await?;
        Ok(TokenResponse {
            refresh_token: Some(next),
            ..access
        })
    }
}
