//! `GET /v1/resolve`: a short-lived credential and how to inject it.

use crate::Gateway;
use crate::auth::SharedCaller;
use crate::error::ApiError;
use crate::middleware::RequestId;
use crate::query::{ResolveArgs, parse_resolve_args};
use crate::routes::private_json_bytes;
use axum::Extension;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use nexus_protocol::internal::Principal;
use nexus_protocol::{ErrorBody, ResolveResponse};

#[utoipa::path(
    get,
    path = "/v1/resolve",
    tag = "resolve",
    // Spelled out (rather than `params(ResolveQuery)`) to document the validation rules, so
    // generated clients and fuzzers know what is accepted. `provider` is accepted as an alias of
    // `provider_name` (older clients); sending both is a repeated parameter.
    params(
        ("workspace_id" = String, Query, description = "The caller's workspace"),
        ("provider_name" = String, Query, description = "Provider name (alias: `provider`)"),
        ("min_ttl" = Option<u64>, Query, description = "Seconds the credential must stay valid", minimum = 0),
        ("force_refresh" = Option<bool>, Query, description = "Skip every cache and refresh at the provider"),
    ),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "A credential and its injection strategy", body = ResolveResponse),
        (status = 400, description = "Missing, repeated or malformed parameter", body = ErrorBody),
        (status = 401, description = "Missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "The key belongs to another workspace, or the session has no scope for the provider (`scope_not_allowed`)", body = ErrorBody),
        (status = 404, description = "No such provider or no connection for it", body = ErrorBody),
        (status = 409, description = "The connection needs a person to authorize it again", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
        (status = 502, description = "The provider or broker failed", body = ErrorBody),
        (status = 503, description = "The broker is unreachable", body = ErrorBody),
    )
)]
pub async fn resolve(
    State(gateway): State<Gateway>,
    SharedCaller(principal): SharedCaller,
    Extension(request_id): Extension<RequestId>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let args = parse_resolve_args(uri.query())?;
    if let Principal::Session { .. } = *principal {
        // Sessions: the broker checks workspace and scopes (and audits a refusal); the
        // credential may be narrowed per session, so it bypasses the shared token cache.
        return Box::pin(crate::routes::sessions::resolve_for_session(
            &gateway,
            std::sync::Arc::unwrap_or_clone(principal),
            args.to_params()?,
            request_id.as_str(),
        ))
        .await;
    }
    check_workspace(&principal, &args)?;
    let response = gateway
        .inner
        .tokens
        .resolve(&principal, &args, request_id.as_str())
        .await?;
    Ok(private_json_bytes(response))
}

/// An API key resolves in its own workspace only (also the warm path's rule:
/// [`crate::warm_resolve`]).
pub(crate) fn check_workspace(
    principal: &Principal,
    args: &ResolveArgs<'_>,
) -> Result<(), ApiError> {
    if args.workspace_id != principal.workspace_id() {
        return Err(ApiError::forbidden(
            "this API key does not belong to that workspace",
        ));
    }
    Ok(())
}
