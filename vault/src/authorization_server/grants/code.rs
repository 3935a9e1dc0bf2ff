//! `grant_type=authorization_code`: the code is spent first (single use, enforced by the
//! database), then checked: same client, not expired, same redirect URI, PKCE verifier,
//! same resource, and the client's agent (if bound) still enabled; the scopes are cut to the
//! agent's. A code presented twice revokes what the first use minted (RFC 6749 §4.1.2); when
//! the second use lands while the first is still being checked, the first mints nothing.

use super::{Form, is_pkce_value, new_refresh_token, pkce_matches};
use crate::authorization_server::access_token::NewAccessToken;
use crate::authorization_server::delegation::within_agent;
use crate::authorization_server::{AuthorizationError, AuthorizationServerService, random_id};
use crate::store::now_ms;
use crate::store::oauth_clients::ClientRow;
use crate::store::oauth_grants::{CodeRedemption, FamilyRow, FamilyStored};
use nexus_protocol::oauth::{
    GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN, OAuthErrorCode, TokenResponse,
};

/// A family's absolute lifetime.
pub(super) const FAMILY_LIFETIME_MS: i64 = 30 * 24 * 3600 * 1000;

impl AuthorizationServerService {
    pub(super) async fn redeem_code(
        &self,
        form: &Form,
        client: &ClientRow,
    ) -> Result<TokenResponse, AuthorizationError> {
        let code = form.require("code")?;
        let redirect_uri = form.require("redirect_uri")?;
        let verifier = form.require("code_verifier")?;
        let bad = || {
            AuthorizationError::invalid_grant(
                "the authorization code is invalid, expired or already used",
            )
        };
        let row = match self.store.redeem_authorization_code(code).await? {
            CodeRedemption::Fresh(row) => row,
            CodeRedemption::Reused(family) => {
                // The store has marked the code and revoked its family, if there is one yet.
                match family {
                    Some(family) => {
                        if let Err(e) = self
                            .audit_family("oauth.code_reuse", &family, "denied")
                            .await
                        {
                            tracing::error!(error = %e, "could not write audit record");
                        }
                        tracing::warn!(family, "authorization code replayed: grant revoked");
                    }
                    None => tracing::warn!("authorization code replayed: no grant issued yet"),
                }
                return Err(bad());
            }
            CodeRedemption::Unknown => return Err(bad()),
        };
        if row.client_id != client.client_id || row.expires_at < now_ms() {
            return Err(bad());
        }
        if row.redirect_uri != redirect_uri {
            return Err(AuthorizationError::invalid_grant(
                "redirect_uri differs from the authorization request's",
            ));
        }
        if !is_pkce_value(verifier, 43, 128) || !pkce_matches(verifier, &row.code_challenge) {
            return Err(AuthorizationError::invalid_grant(
                "the code_verifier does not match the code_challenge",
            ));
        }
        let resource = self.resource_named(form.get("resource")).await?;
        if resource.id != row.resource_id {
            return Err(AuthorizationError::new(
                OAuthErrorCode::InvalidTarget,
                "the resource differs from the authorization request's",
            ));
        }
        // Checked once the code is proven (so only its holder sees, and gets recorded for,
        // this refusal); the code is spent either way, like every failed redemption.
        let delegate = self
            .delegate(client, &row.workspace_id, Some(GRANT_AUTHORIZATION_CODE))
            .await?;
        let scopes = within_agent(delegate.as_ref(), &row.scopes)?;
        let now = now_ms();
        let family = FamilyRow {
            id: random_id("fam_"),
            client_id: client.client_id.clone(),
            user_id: row.user_id.clone(),
            workspace_id: row.workspace_id.clone(),
            resource_id: resource.id.clone(),
            scopes,
            agent_id: delegate.map(|d| d.agent_id),
            auth_time: row.auth_time,
            last_used_at: now,
            expires_at: now + FAMILY_LIFETIME_MS,
            revoked_at: None,
        };
        let refresh = client
            .grant_types
            .iter()
            .any(|g| g == GRANT_REFRESH_TOKEN)
            .then(new_refresh_token);
        match self
            .store
            .create_token_family(&family, Some(code), refresh.as_deref())
            .await?
        {
            FamilyStored::Stored => {}
            FamilyStored::CodeReplayed => {
                tracing::warn!("authorization code replayed during its exchange: nothing issued");
                return Err(bad());
            }
        }
        self.audit_grant(&family, GRANT_AUTHORIZATION_CODE, None)
            .await?;
        let access = self
            .mint_access_token(NewAccessToken {
                family: &family,
                resource: &resource,
                scopes: &family.scopes,
            })
            .await?;
        Ok(TokenResponse {
            refresh_token: refresh,
            ..access
        })
    }
}
