//! Failed caller authentications (admin and internal tokens), per source IP: the first
//! [`MAX_FAILURES`] in a window are logged (warn) and recorded in the audit log; beyond that the
//! source's failed attempts get `429` with `Retry-After` until the window ends. A right token
//! still passes (see `require_admin`): the tokens are too long to guess, and refusing it would
//! let anyone sharing an address with a gateway lock that gateway out. Counting stops at the
//! limit, so a flood writes at most `MAX_FAILURES` audit records per source and window.
//! Never logged or recorded: the presented token, or anything derived from it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Failures allowed per source within one [`WINDOW`].
pub const MAX_FAILURES: u32 = 10;
/// How long failures count, from a source's first failure.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Sources remembered at most; expired ones are dropped first when full.
const MAX_SOURCES: usize = 100_000;

#[derive(Default)]
pub struct AuthFailures {
    sources: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

/// What to do with a failed attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// Answer 401; log and record it.
    Counted,
    /// Answer 429; wait this many seconds.
    Throttled(u64),
}

impl AuthFailures {
    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, (Instant, u32)>> {
        // A panic while holding this lock leaves only counters behind: keep using them.
        self.sources.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Count one failed attempt of `source`.
    pub fn fail(&self, source: IpAddr) -> Failure {
        self.fail_within(source, MAX_FAILURES)
    }

    /// Count one failed attempt of `source`, allowing `max` per window.
    fn fail_within(&self, source: IpAddr, max: u32) -> Failure {
        let now = Instant::now();
        let mut sources = self.lock();
        if sources.len() >= MAX_SOURCES {
            sources.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = sources.entry(source).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        if entry.1 >= max {
            let left = WINDOW.saturating_sub(now.duration_since(entry.0));
            return Failure::Throttled(left.as_secs().max(1));
        }
        entry.1 += 1;
        Failure::Counted
    }
}

/// Failed API-key authentications at the gateways, most records kept in one [`WINDOW`] in all
/// (a flood from many addresses still cannot fill the table).
pub const MAX_KEY_FAILURE_RECORDS: u32 = 600;

/// API keys the broker refused when a gateway asked, per client address (the gateway still
/// answers 401 every time: there is no lock-out to abuse). Only what [`KeyFailures::record`]
/// admits is logged and written to the audit log: [`MAX_FAILURES`] per address and
/// [`MAX_KEY_FAILURE_RECORDS`] in all per window.
#[derive(Default)]
pub struct KeyFailures {
    per_source: AuthFailures,
    total: AuthFailures,
}

impl KeyFailures {
    /// Count one refused key from `source`: whether to log and record it.
    pub fn record(&self, source: IpAddr) -> bool {
        self.per_source.fail(source) == Failure::Counted
            && self
                .total
                .fail_within(IpAddr::from([0, 0, 0, 0]), MAX_KEY_FAILURE_RECORDS)
                == Failure::Counted
    }
}
