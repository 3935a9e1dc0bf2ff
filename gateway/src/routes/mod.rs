//! The HTTP surface: one module per group of endpoints, and [`router`] that wires them with the
//! middleware of [`crate::middleware`].

pub mod compat;
pub mod connections;
pub mod health;
pub mod mcp;
pub mod proxy;
pub mod resolve;
pub mod sessions;

use crate::Gateway;
use crate::error::ApiError;
use crate::middleware;
use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Every path the gateway serves: the protocol's public paths plus operations (the OpenAPI test
/// checks these and the document list the same paths).
pub mod paths {
    pub use nexus_protocol::paths::{
        CHECK_CONNECTION, CONNECT_LINKS, REFRESH, REQUEST_CONNECTION, RESOLVE, TOKEN,
    };
    pub const HEALTHZ: &str = "/healthz";
    pub const READYZ: &str = "/readyz";
    pub const METRICS: &str = "/metrics";
    pub const OPENAPI: &str = "/openapi.json";
    pub const SESSIONS: &str = nexus_protocol::identity::SESSIONS_PATH;
    pub const SESSION: &str = nexus_protocol::identity::SESSION_PATH;
    pub const AUTHORIZE: &str = nexus_protocol::identity::AUTHORIZE_PATH;
    pub const TOKEN_EXCHANGE: &str = nexus_protocol::identity::TOKEN_EXCHANGE_PATH;
    pub const JWKS: &str = nexus_protocol::identity::JWKS_PATH;
    // MCP servers (issue 17).
    pub const MCP_USER_CREDENTIAL: &str = nexus_protocol::mcp::USER_CREDENTIAL_PATH;
    pub const MCP_AUTHORIZATION_SERVER: &str = nexus_protocol::mcp::AUTHORIZATION_SERVER_PATH;
    // Proxy mode (issue 16).
    pub const PROXY: &str = "/v1/proxy/{workspace_id}/{provider_name}/{*path}";
    pub const PROXY_ROOT: &str = "/v1/proxy/{workspace_id}/{provider_name}";
    /// The base URL itself with its trailing `/` (`{*path}` does not match an empty tail).
    pub const PROXY_ROOT_SLASH: &str = "/v1/proxy/{workspace_id}/{provider_name}/";
    // The original gateway's endpoints (issue 15).
    pub use nexus_protocol::compat::{
        AUTH_CALLBACK, CAPTURE_CREDENTIAL, CAPTURE_SCHEMA, CONNECTION, PROVIDER, PROVIDERS,
        PROVIDERS_METADATA,
    };

    pub const ALL: &[&str] = &[
        RESOLVE,
        REQUEST_CONNECTION,
        CONNECT_LINKS,
        CHECK_CONNECTION,
        TOKEN,
        REFRESH,
        HEALTHZ,
        READYZ,
        METRICS,
        OPENAPI,
        SESSIONS,
        SESSION,
        AUTHORIZE,
        TOKEN_EXCHANGE,
        JWKS,
        MCP_USER_CREDENTIAL,
        MCP_AUTHORIZATION_SERVER,
        PROVIDERS,
        PROVIDERS_METADATA,
        PROVIDER,
        CAPTURE_SCHEMA,
        CAPTURE_CREDENTIAL,
        CONNECTION,
        AUTH_CALLBACK,
    ];
}

pub fn router(gateway: Gateway) -> Router {
    let max_body = gateway.inner.config.max_body_bytes;
    let api = Router::new()
        .route(paths::RESOLVE, get(resolve::resolve))
        .route(
            paths::REQUEST_CONNECTION,
            post(connections::request_connection),
        )
        .route(paths::CONNECT_LINKS, post(connections::create_connect_link))
        .route(paths::CHECK_CONNECTION, get(connections::check_connection))
        .route(paths::TOKEN, get(connections::connection_token))
        .route(paths::REFRESH, post(connections::refresh_connection))
        .route(paths::HEALTHZ, get(health::healthz))
        .route(paths::READYZ, get(health::readyz))
        .route(paths::METRICS, get(health::metrics))
        .route(paths::OPENAPI, get(health::openapi_json))
        .route(paths::SESSIONS, post(sessions::create_session))
        .route(
            paths::SESSION,
            get(sessions::get_session).delete(sessions::delete_session),
        )
        .route(paths::AUTHORIZE, post(sessions::authorize))
        .route(paths::TOKEN_EXCHANGE, post(sessions::token_exchange))
        .route(paths::JWKS, get(sessions::jwks))
        // MCP servers (issue 17): a user's credential for their access token; 16 KiB bodies.
        .route(
            paths::MCP_USER_CREDENTIAL,
            post(mcp::user_credential).layer(DefaultBodyLimit::max(
                nexus_protocol::mcp::USER_CREDENTIAL_MAX_BODY,
            )),
        )
        .route(
            paths::MCP_AUTHORIZATION_SERVER,
            get(mcp::authorization_server),
        )
        // The original gateway's endpoints, for its clients (issue 15).
        .route(
            paths::PROVIDERS,
            get(compat::providers).post(compat::create_provider_refused),
        )
        .route(paths::PROVIDERS_METADATA, get(compat::providers_metadata))
        .route(
            paths::PROVIDER,
            get(compat::provider_by_id_refused)
                .put(compat::provider_by_id_refused)
                .patch(compat::provider_by_id_refused)
                .delete(compat::provider_by_id_refused),
        )
        .route(paths::CAPTURE_SCHEMA, get(compat::capture_schema))
        .route(paths::CAPTURE_CREDENTIAL, post(compat::capture_credential))
        .route(paths::CONNECTION, delete(compat::revoke_connection))
        .route(paths::AUTH_CALLBACK, any(compat::auth_callback))
        .fallback(not_found)
        // The header and declared-body limits and the deadline are applied by
        // `middleware::Edge` (proxy routes excepted); the body limit is axum's own.
        .layer(DefaultBodyLimit::max(max_body));
    // Proxy mode (issue 16): bodies stream (no body limit layer; the handler enforces the proxy's
    // own limits), and the gateway's own errors carry `Nexus-Error`.
    let proxied = Router::new()
        .route(paths::PROXY, any(proxy::proxy))
        .route(paths::PROXY_ROOT, any(proxy::proxy))
        .route(paths::PROXY_ROOT_SLASH, any(proxy::proxy))
        .layer(axum::middleware::from_fn_with_state(
            gateway.clone(),
            proxy::deadline,
        ))
        .layer(axum::middleware::from_fn(proxy::mark_gateway_errors));
    Router::new()
        .merge(proxied)
        .merge(api)
        // One layer around every route: request id, access log, metrics, limits, deadline.
        .layer(middleware::EdgeLayer(gateway.clone()))
        .with_state(gateway)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

/// A 200 JSON response that must not be stored by any cache on the way (it carries credentials).
pub fn private_json<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => ApiError::new(
            nexus_protocol::ErrorCode::InternalError,
            "could not encode the response",
        )
        .into_response(),
    }
}

/// [`private_json`] for a body that is already JSON.
pub fn private_json_bytes(json: Bytes) -> Response {
    // Built directly (the same headers, in the same order, as `private_json`): the warm resolve
    // answers with this, and the tuple form writes a content type only to replace it.
    let mut response = Response::new(axum::body::Body::from(json));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Parses a JSON request body, turning every failure into a 400/413 envelope (axum's own `Json`
/// answers 415/422 in plain text).
pub fn json_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            middleware::body_too_large(limit)
        } else {
            ApiError::invalid_request("could not read the request body")
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|err| {
        // serde's message names the field and position; cut it short, it is only a hint.
        let hint: String = err.to_string().chars().take(200).collect();
        ApiError::invalid_request(format!("invalid JSON body: {hint}"))
    })
}
