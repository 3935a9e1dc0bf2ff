//! [`TokenCache`]: resolved credentials keyed by (workspace, provider), with single-flight misses.
//!
//! The hit path is a lookup in this thread's small copy of recently used tokens (`front`),
//! validated by one atomic load of the cache's write epoch, plus a monotonic clock read and an
//! uncontended `Arc` clone: no lock, no shared write, no allocation. When that copy is missing
//! or stale, the shared map is read (a read lock and two borrowed-`&str` lookups). A miss goes through a small mutex-protected table of in-flight
//! fetches, so N concurrent misses for one key make exactly one gateway call and all N receive
//! its result or its error. The flight is a shared future: whichever waiter is polled drives it,
//! so a cancelled caller does not strand the others.

use crate::error::{NexusError, Result};
use crate::token::CachedToken;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Default safety buffer: a token is not served in its last 30 seconds.
pub const DEFAULT_SAFETY_BUFFER: Duration = Duration::from_secs(30);

mod front;

/// Source of [`Inner::id`].
static NEXT_CACHE_ID: AtomicU64 = AtomicU64::new(1);

type FlightFuture = Shared<BoxFuture<'static, Result<Arc<CachedToken>>>>;

struct Flight {
    id: u64,
    forced: bool,
    future: FlightFuture,
}

/// Counters of the slow path (the hit path keeps no counters, to stay contention-free).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Calls that did not find a fresh token and went to the single-flight table.
    pub misses: u64,
    /// Fetches started (one per flight: the number of gateway resolves made through the cache).
    pub fetches: u64,
    /// Misses that joined a flight another caller had started.
    pub joined: u64,
}

/// Two-level map so that lookups borrow `&str` for both parts of the key.
type Entries = HashMap<Box<str>, HashMap<Box<str>, Arc<CachedToken>>>;

struct Inner {
    /// Distinguishes caches in the per-thread fronts.
    id: u64,
    /// Bumped after every write to `entries`; per-thread copies from an older epoch are stale.
    epoch: AtomicU64,
    safety_buffer: Duration,
    entries: RwLock<Entries>,
    flights: Mutex<HashMap<(String, String), Flight>>,
    next_generation: AtomicU64,
    misses: AtomicU64,
    fetches: AtomicU64,
    joined: AtomicU64,
}

/// A thread-safe token cache. Cloning is cheap and shares the cache.
#[derive(Clone)]
pub struct TokenCache {
    inner: Arc<Inner>,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("safety_buffer", &self.inner.safety_buffer)
            .field("len", &self.len())
            .finish()
    }
}

impl TokenCache {
    /// A cache with the default 30 s safety buffer.
    pub fn new() -> Self {
        Self::with_safety_buffer(DEFAULT_SAFETY_BUFFER)
    }

    /// A cache that stops serving a token `buffer` before it expires.
    pub fn with_safety_buffer(buffer: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                id: NEXT_CACHE_ID.fetch_add(1, Ordering::Relaxed),
                epoch: AtomicU64::new(0),
                safety_buffer: buffer,
                entries: RwLock::new(HashMap::new()),
                flights: Mutex::new(HashMap::new()),
                next_generation: AtomicU64::new(1),
                misses: AtomicU64::new(0),
                fetches: AtomicU64::new(0),
                joined: AtomicU64::new(0),
            }),
        }
    }

    pub fn safety_buffer(&self) -> Duration {
        self.inner.safety_buffer
    }

    /// The cached token for the key, if it is still fresh (the hit path).
    #[inline]
    pub fn get(&self, workspace_id: &str, provider: &str) -> Option<Arc<CachedToken>> {
        self.inner.get(workspace_id, provider)
    }

    /// How much longer, from `now`, this cache would serve `token` (zero: not any more). A
    /// binding that keeps its own copy of a hit uses it for this long at most, and drops it
    /// sooner on any write to the cache.
    pub fn usable_for(&self, token: &CachedToken, now: Instant) -> Duration {
        token.fresh_for(now, self.inner.safety_buffer)
    }

    /// The write epoch: bumped after every write to the map (see `crate::hold`).
    pub(crate) fn epoch(&self) -> &AtomicU64 {
        &self.inner.epoch
    }

    /// Store a token (replacing any older one for the key).
    pub fn insert(&self, workspace_id: &str, provider: &str, token: CachedToken) {
        let mut token = token;
        token.generation = self.inner.next_generation.fetch_add(1, Ordering::Relaxed);
        self.inner.store(workspace_id, provider, Arc::new(token));
    }

    /// Forget the token for one key (an upstream said 401, or the caller knows it is revoked).
    pub fn invalidate(&self, workspace_id: &str, provider: &str) {
        let mut entries = self.inner.entries.write();
        if let Some(providers) = entries.get_mut(workspace_id) {
            providers.remove(provider);
            if providers.is_empty() {
                entries.remove(workspace_id);
            }
        }
        self.inner.bump_epoch();
    }

    /// Forget every token.
    pub fn clear(&self) {
        let mut entries = self.inner.entries.write();
        entries.clear();
        self.inner.bump_epoch();
    }

    /// Number of stored tokens (fresh or not).
    pub fn len(&self) -> usize {
        self.inner.entries.read().values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            misses: self.inner.misses.load(Ordering::Relaxed),
            fetches: self.inner.fetches.load(Ordering::Relaxed),
            joined: self.inner.joined.load(Ordering::Relaxed),
        }
    }

    /// The fresh cached token, or the result of `fetch`, shared by every concurrent caller for
    /// the same key. With `force`, a cached token is ignored and a fetch that is not itself
    /// forced is not joined (its answer may be the very token being replaced).
    pub async fn get_or_fetch<F, Fut>(
        &self,
        workspace_id: &str,
        provider: &str,
        force: bool,
        fetch: F,
    ) -> Result<Arc<CachedToken>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CachedToken>> + Send + 'static,
    {
        if !force && let Some(hit) = self.get(workspace_id, provider) {
            return Ok(hit);
        }
        let want = if force { Want::Refreshed } else { Want::Fresh };
        match self.join_or_start(workspace_id, provider, want, fetch) {
            Ok(hit) => Ok(hit),
            Err(flight) => flight.await,
        }
    }

    /// Replace `rejected` (a token an upstream just refused): it is dropped from the cache and
    /// `fetch` (a forced refresh) runs, unless a concurrent caller already replaced it, in
    /// which case that newer token is returned. N callers rejected together cause one refresh.
    pub async fn replace_rejected<F, Fut>(
        &self,
        workspace_id: &str,
        provider: &str,
        rejected: &Arc<CachedToken>,
        fetch: F,
    ) -> Result<Arc<CachedToken>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CachedToken>> + Send + 'static,
    {
        self.replace_rejected_generation(workspace_id, provider, rejected.generation(), fetch)
            .await
    }

    /// [`Self::replace_rejected`] for a caller that kept only the rejected token's
    /// [`CachedToken::generation`] (a binding that hands out copies of tokens). The identity of
    /// a cached token *is* its generation, so both forms decide the same way.
    pub async fn replace_rejected_generation<F, Fut>(
        &self,
        workspace_id: &str,
        provider: &str,
        rejected_generation: u64,
        fetch: F,
    ) -> Result<Arc<CachedToken>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CachedToken>> + Send + 'static,
    {
        let want = Want::Replacing(rejected_generation);
        match self.join_or_start(workspace_id, provider, want, fetch) {
            Ok(newer) => Ok(newer),
            Err(flight) => flight.await,
        }
    }

    /// Under the flights lock: a usable token (`Ok`), or the flight to wait on.
    fn join_or_start<F, Fut>(
        &self,
        workspace_id: &str,
        provider: &str,
        want: Want,
        fetch: F,
    ) -> std::result::Result<Arc<CachedToken>, FlightFuture>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CachedToken>> + Send + 'static,
    {
        let inner = &self.inner;
        let mut flights = inner.flights.lock();
        // A flight stores its token before it leaves the table, so looking at the entry again
        // here closes the window between our miss and a flight that just finished.
        if let Some(usable) = inner.usable_or_drop_rejected(workspace_id, provider, want) {
            return Ok(usable);
        }
        inner.misses.fetch_add(1, Ordering::Relaxed);
        let forced = !matches!(want, Want::Fresh);
        let key = (workspace_id.to_owned(), provider.to_owned());
        if let Some(flight) = flights.get(&key)
            && (!forced || flight.forced)
        {
            inner.joined.fetch_add(1, Ordering::Relaxed);
            return Err(flight.future.clone());
        }
        let id = inner.next_generation.fetch_add(1, Ordering::Relaxed);
        inner.fetches.fetch_add(1, Ordering::Relaxed);
        let future = flight_future(Arc::downgrade(inner), key.clone(), id, fetch());
        flights.insert(
            key,
            Flight {
                id,
                forced,
                future: future.clone(),
            },
        );
        Err(future)
    }
}

/// What a caller of the slow path accepts from the cache.
#[derive(Clone, Copy)]
enum Want {
    /// Any fresh token.
    Fresh,
    /// Nothing cached: a forced refresh.
    Refreshed,
    /// A fresh token other than the one of this generation (which is dropped), else a forced
    /// refresh.
    Replacing(u64),
}

/// The shared future of one fetch: stores a success, then leaves the flights table.
fn flight_future<Fut>(
    cache: Weak<Inner>,
    key: (String, String),
    id: u64,
    fetch: Fut,
) -> FlightFuture
where
    Fut: Future<Output = Result<CachedToken>> + Send + 'static,
{
    async move {
        let result = fetch.await.map(|mut token| {
            token.generation = id;
            Arc::new(token)
        });
        if let Some(inner) = cache.upgrade() {
            if let Ok(token) = &result {
                inner.store(&key.0, &key.1, token.clone());
            }
            let mut flights = inner.flights.lock();
            if flights.get(&key).is_some_and(|f| f.id == id) {
                flights.remove(&key);
            }
        }
        result
    }
    .boxed()
    .shared()
}

impl Inner {
    /// The hit path: this thread's copy when it is current, else the shared map (and a new
    /// copy for this thread).
    #[inline]
    fn get(&self, workspace_id: &str, provider: &str) -> Option<Arc<CachedToken>> {
        // Load the epoch before reading the map: a write that lands in between makes the copy
        // stored below look stale next time, never the other way round.
        let epoch = self.epoch.load(Ordering::Acquire);
        let now = Instant::now();
        if let Some(copy) = front::lookup(self.id, epoch, workspace_id, provider) {
            return copy.is_fresh(now, self.safety_buffer).then_some(copy);
        }
        let shared = {
            let entries = self.entries.read();
            entries.get(workspace_id)?.get(provider)?.clone()
        };
        if !shared.is_fresh(now, self.safety_buffer) {
            return None;
        }
        // This thread's own `Arc`, so later hits do not touch the shared reference count.
        let copy = Arc::new(CachedToken::clone(&shared));
        front::remember(self.id, epoch, workspace_id, provider, copy.clone());
        Some(copy)
    }

    /// Call after every write to `entries`, while still holding the write lock.
    fn bump_epoch(&self) {
        self.epoch.fetch_add(1, Ordering::Release);
    }

    /// The cached token if `want` accepts it; a rejected token is removed on the way.
    fn usable_or_drop_rejected(
        &self,
        workspace_id: &str,
        provider: &str,
        want: Want,
    ) -> Option<Arc<CachedToken>> {
        match want {
            Want::Fresh => self.get(workspace_id, provider),
            Want::Refreshed => None,
            Want::Replacing(rejected_generation) => {
                let mut entries = self.entries.write();
                let providers = entries.get_mut(workspace_id)?;
                let current = providers.get(provider)?;
                // Threads hold copies, so identity is the generation, not the pointer.
                if current.generation == rejected_generation {
                    providers.remove(provider);
                    self.bump_epoch();
                    None
                } else if current.is_fresh(Instant::now(), self.safety_buffer) {
                    Some(current.clone())
                } else {
                    None
                }
            }
        }
    }

    /// Store unless a newer flight already stored a token for the key.
    fn store(&self, workspace_id: &str, provider: &str, token: Arc<CachedToken>) {
        let mut entries = self.entries.write();
        let providers = entries.entry(workspace_id.into()).or_default();
        match providers.get(provider) {
            Some(existing) if existing.generation > token.generation => {}
            _ => {
                providers.insert(provider.into(), token);
                self.bump_epoch();
            }
        }
    }
}

// `NexusError` must be shareable across waiters.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<NexusError>();
};
