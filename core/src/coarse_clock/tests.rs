//! The rule with time moved by hand (no ticker thread unless a test starts one, no sleeps),
//! every real clock read counted so that a test can tell which reading decided.

use super::*;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

/// A clock over hand-moved time.
struct Manual {
    base: Instant,
    offset_ns: Arc<AtomicU64>,
    reads: Arc<AtomicUsize>,
    clock: CoarseClock,
}

impl Manual {
    fn new(runs_ticker: bool) -> Self {
        let base = Instant::now();
        let offset_ns = Arc::new(AtomicU64::new(0));
        let reads = Arc::new(AtomicUsize::new(0));
        let (o, r) = (offset_ns.clone(), reads.clone());
        let clock = CoarseClock::new(
            move || {
                r.fetch_add(1, Ordering::SeqCst);
                base + Duration::from_nanos(o.load(Ordering::SeqCst))
            },
            runs_ticker,
        );
        reads.store(0, Ordering::SeqCst);
        Self {
            base,
            offset_ns,
            reads,
            clock,
        }
    }

    fn now(&self) -> Instant {
        self.base + Duration::from_nanos(self.offset_ns.load(Ordering::SeqCst))
    }

    fn advance(&self, by: Duration) {
        self.offset_ns
            .fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
    }

    fn reads(&self) -> usize {
        self.reads.swap(0, Ordering::SeqCst)
    }
}

/// Wait (bounded) for a condition another thread makes true.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting: {what}");
        std::thread::yield_now();
    }
}

#[test]
fn an_untrusted_clock_leaves_the_decision_to_the_real_clock() {
    let t = Manual::new(false);
    assert!(!t.clock.is_trusted(), "not trusted before a tick");
    let deadline = t.now() + Duration::from_secs(60);
    let until = t.clock.coarse_until(deadline);
    assert!(t.clock.before(until, deadline));
    assert_eq!(t.reads(), 1);
    t.advance(Duration::from_secs(60));
    assert!(!t.clock.before(until, deadline), "at the deadline");
    assert_eq!(t.reads(), 1);
}

#[test]
fn far_from_the_deadline_the_published_tick_decides_without_a_read() {
    let t = Manual::new(false);
    t.advance(Duration::from_secs(100));
    let deadline = t.now() + Duration::from_secs(60);
    t.clock.publish(t.now());
    assert!(t.clock.is_trusted());
    for _ in 0..3 {
        assert!(t.clock.before(t.clock.coarse_until(deadline), deadline));
    }
    assert_eq!(t.reads(), 0);
}

#[test]
fn in_the_last_window_the_real_clock_decides() {
    let t = Manual::new(false);
    t.advance(Duration::from_secs(100));
    let deadline = t.now() + WINDOW;
    let until = t.clock.coarse_until(deadline);
    // The tick exactly one window behind the deadline: the published value alone says "ahead".
    t.clock.publish(deadline - WINDOW);
    t.advance(WINDOW);
    t.reads();
    assert!(
        !t.clock.before(until, deadline),
        "at the deadline, whatever the tick says"
    );
    assert_eq!(t.reads(), 1);
    // One window and a millisecond ahead of the tick: the tick decides.
    let later = deadline + Duration::from_millis(1);
    assert!(t.clock.before(t.clock.coarse_until(later), later));
    assert_eq!(t.reads(), 0);
}

#[test]
fn coarse_until_is_the_deadline_minus_the_window_in_the_clock_base() {
    let t = Manual::new(false);
    let deadline = t.now() + Duration::from_secs(70);
    assert_eq!(t.clock.coarse_until(deadline), 60_000.0);
    assert_eq!(
        t.clock.millis(t.now() + Duration::from_millis(1500)),
        1500.0
    );
    // A deadline within a window of the origin never passes on the published value.
    let soon = t.now() + Duration::from_secs(5);
    assert_eq!(t.clock.coarse_until(soon), f64::NEG_INFINITY);
}

#[test]
fn a_late_tick_ends_trust_for_good() {
    let t = Manual::new(false);
    let last = t.now();
    t.clock.publish(last);
    t.advance(TICK);
    assert_eq!(
        t.clock.tick(last),
        Some(t.now()),
        "a tick on time publishes"
    );
    let last = t.now();
    t.advance(STALL_LIMIT + Duration::from_nanos(1));
    assert_eq!(t.clock.tick(last), None, "the ticker stops");
    assert!(!t.clock.is_trusted());
    assert!(t.clock.worst_tick_gap() > STALL_LIMIT);
    let deadline = t.now() + Duration::from_secs(60);
    t.reads();
    assert!(t.clock.before(t.clock.coarse_until(deadline), deadline));
    assert_eq!(t.reads(), 1, "the real clock decides after a stall");
}

#[test]
fn the_ticker_thread_publishes_and_stops_after_a_stall() {
    let t: &'static Manual = Box::leak(Box::new(Manual::new(true)));
    t.clock.start();
    wait_until("the first tick", || t.clock.is_trusted());
    let published = t.clock.published_ms();
    t.advance(Duration::from_millis(20));
    wait_until("a tick publishing the moved time", || {
        t.clock.published_ms() > published
    });
    t.advance(STALL_LIMIT * 2);
    wait_until("the stall noticed", || !t.clock.is_trusted());
    assert_eq!(t.clock.state.load(Ordering::Acquire), ENDED);
    t.clock.start();
    assert_eq!(
        t.clock.state.load(Ordering::Acquire),
        ENDED,
        "a stalled clock is not restarted"
    );
    assert!(!t.clock.is_trusted());
}

#[test]
fn a_hand_ticked_clock_runs_no_thread() {
    let t: &'static Manual = Box::leak(Box::new(Manual::new(false)));
    t.clock.start();
    assert_eq!(t.clock.state.load(Ordering::Acquire), NOT_STARTED);
    assert_eq!(t.reads(), 0);
}

#[test]
fn after_fork_the_child_does_not_trust_and_restarts() {
    let t = Manual::new(false);
    t.clock.state.store(RUNNING, Ordering::SeqCst);
    t.clock.publish(t.now());
    t.clock.after_fork_in_child();
    assert!(!t.clock.is_trusted());
    assert_eq!(t.clock.state.load(Ordering::SeqCst), NOT_STARTED);
    // A clock that ended for good stays ended in the child.
    t.clock.state.store(ENDED, Ordering::SeqCst);
    t.clock.after_fork_in_child();
    assert_eq!(t.clock.state.load(Ordering::SeqCst), ENDED);
}

/// Through a real `fork`: the handler registered with the system clock runs in the child.
#[cfg(unix)]
#[test]
fn a_forked_child_does_not_trust_the_parents_published_value() {
    let clock = CoarseClock::system();
    let _ = clock.shared_word();
    clock.start_if_shared();
    wait_until("the system clock's first tick", || {
        clock.is_trusted() || clock.state.load(Ordering::Acquire) == ENDED
    });
    let trusted_in_parent = clock.is_trusted();
    // SAFETY: the child only performs atomic loads and `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = if CoarseClock::system().is_trusted() {
            1
        } else {
            0
        };
        // SAFETY: leaves the child at once, running no destructor of the parent's state.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for the child forked above.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status));
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "the child trusted the frozen word"
    );
    // Unless the loaded machine stalled the ticker meanwhile, the parent still trusts it.
    if trusted_in_parent && clock.state.load(Ordering::Acquire) == RUNNING {
        assert!(clock.is_trusted());
    }
}

#[test]
fn holds_start_the_ticker_only_once_a_binding_shares_the_word() {
    let t: &'static Manual = Box::leak(Box::new(Manual::new(true)));
    t.clock.start_if_shared();
    assert_eq!(
        t.clock.state.load(Ordering::Acquire),
        NOT_STARTED,
        "nobody reads it"
    );
    let _ = t.clock.shared_word();
    t.clock.start_if_shared();
    wait_until("the first tick", || t.clock.is_trusted());
    t.clock.hold_for_tests(Some(1.0));
    assert!(!t.clock.alive.load(Ordering::Acquire), "the ticker ended");
    assert_eq!(
        t.clock.published_ms(),
        1.0,
        "the test's value, not overwritten"
    );
}
