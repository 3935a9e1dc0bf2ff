//! `POST /v1/mcp/user-credential` (design 17 §5.4): an MCP server, with its workspace API key,
//! presents the MCP access token it received and gets that user's upstream credential, or 409
//! `connection_required` with a connect link bound to that user.
//!
//! The subject token is a bearer credential of the user: it goes to the broker in the body and
//! nowhere else (no log, no URL, no echo in an error). Answers are per user, so they never go
//! through the gateway's shared token cache (keyed by workspace and provider only); the SDK
//! caches them per user.

use crate::Gateway;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::middleware::{self, RequestId};
use crate::routes::private_json;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::Response;
use nexus_protocol::internal::Principal;
use nexus_protocol::mcp::{
    INTERNAL_USER_CREDENTIAL_PATH, InternalUserCredentialRequest, USER_CREDENTIAL_MAX_BODY,
    UserCredentialRequest,
};
use nexus_protocol::{ErrorBody, ProviderName, ResolveResponse};

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
