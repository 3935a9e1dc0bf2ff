//! Identifiers that cross the wire, each validated once, on construction.
//!
//! A value of one of these types is known to follow its rule, so code that holds one never
//! checks it again and cannot forget to. Every rule lives here and nowhere else: the broker,
//! the gateway and the CLI build these types instead of keeping their own copy of the check.
//!
//! | type | rule |
//! | --- | --- |
//! | [`WorkspaceId`] | `[a-z0-9][a-z0-9_-]{0,62}` |
//! | [`ProviderName`] | `[a-z0-9][a-z0-9_.-]{0,62}` |
//! | [`ConnectionId`] | 1–128 of `[A-Za-z0-9._-]`, not only dots |
//! | [`AgentId`], [`SessionId`], [`IdentityProviderId`] | `[A-Za-z0-9_]{1,64}` |
//! | [`Scope`] | 1–200 printable ASCII characters, no space |
//!
//! All of them are safe in a URL path segment, a log line and a file name (no `/`, no control
//! character, no `..`). Deserialising one applies the same rule (`#[serde(try_from = "String")]`),
//! so a body with a bad id is refused by the parser. An [`IdError`] never carries the raw value:
//! only an escaped prefix of it, short enough to quote in a message.

use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// Most characters of a refused value an [`IdError`] quotes.
const SHOWN_CHARS: usize = 32;

/// A value that does not follow the rule of the id type it was meant to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdError {
    what: &'static str,
    expected: &'static str,
    shown: String,
}

impl IdError {
    fn new(what: &'static str, expected: &'static str, value: &str) -> Self {
        Self {
            what,
            expected,
            shown: shown(value),
        }
    }

    /// What was expected: `workspace id`, `provider name`, ….
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// The rule, for a message that must not quote the value: `must match [a-z0-9]…`.
    pub fn expected(&self) -> &'static str {
        self.expected
    }

    /// The refused value made safe to print: escaped (`\n`, `\u{202e}`, …) and cut to
    /// 32 characters (`…` marks a cut).
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a valid {}: it {}",
            self.shown, self.what, self.expected
        )
    }
}

impl std::error::Error for IdError {}

/// An escaped, length-capped form of `value`: printable ASCII is kept, everything else (control
/// characters, quotes, non-ASCII) is written as an escape, so the text cannot forge a log line
/// or reorder a terminal's output.
fn shown(value: &str) -> String {
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        if i == SHOWN_CHARS {
            out.push('…');
            break;
        }
        match c {
            // The message quotes the value between backticks: keep it from closing them.
            '`' => out.push_str("\\u{60}"),
            '\\' => out.push_str("\\\\"),
            ' ' => out.push(' '),
            c if c.is_ascii_graphic() => out.push(c),
            c => out.extend(c.escape_default()),
        }
    }
    out
}

/// Declares one id type: a `String` newtype whose only constructor checks `$valid`.
macro_rules! id_type {
    (
        $(#[$meta:meta])*
        $name:ident, what: $what:literal, expected: $expected:literal, pattern: $pattern:literal,
        valid: $valid:expr
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = $pattern))]
        #[serde(try_from = "String")]
        pub struct $name(String);

        impl $name {
            /// The rule as a regular expression (for OpenAPI `pattern`s and documentation).
            pub const PATTERN: &'static str = $pattern;
            /// What the id is, as refusals name it (`workspace id`).
            pub const WHAT: &'static str = $what;
            /// The rule in words, as refusals state it (`must match …`).
            pub const EXPECTED: &'static str = $expected;

            /// Checks `value` against the rule; the error quotes only a safe form of it.
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                let valid: fn(&str) -> bool = $valid;
                if valid(&value) {
                    Ok(Self(value))
                } else {
                    Err(IdError::new($what, $expected, &value))
                }
            }

            /// Whether `value` follows the rule (without building the id).
            pub fn is_valid(value: &str) -> bool {
                let valid: fn(&str) -> bool = $valid;
                valid(value)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(value: &str) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(value: &str) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }
    };
}

/// The rule an id refusal states (`workspace id must match [a-z0-9][a-z0-9_-]{0,62}`), found in
/// the text of an error that carries an [`IdError`]: a deserializer's message, which wraps the
/// refusal and may add a position. The refused value is left out, so the result can be shown
/// where values must not be (a JSON body may hold a secret next to the id). `None` when the text
/// is not an id refusal.
pub fn rule_of_refusal(message: &str) -> Option<String> {
    const RULES: [(&str, &str); 7] = [
        (WorkspaceId::WHAT, WorkspaceId::EXPECTED),
        (ProviderName::WHAT, ProviderName::EXPECTED),
        (ConnectionId::WHAT, ConnectionId::EXPECTED),
        (AgentId::WHAT, AgentId::EXPECTED),
        (SessionId::WHAT, SessionId::EXPECTED),
        (IdentityProviderId::WHAT, IdentityProviderId::EXPECTED),
        (Scope::WHAT, Scope::EXPECTED),
    ];
    RULES
        .iter()
        .find(|(what, expected)| {
            message.contains(&format!(" is not a valid {what}: it {expected}"))
        })
        .map(|(what, expected)| format!("{what} {expected}"))
}

/// Gives every parameter of `doc` named like one of `rules` that rule's `pattern` (utoipa takes
/// only a literal in `params(…)`, and a rule must not be written twice): for example
/// `[("ws", WorkspaceId::PATTERN)]`.
#[cfg(feature = "openapi")]
pub fn apply_param_patterns(doc: &mut utoipa::openapi::OpenApi, rules: &[(&str, &str)]) {
    use utoipa::openapi::{RefOr, schema::Schema};
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            for param in operation.parameters.iter_mut().flatten() {
                let rule = rules.iter().find(|(name, _)| param.name == *name);
                if let (Some((_, pattern)), Some(RefOr::T(Schema::Object(object)))) =
                    (rule, &mut param.schema)
                {
                    object.pattern = Some((*pattern).to_owned());
                }
            }
        }
    }
}

/// `[a-z0-9]` then up to `max_rest` of `[a-z0-9]` or one of `extra`.
fn lower_slug(value: &str, max_len: usize, extra: &[u8]) -> bool {
    let bytes = value.as_bytes();
    bytes
        .first()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.len() <= max_len
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || extra.contains(b))
}

/// 1..=64 of `[A-Za-z0-9_]`: ids the broker generates for agents, sessions and issuers.
fn opaque_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

id_type!(
    /// A workspace: the tenant every key, connection and agent belongs to.
    WorkspaceId,
    what: "workspace id",
    expected: "must match [a-z0-9][a-z0-9_-]{0,62}",
    pattern: "^[a-z0-9][a-z0-9_-]{0,62}$",
    valid: |v| lower_slug(v, 63, b"_-")
);

id_type!(
    /// The name of a provider (`github`, `google-drive`, `acme.crm`).
    ProviderName,
    what: "provider name",
    expected: "must match [a-z0-9][a-z0-9_.-]{0,62}",
    pattern: "^[a-z0-9][a-z0-9_.-]{0,62}$",
    valid: |v| lower_slug(v, 63, b"_.-")
);

id_type!(
    /// A connection, as the broker names it (opaque to clients).
    ConnectionId,
    what: "connection id",
    expected: "must be 1-128 characters of letters, digits, '.', '_' or '-' (not only dots)",
    pattern: "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$",
    valid: |v| {
        !v.is_empty()
            && v.len() <= 128
            && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            && v.bytes().any(|b| b != b'.')
    }
);

id_type!(
    /// An agent of a workspace (generated by the broker).
    AgentId,
    what: "agent id",
    expected: "must be 1-64 characters of letters, digits or '_'",
    pattern: "^[A-Za-z0-9_]{1,64}$",
    valid: opaque_id
);

id_type!(
    /// An agent session (generated by the broker).
    SessionId,
    what: "session id",
    expected: "must be 1-64 characters of letters, digits or '_'",
    pattern: "^[A-Za-z0-9_]{1,64}$",
    valid: opaque_id
);

id_type!(
    /// A trusted identity provider of a workspace (generated by the broker).
    IdentityProviderId,
    what: "identity provider id",
    expected: "must be 1-64 characters of letters, digits or '_'",
    pattern: "^[A-Za-z0-9_]{1,64}$",
    valid: opaque_id
);

id_type!(
    /// One scope an agent may hold (`crm:contacts:read`, `provider:github:repo`): opaque text,
    /// so any printable ASCII without spaces (a space separates scopes in OAuth's `scope`).
    Scope,
    what: "scope",
    expected: "must be 1-200 printable ASCII characters without spaces",
    pattern: "^[!-~]{1,200}$",
    valid: |v| !v.is_empty() && v.len() <= 200 && v.bytes().all(|b| b.is_ascii_graphic())
);

#[cfg(test)]
#[path = "ids_tests.rs"]
mod tests;
