//! `POST /v1/mcp/user-credential` (design 17 §5.4): an MCP server, with its workspace API key,
//! presents the MCP access token it received and gets that user's upstream credential, or 409
//! `connection_required` with a connect link bound to that user.
//!
//! The subject token is a bearer credential of the user: it goes to the broker in the body and
//! nowhere else (no log, no URL, no echo in an error). Answers are per user, so they never go
//! through the gateway's shared token cache (keyed by workspace and provider only); the SDK
//! caches them per user.
//!
//! `GET /v1/mcp/authorization-server` (design 17 §2.1): which authorization server issues the
//! access tokens an MCP server receives, read from the broker and cached five minutes. The
//! gateway only relays it: it verifies no token itself and carries no crypto for it.

use crate::Gateway;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::middleware::{self, RequestId};
use crate::routes::private_json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use nexus_protocol::internal::Principal;
use nexus_protocol::mcp::{
    AsAdvertisement, INTERNAL_AS_ADVERTISEMENT_PATH, INTERNAL_USER_CREDENTIAL_PATH,
    InternalUserCredentialRequest, USER_CREDENTIAL_MAX_BODY, UserCredentialRequest,
};
use nexus_protocol::{ErrorBody, ProviderName, ResolveResponse};
use std::time::{Duration, Instant};

#[utoipa::path(
    post,
    path = "/v1/mcp/user-credential",
    tag = "mcp",
    request_body = UserCredentialRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The upstream credential of the token's user, as `GET /v1/resolve` answers it", body = ResolveResponse),
        (status = 400, description = "Malformed body or unknown field (`invalid_request`)", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key (`unauthorized`), or a subject token that is not a live access token of this Nexus: bad signature, other issuer, expired, grant revoked (`invalid_subject_token`)", body = ErrorBody),
        (status = 403, description = "The token was issued for an MCP resource of another workspace, or the caller is an agent session (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such provider (`provider_not_found`)", body = ErrorBody),
        (status = 409, description = "The user has no usable connection (`connection_required`, with `provider`, `reason`, `connect_url` bound to that user and `elicitation_id`)", body = ErrorBody),
        (status = 413, description = "Body larger than 16 KiB", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 502, description = "The provider or broker failed", body = ErrorBody),
        (status = 503, description = "The broker is unreachable", body = ErrorBody),
    )
)]
pub async fn user_credential(
    State(gateway): State<Gateway>,
    Caller(principal): Caller,
    Extension(request_id): Extension<RequestId>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if !matches!(principal, Principal::ApiKey { .. }) {
        // The Caller extractor already refuses sessions outside resolve/proxy; kept as the rule.
        return Err(ApiError::forbidden(
            "user credentials are for an MCP server's workspace API key",
        ));
    }
    let request = parse(body)?;
    let request = InternalUserCredentialRequest {
        principal,
        request,
        request_id: Some(request_id.as_str().to_owned()),
    };
    let response: ResolveResponse = gateway
        .inner
        .broker
        .identity_post(
            INTERNAL_USER_CREDENTIAL_PATH,
            &request,
            request_id.as_str(),
            "mcp user credential",
        )
        .await?;
    Ok(private_json(&crate::broker::for_clients_only(response)))
}

/// The body, refused without quoting any of it (the subject token is a credential): serde's
/// messages may carry a value, so only "missing/unknown field `name`" is passed on.
fn parse(body: Result<Bytes, BytesRejection>) -> Result<UserCredentialRequest, ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            middleware::body_too_large(USER_CREDENTIAL_MAX_BODY)
        } else {
            ApiError::invalid_request("could not read the request body")
        }
    })?;
    if bytes.len() > USER_CREDENTIAL_MAX_BODY {
        return Err(middleware::body_too_large(USER_CREDENTIAL_MAX_BODY));
    }
    let request: UserCredentialRequest = serde_json::from_slice(&bytes).map_err(|err| {
        let text = err.to_string();
        let hint = if text.starts_with("missing field") || text.starts_with("unknown field") {
            text.split(" at line").next().unwrap_or_default().to_owned()
        } else {
            "expected {\"provider\": string, \"subject_token\": string, \"min_ttl\"?: integer, \
             \"force_refresh\"?: boolean}"
                .to_owned()
        };
        ApiError::invalid_request(format!("invalid JSON body: {hint}"))
    })?;
    ProviderName::new(request.provider.as_str())
        .map_err(|e| crate::query::invalid("provider", &e))?;
    if request.subject_token.is_empty() {
        return Err(ApiError::invalid_request("`subject_token` is empty"));
    }
    Ok(request)
}

/// How long the broker's advertisement is reused: the issuer is fixed configuration, so a
/// change shows within this time of the broker restarting with it.
pub const ADVERTISEMENT_TTL: Duration = Duration::from_secs(300);

/// The last advertisement the broker gave. The lock is held across the fetch, so concurrent
/// callers after expiry make one broker call. A refusal is not kept: the next call asks again.
#[derive(Default)]
pub(crate) struct AdvertisementCache(tokio::sync::Mutex<Option<(Instant, AsAdvertisement)>>);

#[utoipa::path(
    get,
    path = "/v1/mcp/authorization-server",
    tag = "mcp",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The authorization server that issues the MCP access tokens: its issuer, RFC 8414 metadata URL and JWKS URL (cached 5 minutes)", body = AsAdvertisement),
        (status = 401, description = "Missing or unknown API key (`unauthorized`)", body = ErrorBody),
        (status = 403, description = "An agent session: the advertisement is for an MCP server's workspace API key (`forbidden`)", body = ErrorBody),
        (status = 404, description = "This Nexus runs no authorization server (`not_found`)", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 502, description = "The broker failed", body = ErrorBody),
        (status = 503, description = "The broker is unreachable", body = ErrorBody),
    )
)]
pub async fn authorization_server(
    State(gateway): State<Gateway>,
    Caller(principal): Caller,
    Extension(request_id): Extension<RequestId>,
) -> Result<Json<AsAdvertisement>, ApiError> {
    if !matches!(principal, Principal::ApiKey { .. }) {
        // The Caller extractor already refuses sessions outside resolve/proxy; kept as the rule.
        return Err(ApiError::forbidden(
            "the authorization server is advertised to an MCP server's workspace API key",
        ));
    }
    let mut cached = gateway.inner.as_advertisement.0.lock().await;
    if let Some((at, advertisement)) = cached.as_ref()
        && at.elapsed() < ADVERTISEMENT_TTL
    {
        return Ok(Json(advertisement.clone()));
    }
    let fetched: AsAdvertisement = gateway
        .inner
        .broker
        .compat_get(
            INTERNAL_AS_ADVERTISEMENT_PATH,
            request_id.as_str(),
            "authorization server advertisement",
        )
        .await
        .map_err(not_served)?;
    *cached = Some((Instant::now(), fetched.clone()));
    Ok(Json(fetched))
}

/// A broker that answers 404 serves no authorization server (one without the route, or with
/// it switched off): say so in the caller's terms rather than relay "no such route".
fn not_served(error: ApiError) -> ApiError {
    if error.status == StatusCode::NOT_FOUND {
        ApiError::not_found(
            "this Nexus runs no authorization server for MCP: configure the MCP server's issuer \
             explicitly, or enable the authorization server on the broker",
        )
    } else {
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broker_404_becomes_a_clear_not_found_and_other_errors_pass() {
        let mapped = not_served(ApiError::not_found("no such route"));
        assert_eq!(mapped.status, StatusCode::NOT_FOUND);
        assert_eq!(mapped.body.error, nexus_protocol::ErrorCode::NotFound);
        assert!(mapped.body.message.contains("no authorization server"));
        let unavailable = not_served(ApiError::unavailable("down"));
        assert_eq!(unavailable.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(unavailable.body.message, "down");
    }
}
