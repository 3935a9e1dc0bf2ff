//! Rate limits by *who* calls, not by which token they hold.
//!
//! - [`RateLimiter`]: requests per second per API key and per **agent** (all sessions of one
//!   agent share one budget, so minting more sessions buys no extra rate).
//! - [`SessionCreationLimiter`]: `POST /v1/sessions` per presented credential (an agent
//!   credential belongs to exactly one agent), checked before the broker is asked, so a flood
//!   of session creations writes no rows.
//!
//! Both use governor's GCRA (a sustained rate plus a burst) and answer 429 `rate_limited` with
//! `Retry-After`.

use crate::error::ApiError;
use governor::{DefaultKeyedRateLimiter, Quota};
use nexus_protocol::SecretString;
use nexus_protocol::internal::Principal;
use sha2::{Digest, Sha256};
use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Above this many tracked callers, entries whose budget is full again are dropped (they carry
/// no information), so unknown credentials cannot grow the limiter without bound.
const RETAIN_ABOVE: usize = 10_000;
/// How often (in checks) the size is looked at: `len()` read-locks every shard of the map,
/// which per request was a measurable share of the gateway's warm path. Between two looks at
/// most this many new callers can be added, so the bound stays `RETAIN_ABOVE + RETAIN_EVERY`.
const RETAIN_EVERY: u32 = 256;

/// Who a request is charged to: the principal's API key, or its agent (sessions of one agent
/// share a budget). Holds the (shared) principal itself, so charging a request copies no id;
/// equality and hash are those of the budget identity, not of the whole principal.
#[derive(Debug, Clone)]
struct Budget(Arc<Principal>);

#[derive(PartialEq, Eq, Hash)]
enum BudgetId<'a> {
    ApiKey(&'a str),
    /// Agent ids are unique per workspace only.
    Agent {
        workspace_id: &'a str,
        agent_id: &'a str,
    },
}

impl Budget {
    fn id(&self) -> BudgetId<'_> {
        match &*self.0 {
            Principal::ApiKey { key_id, .. } => BudgetId::ApiKey(key_id),
            Principal::Session {
                workspace_id,
                agent_id,
                ..
            } => BudgetId::Agent {
                workspace_id,
                agent_id,
            },
        }
    }
}

impl PartialEq for Budget {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl Eq for Budget {}

impl Hash for Budget {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id().hash(state);
    }
}

/// Requests per second per API key and per agent.
pub struct RateLimiter {
    limiter: Option<DefaultKeyedRateLimiter<Budget>>,
    checks: AtomicU32,
}

impl RateLimiter {
    /// `per_second == 0` disables the limit.
    pub fn new(per_second: u32, burst: u32) -> Self {
        let quota = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(burst.max(per_second)).unwrap_or(rate);
            Quota::per_second(rate).allow_burst(burst)
        });
        Self {
            limiter: quota.map(DefaultKeyedRateLimiter::keyed),
            checks: AtomicU32::new(0),
        }
    }

    pub fn check(&self, principal: &Arc<Principal>) -> Result<(), ApiError> {
        match &self.limiter {
            None => Ok(()),
            Some(limiter) => charge(
                limiter,
                &self.checks,
                &Budget(principal.clone()),
                "this caller",
            ),
        }
    }
}

/// `POST /v1/sessions` per credential (see the module docs).
pub struct SessionCreationLimiter {
    limiter: Option<DefaultKeyedRateLimiter<[u8; 32]>>,
    checks: AtomicU32,
}

impl SessionCreationLimiter {
    /// `per_minute == 0` disables the limit.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let quota = NonZeroU32::new(per_minute).and_then(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(rate);
            Quota::with_period(Duration::from_secs(60) / rate.get()).map(|q| q.allow_burst(burst))
        });
        Self {
            limiter: quota.map(DefaultKeyedRateLimiter::keyed),
            checks: AtomicU32::new(0),
        }
    }

    /// Charged under the SHA-256 of the credential, so the raw secret is not kept as a key.
    pub fn check(&self, credential: &SecretString) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        let digest: [u8; 32] = Sha256::digest(credential.expose().as_bytes()).into();
        charge(
            limiter,
            &self.checks,
            &digest,
            "session creation for this agent",
        )
    }
}

fn charge<K: Clone + Hash + Eq>(
    limiter: &DefaultKeyedRateLimiter<K>,
    checks: &AtomicU32,
    key: &K,
    what: &str,
) -> Result<(), ApiError> {
    if checks
        .fetch_add(1, Ordering::Relaxed)
        .is_multiple_of(RETAIN_EVERY)
        && limiter.len() > RETAIN_ABOVE
    {
        limiter.retain_recent();
    }
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(limiter.clock()));
        // Retry-After is whole seconds; round up so a client that obeys it is let through.
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        ApiError::rate_limited(secs.max(1), what)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(agent: &str, session: &str) -> Arc<Principal> {
        Arc::new(Principal::Session {
            workspace_id: "w".into(),
            session_id: session.into(),
            agent_id: agent.into(),
            scopes: vec![],
            user: None,
        })
    }

    #[test]
    fn refuses_beyond_the_burst_with_a_retry_after_per_key() {
        let limiter = RateLimiter::new(1, 2);
        let p = Arc::new(Principal::ApiKey {
            workspace_id: "w".into(),
            key_id: "k1".into(),
        });
        let other = Arc::new(Principal::ApiKey {
            workspace_id: "w".into(),
            key_id: "k2".into(),
        });
        assert!(limiter.check(&p).is_ok());
        assert!(limiter.check(&p).is_ok());
        let err = limiter.check(&p).unwrap_err();
        assert_eq!(err.status.as_u16(), 429);
        assert_eq!(err.body.retry_after, Some(1));
        assert!(limiter.check(&other).is_ok(), "limits are per key");
        assert!(
            RateLimiter::new(0, 0).check(&p).is_ok(),
            "0 disables the limit"
        );
    }

    #[test]
    fn sessions_of_one_agent_share_one_budget() {
        let limiter = RateLimiter::new(1, 2);
        assert!(limiter.check(&session("a1", "s1")).is_ok());
        assert!(limiter.check(&session("a1", "s2")).is_ok());
        assert!(limiter.check(&session("a1", "s3")).is_err());
        assert!(limiter.check(&session("a2", "s4")).is_ok());
    }

    #[test]
    fn session_creation_is_limited_per_credential() {
        let limiter = SessionCreationLimiter::new(1, 2);
        let a = SecretString::new("nxa_one");
        let b = SecretString::new("nxa_two");
        assert!(limiter.check(&a).is_ok());
        assert!(limiter.check(&a).is_ok());
        let err = limiter.check(&a).unwrap_err();
        assert_eq!(err.status.as_u16(), 429);
        assert!(err.body.retry_after.is_some_and(|s| s > 1));
        assert!(limiter.check(&b).is_ok());
        assert!(SessionCreationLimiter::new(0, 0).check(&a).is_ok());
    }
}
