//! The JSON endpoints: RFC 8414 metadata, `/as/token`, `/as/register` (RFC 7591),
//! `/as/revoke` (RFC 7009), `/as/jwks`. Every refusal is an RFC 6749 error body; nothing a
//! client sends wrong is answered with a 5xx.

use super::{basic_credentials, no_store, oauth_error, pairs};
use crate::api::{AppState, source_ip};
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use nexus_protocol::oauth::{self, ClientMetadata, OAuthErrorCode};
use nexus_vault::authorization_server::AuthorizationError;
use nexus_vault::authorization_server::clients::auth::PresentedClient;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(oauth::METADATA_PATH, get(metadata))
        .route(
            &format!("{}/{{*issuer_path}}", oauth::METADATA_PATH),
            get(metadata),
        )
        .route(oauth::JWKS_PATH, get(jwks))
        .route(oauth::TOKEN_PATH, post(token))
        .route(oauth::REGISTER_PATH, post(register))
        .route(oauth::REVOKE_PATH, post(revoke))
}

const PUBLIC_CACHE: (header::HeaderName, &str) = (header::CACHE_CONTROL, "public, max-age=300");

/// Served at the one path RFC 8414 §3 derives from the issuer (path-aware when it has a path).
async fn metadata(State(s): State<AppState>, uri: Uri) -> Response {
    let server = s.vault.authorization_server();
    if uri.path().trim_end_matches('/') != server.metadata_path() {
        return ApiError::not_found("no authorization server metadata for this issuer path")
            .into_response();
    }
    ([PUBLIC_CACHE], Json(server.metadata())).into_response()
}

async fn jwks(State(s): State<AppState>) -> Result<Response, ApiError> {
    let keys = s.vault.authorization_server().jwks().await?;
    Ok(([PUBLIC_CACHE], Json(keys)).into_response())
}

async fn token(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let server = s.vault.authorization_server();
    let form = pairs(&body);
    with_client(
        &headers,
        |c| server.token(&form, c),
        |answer| (no_store(), Json(answer)).into_response(),
    )
    .await
}

async fn revoke(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let server = s.vault.authorization_server();
    let form = pairs(&body);
    with_client(
        &headers,
        |c| server.revoke(&form, c),
        |()| (StatusCode::OK, no_store()).into_response(),
    )
    .await
}

/// Run a client-authenticated call: the Basic credentials are read first (a malformed header
/// is `invalid_client`), and a refusal is an RFC 6749 error (with the Basic challenge when
/// Basic was used).
async fn with_client<T, Fut>(
    headers: &HeaderMap,
    call: impl FnOnce(PresentedClient) -> Fut,
    answer: impl FnOnce(T) -> Response,
) -> Response
where
    Fut: std::future::Future<Output = Result<T, AuthorizationError>>,
{
    let presented = match basic_credentials(headers) {
        Ok(p) => p,
        Err(e) => return oauth_error(&e, true),
    };
    let basic = presented.basic.is_some();
    match call(presented).await {
        Ok(value) => answer(value),
        Err(e) => oauth_error(&e, basic),
    }
}

/// Largest registration body read.
const MAX_REGISTRATION_BYTES: usize = 16 * 1024;

async fn register(State(s): State<AppState>, req: Request) -> Response {
    if let Err(wait) = s.as_registrations.check(source_ip(&s, &req)) {
        let e = AuthorizationError::new(
            OAuthErrorCode::TemporarilyUnavailable,
            "too many registrations from this address; retry later",
        );
        let mut response = oauth_error(&e, false);
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, wait.into());
        return response;
    }
    let body = axum::body::to_bytes(req.into_body(), MAX_REGISTRATION_BYTES)
        .await
        .unwrap_or_default();
    let metadata: ClientMetadata = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(_) => {
            let e = AuthorizationError::new(
                OAuthErrorCode::InvalidClientMetadata,
                "the body must be a JSON object of RFC 7591 client metadata",
            );
            return oauth_error(&e, false);
        }
    };
    match s
        .vault
        .authorization_server()
        .register_client(metadata)
        .await
    {
        Ok(answer) => (StatusCode::CREATED, no_store(), Json(answer)).into_response(),
        Err(e) => oauth_error(&e, false),
    }
}
