//! A coarse monotonic clock for the held-hit path of the bindings ([`crate::hold`]).
//!
//! Why: reading the monotonic clock costs ~50–100 ns on this project's VMs (a slow
//! clocksource), as much as the rest of a held hit. A daemon thread publishes the clock every
//! [`TICK`] into one shared word, and a binding compares its deadline with that word instead.
//!
//! The published value is a past reading, so it can only be behind the real clock: by the tick,
//! plus however late the ticker runs (at load 17 on a 2-core VM a 10 ms tick came 1.5 s late).
//! The rule, here once:
//! - a deadline counts as met on the published value only while it is more than [`WINDOW`]
//!   ahead of it ([`HeldHit::coarse_until`](crate::hold::HeldHit::coarse_until) is the
//!   deadline minus the window, in this clock's base); in a copy's last [`WINDOW`], and
//!   whenever the clock is not trusted, the binding reads the real clock;
//! - the ticker checks its own lateness on every tick; once a tick is more than [`STALL_LIMIT`]
//!   late it stops and the clock is not trusted again for the rest of the process;
//! - after `fork` the child has the word but no ticker: the child handler marks it untrusted,
//!   and the child's next hold starts a ticker of its own.
//!
//! A copy is therefore served late only if the ticker fell more than [`WINDOW`] behind while a
//! hit ran, before it noticed a [`STALL_LIMIT`] stall (and the core's deadline is itself the
//! cache's safety buffer before the token's expiry).
//!
//! The shared word ([`CoarseClock::word`]): the bits of an `f64`, milliseconds since this
//! clock's origin; `+∞` while not trusted, so that `published < coarse_until` is simply false
//! then (a reader needs no second flag). 8-byte aligned, native endian, written with one
//! atomic store.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often the ticker publishes: small next to [`WINDOW`]; 100 wake-ups a second.
pub const TICK: Duration = Duration::from_millis(10);
/// How far behind the real clock the published value may be and still decide a hit. Wide on
/// purpose: its only cost is a real clock read per hit in a copy's last 10 s.
pub const WINDOW: Duration = Duration::from_secs(10);
/// A tick this late (a fifth of [`WINDOW`]) means the ticker cannot be trusted any more.
pub const STALL_LIMIT: Duration = Duration::from_secs(2);

/// The word's value while the published value must not decide (`+∞`: compares false).
const UNTRUSTED: u64 = 0x7ff0_0000_0000_0000; // f64::INFINITY.to_bits()

const NOT_STARTED: u8 = 0;
const RUNNING: u8 = 1;
/// The ticker stalled (for the process lifetime), or a test holds the clock.
const ENDED: u8 = 2;

/// Where time comes from: the real monotonic clock, or a test's hand-moved one.
type Source = Box<dyn Fn() -> Instant + Send + Sync>;

/// See the module docs.
pub struct CoarseClock {
    origin: Instant,
    source: Source,
    word: AtomicU64,
    state: AtomicU8,
    /// Whether a ticker thread runs (it may still write the word).
    alive: AtomicBool,
    /// Whether a binding took the word ([`Self::shared_word`]): only then do holds start the
    /// ticker (a binding comparing with its own clock, as Python does, needs no thread).
    shared: AtomicBool,
    /// Whether [`Self::start`] runs a thread (false for a clock a test ticks by hand).
    runs_ticker: bool,
    /// The largest gap between two ticks seen, in ns (for benchmarks).
    worst_gap_ns: AtomicU64,
}

impl std::fmt::Debug for CoarseClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoarseClock")
            .field("published_ms", &self.published_ms())
            .field("state", &self.state.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl CoarseClock {
    /// A clock over `source` with its origin at `source()` now, not trusted until it ticks.
    /// With `runs_ticker` false, [`Self::start`] does nothing: the caller ticks it
    /// ([`Self::tick`], [`Self::publish`]).
    pub fn new(source: impl Fn() -> Instant + Send + Sync + 'static, runs_ticker: bool) -> Self {
        let origin = source();
        Self {
            origin,
            source: Box::new(source),
            word: AtomicU64::new(UNTRUSTED),
            state: AtomicU8::new(NOT_STARTED),
            alive: AtomicBool::new(false),
            shared: AtomicBool::new(false),
            runs_ticker,
            worst_gap_ns: AtomicU64::new(0),
        }
    }

    /// The process's clock (real monotonic time), shared by every cache and binding.
    pub fn system() -> &'static CoarseClock {
        SYSTEM.get_or_init(|| {
            fork::register();
            CoarseClock::new(Instant::now, true)
        })
    }

    /// `at` in this clock's base (milliseconds since its origin).
    pub fn millis(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.origin).as_secs_f64() * 1000.0
    }

    /// The real clock now, in this clock's base.
    pub fn now_ms(&self) -> f64 {
        self.millis((self.source)())
    }

    /// The published value below which a copy with `deadline` may be served without reading
    /// the real clock: the deadline minus [`WINDOW`], in this clock's base.
    pub fn coarse_until(&self, deadline: Instant) -> f64 {
        match deadline.checked_sub(WINDOW) {
            Some(until) if until > self.origin => self.millis(until),
            // Within a window of the origin: never on the published value alone.
            _ => f64::NEG_INFINITY,
        }
    }

    /// The published value (`+∞` while not trusted).
    pub fn published_ms(&self) -> f64 {
        f64::from_bits(self.word.load(Ordering::Acquire))
    }

    /// Whether the published value currently decides hits far from their deadline.
    pub fn is_trusted(&self) -> bool {
        self.word.load(Ordering::Acquire) != UNTRUSTED
    }

    /// The rule, for a copy whose core deadline is `deadline` and whose [`Self::coarse_until`]
    /// is `coarse_until`: still ahead on the published value, else on the real clock. A binding
    /// reading [`Self::word`] makes the same two comparisons.
    pub fn before(&self, coarse_until: f64, deadline: Instant) -> bool {
        self.published_ms() < coarse_until || (self.source)() < deadline
    }

    /// The shared word (see the module docs). Lives as long as the clock (the system clock:
    /// the process).
    pub fn word(&self) -> &AtomicU64 {
        &self.word
    }

    /// [`Self::word`] for a binding that will read it: from now on holds start the ticker
    /// ([`Self::start_if_shared`]).
    pub fn shared_word(&self) -> &AtomicU64 {
        self.shared.store(true, Ordering::Release);
        &self.word
    }

    /// [`Self::start`] once a binding reads the word; else nothing (nobody would read a tick).
    pub fn start_if_shared(&'static self) {
        if self.shared.load(Ordering::Acquire) {
            self.start();
        }
    }

    /// The largest gap seen between two ticks.
    pub fn worst_tick_gap(&self) -> Duration {
        Duration::from_nanos(self.worst_gap_ns.load(Ordering::Relaxed))
    }

    /// Start the ticker thread once (a no-op when running, ended, or for a hand-ticked clock).
    pub fn start(&'static self) {
        if !self.runs_ticker
            || self.state.load(Ordering::Relaxed) != NOT_STARTED
            || self
                .state
                .compare_exchange(NOT_STARTED, RUNNING, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        self.alive.store(true, Ordering::Release);
        let spawned = std::thread::Builder::new()
            .name("nexus-coarse-clock".into())
            .spawn(move || self.run());
        if spawned.is_err() {
            // No thread, no trust: hits read the real clock, as before this clock existed.
            self.state.store(ENDED, Ordering::Release);
            self.alive.store(false, Ordering::Release);
        }
    }

    fn run(&self) {
        // However the ticker ends (a stall, a panic), the published value stops deciding.
        struct Distrust<'a>(&'a CoarseClock);
        impl Drop for Distrust<'_> {
            fn drop(&mut self) {
                self.0.word.store(UNTRUSTED, Ordering::Release);
                self.0.alive.store(false, Ordering::Release);
            }
        }
        let _guard = Distrust(self);
        let mut last = (self.source)();
        self.store(last);
        loop {
            std::thread::sleep(TICK);
            // A test took the clock over (or a stall ended it): stop publishing.
            if self.state.load(Ordering::Acquire) != RUNNING {
                return;
            }
            match self.tick(last) {
                Some(now) => last = now,
                None => return,
            }
        }
    }

    /// One tick after a previous one at `last`: publish the clock and return the reading, or
    /// stop trusting the clock for good (returns `None`) when it ran more than [`STALL_LIMIT`]
    /// late.
    pub fn tick(&self, last: Instant) -> Option<Instant> {
        let now = (self.source)();
        let gap = now.saturating_duration_since(last);
        let gap_ns = u64::try_from(gap.as_nanos()).unwrap_or(u64::MAX);
        self.worst_gap_ns.fetch_max(gap_ns, Ordering::Relaxed);
        if gap > STALL_LIMIT {
            self.state.store(ENDED, Ordering::Release);
            self.word.store(UNTRUSTED, Ordering::Release);
            tracing::debug!(
                gap_ms = gap.as_millis() as u64,
                "coarse clock ticked late; held hits read the real clock from now on"
            );
            return None;
        }
        self.store(now);
        Some(now)
    }

    /// Publish `at` and trust it (what a tick does; for a hand-ticked clock).
    pub fn publish(&self, at: Instant) {
        self.store(at);
    }

    fn store(&self, at: Instant) {
        self.word
            .store(self.millis(at).to_bits(), Ordering::Release);
    }

    /// For tests of the bindings on the process clock: stop the ticker for good and set the
    /// published value (milliseconds in this clock's base; `None`: not trusted).
    #[doc(hidden)]
    pub fn hold_for_tests(&self, published_ms: Option<f64>) {
        self.state.store(ENDED, Ordering::Release);
        // A ticker in the middle of a tick could still overwrite the value: wait (bounded) for
        // it to see the state and end, so the test decides alone from here on.
        let until = Instant::now() + Duration::from_secs(60);
        while self.alive.load(Ordering::Acquire) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
        let bits = published_ms.map_or(UNTRUSTED, f64::to_bits);
        self.word.store(bits, Ordering::Release);
    }

    /// What the fork child handler does: no ticker runs in the child, so nothing published
    /// before the fork may decide there; the next hold starts a ticker of the child's own
    /// (unless the clock had ended for good).
    fn after_fork_in_child(&self) {
        self.word.store(UNTRUSTED, Ordering::Relaxed);
        self.alive.store(false, Ordering::Relaxed);
        let _ =
            self.state
                .compare_exchange(RUNNING, NOT_STARTED, Ordering::Relaxed, Ordering::Relaxed);
    }
}

#[cfg(unix)]
mod fork {
    /// Runs in the child after `fork` (only atomic stores: async-signal-safe).
    extern "C" fn child() {
        // Registered while the system clock is created: it is there (or being created, and
        // then still untrusted).
        if let Some(clock) = super::SYSTEM.get() {
            clock.after_fork_in_child();
        }
    }

    pub(super) fn register() {
        // SAFETY: registers a handler that only performs atomic stores; called once (inside
        // the system clock's OnceLock initialisation).
        unsafe {
            libc::pthread_atfork(None, None, Some(child));
        }
    }
}

#[cfg(not(unix))]
mod fork {
    pub(super) fn register() {}
}

/// The process's clock ([`CoarseClock::system`]; the fork handler reads it too).
static SYSTEM: OnceLock<CoarseClock> = OnceLock::new();

#[cfg(test)]
mod tests;
