//! A string that must not appear in logs: tokens, API keys, credential fields.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A secret string. `Debug` and `Display` print `[redacted]`; the value is reachable only through
/// [`SecretString::expose`], which makes every read of a secret visible in review.
///
/// Serialization is transparent (the wire carries the plain string): only put this type in
/// bodies that are allowed to carry the secret, such as a resolve response's access token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value. Call only where the value is about to be used (injected, hashed,
    /// encrypted), never to format it into a message.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString([redacted])")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        // Best effort: overwrite the bytes before the allocation is freed. (The broker uses
        // `secrecy`/`zeroize` for long-lived secrets; this keeps the protocol crate light.)
        // SAFETY: writing zero bytes keeps the String valid UTF-8.
        unsafe { self.0.as_bytes_mut() }.fill(0);
    }
}

/// True when `value` may be stored as a credential (an API key, a refresh token, a credential
/// field): no C0 control character (CR, LF, NUL, TAB, …) and no DEL. Such a value breaks the
/// header or query it is applied to in every SDK, so the vault refuses it at import (admin API,
/// browser form) and the CLI before sending. Messages about a refusal never quote the value.
pub fn is_storable_credential(value: &str) -> bool {
    !value.bytes().any(|b| b < 0x20 || b == 0x7f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let s = SecretString::new("gho_supersecret");
        assert!(!format!("{s:?}").contains("supersecret"));
        assert!(!format!("{s}").contains("supersecret"));
        assert_eq!(s.expose(), "gho_supersecret");
    }

    #[test]
    fn serializes_transparently() {
        let s = SecretString::new("abc");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"abc\"");
    }
}
