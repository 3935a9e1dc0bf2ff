//! Agent identity: sessions, authorization checks and On-Behalf-Of token exchange.
//!
//! Public bodies (`/v1/sessions`, `/v1/authorize`, `/v1/token`) and the internal bodies the
//! gateway sends to the broker, which mints and checks every session. The gateway never sees a
//! signing key; it forwards the caller's token and the broker decides.

use crate::internal::Principal;
use crate::secret::SecretString;
use serde::{Deserialize, Serialize};

/// Public path: `POST` create a session.
pub const SESSIONS_PATH: &str = "/v1/sessions";
/// Public path: `GET`/`DELETE` one session.
pub const SESSION_PATH: &str = "/v1/sessions/{id}";
/// Public path: `POST` check one scope against the session.
pub const AUTHORIZE_PATH: &str = "/v1/authorize";
/// Public path: `POST` RFC 8693 token exchange (On-Behalf-Of).
pub const TOKEN_EXCHANGE_PATH: &str = "/v1/token";
/// Public path: the session signing keys.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// Internal: `POST` [`InternalCreateSession`] → [`SessionResponse`].
pub const INTERNAL_SESSIONS_PATH: &str = "/internal/v1/sessions";
/// Internal: `POST` [`InternalVerifySession`] → [`Principal`] (401 when not usable).
pub const INTERNAL_VERIFY_SESSION_PATH: &str = "/internal/v1/sessions/verify";
/// Internal: `POST` [`InternalSessionOp`] → [`SessionStatus`].
pub const INTERNAL_SESSION_STATUS_PATH: &str = "/internal/v1/sessions/status";
/// Internal: `POST` [`InternalSessionOp`] → 204.
pub const INTERNAL_SESSION_REVOKE_PATH: &str = "/internal/v1/sessions/revoke";
/// Internal: `POST` [`InternalAuthorize`] → [`AuthorizeResponse`].
pub const INTERNAL_AUTHORIZE_PATH: &str = "/internal/v1/authorize";
/// Internal: `POST` [`InternalTokenExchange`] → [`TokenExchangeResponse`].
pub const INTERNAL_TOKEN_EXCHANGE_PATH: &str = "/internal/v1/token-exchange";
/// Internal: `GET` → a JWK set (`{"keys": [...]}`).
pub const INTERNAL_JWKS_PATH: &str = "/internal/v1/jwks";

/// RFC 8693 grant type.
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693 token type of the issued session token.
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// Whether `token` has the shape of a compact JWT (`eyJ…` header, three dot-separated parts),
/// which is how session tokens and users' tokens are told from API keys and agent credentials
/// (which never have it). A shape check only: nothing is verified.
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.bytes().filter(|b| *b == b'.').count() == 2
}

/// The prefix of every session scope that names a provider (`provider:github:repo`).
pub const PROVIDER_SCOPE_PREFIX: &str = "provider:";

/// On-Behalf-Of: the user's token (a JWT from a trusted issuer of the workspace).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OnBehalfOf {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub subject_token: SecretString,
}

/// Body of `POST /v1/sessions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateSessionRequest {
    /// Empty = every scope the agent declared.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Capped at the agent's maximum.
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
    #[serde(default)]
    pub on_behalf_of: Option<OnBehalfOf>,
}

/// `act` claim of an On-Behalf-Of session: the agent acting for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Actor {
    pub sub: String,
}

/// 201 answer of `POST /v1/sessions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionResponse {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub session_token: SecretString,
    /// Always `session`.
    pub token_type: String,
    pub session_id: String,
    pub expires_in: u64,
    pub expires_at: String,
    pub scopes: Vec<String>,
    pub agent_id: String,
    /// The agent id, or the user for On-Behalf-Of.
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
}

/// `GET /v1/sessions/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionStatus {
    pub session_id: String,
    pub agent_id: String,
    pub sub: String,
    pub scopes: Vec<String>,
    pub expires_at: String,
    /// `active`, `expired` or `revoked` (also when the session ended with its agent's
    /// credential rotation or disable; `inactive_reason` says which).
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
    /// Whether the session can be used now (absent from brokers that predate it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Why it cannot: `session_revoked`, `session_expired`, `agent_disabled`,
    /// `agent_credential_changed` or `agent_deleted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactive_reason: Option<String>,
}

/// Body of `POST /v1/authorize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthorizeRequest {
    pub scope: String,
}

/// 200 answer of `POST /v1/authorize` (a refusal is a 403 envelope).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthorizeResponse {
    pub allowed: bool,
    pub scope: String,
    pub session_id: String,
}

/// 200 answer of `POST /v1/token` (RFC 8693 §2.2.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenExchangeResponse {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub access_token: SecretString,
    pub issued_token_type: String,
    pub token_type: String,
    pub expires_in: u64,
    pub scope: String,
    pub session_id: String,
}

// ---- internal bodies (gateway → broker) ---------------------------------------------------

/// Create a session. `credential` is what the caller presented: an agent credential (`nxa_…`),
/// or for On-Behalf-Of through `/v1/token` possibly an agent session token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InternalCreateSession {
    pub credential: SecretString,
    pub request: CreateSessionRequest,
    /// The gateway's public URL, the `iss` of the token.
    pub issuer: String,
    #[serde(default)]
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InternalVerifySession {
    pub token: SecretString,
}

/// Status or revocation of one session, by the session's own token or its agent's credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InternalSessionOp {
    pub credential: SecretString,
    pub session_id: String,
    #[serde(default)]
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InternalAuthorize {
    pub token: SecretString,
    pub scope: String,
    #[serde(default)]
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InternalTokenExchange {
    pub subject_token: SecretString,
    pub actor_token: SecretString,
    /// Space-separated; `None` = every scope allowed.
    #[serde(default)]
    pub scope: Option<String>,
    pub issuer: String,
    #[serde(default)]
    pub request_id: Option<String>,
}

/// What the verify call answers: the principal of a usable session.
pub type VerifiedSession = Principal;

/// The provider part of a session scope: `provider:github:repo` → `("github", Some("repo"))`,
/// `provider:github` → `("github", None)` (every scope of that provider).
pub fn parse_provider_scope(scope: &str) -> Option<(&str, Option<&str>)> {
    let rest = scope.strip_prefix(PROVIDER_SCOPE_PREFIX)?;
    match rest.split_once(':') {
        Some((name, s)) if !name.is_empty() && !s.is_empty() => Some((name, Some(s))),
        Some(_) => None,
        None if !rest.is_empty() => Some((rest, None)),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_scopes_parse() {
        assert_eq!(parse_provider_scope("provider:gh"), Some(("gh", None)));
        assert_eq!(
            parse_provider_scope("provider:gh:repo:read"),
            Some(("gh", Some("repo:read")))
        );
        assert_eq!(parse_provider_scope("provider:"), None);
        assert_eq!(parse_provider_scope("provider:gh:"), None);
        assert_eq!(parse_provider_scope("acme:gliding"), None);
    }

    #[test]
    fn jwt_shape() {
        assert!(looks_like_jwt("eyJhbGciOi.eyJzdWIi.sig"));
        assert!(!looks_like_jwt("nxk_abc_def"));
        assert!(!looks_like_jwt("eyJhbGciOi.eyJzdWIi"));
        assert!(!looks_like_jwt("eyJa.b.c.d"));
        assert!(!looks_like_jwt("xeyJ.a.b"));
        assert!(!looks_like_jwt(""));
    }

    #[test]
    fn session_request_defaults_and_rejects_unknown_fields() {
        let r: CreateSessionRequest = serde_json::from_str("{}").unwrap();
        assert!(r.scopes.is_empty() && r.ttl_seconds.is_none() && r.on_behalf_of.is_none());
        assert!(serde_json::from_str::<CreateSessionRequest>(r#"{"scope":"x"}"#).is_err());
    }
}
