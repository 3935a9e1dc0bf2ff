//! Errors: [`ApiError`] is what a request can fail with (it becomes the JSON envelope
//! `nexus_protocol::ErrorBody`); [`GatewayError`] is what building the gateway can fail with.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nexus_protocol::{ErrorBody, ErrorCode};
use thiserror::Error;

/// A failed request: an HTTP status and the error envelope to send.
///
/// The envelope is rendered by the outermost middleware ([`crate::middleware`]), which knows the
/// request id; a handler only says *what* went wrong. Messages never contain a secret.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    /// Boxed: the envelope's optional fields make it large, and every handler returns
    /// `Result<_, ApiError>`.
    pub body: Box<ErrorBody>,
}

impl ApiError {
    /// An error whose status is the protocol's status for `code`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self {
            status,
            body: Box::new(ErrorBody::new(code, message)),
        }
    }

    /// An error with an explicit status (405, 431, 503, 504: statuses the code table does not pin).
    pub fn with_status(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: Box::new(ErrorBody::new(code, message)),
        }
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// The broker (or something behind it) cannot be reached: 503.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::with_status(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::UpstreamUnavailable,
            message,
        )
    }

    /// The broker answered with something the gateway cannot use: 502.
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        Self::with_status(
            StatusCode::BAD_GATEWAY,
            ErrorCode::UpstreamUnavailable,
            message,
        )
    }

    /// 429 with `Retry-After`; `whom` names the budget that ran out (e.g. "this caller").
    pub fn rate_limited(retry_after_secs: u64, whom: &str) -> Self {
        let mut err = Self::new(
            ErrorCode::RateLimited,
            format!("too many requests for {whom}"),
        );
        err.body.retry_after = Some(retry_after_secs);
        err
    }

    /// A response whose body is rendered later, by [`crate::middleware::finalize`], with the
    /// request id filled in.
    fn pending_response(self) -> Response {
        let mut response = self.status.into_response();
        if let Some(secs) = self.body.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(PendingError(*self.body));
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.pending_response()
    }
}

/// Marks a response whose JSON error body is still to be written (see [`ApiError`]).
#[derive(Debug, Clone)]
pub(crate) struct PendingError(pub ErrorBody);

/// Building a [`crate::Gateway`] failed.
#[derive(Debug, Error)]
pub enum GatewayError {
    #[error("invalid broker URL: {0}")]
    InvalidBrokerUrl(String),
    #[error("invalid setting: {0}")]
    InvalidConfig(String),
    #[error("could not build the HTTP client for the broker: {0}")]
    HttpClient(#[source] reqwest::Error),
    #[error("could not build the OpenAPI document: {0}")]
    OpenApi(#[source] serde_json::Error),
}
