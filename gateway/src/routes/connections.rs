//! The connection lifecycle, always in the caller's own workspace:
//! `POST /v1/request-connection`, `POST /v1/connect-links`, `GET /v1/check-connection/{id}`,
//! `GET /v1/token/{id}`, `POST /v1/refresh/{id}`.

use crate::Gateway;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::middleware::RequestId;
use crate::query::invalid;
use crate::routes::{json_body, private_json};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::response::Response;
use nexus_protocol::connect_link::{ConnectLinkRequest, ConnectLinkResponse};
use nexus_protocol::internal::{InternalConnectLink, InternalRequestConnection};
use nexus_protocol::{
    CheckConnectionAnswer, ErrorBody, RequestConnectionInput, RequestConnectionResponse,
    ResolveResponse,
};
use nexus_protocol::{ConnectionId, ProviderName};

/// Longest `user_id` accepted.
const MAX_USER_ID_LEN: usize = 256;

#[utoipa::path(
    post,
    path = "/v1/request-connection",
    tag = "connections",
    request_body = RequestConnectionInput,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Where to send the person to authorize", body = RequestConnectionResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such provider", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "The broker is unreachable", body = ErrorBody),
    )
)]
pub async fn request_connection(
    State(gateway): State<Gateway>,
    Caller(principal): Caller,
    Extension(request_id): Extension<RequestId>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let input: RequestConnectionInput = json_body(body, gateway.inner.config.max_body_bytes)?;
    ProviderName::new(input.provider_name.as_str()).map_err(|e| invalid("provider_name", &e))?;
    if input.user_id.is_empty() || input.user_id.len() > MAX_USER_ID_LEN {
        return Err(ApiError::invalid_request(format!(
            "`user_id` must be 1-{MAX_USER_ID_LEN} bytes"
        )));
    }
    let request = InternalRequestConnection {
        workspace_id: principal.workspace_id().to_owned(),
        principal,
        input,
        request_id: Some(request_id.as_str().to_owned()),
    };
    let response = gateway.inner.broker.request_connection(&request).await?;
    Ok(private_json(&response))
}

#[utoipa::path(
    post,
    path = "/v1/connect-links",
    tag = "connections",
    request_body = ConnectLinkRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "A signed, single-use link to the broker's connect page for the caller's workspace", body = ConnectLinkResponse),
        (status = 400, description = "Malformed body, unknown field, bad `user_id` or `ttl_seconds` out of range", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "An agent session: links are issued to a workspace API key", body = ErrorBody),
        (status = 404, description = "No such provider", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "The broker is unreachable", body = ErrorBody),
    )
)]
pub async fn create_connect_link(
    State(gateway): State<Gateway>,
    Caller(principal): Caller,
    Extension(request_id): Extension<RequestId>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // Shape only (unknown fields and provider names refused by the protocol's types); the
    // broker owns the rules (TTL range, user id, which principal may ask).
    let link: ConnectLinkRequest = json_body(body, gateway.inner.config.max_body_bytes)?;
    let request = InternalConnectLink {
        workspace_id: principal.workspace_id().to_owned(),
        principal,
        link,
        request_id: Some(request_id.as_str().to_owned()),
    };
    let response = gateway.inner.broker.connect_link(&request).await?;
    let mut response = private_json(&response);
    *response.status_mut() = axum::http::StatusCode::CREATED;
    Ok(response)
}

#[utoipa::path(
    get,
    path = "/v1/check-connection/{id}",
    tag = "connections",
    params(("id" = String, Path, description = "Connection id", pattern = "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The connection's status: `status` in the original value set (`pending`, `active`, `failed`), `state` the finer one", body = CheckConnectionAnswer),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such connection in the caller's workspace", body = ErrorBody),
    )
)]
pub async fn check_connection(
    State(gateway): State<Gateway>,
    Caller(principal): Caller,
    Extension(request_id): Extension<RequestId>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = connection_id(id)?;
    let response = gateway
        .inner
        .broker
        .check_connection(&principal, &id, request_id.as_str())
        .await?;
    Ok(private_json(&CheckConnectionAnswer::from(response)))
}

#[utoipa::path(
    get,
    path = "/v1/token/{id}",
    tag = "connections",
    params(("id" = String, Path, description = "Connection id", pattern = "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The connection's current credential", body = ResolveResponse),
        (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such connection in the caller's workspace", body = ErrorBody),
        (status = 409, description = "Not active, or needs re-authorization", body = ErrorBody),
    )
)]
pub async fn connection_token(
    State(gateway): State<Gateway>,
    Caller(principal): Caller,
    Extension(request_id): Extension<RequestId>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = connection_id(id)?;
    let response = gateway
        .inner
        .broker
        .connection_token(&principal, &id, request_id.as_str())
        .await?;
    Ok(private_json(&response))
}

#[utoipa::path(
    post,
    path = "/v1/refresh/{id}",
    tag = "connections",
    params(("id" = String, Path, description = "Connection id", pattern = "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "A freshly refreshed credential", body = ResolveResponse),
        (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "No such connection in the caller's workspace", body = ErrorBody),
        (status = 409, description = "Needs re-authorization", body = ErrorBody),
        (status = 502, description = "The provider failed", body = ErrorBody),
    )
)]
pub async fn refresh_connection(
    State(gateway): State<Gateway>,
    Caller(principal): Caller,
    Extension(request_id): Extension<RequestId>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = connection_id(id)?;
    let response = gateway
        .inner
        .broker
        .refresh_connection(&principal, &id, request_id.as_str())
        .await?;
    // The refreshed token replaces the cached one: the next resolve asks the broker again.
    if let Some(provider) = &response.provider {
        gateway
            .inner
            .tokens
            .forget(principal.workspace_id(), provider)
            .await;
    }
    Ok(private_json(&response))
}

/// The `{id}` path segment, decoded and validated (no slashes, no dots-only names).
fn connection_id(id: Result<Path<String>, PathRejection>) -> Result<ConnectionId, ApiError> {
    let Path(id) =
        id.map_err(|_| ApiError::invalid_request("the connection id is not valid UTF-8"))?;
    crate::query::connection_id(id)
}
