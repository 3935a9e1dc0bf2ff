//! Every way a `nexus` command can fail, and the exit code scripts see for it.
//!
//! The exit codes are part of the CLI's interface (documented in `nexus --help` and the README):
//!
//! | code | meaning |
//! | ---- | ------- |
//! | 0 | success |
//! | 1 | runtime failure: the server refused the request (not found, invalid, conflict) or failed |
//! | 2 | usage or configuration error: bad arguments, missing token/URL, unreadable file, port in use, bad database URL, missing key |
//! | 3 | not reachable: the broker or gateway did not answer |
//! | 4 | rejected: the admin token or API key was refused (HTTP 401/403) |
//! | 5 | `nexus audit verify`: the audit hash chain is broken (a record was edited or deleted), or (with `--checkpoint`) the log no longer matches a signed checkpoint |
//! | 22 | `nexus proxy --fail`: the upstream answered 400 or more (as `curl --fail`) |
//!
//! Messages never contain a secret: tokens and keys are named, never printed.

use thiserror::Error;

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: runtime failure.
pub const EXIT_RUNTIME: i32 = 1;
/// Exit code: usage or configuration error (also what clap uses for bad arguments).
pub const EXIT_USAGE: i32 = 2;
/// Exit code: the broker or gateway could not be reached.
pub const EXIT_UNREACHABLE: i32 = 3;
/// Exit code: credentials rejected.
pub const EXIT_REJECTED: i32 = 4;
/// Exit code: `nexus audit verify` found the audit chain broken.
pub const EXIT_AUDIT_BROKEN: i32 = 5;
/// Exit code: `nexus proxy --fail` got an upstream status of 400 or more.
pub const EXIT_UPSTREAM_STATUS: i32 = 22;

#[derive(Debug, Error)]
pub enum CliError {
    /// The user must change a flag, a file or an environment variable.
    #[error("{0}")]
    Config(String),

    /// A server could not be reached at all.
    #[error("cannot reach the {what} at {url}: {reason}\n  hint: {hint}")]
    Unreachable {
        what: &'static str,
        url: String,
        reason: String,
        hint: &'static str,
    },

    /// A server refused our credential.
    #[error("the {what} rejected the {credential} ({status}): {message}\n  hint: {hint}")]
    Rejected {
        what: &'static str,
        credential: &'static str,
        status: u16,
        message: String,
        hint: &'static str,
    },

    /// A server understood us and said no (400, 404, 409, …) or failed (5xx).
    #[error("the {what} answered {status} {code}: {message}")]
    Api {
        what: &'static str,
        status: u16,
        code: String,
        message: String,
    },

    /// Anything else that went wrong at run time (I/O, a server that stopped, …).
    #[error("{0}")]
    Runtime(String),

    /// `nexus proxy --fail`: the upstream answered an error status (its body was printed).
    #[error("the upstream answered {0}")]
    UpstreamStatus(u16),

    /// `nexus audit verify`: a record was edited or deleted.
    #[error("the audit chain is broken at record {first_broken_id} ({checked} records checked)")]
    AuditChainBroken {
        first_broken_id: String,
        checked: String,
    },

    /// `nexus audit verify --checkpoint`: the checkpoint's signature does not verify, or the
    /// log no longer holds what it states (a record edited, the chain re-computed or
    /// truncated, a chain deleted, the table emptied).
    #[error("the audit log does not match the checkpoint: {0}")]
    AuditCheckpoint(String),
}

impl CliError {
    pub fn config(message: impl Into<String>) -> Self {
        Self::Config(message.into())
    }

    pub fn runtime(message: impl Into<String>) -> Self {
        Self::Runtime(message.into())
    }

    /// The documented exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Config(_) => EXIT_USAGE,
            Self::Unreachable { .. } => EXIT_UNREACHABLE,
            Self::Rejected { .. } => EXIT_REJECTED,
            Self::Api { .. } | Self::Runtime(_) => EXIT_RUNTIME,
            Self::AuditChainBroken { .. } | Self::AuditCheckpoint(_) => EXIT_AUDIT_BROKEN,
            Self::UpstreamStatus(_) => EXIT_UPSTREAM_STATUS,
        }
    }
}

pub type CliResult<T> = Result<T, CliError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_documented_code() {
        assert_eq!(CliError::config("x").exit_code(), 2);
        assert_eq!(CliError::runtime("x").exit_code(), 1);
        let unreachable = CliError::Unreachable {
            what: "broker",
            url: "http://127.0.0.1:1".into(),
            reason: "connection refused".into(),
            hint: "start it",
        };
        assert_eq!(unreachable.exit_code(), 3);
        let rejected = CliError::Rejected {
            what: "broker",
            credential: "admin token",
            status: 401,
            message: "bad token".into(),
            hint: "check NEXUS_ADMIN_TOKEN",
        };
        assert_eq!(rejected.exit_code(), 4);
        let api = CliError::Api {
            what: "broker",
            status: 404,
            code: "not_found".into(),
            message: "no such provider".into(),
        };
        assert_eq!(api.exit_code(), 1);
    }
}
