//! Errors: [`ApiError`] for everything answered over HTTP.
//!
//! An `ApiError` always renders as the protocol's `ErrorBody` with the status its code implies,
//! so the gateway can pass it on unchanged. Messages never contain a secret.

use crate::store::StoreError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nexus_protocol::{ErrorBody, ErrorCode};

/// An error answered to an HTTP caller.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub reauth_url: Option<String>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            reauth_url: None,
            retry_after: None,
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    pub fn internal() -> Self {
        Self::new(
            ErrorCode::InternalError,
            "internal error; see the broker log",
        )
    }
    pub fn upstream(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::UpstreamUnavailable, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => ApiError::invalid(format!("{what} already exists")),
            StoreError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            other => {
                // Logged (never secret-bearing: see StoreError), answered as a generic 500.
                tracing::error!(error = %other, "store failure");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = ErrorBody::new(self.code, self.message);
        body.reauth_url = self.reauth_url;
        body.retry_after = self.retry_after;
        (status, Json(body)).into_response()
    }
}
