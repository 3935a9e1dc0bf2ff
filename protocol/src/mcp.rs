//! "From MCP user to upstream token" (design 17 §5.4): an MCP server, holding its workspace API
//! key, presents the MCP access token it received and gets that user's upstream credential.
//!
//! `POST /v1/mcp/user-credential` with [`UserCredentialRequest`] answers the same
//! [`crate::ResolveResponse`] as `GET /v1/resolve`, or 409 `connection_required` whose
//! [`crate::ErrorBody`] carries `provider`, `reason`, `connect_url` and `elicitation_id` (the
//! link is bound to the token's user: another account opening it is refused).

use crate::internal::Principal;
use crate::secret::SecretString;
use serde::{Deserialize, Serialize};

/// Public path (gateway, workspace API key).
pub const USER_CREDENTIAL_PATH: &str = "/v1/mcp/user-credential";
/// Internal path (broker, gateway's internal token), body [`InternalUserCredentialRequest`].
pub const INTERNAL_USER_CREDENTIAL_PATH: &str = "/internal/v1/mcp/user-credential";
/// The largest body the gateway accepts on [`USER_CREDENTIAL_PATH`] (a JWT is far smaller).
pub const USER_CREDENTIAL_MAX_BODY: usize = 16 * 1024;
/// Public path (gateway, workspace API key): which authorization server issues the MCP access
/// tokens an MCP server receives (design 17 §2.1), answered as [`AsAdvertisement`].
pub const AUTHORIZATION_SERVER_PATH: &str = "/v1/mcp/authorization-server";
/// Internal path (broker, gateway's internal token) the gateway reads [`AsAdvertisement`] from.
pub const INTERNAL_AS_ADVERTISEMENT_PATH: &str = "/internal/v1/as/advertisement";
/// Where a connect link points: `{issuer}/as/connect/{ticket}`.
pub const CONNECT_TICKET_PATH_PREFIX: &str = "/as/connect/";

/// Body of [`USER_CREDENTIAL_PATH`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserCredentialRequest {
    /// The provider whose credential the user's connection holds (`github`, …).
    pub provider: String,
    /// The MCP access token the server received (issued by this Nexus). Presented back to its
    /// issuer only: never sent upstream, never logged, never echoed.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub subject_token: SecretString,
    /// The credential must stay valid at least this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ttl: Option<u64>,
    /// Skip every cache and refresh at the provider.
    #[serde(default, skip_serializing_if = "is_false")]
    pub force_refresh: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Body of [`INTERNAL_USER_CREDENTIAL_PATH`]: the public body plus who asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InternalUserCredentialRequest {
    pub principal: Principal,
    pub request: UserCredentialRequest,
    #[serde(default)]
    pub request_id: Option<String>,
}

/// The authorization server an MCP server trusts, so that one configured only with the gateway
/// URL and its API key needs no issuer setting. The same values as the RFC 8414 metadata
/// document, which `metadata_url` locates (path-aware when the issuer has a path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AsAdvertisement {
    /// The issuer identifier (`iss` of the access tokens), no trailing slash.
    pub issuer: String,
    /// Where the RFC 8414 metadata of `issuer` is served.
    pub metadata_url: String,
    /// The keys that sign the access tokens.
    pub jwks_uri: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_defaults_and_refuses_unknown_fields() {
        let parsed: UserCredentialRequest =
            serde_json::from_str(r#"{"provider":"github","subject_token":"t"}"#).unwrap();
        assert_eq!(parsed.provider, "github");
        assert_eq!(parsed.subject_token.expose(), "t");
        assert_eq!(parsed.min_ttl, None);
        assert!(!parsed.force_refresh);
        let unknown = r#"{"provider":"github","subject_token":"t","user":"bob"}"#;
        assert!(serde_json::from_str::<UserCredentialRequest>(unknown).is_err());
        let missing = r#"{"provider":"github"}"#;
        assert!(serde_json::from_str::<UserCredentialRequest>(missing).is_err());
    }

    #[test]
    fn debug_never_shows_the_subject_token() {
        let request = UserCredentialRequest {
            provider: "github".into(),
            subject_token: SecretString::from("eyJsecret"),
            min_ttl: Some(60),
            force_refresh: true,
        };
        assert!(!format!("{request:?}").contains("eyJsecret"));
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(json["subject_token"], "eyJsecret");
        assert_eq!(json["min_ttl"], 60);
    }

    #[test]
    fn advertisement_is_three_urls_and_round_trips() {
        let advertisement = AsAdvertisement {
            issuer: "https://nexus.example/as".into(),
            metadata_url: "https://nexus.example/.well-known/oauth-authorization-server/as".into(),
            jwks_uri: "https://nexus.example/as/as/jwks".into(),
        };
        let json = serde_json::to_value(&advertisement).unwrap();
        assert_eq!(json.as_object().unwrap().len(), 3);
        assert_eq!(json["issuer"], "https://nexus.example/as");
        let back: AsAdvertisement = serde_json::from_value(json).unwrap();
        assert_eq!(back, advertisement);
    }
}
