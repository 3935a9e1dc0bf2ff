//! Cache hits a binding may keep and serve again on its side of the FFI boundary.
//!
//! Why: from Node and Python, crossing into Rust costs more than the whole cache hit (a napi
//! call with arguments ~0.3–0.7 µs, a pyo3 call plus a new result object ~50–100 ns). A binding
//! may therefore keep the core's answer (the token, already converted) and serve it again
//! without a call, for exactly as long as the core would serve it:
//!
//! - until the core's own deadline for it (the freshness rule and safety buffer of the cache,
//!   [`crate::TokenCache::usable_for`]): [`HeldHit::deadline`], or [`HeldHit::usable_for`]
//!   measured after the binding read its own monotonic clock;
//! - while nothing it depends on changed: the cache's write epoch (bumped after *every* write:
//!   a store, an invalidate, the 401 rule dropping a token, a clear) and the client's principal
//!   version (bumped after an agent session starts or ends, which changes the cache namespace).
//!   Both are read *before* the look-up ([`HoldTag`]), so a change that races with it makes the
//!   copy look stale, never current.
//!
//! The binding only compares: `now < deadline && tag == current tag`. No expiry rule lives
//! there. Where reading a clock costs as much as the hit, the binding compares the published
//! value of the process's [`CoarseClock`] with [`HeldHit::coarse_until`] first and reads the
//! real clock only when that does not decide ([`HeldHit::serves_coarse`]; the window and stall
//! rule are in [`crate::coarse_clock`]). Bindings that cannot call in cheaply read the two counters from shared memory
//! ([`epoch_word`], [`principal_word`]); each is a monotonic `u64`.

use crate::coarse_clock::CoarseClock;
use crate::{CachedToken, NexusClient, TokenCache};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The versions a held hit depends on, as they were before the look-up that produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldTag {
    /// The cache's write epoch.
    pub epoch: u64,
    /// The client's principal version.
    pub principal: u64,
}

/// A fresh cache hit and how long the binding may serve it again itself.
#[derive(Debug, Clone)]
pub struct HeldHit {
    pub tag: HoldTag,
    pub token: Arc<CachedToken>,
    /// The instant the cache stops serving this token (monotonic clock).
    pub deadline: Instant,
    /// `deadline` minus a clock read taken after the look-up: a binding with its own clock adds
    /// this to a reading of it taken *before* the call, which can only end its copy sooner.
    pub usable_for: Duration,
    /// [`CoarseClock::coarse_until`] of `deadline` on the process's clock: while the clock's
    /// published value is below this, the copy serves without a real clock read.
    pub coarse_until: f64,
}

impl HoldTag {
    /// The current versions of `cache` and `client`'s principal.
    #[inline]
    pub fn now(client: &NexusClient, cache: &TokenCache) -> Self {
        Self {
            epoch: cache.epoch().load(Ordering::Acquire),
            principal: client.session_slot().version().load(Ordering::Acquire),
        }
    }
}

impl HeldHit {
    /// Whether the binding may serve this copy at `now`: the same answer the core would give
    /// (a token stays what the cache serves until a write, and fresh until its deadline).
    #[inline]
    pub fn serves(&self, client: &NexusClient, cache: &TokenCache, now: Instant) -> bool {
        now < self.deadline && HoldTag::now(client, cache) == self.tag
    }

    /// [`Self::serves`] with the deadline checked on `clock` (the rule a binding reading the
    /// clock's word applies): the published value first, the real clock when that does not
    /// decide. `coarse_until` must be `clock`'s (the process clock's for [`Self::coarse_until`]).
    #[inline]
    pub fn serves_coarse(
        &self,
        client: &NexusClient,
        cache: &TokenCache,
        clock: &CoarseClock,
        coarse_until: f64,
    ) -> bool {
        clock.before(coarse_until, self.deadline) && HoldTag::now(client, cache) == self.tag
    }
}

impl NexusClient {
    /// [`Self::peek_cached`] for a binding that keeps the answer (see the module docs): the
    /// fresh cached token for the current principal, its deadline, and the tag read first.
    pub fn peek_to_hold(
        &self,
        cache: &TokenCache,
        workspace_id: &str,
        provider: &str,
    ) -> Option<HeldHit> {
        let tag = HoldTag::now(self, cache);
        let token = self.peek_cached(cache, workspace_id, provider)?;
        let now = Instant::now();
        let usable_for = cache.usable_for(&token, now);
        if usable_for.is_zero() {
            return None;
        }
        let clock = CoarseClock::system();
        // Lazily: only a process that holds hits, in a binding that reads the clock's word,
        // runs the ticker.
        clock.start_if_shared();
        let deadline = now + usable_for;
        Some(HeldHit {
            tag,
            token,
            deadline,
            usable_for,
            coarse_until: clock.coarse_until(deadline),
        })
    }
}

/// The cache's write epoch, for a binding that reads it from shared memory (atomic loads only;
/// 8-byte aligned, native endian). Lives as long as any clone of `cache`.
pub fn epoch_word(cache: &TokenCache) -> &AtomicU64 {
    cache.epoch()
}

/// The process's coarse clock's published value, for a binding that reads it from shared memory
/// (see [`crate::coarse_clock`] for its encoding). Lives as long as the process. Taking it
/// makes later holds start the clock's ticker.
pub fn coarse_clock_word() -> &'static AtomicU64 {
    CoarseClock::system().shared_word()
}

/// The client's principal version, for a binding that reads it from shared memory (as
/// [`epoch_word`]). Lives as long as any clone of `client`.
pub fn principal_word(client: &NexusClient) -> &AtomicU64 {
    client.session_slot().version()
}
