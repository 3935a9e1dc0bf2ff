//! The original Nexus gateway's endpoints, kept so its clients work unchanged
//! (`nexus_protocol::compat`, design/design-15-endpoints.md):
//! - `GET /v1/providers` and `/v1/providers/metadata`: what clients may know of the providers
//!   (API key);
//! - provider administration by id: 403, it is the operator's job at the broker's admin API;
//! - `GET /v1/capture-schema?state=` and `POST /v1/capture-credential`: the static-credential
//!   step, the one-time state being the only credential (the broker's `/connect/{state}` rules);
//! - `DELETE /v1/connections/{id}`: revoke a connection of the caller's workspace (API key);
//! - `/auth/callback`: relayed to the broker's `/oauth/callback` when configured.

use crate::Gateway;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::middleware::RequestId;
use crate::query::query_pairs;
use crate::routes::{json_body, private_json};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use nexus_protocol::ErrorBody;
use nexus_protocol::compat::{
    CaptureCredentialRequest, CaptureCredentialResponse, CaptureSchemaRequest,
    CaptureSchemaResponse, INTERNAL_CAPTURE_CREDENTIAL, INTERNAL_CAPTURE_SCHEMA,
    INTERNAL_PROVIDERS_METADATA, InternalRevokeConnection, ProviderMetadata, ProvidersMetadata,
    RevokeConnectionResponse,
};

/// This module's part of the gateway's OpenAPI document (merged by [`crate::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        providers,
        providers_metadata,
        create_provider_refused,
        provider_by_id_refused,
        capture_schema,
        capture_credential,
        revoke_connection,
        auth_callback,
    ),
    components(schemas(
        ProviderMetadata,
        CaptureSchemaResponse,
        CaptureCredentialRequest,
        CaptureCredentialResponse,
        RevokeConnectionResponse,
    )),
    tags((name = "providers", description = "What clients may know of the providers (the original gateway's endpoints)"))
)]
pub struct CompatApi;

/// Longest one-time state accepted (ours are 43 characters; the bound keeps junk out of the
/// broker call).
const MAX_STATE_LEN: usize = 512;
/// Longest revocation reason forwarded (the broker shortens it further for the audit record).
const MAX_REASON_LEN: usize = 1024;

#[utoipa::path(
    get,
    path = "/v1/providers",
    tag = "providers",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "auth type → provider name → what clients may know of it (never a client id or secret)", body = HashMap<String, HashMap<String, ProviderMetadata>>),
        (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 502, description = "The broker failed", body = ErrorBody),
        (status = 503, description = "The broker is unreachable", body = ErrorBody),
    )
)]
pub async fn providers(
    State(gateway): State<Gateway>,
    Caller(_caller): Caller,
    Extension(request_id): Extension<RequestId>,
) -> Result<Response, ApiError> {
    let metadata: ProvidersMetadata = gateway
        .inner
        .broker
        .compat_get(
            INTERNAL_PROVIDERS_METADATA,
            request_id.as_str(),
            "providers metadata",
        )
        .await?;
    Ok(private_json(&metadata))
}

#[utoipa::path(
    get,
    path = "/v1/providers/metadata",
    tag = "providers",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The same answer as `GET /v1/providers`", body = HashMap<String, HashMap<String, ProviderMetadata>>),
        (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
    )
)]
pub async fn providers_metadata(
    state: State<Gateway>,
    caller: Caller,
    request_id: Extension<RequestId>,
) -> Result<Response, ApiError> {
    providers(state, caller, request_id).await
}

#[utoipa::path(
    post,
    path = "/v1/providers",
    tag = "providers",
    responses((status = 403, description = "Providers are managed at the broker's admin API", body = ErrorBody))
)]
pub async fn create_provider_refused() -> ApiError {
    provider_admin_refused()
}

#[utoipa::path(
    get,
    path = "/v1/providers/{id}",
    tag = "providers",
    params(("id" = String, Path, description = "Provider id (the original gateway's)")),
    responses((status = 403, description = "Providers are managed at the broker's admin API (also for PUT, PATCH and DELETE)", body = ErrorBody))
)]
pub async fn provider_by_id_refused() -> ApiError {
    provider_admin_refused()
}

/// The original gateway proxied provider administration without checking any credential.
/// Here it is an operator's job, with the admin token, at the broker; the answer says where.
fn provider_admin_refused() -> ApiError {
    ApiError::forbidden(
        "providers are managed by the operator at the broker's admin API (`/admin/v1/providers`, \
         admin token) or with `nexus providers apply`; the gateway serves only `GET /v1/providers`",
    )
}

#[utoipa::path(
    get,
    path = "/v1/capture-schema",
    tag = "connections",
    params(("state" = String, Query, description = "The one-time state of a static-credential connect flow (the only credential)")),
    responses(
        (status = 200, description = "The provider and the credential fields to ask for, as a JSON Schema", body = CaptureSchemaResponse),
        (status = 400, description = "Missing, unknown, used or expired state (one answer for all)", body = ErrorBody),
        (status = 404, description = "The flow's provider no longer exists", body = ErrorBody),
    )
)]
pub async fn capture_schema(
    State(gateway): State<Gateway>,
    Extension(request_id): Extension<RequestId>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let state = query_pairs(uri.query())?
        .into_iter()
        .find_map(|(name, value)| (name == "state").then_some(value))
        .filter(|s| is_plausible_state(s))
        .ok_or_else(bad_state)?;
    let body = CaptureSchemaRequest {
        state: state.into(),
    };
    let schema: CaptureSchemaResponse = gateway
        .inner
        .broker
        .compat_post(
            INTERNAL_CAPTURE_SCHEMA,
            &body,
            request_id.as_str(),
            "capture schema",
        )
        .await?;
    Ok(private_json(&schema))
}

#[utoipa::path(
    post,
    path = "/v1/capture-credential",
    tag = "connections",
    request_body = CaptureCredentialRequest,
    responses(
        (status = 200, description = "Stored; the connection is active (the values are never echoed)", body = CaptureCredentialResponse),
        (status = 400, description = "Bad state (one answer for unknown, used or expired), a missing field, or a value with a control character", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
    )
)]
pub async fn capture_credential(
    State(gateway): State<Gateway>,
    Extension(request_id): Extension<RequestId>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // serde's own message may quote a value, and the values here are credentials.
    let request: CaptureCredentialRequest = json_body(body, gateway.inner.config.max_body_bytes)
        .map_err(|e| match e.status {
            StatusCode::PAYLOAD_TOO_LARGE => e,
            _ => ApiError::invalid_request(
                "the body must be JSON: {\"state\": \"…\", \"credentials\": {\"field\": \"value\"}}",
            ),
        })?;
    if !is_plausible_state(request.state.expose()) {
        return Err(bad_state());
    }
    let captured: CaptureCredentialResponse = gateway
        .inner
        .broker
        .compat_post(
            INTERNAL_CAPTURE_CREDENTIAL,
            &request,
            request_id.as_str(),
            "capture credential",
        )
        .await?;
    Ok(private_json(&captured))
}

fn is_plausible_state(state: &str) -> bool {
    !state.is_empty() && state.len() <= MAX_STATE_LEN
}

/// The broker's words for a state it cannot use, so every bad state gets one answer.
fn bad_state() -> ApiError {
    ApiError::invalid_request("this link is unknown, already used or expired")
}

#[utoipa::path(
    delete,
    path = "/v1/connections/{id}",
    tag = "connections",
    params(
        ("id" = String, Path, description = "Connection id", pattern = "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$"),
        ("workspace_id" = Option<String>, Query, description = "Must be the caller's workspace when given"),
        ("reason" = Option<String>, Query, description = "Kept in the audit record"),
    ),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Revoked: the stored secrets are deleted, the provider asked to revoke them (RFC 7009) when it can, every gateway's cache told", body = RevokeConnectionResponse),
        (status = 400, description = "Malformed id or query", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "`workspace_id` is not the key's workspace", body = ErrorBody),
        (status = 404, description = "No such connection in the caller's workspace (`connection_not_found`)", body = ErrorBody),
    )
)]
pub async fn revoke_connection(
    State(gateway): State<Gateway>,
    Caller(principal): Caller,
    Extension(request_id): Extension<RequestId>,
    id: Result<Path<String>, PathRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let Path(id) =
        id.map_err(|_| ApiError::invalid_request("the connection id is not valid UTF-8"))?;
    let id = crate::query::connection_id(id)?;
    let mut reason = None;
    for (name, value) in query_pairs(uri.query())? {
        match name.as_str() {
            "workspace_id" if value != principal.workspace_id() => {
                return Err(ApiError::forbidden(
                    "`workspace_id` is not the workspace of this API key",
                ));
            }
            "reason" if value.len() > MAX_REASON_LEN => {
                return Err(ApiError::invalid_request(format!(
                    "`reason` may be at most {MAX_REASON_LEN} bytes"
                )));
            }
            "reason" => reason = Some(value),
            _ => {}
        }
    }
    let request = InternalRevokeConnection {
        principal,
        reason,
        request_id: Some(request_id.as_str().to_owned()),
    };
    let revoked: RevokeConnectionResponse = gateway
        .inner
        .broker
        .revoke_connection(&request, &id, request_id.as_str())
        .await?;
    // This gateway's cached tokens go at once, as the revocation feed does for the others.
    gateway.inner.tokens.flush();
    Ok(private_json(&revoked))
}

#[utoipa::path(
    get,
    path = "/auth/callback",
    tag = "connections",
    responses(
        (status = 302, description = "Relayed to the broker's `/oauth/callback` (when `NEXUS_GATEWAY_RELAY_AUTH_CALLBACK=true`); its answer is passed on"),
        (status = 404, description = "Not relayed: the providers' redirect URI must be the broker's `/oauth/callback`", body = ErrorBody),
    )
)]
pub async fn auth_callback(State(gateway): State<Gateway>, uri: Uri) -> Response {
    if !gateway.inner.config.relay_auth_callback {
        return ApiError::not_found(
            "this gateway does not relay OAuth callbacks: register the broker's `/oauth/callback` \
             as the providers' redirect URI (or set NEXUS_GATEWAY_RELAY_AUTH_CALLBACK=true here \
             and NEXUS_OAUTH_REDIRECT_URI at the broker to this URL)",
        )
        .into_response();
    }
    match gateway.inner.broker.relay_callback(uri.query()).await {
        Ok(answer) => relayed(answer).await,
        Err(e) => e.into_response(),
    }
}

/// The broker's callback answer as the browser should get it: status, where to go next, the
/// page, and the headers that keep its one-time URL out of caches and referrers.
async fn relayed(answer: reqwest::Response) -> Response {
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut headers = axum::http::HeaderMap::new();
    for name in [
        header::LOCATION,
        header::CONTENT_TYPE,
        header::CACHE_CONTROL,
        header::REFERRER_POLICY,
    ] {
        if let Some(value) = answer
            .headers()
            .get(name.as_str())
            .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok())
        {
            headers.insert(name, value);
        }
    }
    match answer.bytes().await {
        Ok(body) => {
            let mut response = (status, headers, body).into_response();
            response
                .extensions_mut()
                .insert(crate::middleware::RelayedPage);
            response
        }
        Err(_) => {
            ApiError::bad_gateway("the broker's callback answer was cut short").into_response()
        }
    }
}
