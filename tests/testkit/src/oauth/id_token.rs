//! OpenID Connect ID tokens: RS256 JWTs signed with a key published at `/jwks`.
//!
//! The key is a fixed, test-only RSA key embedded in the source (`test_signing_key.pem`).
//! Generating one per start would need a crypto crate the workspace does not otherwise carry,
//! and a fixed key is harmless here: it signs nothing but loopback test tokens.

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// Test-only key. Never use it for anything but this crate's fake provider.
const TEST_SIGNING_KEY_PEM: &[u8] = include_bytes!("test_signing_key.pem");

/// The `kid` of the one signing key.
pub const SIGNING_KEY_ID: &str = "nexus-testkit-rs256";

/// Errors while preparing or using the signing key. They indicate a broken build of this crate,
/// never bad input.
#[derive(Debug, thiserror::Error)]
#[error("id_token signing failed: {0}")]
pub(crate) struct SigningError(#[from] jsonwebtoken::errors::Error);

/// Signs ID tokens and describes the public half as a JWK set.
pub(crate) struct IdTokenSigner {
    key: EncodingKey,
    jwks: JwkSet,
}

impl std::fmt::Debug for IdTokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdTokenSigner { kid: \"")?;
        f.write_str(SIGNING_KEY_ID)?;
        f.write_str("\" }")
    }
}

/// The claims of an ID token (OIDC Core §2).
#[derive(Debug, Serialize)]
pub(crate) struct IdTokenClaims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: &'a str,
    pub exp: i64,
    pub iat: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<&'a str>,
}

impl IdTokenSigner {
    pub(crate) fn new() -> Result<Self, SigningError> {
        let key = EncodingKey::from_rsa_pem(TEST_SIGNING_KEY_PEM)?;
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256)?;
        jwk.common.key_id = Some(SIGNING_KEY_ID.to_owned());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(KeyAlgorithm::RS256);
        Ok(Self {
            key,
            jwks: JwkSet { keys: vec![jwk] },
        })
    }

    /// Sign any claims (user tokens for On-Behalf-Of tests), with the same key and `kid`.
    pub(crate) fn sign_any<T: Serialize>(&self, claims: &T) -> Result<String, SigningError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(SIGNING_KEY_ID.to_owned());
        Ok(jsonwebtoken::encode(&header, claims, &self.key)?)
    }

    /// Sign any claims with a JOSE `typ` header (ID-JAGs are `oauth-id-jag+jwt`).
    pub(crate) fn sign_typed<T: Serialize>(
        &self,
        typ: &str,
        claims: &T,
    ) -> Result<String, SigningError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(SIGNING_KEY_ID.to_owned());
        header.typ = Some(typ.to_owned());
        Ok(jsonwebtoken::encode(&header, claims, &self.key)?)
    }

    pub(crate) fn sign(&self, claims: &IdTokenClaims<'_>) -> Result<String, SigningError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(SIGNING_KEY_ID.to_owned());
        Ok(jsonwebtoken::encode(&header, claims, &self.key)?)
    }

    pub(crate) fn jwks(&self) -> &JwkSet {
        &self.jwks
    }
}
