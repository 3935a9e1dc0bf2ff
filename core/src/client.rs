//! [`NexusClient`]: the HTTP client of the gateway's public API (protocol v1).
//!
//! One pooled reqwest client (rustls) per `NexusClient`; cloning shares it. Every call sends
//! `Authorization: Bearer <api key>`, retries according to the [`RetryPolicy`], and turns any
//! non-2xx answer into a typed [`NexusError`].

use crate::cache::TokenCache;
use crate::error::{NexusError, Result};
use crate::retry::{RetryPolicy, parse_retry_after};
use crate::token::CachedToken;
use bytes::Bytes;
use chrono::Utc;
use nexus_protocol::{
    CheckConnectionResponse, ErrorBody, RequestConnectionInput, RequestConnectionResponse,
    ResolveResponse, SecretString, paths,
};
use percent_encoding::utf8_percent_encode;
use reqwest::header::{self, HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How to reach the gateway.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Base URL of the gateway (`https://nexus.example.com`, or with a path prefix).
    pub gateway_url: String,
    /// The workspace API key, sent as `Authorization: Bearer <key>`.
    pub api_key: SecretString,
    /// Whole-request timeout (connect + send + read the body) for every call.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub user_agent: String,
    /// Largest answer a call that reads the whole body keeps in memory (`proxy_fetch`; default
    /// [`DEFAULT_MAX_RESPONSE_BYTES`]). A larger one is refused with `invalid_response`; stream
    /// big bodies through the binding's own HTTP client (`proxy_prepare`) instead.
    pub max_response_bytes: u64,
}

/// Default [`ClientOptions::max_response_bytes`]: 64 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 << 20;

impl ClientOptions {
    /// Options with the defaults: 30 s timeout, [`RetryPolicy::default`], `nexus-sdk-rust/<v>`.
    pub fn new(gateway_url: impl Into<String>, api_key: impl Into<SecretString>) -> Self {
        Self {
            gateway_url: gateway_url.into(),
            api_key: api_key.into(),
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            user_agent: concat!("nexus-sdk-rust/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// Options of one resolve call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResolveOptions {
    /// The credential must stay valid at least this many seconds.
    pub min_ttl: Option<u64>,
    /// Skip every cache and refresh at the provider.
    pub force_refresh: bool,
}

/// Whether a call may be repeated after the gateway answered 502/503/504.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// Safe to repeat: retried on connect errors, 429 and 502/503/504.
    Idempotent,
    /// Creates something: retried only when the request provably did not arrive (connect
    /// errors) or was refused before processing (429).
    CreatesResource,
}

pub(crate) struct Inner {
    http: reqwest::Client,
    /// The gateway base URL without a trailing slash.
    base: String,
    /// `Bearer <key>`, marked sensitive so reqwest never prints it.
    authorization: HeaderValue,
    retry: RetryPolicy,
    timeout: Duration,
    max_response_bytes: u64,
    /// The active agent session, if any (see [`crate::session`]).
    session: crate::session::SessionSlot,
    user_agent: String,
    /// The client of `authenticated_fetch`, built on first use (see [`crate::upstream`]).
    upstream: std::sync::OnceLock<std::result::Result<crate::upstream::UpstreamClient, String>>,
}

/// A client of the Nexus gateway. Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct NexusClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for NexusClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NexusClient")
            .field("gateway_url", &self.inner.base)
            .finish_non_exhaustive()
    }
}

impl NexusClient {
    /// Build a client. Fails with `invalid_request` on an unusable URL, API key or user agent.
    pub fn new(options: ClientOptions) -> Result<Self> {
        let base = options.gateway_url.trim_end_matches('/').to_owned();
        let parsed = url::Url::parse(&base).map_err(|e| {
            NexusError::InvalidRequest(format!("gateway_url cannot be parsed ({e})"))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
            return Err(NexusError::InvalidRequest(
                "gateway_url must be an http(s) URL without a query".into(),
            ));
        }
        let key = options.api_key.expose();
        if key.is_empty() || crate::strategy::has_control_char(key) {
            return Err(NexusError::InvalidRequest(
                "api_key must be non-empty and free of control characters".into(),
            ));
        }
        let mut authorization = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
            NexusError::InvalidRequest("api_key is not a valid header value".into())
        })?;
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder()
            // HTTP/1 names go out in Title-Case (`Authorization`), not hyper's lower case: a
            // gateway or proxy that reads headers from a case-sensitive map finds them. reqwest
            // can write no other case; `authenticated_fetch` sends upstream requests through
            // `crate::upstream`, which writes names as spelled (`X-API-Key`).
            .http1_title_case_headers()
            .user_agent(options.user_agent.clone())
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| {
                NexusError::InvalidRequest(format!("cannot build the HTTP client: {e}"))
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base,
                authorization,
                retry: options.retry,
                timeout: options.timeout,
                max_response_bytes: options.max_response_bytes,
                session: Default::default(),
                user_agent: options.user_agent,
                upstream: Default::default(),
            }),
        })
    }

    /// The client upstream requests of `authenticated_fetch` go through (built once).
    pub(crate) fn upstream(&self) -> Result<&crate::upstream::UpstreamClient> {
        self.inner
            .upstream
            .get_or_init(|| {
                crate::upstream::UpstreamClient::new(&self.inner.user_agent, self.inner.timeout)
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| NexusError::InvalidRequest(e.clone()))
    }

    /// The pooled HTTP client (also used for upstream requests).
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The gateway base URL (no trailing slash).
    pub fn gateway_url(&self) -> &str {
        &self.inner.base
    }

    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// [`ClientOptions::max_response_bytes`].
    pub fn max_response_bytes(&self) -> u64 {
        self.inner.max_response_bytes
    }

    /// `GET /v1/resolve`: a fresh credential from the gateway (no local cache). Under an
    /// agent session the session token authenticates it, else the API key.
    pub async fn resolve(
        &self,
        workspace_id: &str,
        provider: &str,
        options: ResolveOptions,
    ) -> Result<CachedToken> {
        let principal = self.principal();
        self.resolve_as(&principal, workspace_id, provider, options)
            .await
    }

    pub(crate) async fn resolve_as(
        &self,
        principal: &crate::session::Principal,
        workspace_id: &str,
        provider: &str,
        options: ResolveOptions,
    ) -> Result<CachedToken> {
        let authorization = principal.authorization(self).await?;
        let mut query: Vec<(&str, String)> = vec![
            ("workspace_id", workspace_id.to_owned()),
            ("provider_name", provider.to_owned()),
        ];
        if let Some(min_ttl) = options.min_ttl {
            query.push(("min_ttl", min_ttl.to_string()));
        }
        if options.force_refresh {
            query.push(("force_refresh", "true".to_owned()));
        }
        let url = self.url(paths::RESOLVE);
        let body = self
            .call_with(&authorization, Idempotency::Idempotent, || {
                self.inner.http.get(&url).query(&query)
            })
            .await?;
        token_from_body(&body)
    }

    /// A credential through `cache`: a fresh cached token, or one gateway resolve shared by
    /// every concurrent caller for the same key.
    pub async fn resolve_cached(
        &self,
        cache: &TokenCache,
        workspace_id: &str,
        provider: &str,
    ) -> Result<Arc<CachedToken>> {
        self.resolve_through(cache, workspace_id, provider, false)
            .await
    }

    /// Like [`Self::resolve_cached`]; with `force_refresh` the cached token is bypassed and the
    /// gateway is asked to refresh at the provider (concurrent forced calls still coalesce).
    pub async fn resolve_through(
        &self,
        cache: &TokenCache,
        workspace_id: &str,
        provider: &str,
        force_refresh: bool,
    ) -> Result<Arc<CachedToken>> {
        // One principal for the key and the credential: a session's tokens stay in its own
        // namespace of the cache (see `crate::session`).
        let principal = self.principal();
        let key = principal.cache_workspace(workspace_id);
        cache
            .get_or_fetch(&key, provider, force_refresh, || {
                self.owned_resolve(&principal, workspace_id, provider, force_refresh)
            })
            .await
    }

    /// A resolve as `principal` that owns everything it needs (a cache flight outlives its
    /// starter: whichever waiter is polled drives it).
    pub(crate) fn owned_resolve(
        &self,
        principal: &crate::session::Principal,
        workspace_id: &str,
        provider: &str,
        force_refresh: bool,
    ) -> impl Future<Output = Result<CachedToken>> + Send + 'static {
        let (client, principal) = (self.clone(), principal.clone());
        let (workspace_id, provider) = (workspace_id.to_owned(), provider.to_owned());
        let options = ResolveOptions {
            min_ttl: None,
            force_refresh,
        };
        async move {
            client
                .resolve_as(&principal, &workspace_id, &provider, options)
                .await
        }
    }

    /// `POST /v1/request-connection`: start a connect flow; returns the URL to send a person to.
    pub async fn request_connection(
        &self,
        input: &RequestConnectionInput,
    ) -> Result<RequestConnectionResponse> {
        let url = self.url(paths::REQUEST_CONNECTION);
        let body = self
            .call(Idempotency::CreatesResource, || {
                self.inner.http.post(&url).json(input)
            })
            .await?;
        parse_json(&body)
    }

    /// `GET /v1/check-connection/{id}`: the connection's current status.
    pub async fn check_connection(&self, connection_id: &str) -> Result<CheckConnectionResponse> {
        let url = self.url(&format!(
            "{}{}",
            paths::CHECK_CONNECTION_PREFIX,
            segment(connection_id)
        ));
        let body = self
            .call(Idempotency::Idempotent, || self.inner.http.get(&url))
            .await?;
        parse_json(&body)
    }

    /// Poll [`Self::check_connection`] every `interval` until the connection is `active`
    /// (returned), fails for good (`connection_failed`, with `reauth_url` when known), or
    /// `timeout` passes (`wait_aborted`).
    pub async fn wait_for_active(
        &self,
        connection_id: &str,
        interval: Duration,
        timeout: Duration,
    ) -> Result<CheckConnectionResponse> {
        self.wait_for_active_or_cancel(connection_id, interval, timeout, std::future::pending())
            .await
    }

    /// [`Self::wait_for_active`] that also stops (`wait_aborted`) as soon as `cancel` completes.
    pub async fn wait_for_active_or_cancel(
        &self,
        connection_id: &str,
        interval: Duration,
        timeout: Duration,
        cancel: impl Future<Output = ()>,
    ) -> Result<CheckConnectionResponse> {
        tokio::select! {
            biased;
            () = cancel => Err(NexusError::WaitAborted("cancelled".into())),
            result = tokio::time::timeout(timeout, self.poll_until_active(connection_id, interval)) => {
                result.unwrap_or_else(|_| Err(NexusError::WaitAborted("timed out".into())))
            }
        }
    }

    async fn poll_until_active(
        &self,
        connection_id: &str,
        interval: Duration,
    ) -> Result<CheckConnectionResponse> {
        loop {
            let check = self.check_connection(connection_id).await?;
            if check.status == nexus_protocol::ConnectionStatus::Active {
                return Ok(check);
            }
            if check.status.is_terminal_failure() {
                return Err(NexusError::ConnectionFailed {
                    status: check.status.as_str().to_owned(),
                    reauth_url: check.reauth_url,
                });
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// `GET /v1/token/{id}`: the current credential of one connection.
    pub async fn get_token(&self, connection_id: &str) -> Result<CachedToken> {
        let url = self.url(&format!(
            "{}{}",
            paths::TOKEN_PREFIX,
            segment(connection_id)
        ));
        let body = self
            .call(Idempotency::Idempotent, || self.inner.http.get(&url))
            .await?;
        token_from_body(&body)
    }

    /// `POST /v1/refresh/{id}`: refresh at the provider now.
    pub async fn refresh_connection(&self, connection_id: &str) -> Result<CachedToken> {
        let url = self.url(&format!(
            "{}{}",
            paths::REFRESH_PREFIX,
            segment(connection_id)
        ));
        let body = self
            .call(Idempotency::Idempotent, || self.inner.http.post(&url))
            .await?;
        token_from_body(&body)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.inner.base)
    }

    pub(crate) fn from_inner(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    pub(crate) fn inner_arc(&self) -> &Arc<Inner> {
        &self.inner
    }

    pub(crate) fn session_slot(&self) -> &crate::session::SessionSlot {
        &self.inner.session
    }

    /// `Bearer <api key>` (sensitive).
    pub(crate) fn api_key_authorization(&self) -> &HeaderValue {
        &self.inner.authorization
    }

    pub(crate) fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// Send a gateway request with the API key, with retries; the 2xx body, or the typed error.
    async fn call(
        &self,
        idempotency: Idempotency,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Bytes> {
        self.call_with(&self.inner.authorization, idempotency, build)
            .await
    }

    /// [`Self::call`] with another `Authorization` value (a session token, an agent credential).
    pub(crate) async fn call_with(
        &self,
        authorization: &HeaderValue,
        idempotency: Idempotency,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Bytes> {
        let policy = &self.inner.retry;
        let mut retry = 0u32;
        loop {
            let sent = build()
                .header(header::AUTHORIZATION, authorization.clone())
                .header(header::ACCEPT, "application/json")
                .send()
                .await;
            let delay = match sent {
                Err(e) if e.is_connect() && retry < policy.max_retries => policy.backoff(retry),
                Err(e) => return Err(transport_error(e)),
                Ok(response) => {
                    let status = response.status().as_u16();
                    match self.retry_delay(status, response.headers(), retry, idempotency) {
                        Some(delay) => delay,
                        None => return read_gateway_response(response).await,
                    }
                }
            };
            tracing::debug!(
                retry,
                delay_ms = delay.as_millis() as u64,
                "retrying gateway call"
            );
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }

    fn retry_delay(
        &self,
        status: u16,
        headers: &HeaderMap,
        retry: u32,
        idempotency: Idempotency,
    ) -> Option<Duration> {
        let policy = &self.inner.retry;
        if retry >= policy.max_retries {
            return None;
        }
        match status {
            502..=504 if idempotency == Idempotency::Idempotent => Some(policy.backoff(retry)),
            429 if policy.respect_retry_after => match retry_after(headers) {
                Some(wait) if wait <= policy.max_retry_after => Some(wait),
                Some(_) => None,
                None => Some(policy.backoff(retry)),
            },
            _ => None,
        }
    }
}

/// Percent-encode an opaque id as one path segment.
pub(crate) fn segment(id: &str) -> String {
    utf8_percent_encode(id, crate::strategy::UNRESERVED).to_string()
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, Utc::now())
}

/// Map a reqwest failure to a typed error without its URL (an upstream URL may carry a key).
pub(crate) fn transport_error(error: reqwest::Error) -> NexusError {
    let error = error.without_url();
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    if error.is_timeout() {
        NexusError::Timeout(message)
    } else {
        NexusError::Connect(message)
    }
}

/// The 2xx body, or the protocol error (or `invalid_response` when the body is not the protocol).
async fn read_gateway_response(response: reqwest::Response) -> Result<Bytes> {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(transport_error)?;
    if (200..300).contains(&status) {
        return Ok(body);
    }
    Err(error_from_response(status, &headers, &body))
}

/// Turn a non-2xx gateway answer into a [`NexusError`].
pub fn error_from_response(status: u16, headers: &HeaderMap, body: &[u8]) -> NexusError {
    let header_request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(mut envelope) => {
            if envelope.request_id.is_none() {
                envelope.request_id = header_request_id;
            }
            NexusError::from_envelope(status, envelope, retry_after(headers))
        }
        Err(_) => {
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none");
            NexusError::InvalidResponse {
                status,
                detail: format!(
                    "the error body is not a protocol envelope (content-type: {content_type}, {} bytes)",
                    body.len()
                ),
                request_id: header_request_id,
            }
        }
    }
}

/// Parse a 2xx JSON body. The serde message is reduced to its position, because it can quote
/// parts of the body (which may be a token).
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| invalid_body(&e))
}

fn invalid_body(e: &serde_json::Error) -> NexusError {
    NexusError::InvalidResponse {
        status: 200,
        detail: format!(
            "the body is not valid protocol JSON ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ),
        request_id: None,
    }
}

/// Parse a `/v1/resolve` 200 body. `expires_at` may be RFC 3339 or, from older servers, a JSON
/// number of epoch seconds or milliseconds; both are accepted.
pub fn parse_resolve_response(body: &[u8]) -> Result<ResolveResponse> {
    let mut value: serde_json::Value = parse_json(body)?;
    if let Some(at) = value.get_mut("expires_at")
        && let serde_json::Value::Number(n) = at
    {
        *at = serde_json::Value::String(n.to_string());
    }
    serde_json::from_value(value).map_err(|e| invalid_body(&e))
}

fn token_from_body(body: &[u8]) -> Result<CachedToken> {
    let response = parse_resolve_response(body)?;
    Ok(CachedToken::from_response(
        response,
        Utc::now(),
        Instant::now(),
    ))
}
