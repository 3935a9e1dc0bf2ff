//! Failure injection for the token endpoint: a queue of misbehaviours, each consumed by one
//! token request, in order.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// One misbehaviour of the token endpoint, consumed by the next token request.
///
/// Error-like failures (`ServerError`, `RateLimited`, `InvalidGrant`, `InvalidClient`,
/// `HtmlErrorPage`, `GarbageJson`) answer without processing the request: no code is used up
/// and no refresh token is rotated, so the client can retry. `Slow`, `NoNewRefreshToken` and
/// `MissingExpiresIn` process the request normally and only change the delay or the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Answer with this status (e.g. 503) and a JSON `{"error":"temporarily_unavailable"}`.
    /// A status outside 400-599 is answered as 503.
    ServerError(u16),
    /// `429 Too Many Requests` with `Retry-After: <seconds>`.
    RateLimited { retry_after: Duration },
    /// Wait this long, then process the request normally (for client timeouts).
    Slow(Duration),
    /// `400 {"error":"invalid_grant"}` as if the code or refresh token were dead.
    InvalidGrant,
    /// `401 {"error":"invalid_client"}` as if the client secret were wrong.
    InvalidClient,
    /// Success, but without a `refresh_token` in the response. On a refresh grant the presented
    /// refresh token stays valid (a provider that does not rotate).
    NoNewRefreshToken,
    /// `502` with a `text/html` body, like a proxy's error page.
    HtmlErrorPage,
    /// Success, but without `expires_in`.
    MissingExpiresIn,
    /// `200` with `Content-Type: application/json` and a body that is not JSON.
    GarbageJson,
}

/// The JSON form of a [`Failure`], used by `POST /_control/failures`:
/// `{"kind":"server_error","status":503}`, `{"kind":"rate_limited","retry_after_secs":2}`,
/// `{"kind":"slow","delay_ms":500}`, or `{"kind":"invalid_grant"}` / `"invalid_client"` /
/// `"no_new_refresh_token"` / `"html_error_page"` / `"missing_expires_in"` / `"garbage_json"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FailureSpec {
    ServerError {
        #[serde(default = "default_server_error_status")]
        status: u16,
    },
    RateLimited {
        #[serde(default)]
        retry_after_secs: u64,
    },
    Slow {
        delay_ms: u64,
    },
    InvalidGrant,
    InvalidClient,
    NoNewRefreshToken,
    HtmlErrorPage,
    MissingExpiresIn,
    GarbageJson,
}

fn default_server_error_status() -> u16 {
    503
}

impl From<FailureSpec> for Failure {
    fn from(spec: FailureSpec) -> Self {
        match spec {
            FailureSpec::ServerError { status } => Failure::ServerError(status),
            FailureSpec::RateLimited { retry_after_secs } => Failure::RateLimited {
                retry_after: Duration::from_secs(retry_after_secs),
            },
            FailureSpec::Slow { delay_ms } => Failure::Slow(Duration::from_millis(delay_ms)),
            FailureSpec::InvalidGrant => Failure::InvalidGrant,
            FailureSpec::InvalidClient => Failure::InvalidClient,
            FailureSpec::NoNewRefreshToken => Failure::NoNewRefreshToken,
            FailureSpec::HtmlErrorPage => Failure::HtmlErrorPage,
            FailureSpec::MissingExpiresIn => Failure::MissingExpiresIn,
            FailureSpec::GarbageJson => Failure::GarbageJson,
        }
    }
}

impl From<&Failure> for FailureSpec {
    fn from(failure: &Failure) -> Self {
        match failure {
            Failure::ServerError(status) => FailureSpec::ServerError { status: *status },
            Failure::RateLimited { retry_after } => FailureSpec::RateLimited {
                retry_after_secs: retry_after.as_secs(),
            },
            Failure::Slow(delay) => FailureSpec::Slow {
                delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            },
            Failure::InvalidGrant => FailureSpec::InvalidGrant,
            Failure::InvalidClient => FailureSpec::InvalidClient,
            Failure::NoNewRefreshToken => FailureSpec::NoNewRefreshToken,
            Failure::HtmlErrorPage => FailureSpec::HtmlErrorPage,
            Failure::MissingExpiresIn => FailureSpec::MissingExpiresIn,
            Failure::GarbageJson => FailureSpec::GarbageJson,
        }
    }
}

impl Failure {
    /// A short stable name, as used in the JSON `kind` and in the token request log.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::ServerError(_) => "server_error",
            Failure::RateLimited { .. } => "rate_limited",
            Failure::Slow(_) => "slow",
            Failure::InvalidGrant => "invalid_grant",
            Failure::InvalidClient => "invalid_client",
            Failure::NoNewRefreshToken => "no_new_refresh_token",
            Failure::HtmlErrorPage => "html_error_page",
            Failure::MissingExpiresIn => "missing_expires_in",
            Failure::GarbageJson => "garbage_json",
        }
    }

    /// The response that replaces normal processing, or `None` when the request is processed
    /// normally (possibly after a delay or with an altered body, handled by the caller).
    pub(crate) fn short_circuit(&self) -> Option<Response> {
        let response = match self {
            Failure::ServerError(status) => {
                let status = StatusCode::from_u16(*status)
                    .ok()
                    .filter(|s| s.is_client_error() || s.is_server_error())
                    .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                oauth_error(status, "temporarily_unavailable", "injected server error")
            }
            Failure::RateLimited { retry_after } => {
                let mut response = oauth_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "temporarily_unavailable",
                    "injected rate limit",
                );
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after.as_secs()),
                );
                response
            }
            Failure::InvalidGrant => oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "injected invalid_grant",
            ),
            Failure::InvalidClient => invalid_client("injected invalid_client"),
            Failure::HtmlErrorPage => (
                StatusCode::BAD_GATEWAY,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                "<html><head><title>502 Bad Gateway</title></head>\
                 <body><h1>502 Bad Gateway</h1><hr>nginx</body></html>",
            )
                .into_response(),
            Failure::GarbageJson => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"access_token\": \"tru",
            )
                .into_response(),
            Failure::Slow(_) | Failure::NoNewRefreshToken | Failure::MissingExpiresIn => {
                return None;
            }
        };
        Some(response)
    }
}

/// An RFC 6749 §5.2 error response.
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = serde_json::json!({ "error": error, "error_description": description });
    let mut response = (status, axum::Json(body)).into_response();
    no_store(&mut response);
    response
}

/// `401 invalid_client` with the challenge header RFC 6749 §5.2 asks for.
pub(crate) fn invalid_client(description: &str) -> Response {
    let mut response = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", description);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"nexus-testkit\""),
    );
    response
}

/// Token responses must not be cached (RFC 6749 §5.1).
pub(crate) fn no_store(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}
