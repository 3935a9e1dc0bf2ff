//! `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523) with an ID-JAG: MCP
//! enterprise-managed authorization. The company's identity provider (trusted by the
//! workspace with `allow_id_jag`) vouches for a user and a client; the client presents that
//! assertion here and gets an access token for the one MCP resource the assertion names.
//!
//! Order: the client is already authenticated (confidential only, design D10); the assertion
//! is peeked (typ, alg, `iss`, `resource`), the resource found (its workspace decides which
//! identity providers are trusted), the signature and claims verified, the client's agent (if
//! bound) checked to be enabled, the scopes narrowed (to the agent's too),
//! and only then is anything written: the `jti` spent, the user found or created and the grant
//! stored in one transaction, then the audit record. No refresh token: the client comes back
//! with a fresh ID-JAG.

use super::Form;
use super::id_jag;
use crate::authorization_server::access_token::NewAccessToken;
use crate::authorization_server::delegation::within_agent;
use crate::authorization_server::resources::{OFFLINE_ACCESS, normalize};
use crate::authorization_server::{AuthorizationError, AuthorizationServerService, random_id};
use crate::identity::obo::CLOCK_SKEW_SECONDS;
use crate::store::mcp_resources::ResourceRow;
use crate::store::now_ms;
use crate::store::oauth_assertions::AssertionUse;
use crate::store::oauth_clients::ClientRow;
use crate::store::oauth_grants::FamilyRow;
use nexus_protocol::oauth::{GRANT_JWT_BEARER, OAuthErrorCode, TokenResponse};

impl AuthorizationServerService {
    pub(super) async fn redeem_id_jag(
        &self,
        form: &Form,
        client: &ClientRow,
    ) -> Result<TokenResponse, AuthorizationError> {
        let assertion = form.require("assertion")?;
        let peeked = id_jag::peek(assertion)?;
        let resource = self.resource_named(Some(&peeked.resource)).await?;
        if let Some(asked) = form.get("resource")
            && normalize(asked).ok().as_deref() != Some(resource.resource_uri.as_str())
        {
            return Err(AuthorizationError::new(
                OAuthErrorCode::InvalidTarget,
                "the resource parameter differs from the assertion's resource claim",
            ));
        }
        let idp = self
            .store
            .list_identity_providers(&resource.workspace_id)
            .await?
            .into_iter()
            .find(|p| p.allow_id_jag && p.issuer == peeked.issuer)
            .ok_or_else(|| {
                AuthorizationError::invalid_grant(
                    "the assertion's issuer is not an identity provider trusted for ID-JAGs \
                     by the resource's workspace",
                )
            })?;
        let grant = id_jag::verify(&self.trusted, &idp, &peeked, assertion, &self.issuer).await?;
        if grant.client_id != client.client_id {
            return Err(AuthorizationError::invalid_grant(
                "the assertion was issued to another client (client_id claim)",
            ));
        }
        let delegate = self
            .delegate(client, &resource.workspace_id, Some(GRANT_JWT_BEARER))
            .await?;
        let scopes = granted_scopes(form.get("scope"), grant.scopes.as_deref(), &resource)?;
        let scopes = within_agent(delegate.as_ref(), &scopes)?;
        let now = now_ms();
        let ttl_ms = i64::try_from(resource.access_token_ttl_seconds).unwrap_or(600) * 1000;
        let family = FamilyRow {
            id: random_id("fam_"),
            client_id: client.client_id.clone(),
            // Set by the store: the user is found or created in the same transaction.
            user_id: String::new(),
            workspace_id: resource.workspace_id.clone(),
            resource_id: resource.id.clone(),
            scopes,
            agent_id: delegate.map(|d| d.agent_id),
            auth_time: grant.auth_time.unwrap_or(now / 1000),
            last_used_at: now,
            // Nothing to refresh: the grant ends with its one access token.
            expires_at: now + ttl_ms,
            revoked_at: None,
        };
        let used = AssertionUse {
            issuer: &idp.issuer,
            jti: &grant.jti,
            remember_until_ms: (grant.exp + CLOCK_SKEW_SECONDS) * 1000,
            subject: &grant.subject,
        };
        let Some(family) = self.store.redeem_assertion_grant(&used, family).await? else {
            tracing::warn!(issuer = %idp.issuer, "ID-JAG replayed: refused");
            return Err(AuthorizationError::invalid_grant(
                "the assertion was already used (jti)",
            ));
        };
        self.audit_grant(&family, GRANT_JWT_BEARER, Some(&idp.issuer))
            .await?;
        self.mint_access_token(NewAccessToken {
            family: &family,
            resource: &resource,
            scopes: &family.scopes,
        })
        .await
    }
}

/// requested ∩ the assertion's `scope` ∩ the resource's scopes. Without a `scope` parameter the
/// assertion's scopes are asked; without a `scope` claim the resource's default scopes are
/// what the identity provider allows. Empty ⇒ `invalid_scope`.
fn granted_scopes(
    requested: Option<&str>,
    claimed: Option<&[String]>,
    resource: &ResourceRow,
) -> Result<Vec<String>, AuthorizationError> {
    let allowed: Vec<String> = claimed
        .map(<[String]>::to_vec)
        .unwrap_or_else(|| resource.default_scopes.clone());
    let asked: Vec<String> = match requested {
        Some(r) => r.split(' ').map(str::to_owned).collect(),
        None => allowed.clone(),
    };
    let mut granted: Vec<String> = asked
        .into_iter()
        .filter(|s| !s.is_empty() && s != OFFLINE_ACCESS)
        .filter(|s| allowed.contains(s) && resource.scopes.contains(s))
        .collect();
    granted.sort();
    granted.dedup();
    if granted.is_empty() {
        return Err(AuthorizationError::new(
            OAuthErrorCode::InvalidScope,
            "no requested scope is both allowed by the assertion and offered by the resource",
        ));
    }
    Ok(granted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource() -> ResourceRow {
        ResourceRow {
            id: "mres_1".into(),
            workspace_id: "acme".into(),
            resource_uri: "https://mcp.example".into(),
            name: "n".into(),
            scopes: vec!["a".into(), "b".into(), "c".into()],
            default_scopes: vec!["a".into()],
            access_token_ttl_seconds: 600,
            created_at: 0,
            disabled_at: None,
        }
    }

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn scopes_are_the_intersection_of_request_assertion_and_resource() {
        let r = resource();
        let claim = v(&["b", "a", "z"]);
        assert_eq!(
            granted_scopes(None, Some(&claim), &r).unwrap(),
            v(&["a", "b"])
        );
        assert_eq!(
            granted_scopes(Some("b c offline_access"), Some(&claim), &r).unwrap(),
            v(&["b"])
        );
        assert_eq!(granted_scopes(None, None, &r).unwrap(), v(&["a"]));
        assert_eq!(
            granted_scopes(Some("c"), Some(&claim), &r)
                .unwrap_err()
                .code,
            OAuthErrorCode::InvalidScope
        );
        assert_eq!(
            granted_scopes(Some("z"), Some(&claim), &r)
                .unwrap_err()
                .code,
            OAuthErrorCode::InvalidScope
        );
    }
}
