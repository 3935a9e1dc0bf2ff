//! How long a resolved credential stays valid.
//!
//! The gateway sends `expires_in` (seconds from the response) and `expires_at` (RFC 3339; older
//! servers send epoch seconds or epoch milliseconds). `expires_in` wins because it is immune to
//! clock skew between the gateway and this machine; `expires_at` is the fallback; a credential
//! with neither (a static API key) is cached for [`DEFAULT_TTL`].

use chrono::{DateTime, Utc};
use nexus_protocol::ResolveResponse;
use std::time::Duration;

/// How long a credential without any expiry information is cached.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// The longest lifetime trusted (10 × 365 days): larger values are capped, so that clock
/// arithmetic can never overflow.
pub const MAX_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Epoch values at or above this are milliseconds (1e11 seconds is the year 5138).
const EPOCH_MILLIS_THRESHOLD: i64 = 100_000_000_000;

/// The lifetime of one credential, measured from the moment it was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    /// Time left from `now` (zero when already expired). [`DEFAULT_TTL`] when `expires_at` is
    /// `None`.
    pub ttl: Duration,
    /// The wall-clock expiry, when the credential has one.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Compute the lifetime of `response` received at `now`.
pub fn lifetime(response: &ResolveResponse, now: DateTime<Utc>) -> Lifetime {
    if let Some(seconds) = response.expires_in {
        let ttl = Duration::from_secs(u64::try_from(seconds).unwrap_or(0)).min(MAX_TTL);
        let expires_at = chrono::Duration::from_std(ttl)
            .ok()
            .and_then(|d| now.checked_add_signed(d));
        return Lifetime { ttl, expires_at };
    }
    match response.expires_at.as_deref().map(parse_timestamp) {
        Some(Some(at)) => {
            let ttl = (at - now).to_std().unwrap_or(Duration::ZERO).min(MAX_TTL);
            Lifetime {
                ttl,
                expires_at: Some(at),
            }
        }
        Some(None) => {
            tracing::warn!("resolve response has an unparsable expires_at; caching for 300 s");
            Lifetime {
                ttl: DEFAULT_TTL,
                expires_at: None,
            }
        }
        None => Lifetime {
            ttl: DEFAULT_TTL,
            expires_at: None,
        },
    }
}

/// RFC 3339, or an integer of epoch seconds / epoch milliseconds.
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.to_utc());
    }
    let number: i64 = text.parse().ok()?;
    if number.abs() >= EPOCH_MILLIS_THRESHOLD {
        DateTime::from_timestamp_millis(number)
    } else {
        DateTime::from_timestamp(number, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_three_forms() {
        let want = parse_timestamp("2026-11-24T13:00:00Z").unwrap();
        assert_eq!(parse_timestamp(&want.timestamp().to_string()), Some(want));
        assert_eq!(
            parse_timestamp(&want.timestamp_millis().to_string()),
            Some(want)
        );
        assert_eq!(parse_timestamp("2026-11-24T14:00:00+01:00"), Some(want));
        assert_eq!(parse_timestamp("soon"), None);
    }
}
