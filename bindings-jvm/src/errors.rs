//! `NativeError`: every core error, flattened into one UniFFI error with the core's stable code,
//! its kind, and the exception class of the core's one error table (the Kotlin layer builds the
//! class of that name; `ErrorTableTest` checks the Kotlin hierarchy against the table).
//!
//! Messages are the core's, which never contain a secret.

use nexus_sdk::NexusError;
use std::collections::HashMap;
use std::sync::LazyLock;

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
            class_name: class_for(e.code(), kind).to_owned(),
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

/// The table rows, and the class for a code the table does not list, by kind.
struct Table {
    rows: Vec<NativeErrorClass>,
    fallback: HashMap<String, String>,
}

// The core's error table as published in tests/vectors/client_behaviour.json (the core's Rust
// runner keeps the two equal). Read from that file until the core exports the table itself.
static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let file: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/vectors/client_behaviour.json"))
            .expect("client_behaviour.json is valid JSON");
    let text = |row: &serde_json::Value, key: &str| {
        row[key]
            .as_str()
            .unwrap_or_else(|| panic!("error_classes rows have a string `{key}`"))
            .to_owned()
    };
    let rows = file["error_classes"]
        .as_array()
        .expect("client_behaviour.json has error_classes")
        .iter()
        .map(|row| NativeErrorClass {
            code: text(row, "code"),
            kind: text(row, "kind"),
            class_name: text(row, "class"),
            parent: text(row, "parent"),
        })
        .collect();
    let fallback = file["fallback_class"]
        .as_object()
        .expect("client_behaviour.json has fallback_class")
        .iter()
        .map(|(kind, class)| (kind.clone(), class.as_str().unwrap_or_default().to_owned()))
        .collect();
    Table { rows, fallback }
});

/// The class name for `code` of `kind`: the table's row, else the kind's fallback, else the base.
pub(crate) fn class_for(code: &str, kind: &str) -> &'static str {
    let table = &*TABLE;
    table
        .rows
        .iter()
        .find(|row| row.code == code && row.kind == kind)
        .map(|row| row.class_name.as_str())
        .or_else(|| table.fallback.get(kind).map(String::as_str))
        .unwrap_or("NexusError")
}

/// The whole table, for the Kotlin layer's drift test.
#[uniffi::export]
pub fn error_table() -> Vec<NativeErrorClass> {
    TABLE.rows.clone()
}

/// The class of a code the table does not list, for `kind`.
#[uniffi::export]
pub fn fallback_error_class(kind: String) -> Option<String> {
    TABLE.fallback.get(&kind).cloned()
}
