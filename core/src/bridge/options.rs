//! [`BridgeOptions`]: every knob of one bridged WebSocket, with the defaults shared with the Go
//! bridge, and the backoff formula.

use futures::future::BoxFuture;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Default floor of the delay between attempts.
pub const DEFAULT_MIN_BACKOFF: Duration = Duration::from_secs(2);
/// Default ceiling of the delay between attempts.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Default time a connection must stay up for the failure count to reset.
pub const DEFAULT_STABLE_AFTER: Duration = Duration::from_secs(30);
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(20);
pub const DEFAULT_PING_TIMEOUT: Duration = Duration::from_secs(20);
/// Default largest incoming message (16 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_EXPIRY_MARGIN: Duration = Duration::from_secs(60);
/// Default number of handshakes in a row that may reject a freshly refreshed credential.
pub const DEFAULT_MAX_FRESH_REJECTIONS: u32 = 3;

/// Waits between attempts. Injectable so tests can record (or shorten) every backoff delay;
/// the bridge races it against cancellation, so an implementation need not watch for that.
pub trait Sleeper: Send + Sync + 'static {
    fn sleep(&self, delay: Duration) -> BoxFuture<'static, ()>;
}

/// The real clock: `tokio::time::sleep`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, delay: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(delay))
    }
}

/// Options of [`crate::bridge::Bridge::maintain_websocket`]. Start from `Default` and change
/// what you need.
#[derive(Clone)]
pub struct BridgeOptions {
    /// Floor of the delay between attempts (default 2 s).
    pub min_backoff: Duration,
    /// Ceiling of the delay between attempts (default 30 s; a value below `min_backoff` counts
    /// as `min_backoff`).
    pub max_backoff: Duration,
    /// A connection up this long resets the failure count, so the next backoff starts from
    /// the floor again (default 30 s).
    pub stable_after: Duration,
    /// A ping every this long (default 20 s).
    pub ping_interval: Duration,
    /// No pong nor any other frame within this long after a ping: the connection counts as
    /// dropped (default 20 s).
    pub ping_timeout: Duration,
    /// Largest incoming message in bytes (default 16 MiB); a larger one ends the connection
    /// with an `error` reason (and a reconnect).
    pub max_message_size: usize,
    /// Bound of one send (default 10 s); a send that times out drops the connection.
    pub write_timeout: Duration,
    /// Bound of one attempt from dialing to the end of the handshake (default 30 s).
    pub handshake_timeout: Duration,
    /// Reconnect with a fresh credential `expiry_margin` before it expires (off by default).
    pub reconnect_before_expiry: bool,
    /// See `reconnect_before_expiry` (default 60 s). When the credential lives shorter than
    /// the margin, the reconnect happens at half its remaining lifetime (never sooner than
    /// `min_backoff`).
    pub expiry_margin: Duration,
    /// How many handshakes in a row may reject a freshly refreshed credential before the
    /// bridge gives up (default 3).
    pub max_fresh_rejections: u32,
    /// Extra handshake headers (the credential's own header wins on a clash).
    pub headers: Vec<(String, String)>,
    /// Waits the backoff delays (default [`TokioSleeper`]).
    pub sleeper: Arc<dyn Sleeper>,
}

impl Default for BridgeOptions {
    fn default() -> Self {
        Self {
            min_backoff: DEFAULT_MIN_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            stable_after: DEFAULT_STABLE_AFTER,
            ping_interval: DEFAULT_PING_INTERVAL,
            ping_timeout: DEFAULT_PING_TIMEOUT,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            reconnect_before_expiry: false,
            expiry_margin: DEFAULT_EXPIRY_MARGIN,
            max_fresh_rejections: DEFAULT_MAX_FRESH_REJECTIONS,
            headers: Vec::new(),
            sleeper: Arc::new(TokioSleeper),
        }
    }
}

impl fmt::Debug for BridgeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Extra headers may carry secrets of their own: names only.
        f.debug_struct("BridgeOptions")
            .field("min_backoff", &self.min_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("stable_after", &self.stable_after)
            .field("ping_interval", &self.ping_interval)
            .field("ping_timeout", &self.ping_timeout)
            .field("max_message_size", &self.max_message_size)
            .field("write_timeout", &self.write_timeout)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("reconnect_before_expiry", &self.reconnect_before_expiry)
            .field("expiry_margin", &self.expiry_margin)
            .field("max_fresh_rejections", &self.max_fresh_rejections)
            .field("headers", &crate::strategy::header_names(&self.headers))
            .finish_non_exhaustive()
    }
}

/// The largest and smallest delay after `failures` consecutive failures (0 for the first):
/// `[min, min(max, min * 2^failures)]`.
pub fn backoff_bounds(min: Duration, max: Duration, failures: u32) -> (Duration, Duration) {
    let ceiling = max.max(min);
    let grown = 2u32
        .checked_pow(failures)
        .and_then(|factor| min.checked_mul(factor))
        .unwrap_or(ceiling);
    (min, grown.min(ceiling))
}

/// The delay after `failures` consecutive failures: uniform in [`backoff_bounds`]
/// (exponential growth with full jitter above the floor).
pub fn backoff_delay(min: Duration, max: Duration, failures: u32) -> Duration {
    use rand::Rng;
    let (low, high) = backoff_bounds(min, max, failures);
    let span = (high - low).as_nanos().min(u128::from(u64::MAX)) as u64;
    low + Duration::from_nanos(rand::rng().random_range(0..=span))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_grow_exponentially_up_to_the_ceiling() {
        let (min, max) = (Duration::from_millis(20), Duration::from_millis(200));
        assert_eq!(backoff_bounds(min, max, 0), (min, min));
        assert_eq!(backoff_bounds(min, max, 1).1, Duration::from_millis(40));
        assert_eq!(backoff_bounds(min, max, 3).1, Duration::from_millis(160));
        assert_eq!(backoff_bounds(min, max, 4).1, max);
        assert_eq!(backoff_bounds(min, max, 200).1, max);
        // A ceiling below the floor counts as the floor.
        assert_eq!(backoff_bounds(min, Duration::ZERO, 5), (min, min));
    }

    #[test]
    fn delays_stay_within_the_bounds() {
        let (min, max) = (Duration::from_millis(20), Duration::from_millis(200));
        for failures in 0..10 {
            let (low, high) = backoff_bounds(min, max, failures);
            for _ in 0..50 {
                let d = backoff_delay(min, max, failures);
                assert!(d >= low && d <= high, "{d:?} outside [{low:?}, {high:?}]");
            }
        }
    }
}
