//! When and how long to wait before trying a gateway request again.

use chrono::{DateTime, Utc};
use rand::Rng;
use std::time::Duration;

/// Retry policy for gateway calls.
///
/// Retried: connection failures (the request never reached the gateway), 502/503/504 (for
/// idempotent calls), and 429 when [`RetryPolicy::respect_retry_after`] is set. Never retried:
/// any other 4xx, timeouts, and invalid responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// Upper bound of the first backoff; doubled on each retry.
    pub initial_backoff: Duration,
    /// Cap of the exponential bound.
    pub max_backoff: Duration,
    /// Retry 429 responses, waiting the `Retry-After` the gateway sent (else the backoff).
    pub respect_retry_after: bool,
    /// A `Retry-After` longer than this is not waited for: the `rate_limited` error is returned.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            respect_retry_after: true,
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// "Full jitter" backoff before retry number `retry` (0-based): a uniform random duration
    /// in `[0, min(max_backoff, initial_backoff * 2^retry)]`. Randomness spreads the retries of
    /// many clients that failed together.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(31));
        let bound = self
            .initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff);
        let bound_ms = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX);
        if bound_ms == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(rand::rng().random_range(0..=bound_ms))
    }
}

/// Parse a `Retry-After` header: delta-seconds or an HTTP date.
pub(crate) fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.to_utc();
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_within_the_exponential_bound() {
        let p = RetryPolicy {
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(35),
            ..RetryPolicy::default()
        };
        for _ in 0..200 {
            assert!(p.backoff(0) <= Duration::from_millis(10));
            assert!(p.backoff(1) <= Duration::from_millis(20));
            assert!(p.backoff(5) <= Duration::from_millis(35));
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Tue, 24 Nov 2026 12:00:05 GMT", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(parse_retry_after("later", now), None);
    }
}
