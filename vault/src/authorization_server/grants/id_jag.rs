//! Verifying an Identity Assertion JWT Authorization Grant (ID-JAG; MCP extension
//! `io.modelcontextprotocol/enterprise-managed-authorization`, design 17 §2.4).
//!
//! Two passes: the unverified header and claims only pick what to check against (the
//! `resource`, hence the workspace, and the `iss`, hence which identity provider's keys); then
//! the signature with that provider's keys (the cache On-Behalf-Of uses) and every claim.
//! Refusals are `invalid_grant` with fixed text: the assertion is never echoed.

use crate::authorization_server::AuthorizationError;
use crate::identity::obo::{CLOCK_SKEW_SECONDS, SubjectTokenError, TrustedIssuers};
use crate::store::identity::IdentityProvider;
use jsonwebtoken::{Algorithm, Validation};
use nexus_protocol::oauth::{ID_JAG_TYP, OAuthErrorCode};
use serde::Deserialize;

/// Longest assertion looked at.
const MAX_ASSERTION_LEN: usize = 16 * 1024;
/// Longest lifetime (`exp` − `iat`) of an ID-JAG: they are minted for one immediate exchange.
const MAX_LIFETIME_SECONDS: i64 = 600;
/// Longest `jti` stored.
const MAX_JTI_LEN: usize = 255;

/// Signature algorithms accepted (design 17 §2.4): asymmetric only, no `none`, no HMAC.
const ALGORITHMS: [Algorithm; 4] = [
    Algorithm::ES256,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::EdDSA,
];

fn refused(description: &str) -> AuthorizationError {
    AuthorizationError::invalid_grant(description)
}

/// What the assertion claims before anything is verified: enough to find the resource and
/// the identity provider.
pub(super) struct Unverified {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub issuer: String,
    pub resource: String,
}

#[derive(Deserialize)]
struct PeekClaims {
    iss: Option<String>,
    resource: Option<serde_json::Value>,
}

/// Header and routing claims of `assertion`, or `invalid_grant`.
pub(super) fn peek(assertion: &str) -> Result<Unverified, AuthorizationError> {
    if assertion.len() > MAX_ASSERTION_LEN {
        return Err(refused("the assertion is too long"));
    }
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| refused("the assertion is not a signed JWT"))?;
    let typ = header.typ.as_deref().unwrap_or_default();
    let typ = typ.strip_prefix("application/").unwrap_or(typ);
    if !typ.eq_ignore_ascii_case(ID_JAG_TYP) {
        return Err(refused(
            "the assertion is not an ID-JAG (header typ must be oauth-id-jag+jwt)",
        ));
    }
    if !ALGORITHMS.contains(&header.alg) {
        return Err(refused(
            "the assertion's signature algorithm is not accepted (ES256, RS256, PS256, EdDSA)",
        ));
    }
    let claims = jsonwebtoken::dangerous::insecure_decode::<PeekClaims>(assertion)
        .map_err(|_| refused("the assertion's claims are not a JSON object"))?
        .claims;
    let issuer = claims
        .iss
        .filter(|i| !i.is_empty())
        .ok_or_else(|| refused("the assertion has no iss claim"))?;
    let resource = match claims.resource {
        Some(serde_json::Value::String(r)) if !r.is_empty() => r,
        _ => {
            return Err(AuthorizationError::new(
                OAuthErrorCode::InvalidTarget,
                "the assertion has no resource claim (one MCP resource URI)",
            ));
        }
    };
    Ok(Unverified {
        alg: header.alg,
        kid: header.kid,
        issuer,
        resource,
    })
}

/// The claims of a verified ID-JAG the grant uses.
#[derive(Debug)]
pub(super) struct IdJag {
    pub subject: String,
    pub jti: String,
    pub exp: i64,
    pub client_id: String,
    /// `None` when the assertion has no `scope` claim.
    pub scopes: Option<Vec<String>>,
    pub auth_time: Option<i64>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    iat: Option<i64>,
    jti: Option<String>,
    client_id: Option<String>,
    scope: Option<String>,
    auth_time: Option<i64>,
}

/// Verify the signature with `idp`'s keys and every claim: `aud` = `issuer` (ours), `exp`,
/// `nbf`, `iat` with [`CLOCK_SKEW_SECONDS`], a short lifetime, `jti`, `sub`, `client_id`.
pub(super) async fn verify(
    trusted: &TrustedIssuers,
    idp: &IdentityProvider,
    peeked: &Unverified,
    assertion: &str,
    our_issuer: &str,
) -> Result<IdJag, AuthorizationError> {
    let key = trusted
        .key_for(idp, peeked.kid.as_deref())
        .await
        .map_err(|e| match e {
            SubjectTokenError::KeysUnavailable => AuthorizationError::new(
                OAuthErrorCode::TemporarilyUnavailable,
                "the identity provider's keys could not be fetched; retry later",
            ),
            _ => refused("the assertion's signature does not verify with the issuer's keys"),
        })?;
    let mut validation = Validation::new(peeked.alg);
    validation.leeway = u64::try_from(CLOCK_SKEW_SECONDS).unwrap_or(60);
    validation.validate_nbf = true;
    validation.set_issuer(&[&idp.issuer]);
    validation.set_audience(&[our_issuer]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Claims>(assertion, &key, &validation)
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            refused(match e.kind() {
                ErrorKind::ExpiredSignature => "the assertion has expired",
                ErrorKind::ImmatureSignature => "the assertion is not valid yet (nbf)",
                ErrorKind::InvalidAudience => {
                    "the assertion's aud is not this authorization server's issuer"
                }
                ErrorKind::InvalidSignature => {
                    "the assertion's signature does not verify with the issuer's keys"
                }
                ErrorKind::MissingRequiredClaim(claim) if claim == "aud" => {
                    "the assertion's aud is not this authorization server's issuer"
                }
                ErrorKind::MissingRequiredClaim(_) => {
                    "the assertion lacks a required claim (iss, sub, aud, exp)"
                }
                _ => "the assertion's claims do not validate",
            })
        })?
        .claims;
    let now = chrono::Utc::now().timestamp();
    let iat = claims
        .iat
        .ok_or_else(|| refused("the assertion has no iat claim"))?;
    if iat > now + CLOCK_SKEW_SECONDS {
        return Err(refused("the assertion is issued in the future (iat)"));
    }
    if claims.exp - iat > MAX_LIFETIME_SECONDS {
        return Err(refused(
            "the assertion's lifetime (exp - iat) is longer than 10 minutes",
        ));
    }
    let jti = claims
        .jti
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
        .ok_or_else(|| refused("the assertion has no usable jti claim"))?;
    let subject = Some(claims.sub)
        .filter(|s| !s.is_empty() && s.len() <= 500 && !s.chars().any(char::is_control))
        .ok_or_else(|| refused("the assertion has no usable sub claim"))?;
    let client_id = claims
        .client_id
        .filter(|c| !c.is_empty())
        .ok_or_else(|| refused("the assertion has no client_id claim"))?;
    Ok(IdJag {
        subject,
        jti,
        exp: claims.exp,
        client_id,
        scopes: claims
            .scope
            .map(|s| s.split_whitespace().map(str::to_owned).collect()),
        auth_time: claims.auth_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn jwt(header: serde_json::Value, claims: serde_json::Value) -> String {
        let part = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.c2ln", part(header), part(claims))
    }

    fn code_of(r: Result<Unverified, AuthorizationError>) -> OAuthErrorCode {
        r.err().expect("refused").code
    }

    #[test]
    fn peek_wants_the_id_jag_typ_an_asymmetric_alg_an_issuer_and_a_resource() {
        let claims = serde_json::json!({"iss": "https://idp", "resource": "https://mcp"});
        let ok = peek(&jwt(
            serde_json::json!({"alg": "RS256", "typ": "oauth-id-jag+jwt", "kid": "k"}),
            claims.clone(),
        ))
        .expect("accepted");
        assert_eq!(
            (ok.issuer.as_str(), ok.resource.as_str()),
            ("https://idp", "https://mcp")
        );
        assert!(
            peek(&jwt(
                serde_json::json!({"alg": "ES256", "typ": "application/OAUTH-ID-JAG+JWT"}),
                claims.clone()
            ))
            .is_ok()
        );
        for header in [
            serde_json::json!({"alg": "RS256", "typ": "JWT"}),
            serde_json::json!({"alg": "RS256"}),
            serde_json::json!({"alg": "HS256", "typ": "oauth-id-jag+jwt"}),
        ] {
            assert_eq!(
                code_of(peek(&jwt(header, claims.clone()))),
                OAuthErrorCode::InvalidGrant
            );
        }
        let header = serde_json::json!({"alg": "RS256", "typ": "oauth-id-jag+jwt"});
        assert_eq!(
            code_of(peek(&jwt(
                header.clone(),
                serde_json::json!({"iss": "https://idp"})
            ))),
            OAuthErrorCode::InvalidTarget
        );
        assert_eq!(
            code_of(peek(&jwt(
                header,
                serde_json::json!({"resource": "https://mcp"})
            ))),
            OAuthErrorCode::InvalidGrant
        );
        assert_eq!(code_of(peek("not a jwt")), OAuthErrorCode::InvalidGrant);
    }
}
