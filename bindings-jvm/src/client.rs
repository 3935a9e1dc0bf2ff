//! `NativeClient`: the core's `NexusClient` for the JVM (resolve, cache, the 401 rule, upstream
//! requests, connection lifecycle). Every async method runs on [`crate::runtime`].

use crate::errors::{NativeError, invalid_input};
use crate::runtime::run;
use crate::token::{NativeCacheHit, NativeToken, NativeTokenCache};
use nexus_sdk::fetch::prepare_with;
use nexus_sdk::{
    ClientOptions, FetchRequest, NexusClient, RequestConnectionInput, ResolveOptions, RetryPolicy,
};
use std::sync::Arc;
use std::time::Duration;

/// How to reach the gateway (`NexusClientOptions` in Kotlin).
#[derive(Clone, uniffi::Record)]
pub struct NativeClientOptions {
    pub gateway_url: String,
    pub api_key: String,
    /// Whole-request timeout of every call.
    pub timeout_ms: u64,
    /// Retries of idempotent gateway calls (`None`: the core's default policy).
    pub max_retries: Option<u32>,
    pub user_agent: Option<String>,
}

/// One HTTP header.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct NativeHeader {
    pub name: String,
    pub value: String,
}

/// A request to authenticate (the body matters to the signing strategies).
#[derive(Clone, uniffi::Record)]
pub struct NativeRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<NativeHeader>,
    pub body: Option<Vec<u8>>,
}

/// The request after the strategy: final URL, and the caller's headers merged with the
/// injected ones.
#[derive(Clone, uniffi::Record)]
pub struct NativePrepared {
    pub url: String,
    pub headers: Vec<NativeHeader>,
}

/// An upstream response, fully read.
#[derive(Clone, uniffi::Record)]
pub struct NativeResponse {
    pub status: u16,
    pub headers: Vec<NativeHeader>,
    pub body: Vec<u8>,
}

#[derive(Clone, uniffi::Record)]
pub struct NativeConnectionRequest {
    pub user_id: String,
    pub provider: String,
    pub scopes: Vec<String>,
    pub return_url: Option<String>,
}

#[derive(Clone, uniffi::Record)]
pub struct NativeConnectionStarted {
    pub auth_url: String,
    pub connection_id: String,
    pub state: String,
    pub scopes: Vec<String>,
    pub provider_id: String,
}

#[derive(Clone, uniffi::Record)]
pub struct NativeConnectionStatus {
    pub status: String,
    pub connection_id: Option<String>,
    pub provider_name: Option<String>,
    pub reauth_url: Option<String>,
}

impl From<nexus_sdk::CheckConnectionResponse> for NativeConnectionStatus {
    fn from(r: nexus_sdk::CheckConnectionResponse) -> Self {
        Self {
            status: r.status.as_str().to_owned(),
            connection_id: r.connection_id,
            provider_name: r.provider_name,
            reauth_url: r.reauth_url,
        }
    }
}

pub(crate) fn headers_in(headers: Vec<NativeHeader>) -> Vec<(String, String)> {
    headers.into_iter().map(|h| (h.name, h.value)).collect()
}

pub(crate) fn headers_out(headers: Vec<(String, String)>) -> Vec<NativeHeader> {
    headers
        .into_iter()
        .map(|(name, value)| NativeHeader { name, value })
        .collect()
}

#[derive(uniffi::Object)]
pub struct NativeClient {
    pub(crate) inner: NexusClient,
}

#[uniffi::export]
impl NativeClient {
    #[uniffi::constructor]
    pub fn new(options: NativeClientOptions) -> Result<Arc<Self>, NativeError> {
        nexus_sdk::logging::init_from_env();
        let mut core = ClientOptions::new(options.gateway_url, options.api_key);
        core.timeout = Duration::from_millis(options.timeout_ms.max(1));
        if let Some(max_retries) = options.max_retries {
            core.retry = RetryPolicy {
                max_retries,
                ..RetryPolicy::default()
            };
        }
        core.user_agent = options
            .user_agent
            .unwrap_or_else(|| concat!("nexus-sdk-jvm/", env!("CARGO_PKG_VERSION")).to_owned());
        Ok(Arc::new(Self {
            inner: NexusClient::new(core)?,
        }))
    }

    pub fn gateway_url(&self) -> String {
        self.inner.gateway_url().to_owned()
    }

    /// `GET /v1/resolve` without the cache.
    pub async fn resolve(
        &self,
        workspace_id: String,
        provider: String,
        min_ttl_seconds: Option<u64>,
        force_refresh: bool,
    ) -> Result<Arc<NativeToken>, NativeError> {
        let client = self.inner.clone();
        let options = ResolveOptions {
            min_ttl: min_ttl_seconds,
            force_refresh,
        };
        let token =
            run(async move { client.resolve(&workspace_id, &provider, options).await }).await?;
        Ok(NativeToken::new(Arc::new(token)))
    }

    /// A fresh cached token for the current principal, without I/O, and how long it stays
    /// usable (the Kotlin layer's copy of a hit is refilled from here).
    pub fn peek_cached(
        &self,
        cache: Arc<NativeTokenCache>,
        workspace_id: String,
        provider: String,
    ) -> Option<NativeCacheHit> {
        self.inner
            .peek_cached(&cache.inner, &workspace_id, &provider)
            .map(|token| NativeCacheHit::new(&cache.inner, token))
    }

    /// A credential through `cache` (single flight on a miss); `force_refresh` bypasses it.
    pub async fn resolve_cached(
        &self,
        cache: Arc<NativeTokenCache>,
        workspace_id: String,
        provider: String,
        force_refresh: bool,
    ) -> Result<NativeCacheHit, NativeError> {
        let client = self.inner.clone();
        let shared = cache.clone();
        let token = run(async move {
            client
                .resolve_through(&shared.inner, &workspace_id, &provider, force_refresh)
                .await
        })
        .await?;
        Ok(NativeCacheHit::new(&cache.inner, token))
    }

    /// Drop the cached token of (workspace, provider) for the current principal.
    pub fn invalidate(&self, cache: Arc<NativeTokenCache>, workspace_id: String, provider: String) {
        self.inner
            .invalidate(&cache.inner, &workspace_id, &provider);
    }

    /// The one 401 rule (the core's): drop `rejected` and force one refresh through the single
    /// flight, unless a concurrent caller already replaced it.
    pub async fn replace_rejected(
        &self,
        cache: Arc<NativeTokenCache>,
        workspace_id: String,
        provider: String,
        rejected: Arc<NativeToken>,
    ) -> Result<NativeCacheHit, NativeError> {
        let client = self.inner.clone();
        let shared = cache.clone();
        let token = run(async move {
            client
                .replace_rejected(&shared.inner, &workspace_id, &provider, &rejected.inner)
                .await
        })
        .await?;
        Ok(NativeCacheHit::new(&cache.inner, token))
    }

    /// Whether an upstream status means the credential was refused (the 401 rule applies).
    pub fn is_rejection(&self, status: u16) -> bool {
        nexus_sdk::policy::is_rejection(status)
    }

    /// Apply `token`'s strategy to `request` (no I/O); the caller sends it.
    pub fn prepare(
        &self,
        token: Arc<NativeToken>,
        request: NativeRequest,
    ) -> Result<NativePrepared, NativeError> {
        let headers = headers_in(request.headers);
        let body = request.body.unwrap_or_default();
        let parts = nexus_sdk::RequestParts {
            method: &request.method,
            url: &request.url,
            headers: &headers,
            body: &body,
        };
        let prepared = prepare_with(token.inner.clone(), &parts)?;
        Ok(NativePrepared {
            url: prepared.url,
            headers: headers_out(prepared.headers),
        })
    }

    /// The core's authenticated request: resolve, apply, send, and on a 401 refresh and send once
    /// more.
    pub async fn fetch(
        &self,
        cache: Arc<NativeTokenCache>,
        workspace_id: String,
        provider: String,
        request: NativeRequest,
    ) -> Result<NativeResponse, NativeError> {
        let client = self.inner.clone();
        let request = FetchRequest {
            method: request.method,
            url: request.url,
            headers: headers_in(request.headers),
            body: request.body.map(Into::into),
        };
        let response = run(async move {
            client
                .authenticated_fetch(&cache.inner, &workspace_id, &provider, request)
                .await
        })
        .await?;
        Ok(NativeResponse {
            status: response.status,
            headers: headers_out(response.headers),
            body: response.body.to_vec(),
        })
    }

    /// `POST /v1/request-connection`.
    pub async fn request_connection(
        &self,
        request: NativeConnectionRequest,
    ) -> Result<NativeConnectionStarted, NativeError> {
        let client = self.inner.clone();
        let input = RequestConnectionInput {
            user_id: request.user_id,
            provider_name: request.provider,
            scopes: request.scopes,
            return_url: request.return_url,
            metadata: Default::default(),
        };
        let r = run(async move { client.request_connection(&input).await }).await?;
        Ok(NativeConnectionStarted {
            auth_url: r.auth_url,
            connection_id: r.connection_id,
            state: r.state,
            scopes: r.scopes,
            provider_id: r.provider_id,
        })
    }

    /// `GET /v1/check-connection/{id}`.
    pub async fn check_connection(
        &self,
        connection_id: String,
    ) -> Result<NativeConnectionStatus, NativeError> {
        let client = self.inner.clone();
        let r = run(async move { client.check_connection(&connection_id).await }).await?;
        Ok(r.into())
    }

    /// Poll until the connection is active (`connection_failed` / `wait_aborted` otherwise).
    /// Cancelling the caller stops the wait.
    pub async fn wait_for_active(
        &self,
        connection_id: String,
        interval_ms: u64,
        timeout_ms: u64,
    ) -> Result<NativeConnectionStatus, NativeError> {
        if interval_ms == 0 {
            return Err(invalid_input("interval must be positive"));
        }
        let client = self.inner.clone();
        let r = run(async move {
            client
                .wait_for_active(
                    &connection_id,
                    Duration::from_millis(interval_ms),
                    Duration::from_millis(timeout_ms),
                )
                .await
        })
        .await?;
        Ok(r.into())
    }
}
