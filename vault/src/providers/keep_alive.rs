//! Keep-alive: a provider's optional policy of refreshing idle connections before the provider
//! forgets their refresh tokens (some revoke a refresh token that went unused for a few days).
//!
//! In the providers document:
//! ```yaml
//! keep_alive:
//!   idle_after: 3d   # refresh a connection whose refresh token went unused this long
//!   jitter: 0.2      # optional: each connection's turn comes up to 20 % earlier (default 0.1)
//! ```
//! `idle_after` is a duration (`90m`, `72h`, `3d`, or seconds), between 1 hour and 90 days;
//! `jitter` is 0 to 0.5, so connections that were created together spread out instead of
//! refreshing in one burst. Only OAuth providers take a policy (a static credential has nothing
//! to refresh). The worker that applies it: `crate::connections::keep_alive`.

use serde::{Deserialize, Serialize};

/// Shortest `idle_after`: more often would spend a provider's rate limit on nothing.
pub const MIN_IDLE_AFTER_MS: u64 = 3_600_000;
/// Longest `idle_after` (no provider known keeps unused refresh tokens longer and still asks).
pub const MAX_IDLE_AFTER_MS: u64 = 90 * 86_400_000;
pub const MAX_JITTER: f64 = 0.5;
pub const DEFAULT_JITTER: f64 = 0.1;

/// `keep_alive` as an operator writes it; [`KeepAliveInput::check`] validates it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct KeepAliveInput {
    /// `3d`, `72h`, `90m`, `3600s`, or a number of seconds.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "3d"))]
    pub idle_after: DurationText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<f64>,
}

/// A duration as written: text (`3d`) or a number of seconds. Read by [`KeepAliveInput::check`],
/// so a bad value is a typed error naming the rule, not a parser message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DurationText {
    Seconds(u64),
    Text(String),
}

/// A validated policy, as the store keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeepAlive {
    /// A connection whose refresh token went unused this long is refreshed.
    pub idle_after_ms: u64,
    /// Fraction (0–0.5) by which each connection's turn may come earlier.
    pub jitter: f64,
}

/// Why a `keep_alive` policy was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KeepAliveError {
    #[error("`keep_alive.idle_after` must be a duration such as `3d`, `72h` or `90m`")]
    UnreadableIdleAfter,
    #[error("`keep_alive.idle_after` must be at least 1h")]
    IdleAfterTooShort,
    #[error("`keep_alive.idle_after` must be at most 90d")]
    IdleAfterTooLong,
    #[error("`keep_alive.jitter` must be between 0 and 0.5")]
    JitterOutOfRange,
    #[error(
        "`keep_alive` applies to oauth2 providers only (a static credential is never refreshed)"
    )]
    NotOAuth,
}

impl KeepAliveInput {
    pub fn check(&self, oauth2: bool) -> Result<KeepAlive, KeepAliveError> {
        if !oauth2 {
            return Err(KeepAliveError::NotOAuth);
        }
        let idle_after_ms = match &self.idle_after {
            DurationText::Seconds(s) => s.checked_mul(1000),
            DurationText::Text(t) => nexus_protocol::proxy::parse_duration_ms(t),
        }
        .ok_or(KeepAliveError::UnreadableIdleAfter)?;
        if idle_after_ms < MIN_IDLE_AFTER_MS {
            return Err(KeepAliveError::IdleAfterTooShort);
        }
        if idle_after_ms > MAX_IDLE_AFTER_MS {
            return Err(KeepAliveError::IdleAfterTooLong);
        }
        let jitter = self.jitter.unwrap_or(DEFAULT_JITTER);
        if !(0.0..=MAX_JITTER).contains(&jitter) {
            return Err(KeepAliveError::JitterOutOfRange);
        }
        Ok(KeepAlive {
            idle_after_ms,
            jitter,
        })
    }
}

impl KeepAlive {
    /// When a connection whose refresh token was last used at `last_used` is due: `idle_after`
    /// later, minus up to `jitter` of it. `spread` is a uniform draw in `[0, 1)`.
    pub fn due_at(&self, last_used: i64, spread: f64) -> i64 {
        let early = self.idle_after_ms as f64 * self.jitter * spread.clamp(0.0, 1.0);
        last_used.saturating_add(self.idle_after_ms as i64 - early as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: serde_json::Value) -> Result<KeepAlive, KeepAliveError> {
        serde_json::from_value::<KeepAliveInput>(v)
            .unwrap()
            .check(true)
    }

    #[test]
    fn durations_in_every_unit_and_defaults() {
        let day = 86_400_000;
        assert_eq!(
            check(json!({"idle_after": "3d"})),
            Ok(KeepAlive {
                idle_after_ms: 3 * day,
                jitter: DEFAULT_JITTER
            })
        );
        assert_eq!(
            check(json!({"idle_after": "72h", "jitter": 0.5}))
                .unwrap()
                .idle_after_ms,
            3 * day
        );
        assert_eq!(
            check(json!({"idle_after": 7200})).unwrap().idle_after_ms,
            7_200_000
        );
        assert_eq!(
            check(json!({"idle_after": "90m", "jitter": 0}))
                .unwrap()
                .jitter,
            0.0
        );
    }

    #[test]
    fn each_mistake_has_its_own_error() {
        use KeepAliveError as E;
        assert_eq!(
            check(json!({"idle_after": "soon"})),
            Err(E::UnreadableIdleAfter)
        );
        assert_eq!(
            check(json!({"idle_after": "3w"})),
            Err(E::UnreadableIdleAfter)
        );
        assert_eq!(
            check(json!({"idle_after": "59m"})),
            Err(E::IdleAfterTooShort)
        );
        assert_eq!(
            check(json!({"idle_after": "91d"})),
            Err(E::IdleAfterTooLong)
        );
        assert_eq!(
            check(json!({"idle_after": "3d", "jitter": 0.6})),
            Err(E::JitterOutOfRange)
        );
        assert_eq!(
            check(json!({"idle_after": "3d", "jitter": -0.1})),
            Err(E::JitterOutOfRange)
        );
        let input: KeepAliveInput = serde_json::from_value(json!({"idle_after": "3d"})).unwrap();
        assert_eq!(input.check(false), Err(E::NotOAuth));
        assert!(
            serde_json::from_value::<KeepAliveInput>(json!({"idle_afer": "3d"})).is_err(),
            "a misspelt field is not silently ignored"
        );
    }

    #[test]
    fn jitter_only_ever_brings_the_turn_earlier_and_by_at_most_its_share() {
        let p = KeepAlive {
            idle_after_ms: 1_000_000,
            jitter: 0.2,
        };
        assert_eq!(p.due_at(5_000, 0.0), 1_005_000);
        assert_eq!(p.due_at(5_000, 0.5), 905_000);
        assert!(p.due_at(5_000, 0.999_999) > 805_000 - 1);
        assert_eq!(
            p.due_at(5_000, 7.0),
            805_000,
            "a draw outside [0, 1) is clamped"
        );
    }
}
