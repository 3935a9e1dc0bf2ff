//! Errors: [`BrokerError`] for start-up; [`ApiError`] for everything answered over HTTP.
//!
//! An `ApiError` always renders as the protocol's `ErrorBody` with the status its code implies,
//! so the gateway can pass it on unchanged. The vault's errors become `ApiError`s here, and
//! only here: this file is where a domain failure gets its HTTP status. Messages never contain
//! a secret.

use crate::config::ConfigError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nexus_protocol::{ErrorBody, ErrorCode};
use nexus_vault::StartError;
use nexus_vault::crypto::CryptoError;
use nexus_vault::error::VaultError;
use nexus_vault::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("keyring: {0}")]
    Crypto(#[from] CryptoError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("providers file: {0}")]
    ProvidersFile(String),
    #[error(transparent)]
    AuthorizationServer(#[from] nexus_vault::authorization_server::AsConfigError),
}

impl From<StartError> for BrokerError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Crypto(e) => Self::Crypto(e),
            StartError::Store(e) => Self::Store(e),
            StartError::ProvidersFile(e) => Self::ProvidersFile(e),
            StartError::AuthorizationServer(e) => Self::AuthorizationServer(e),
        }
    }
}

/// An error answered to an HTTP caller.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub reauth_url: Option<String>,
    /// With `connection_required`: the link, its elicitation id, the provider and the reason.
    pub connection_required: Option<Box<nexus_vault::error::ConnectionRequired>>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            reauth_url: None,
            connection_required: None,
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    pub fn upstream(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::UpstreamUnavailable, message)
    }

    /// The HTTP status of this error: the one its protocol code implies.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<VaultError> for ApiError {
    fn from(e: VaultError) -> Self {
        let connection_required = match &e {
            VaultError::ConnectionRequired(details) => Some(details.clone()),
            _ => None,
        };
        Self {
            code: e.code(),
            reauth_url: e.reauth_url().map(str::to_owned),
            message: e.to_string(),
            connection_required,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        VaultError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut body = ErrorBody::new(self.code, self.message);
        body.reauth_url = self.reauth_url;
        if let Some(details) = self.connection_required {
            body.connect_url = Some(details.connect_url);
            body.elicitation_id = Some(details.elicitation_id);
            body.provider = Some(details.provider);
            body.reason = Some(details.reason);
        }
        (status, Json(body)).into_response()
    }
}
