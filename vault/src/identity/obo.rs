//! On-Behalf-Of: verifying a user's JWT against the workspace's trusted issuers.
//!
//! The token's `iss` selects the trusted identity provider (an untrusted issuer is refused
//! before anything is fetched); its keys come from the configured `jwks_url` or from OIDC
//! discovery at `{issuer}/.well-known/openid-configuration`. Key sets are cached for five
//! minutes and fetched again once when a token names an unknown `kid` (key rotation at the IdP).
//! Only asymmetric algorithms are accepted.
//!
//! Claims (RFC 7519, RFC 8693): `exp` is required and has no leeway; `nbf` and `iat` may be
//! at most [`CLOCK_SKEW`] in the future; `aud` is required and must match when the provider is
//! registered with an audience; a token that is itself delegated (carries `act`) is refused
//! (Nexus does not build delegation chains); a `sub` that names an agent of the workspace is
//! refused (a user token cannot make an agent act as another agent).

use crate::store::Store;
use crate::store::identity::IdentityProvider;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::Mutex;
use serde::Deserialize;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

const JWKS_CACHE_FOR: Duration = Duration::from_secs(300);
/// How long an issuer's discovery document (its `jwks_uri`) is reused.
pub const DISCOVERY_CACHE_FOR: Duration = Duration::from_secs(3600);
/// How far in the future `nbf` and `iat` may be (the two clocks may disagree this much).
pub const CLOCK_SKEW_SECONDS: i64 = 60;
/// Longest user token looked at.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// A verified user: who, according to which issuer, with which permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedUser {
    pub issuer: String,
    pub subject: String,
    /// From the `scope` claim (space-separated) or the `permissions` claim (array).
    pub permissions: Vec<String>,
}

/// Why a user token is refused. The message is shown to the caller (never the token).
#[derive(Debug, thiserror::Error)]
pub enum SubjectTokenError {
    #[error("the subject token is malformed")]
    Malformed,
    #[error("the subject token's issuer is not trusted by this workspace")]
    UntrustedIssuer,
    #[error("the subject token's signature does not verify with the issuer's keys")]
    BadSignature,
    #[error("the subject token has expired")]
    Expired,
    #[error("the subject token's audience does not match")]
    WrongAudience,
    #[error("the subject token is not acceptable: {0}")]
    Invalid(&'static str),
    #[error("the issuer's keys could not be fetched")]
    KeysUnavailable,
    /// An id_token whose `nonce` is not the one of this sign-in (a replayed or injected token).
    #[error("the id_token was not issued for this sign-in (nonce mismatch)")]
    NonceMismatch,
}

/// What a verified id_token says about the person who signed in.
#[derive(Debug, Clone)]
pub struct IdTokenClaims {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    /// The other claims (groups under a configurable name).
    pub other: HashMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct UnverifiedClaims {
    iss: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct UserClaims {
    pub(crate) sub: Option<String>,
    #[serde(default)]
    pub(crate) aud: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) azp: Option<String>,
    #[serde(default)]
    pub(crate) nonce: Option<String>,
    #[serde(default)]
    pub(crate) email: Option<String>,
    #[serde(default)]
    pub(crate) email_verified: Option<bool>,
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// Everything else (a configurable groups claim is read from here).
    #[serde(flatten)]
    pub(crate) other: HashMap<String, serde_json::Value>,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    act: Option<serde_json::Value>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    permissions: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Discovery {
    jwks_uri: String,
}

pub struct TrustedIssuers {
    http: reqwest::Client,
    /// JWKS URL → (fetched at, key set).
    keys: Mutex<HashMap<String, (Instant, JwkSet)>>,
    /// Issuer → (fetched at, `jwks_uri` of its discovery document).
    discovered: Mutex<HashMap<String, (Instant, String)>>,
}

impl TrustedIssuers {
    pub fn new(timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .unwrap_or_default();
        Self {
            http,
            keys: Mutex::new(HashMap::new()),
            discovered: Mutex::new(HashMap::new()),
        }
    }

    /// Verify `token` for `workspace_id`.
    pub async fn verify(
        &self,
        store: &Store,
        workspace_id: &str,
        token: &str,
    ) -> Result<VerifiedUser, SubjectTokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(SubjectTokenError::Malformed);
        }
        let unverified = jsonwebtoken::dangerous::insecure_decode::<UnverifiedClaims>(token)
            .map_err(|_| SubjectTokenError::Malformed)?;
        let issuer = unverified
            .claims
            .iss
            .ok_or(SubjectTokenError::Invalid("no `iss` claim"))?;
        let idp = store
            .list_identity_providers(workspace_id)
            .await
            .map_err(|_| SubjectTokenError::KeysUnavailable)?
            .into_iter()
            .find(|p| p.issuer == issuer)
            .ok_or(SubjectTokenError::UntrustedIssuer)?;
        let data = self.decode(&idp, token, idp.audience.as_deref()).await?;
        if data.claims.act.is_some() {
            return Err(SubjectTokenError::Invalid(
                "a delegated token (with `act`) cannot be a subject token",
            ));
        }
        let subject = data
            .claims
            .sub
            .filter(|s| !s.is_empty() && s.len() <= 500 && !s.chars().any(char::is_control))
            .ok_or(SubjectTokenError::Invalid("no usable `sub` claim"))?;
        let names_an_agent = store
            .agent_by_id(workspace_id, &subject)
            .await
            .map_err(|_| SubjectTokenError::KeysUnavailable)?
            .is_some();
        if names_an_agent {
            return Err(SubjectTokenError::Invalid(
                "`sub` names an agent, not a user",
            ));
        }
        let permissions = match (data.claims.scope, data.claims.permissions) {
            (Some(scope), _) => scope.split_whitespace().map(str::to_owned).collect(),
            (None, Some(perms)) => perms,
            (None, None) => Vec::new(),
        };
        Ok(VerifiedUser {
            issuer: idp.issuer,
            subject,
            permissions,
        })
    }

    /// The one JWT check for tokens of a trusted provider: asymmetric algorithm, signature with
    /// the provider's keys, `iss`, `exp` (no leeway), `aud` ∋ `audience` when given, `nbf`/`iat`
    /// within the clock skew, a usable `sub`. Subject tokens (above) and id_tokens of browser
    /// login (`verify_id_token`) add their own rules on top.
    async fn decode(
        &self,
        idp: &IdentityProvider,
        token: &str,
        audience: Option<&str>,
    ) -> Result<jsonwebtoken::TokenData<UserClaims>, SubjectTokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(SubjectTokenError::Malformed);
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| SubjectTokenError::Malformed)?;
        if header
            .typ
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(nexus_protocol::oauth::ID_JAG_TYP))
        {
            // An ID-JAG is a grant for the authorization server, not a user's token (nor an
            // id_token): it must not be exchangeable for a session or a login here too.
            return Err(SubjectTokenError::Invalid(
                "an ID-JAG is not a subject token (redeem it at the token endpoint)",
            ));
        }
        if !is_asymmetric(header.alg) {
            return Err(SubjectTokenError::Invalid(
                "only asymmetric signatures are accepted",
            ));
        }
        let key = self.key_for(idp, header.kid.as_deref()).await?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = 0;
        validation.set_issuer(&[&idp.issuer]);
        // `nbf` is checked below with the documented skew (the library's leeway would also
        // stretch `exp`).
        validation.validate_nbf = false;
        match audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
            }
            None => {
                validation.validate_aud = false;
                validation.set_required_spec_claims(&["exp", "iss", "sub"]);
            }
        }
        let data = jsonwebtoken::decode::<UserClaims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => SubjectTokenError::Expired,
                ErrorKind::InvalidAudience => SubjectTokenError::WrongAudience,
                ErrorKind::InvalidSignature => SubjectTokenError::BadSignature,
                ErrorKind::MissingRequiredClaim(claim) if claim == "aud" => {
                    SubjectTokenError::WrongAudience
                }
                ErrorKind::MissingRequiredClaim(_) => {
                    SubjectTokenError::Invalid("a required claim is missing")
                }
                _ => SubjectTokenError::Invalid("claims do not validate"),
            }
        })?;
        let latest = chrono::Utc::now().timestamp() + CLOCK_SKEW_SECONDS;
        if data.claims.nbf.is_some_and(|nbf| nbf > latest) {
            return Err(SubjectTokenError::Invalid(
                "the token is not valid yet (`nbf`)",
            ));
        }
        if data.claims.iat.is_some_and(|iat| iat > latest) {
            return Err(SubjectTokenError::Invalid(
                "the token is issued in the future (`iat`)",
            ));
        }
        let usable =
            data.claims.sub.as_deref().is_some_and(|s| {
                !s.is_empty() && s.len() <= 500 && !s.chars().any(char::is_control)
            });
        if !usable {
            return Err(SubjectTokenError::Invalid("no usable `sub` claim"));
        }
        Ok(data)
    }

    /// An OpenID Connect id_token from the browser login at `idp` (OpenID Connect Core §3.1.3.7):
    /// the checks of every token of the provider with `aud` ∋ `client_id`, then `azp` (when
    /// several audiences), `iat` present and the `nonce` of this sign-in.
    pub async fn verify_id_token(
        &self,
        idp: &IdentityProvider,
        token: &str,
        client_id: &str,
        nonce: &str,
    ) -> Result<IdTokenClaims, SubjectTokenError> {
        let data = self.decode(idp, token, Some(client_id)).await?;
        let c = data.claims;
        if c.iat.is_none() {
            return Err(SubjectTokenError::Invalid("the id_token has no `iat`"));
        }
        let several = matches!(&c.aud, Some(serde_json::Value::Array(a)) if a.len() > 1);
        if (several || c.azp.is_some()) && c.azp.as_deref() != Some(client_id) {
            return Err(SubjectTokenError::WrongAudience);
        }
        let nonce_ok = c
            .nonce
            .as_deref()
            .is_some_and(|n| bool::from(n.as_bytes().ct_eq(nonce.as_bytes())));
        if !nonce_ok {
            return Err(SubjectTokenError::NonceMismatch);
        }
        Ok(IdTokenClaims {
            subject: c.sub.unwrap_or_default(),
            email: c.email,
            email_verified: c.email_verified.unwrap_or(false),
            name: c.name,
            other: c.other,
        })
    }

    /// The verification key `kid` names in `idp`'s key set (cached; fetched again once for an
    /// unknown `kid`). Also used by the authorization server for ID-JAGs.
    pub(crate) async fn key_for(
        &self,
        idp: &IdentityProvider,
        kid: Option<&str>,
    ) -> Result<DecodingKey, SubjectTokenError> {
        let url = match &idp.jwks_url {
            Some(u) => u.clone(),
            None => self.discover(&idp.issuer).await?,
        };
        let cached = self
            .keys
            .lock()
            .get(&url)
            .filter(|(at, _)| at.elapsed() < JWKS_CACHE_FOR)
            .map(|(_, set)| set.clone());
        if let Some(set) = cached
            && let Some(key) = pick(&set, kid)
        {
            return key;
        }
        let set = self.fetch_jwks(&url).await?;
        self.keys.lock().insert(url, (Instant::now(), set.clone()));
        pick(&set, kid).unwrap_or(Err(SubjectTokenError::BadSignature))
    }

    /// The issuer's `jwks_uri`, from its discovery document (reused for
    /// [`DISCOVERY_CACHE_FOR`]).
    async fn discover(&self, issuer: &str) -> Result<String, SubjectTokenError> {
        let cached = self
            .discovered
            .lock()
            .get(issuer)
            .filter(|(at, _)| at.elapsed() < DISCOVERY_CACHE_FOR)
            .map(|(_, uri)| uri.clone());
        if let Some(uri) = cached {
            return Ok(uri);
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let doc: Discovery = self.get_json(&url).await?;
        self.discovered
            .lock()
            .insert(issuer.to_owned(), (Instant::now(), doc.jwks_uri.clone()));
        Ok(doc.jwks_uri)
    }

    async fn fetch_jwks(&self, url: &str) -> Result<JwkSet, SubjectTokenError> {
        self.get_json(url).await
    }

    /// The shared client (the browser login's token request uses it too).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<T, SubjectTokenError> {
        let response = self.http.get(url).send().await.map_err(|e| {
            tracing::warn!(error = %e, "could not fetch identity provider keys");
            SubjectTokenError::KeysUnavailable
        })?;
        if !response.status().is_success() {
            tracing::warn!(
                status = response.status().as_u16(),
                url,
                "identity provider keys fetch failed"
            );
            return Err(SubjectTokenError::KeysUnavailable);
        }
        response
            .json::<T>()
            .await
            .map_err(|_| SubjectTokenError::KeysUnavailable)
    }
}

/// The key named by `kid` (or the only key when the token names none).
fn pick(set: &JwkSet, kid: Option<&str>) -> Option<Result<DecodingKey, SubjectTokenError>> {
    let jwk = match kid {
        Some(kid) => set.find(kid)?,
        None if set.keys.len() == 1 => &set.keys[0],
        None => return None,
    };
    Some(DecodingKey::from_jwk(jwk).map_err(|_| SubjectTokenError::BadSignature))
}

fn is_asymmetric(alg: Algorithm) -> bool {
    !matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}
