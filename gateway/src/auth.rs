//! Who is calling: API-key extraction, verification at the broker (with a short-lived cache)
//! and the caller's rate limit ([`crate::rate_limit`]), packaged as the [`Caller`] extractor
//! every `/v1` handler takes.
//!
//! Key verification cache: answers (valid → principal, or unknown/revoked) are remembered for
//! `GatewayConfig::key_cache_ttl` under the SHA-256 of the key, so the raw key is not kept as a
//! map key. **Staleness bound:** the broker pushes revocations ([`crate::revocation_feed`]), which
//! empty this cache at once; `key_cache_ttl` (default 10 s) bounds staleness only while that
//! stream is down. `Duration::ZERO` disables the cache. Concurrent first
//! uses of one key share one broker call. Broker failures are never cached.

use crate::Gateway;
use crate::broker::BrokerClient;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::middleware::RequestId;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, header};
use moka::future::Cache;
use nexus_protocol::SecretString;
use nexus_protocol::internal::Principal;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Longest credential looked at; anything longer is refused without asking the broker. API
/// keys are far shorter; agent session tokens (signed JWTs naming their scopes) need the room.
const MAX_KEY_LEN: usize = 8192;
const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// The authenticated caller of a `/v1` endpoint. Extracting it authenticates the request
/// (401 without a valid key) and applies the caller's rate limit (429).
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl FromRequestParts<Gateway> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, gateway: &Gateway) -> Result<Self, ApiError> {
        let SharedCaller(principal) = SharedCaller::from_request_parts(parts, gateway).await?;
        Ok(Caller(Arc::unwrap_or_clone(principal)))
    }
}

/// [`Caller`] with the principal shared as the key cache holds it: a warm request copies no
/// id (what `GET /v1/resolve` takes).
#[derive(Debug, Clone)]
pub struct SharedCaller(pub Arc<Principal>);

impl FromRequestParts<Gateway> for SharedCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, gateway: &Gateway) -> Result<Self, ApiError> {
        let key = api_key_str(&parts.headers)?;
        let principal = match gateway.inner.keys.cached(key) {
            Some(verdict) => verdict?,
            // Boxed: the broker call's future is large, and a warm request should not carry it.
            None => Box::pin(authenticate(parts, gateway, key)).await?,
        };
        crate::access_log::note_workspace(principal.workspace_id());
        gateway.inner.rate_limiter.check(&principal)?;
        Ok(SharedCaller(principal))
    }
}

/// A key the verdict cache does not answer for: an agent session (always asked of the broker),
/// or an API key not seen lately.
async fn authenticate(
    parts: &Parts,
    gateway: &Gateway,
    key: &str,
) -> Result<Arc<Principal>, ApiError> {
    let request_id = parts
        .extensions
        .get::<RequestId>()
        .map(RequestId::as_str)
        .unwrap_or_default();
    let key = SecretString::new(key);
    if crate::routes::sessions::is_session_token(&key) {
        // Agent sessions: checked at the broker on every request (never cached), so a
        // revocation takes effect at once. They may only resolve, and proxy (issue 16).
        let path = parts.uri.path();
        if path != crate::routes::paths::RESOLVE
            && !path.starts_with(nexus_protocol::proxy::PROXY_PREFIX)
        {
            return Err(ApiError::forbidden(
                "a session token may only be used with /v1/resolve, /v1/proxy and /v1/authorize",
            ));
        }
        crate::routes::sessions::verify_session(gateway, &key, request_id)
            .await
            .map(Arc::new)
    } else {
        let client = client_ip(parts, &gateway.inner.config.trusted_proxies);
        gateway.inner.keys.verify(&key, client, request_id).await
    }
}

/// The caller's address: the TCP peer, or what a trusted proxy forwarded
/// ([`nexus_protocol::forwarded`]). `None` when the server was not given the peer.
pub fn client_ip(
    parts: &Parts,
    trusted: &nexus_protocol::forwarded::TrustedProxies,
) -> Option<std::net::IpAddr> {
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()?
        .0
        .ip();
    let values = |name: &str| -> Vec<&str> {
        parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    };
    Some(trusted.client_ip(peer, &values("forwarded"), &values("x-forwarded-for")))
}

/// The key from `Authorization: Bearer <key>` or `X-API-Key: <key>`. Both may be sent only if
/// they agree; each may appear once.
pub fn api_key_from_headers(headers: &HeaderMap) -> Result<SecretString, ApiError> {
    api_key_str(headers).map(SecretString::new)
}

/// [`api_key_from_headers`], borrowed from the headers (no copy of the secret to forget).
pub(crate) fn api_key_str(headers: &HeaderMap) -> Result<&str, ApiError> {
    let bearer = single_header(headers, &header::AUTHORIZATION)?
        .map(bearer_token)
        .transpose()?;
    let plain = single_header(headers, &X_API_KEY)?
        .map(checked_key)
        .transpose()?;
    match (bearer, plain) {
        (None, None) => Err(ApiError::unauthorized(
            "missing API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`",
        )),
        (Some(key), None) | (None, Some(key)) => Ok(key),
        (Some(a), Some(b)) if a == b => Ok(a),
        (Some(_), Some(_)) => Err(ApiError::invalid_request(
            "`Authorization` and `X-API-Key` carry different keys; send one",
        )),
    }
}

fn single_header<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'a [u8]>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(ApiError::invalid_request(format!(
            "header `{name}` is repeated"
        )));
    }
    Ok(first.map(|v| v.as_bytes()))
}

fn bearer_token(value: &[u8]) -> Result<&str, ApiError> {
    let scheme_len = "bearer ".len();
    if value.len() <= scheme_len || !value[..scheme_len].eq_ignore_ascii_case(b"bearer ") {
        return Err(ApiError::unauthorized(
            "the `Authorization` header must be `Bearer <API key>`",
        ));
    }
    checked_key(&value[scheme_len..])
}

/// A key is printable ASCII without spaces; anything else cannot be a key we issued.
fn checked_key(value: &[u8]) -> Result<&str, ApiError> {
    let value = value.trim_ascii();
    let well_formed = !value.is_empty()
        && value.len() <= MAX_KEY_LEN
        && value.iter().all(|b| b.is_ascii_graphic());
    match std::str::from_utf8(value) {
        Ok(key) if well_formed => Ok(key),
        _ => Err(ApiError::unauthorized("malformed API key")),
    }
}

/// Verifies keys at the broker, remembering answers briefly (see the module docs).
pub struct KeyVerifier {
    broker: BrokerClient,
    /// `None` when the cache is disabled.
    cache: Option<Cache<[u8; 32], Verdict>>,
    ttl: Duration,
    /// Changes whenever the cache forgets its verdicts ([`KeyVerifier::flush`]), so what a
    /// connection remembered of a verdict ([`crate::caller_memo`]) is dropped with it.
    generation: AtomicU64,
    metrics: Arc<Metrics>,
}

/// The broker's answer on a key, as cached.
#[derive(Clone)]
pub(crate) struct Verdict {
    /// `None` for a key the broker refused.
    pub(crate) principal: Option<Arc<Principal>>,
    /// No later than when the cache forgets it (the cache's clock starts after the answer).
    pub(crate) expires: Instant,
}

impl KeyVerifier {
    pub fn new(broker: BrokerClient, ttl: Duration, capacity: u64, metrics: Arc<Metrics>) -> Self {
        let cache = (!ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build()
        });
        Self {
            broker,
            cache,
            ttl,
            generation: AtomicU64::new(0),
            metrics,
        }
    }

    /// Forgets every verdict (a key was revoked, or revocations may have been missed).
    pub fn flush(&self) {
        // Bumped on both sides of the invalidation: a request that read the generation before
        // its lookup remembers a verdict only under a generation that has changed once this
        // returns, whichever side of the invalidation its lookup fell on; and a request that
        // sees the cache emptied sees the generation changed too.
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(cache) = &self.cache {
            cache.invalidate_all();
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Which flush the cache is at: read it before [`KeyVerifier::peek`], and a verdict found
    /// is current while the generation stays the same (and until the verdict expires).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The cached verdict on `key`, if any: `Some(Ok)` for a valid key, `Some(Err)` (401) for
    /// a refused one, `None` when the broker must be asked ([`KeyVerifier::verify`]).
    pub fn cached(&self, key: &str) -> Option<Result<Arc<Principal>, ApiError>> {
        self.peek(key).map(|verdict| self.accept(verdict.principal))
    }

    /// The cached verdict on `key` with nothing counted; `None` when the cache does not answer
    /// at once (not cached, or the lookup would wait on the cache's upkeep).
    /// [`KeyVerifier::accept`] makes it the request's verdict.
    pub(crate) fn peek(&self, key: &str) -> Option<Verdict> {
        let cache = self.cache.as_ref()?;
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        crate::ready_now(cache.get(&digest))?
    }

    /// A verdict's principal ([`KeyVerifier::peek`], or remembered from one), taken: counted
    /// as a hit, 401 for a refused key.
    pub(crate) fn accept<P>(&self, principal: Option<P>) -> Result<P, ApiError> {
        self.metrics.key_cache(true);
        principal.ok_or_else(unknown_key)
    }

    /// `client`: who presented the key (recorded by the broker when it refuses the key). A
    /// refused key's verdict is cached too, so repeating one wrong key is recorded once per
    /// cache lifetime at most.
    pub async fn verify(
        &self,
        key: &SecretString,
        client: Option<std::net::IpAddr>,
        request_id: &str,
    ) -> Result<Arc<Principal>, ApiError> {
        let verdict = match &self.cache {
            None => self.ask_broker(key, client, request_id).await?,
            Some(cache) => {
                let digest: [u8; 32] = Sha256::digest(key.expose().as_bytes()).into();
                let entry = cache
                    .entry_by_ref(&digest)
                    .or_try_insert_with(async {
                        let principal = self.ask_broker(key, client, request_id).await?;
                        // Taken before the cache inserts it, so never after the cache's expiry.
                        let expires = Instant::now() + self.ttl;
                        Ok::<_, ApiError>(Verdict { principal, expires })
                    })
                    .await
                    .map_err(|err| ApiError::clone(&err))?;
                self.metrics.key_cache(!entry.is_fresh());
                entry.into_value().principal
            }
        };
        verdict.ok_or_else(unknown_key)
    }

    async fn ask_broker(
        &self,
        key: &SecretString,
        client: Option<std::net::IpAddr>,
        request_id: &str,
    ) -> Result<Option<Arc<Principal>>, ApiError> {
        let verified = self.broker.verify_api_key(key, client, request_id).await?;
        Ok(verified.map(|v| {
            Arc::new(Principal::ApiKey {
                workspace_id: v.workspace_id,
                key_id: v.key_id,
            })
        }))
    }
}

fn unknown_key() -> ApiError {
    ApiError::unauthorized("unknown or revoked API key")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use nexus_protocol::ErrorCode;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn reads_both_header_forms() {
        let key = api_key_from_headers(&headers(&[("authorization", "Bearer nxk_abc")])).unwrap();
        assert_eq!(key.expose(), "nxk_abc");
        let key = api_key_from_headers(&headers(&[("authorization", "bearer nxk_abc")])).unwrap();
        assert_eq!(key.expose(), "nxk_abc");
        let key = api_key_from_headers(&headers(&[("x-api-key", "nxk_def")])).unwrap();
        assert_eq!(key.expose(), "nxk_def");
        let both = headers(&[("authorization", "Bearer k"), ("x-api-key", "k")]);
        assert_eq!(api_key_from_headers(&both).unwrap().expose(), "k");
    }

    #[test]
    fn refuses_missing_malformed_conflicting_and_repeated() {
        let code = |h: HeaderMap| api_key_from_headers(&h).unwrap_err().body.error;
        assert_eq!(code(headers(&[])), ErrorCode::Unauthorized);
        assert_eq!(
            code(headers(&[("authorization", "Basic dXNlcjpwdw==")])),
            ErrorCode::Unauthorized
        );
        assert_eq!(
            code(headers(&[("authorization", "Bearer ")])),
            ErrorCode::Unauthorized
        );
        assert_eq!(
            code(headers(&[("x-api-key", "two words")])),
            ErrorCode::Unauthorized
        );
        assert_eq!(
            code(headers(&[
                ("authorization", "Bearer a"),
                ("x-api-key", "b")
            ])),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(headers(&[("x-api-key", "a"), ("x-api-key", "a")])),
            ErrorCode::InvalidRequest
        );
    }
}
