//! The token endpoint (design 17 §2.4): authenticate the client, then one grant —
//! [`code`] (authorization code + PKCE), [`refresh`] (rotating refresh tokens with reuse
//! detection) or [`jwt_bearer`] (RFC 7523 with an ID-JAG, confidential clients only). Every
//! answer is a [`TokenResponse`] or an RFC 6749 error.

mod code;
mod id_jag;
mod jwt_bearer;
mod refresh;

use super::clients::auth::PresentedClient;
use super::{AuthorizationError, AuthorizationServerService};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nexus_protocol::oauth::{
    GRANT_AUTHORIZATION_CODE, GRANT_JWT_BEARER, GRANT_REFRESH_TOKEN, OAuthErrorCode, TokenResponse,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Refresh tokens are `nxr_` + 32 random bytes.
const REFRESH_PREFIX: &str = "nxr_";

/// RFC 7636 §4.1 alphabet and length bounds.
pub fn is_pkce_value(value: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// `BASE64URL(SHA256(verifier)) == challenge`.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
}

/// Form parameters, each at most once.
pub(crate) struct Form(HashMap<String, String>);

impl Form {
    pub(crate) fn parse(pairs: &[(String, String)]) -> Result<Self, AuthorizationError> {
        let mut map = HashMap::new();
        for (k, v) in pairs {
            if map.insert(k.clone(), v.clone()).is_some() {
                return Err(AuthorizationError::invalid_request(format!(
                    "{k} may appear only once"
                )));
            }
        }
        Ok(Self(map))
    }
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
    pub(crate) fn require(&self, key: &str) -> Result<&str, AuthorizationError> {
        self.get(key)
            .ok_or_else(|| AuthorizationError::invalid_request(format!("{key} is required")))
    }
}

impl AuthorizationServerService {
    /// `POST /as/token`: the form's pairs and the client's credentials.
    pub async fn token(
        &self,
        pairs: &[(String, String)],
        mut presented: PresentedClient,
    ) -> Result<TokenResponse, AuthorizationError> {
        let form = Form::parse(pairs)?;
        presented.client_id = form.get("client_id").map(str::to_owned);
        presented.client_secret = form.get("client_secret").map(|s| s.to_owned().into());
        let grant_type = form.require("grant_type")?.to_owned();
        let client = self.authenticate_client(&presented).await?;
        if grant_type == GRANT_JWT_BEARER && client.token_endpoint_auth_method == "none" {
            // Design D10: an ID-JAG is redeemed only by a client that proves who it is.
            return Err(AuthorizationError::invalid_client(
                "the JWT-bearer grant needs client authentication (a public client cannot use it)",
            ));
        }
        if !client.grant_types.contains(&grant_type) {
            let known = [
                GRANT_AUTHORIZATION_CODE,
                GRANT_REFRESH_TOKEN,
                GRANT_JWT_BEARER,
            ]
            .contains(&grant_type.as_str());
            return Err(if known {
                AuthorizationError::new(
                    OAuthErrorCode::UnauthorizedClient,
                    "the client is not registered for this grant type",
                )
            } else {
                AuthorizationError::new(
                    OAuthErrorCode::UnsupportedGrantType,
                    "grant_type must be authorization_code, refresh_token or the JWT-bearer grant",
                )
            });
        }
        match grant_type.as_str() {
            GRANT_AUTHORIZATION_CODE => self.redeem_code(&form, &client).await,
            GRANT_REFRESH_TOKEN => self.refresh(&form, &client).await,
            GRANT_JWT_BEARER => self.redeem_id_jag(&form, &client).await,
            _ => Err(AuthorizationError::new(
                OAuthErrorCode::UnsupportedGrantType,
                "grant_type must be authorization_code, refresh_token or the JWT-bearer grant",
            )),
        }
    }
}

fn new_refresh_token() -> String {
    format!("{REFRESH_PREFIX}{}", super::random_secret().expose())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_rfc_7636_appendix_b() {
        assert!(pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(is_pkce_value(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            43,
            43
        ));
        assert!(!is_pkce_value("short", 43, 128));
        assert!(!is_pkce_value(&"a+".repeat(30), 43, 128));
    }
}
