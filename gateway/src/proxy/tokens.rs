//! The credential of one proxied call, and the 401 rule.
//!
//! API keys share one token per (workspace, provider) in the core's own cache
//! (`nexus_sdk::TokenCache`): concurrent misses share one broker call, and an upstream 401 goes
//! through `TokenCache::replace_rejected`, so N concurrent rejections cause one forced refresh —
//! the client policy, not a second implementation of it. Its entries live at most
//! `token_cache_max_ttl` (their lifetime is capped when stored) and are emptied with the
//! gateway's other caches on a revocation. Agent sessions are never cached (the broker checks
//! every call, as for `/v1/resolve`).

use crate::broker::BrokerClient;
use crate::error::ApiError;
use crate::token_cache::TokenCache;
use axum::http::StatusCode;
use nexus_protocol::internal::{InternalResolveRequest, Principal};
use nexus_protocol::proxy_rules::ProxyCall;
use nexus_protocol::{ErrorCode, ResolveResponse};
use nexus_sdk::{CachedToken, NexusError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a call resolves: whose, in which workspace, for which provider.
#[derive(Clone)]
pub struct TokenRequest {
    pub principal: Principal,
    pub workspace_id: String,
    pub provider_name: String,
    pub request_id: String,
    /// The call, for an agent session (the vault checks it against the provider's
    /// `proxy.rules`); `None` for API keys, which rules do not apply to.
    pub call: Option<ProxyCall>,
}

impl TokenCache {
    /// The credential for a proxied call (cached for API keys).
    pub async fn proxy_token(&self, req: &TokenRequest) -> Result<Arc<CachedToken>, ApiError> {
        if matches!(req.principal, Principal::Session { .. }) {
            return self.proxy_fetch(req, false).await.map(Arc::new);
        }
        let fetch = self.proxy_fetcher(req, false);
        self.proxy
            .get_or_fetch(&req.workspace_id, &req.provider_name, false, fetch)
            .await
            .map_err(from_core)
    }

    /// The upstream refused `rejected` (401): a forced refresh, shared with every concurrent
    /// caller that holds the same rejected token.
    pub async fn proxy_replace_rejected(
        &self,
        req: &TokenRequest,
        rejected: &Arc<CachedToken>,
    ) -> Result<Arc<CachedToken>, ApiError> {
        if matches!(req.principal, Principal::Session { .. }) {
            return self.proxy_fetch(req, true).await.map(Arc::new);
        }
        let fetch = self.proxy_fetcher(req, true);
        self.proxy
            .replace_rejected(&req.workspace_id, &req.provider_name, rejected, fetch)
            .await
            .map_err(from_core)
    }

    async fn proxy_fetch(&self, req: &TokenRequest, force: bool) -> Result<CachedToken, ApiError> {
        self.proxy_fetcher(req, force)().await.map_err(from_core)
    }

    /// The fetch for the core cache's single flight: its future is `'static`; the request is
    /// only built when the cache actually calls it (a hit, the common case, copies nothing).
    fn proxy_fetcher<'a>(
        &'a self,
        req: &'a TokenRequest,
        force_refresh: bool,
    ) -> impl FnOnce() -> std::pin::Pin<
        Box<dyn Future<Output = Result<CachedToken, NexusError>> + Send + 'static>,
    > + 'a {
        move || {
            let broker: BrokerClient = self.broker.clone();
            let cap = self.max_ttl + self.refresh_margin;
            let request = InternalResolveRequest {
                principal: req.principal.clone(),
                workspace_id: req.workspace_id.clone(),
                provider_name: req.provider_name.clone(),
                min_ttl: None,
                force_refresh,
                request_id: Some(req.request_id.clone()).filter(|id| !id.is_empty()),
                proxy_call: req.call.clone(),
            };
            Box::pin(async move {
                let response = broker.resolve(&request).await.map_err(to_core)?;
                Ok(CachedToken::from_response(
                    capped(response, cap),
                    chrono::Utc::now(),
                    Instant::now(),
                ))
            })
        }
    }
}

/// The lifetime the proxy cache may keep a token: the token's own, at most `cap` (so a revoked
/// connection's token stops being used within `token_cache_max_ttl`, as for `/v1/resolve`).
fn capped(mut response: ResolveResponse, cap: Duration) -> ResolveResponse {
    let cap = i64::try_from(cap.as_secs()).unwrap_or(i64::MAX);
    let own = response.expires_in.or_else(|| {
        let at = chrono::DateTime::parse_from_rfc3339(response.expires_at.as_deref()?).ok()?;
        Some((at.to_utc() - chrono::Utc::now()).num_seconds())
    });
    response.expires_in = Some(own.map_or(cap, |own| own.min(cap)));
    response.expires_at = None;
    response
}

fn to_core(err: ApiError) -> NexusError {
    NexusError::Api(Box::new(nexus_sdk::ApiError {
        status: err.status.as_u16(),
        code: err.body.error,
        message: err.body.message,
        request_id: None,
        reauth_url: err.body.reauth_url,
        retry_after: err.body.retry_after.map(Duration::from_secs),
    }))
}

fn from_core(err: NexusError) -> ApiError {
    match err {
        NexusError::Api(api) => {
            let status = StatusCode::from_u16(api.status).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut out = ApiError::with_status(status, api.code, api.message);
            out.body.reauth_url = api.reauth_url;
            out.body.retry_after = api.retry_after.map(|d| d.as_secs());
            out
        }
        other => ApiError::new(ErrorCode::UpstreamUnavailable, other.to_string()),
    }
}
