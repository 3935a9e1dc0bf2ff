//! How an [`OAuthServer`](super::OAuthServer) is configured. Everything here can also be changed
//! while it runs (Rust setters, or `POST /_control/config`).

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::serve::LOOPBACK_ANY_PORT;

/// Which client authentication the token endpoint requires (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// `Authorization: Basic base64(urlencode(id):urlencode(secret))` only.
    #[serde(rename = "client_secret_basic", alias = "basic")]
    Basic,
    /// `client_id` and `client_secret` in the form body only.
    #[serde(rename = "client_secret_post", alias = "post")]
    Post,
    /// Either of the two (but never both in one request, as the RFC forbids).
    #[default]
    #[serde(alias = "any")]
    Either,
}

/// What the authorization endpoint does with a valid request (there is no consent page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizeMode {
    /// Redirect back with `code`, `state` and `iss`.
    #[default]
    Approve,
    /// Redirect back with `error=access_denied` (the user clicked "Cancel").
    Deny,
}

/// The `iss` parameter of the authorization response (RFC 9207, mix-up attack defence).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum IssParam {
    /// `iss` is the server's issuer URL.
    #[default]
    Correct,
    /// No `iss` parameter at all (an older provider).
    Omit,
    /// `iss` carries this value instead (a mix-up attack, or a misconfigured provider).
    Override(String),
}

/// Start-up configuration of an [`OAuthServer`](super::OAuthServer). `Default` gives a working
/// provider with one registered client, accepting any redirect URI. `Debug` hides the secret.
#[derive(Clone)]
pub struct OAuthServerOptions {
    /// Where to listen. Default `127.0.0.1:0` (the OS picks a free port).
    pub addr: SocketAddr,
    /// The one registered client. Default `"nexus-test-client"`.
    pub client_id: String,
    /// Its secret. Default `"nexus-test-secret"`.
    pub client_secret: String,
    /// Registered redirect URIs, compared exactly. Empty (the default) accepts any absolute
    /// `http`/`https` URI, because a broker under test usually learns its callback port only
    /// after the provider has started.
    pub redirect_uris: Vec<String>,
    /// Which client authentication the token endpoint requires. Default: either.
    pub client_auth: ClientAuth,
    /// `expires_in` of access tokens. Default 3600 s.
    pub access_token_ttl: Duration,
    /// Approve or deny authorization requests. Default approve.
    pub authorize_mode: AuthorizeMode,
    /// The `iss` redirect parameter. Default: the correct issuer.
    pub iss_param: IssParam,
    /// Discovery advertises `authorization_response_iss_parameter_supported: true` (RFC 9207),
    /// so a client must refuse a response without `iss`. Default true.
    pub advertise_iss_support: bool,
    /// If set, the provider grants only the requested scopes that are in this list (like a user
    /// unticking boxes on a consent page). Default: every requested scope is granted.
    pub grantable_scopes: Option<Vec<String>>,
    /// Presenting an already-rotated refresh token also revokes every token of that grant, as
    /// providers with refresh-token reuse detection do (Auth0, Okta). Default false: the old
    /// token is rejected and the newest one keeps working.
    pub reuse_revokes_grant: bool,
    /// The `sub` of the (single) end user. Default `"user-1234"`.
    pub subject: String,
}

impl Default for OAuthServerOptions {
    fn default() -> Self {
        Self {
            addr: LOOPBACK_ANY_PORT,
            client_id: "nexus-test-client".to_owned(),
            client_secret: "nexus-test-secret".to_owned(),
            redirect_uris: Vec::new(),
            client_auth: ClientAuth::default(),
            access_token_ttl: Duration::from_secs(3600),
            authorize_mode: AuthorizeMode::default(),
            iss_param: IssParam::default(),
            advertise_iss_support: true,
            grantable_scopes: None,
            reuse_revokes_grant: false,
            subject: "user-1234".to_owned(),
        }
    }
}

impl std::fmt::Debug for OAuthServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthServerOptions")
            .field("addr", &self.addr)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("redirect_uris", &self.redirect_uris)
            .field("client_auth", &self.client_auth)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("authorize_mode", &self.authorize_mode)
            .field("iss_param", &self.iss_param)
            .field("advertise_iss_support", &self.advertise_iss_support)
            .field("grantable_scopes", &self.grantable_scopes)
            .field("reuse_revokes_grant", &self.reuse_revokes_grant)
            .field("subject", &self.subject)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_client_secret() {
        let options = OAuthServerOptions {
            client_secret: "very-secret-value".to_owned(),
            ..OAuthServerOptions::default()
        };
        let printed = format!("{options:?}");
        assert!(!printed.contains("very-secret-value"), "{printed}");
        assert!(printed.contains("nexus-test-client"));
    }

    #[test]
    fn settings_json_names_match_the_documented_ones() {
        let auth: ClientAuth = serde_json::from_str("\"basic\"").unwrap();
        assert_eq!(auth, ClientAuth::Basic);
        assert_eq!(
            serde_json::to_string(&ClientAuth::Post).unwrap(),
            "\"client_secret_post\""
        );
        let iss: IssParam = serde_json::from_str(r#"{"override":"https://x"}"#).unwrap();
        assert_eq!(iss, IssParam::Override("https://x".to_owned()));
        let iss: IssParam = serde_json::from_str("\"omit\"").unwrap();
        assert_eq!(iss, IssParam::Omit);
        let mode: AuthorizeMode = serde_json::from_str("\"deny\"").unwrap();
        assert_eq!(mode, AuthorizeMode::Deny);
    }
}
