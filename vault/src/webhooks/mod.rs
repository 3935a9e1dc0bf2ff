//! Webhooks (Standard Webhooks) about connections.
//!
//! - [`sign`]: `whsec_` secrets and the `webhook-signature` header;
//! - [`guard`]: which endpoint URLs and addresses may be called (no SSRF to private networks);
//! - [`endpoints`]: the admin operations (add, list, remove, rotate, deliveries, redeliver);
//! - [`dispatch`]: the dispatcher that sends the outbox, in the broker process.
//!
//! Events are written by `crate::events::emit`; SQL lives in `crate::store::webhooks`.

pub mod dispatch;
pub mod endpoints;
pub mod guard;
pub mod sign;

pub use dispatch::Dispatcher;
pub use endpoints::WebhookService;

use std::time::Duration;

/// How webhooks are delivered. `Default` is the production schedule.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// `false` = `NEXUS_WEBHOOK_DISPATCH=paused`: events queue up, nothing is sent.
    pub dispatch: bool,
    /// Wait after failed attempt n (the last step repeats), ±20 % jitter.
    pub backoff: Vec<Duration>,
    /// After this many attempts a delivery is dead (the dead letter).
    pub max_attempts: i64,
    /// A delivery older than this is dead after its next failure.
    pub max_age: Duration,
    /// How long a claim holds a delivery; another process re-claims it afterwards.
    pub lease: Duration,
    /// Timeout of one HTTP attempt (must be well below `lease`).
    pub timeout: Duration,
    /// How often the dispatcher looks for due deliveries without being woken.
    pub poll: Duration,
    /// `NEXUS_WEBHOOK_ALLOW_LOOPBACK=1`: `http://` loopback endpoints (development, tests).
    pub allow_loopback: bool,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        let s = Duration::from_secs;
        Self {
            dispatch: true,
            backoff: [5, 30, 120, 300, 900, 1800, 3600, 7200, 14400, 28800, 43200]
                .into_iter()
                .map(s)
                .collect(),
            max_attempts: 12,
            max_age: s(3 * 24 * 3600),
            lease: s(60),
            timeout: s(15),
            poll: s(2),
            allow_loopback: false,
        }
    }
}

/// `250ms`, `5s`, `2m`, `1h`: the durations of `NEXUS_WEBHOOK_*` settings.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = text.split_at(split);
    let n: u64 = n.parse().ok()?;
    Some(match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        _ => return None,
    })
}

/// `250ms,500ms,1s`: a backoff schedule (at least one step).
pub fn parse_schedule(text: &str) -> Option<Vec<Duration>> {
    let steps = text
        .split(',')
        .map(parse_duration)
        .collect::<Option<Vec<_>>>()?;
    (!steps.is_empty()).then_some(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_schedules_parse() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("5d"), None);
        assert_eq!(
            parse_schedule("1s,2s").unwrap(),
            [Duration::from_secs(1), Duration::from_secs(2)]
        );
        assert_eq!(parse_schedule("1s,,2s"), None);
    }
}
