//! Checking an access token (RFC 9068) that Nexus's authorization server issued.
//!
//! In order, each failure a fixed reason: `Bearer` scheme and one token; a compact JWS of at most
//! 8 KiB; header `typ` `at+jwt` (or `application/at+jwt`), `alg` ES256, a `kid`; the key from
//! the JWKS; the signature; `iss` byte-equal to the configured issuer; `aud` (string or array)
//! containing this server's resource; `exp` not passed and `nbf`/`iat` not in the future, both
//! with [`LEEWAY_SECONDS`]; `sub`, `client_id`, `workspace_id` present.

use super::jwks::{JwksCache, KeyError};
use jsonwebtoken::{Algorithm, Validation};
use nexus_protocol::SecretString;
use nexus_protocol::oauth::ActorClaim;
use serde::Deserialize;

/// Clock skew tolerated between the authorization server and this server.
pub const LEEWAY_SECONDS: i64 = 60;
/// The longest token considered (a Nexus access token is well under 1 KiB).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Why a presented token was refused. Each has a fixed description (it goes into the
/// `WWW-Authenticate` header and the body: never a token or a claim value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidToken {
    /// The `Authorization` header is not `Bearer <one token>`.
    Malformed,
    /// Not a compact JWS, too long, or undecodable.
    NotAJwt,
    /// Header `typ` is not `at+jwt`.
    WrongType,
    /// Header `alg` is not ES256, or no `kid`.
    UnsupportedAlgorithm,
    /// No key of the authorization server has this `kid`.
    UnknownKey,
    BadSignature,
    WrongIssuer,
    /// Minted for another resource.
    WrongAudience,
    Expired,
    NotYetValid,
    /// `sub`, `client_id`, `workspace_id`, `exp` or `scope` missing or mistyped.
    MissingClaim,
}

impl InvalidToken {
    pub fn description(self) -> &'static str {
        match self {
            Self::Malformed => "the Authorization header is not a Bearer token",
            Self::NotAJwt => "the access token is not a signed JWT",
            Self::WrongType => "the access token is not an at+jwt",
            Self::UnsupportedAlgorithm => "the access token's algorithm is not accepted",
            Self::UnknownKey => "the access token is signed with an unknown key",
            Self::BadSignature => "the access token's signature is invalid",
            Self::WrongIssuer => "the access token is from another issuer",
            Self::WrongAudience => "the access token was issued for another resource",
            Self::Expired => "the access token has expired",
            Self::NotYetValid => "the access token is not valid yet",
            Self::MissingClaim => "the access token lacks a required claim",
        }
    }

    /// A stable snake_case name (for logs and bindings).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::NotAJwt => "not_a_jwt",
            Self::WrongType => "wrong_type",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::UnknownKey => "unknown_key",
            Self::BadSignature => "bad_signature",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::MissingClaim => "missing_claim",
        }
    }
}

/// The outcome of a refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// No `Authorization` header.
    MissingToken,
    InvalidToken(InvalidToken),
    /// The token is valid but lacks scopes; `required` is every scope the operation needs.
    InsufficientScope {
        required: Vec<String>,
    },
    /// The authorization server's keys cannot be fetched (and none are held).
    KeysUnavailable,
}

/// The user (and client) a valid access token speaks for.
#[derive(Clone, PartialEq)]
pub struct AuthenticatedUser {
    /// `sub`: the Nexus user id (`usr_…`).
    pub subject: String,
    pub workspace_id: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    /// `exp`, seconds since the epoch.
    pub expires_at: i64,
    pub issuer: String,
    /// The resource the token is for (this server).
    pub resource: String,
    /// `act.sub`: the Nexus agent the client acts as, when it is one.
    pub actor: Option<String>,
    /// `sid`: the grant the token belongs to.
    pub grant_id: Option<String>,
    pub token_id: Option<String>,
    /// The token itself (to present back to Nexus for this user's upstream credential).
    pub token: SecretString,
}

impl std::fmt::Debug for AuthenticatedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthenticatedUser")
            .field("subject", &self.subject)
            .field("workspace_id", &self.workspace_id)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("expires_at", &self.expires_at)
            .field("actor", &self.actor)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The claims read, leniently typed so a missing one is a `MissingClaim`, not a parse error.
#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    client_id: Option<String>,
    scope: Option<String>,
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
    jti: Option<String>,
    sid: Option<String>,
    workspace_id: Option<String>,
    act: Option<ActorClaim>,
}

/// The token of an `Authorization` header value: `Bearer` (any case), one space-free token.
pub fn bearer_token(header: &str) -> Result<&str, InvalidToken> {
    let (scheme, token) = header
        .trim()
        .split_once(' ')
        .ok_or(InvalidToken::Malformed)?;
    let token = token.trim_start();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(InvalidToken::Malformed);
    }
    Ok(token)
}

pub(crate) struct Expected<'a> {
    pub issuer: &'a str,
    pub resource: &'a str,
}

/// Check `token` against `expected` at `now` (seconds since the epoch).
pub(crate) async fn verify(
    token: &str,
    keys: &JwksCache,
    expected: &Expected<'_>,
    now: i64,
) -> Result<AuthenticatedUser, Rejection> {
    use InvalidToken as E;
    let invalid = Rejection::InvalidToken;
    if token.len() > MAX_TOKEN_BYTES || token.split('.').count() != 3 {
        return Err(invalid(E::NotAJwt));
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| invalid(E::NotAJwt))?;
    let typ_ok = header.typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
    });
    if !typ_ok {
        return Err(invalid(E::WrongType));
    }
    if header.alg != Algorithm::ES256 {
        return Err(invalid(E::UnsupportedAlgorithm));
    }
    let kid = header.kid.ok_or(invalid(E::UnsupportedAlgorithm))?;
    let key = keys.key(&kid).await.map_err(|e| match e {
        KeyError::UnknownKey => invalid(E::UnknownKey),
        KeyError::Unavailable => Rejection::KeysUnavailable,
    })?;
    // The signature only: the claims are checked below, each with its own reason.
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => invalid(E::BadSignature),
            jsonwebtoken::errors::ErrorKind::Json(_) => invalid(E::MissingClaim),
            _ => invalid(E::NotAJwt),
        })?
        .claims;
    if claims.iss.as_deref() != Some(expected.issuer) {
        return Err(invalid(E::WrongIssuer));
    }
    let for_us = match &claims.aud {
        Some(Audience::One(aud)) => aud == expected.resource,
        Some(Audience::Many(auds)) => auds.iter().any(|a| a == expected.resource),
        None => false,
    };
    if !for_us {
        return Err(invalid(E::WrongAudience));
    }
    let exp = claims.exp.ok_or(invalid(E::MissingClaim))?;
    if exp <= now - LEEWAY_SECONDS {
        return Err(invalid(E::Expired));
    }
    let not_before = claims.nbf.into_iter().chain(claims.iat).max();
    if not_before.is_some_and(|t| t > now + LEEWAY_SECONDS) {
        return Err(invalid(E::NotYetValid));
    }
    let (Some(subject), Some(client_id), Some(workspace_id)) =
        (claims.sub, claims.client_id, claims.workspace_id)
    else {
        return Err(invalid(E::MissingClaim));
    };
    Ok(AuthenticatedUser {
        subject,
        workspace_id,
        client_id,
        scopes: claims
            .scope
            .unwrap_or_default()
            .split_ascii_whitespace()
            .map(str::to_owned)
            .collect(),
        expires_at: exp,
        issuer: expected.issuer.to_owned(),
        resource: expected.resource.to_owned(),
        actor: claims.act.map(|a| a.sub),
        grant_id: claims.sid,
        token_id: claims.jti,
        token: SecretString::new(token.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_header_needs_the_scheme_and_one_token() {
        assert_eq!(bearer_token("Bearer abc"), Ok("abc"));
        assert_eq!(bearer_token("bearer  abc"), Ok("abc"));
        assert_eq!(bearer_token("Basic abc"), Err(InvalidToken::Malformed));
        assert_eq!(bearer_token("Bearer"), Err(InvalidToken::Malformed));
        assert_eq!(bearer_token("Bearer a b"), Err(InvalidToken::Malformed));
    }
}
