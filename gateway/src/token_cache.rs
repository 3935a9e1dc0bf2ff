//! The access-token cache behind `GET /v1/resolve`.
//!
//! One entry per (workspace, provider), holding the broker's `ResolveResponse` (an access token
//! and its strategy; never a refresh token or client secret, which the broker never sends).
//! An entry lives until `token_refresh_margin` before the token expires, capped at
//! `token_cache_max_ttl` (which also bounds how long a revoked connection's token is still
//! handed out). Concurrent misses for one key share a single broker call (moka's
//! `or_try_insert_with`); failures are not cached.
//!
//! Bypasses: `force_refresh=true` always asks the broker (and stores the new token); a `min_ttl`
//! longer than the cached token's remaining life asks the broker with that `min_ttl`.

use crate::broker::BrokerClient;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::query::ResolveArgs;
use bytes::Bytes;
use moka::Expiry;
use moka::future::Cache;
use nexus_protocol::ResolveResponse;
use nexus_protocol::internal::{InternalResolveRequest, Principal};
use nexus_protocol::{ProviderName, WorkspaceId};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct TokenCache {
    cache: Option<Cache<TokenKey, Arc<CachedToken>>>,
    pub(crate) broker: BrokerClient,
    metrics: Arc<Metrics>,
    pub(crate) refresh_margin: Duration,
    pub(crate) max_ttl: Duration,
    /// Proxy mode's tokens (API keys only): the core's cache, so the single flight and the 401
    /// rule (`replace_rejected`) are the client policy itself (`crate::proxy::tokens`).
    pub(crate) proxy: nexus_sdk::TokenCache,
}

/// What a cached token is shared by. Every API key of a workspace gets the same credential, so
/// the key is (workspace, provider); a principal that narrows the credential (agent sessions
/// with scopes) must add what narrows it here.
///
/// Kept as one string, `workspace/provider` (`/` is in neither id's alphabet, so the pair is
/// unambiguous), so that a hit is looked up by a `&str` assembled on the stack ([`KeyStr`])
/// instead of two owned ids.
type TokenKey = String;

/// A [`TokenKey`] built without allocating when both ids are within their 63-byte rule.
enum KeyStr {
    Inline {
        buf: [u8; KeyStr::INLINE],
        len: usize,
    },
    Heap(String),
}

impl KeyStr {
    /// Two ids of at most 63 bytes and the separator.
    const INLINE: usize = 128;

    fn new(workspace_id: &str, provider_name: &str) -> Self {
        let len = workspace_id.len() + 1 + provider_name.len();
        if len > Self::INLINE {
            return Self::Heap(format!("{workspace_id}/{provider_name}"));
        }
        let mut buf = [0u8; Self::INLINE];
        buf[..workspace_id.len()].copy_from_slice(workspace_id.as_bytes());
        buf[workspace_id.len()] = b'/';
        buf[workspace_id.len() + 1..len].copy_from_slice(provider_name.as_bytes());
        Self::Inline { buf, len }
    }

    fn as_str(&self) -> &str {
        match self {
            // Copied from two `&str`s and an ASCII byte: always UTF-8.
            Self::Inline { buf, len } => std::str::from_utf8(&buf[..*len]).unwrap_or_default(),
            Self::Heap(key) => key,
        }
    }
}

/// A broker answer and when its token stops being valid.
struct CachedToken {
    response: ResolveResponse,
    /// The last JSON rendering and the `expires_in` it carries. `expires_in` changes once a
    /// second, so warm requests within that second share these bytes instead of cloning and
    /// serializing the response again.
    rendered: Mutex<Option<(Option<i64>, Bytes)>>,
    /// `None` for credentials that do not expire (API keys, basic auth).
    expires_at: Option<Instant>,
    /// How long the cache may keep this entry (see [`TokenCache::lifetime`]).
    cache_for: Duration,
}

impl CachedToken {
    fn remaining(&self, now: Instant) -> Option<Duration> {
        self.expires_at.map(|at| at.saturating_duration_since(now))
    }

    fn expires_in(&self, now: Instant) -> Option<i64> {
        match self.remaining(now) {
            Some(remaining) => i64::try_from(remaining.as_secs()).ok(),
            None => self.response.expires_in,
        }
    }

    /// The response as of `now`: `expires_in` counts from this response, not the broker's.
    fn render(&self, now: Instant) -> ResolveResponse {
        let mut response = self.response.clone();
        response.expires_in = self.expires_in(now);
        // The proxy settings are for the gateway's proxy mode, not for clients.
        response.proxy = None;
        response
    }

    /// [`CachedToken::render`] as JSON bytes, reusing the previous rendering when it is current.
    fn body(&self, now: Instant) -> Result<Bytes, ApiError> {
        let expires_in = self.expires_in(now);
        let mut rendered = self.rendered.lock();
        if let Some((at, bytes)) = rendered.as_ref()
            && *at == expires_in
        {
            return Ok(bytes.clone());
        }
        let bytes = Bytes::from(serde_json::to_vec(&self.render(now)).map_err(|_| {
            ApiError::new(
                nexus_protocol::ErrorCode::InternalError,
                "could not encode the credential",
            )
        })?);
        *rendered = Some((expires_in, bytes.clone()));
        Ok(bytes)
    }
}

/// A cached token found by [`TokenCache::peek`], to be answered by [`TokenCache::serve`].
pub(crate) struct Hit {
    token: Arc<CachedToken>,
    now: Instant,
}

/// Entries expire after their own `cache_for`.
struct PerTokenExpiry;

impl Expiry<TokenKey, Arc<CachedToken>> for PerTokenExpiry {
    fn expire_after_create(
        &self,
        _: &TokenKey,
        value: &Arc<CachedToken>,
        _: Instant,
    ) -> Option<Duration> {
        Some(value.cache_for)
    }

    fn expire_after_update(
        &self,
        _: &TokenKey,
        value: &Arc<CachedToken>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.cache_for)
    }
}

impl TokenCache {
    /// `max_ttl == ZERO` disables caching (every resolve asks the broker).
    pub fn new(
        broker: BrokerClient,
        capacity: u64,
        refresh_margin: Duration,
        max_ttl: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        let cache = (!max_ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(capacity)
                .expire_after(PerTokenExpiry)
                .build()
        });
        Self {
            cache,
            broker,
            metrics,
            refresh_margin,
            max_ttl,
            proxy: nexus_sdk::TokenCache::with_safety_buffer(refresh_margin),
        }
    }

    /// Forgets every cached token (a connection was revoked, or revocations may have been missed).
    pub fn flush(&self) {
        if let Some(cache) = &self.cache {
            cache.invalidate_all();
        }
        self.proxy.clear();
    }

    /// Forgets the cached token of one (workspace, provider), in both caches: after a refresh
    /// the old access token may already be dead at the provider (some revoke it on refresh), and
    /// a resolve must not keep handing it out until its cache time ends.
    pub async fn forget(&self, workspace_id: &str, provider_name: &str) {
        if let Some(cache) = &self.cache
            && let (Ok(workspace_id), Ok(provider_name)) = (
                WorkspaceId::new(workspace_id),
                ProviderName::new(provider_name),
            )
        {
            cache
                .invalidate(KeyStr::new(workspace_id.as_str(), provider_name.as_str()).as_str())
                .await;
        }
        self.proxy.invalidate(workspace_id, provider_name);
    }

    /// The token for `args` as JSON: from the cache when it holds one that lives long enough,
    /// else from the broker (one call shared by concurrent misses).
    pub async fn resolve(
        &self,
        principal: &Principal,
        args: &ResolveArgs<'_>,
        request_id: &str,
    ) -> Result<Bytes, ApiError> {
        if let Some(hit) = self.peek(args, Instant::now()) {
            return self.serve(hit);
        }
        // Boxed: the broker call's future is large, and a hit should not carry (and move) it.
        Box::pin(self.resolve_slow(principal, args, request_id)).await
    }

    /// A cached token for `args` that lives long enough as of `now`, with nothing counted yet;
    /// `None` when only [`TokenCache::resolve`]'s slow path can answer (cache off, force_refresh,
    /// not cached, too short-lived, or the lookup would wait on the cache's upkeep).
    pub(crate) fn peek(&self, args: &ResolveArgs<'_>, now: Instant) -> Option<Hit> {
        let cache = self.cache.as_ref().filter(|_| !args.force_refresh)?;
        let key = KeyStr::new(&args.workspace_id, &args.provider_name);
        let token = crate::ready_now(cache.get(key.as_str()))??;
        satisfies_min_ttl(&token, args.min_ttl, now).then_some(Hit { token, now })
    }

    /// A [`TokenCache::peek`] hit, taken: counted, and rendered as of its `now`.
    pub(crate) fn serve(&self, hit: Hit) -> Result<Bytes, ApiError> {
        self.metrics.token_cache(true);
        hit.token.body(hit.now)
    }

    async fn resolve_slow(
        &self,
        principal: &Principal,
        args: &ResolveArgs<'_>,
        request_id: &str,
    ) -> Result<Bytes, ApiError> {
        let Some(cache) = &self.cache else {
            return self
                .fetch(principal, args, args.force_refresh, request_id)
                .await
                .and_then(|t| t.body(Instant::now()));
        };
        let key = KeyStr::new(&args.workspace_id, &args.provider_name);
        if args.force_refresh {
            self.metrics.token_cache(false);
            return self
                .fetch_and_store(cache, key, principal, args, true, request_id)
                .await;
        }

        let entry = cache
            .entry_by_ref(key.as_str())
            .or_try_insert_with(self.fetch(principal, args, false, request_id))
            .await
            .map_err(|err| ApiError::clone(&err))?;
        let fresh = entry.is_fresh();
        let token = entry.into_value();
        let now = Instant::now();
        if !fresh && !satisfies_min_ttl(&token, args.min_ttl, now) {
            // The cached token dies too soon for this caller: ask the broker, which refreshes.
            self.metrics.token_cache(false);
            return self
                .fetch_and_store(cache, key, principal, args, false, request_id)
                .await;
        }
        self.metrics.token_cache(!fresh);
        token.body(now)
    }

    async fn fetch_and_store(
        &self,
        cache: &Cache<TokenKey, Arc<CachedToken>>,
        key: KeyStr,
        principal: &Principal,
        params: &ResolveArgs<'_>,
        force_refresh: bool,
        request_id: &str,
    ) -> Result<Bytes, ApiError> {
        let token = self
            .fetch(principal, params, force_refresh, request_id)
            .await?;
        let response = token.body(Instant::now())?;
        cache.insert(key.as_str().to_owned(), token).await;
        Ok(response)
    }

    async fn fetch(
        &self,
        principal: &Principal,
        params: &ResolveArgs<'_>,
        force_refresh: bool,
        request_id: &str,
    ) -> Result<Arc<CachedToken>, ApiError> {
        let request = InternalResolveRequest {
            principal: principal.clone(),
            workspace_id: params.workspace_id.to_string(),
            provider_name: params.provider_name.to_string(),
            min_ttl: params.min_ttl,
            force_refresh,
            request_id: Some(request_id.to_owned()).filter(|id| !id.is_empty()),
            proxy_call: None,
        };
        let response = self.broker.resolve(&request).await?;
        let now = Instant::now();
        let lifetime = token_lifetime(&response);
        // `checked_add`: a nonsensical `expires_in` (centuries) must not overflow the clock; such a
        // token is treated as non-expiring (still capped by `max_ttl` in the cache).
        let expires_at = lifetime.and_then(|life| now.checked_add(life));
        let cache_for = self.cache_duration(lifetime);
        Ok(Arc::new(CachedToken {
            rendered: Mutex::new(None),
            response,
            expires_at,
            cache_for,
        }))
    }

    /// How long to keep a token whose remaining life is `lifetime`: until `refresh_margin`
    /// before it expires, and never longer than `max_ttl`.
    fn cache_duration(&self, lifetime: Option<Duration>) -> Duration {
        match lifetime {
            Some(life) => life.saturating_sub(self.refresh_margin).min(self.max_ttl),
            None => self.max_ttl,
        }
    }
}

fn satisfies_min_ttl(token: &CachedToken, min_ttl: Option<u64>, now: Instant) -> bool {
    match (min_ttl, token.remaining(now)) {
        (Some(min), Some(remaining)) => remaining >= Duration::from_secs(min),
        _ => true,
    }
}

/// The token's remaining life from the broker's answer: `expires_in` when given, else
/// `expires_at` against our clock, else `None` (does not expire).
fn token_lifetime(response: &ResolveResponse) -> Option<Duration> {
    if let Some(secs) = response.expires_in {
        return Some(Duration::from_secs(u64::try_from(secs).unwrap_or(0)));
    }
    let at = chrono::DateTime::parse_from_rfc3339(response.expires_at.as_deref()?).ok()?;
    let left = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(left.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_protocol::StrategySpec;

    fn response(expires_in: Option<i64>, expires_at: Option<&str>) -> ResolveResponse {
        ResolveResponse {
            access_token: None,
            token_type: "Bearer".into(),
            expires_at: expires_at.map(str::to_owned),
            expires_in,
            strategy: StrategySpec::new("oauth2"),
            credentials: Default::default(),
            scopes: vec![],
            scope: None,
            provider: None,
            api_base_url: None,
            scope_enforcement: None,
            connection_id: None,
            proxy: None,
        }
    }

    #[test]
    fn a_key_is_workspace_slash_provider_inline_or_not() {
        let key = KeyStr::new("acme", "git-hub");
        assert!(matches!(key, KeyStr::Inline { .. }));
        assert_eq!(key.as_str(), "acme/git-hub");
        let longest = "a".repeat(63);
        assert_eq!(
            KeyStr::new(&longest, &longest).as_str(),
            format!("{longest}/{longest}")
        );
        let over = "b".repeat(100);
        let key = KeyStr::new(&over, &over);
        assert!(matches!(key, KeyStr::Heap(_)));
        assert_eq!(key.as_str(), format!("{over}/{over}"));
    }

    #[test]
    fn lifetime_prefers_expires_in_then_expires_at() {
        assert_eq!(
            token_lifetime(&response(Some(300), None)),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            token_lifetime(&response(Some(-5), None)),
            Some(Duration::ZERO)
        );
        assert_eq!(
            token_lifetime(&response(None, Some("2000-01-01T00:00:00Z"))),
            Some(Duration::ZERO)
        );
        let later = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
        let life = token_lifetime(&response(None, Some(&later))).unwrap();
        assert!(life > Duration::from_secs(7000) && life <= Duration::from_secs(7200));
        assert_eq!(token_lifetime(&response(None, None)), None);
    }

    #[test]
    fn min_ttl_is_checked_against_remaining_life() {
        let now = Instant::now();
        let token = CachedToken {
            response: response(Some(100), None),
            rendered: Mutex::new(None),
            expires_at: Some(now + Duration::from_secs(100)),
            cache_for: Duration::from_secs(40),
        };
        assert!(satisfies_min_ttl(&token, None, now));
        assert!(satisfies_min_ttl(&token, Some(100), now));
        assert!(!satisfies_min_ttl(&token, Some(101), now));
        assert_eq!(
            token.render(now + Duration::from_secs(30)).expires_in,
            Some(70)
        );
        let first = token.body(now + Duration::from_millis(500)).unwrap();
        let again = token.body(now + Duration::from_millis(600)).unwrap();
        assert_eq!(
            first.as_ptr(),
            again.as_ptr(),
            "same second: the rendering is reused"
        );
        let later = token.body(now + Duration::from_secs(30)).unwrap();
        let parsed: serde_json::Value = serde_json::from_slice(&later).unwrap();
        assert_eq!(parsed["expires_in"], 70);
        let forever = CachedToken {
            expires_at: None,
            ..token
        };
        assert!(satisfies_min_ttl(&forever, Some(1_000_000), now));
    }
}
