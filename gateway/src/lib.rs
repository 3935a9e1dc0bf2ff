//! The Nexus gateway: the public face of Nexus.
//!
//! Callers (SDKs, the CLI, MCP servers) authenticate with a workspace API key and get
//! short-lived credentials from `GET /v1/resolve`, or drive the connection lifecycle. The
//! gateway holds no long-lived secret: it asks the broker over the internal API
//! (`nexus_protocol::internal`) and caches only access tokens, briefly.
//!
//! Map of the crate (a request flows top to bottom):
//! - [`middleware`]: request id, error envelopes, logs and metrics, size limits, deadline.
//! - [`warm_resolve`]: a warm `GET /v1/resolve` answered without the handler: by the front
//!   ([`Gateway::front`], before routing) or in the middleware.
//! - [`access_log`]: the production JSON access log (a writer thread; never blocks a request).
//! - [`routes`]: the handlers, one module per endpoint group, and the [`routes::router`].
//! - [`auth`]: API key → [`nexus_protocol::internal::Principal`] (cached); `caller_memo`: the
//!   verdict remembered per connection by the front.
//! - [`rate_limit`]: per API key / per agent request rate, session creation per agent.
//! - [`query`]: strict parsing of the resolve query and of ids.
//! - [`token_cache`]: access tokens per (workspace, provider), single-flight.
//! - [`revocation_feed`]: the broker's revocation stream, which empties those caches at once.
//! - [`proxy`]: proxy mode (`/v1/proxy/…`): path, header and body rules, audit batches.
//! - [`broker`]: the internal-API client; maps broker answers to [`ApiError`]s.
//! - [`tls`]: the broker client's TLS (rustls, `ring` provider passed explicitly).
//! - [`metrics`], [`openapi`], [`config`], [`error`].
//!
//! Embedding: `Gateway::new(GatewayConfig::from_env()?)?.router()` is an `axum::Router`; serve
//! it with `axum::serve`, or with `nexus_listener::serve_with_front` and [`Gateway::front`].

pub mod access_log;
pub mod auth;
pub mod broker;
mod caller_memo;
pub mod config;
pub mod error;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod proxy;
pub mod query;
pub mod rate_limit;
pub mod revocation_feed;
pub mod routes;
pub mod tls;
pub mod token_cache;
pub mod warm_resolve;

pub use config::{ConfigError, GatewayConfig};
pub use error::{ApiError, GatewayError};

use auth::KeyVerifier;
use broker::BrokerClient;
use bytes::Bytes;
use metrics::Metrics;
use rate_limit::{RateLimiter, SessionCreationLimiter};
use std::sync::Arc;
use token_cache::TokenCache;

/// The front of one connection ([`Gateway::front`]; `nexus_listener::ConnectionFront`).
pub type ConnectionFront = Box<
    dyn FnMut(&http::Method, &http::Uri, &http::HeaderMap) -> Option<axum::response::Response>
        + Send,
>;

/// A configured gateway. Cheap to clone (shared state behind an `Arc`).
#[derive(Clone)]
pub struct Gateway {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: GatewayConfig,
    pub(crate) broker: BrokerClient,
    pub(crate) keys: KeyVerifier,
    pub(crate) tokens: TokenCache,
    pub(crate) rate_limiter: RateLimiter,
    pub(crate) session_creation_limiter: SessionCreationLimiter,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) feed: Arc<revocation_feed::FeedStatus>,
    /// Rendered once: the document does not change while the process runs.
    pub(crate) openapi_json: Bytes,
    /// Proxy mode: the upstream client (redirects not followed) and the audit batcher.
    pub(crate) proxy_client: reqwest::Client,
    pub(crate) proxy_audit: Arc<proxy::audit::ProxyAudit>,
    /// Permits to wait out an upstream's `Retry-After` (`retry_on_throttle`); never waited for.
    pub(crate) proxy_retry_waiters: tokio::sync::Semaphore,
    /// The broker's authorization-server advertisement (design 17 §2.1), reused 5 minutes.
    pub(crate) as_advertisement: routes::mcp::AdvertisementCache,
    /// Set once [`Gateway::front`] is handed out: the warm path is then the front's alone.
    pub(crate) fronted: std::sync::atomic::AtomicBool,
}

impl Gateway {
    pub fn new(config: GatewayConfig) -> Result<Self, GatewayError> {
        validate_broker_url(&config.broker_url)?;
        if config.internal_token.is_empty() {
            return Err(GatewayError::InvalidConfig(
                "the internal token is empty".into(),
            ));
        }
        let metrics = Arc::new(Metrics::default());
        let broker = BrokerClient::new(
            &config.broker_url,
            config.internal_token.clone(),
            config.broker_timeout,
            config.broker_connect_timeout,
            metrics.clone(),
        )?;
        let keys = KeyVerifier::new(
            broker.clone(),
            config.key_cache_ttl,
            config.key_cache_capacity,
            metrics.clone(),
        );
        let tokens = TokenCache::new(
            broker.clone(),
            config.token_cache_capacity,
            config.token_refresh_margin,
            config.token_cache_max_ttl,
            metrics.clone(),
        );
        let rate_limiter = RateLimiter::new(config.rate_limit_per_second, config.rate_limit_burst);
        let session_creation_limiter = SessionCreationLimiter::new(
            config.session_create_per_minute,
            config.session_create_burst,
        );
        let openapi_json =
            Bytes::from(serde_json::to_vec(&openapi::document()).map_err(GatewayError::OpenApi)?);
        let feed = Arc::new(revocation_feed::FeedStatus::default());
        let proxy_client = proxy::upstream_client(&config.proxy)?;
        let proxy_audit = Arc::new(proxy::audit::ProxyAudit::new(
            broker.clone(),
            metrics.clone(),
        ));
        let proxy_retry_waiters = tokio::sync::Semaphore::new(
            config
                .proxy
                .max_retry_waiters
                .min(tokio::sync::Semaphore::MAX_PERMITS),
        );
        let inner = Inner {
            proxy_client,
            proxy_audit,
            proxy_retry_waiters,
            config,
            broker: broker.clone(),
            keys,
            tokens,
            rate_limiter,
            session_creation_limiter,
            metrics,
            feed: feed.clone(),
            openapi_json,
            as_advertisement: Default::default(),
            fronted: Default::default(),
        };
        let inner = Arc::new(inner);
        if inner.config.revocation_feed {
            revocation_feed::spawn(Arc::downgrade(&inner), broker, feed);
        }
        Ok(Self { inner })
    }

    /// The public API as an `axum::Router`, with every middleware applied.
    pub fn router(&self) -> axum::Router {
        routes::router(self.clone())
    }

    /// The front for `nexus_listener::serve_with_front` (a maker of one front per connection):
    /// answers a warm `GET /v1/resolve` from the request's head, before routing
    /// (`warm_resolve`), with the same limits, request id, access line, metrics and error
    /// envelope as the router's middleware; each connection's front remembers its caller's
    /// key verdict (`caller_memo`). Once it is handed out the middleware leaves warm requests
    /// to it: serve [`Gateway::router`] behind it.
    pub fn front(&self) -> impl Fn() -> ConnectionFront + Send + Sync + 'static {
        self.inner
            .fronted
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let gateway = self.clone();
        move || {
            let gateway = gateway.clone();
            let mut memo = caller_memo::CallerMemo::per_connection();
            Box::new(
                move |method: &http::Method, uri: &http::Uri, headers: &http::HeaderMap| {
                    middleware::front(&gateway, method, uri, headers, &mut memo)
                },
            )
        }
    }

    /// Whether the broker's revocation stream is up (revocations arrive at once); when it is
    /// not, the cache TTLs bound how long a revoked key or connection keeps working.
    pub fn revocation_feed_connected(&self) -> bool {
        self.inner.feed.connected()
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.inner.config
    }
}

/// Polls `future` once: its output when it is ready at once, `None` when it would wait (the
/// future is dropped). For moka's lookups, which are `async` only because a lookup may also do
/// the cache's upkeep; moka resumes an upkeep dropped midway on a later call.
pub(crate) fn ready_now<F: std::future::Future>(future: F) -> Option<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(future).poll(&mut cx) {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
    }
}

fn validate_broker_url(url: &str) -> Result<(), GatewayError> {
    let parsed: http::Uri = url
        .parse()
        .map_err(|_| GatewayError::InvalidBrokerUrl(url.to_owned()))?;
    let scheme_ok = matches!(parsed.scheme_str(), Some("http") | Some("https"));
    if scheme_ok && parsed.host().is_some() {
        Ok(())
    } else {
        Err(GatewayError::InvalidBrokerUrl(url.to_owned()))
    }
}
