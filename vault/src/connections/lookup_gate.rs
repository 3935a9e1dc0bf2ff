//! A bound on the resolve path's concurrent connection lookups (issue 20, cold path).
//!
//! Under a burst of cold resolves every waiting request would otherwise take a pooled
//! connection and run its lookup at once: with a pool of 32 on a database with 2 cores, 32
//! runnable backends starve the broker's own workers (and the audit chain's writer task), and
//! every request queues behind them. Holding the lookups to a few per core keeps PostgreSQL
//! busy without oversubscribing it; the rest wait here, in the broker, where waiting is cheap.
//!
//! Only the one lookup statement is gated. A refresh (its row lock, the provider call, its
//! write) and the audit append never wait on a slot, so a burst of resolves cannot hold up
//! the refresh that would let them all finish.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Semaphore;

/// Slots per available core when the operator sets none: a lookup is a short statement, so a
/// few in flight per core cover the round trips without queueing many backends per core.
const SLOTS_PER_CORE: usize = 4;
/// The least default, so a small container (1–2 cores) still overlaps round trips.
const MIN_DEFAULT_SLOTS: usize = 8;

/// At most `size` lookups in flight; the others wait in arrival order (tokio's fair semaphore).
#[derive(Debug)]
pub struct LookupGate {
    permits: Semaphore,
    size: usize,
    waiting: AtomicUsize,
    in_flight: AtomicUsize,
    high_water: AtomicUsize,
}

/// What the gate has seen, for operators' diagnostics and for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookupGateStats {
    /// The number of slots.
    pub size: usize,
    /// Lookups waiting for a slot now.
    pub waiting: usize,
    /// Lookups holding a slot now.
    pub in_flight: usize,
    /// The most lookups ever seen holding a slot at once.
    pub high_water: usize,
}

impl LookupGate {
    /// A gate of `size` slots (at least 1).
    pub fn new(size: usize) -> Self {
        let size = size.max(1);
        Self {
            permits: Semaphore::new(size),
            size,
            waiting: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            high_water: AtomicUsize::new(0),
        }
    }

    /// The configured size (`NEXUS_DATABASE_LOOKUP_SLOTS`), else [`Self::default_size`].
    pub fn configured(slots: Option<u32>) -> Self {
        Self::new(slots.map_or_else(Self::default_size, |n| n as usize))
    }

    /// 4 × the cores this process may use, at least 8. Sized for a database close by (a
    /// sub-millisecond round trip): a broker far from its database should raise it, since the
    /// gate caps its lookups at about slots ÷ round trip per second.
    pub fn default_size() -> usize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (SLOTS_PER_CORE * cores).max(MIN_DEFAULT_SLOTS)
    }

    /// Run `lookup` once a slot is free. Dropping the returned future (a cancelled request)
    /// gives back its place in the queue or its slot.
    pub async fn run<F: Future>(&self, lookup: F) -> F::Output {
        let waiting = Counted::enter(&self.waiting);
        // The semaphore is never closed, so acquiring cannot fail.
        let _slot = self
            .permits
            .acquire()
            .await
            .expect("the gate is never closed");
        drop(waiting);
        let in_flight = Counted::enter(&self.in_flight);
        self.high_water.fetch_max(in_flight.1, Ordering::Relaxed);
        lookup.await
    }

    pub fn stats(&self) -> LookupGateStats {
        LookupGateStats {
            size: self.size,
            waiting: self.waiting.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            high_water: self.high_water.load(Ordering::Relaxed),
        }
    }
}

/// One unit of a counter for as long as it lives (so a dropped future is counted out too),
/// with the counter's value once it entered.
struct Counted<'a>(&'a AtomicUsize, usize);

impl<'a> Counted<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        let now = counter.fetch_add(1, Ordering::Relaxed) + 1;
        Self(counter, now)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
