//! On-Behalf-Of: verifying a user's JWT against the workspace's trusted issuers.
//!
//! The token's `iss` selects the trusted identity provider (an untrusted issuer is refused
//! before anything is fetched); its keys come from the configured `jwks_url` or from OIDC
//! discovery at `{issuer}/.well-known/openid-configuration`. Key sets are cached for five
//! minutes and fetched again once when a token names an unknown `kid` (key rotation at the IdP).
//! Only asymmetric algorithms are accepted.

use crate::store::Store;
use crate::store::identity::IdentityProvider;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::Mutex;
use serde::Deserialize;
use std::collections::HashMap;
use std::time::{Duration, Instant};

const JWKS_CACHE_FOR: Duration = Duration::from_secs(300);
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
}

#[derive(Deserialize)]
struct UnverifiedClaims {
    iss: Option<String>,
}

#[derive(Deserialize)]
struct UserClaims {
    sub: Option<String>,
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
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| SubjectTokenError::Malformed)?;
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
        if !is_asymmetric(header.alg) {
            return Err(SubjectTokenError::Invalid(
                "only asymmetric signatures are accepted",
            ));
        }
        let key = self.key_for(&idp, header.kid.as_deref()).await?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = 0;
        validation.set_issuer(&[&idp.issuer]);
        match &idp.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let data = jsonwebtoken::decode::<UserClaims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => SubjectTokenError::Expired,
                ErrorKind::InvalidAudience => SubjectTokenError::WrongAudience,
                ErrorKind::InvalidSignature => SubjectTokenError::BadSignature,
                ErrorKind::MissingRequiredClaim(_) => {
                    SubjectTokenError::Invalid("a required claim is missing")
                }
                _ => SubjectTokenError::Invalid("claims do not validate"),
            }
        })?;
        let subject = data
            .claims
            .sub
            .filter(|s| !s.is_empty() && s.len() <= 500 && !s.chars().any(char::is_control))
            .ok_or(SubjectTokenError::Invalid("no usable `sub` claim"))?;
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

    async fn key_for(
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

    async fn discover(&self, issuer: &str) -> Result<String, SubjectTokenError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let doc: Discovery = self.get_json(&url).await?;
        Ok(doc.jwks_uri)
    }

    async fn fetch_jwks(&self, url: &str) -> Result<JwkSet, SubjectTokenError> {
        self.get_json(url).await
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
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
