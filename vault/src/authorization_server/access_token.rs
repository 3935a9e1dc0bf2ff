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

/// Why a presented access token is not acceptable. Never carries the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessTokenRefusal {
    /// Not a token this server signed (bad signature, another issuer, not an access token).
    NotOurs,
    /// Past `exp` (or not yet valid: `nbf` in the future).
    Expired,
    /// Its grant (`sid`) was revoked (refresh reuse, RFC 7009, code replay).
    Revoked,
    /// Its audience is not a live MCP resource (unknown or disabled).
    UnknownResource,
    /// It carries `act` for an agent that is now disabled (or deleted): a disabled agent keeps
    /// no reach to upstream credentials through tokens minted before.
    AgentDisabled,
}

impl AccessTokenRefusal {
    /// Fixed text for an error message (never quotes the token).
    pub fn describe(self) -> &'static str {
        match self {
            Self::NotOurs => "the subject token is not an access token issued by this server",
            Self::Expired => "the subject token has expired (or is not valid yet)",
            Self::Revoked => "the subject token's grant was revoked",
            Self::UnknownResource => {
                "the subject token's audience is not a registered MCP resource"
            }
            Self::AgentDisabled => "the subject token's agent (act) is disabled",
        }
    }
}

/// Seconds of clock skew tolerated on `nbf`.
const NBF_LEEWAY_SECONDS: i64 = 30;

impl AuthorizationServerService {
    /// Verify an access token presented back to its issuer (design 17 §5.4): signature and
    /// issuer ([`Self::decode_access_token`]), `exp`/`nbf`, the grant still live when the token
    /// names one (`sid`), its audience a live registered resource whose workspace is the
    /// token's, and its `act` agent, if any, still enabled. Answers the claims and that resource; the caller decides who may use it.
    pub async fn verify_access_token(
        &self,
        token: &str,
    ) -> Result<(AccessTokenClaims, ResourceRow), VerifyFailure> {
        let claims = self
            .decode_access_token(token)
            .await
            .ok_or(VerifyFailure::Refused(AccessTokenRefusal::NotOurs))?;
        let now = chrono::Utc::now().timestamp();
        if claims.exp <= now || claims.nbf > now + NBF_LEEWAY_SECONDS {
            return Err(VerifyFailure::Refused(AccessTokenRefusal::Expired));
        }
        if let Some(sid) = &claims.sid {
            match self
                .store
                .token_family_in(&claims.workspace_id, sid)
                .await?
            {
                Some(family) if family.revoked_at.is_none() => {}
                _ => return Err(VerifyFailure::Refused(AccessTokenRefusal::Revoked)),
            }
        }
        let resource = match self
            .store
            .mcp_resource_by_uri_in(&claims.workspace_id, &claims.aud)
            .await?
        {
            Some(r) if r.disabled_at.is_none() => r,
            _ => return Err(VerifyFailure::Refused(AccessTokenRefusal::UnknownResource)),
        };
        if let Some(act) = &claims.act {
            match self.store.get_agent(&claims.workspace_id, &act.sub).await? {
                Some(agent) if !agent.disabled => {}
                _ => return Err(VerifyFailure::Refused(AccessTokenRefusal::AgentDisabled)),
            }
        }
        Ok((claims, resource))
    }
}

/// [`AuthorizationServerService::verify_access_token`] failed: the token is refused, or the
/// store failed (not the caller's fault).
#[derive(Debug)]
pub enum VerifyFailure {
    Refused(AccessTokenRefusal),
    Store(crate::store::StoreError),
}

impl From<crate::store::StoreError> for VerifyFailure {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Store(e)
    }
}
