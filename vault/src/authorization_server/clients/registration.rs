//! RFC 7591 dynamic client registration (kept on by default for clients that predate Client
//! ID Metadata Documents; the broker rate-limits it). Confidential clients get a secret once,
//! in the answer; only its SHA-256 is stored.

use super::cimd_validate::{grant_types_of, response_types_ok};
use crate::authorization_server::{AuthorizationError, AuthorizationServerService, redirect_uri};
use crate::store::oauth_clients::ClientRow;
use crate::store::pending::state_hash as sha256_hex;
use nexus_protocol::oauth::{
    ClientMetadata, GRANT_AUTHORIZATION_CODE, GRANT_JWT_BEARER, OAuthErrorCode,
    RegistrationResponse,
};

const METHODS: [&str; 3] = ["none", "client_secret_basic", "client_secret_post"];

fn invalid_metadata(what: &str) -> AuthorizationError {
    AuthorizationError::new(OAuthErrorCode::InvalidClientMetadata, what)
}

impl AuthorizationServerService {
    pub async fn register_client(
        &self,
        mut metadata: ClientMetadata,
    ) -> Result<RegistrationResponse, AuthorizationError> {
        if !self.config.registration_open {
            return Err(AuthorizationError::new(
                OAuthErrorCode::AccessDenied,
                "dynamic client registration is switched off on this server",
            ));
        }
        let grant_types = registered_grant_types(metadata.grant_types.as_ref())?;
        let redirects = grant_types.iter().any(|g| g == GRANT_AUTHORIZATION_CODE);
        // A client that only redeems ID-JAGs never sees a redirect (RFC 7591 §2: redirect URIs
        // are for redirect-based flows).
        if redirects && metadata.redirect_uris.is_empty() {
            return Err(AuthorizationError::new(
                OAuthErrorCode::InvalidRedirectUri,
                "redirect_uris is required",
            ));
        }
        if let Some(why) = metadata
            .redirect_uris
            .iter()
            .find_map(|u| redirect_uri::refusal(u))
        {
            return Err(AuthorizationError::new(
                OAuthErrorCode::InvalidRedirectUri,
                why,
            ));
        }
        if metadata.application_type.as_deref() == Some("web")
            && metadata
                .redirect_uris
                .iter()
                .any(|u| !u.starts_with("https://"))
        {
            return Err(AuthorizationError::new(
                OAuthErrorCode::InvalidRedirectUri,
                "a web application's redirect URIs must be https",
            ));
        }
        if metadata
            .client_name
            .as_deref()
            .is_some_and(|n| n.len() > 128)
        {
            return Err(invalid_metadata(
                "client_name is longer than 128 characters",
            ));
        }
        let method = metadata
            .token_endpoint_auth_method
            .clone()
            .unwrap_or_else(|| "client_secret_basic".to_owned());
        if !METHODS.contains(&method.as_str()) {
            return Err(invalid_metadata(
                "token_endpoint_auth_method must be none, client_secret_basic or client_secret_post",
            ));
        }
        if method == "none" && grant_types.iter().any(|g| g == GRANT_JWT_BEARER) {
            return Err(invalid_metadata(
                "the JWT-bearer grant needs a confidential client (client_secret_basic or client_secret_post)",
            ));
        }
        if !response_types_ok(metadata.response_types.as_ref()) {
            return Err(invalid_metadata("response_types may hold code only"));
        }
        metadata.token_endpoint_auth_method = Some(method.clone());
        metadata.grant_types = Some(grant_types.clone());
        metadata.response_types = Some(if redirects {
            vec!["code".to_owned()]
        } else {
            Vec::new()
        });
        let client_id = super::super::random_id("ocl_");
        let secret = (method != "none").then(super::super::random_secret);
        let row = ClientRow {
            client_id: client_id.clone(),
            kind: "dcr".into(),
            metadata: serde_json::to_string(&metadata).unwrap_or_else(|_| "{}".into()),
            redirect_uris: metadata.redirect_uris.clone(),
            grant_types,
            token_endpoint_auth_method: method,
            client_secret_hash: secret.as_ref().map(|s| sha256_hex(s.expose())),
            agent_id: None,
            workspace_id: None,
            cache_expires_at: None,
            fetch_error: None,
        };
        self.store.upsert_oauth_client(&row).await?;
        Ok(RegistrationResponse {
            client_id,
            client_id_issued_at: chrono::Utc::now().timestamp(),
            client_secret_expires_at: secret.as_ref().map(|_| 0),
            client_secret: secret.map(|s| s.expose().to_owned()),
            metadata,
        })
    }
}

/// The grant types a registration may ask for: those of a metadata document plus the
/// JWT-bearer grant (ID-JAG; a document client is public, so only registration offers it).
fn registered_grant_types(
    declared: Option<&Vec<String>>,
) -> Result<Vec<String>, AuthorizationError> {
    let bearer = declared.is_some_and(|g| g.iter().any(|g| g == GRANT_JWT_BEARER));
    let others: Option<Vec<String>> = declared.map(|g| {
        g.iter()
            .filter(|g| *g != GRANT_JWT_BEARER)
            .cloned()
            .collect()
    });
    let mut grants = match others {
        // Only the JWT-bearer grant: nothing else to check.
        Some(o) if o.is_empty() && bearer => Vec::new(),
        o => grant_types_of(o.as_ref()).ok_or_else(|| {
            invalid_metadata(
                "grant_types may hold authorization_code, refresh_token and the JWT-bearer grant only",
            )
        })?,
    };
    if bearer {
        grants.push(GRANT_JWT_BEARER.to_owned());
    }
    Ok(grants)
}
