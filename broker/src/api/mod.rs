//! The HTTP surfaces of the broker, each in its own module:
//! - [`admin`]: `/admin/v1/*`, for operators (admin token);
//! - [`internal`]: `/internal/v1/*`, for the gateway (internal token);
//! - [`webhooks`]: `/admin/v1/webhooks…`, webhook endpoints and deliveries (admin token);
//! - [`events`]: `/internal/v1/events`, the revocation stream gateways hold open;
//! - [`compat`]: `/internal/v1/…` behind the gateway's routes for the original clients;
//! - [`browser`]: `/oauth/callback`, `/oauth/reauthorize/{token}`, `/connect/{state}` (a person's
//!   browser; authenticated by the one-time state);
//! - health: `/healthz`, `/readyz`.
//!
//! Every error is the protocol's JSON `ErrorBody`, including malformed bodies, unknown routes
//! and wrong methods, so a client mistake is always a 4xx with a readable reason.

pub mod admin;
pub mod audit;
pub mod auth_failures;
pub mod authorization_server;
pub mod browser;
pub mod compat;
pub mod connect_links;
pub mod events;
pub mod identity;
pub mod internal;
pub mod webhooks;

use crate::error::ApiError;
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::{HeaderMap, StatusCode, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use nexus_protocol::{ErrorCode, SecretString};
use nexus_vault::{Caller, Vault};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;

pub type AppState = Arc<BrokerState>;

/// What every handler sees: the vault's services and the tokens that authenticate callers.
pub struct BrokerState {
    pub vault: Vault,
    pub admin_token: SecretString,
    pub internal_token: SecretString,
    /// Revocations relayed to gateways (`GET /internal/v1/events`).
    pub revocations: crate::revocations::Revocations,
    /// Failed token authentications per source IP (throttle and log).
    pub auth_failures: auth_failures::AuthFailures,
    /// MCP authorization server: open registrations per source IP.
    pub as_registrations: authorization_server::RateLimiter,
    /// Where the browser pages are served (public URL, cookie policy).
    pub web: crate::web::WebConfig,
    /// This process's webhook dispatcher (`None` when dispatch is paused).
    pub dispatcher: Option<Arc<nexus_vault::Dispatcher>>,
    /// Its task, aborted when the state goes away (tests start many brokers in one process).
    pub _dispatch_task: Option<Arc<crate::AbortOnDrop>>,
    /// The keep-alive worker (`NEXUS_KEEPALIVE`), stopped with the state.
    pub _keep_alive_task: Option<Arc<crate::AbortOnDrop>>,
    /// Failed API-key verifications reported by gateways, per client IP (record or not).
    pub api_key_failures: auth_failures::KeyFailures,
    /// Proxies whose forwarded headers name the client (`NEXUS_TRUSTED_PROXIES`).
    pub trusted_proxies: nexus_protocol::forwarded::TrustedProxies,
}

pub fn router(service: AppState) -> Router {
    Router::new()
        .merge(admin::router(service.clone()))
        // Audit checkpoints and export (issue 14, 5b/5c).
        .merge(audit::router(service.clone()))
        .merge(internal::router(service.clone()))
        .merge(events::router(service.clone()))
        .merge(identity::admin_router(service.clone()))
        .merge(identity::internal_router(service.clone()))
        .merge(browser::router())
        // MCP authorization server (issue 17): metadata, /as/* endpoints and pages, admin API.
        .merge(authorization_server::router())
        .merge(authorization_server::resources::router(service.clone()))
        .merge(authorization_server::client_agents::router(service.clone()))
        // Drop-in endpoints for the original Nexus clients (issue 15): internal side.
        .merge(compat::router(service.clone()))
        // Connect page and operators' console (design 18, branch connect-pages).
        .merge(crate::web::router())
        .merge(connect_links::router(service.clone()))
        // Webhooks (design 18 §6): endpoints, deliveries, redelivery.
        .merge(webhooks::router(service.clone()))
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz))
        // The broker's own OpenAPI document (the gateway's covers only the public API).
        .route(
            "/openapi.json",
            get(|| async { axum::Json(crate::api_doc()) }),
        )
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                ErrorCode::Other("method_not_allowed".into()),
                "method not allowed on this route",
            )
            .with_status_hint()
        })
        .with_state(service)
}

async fn readyz(State(service): State<AppState>) -> Response {
    match service.vault.ping().await {
        Ok(()) => axum::Json(serde_json::json!({"status": "ready"})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                ApiError::upstream("database unreachable"),
            )
                .into_response()
        }
    }
}

impl ApiError {
    /// `method_not_allowed` is not a protocol code; answer it as 405 with the envelope.
    fn with_status_hint(self) -> Response {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            axum::Json(nexus_protocol::ErrorBody::new(self.code, self.message)),
        )
            .into_response()
    }
}

/// Compare a presented bearer token with the expected one in constant time. Both are hashed
/// first so the comparison does not leak the length either. An empty expected token matches
/// nothing (a broker started without one refuses every call).
pub fn token_matches(headers: &HeaderMap, expected: &SecretString) -> bool {
    let Some(presented) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
    else {
        return false;
    };
    secret_matches(presented, expected)
}

/// Compare a presented secret with the expected one in constant time (both hashed first, so
/// the length does not leak). An empty expected secret matches nothing.
pub fn secret_matches(presented: &str, expected: &SecretString) -> bool {
    if expected.is_empty() {
        return false;
    }
    let a = Sha256::digest(presented.trim().as_bytes());
    let b = Sha256::digest(expected.expose().as_bytes());
    a.ct_eq(&b).into()
}

/// The caller's request id (`x-request-id`, see [`request_id`]) as an extractor: it reads the
/// one header in place, where axum's `HeaderMap` extractor copies them all (per request, on the
/// resolve path).
pub struct RequestIdHeader(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for RequestIdHeader {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(request_id(&parts.headers)))
    }
}

/// The caller's request id (`x-request-id`), if it is short and printable.
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
}

pub async fn require_admin(State(service): State<AppState>, req: Request, next: Next) -> Response {
    let source = source_ip(&service, &req);
    // A right token always passes, even from a throttled source: a gateway or operator that
    // shares an address with someone guessing must not be locked out (tokens are at least 32
    // random characters, so the throttle is about log and audit floods, not guessing).
    if token_matches(req.headers(), &service.admin_token) {
        return next.run(req).await;
    }
    if let Some(refused) = failed_authentication(&service, source, "admin_api", attempt(&req)).await
    {
        return refused;
    }
    ApiError::new(ErrorCode::Unauthorized, "missing or wrong admin token").into_response()
}

pub async fn require_internal(
    State(service): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let source = source_ip(&service, &req);
    // A right token always passes, even from a throttled source: a gateway or operator that
    // shares an address with someone guessing must not be locked out (tokens are at least 32
    // random characters, so the throttle is about log and audit floods, not guessing).
    if token_matches(req.headers(), &service.internal_token) {
        return next.run(req).await;
    }
    if let Some(refused) =
        failed_authentication(&service, source, "internal_api", attempt(&req)).await
    {
        return refused;
    }
    let mut response =
        ApiError::new(ErrorCode::Unauthorized, "missing or wrong internal token").into_response();
    response.headers_mut().insert(
        axum::http::header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static(nexus_protocol::internal::INTERNAL_TOKEN_CHALLENGE),
    );
    response
}

/// The client's address: the peer (served with `into_make_service_with_connect_info`; without
/// it every caller shares one bucket, the unspecified address), or the address a trusted
/// proxy forwarded (`NEXUS_TRUSTED_PROXIES`, [`nexus_protocol::forwarded`]).
pub(crate) fn source_ip(service: &BrokerState, req: &Request) -> std::net::IpAddr {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |c| c.0.ip());
    if service.trusted_proxies.is_empty() {
        return peer;
    }
    let values = |name: &str| -> Vec<&str> {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    };
    service
        .trusted_proxies
        .client_ip(peer, &values("forwarded"), &values("x-forwarded-for"))
}

/// Count a failed token authentication: log and record it, or answer 429 (`Some`) when the
/// source is over its limit. Neither the log nor the record holds the presented token.
async fn failed_authentication(
    service: &BrokerState,
    source: std::net::IpAddr,
    surface: &str,
    (path, rid): (String, Option<String>),
) -> Option<Response> {
    match service.auth_failures.fail(source) {
        auth_failures::Failure::Throttled(wait) => Some(too_many_failures(wait)),
        auth_failures::Failure::Counted => {
            tracing::warn!(%source, surface, path, "failed token authentication");
            let source = source.to_string();
            service
                .vault
                .audit()
                .authentication_failed(surface, &source, rid.as_deref())
                .await;
            None
        }
    }
}

/// What is kept of a failed attempt: its path and request id. (Taken before awaiting: a
/// request body is not `Sync`, so the request itself must not be held across an await.)
fn attempt(req: &Request) -> (String, Option<String>) {
    (req.uri().path().to_owned(), request_id(req.headers()))
}

fn too_many_failures(wait_secs: u64) -> Response {
    let mut body = nexus_protocol::ErrorBody::new(
        ErrorCode::RateLimited,
        "too many failed authentications from this address; retry later",
    );
    body.retry_after = Some(wait_secs);
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(axum::http::header::RETRY_AFTER, wait_secs.into());
    response
}

/// A JSON body whose rejection is a 400 `invalid_request` envelope. The message names the
/// position and the kind of problem, never the offending value (it may be a secret).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                ApiError::new(status_code(e.status()), "could not read the request body")
            })?;
        parse_json(&bytes).map(JsonBody)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "malformed JSON".to_owned()
            }
            serde_json::error::Category::Data => {
                let text = e.to_string();
                // "missing field `x`" / "unknown variant `x`" name schema items, not values.
                if let Some(rule) = nexus_protocol::ids::rule_of_refusal(&text) {
                    // An id or scope against its rule: the rule, never the value.
                    rule
                } else if text.starts_with("missing field") || text.starts_with("unknown field") {
                    text.split(" at line")
                        .next()
                        .unwrap_or("invalid field")
                        .to_owned()
                } else {
                    "a field has the wrong type or value".to_owned()
                }
            }
            serde_json::error::Category::Io => "unreadable body".to_owned(),
        };
        ApiError::invalid(format!(
            "invalid JSON body ({what}, line {} column {})",
            e.line(),
            e.column()
        ))
    })
}

fn status_code(status: StatusCode) -> ErrorCode {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ErrorCode::PayloadTooLarge
    } else {
        ErrorCode::InvalidRequest
    }
}

/// Query parameters with a JSON-envelope rejection.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded_compat(query).map(QueryParams)
    }
}

fn serde_urlencoded_compat<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{query}")
            .parse()
            .map_err(|_| ApiError::invalid("malformed query string"))?,
    )
    .map(|q| q.0)
    .map_err(|e| ApiError::invalid(format!("invalid query parameters: {}", e.body_text())))
}

/// The audit identity of an admin call.
pub fn admin_caller(headers: &HeaderMap) -> Caller {
    Caller::admin(request_id(headers))
}
