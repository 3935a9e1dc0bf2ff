//! Access tokens: RFC 9068 JWTs (`typ: at+jwt`, ES256) signed with the session signing keys
//! and published at `/as/jwks`. The audience is the one resource the grant is for; `sid` names
//! the grant (revoking it stops refreshes; the token itself lives until `exp`, ≤ 1 hour,
//! because resource servers validate offline).

use super::{AuthorizationError, AuthorizationServerService, random_id};
use crate::store::mcp_resources::ResourceRow;
use crate::store::oauth_grants::FamilyRow;
use nexus_protocol::oauth::{AccessTokenClaims, ActorClaim, TokenResponse};

pub struct NewAccessToken<'a> {
    pub family: &'a FamilyRow,
    pub resource: &'a ResourceRow,
    pub scopes: &'a [String],
}

impl AuthorizationServerService {
    /// Mint an access token (the answer has no refresh token; grants add theirs).
    pub(crate) async fn mint_access_token(
        &self,
        t: NewAccessToken<'_>,
    ) -> Result<TokenResponse, AuthorizationError> {
        let now = chrono::Utc::now().timestamp();
        let ttl = t.resource.access_token_ttl_seconds;
        let mut scopes = t.scopes.to_vec();
        scopes.sort();
        let scope = scopes.join(" ");
        let claims = AccessTokenClaims {
            iss: self.issuer.clone(),
            sub: t.family.user_id.clone(),
            aud: t.resource.resource_uri.clone(),
            client_id: t.family.client_id.clone(),
            scope: scope.clone(),
            exp: now + i64::try_from(ttl).unwrap_or(600),
            iat: now,
            nbf: now,
            jti: random_id("at_"),
            auth_time: t.family.auth_time,
            sid: Some(t.family.id.clone()),
            workspace_id: t.family.workspace_id.clone(),
            act: t.family.agent_id.clone().map(|sub| ActorClaim { sub }),
        };
        let access_token = self.signer.sign(&self.store, &claims).await?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: ttl,
            scope,
            refresh_token: None,
        })
    }

    /// The claims of an access token this server signed (signature and issuer checked; not
    /// the expiry or audience — callers decide).
    pub async fn decode_access_token(&self, token: &str) -> Option<AccessTokenClaims> {
        let claims: AccessTokenClaims = self
            .signer
            .verify_claims(&self.store, token, None)
            .await
            .ok()?;
        (claims.iss == self.issuer).then_some(claims)
    }
}
