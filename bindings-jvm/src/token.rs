//! `NativeTokenCache` (the core's `TokenCache`) and `NativeToken` (a resolved `CachedToken`).

use crate::client::{NativeHeader, headers_out};
use crate::errors::NativeError;
use nexus_sdk::coarse_clock::CoarseClock;
use nexus_sdk::{CachedToken, TokenCache};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A thread-safe token cache with single-flight misses (the core's).
#[derive(uniffi::Object)]
pub struct NativeTokenCache {
    pub(crate) inner: TokenCache,
}

/// Counters of the cache's slow path.
#[derive(Debug, Clone, Copy, uniffi::Record)]
pub struct NativeCacheStats {
    pub misses: u64,
    pub fetches: u64,
    pub joined: u64,
}

#[uniffi::export]
impl NativeTokenCache {
    /// A cache; `safety_buffer_ms` (default 30 s) is how long before its expiry a token stops
    /// being served.
    #[uniffi::constructor]
    pub fn new(safety_buffer_ms: Option<u64>) -> Arc<Self> {
        let inner = match safety_buffer_ms {
            Some(ms) => TokenCache::with_safety_buffer(Duration::from_millis(ms)),
            None => TokenCache::new(),
        };
        Arc::new(Self { inner })
    }

    pub fn len(&self) -> u64 {
        self.inner.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    pub fn clear(&self) {
        self.inner.clear();
    }

    pub fn stats(&self) -> NativeCacheStats {
        let s = self.inner.stats();
        NativeCacheStats {
            misses: s.misses,
            fetches: s.fetches,
            joined: s.joined,
        }
    }
}

/// A token the cache serves, and for how long it may keep serving it (the core's freshness rule,
/// [`TokenCache::usable_for`], measured when the call returns). The Kotlin layer keeps a copy of
/// it for at most that long and drops it on any write to the cache or change of principal, so a
/// hit from Java crosses no FFI boundary.
#[derive(uniffi::Record)]
pub struct NativeCacheHit {
    pub token: Arc<NativeToken>,
    pub usable_for_nanos: u64,
    /// The core's [`CoarseClock::coarse_until`] of this copy's deadline, in the process clock's
    /// base: while the word of [`coarse_clock_word`] is below it, the copy is in time without a
    /// clock read; else the Kotlin layer compares `System.nanoTime()` with its own deadline.
    pub coarse_until_ms: f64,
}

impl NativeCacheHit {
    pub(crate) fn new(cache: &TokenCache, token: Arc<CachedToken>) -> Self {
        let now = Instant::now();
        let left = cache.usable_for(&token, now);
        let clock = CoarseClock::system();
        if !left.is_zero() {
            // As `peek_to_hold` does: a process that holds hits, once the binding took the word,
            // runs the ticker.
            clock.start_if_shared();
        }
        Self {
            usable_for_nanos: u64::try_from(left.as_nanos()).unwrap_or(u64::MAX),
            coarse_until_ms: clock.coarse_until(now + left),
            token: NativeToken::new(token),
        }
    }
}

/// The address of the process's coarse clock word (`nexus_sdk::hold::coarse_clock_word`: the
/// bits of an `f64`, 8-byte aligned, native endian, `+∞` while not trusted), which the Kotlin
/// layer reads with acquire loads. Static: valid for the process's lifetime. Taking it makes
/// later holds start the core's ticker.
#[uniffi::export]
pub fn coarse_clock_word() -> u64 {
    nexus_sdk::hold::coarse_clock_word().as_ptr() as usize as u64
}

/// For tests: stop the core's ticker for good and publish `published_ms` (`None`: not trusted).
#[doc(hidden)]
#[uniffi::export]
pub fn hold_coarse_clock_for_tests(published_ms: Option<f64>) {
    CoarseClock::system().hold_for_tests(published_ms);
}

/// The real clock now, in the coarse clock's base (milliseconds; for tests and benchmarks).
#[uniffi::export]
pub fn coarse_clock_now_ms() -> f64 {
    CoarseClock::system().now_ms()
}

/// The largest gap seen between two ticks of the core's ticker, in ns (for benchmarks).
#[uniffi::export]
pub fn coarse_clock_worst_tick_gap_nanos() -> u64 {
    u64::try_from(CoarseClock::system().worst_tick_gap().as_nanos()).unwrap_or(u64::MAX)
}

/// What a request-independent strategy (bearer, header, basic, query parameter) injects into
/// every request made with this token, so the interceptor can apply it without a native call per
/// request. It is the core's answer ([`nexus_sdk::request_independent`]), valid for as long as the
/// token is served (the Kotlin layer keeps it with its held copy of the token, see `HeldHits`),
/// and only for a request the core accepted (its method, header names and values, URL host).
#[derive(uniffi::Record)]
pub struct NativeRequestIndependent {
    /// Headers to set, each replacing the request's headers of that name, appended in order.
    pub headers: Vec<NativeHeader>,
    /// `query_param`: for a URL with neither query nor fragment, the final URL is the URL, `?`,
    /// and this. Any other URL goes through the core's `prepare`.
    pub query_of_bare_url: Option<String>,
}

/// A resolved credential. The Kotlin wrapper never prints its values.
#[derive(uniffi::Object)]
pub struct NativeToken {
    pub(crate) inner: Arc<CachedToken>,
}

impl NativeToken {
    pub(crate) fn new(inner: Arc<CachedToken>) -> Arc<Self> {
        Arc::new(Self { inner })
    }
}

#[uniffi::export]
impl NativeToken {
    pub fn access_token(&self) -> Option<String> {
        self.inner.access_token().map(str::to_owned)
    }

    pub fn token_type(&self) -> String {
        self.inner.token_type().to_owned()
    }

    pub fn scopes(&self) -> Vec<String> {
        self.inner.scopes().to_vec()
    }

    pub fn api_base_url(&self) -> Option<String> {
        self.inner.api_base_url().map(str::to_owned)
    }

    pub fn connection_id(&self) -> Option<String> {
        self.inner.connection_id().map(str::to_owned)
    }

    /// RFC 3339, when the credential has an expiry.
    pub fn expires_at(&self) -> Option<String> {
        self.inner.expires_at_rfc3339()
    }

    pub fn seconds_remaining(&self) -> Option<u64> {
        self.inner.seconds_remaining()
    }

    /// The injection of this token's strategy when it does not depend on the request; `None` for
    /// the signing strategies (`hmac_payload`, `aws_sigv4`), which go through `prepare` per
    /// request.
    pub fn request_independent(&self) -> Result<Option<NativeRequestIndependent>, NativeError> {
        let fixed =
            nexus_sdk::request_independent(self.inner.strategy()?, self.inner.credentials())?;
        Ok(fixed.map(|fixed| NativeRequestIndependent {
            query_of_bare_url: fixed.query_of_bare_url(),
            headers: headers_out(fixed.headers),
        }))
    }

    /// Identifies this resolve: a replaced token has another generation.
    pub fn generation(&self) -> u64 {
        self.inner.generation()
    }
}
