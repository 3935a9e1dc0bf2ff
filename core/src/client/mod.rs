//! [`NexusClient`]: the HTTP client of the gateway's public API (protocol v1).
//!
//! One pooled reqwest client (rustls) per `NexusClient`; cloning shares it. Every call sends
//! `Authorization: Bearer <api key>`, retries according to the [`RetryPolicy`], and turns any
//! non-2xx answer into a typed [`NexusError`].
//!
//! - `mod.rs`: options, [`NexusClient`] itself and its accessors;
//! - `resolve.rs`: `GET /v1/resolve`, direct and through a [`TokenCache`];
//! - `connections.rs`: the connection lifecycle (request, check, wait, token, refresh);
//! - `transport.rs`: sending a gateway call with its retries, and transport errors;
//! - `responses.rs`: reading the gateway's answers (error envelopes, resolve bodies).
//!
//! [`TokenCache`]: crate::cache::TokenCache

mod connections;
mod resolve;
mod responses;
mod transport;

pub(crate) use responses::parse_json;
pub use responses::{error_from_response, parse_resolve_response};
pub(crate) use transport::{segment, transport_error};

use crate::error::{NexusError, Result};
use crate::retry::RetryPolicy;
use nexus_protocol::SecretString;
use reqwest::header::HeaderValue;
use std::sync::Arc;
use std::time::Duration;

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
}
