//! The RFC 8414 document. Only what is implemented is advertised: no `scopes_supported`
//! (scopes are per resource; a union would leak across workspaces, and the MCP server's
//! protected-resource metadata carries them). The JWT-bearer grant is advertised with its one
//! profile, ID-JAG (MCP enterprise-managed authorization).

use super::AuthorizationServerService;
use nexus_protocol::mcp::AsAdvertisement;
use nexus_protocol::oauth::{self, AuthorizationServerMetadata};

/// Client authentication methods of the token and revocation endpoints.
pub const AUTH_METHODS: [&str; 3] = ["none", "client_secret_basic", "client_secret_post"];

impl AuthorizationServerService {
    pub fn metadata(&self) -> AuthorizationServerMetadata {
        let at = |path: &str| format!("{}{path}", self.issuer);
        let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
        AuthorizationServerMetadata {
            issuer: self.issuer.clone(),
            authorization_endpoint: at(oauth::AUTHORIZE_PATH),
            token_endpoint: at(oauth::TOKEN_PATH),
            registration_endpoint: self
                .config
                .registration_open
                .then(|| at(oauth::REGISTER_PATH)),
            revocation_endpoint: at(oauth::REVOKE_PATH),
            jwks_uri: at(oauth::JWKS_PATH),
            response_types_supported: strings(&["code"]),
            response_modes_supported: strings(&["query"]),
            grant_types_supported: strings(&[
                oauth::GRANT_AUTHORIZATION_CODE,
                oauth::GRANT_REFRESH_TOKEN,
                oauth::GRANT_JWT_BEARER,
            ]),
            code_challenge_methods_supported: strings(&["S256"]),
            token_endpoint_auth_methods_supported: strings(&AUTH_METHODS),
            revocation_endpoint_auth_methods_supported: strings(&AUTH_METHODS),
            client_id_metadata_document_supported: true,
            authorization_response_iss_parameter_supported: true,
            authorization_grant_profiles_supported: strings(&[oauth::GRANT_PROFILE_ID_JAG]),
            service_documentation: None,
        }
    }

    /// The path the metadata is served at: RFC 8414 §3 inserts the well-known segment between
    /// the host and the issuer's path.
    pub fn metadata_path(&self) -> String {
        let path = url::Url::parse(&self.issuer)
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        format!("{}{path}", oauth::METADATA_PATH)
    }

    /// What the gateway tells MCP servers (design 17 §2.1): the issuer, where its metadata is
    /// (the origin of the issuer followed by [`Self::metadata_path`]) and its keys, taken from
    /// the same document so the two never disagree.
    pub fn advertisement(&self) -> AsAdvertisement {
        let origin = url::Url::parse(&self.issuer)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| self.issuer.clone());
        AsAdvertisement {
            issuer: self.issuer.clone(),
            metadata_url: format!("{origin}{}", self.metadata_path()),
            jwks_uri: self.metadata().jwks_uri,
        }
    }
}
