//! [`VaultError`]: what went wrong, in the vault's terms. No HTTP here: the broker decides the
//! status of each (one mapping, at its edge). Every variant corresponds to one protocol
//! [`ErrorCode`] (see [`VaultError::code`]), so a client sees the same taxonomy whichever edge
//! answers. Messages never contain a secret: they name what was asked for, never a value.

use crate::store::StoreError;
use nexus_protocol::ErrorCode;

/// Which kind of thing was not found (each has its own protocol code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Connection,
    Provider,
    /// Anything else: a session, an agent, a pending authorization, a workspace, …
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// The caller's input is not acceptable (a client mistake).
    #[error("{0}")]
    InvalidInput(String),
    /// Something the caller tried to create already exists.
    #[error("{0} already exists")]
    Conflict(String),
    /// Something the caller named does not exist.
    #[error("{message}")]
    NotFound { what: Missing, message: String },
    /// The connection exists but cannot hand out a credential yet.
    #[error("{0}")]
    NotActive(String),
    /// A person must authorize the connection again; `link` starts that.
    #[error("{message}")]
    ReauthRequired {
        message: String,
        link: Option<String>,
    },
    /// The caller's credential (agent credential, session token) is unknown, expired, revoked
    /// or its agent disabled.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller may not act there (another workspace).
    #[error("{0}")]
    Forbidden(String),
    /// The agent (or its session) does not hold the scope.
    #[error("{0}")]
    ScopeNotAllowed(String),
    /// A proxied call under an agent session that no rule of a held scope allows
    /// (`proxy.rules`).
    #[error("{0}")]
    InsufficientScope(String),
    /// The agent holds the scope, the user it acts for does not.
    #[error("{0}")]
    UserNotAuthorized(String),
    /// A user's token presented for On-Behalf-Of does not verify.
    #[error("{0}")]
    InvalidSubjectToken(String),
    /// A provider (or the database) failed or could not be reached.
    #[error("{0}")]
    Upstream(String),
    /// The MCP user has no usable connection: a person must connect it at a link bound to
    /// them (design 17 §5.4).
    #[error("{}", .0.message)]
    ConnectionRequired(Box<ConnectionRequired>),
    /// A failure of the vault itself. The cause is logged where it happens, never returned.
    #[error("internal error; see the broker log")]
    Internal,
}

/// The details of [`VaultError::ConnectionRequired`] (no secret: the link authorizes nothing by
/// itself, it needs the user's own login).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRequired {
    pub message: String,
    pub provider: String,
    pub reason: nexus_protocol::ConnectionRequiredReason,
    pub connect_url: String,
    pub elicitation_id: String,
}

impl VaultError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidInput(message.into())
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound {
            what: Missing::Other,
            message: message.into(),
        }
    }
    pub fn connection_not_found(message: impl Into<String>) -> Self {
        Self::NotFound {
            what: Missing::Connection,
            message: message.into(),
        }
    }
    pub fn provider_not_found(message: impl Into<String>) -> Self {
        Self::NotFound {
            what: Missing::Provider,
            message: message.into(),
        }
    }
    pub fn reauth(message: impl Into<String>) -> Self {
        Self::ReauthRequired {
            message: message.into(),
            link: None,
        }
    }
    pub fn upstream(message: impl Into<String>) -> Self {
        Self::Upstream(message.into())
    }

    /// The protocol code this error is answered with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidInput(_) | Self::Conflict(_) => ErrorCode::InvalidRequest,
            Self::NotFound { what, .. } => match what {
                Missing::Connection => ErrorCode::ConnectionNotFound,
                Missing::Provider => ErrorCode::ProviderNotFound,
                Missing::Other => ErrorCode::NotFound,
            },
            Self::NotActive(_) => ErrorCode::ConnectionNotActive,
            Self::ReauthRequired { .. } => ErrorCode::ReauthRequired,
            Self::Unauthenticated(_) => ErrorCode::Unauthorized,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::ScopeNotAllowed(_) => ErrorCode::ScopeNotAllowed,
            Self::InsufficientScope(_) => ErrorCode::InsufficientScope,
            Self::UserNotAuthorized(_) => ErrorCode::UserNotAuthorizedForScope,
            Self::InvalidSubjectToken(_) => ErrorCode::InvalidSubjectToken,
            Self::Upstream(_) => ErrorCode::UpstreamUnavailable,
            Self::ConnectionRequired(_) => ErrorCode::ConnectionRequired,
            Self::Internal => ErrorCode::InternalError,
        }
    }

    /// The re-authorization link of a `ReauthRequired`.
    pub fn reauth_url(&self) -> Option<&str> {
        match self {
            Self::ReauthRequired { link, .. } => link.as_deref(),
            _ => None,
        }
    }
}

/// The answer when a request's audit record cannot be written (`upstream_unavailable`).
pub const AUDIT_UNAVAILABLE: &str = "this request's audit record could not be written (see the broker log), so its result is withheld; retry later";

impl From<StoreError> for VaultError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => VaultError::Conflict(what),
            StoreError::NotFound(what) => VaultError::not_found(format!("{what} not found")),
            StoreError::AuditNotWritten(why) => {
                // Fail closed, retryable: nothing is handed out (or answered as done) without
                // its audit record (issue 20). The cause names the database failure, no value.
                tracing::error!(error = %why, "audit record not written: refusing to answer");
                VaultError::Upstream(AUDIT_UNAVAILABLE.into())
            }
            other => {
                // Logged (never secret-bearing: see StoreError), answered as a generic failure.
                tracing::error!(error = %other, "store failure");
                VaultError::Internal
            }
        }
    }
}
