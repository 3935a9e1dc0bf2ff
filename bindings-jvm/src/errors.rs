//! `NativeError`: every core error, flattened into one UniFFI error with the core's stable code,
//! its kind, and the exception class of the core's one error table (`ERROR_TABLE`; the Kotlin
//! layer builds the class of that name, and `ErrorTableTest` checks the Kotlin hierarchy against
//! the table).
//!
//! Messages are the core's, which never contain a secret.

use nexus_sdk::NexusError;
use nexus_sdk::error::{ERROR_TABLE, ErrorKind, class_name};

#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum NativeError {
    /// A core error. `class_name` is the table's class (`ReauthRequiredError`, …).
    #[error("{detail}")]
    Failure {
        code: String,
        kind: String,
        class_name: String,
        detail: String,
        status: Option<u16>,
        request_id: Option<String>,
        reauth_url: Option<String>,
        retry_after_ms: Option<u64>,
    },
}

impl From<NexusError> for NativeError {
    fn from(e: NexusError) -> Self {
        let kind = e.kind().as_str();
        Self::Failure {
            code: e.code().to_owned(),
            kind: kind.to_owned(),
            class_name: e.class_name().to_owned(),
            detail: e.message(),
            status: e.status(),
            request_id: e.request_id().map(str::to_owned),
            reauth_url: e.reauth_url().map(str::to_owned),
            retry_after_ms: e.retry_after().map(|d| d.as_millis() as u64),
        }
    }
}

/// An input error raised by this binding itself (an argument the core's types cannot hold).
pub(crate) fn invalid_input(detail: &str) -> NativeError {
    NexusError::InvalidRequest(detail.to_owned()).into()
}

/// One row of the error table: the class every binding raises for `code` of `kind`.
#[derive(Debug, Clone, uniffi::Record)]
pub struct NativeErrorClass {
    pub code: String,
    pub kind: String,
    pub class_name: String,
    pub parent: String,
}

/// The core's error table (`nexus_sdk::error::ERROR_TABLE`), for the Kotlin layer's drift test.
#[uniffi::export]
pub fn error_table() -> Vec<NativeErrorClass> {
    ERROR_TABLE
        .iter()
        .map(|row| NativeErrorClass {
            code: row.code.to_owned(),
            kind: row.kind.as_str().to_owned(),
            class_name: row.class.to_owned(),
            parent: row.parent.to_owned(),
        })
        .collect()
}

/// The class the core gives an error of `code` and `kind` (codes the table lacks included);
/// `None` for a kind the core does not have.
#[uniffi::export]
pub fn error_class_name(code: String, kind: String) -> Option<String> {
    let kind = ErrorKind::ALL.into_iter().find(|k| k.as_str() == kind)?;
    Some(class_name(&code, kind).to_owned())
}
