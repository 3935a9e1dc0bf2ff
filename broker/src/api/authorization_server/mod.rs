//! HTTP glue of the OAuth authorization server for MCP servers (issue 17). The rules live in
//! `nexus_vault::authorization_server`; this module parses requests, calls the service and
//! renders: JSON endpoints ([`endpoints`]: metadata, token, registration, revocation, JWKS),
//! browser pages ([`pages`]: authorize, development login, consent; [`connect`]: connect
//! tickets of MCP users; `idp_login`: login through the workspace's identity providers) and the
//! admin API of MCP resources ([`resources`]).

pub mod client_agents;
pub mod connect;
pub mod endpoints;
mod idp_login;
pub mod pages;
mod rate_limit;
pub mod resources;

use super::AppState;
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nexus_protocol::SecretString;
use nexus_protocol::oauth::{OAuthErrorBody, OAuthErrorCode};
use nexus_vault::authorization_server::AuthorizationError;
use nexus_vault::authorization_server::clients::auth::PresentedClient;

pub use rate_limit::RateLimiter;

/// The public routes: metadata, endpoints and pages.
pub fn router() -> Router<AppState> {
    endpoints::router()
        .merge(pages::router())
        .merge(connect::router())
}

/// Form or query pairs, percent-decoded (`+` is a space).
pub(crate) fn pairs(raw: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw).into_owned().collect()
}

/// An RFC 6749 §5.2 JSON error (never cached). `basic` adds the `WWW-Authenticate` challenge
/// RFC 6749 asks for when Basic authentication failed.
pub(crate) fn oauth_error(e: &AuthorizationError, basic: bool) -> Response {
    let status = StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let body = OAuthErrorBody {
        error: e.code,
        error_description: Some(e.description.clone()),
    };
    let mut response = (status, no_store(), axum::Json(body)).into_response();
    if basic && e.code == OAuthErrorCode::InvalidClient {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"nexus-as\""),
        );
    }
    response
}

pub(crate) fn no_store() -> [(header::HeaderName, &'static str); 2] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ]
}

/// The client credentials of `Authorization: Basic` (RFC 6749 §2.3.1: each part is
/// form-encoded), or an `invalid_client` error for a malformed header.
pub(crate) fn basic_credentials(
    headers: &HeaderMap,
) -> Result<PresentedClient, AuthorizationError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(PresentedClient::default());
    };
    let malformed = || AuthorizationError::invalid_client("malformed Basic authorization header");
    let value = value.to_str().map_err(|_| malformed())?;
    let Some(encoded) = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
    else {
        return Err(malformed());
    };
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| malformed())?;
    let text = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = text.split_once(':').ok_or_else(malformed)?;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| malformed())
    };
    Ok(PresentedClient {
        basic: Some((decode(id)?, SecretString::new(decode(secret)?))),
        ..Default::default()
    })
}
