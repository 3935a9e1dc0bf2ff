//! Wire types of Nexus as an OAuth 2.1 authorization server for remote MCP servers (issue 17):
//! RFC 8414 metadata, the token endpoint's answers, RFC 6749 error bodies, RFC 7591 client
//! metadata, RFC 9068 access-token claims, and the admin bodies of registered MCP resources.
//!
//! Paths are relative to the issuer (a configured URL, never derived from a `Host` header).

use serde::{Deserialize, Serialize};

/// The authorization endpoint (browser, `GET`).
pub const AUTHORIZE_PATH: &str = "/as/authorize";
/// The token endpoint (`POST`, form-encoded).
pub const TOKEN_PATH: &str = "/as/token";
/// RFC 7591 dynamic client registration (`POST`, JSON).
pub const REGISTER_PATH: &str = "/as/register";
/// RFC 7009 revocation (`POST`, form-encoded).
pub const REVOKE_PATH: &str = "/as/revoke";
/// The keys access tokens are signed with.
pub const JWKS_PATH: &str = "/as/jwks";
/// The consent form posts here.
pub const CONSENT_PATH: &str = "/as/consent";
/// The local login of `nexus dev`.
pub const DEV_LOGIN_PATH: &str = "/as/login/dev";
/// RFC 8414 metadata (with the issuer's path appended when it has one).
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";

pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
pub const GRANT_JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The authorization grant profile of MCP enterprise-managed authorization (ID-JAG).
pub const GRANT_PROFILE_ID_JAG: &str = "urn:ietf:params:oauth:grant-profile:id-jag";
/// The JOSE `typ` of an Identity Assertion JWT Authorization Grant.
pub const ID_JAG_TYP: &str = "oauth-id-jag+jwt";

/// RFC 8414 authorization server metadata, as Nexus publishes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthorizationServerMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    pub revocation_endpoint: String,
    pub jwks_uri: String,
    pub response_types_supported: Vec<String>,
    pub response_modes_supported: Vec<String>,
    pub grant_types_supported: Vec<String>,
    pub code_challenge_methods_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    pub client_id_metadata_document_supported: bool,
    pub authorization_response_iss_parameter_supported: bool,
    /// Grant profiles of the JWT-bearer grant (`urn:ietf:params:oauth:grant-profile:id-jag`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_grant_profiles_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_documentation: Option<String>,
}

/// A successful token endpoint answer (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// The error codes of RFC 6749 §4.1.2.1 / §5.2, RFC 7591 §3.2.2 and RFC 8707 §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    InvalidTarget,
    AccessDenied,
    LoginRequired,
    ConsentRequired,
    ServerError,
    TemporarilyUnavailable,
    InvalidRedirectUri,
    InvalidClientMetadata,
}

impl OAuthErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::AccessDenied => "access_denied",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
        }
    }

    /// The HTTP status of a JSON answer with this code (token, registration, revocation).
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidClient => 401,
            Self::ServerError => 500,
            Self::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

impl std::fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The RFC 6749 §5.2 error body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OAuthErrorBody {
    pub error: OAuthErrorCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// RFC 7591 client metadata: the body of a registration request, and (with the issued fields)
/// of its answer. Client ID Metadata Documents carry the same fields plus `client_id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientMetadata {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_type: Option<String>,
}

/// The RFC 7591 §3.2.1 answer: the accepted metadata plus what the server issued. The secret
/// is present only for confidential clients and only in this one answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistrationResponse {
    pub client_id: String,
    pub client_id_issued_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    #[serde(flatten)]
    pub metadata: ClientMetadata,
}

/// The delegating party of a token (RFC 8693 §4.1 `act`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorClaim {
    pub sub: String,
}

/// The claims of an access token (RFC 9068 profile, header `typ: at+jwt`). Minted by the
/// vault; parsed by resource servers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    /// The resource (RFC 8707) the token was requested for, in normal form.
    pub aud: String,
    pub client_id: String,
    /// Space-separated, sorted.
    pub scope: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub auth_time: i64,
    /// The grant (refresh-token family) the token belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub workspace_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<ActorClaim>,
}

/// An MCP server registered in a workspace: the `resource` tokens are minted for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct McpResource {
    pub id: String,
    pub workspace_id: String,
    /// The canonical resource URI (RFC 8707), in normal form.
    pub resource_uri: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub default_scopes: Vec<String>,
    pub access_token_ttl_seconds: u64,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<String>,
}

/// `POST /admin/v1/workspaces/{ws}/mcp-resources`.
/// Body of `PUT /admin/v1/workspaces/{ws}/mcp-clients/{client_id}/agent`: the agent of
/// the workspace a registered OAuth client acts for (its access tokens then carry `act`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct McpClientAgent {
    pub agent_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewMcpResource {
    pub resource_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Granted when a client asks for no scope; defaults to all of `scopes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_ttl_seconds: Option<u64>,
}

/// The longest resource URI accepted (bytes).
pub const MAX_RESOURCE_LEN: usize = 2048;

/// Rule R: the normal form of a resource URI (RFC 8707), or why it is not one. Two `resource`
/// values name the same server when their normal forms are equal: scheme and host lower-cased,
/// default port dropped, and the one `/` of an empty path removed (`https://h` = `https://H/`).
/// The authorization server stores and mints audiences in this form; resource servers compare
/// their configured resource in this form.
pub fn normalize_resource(uri: &str) -> Result<String, &'static str> {
    if uri.is_empty() || uri.len() > MAX_RESOURCE_LEN {
        return Err("the resource is empty or longer than 2048 bytes");
    }
    let parsed = url::Url::parse(uri).map_err(|_| "the resource is not an absolute URL")?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() {
        return Err("the resource must be an http(s) URL");
    }
    if parsed.fragment().is_some() || uri.contains('#') {
        return Err("the resource has a fragment");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("the resource has user information");
    }
    let text = parsed.to_string();
    Ok(match (parsed.path(), parsed.query()) {
        ("/", None) => text.trim_end_matches('/').to_owned(),
        _ => text,
    })
}

/// RFC 6749 §3.3 scope-token syntax (printable ASCII, no space, `"` or `\`), at most 128 bytes.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// The admin path of a workspace's MCP resources.
pub fn mcp_resources_path(workspace: &str) -> String {
    format!("/admin/v1/workspaces/{workspace}/mcp-resources")
}

/// Admin path of the agent binding of an OAuth client; `client_id` must already be
/// percent-encoded as one path segment (a document client's id is a URL).
pub fn mcp_client_agent_path(workspace: &str, client_id: &str) -> String {
    format!("/admin/v1/workspaces/{workspace}/mcp-clients/{client_id}/agent")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_serialize_as_rfc_6749_strings() {
        for code in [
            OAuthErrorCode::InvalidTarget,
            OAuthErrorCode::InvalidGrant,
            OAuthErrorCode::UnsupportedResponseType,
        ] {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, code.as_str());
        }
        assert_eq!(OAuthErrorCode::InvalidClient.http_status(), 401);
        assert_eq!(OAuthErrorCode::InvalidGrant.http_status(), 400);
    }

    #[test]
    fn registration_answer_flattens_the_metadata() {
        let answer = RegistrationResponse {
            client_id: "ocl_1".into(),
            client_id_issued_at: 1,
            client_secret: None,
            client_secret_expires_at: None,
            metadata: ClientMetadata {
                redirect_uris: vec!["http://127.0.0.1:9/cb".into()],
                ..Default::default()
            },
        };
        let json = serde_json::to_value(&answer).unwrap();
        assert_eq!(json["redirect_uris"][0], "http://127.0.0.1:9/cb");
        assert!(json.get("client_secret").is_none());
    }
}
