//! The one error type of the SDK.
//!
//! Every failure a caller can see is a [`NexusError`]. Each variant maps to a stable string
//! ([`NexusError::code`]) that the Python, Node and Go SDKs report identically (the conformance
//! vectors in `tests/vectors/` compare it), and to a coarse category ([`NexusError::kind`]) that
//! the bindings turn into exception classes.
//!
//! Messages never contain a secret: credential values, API keys and upstream URLs (which may carry
//! an API key in their query) are never formatted into an error.

use nexus_protocol::{ErrorBody, ErrorCode, StrategyError};
use std::time::Duration;
use thiserror::Error;

/// The result type of every fallible SDK call.
pub type Result<T, E = NexusError> = std::result::Result<T, E>;

/// The coarse category of an error, for bindings that raise one exception class per category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The gateway answered with a protocol error envelope (`reauth_required`, `rate_limited`, …).
    Api,
    /// The strategy or the credential cannot produce a safe, authenticated request.
    Strategy,
    /// The request given to the SDK is malformed (bad URL, bad header, bad option).
    InvalidInput,
    /// The network failed: connect error, timeout, or a broken upstream connection.
    Transport,
    /// The gateway answered with something that is not the protocol (HTML, garbage JSON).
    InvalidResponse,
    /// Waiting for a connection stopped: it failed, it timed out, or the wait was cancelled.
    Connection,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 6] = [
        Self::Api,
        Self::Strategy,
        Self::InvalidInput,
        Self::Transport,
        Self::InvalidResponse,
        Self::Connection,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Strategy => "strategy",
            Self::InvalidInput => "invalid_input",
            Self::Transport => "transport",
            Self::InvalidResponse => "invalid_response",
            Self::Connection => "connection",
        }
    }
}

/// One row of the error table: the exception class every binding raises for `code` of `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorClass {
    /// The stable code ([`NexusError::code`]).
    pub code: &'static str,
    pub kind: ErrorKind,
    /// The class name (Python and Node use it; Python keeps older names as aliases).
    pub class: &'static str,
    /// A class the class must be a subclass of (`NexusError` is the root).
    pub parent: &'static str,
}

const fn row(
    code: &'static str,
    kind: ErrorKind,
    class: &'static str,
    parent: &'static str,
) -> ErrorClass {
    ErrorClass {
        code,
        kind,
        class,
        parent,
    }
}

/// The root class of every SDK error.
pub const ROOT_CLASS: &str = "NexusError";

/// The class of a protocol code this table does not list (a code newer than the SDK).
pub const UNKNOWN_API_CODE_CLASS: &str = "InternalServerError";

/// The one error table (code → kind → class), exported so that the bindings generate or check
/// their exception classes against it, and mirrored by `error_classes` in
/// `tests/vectors/client_behaviour.json` (the vector runner checks they are equal). A code may
/// appear once per kind (`invalid_request` is both a gateway answer and the SDK's own input
/// error), always with the same class. New protocol codes that can reach a client belong here.
pub const ERROR_TABLE: &[ErrorClass] = {
    use ErrorKind::*;
    &[
        row("invalid_request", Api, "InvalidRequestError", ROOT_CLASS),
        row(
            "invalid_request",
            InvalidInput,
            "InvalidRequestError",
            ROOT_CLASS,
        ),
        row("unauthorized", Api, "UnauthorizedError", ROOT_CLASS),
        row("forbidden", Api, "ForbiddenError", ROOT_CLASS),
        row("not_found", Api, "NotFoundError", ROOT_CLASS),
        row(
            "connection_not_found",
            Api,
            "ConnectionNotFoundError",
            "NotFoundError",
        ),
        row(
            "provider_not_found",
            Api,
            "ProviderNotFoundError",
            "NotFoundError",
        ),
        row("reauth_required", Api, "ReauthRequiredError", ROOT_CLASS),
        row(
            "connection_not_active",
            Api,
            "ConnectionNotActiveError",
            ROOT_CLASS,
        ),
        row(
            "payload_too_large",
            Api,
            "PayloadTooLargeError",
            "InvalidRequestError",
        ),
        row("request_timeout", Api, "RequestTimeoutError", ROOT_CLASS),
        row("rate_limited", Api, "RateLimitedError", ROOT_CLASS),
        row(
            "upstream_unavailable",
            Api,
            "UpstreamUnavailableError",
            ROOT_CLASS,
        ),
        row(
            "scope_not_allowed",
            Api,
            "ScopeNotAllowedError",
            "ForbiddenError",
        ),
        row(
            "user_not_authorized_for_scope",
            Api,
            "UserNotAuthorizedForScopeError",
            "ForbiddenError",
        ),
        row(
            "invalid_subject_token",
            Api,
            "InvalidSubjectTokenError",
            "UnauthorizedError",
        ),
        row("internal_error", Api, "InternalServerError", ROOT_CLASS),
        // Proxy mode (issue 16).
        row(
            "insufficient_scope",
            Api,
            "InsufficientScopeError",
            "ForbiddenError",
        ),
        row(
            "invalid_proxy_path",
            Api,
            "InvalidProxyPathError",
            "InvalidRequestError",
        ),
        row(
            "proxy_host_not_allowed",
            Api,
            "ProxyHostNotAllowedError",
            "InvalidRequestError",
        ),
        row(
            "proxy_not_enabled",
            Api,
            "ProxyNotEnabledError",
            "NotFoundError",
        ),
        row(
            "upstream_timeout",
            Api,
            "UpstreamTimeoutError",
            "UpstreamUnavailableError",
        ),
        // MCP authorization (issue 17).
        row(
            "connection_required",
            Api,
            "ConnectionRequiredError",
            ROOT_CLASS,
        ),
        row("unknown_strategy", Strategy, "StrategyError", ROOT_CLASS),
        row(
            "invalid_strategy_config",
            Strategy,
            "StrategyError",
            ROOT_CLASS,
        ),
        row(
            "missing_credential_field",
            Strategy,
            "StrategyError",
            ROOT_CLASS,
        ),
        row(
            "invalid_credential_value",
            Strategy,
            "StrategyError",
            ROOT_CLASS,
        ),
        row("connection_error", Transport, "TransportError", ROOT_CLASS),
        row("timeout", Transport, "NexusTimeoutError", "TransportError"),
        row(
            "invalid_response",
            InvalidResponse,
            "InvalidResponseError",
            ROOT_CLASS,
        ),
        row(
            "connection_failed",
            Connection,
            "ConnectionFailedError",
            ROOT_CLASS,
        ),
        row("wait_aborted", Connection, "WaitAbortedError", ROOT_CLASS),
    ]
};

/// The class name for an error of `code` and `kind`: the table's, else (an unknown protocol
/// code) [`UNKNOWN_API_CODE_CLASS`] for `api`, else the class of the kind's first row.
pub fn class_name(code: &str, kind: ErrorKind) -> &'static str {
    if let Some(row) = ERROR_TABLE.iter().find(|r| r.code == code) {
        return row.class;
    }
    match kind {
        ErrorKind::Api => UNKNOWN_API_CODE_CLASS,
        other => ERROR_TABLE
            .iter()
            .find(|r| r.kind == other)
            .map_or(ROOT_CLASS, |r| r.class),
    }
}

/// A protocol error returned by the gateway (the `{"error": …}` envelope plus its HTTP status).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: ErrorCode,
    pub message: String,
    pub request_id: Option<String>,
    /// With `reauth_required`: where a person can authorize the connection again.
    pub reauth_url: Option<String>,
    /// With `rate_limited`: how long the gateway asked us to wait (`Retry-After`).
    pub retry_after: Option<Duration>,
}

/// `connection_required`: the MCP user has no usable connection to the provider (none yet, or it
/// needs them to authorise again). `connect_url` is a Nexus page bound to that user (it asks them
/// to log in; it is not a pre-authenticated link), which an MCP server hands to its client as a
/// URL elicitation with `elicitation_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionRequired {
    pub status: u16,
    pub message: String,
    pub request_id: Option<String>,
    pub provider: String,
    /// `missing` or `reauth_required`.
    pub reason: String,
    pub connect_url: String,
    pub elicitation_id: String,
}

/// Every error of the SDK. `Clone` because one gateway failure is shared by all the callers
/// waiting on the same cache miss.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum NexusError {
    /// The gateway answered with a protocol error envelope.
    #[error("gateway error {} ({}): {}", .0.code, .0.status, .0.message)]
    Api(Box<ApiError>),

    /// `connection_required`, with the connect link (a gateway answer that lacks the link stays
    /// an [`NexusError::Api`] of the same code and class).
    #[error("connection required ({}): {}", .0.provider, .0.message)]
    ConnectionRequired(Box<ConnectionRequired>),

    /// `strategy.type` is not one of the six strategies.
    #[error("unknown strategy type `{0}`")]
    UnknownStrategy(String),

    /// A strategy config field has the wrong type or value, or is unsafe (CR/LF/NUL, bad header
    /// name).
    #[error("invalid strategy config: {0}")]
    InvalidStrategyConfig(String),

    /// The strategy needs a credential field the resolve response lacks (or is empty).
    #[error("strategy `{strategy}` needs credential field `{field}`, which is missing or empty")]
    MissingCredentialField { strategy: String, field: String },

    /// A credential value contains CR, LF or NUL, or is otherwise unusable (the value is not shown).
    #[error("strategy `{strategy}`: credential field `{field}` has an invalid value")]
    InvalidCredentialValue { strategy: String, field: String },

    /// The request handed to the SDK is malformed (unparsable URL, bad header, bad option).
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// The gateway or the upstream could not be reached (DNS, refused, TLS, reset).
    #[error("connection error: {0}")]
    Connect(String),

    /// The request did not complete within the configured timeout.
    #[error("request timed out: {0}")]
    Timeout(String),

    /// The gateway answered something that is not protocol v1 (HTML error page, bad JSON, …).
    #[error("invalid response from the gateway (HTTP {status}): {detail}")]
    InvalidResponse {
        status: u16,
        detail: String,
        request_id: Option<String>,
    },

    /// `wait_for_active` saw the connection reach a state it will not leave by itself.
    #[error("connection is {status}")]
    ConnectionFailed {
        status: String,
        reauth_url: Option<String>,
    },

    /// `wait_for_active` gave up: the deadline passed or the wait was cancelled.
    #[error("gave up waiting for the connection to become active ({0})")]
    WaitAborted(String),
}

impl NexusError {
    /// The stable error string shared by every SDK: a protocol error code (`reauth_required`,
    /// `rate_limited`, …) for [`NexusError::Api`], otherwise one of the SDK's own kinds.
    pub fn code(&self) -> &str {
        match self {
            Self::Api(e) => e.code.as_str(),
            Self::ConnectionRequired(_) => "connection_required",
            Self::UnknownStrategy(_) => "unknown_strategy",
            Self::InvalidStrategyConfig(_) => "invalid_strategy_config",
            Self::MissingCredentialField { .. } => "missing_credential_field",
            Self::InvalidCredentialValue { .. } => "invalid_credential_value",
            Self::InvalidRequest(_) => "invalid_request",
            Self::Connect(_) => "connection_error",
            Self::Timeout(_) => "timeout",
            Self::InvalidResponse { .. } => "invalid_response",
            Self::ConnectionFailed { .. } => "connection_failed",
            Self::WaitAborted(_) => "wait_aborted",
        }
    }

    /// The exception class the bindings raise for this error ([`ERROR_TABLE`]).
    pub fn class_name(&self) -> &'static str {
        class_name(self.code(), self.kind())
    }

    /// The coarse category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Api(_) | Self::ConnectionRequired(_) => ErrorKind::Api,
            Self::UnknownStrategy(_)
            | Self::InvalidStrategyConfig(_)
            | Self::MissingCredentialField { .. }
            | Self::InvalidCredentialValue { .. } => ErrorKind::Strategy,
            Self::InvalidRequest(_) => ErrorKind::InvalidInput,
            Self::Connect(_) | Self::Timeout(_) => ErrorKind::Transport,
            Self::InvalidResponse { .. } => ErrorKind::InvalidResponse,
            Self::ConnectionFailed { .. } | Self::WaitAborted(_) => ErrorKind::Connection,
        }
    }

    /// The human-readable message: the gateway's own `message` for protocol errors, else the
    /// error's description. Never contains a secret.
    pub fn message(&self) -> String {
        match self {
            Self::Api(e) => e.message.clone(),
            Self::ConnectionRequired(e) => e.message.clone(),
            other => other.to_string(),
        }
    }

    /// The HTTP status the gateway answered with, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api(e) => Some(e.status),
            Self::ConnectionRequired(e) => Some(e.status),
            Self::InvalidResponse { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The gateway's request id, for support tickets and log correlation.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Api(e) => e.request_id.as_deref(),
            Self::ConnectionRequired(e) => e.request_id.as_deref(),
            Self::InvalidResponse { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// Where a person can authorize the connection again (`reauth_required`, `needs_reauth`).
    pub fn reauth_url(&self) -> Option<&str> {
        match self {
            Self::Api(e) => e.reauth_url.as_deref(),
            Self::ConnectionFailed { reauth_url, .. } => reauth_url.as_deref(),
            _ => None,
        }
    }

    /// How long the gateway asked us to wait before trying again (`rate_limited`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api(e) => e.retry_after,
            _ => None,
        }
    }

    /// The protocol error, when the gateway sent one.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Self::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The connect link and its details, for `connection_required`.
    pub fn connection_required(&self) -> Option<&ConnectionRequired> {
        match self {
            Self::ConnectionRequired(e) => Some(e),
            _ => None,
        }
    }

    /// Build the error for a protocol envelope received with `status`.
    pub fn from_envelope(status: u16, body: ErrorBody, retry_after: Option<Duration>) -> Self {
        if body.error == ErrorCode::ConnectionRequired
            && let (Some(connect_url), Some(elicitation_id)) =
                (body.connect_url.clone(), body.elicitation_id.clone())
        {
            return Self::ConnectionRequired(Box::new(ConnectionRequired {
                status,
                message: body.message,
                request_id: body.request_id,
                provider: body.provider.unwrap_or_default(),
                reason: body
                    .reason
                    .map(|r| r.as_str().to_owned())
                    .unwrap_or_else(|| "missing".to_owned()),
                connect_url,
                elicitation_id,
            }));
        }
        Self::Api(Box::new(ApiError {
            status,
            code: body.error,
            message: body.message,
            request_id: body.request_id,
            reauth_url: body.reauth_url,
            retry_after: retry_after.or(body.retry_after.map(Duration::from_secs)),
        }))
    }
}

impl From<StrategyError> for NexusError {
    fn from(e: StrategyError) -> Self {
        match e {
            StrategyError::UnknownType(kind) => Self::UnknownStrategy(kind),
            // The protocol's messages name fields, never values, so they are safe to keep.
            other => Self::InvalidStrategyConfig(other.to_string()),
        }
    }
}

#[cfg(test)]
#[path = "error_tests.rs"]
mod tests;
