//! The authorization server's signing keys (its JWKS), fetched over HTTP and cached.
//!
//! - Fresh for the answer's `Cache-Control: max-age`, clamped to [60 s, 1 h] (5 min without one).
//! - A token naming an unknown `kid` forces one refetch (key rotation: the new key is published
//!   before its first use), at most once per [`MIN_REFETCH_INTERVAL`], so a stream of forged
//!   `kid`s cannot turn into a stream of requests to the authorization server.
//! - When a refetch fails, the keys already held keep serving for [`STALE_IF_ERROR`].
//! - One fetch at a time (single flight): concurrent misses wait for the same answer.
//!
//! Only ES256 keys (EC P-256) are kept: the only algorithm Nexus's authorization server signs
//! access tokens with.

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
pub const MIN_MAX_AGE: Duration = Duration::from_secs(60);
pub const MAX_MAX_AGE: Duration = Duration::from_secs(3600);
/// The shortest time between two fetches a token with an unknown `kid` can cause.
pub const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// How long held keys serve while the JWKS cannot be fetched.
pub const STALE_IF_ERROR: Duration = Duration::from_secs(3600);
/// A JWKS larger than this is refused (a handful of keys is a few KiB).
const MAX_JWKS_BYTES: usize = 64 * 1024;

/// Why no key could be had for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// The JWKS (fresh, or just refetched) has no usable key with that `kid`.
    UnknownKey,
    /// No JWKS could be fetched and none is held: nothing can be checked.
    Unavailable,
}

#[derive(Default)]
struct Held {
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched_at: Option<Instant>,
    fresh_for: Duration,
    /// Whether any fetch ever succeeded (so `keys` is a real, possibly empty, key set).
    loaded: bool,
}

impl Held {
    fn fresh(&self, now: Instant) -> bool {
        self.fetched_at
            .is_some_and(|at| self.loaded && now.duration_since(at) < self.fresh_for)
    }
}

pub(crate) struct JwksCache {
    url: String,
    http: reqwest::Client,
    held: RwLock<Held>,
    /// When an unknown `kid` last forced a fetch (the rate limit of forced fetches).
    last_forced: RwLock<Option<Instant>>,
    /// When a fetch last failed (no retry within [`MIN_REFETCH_INTERVAL`]).
    last_failure: RwLock<Option<Instant>>,
    /// Single flight: one fetch at a time.
    fetching: tokio::sync::Mutex<()>,
    /// Fetches attempted (for tests and stats).
    fetches: std::sync::atomic::AtomicU64,
}

impl JwksCache {
    pub fn new(url: String, http: reqwest::Client) -> Self {
        Self {
            url,
            http,
            held: RwLock::default(),
            last_forced: RwLock::default(),
            last_failure: RwLock::default(),
            fetching: tokio::sync::Mutex::new(()),
            fetches: Default::default(),
        }
    }

    pub fn fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The key `kid` names.
    pub async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, KeyError> {
        if let Some(key) = self.fresh_key(kid) {
            return Ok(key);
        }
        let _turn = self.fetching.lock().await;
        // Another caller may have fetched while this one waited.
        if let Some(key) = self.fresh_key(kid) {
            return Ok(key);
        }
        let recent = |at: &RwLock<Option<Instant>>| {
            at.read()
                .is_some_and(|t| t.elapsed() < MIN_REFETCH_INTERVAL)
        };
        // Fresh keys without this `kid`: a forced fetch (rotation), rate-limited. Stale keys:
        // a normal refresh, unless a fetch just failed.
        let forced = self.held.read().fresh(Instant::now());
        let rate_limited = forced && recent(&self.last_forced);
        let may_fetch = !(recent(&self.last_failure) || rate_limited);
        if may_fetch {
            if forced {
                *self.last_forced.write() = Some(Instant::now());
            }
            self.refetch().await;
        }
        let held = self.held.read();
        if !held.loaded {
            return Err(KeyError::Unavailable);
        }
        let usable = held
            .fetched_at
            .is_some_and(|at| at.elapsed() < held.fresh_for + STALE_IF_ERROR);
        match held.keys.get(kid) {
            Some(key) if usable => Ok(key.clone()),
            Some(_) => Err(KeyError::Unavailable),
            None => Err(KeyError::UnknownKey),
        }
    }

    fn fresh_key(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        let held = self.held.read();
        if held.fresh(Instant::now()) {
            held.keys.get(kid).cloned()
        } else {
            None
        }
    }

    /// Fetch the JWKS; on success replace the held keys, on failure keep them (stale-if-error).
    async fn refetch(&self) {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self.fetch().await {
            Ok((keys, fresh_for)) => {
                let mut held = self.held.write();
                *held = Held {
                    keys,
                    fetched_at: Some(Instant::now()),
                    fresh_for,
                    loaded: true,
                };
            }
            // The URL is configuration, not a secret; the error text is reqwest's or ours.
            Err(why) => {
                *self.last_failure.write() = Some(Instant::now());
                tracing::warn!(url = %self.url, %why, "cannot fetch the JWKS");
            }
        }
    }

    async fn fetch(&self) -> Result<(HashMap<String, Arc<DecodingKey>>, Duration), String> {
        let answer = self
            .http
            .get(&self.url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if !answer.status().is_success() {
            return Err(format!("status {}", answer.status().as_u16()));
        }
        let max_age = answer
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age);
        if answer
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err("the JWKS is too large".into());
        }
        let bytes = answer
            .bytes()
            .await
            .map_err(|e| format!("reading failed: {e}"))?;
        if bytes.len() > MAX_JWKS_BYTES {
            return Err("the JWKS is too large".into());
        }
        let set: JwkSet =
            serde_json::from_slice(&bytes).map_err(|_| "the JWKS is not a JWK set".to_owned())?;
        let keys = set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, Arc::new(es256_key(jwk)?))))
            .collect();
        let fresh_for = max_age
            .map(|s| Duration::from_secs(s).clamp(MIN_MAX_AGE, MAX_MAX_AGE))
            .unwrap_or(DEFAULT_MAX_AGE);
        Ok((keys, fresh_for))
    }
}

/// A P-256 key usable for ES256 signatures, or `None` for any other key.
fn es256_key(jwk: &Jwk) -> Option<DecodingKey> {
    let AlgorithmParameters::EllipticCurve(ec) = &jwk.algorithm else {
        return None;
    };
    if ec.curve != EllipticCurve::P256 {
        return None;
    }
    if jwk
        .common
        .key_algorithm
        .is_some_and(|alg| alg != KeyAlgorithm::ES256)
    {
        return None;
    }
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != jsonwebtoken::jwk::PublicKeyUse::Signature)
    {
        return None;
    }
    DecodingKey::from_jwk(jwk).ok()
}

/// `max-age` of a `Cache-Control` value (`no-store`/`no-cache` count as 0: the floor applies).
fn max_age(value: &str) -> Option<u64> {
    value.split(',').map(str::trim).find_map(|directive| {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(0);
        }
        lower
            .strip_prefix("max-age=")?
            .trim_matches('"')
            .parse()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_reads_the_directive() {
        assert_eq!(max_age("public, max-age=300"), Some(300));
        assert_eq!(max_age("no-store"), Some(0));
        assert_eq!(max_age("public"), None);
        assert_eq!(max_age("max-age=abc"), None);
    }
}
