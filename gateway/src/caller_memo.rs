//! Who is calling on this connection: the key cache's verdict on a connection's API key,
//! remembered by the connection's front ([`crate::Gateway::front`]).
//!
//! Why it exists: a kept-alive connection sends the same key on every request, and the warm
//! resolve ([`crate::warm_resolve`]) spent a good part of its own work on finding that key's
//! verdict again (its SHA-256, then a shared cache lookup). Remembering the verdict per
//! connection skips both; nothing else changes (the hit is still counted and the rate limit
//! charged by the same functions as before).
//!
//! **Never staler than the key cache:** a remembered verdict is used only while
//! - the key cache has not been flushed since it was found there: [`KeyVerifier::flush`] (a
//!   revocation on the broker's feed, or the feed reconnecting) changes the cache's
//!   generation, read before the lookup, so the connection's next request looks again;
//! - it has not expired: its expiry is taken before the cache inserts it, so it is never after
//!   the cache's own;
//! - the request carries the very same key (compared in constant time: behind a proxy one
//!   connection may carry many callers).
//!
//! Only valid API keys are remembered; a refused key, a session token or a cache that does not
//! answer at once leave the request to the handler, as without the memo.

use crate::auth::KeyVerifier;
use nexus_protocol::SecretString;
use nexus_protocol::internal::Principal;
use std::sync::Arc;
use std::time::Instant;

/// The caller of one connection's previous warm request (see the module docs).
pub(crate) struct CallerMemo {
    /// Off where there is no connection to remember for (the middleware's warm path).
    remembers: bool,
    last: Option<Remembered>,
}

struct Remembered {
    /// `None` when the memo does not remember (the principal is only held for the request).
    key: Option<SecretString>,
    principal: Arc<Principal>,
    generation: u64,
    expires: Instant,
}

impl CallerMemo {
    /// A memo for the requests of one connection.
    pub(crate) fn per_connection() -> Self {
        Self {
            remembers: true,
            last: None,
        }
    }

    /// A memo for one request: looks the key up every time.
    pub(crate) fn one_request() -> Self {
        Self {
            remembers: false,
            last: None,
        }
    }

    /// The API-key principal the key cache holds for `key` as of `now` (remembered, or looked
    /// up and remembered); `None` when the handler must answer: not cached, refused, or not an
    /// API key. Nothing is counted ([`KeyVerifier::accept`] does that).
    pub(crate) fn caller(
        &mut self,
        keys: &KeyVerifier,
        key: &str,
        now: Instant,
    ) -> Option<&Arc<Principal>> {
        let generation = keys.generation();
        let current = self.last.as_ref().is_some_and(|last| {
            last.generation == generation
                && now < last.expires
                && last
                    .key
                    .as_ref()
                    .is_some_and(|k| same_key(k.expose().as_bytes(), key.as_bytes()))
        });
        if !current {
            self.last = None;
            let verdict = keys.peek(key)?;
            // Sessions are never in the key cache; matched anyway, since they resolve elsewhere.
            let principal = verdict
                .principal
                .filter(|p| matches!(**p, Principal::ApiKey { .. }))?;
            let (key, principal) = if self.remembers {
                // A copy of the connection's own: charging the rate limit clones the principal's
                // `Arc`, and the cache's one is shared by every connection (its count's cache
                // line would bounce between cores on every request).
                let own = Arc::new(Principal::clone(&principal));
                (Some(SecretString::new(key)), own)
            } else {
                (None, principal)
            };
            self.last = Some(Remembered {
                key,
                principal,
                generation,
                expires: verdict.expires,
            });
        }
        self.last.as_ref().map(|last| &last.principal)
    }
}

/// Whether two keys are equal, in a time that depends on their length only (not on where they
/// differ). `subtle`'s comparison costs a volatile read per byte: ~1 % of a warm resolve.
fn same_key(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::same_key;

    #[test]
    fn keys_are_equal_only_byte_for_byte() {
        assert!(same_key(b"nxk_abc", b"nxk_abc"));
        assert!(!same_key(b"nxk_abc", b"nxk_abd"));
        assert!(!same_key(b"nxk_abc", b"xxk_abc"));
        assert!(!same_key(b"nxk_abc", b"nxk_ab"));
        assert!(!same_key(b"", b"a"));
    }
}
