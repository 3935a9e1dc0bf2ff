//! The throttle rule of proxy mode (design 16 §7): an upstream 429/503 is the caller's answer,
//! unless the provider opted into `proxy.retry_on_throttle` and the upstream asked for a short
//! enough wait. Waiting requests are capped gateway-wide (`NEXUS_PROXY_MAX_RETRY_WAITERS`), so a
//! throttled upstream can never pile requests up inside the gateway: when the cap is reached the
//! answer passes through instead.

use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, Utc};
use nexus_protocol::proxy::ThrottleRetry;
use std::time::Duration;

/// True for the statuses that carry a `Retry-After` worth waiting out.
pub fn is_throttle(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
}

/// `Retry-After` as a wait from `now`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3). A date
/// in the past is no wait; anything unreadable is `None` (never retried on a guess).
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// How long to wait before sending again, or `None` to pass the answer through: only a 429/503
/// whose `Retry-After` is at most the provider's `max_delay`. The caller still has to check the
/// attempt count, that the body is replayable, and take a waiter permit.
pub fn wait_before_retry(
    policy: &ThrottleRetry,
    status: StatusCode,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Option<Duration> {
    if !is_throttle(status) {
        return None;
    }
    let cap = Duration::from_millis(u64::try_from(policy.max_delay_ms).ok()?);
    retry_after(headers, now).filter(|wait| *wait <= cap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(retry_after: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::RETRY_AFTER,
            HeaderValue::from_str(retry_after).unwrap(),
        );
        h
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-05T23:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(
            retry_after(&headers("1"), now()),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            retry_after(&headers("Sat, 05 Dec 2026 23:00:02 GMT"), now()),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_after(&headers("Sat, 05 Dec 2026 22:59:00 GMT"), now()),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        for unreadable in ["-1", "1.5", "soon", ""] {
            assert_eq!(
                retry_after(&headers(unreadable), now()),
                None,
                "{unreadable}"
            );
        }
        assert_eq!(retry_after(&HeaderMap::new(), now()), None);
    }

    #[test]
    fn only_a_short_throttle_answer_is_waited_out() {
        let policy = ThrottleRetry {
            max_attempts: 1,
            max_delay_ms: 2_000,
        };
        let wait = |status: u16, value: &str| {
            let status = StatusCode::from_u16(status).unwrap();
            wait_before_retry(&policy, status, &headers(value), now())
        };
        assert_eq!(wait(429, "1"), Some(Duration::from_secs(1)));
        assert_eq!(wait(503, "2"), Some(Duration::from_secs(2)));
        assert_eq!(wait(429, "3"), None, "above max_delay");
        assert_eq!(wait(429, "120"), None);
        assert_eq!(wait(500, "1"), None, "no retry on any other status");
        assert_eq!(wait(200, "1"), None);
        let no_header = wait_before_retry(
            &policy,
            StatusCode::TOO_MANY_REQUESTS,
            &HeaderMap::new(),
            now(),
        );
        assert_eq!(no_header, None, "no Retry-After: passed through");
    }
}
