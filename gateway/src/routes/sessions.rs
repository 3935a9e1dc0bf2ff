//! Agent identity on the public API: `POST /v1/sessions`, `GET`/`DELETE /v1/sessions/{id}`,
//! `POST /v1/authorize`, `POST /v1/token` (RFC 8693 On-Behalf-Of), `GET /.well-known/jwks.json`,
//! and the session side of `GET /v1/resolve`.
//!
//! The gateway holds no signing key and makes no identity decision: it forwards what the caller
//! presented to the broker (`nexus_protocol::identity` internal bodies), which verifies, decides
//! and audits. Session tokens are verified at the broker on **every** request and never cached
//! here, so a revoked session is refused at once by every gateway process.

use crate::Gateway;
use crate::auth::api_key_from_headers;
use crate::error::ApiError;
use crate::middleware::RequestId;
use crate::query::ResolveParams;
use crate::routes::{json_body, private_json};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nexus_protocol::identity::{
    AuthorizeRequest, AuthorizeResponse, CreateSessionRequest, INTERNAL_AUTHORIZE_PATH,
    INTERNAL_JWKS_PATH, INTERNAL_SESSION_REVOKE_PATH, INTERNAL_SESSION_STATUS_PATH,
    INTERNAL_SESSIONS_PATH, INTERNAL_TOKEN_EXCHANGE_PATH, INTERNAL_VERIFY_SESSION_PATH,
    InternalAuthorize, InternalCreateSession, InternalSessionOp, InternalTokenExchange,
    InternalVerifySession, JWT_TOKEN_TYPE, SessionResponse, SessionStatus, TOKEN_EXCHANGE_GRANT,
    TokenExchangeResponse,
};
use nexus_protocol::internal::{InternalResolveRequest, Principal};
use nexus_protocol::{ErrorBody, SecretString, SessionId};
use percent_encoding::percent_decode_str;

/// Subject token types accepted by `POST /v1/token`.
const SUBJECT_TOKEN_TYPES: &[&str] = &[
    JWT_TOKEN_TYPE,
    "urn:ietf:params:oauth:token-type:id_token",
    "urn:ietf:params:oauth:token-type:access_token",
];

/// A session token is a compact JWT; API keys and agent credentials never look like one.
pub fn is_session_token(token: &SecretString) -> bool {
    nexus_protocol::identity::looks_like_jwt(token.expose())
}

/// The principal of a usable session (401 otherwise), asked of the broker every time.
pub async fn verify_session(
    gateway: &Gateway,
    token: &SecretString,
    request_id: &str,
) -> Result<Principal, ApiError> {
    let body = InternalVerifySession {
        token: token.clone(),
    };
    gateway
        .inner
        .broker
        .identity_post(
            INTERNAL_VERIFY_SESSION_PATH,
            &body,
            request_id,
            "verify session",
        )
        .await
}

/// `GET /v1/resolve` with a session: straight to the broker (no shared cache).
pub async fn resolve_for_session(
    gateway: &Gateway,
    principal: Principal,
    params: ResolveParams,
    request_id: &str,
) -> Result<Response, ApiError> {
    let request = InternalResolveRequest {
        principal,
        workspace_id: params.workspace_id.into_string(),
        provider_name: params.provider_name.into_string(),
        min_ttl: params.min_ttl,
        force_refresh: params.force_refresh,
        request_id: Some(request_id.to_owned()).filter(|id| !id.is_empty()),
        proxy_call: None,
    };
    let mut response = gateway.inner.broker.resolve(&request).await?;
    // The proxy settings are for the gateway's proxy mode, not for clients.
    response.proxy = None;
    Ok(private_json(&response))
}

/// The `iss` of session tokens: the configured public URL (`NEXUS_PUBLIC_URL`); without one,
/// this gateway's URL as the caller reached it.
fn issuer(gateway: &Gateway, headers: &HeaderMap) -> String {
    if let Some(url) = &gateway.inner.config.public_url {
        return url.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.len() <= 255 && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

fn created(value: &impl serde::Serialize) -> Response {
    let mut response = private_json(value);
    *response.status_mut() = StatusCode::CREATED;
    response
}

fn session_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(id) = path.map_err(|_| ApiError::invalid_request("malformed session id"))?;
    SessionId::new(id)
        .map(SessionId::into_string)
        .map_err(|_| ApiError::not_found("no such session"))
}

#[utoipa::path(
    post,
    path = "/v1/sessions",
    tag = "identity",
    request_body = CreateSessionRequest,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "A session token for the agent (or for a user, On-Behalf-Of)", body = SessionResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Unknown agent credential, disabled agent, or (OBO) `invalid_subject_token`", body = ErrorBody),
        (status = 403, description = "`scope_not_allowed`, or (OBO) `user_not_authorized_for_scope`", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "`rate_limited`: this agent created too many sessions; see `Retry-After`", body = ErrorBody),
        (status = 503, description = "The broker is unreachable", body = ErrorBody),
    )
)]
pub async fn create_session(
    State(gateway): State<Gateway>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let credential = api_key_from_headers(&headers)?;
    gateway.inner.session_creation_limiter.check(&credential)?;
    let request: CreateSessionRequest = json_body(body, gateway.inner.config.max_body_bytes)?;
    let body = InternalCreateSession {
        credential,
        request,
        issuer: issuer(&gateway, &headers),
        request_id: Some(request_id.as_str().to_owned()),
    };
    let session: SessionResponse = gateway
        .inner
        .broker
        .identity_post(
            INTERNAL_SESSIONS_PATH,
            &body,
            request_id.as_str(),
            "create session",
        )
        .await?;
    Ok(created(&session))
}

#[utoipa::path(
    get,
    path = "/v1/sessions/{id}",
    tag = "identity",
    params(("id" = String, Path, description = "The session id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The session's state (`active`, `expired`, `revoked`)", body = SessionStatus),
        (status = 401, description = "Unknown credential", body = ErrorBody),
        (status = 404, description = "No such session for this caller", body = ErrorBody),
        (status = 503, description = "The broker is unreachable", body = ErrorBody),
    )
)]
pub async fn get_session(
    State(gateway): State<Gateway>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let credential = api_key_from_headers(&headers)?;
    let body = InternalSessionOp {
        credential,
        session_id: session_id(path)?,
        request_id: Some(request_id.as_str().to_owned()),
    };
    let status: SessionStatus = gateway
        .inner
        .broker
        .identity_post(
            INTERNAL_SESSION_STATUS_PATH,
            &body,
            request_id.as_str(),
            "session status",
        )
        .await?;
    Ok(private_json(&status))
}

#[utoipa::path(
    delete,
    path = "/v1/sessions/{id}",
    tag = "identity",
    params(("id" = String, Path, description = "The session id")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Revoked (idempotent); the token is refused from now on"),
        (status = 401, description = "Unknown credential", body = ErrorBody),
        (status = 404, description = "No such session for this caller", body = ErrorBody),
        (status = 503, description = "The broker is unreachable", body = ErrorBody),
    )
)]
pub async fn delete_session(
    State(gateway): State<Gateway>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let credential = api_key_from_headers(&headers)?;
    let body = InternalSessionOp {
        credential,
        session_id: session_id(path)?,
        request_id: Some(request_id.as_str().to_owned()),
    };
    let _: serde_json::Value = gateway
        .inner
        .broker
        .identity_post(
            INTERNAL_SESSION_REVOKE_PATH,
            &body,
            request_id.as_str(),
            "revoke session",
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    post,
    path = "/v1/authorize",
    tag = "identity",
    request_body = AuthorizeRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The session holds the scope", body = AuthorizeResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Missing, invalid, expired or revoked session token", body = ErrorBody),
        (status = 403, description = "`scope_not_allowed`, or `user_not_authorized_for_scope` (OBO)", body = ErrorBody),
        (status = 503, description = "The broker is unreachable", body = ErrorBody),
    )
)]
pub async fn authorize(
    State(gateway): State<Gateway>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let token = api_key_from_headers(&headers)?;
    if !is_session_token(&token) {
        return Err(ApiError::unauthorized(
            "`/v1/authorize` needs a session token (`POST /v1/sessions`)",
        ));
    }
    let request: AuthorizeRequest = json_body(body, gateway.inner.config.max_body_bytes)?;
    let body = InternalAuthorize {
        token,
        scope: request.scope,
        request_id: Some(request_id.as_str().to_owned()),
    };
    let answer: AuthorizeResponse = gateway
        .inner
        .broker
        .identity_post(
            INTERNAL_AUTHORIZE_PATH,
            &body,
            request_id.as_str(),
            "authorize",
        )
        .await?;
    Ok(private_json(&answer))
}

/// Form fields of `POST /v1/token`.
#[derive(Default)]
struct ExchangeForm {
    grant_type: Option<String>,
    subject_token: Option<String>,
    subject_token_type: Option<String>,
    actor_token: Option<String>,
    actor_token_type: Option<String>,
    scope: Option<String>,
}

fn parse_form(body: &[u8]) -> Result<ExchangeForm, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::invalid_request("the form body is not UTF-8"))?;
    let mut form = ExchangeForm::default();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode_str(&value.replace('+', " "))
            .decode_utf8()
            .map_err(|_| ApiError::invalid_request("a form value is not UTF-8"))?
            .into_owned();
        let slot = match name {
            "grant_type" => &mut form.grant_type,
            "subject_token" => &mut form.subject_token,
            "subject_token_type" => &mut form.subject_token_type,
            "actor_token" => &mut form.actor_token,
            "actor_token_type" => &mut form.actor_token_type,
            "scope" => &mut form.scope,
            _ => continue, // RFC 8693 §2.1: `resource`, `audience`… are optional hints.
        };
        if slot.is_some() {
            return Err(ApiError::invalid_request(format!(
                "form field `{name}` is repeated"
            )));
        }
        *slot = Some(value);
    }
    Ok(form)
}

fn required(value: Option<String>, name: &str) -> Result<String, ApiError> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::invalid_request(format!("form field `{name}` is required")))
}

/// The form body of `POST /v1/token` (`application/x-www-form-urlencoded`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct TokenExchangeForm {
    /// `urn:ietf:params:oauth:grant-type:token-exchange`
    grant_type: String,
    /// The user's JWT.
    subject_token: String,
    /// `urn:ietf:params:oauth:token-type:jwt` (or `…:id_token`, `…:access_token`)
    subject_token_type: String,
    /// The agent's session token or agent credential.
    actor_token: String,
    actor_token_type: Option<String>,
    /// Space-separated scopes; absent = every scope the agent and the user share.
    scope: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/token",
    tag = "identity",
    request_body(content = TokenExchangeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "An On-Behalf-Of session token", body = TokenExchangeResponse),
        (status = 400, description = "Missing or malformed form field", body = ErrorBody),
        (status = 401, description = "Unknown actor, or `invalid_subject_token`", body = ErrorBody),
        (status = 403, description = "`scope_not_allowed` or `user_not_authorized_for_scope`", body = ErrorBody),
        (status = 503, description = "The broker is unreachable", body = ErrorBody),
    )
)]
pub async fn token_exchange(
    State(gateway): State<Gateway>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bytes = body.map_err(|_| ApiError::invalid_request("could not read the request body"))?;
    let form = parse_form(&bytes)?;
    if required(form.grant_type, "grant_type")? != TOKEN_EXCHANGE_GRANT {
        return Err(ApiError::invalid_request(format!(
            "`grant_type` must be `{TOKEN_EXCHANGE_GRANT}`"
        )));
    }
    let subject_type = required(form.subject_token_type, "subject_token_type")?;
    if !SUBJECT_TOKEN_TYPES.contains(&subject_type.as_str()) {
        return Err(ApiError::invalid_request(
            "`subject_token_type` must be a JWT, id_token or access_token type",
        ));
    }
    if let Some(t) = form.actor_token_type.as_deref()
        && !SUBJECT_TOKEN_TYPES.contains(&t)
    {
        return Err(ApiError::invalid_request(
            "`actor_token_type` must be a JWT or access_token type",
        ));
    }
    let body = InternalTokenExchange {
        subject_token: SecretString::new(required(form.subject_token, "subject_token")?),
        actor_token: SecretString::new(required(form.actor_token, "actor_token")?),
        scope: form.scope.filter(|s| !s.trim().is_empty()),
        issuer: issuer(&gateway, &headers),
        request_id: Some(request_id.as_str().to_owned()),
    };
    let answer: TokenExchangeResponse = gateway
        .inner
        .broker
        .identity_post(
            INTERNAL_TOKEN_EXCHANGE_PATH,
            &body,
            request_id.as_str(),
            "token exchange",
        )
        .await?;
    Ok(private_json(&answer))
}

#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "identity",
    responses(
        (status = 200, description = "The public keys that sign session tokens (JWK set)", body = Object),
        (status = 503, description = "The broker is unreachable", body = ErrorBody),
    )
)]
pub async fn jwks(
    State(gateway): State<Gateway>,
    Extension(request_id): Extension<RequestId>,
) -> Result<Response, ApiError> {
    let set: serde_json::Value = gateway
        .inner
        .broker
        .identity_get(INTERNAL_JWKS_PATH, request_id.as_str(), "jwks")
        .await?;
    let mut response = axum::Json(set).into_response();
    // Short: a verifier that sees an unknown `kid` fetches again anyway.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_parsing_decodes_and_refuses_repeats() {
        let f = parse_form(b"grant_type=a%3Ab&scope=x+y&other=1").unwrap();
        assert_eq!(f.grant_type.as_deref(), Some("a:b"));
        assert_eq!(f.scope.as_deref(), Some("x y"));
        assert!(parse_form(b"scope=a&scope=b").is_err());
        assert!(parse_form(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn session_tokens_are_told_apart_from_keys() {
        assert!(is_session_token(&SecretString::new(
            "eyJhbGciOi.eyJzdWIi.sig"
        )));
        assert!(!is_session_token(&SecretString::new("nxk_0123_secret")));
        assert!(!is_session_token(&SecretString::new("nxa_0123_secret")));
    }
}
