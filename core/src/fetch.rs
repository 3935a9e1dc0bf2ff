//! Authenticated upstream requests: resolve through the cache, apply the strategy, send.
//!
//! Three entry points over one implementation:
//! - [`NexusClient::prepare_request`]: headers and URL only; the caller sends (Node's `fetch`).
//! - [`NexusClient::authenticated_fetch`]: the whole request in Rust (Python).
//! - [`AuthenticatedClient`]: the same for Rust users, over `reqwest`.
//!
//! On an upstream `401` all three follow the client policy of [`crate::policy`] (one forced
//! refresh through the single flight, one retry, a second `401` returned); the first two through
//! [`NexusClient::replace_rejected`], `prepare_request` callers through
//! [`NexusClient::prepare_retry`] (or [`NexusClient::replace_rejected_generation`] when they
//! keep only the rejected token's [`CachedToken::generation`], as the Node binding does).

use crate::cache::TokenCache;
use crate::client::{NexusClient, transport_error};
use crate::error::{NexusError, Result};
use crate::strategy::{self, RequestParts, header_names};
use crate::token::CachedToken;
use crate::upstream::{Outgoing, header_map};
use bytes::Bytes;
use chrono::Utc;
use nexus_protocol::Strategy;
use std::fmt;
use std::sync::Arc;

/// A request ready to send: the caller's headers merged with the injected ones, and the final
/// URL. `Debug` shows neither header values nor the URL (both may carry the credential).
#[derive(Clone)]
pub struct PreparedRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// The credential that was applied (for expiry display, scopes, `api_base_url`).
    pub token: Arc<CachedToken>,
}

impl fmt::Debug for PreparedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedRequest")
            .field("method", &self.method)
            .field("headers", &header_names(&self.headers))
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// A request for [`NexusClient::authenticated_fetch`].
#[derive(Clone, Default)]
pub struct FetchRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Bytes>,
}

impl fmt::Debug for FetchRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchRequest")
            .field("method", &self.method)
            .field("headers", &header_names(&self.headers))
            .field("body_len", &self.body.as_ref().map(Bytes::len))
            .finish_non_exhaustive()
    }
}

/// The upstream's answer, fully read.
#[derive(Debug, Clone)]
pub struct FetchResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// Header names and values as owned text pairs (a value that is not UTF-8 is read lossily), in
/// the map's order; the one conversion every answer and request of the core goes through.
pub(crate) fn header_pairs(headers: &http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Apply `token`'s strategy to `parts` now.
pub fn prepare_with(token: Arc<CachedToken>, parts: &RequestParts<'_>) -> Result<PreparedRequest> {
    Ok(prepare_noting_injected(token, parts)?.0)
}

/// [`prepare_with`], and the names of the headers the strategy injected.
fn prepare_noting_injected(
    token: Arc<CachedToken>,
    parts: &RequestParts<'_>,
) -> Result<(PreparedRequest, Vec<String>)> {
    let strategy = token.strategy()?;
    let injection = strategy::apply(strategy, token.credentials(), parts, Utc::now())?;
    let mut headers = parts.headers.to_vec();
    injection.merge_into(&mut headers);
    let injected = injection
        .headers
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let prepared = PreparedRequest {
        method: parts.method.to_owned(),
        url: injection.url,
        headers,
        token,
    };
    Ok((prepared, injected))
}

impl NexusClient {
    /// Resolve through `cache` and apply the strategy to `parts`; the caller sends the request.
    pub async fn prepare_request(
        &self,
        cache: &TokenCache,
        workspace_id: &str,
        provider: &str,
        parts: &RequestParts<'_>,
    ) -> Result<PreparedRequest> {
        let token = self.resolve_cached(cache, workspace_id, provider).await?;
        prepare_with(token, parts)
    }

    /// Resolve, apply, send with the pooled client and read the whole response. On a `401` the
    /// request is sent once more with a force-refreshed credential.
    pub async fn authenticated_fetch(
        &self,
        cache: &TokenCache,
        workspace_id: &str,
        provider: &str,
        request: FetchRequest,
    ) -> Result<FetchResponse> {
        let token = self.resolve_cached(cache, workspace_id, provider).await?;
        let first = self.send_once(token.clone(), &request).await?;
        if !crate::policy::is_rejection(first.status) {
            return Ok(first);
        }
        tracing::debug!(
            provider,
            "upstream answered 401; refreshing the credential once"
        );
        let fresh = self
            .replace_rejected(cache, workspace_id, provider, &token)
            .await?;
        self.send_once(fresh, &request).await
    }

    pub(crate) async fn send_once(
        &self,
        token: Arc<CachedToken>,
        request: &FetchRequest,
    ) -> Result<FetchResponse> {
        let body = request.body.clone().unwrap_or_default();
        let parts = RequestParts {
            method: &request.method,
            url: &request.url,
            headers: &request.headers,
            body: &body,
        };
        let (prepared, injected) = prepare_noting_injected(token, &parts)?;
        let method = reqwest::Method::from_bytes(prepared.method.as_bytes()).map_err(|_| {
            NexusError::InvalidRequest("the method is not a valid HTTP token".into())
        })?;
        let url = reqwest::Url::parse(&prepared.url)
            .map_err(|e| NexusError::InvalidRequest(format!("the URL cannot be parsed ({e})")))?;
        let upstream = self.upstream()?;
        if !upstream.leaves_to_reqwest(&url) {
            // Header names as written (`crate::upstream`).
            return upstream
                .fetch(Outgoing {
                    method,
                    url,
                    headers: &prepared.headers,
                    body: request.body.clone(),
                    injected: &injected,
                })
                .await;
        }
        let mut builder = self
            .http()
            .request(method, &prepared.url)
            .headers(header_map(&prepared.headers)?);
        if request.body.is_some() {
            builder = builder.body(body);
        }
        let response = builder.send().await.map_err(transport_error)?;
        let status = response.status().as_u16();
        let headers = header_pairs(response.headers());
        let body = response.bytes().await.map_err(transport_error)?;
        Ok(FetchResponse {
            status,
            headers,
            body,
        })
    }
}

/// A `reqwest`-based client bound to one (workspace, provider): every request it executes is
/// authenticated with that connection's credential.
#[derive(Clone, Debug)]
pub struct AuthenticatedClient {
    client: NexusClient,
    cache: TokenCache,
    workspace_id: String,
    provider: String,
}

impl AuthenticatedClient {
    pub fn new(
        client: NexusClient,
        cache: TokenCache,
        workspace_id: impl Into<String>,
        provider: impl Into<String>,
    ) -> Self {
        Self {
            client,
            cache,
            workspace_id: workspace_id.into(),
            provider: provider.into(),
        }
    }

    /// A request builder on the pooled client; finish it with `.build()` and [`Self::execute`].
    pub fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.client.http().request(method, url)
    }

    /// The current credential (through the cache).
    pub async fn token(&self) -> Result<Arc<CachedToken>> {
        self.client
            .resolve_cached(&self.cache, &self.workspace_id, &self.provider)
            .await
    }

    /// Authenticate and send `request`. On a `401` the credential is refreshed and the request
    /// sent once more, if its body is not a stream (a stream cannot be replayed).
    pub async fn execute(&self, request: reqwest::Request) -> Result<reqwest::Response> {
        let replay = request.try_clone();
        let token = self.token().await?;
        let response = self.execute_with(token.clone(), request).await?;
        match replay {
            Some(again) if crate::policy::is_rejection(response.status().as_u16()) => {
                let fresh = self
                    .client
                    .replace_rejected(&self.cache, &self.workspace_id, &self.provider, &token)
                    .await?;
                self.execute_with(fresh, again).await
            }
            _ => Ok(response),
        }
    }

    /// [`NexusClient::authenticated_fetch`] for this connection.
    pub async fn fetch(&self, request: FetchRequest) -> Result<FetchResponse> {
        self.client
            .authenticated_fetch(&self.cache, &self.workspace_id, &self.provider, request)
            .await
    }

    async fn execute_with(
        &self,
        token: Arc<CachedToken>,
        mut request: reqwest::Request,
    ) -> Result<reqwest::Response> {
        let headers = header_pairs(request.headers());
        let streaming = request.body().is_some_and(|b| b.as_bytes().is_none());
        if streaming
            && matches!(
                token.strategy()?,
                Strategy::HmacPayload { .. } | Strategy::AwsSigV4 { .. }
            )
        {
            return Err(NexusError::InvalidRequest(
                "a streaming body cannot be signed; pass the body as bytes".into(),
            ));
        }
        let body = request
            .body()
            .and_then(|b| b.as_bytes())
            .unwrap_or_default()
            .to_vec();
        let url = request.url().to_string();
        let parts = RequestParts {
            method: request.method().as_str(),
            url: &url,
            headers: &headers,
            body: &body,
        };
        let prepared = prepare_with(token, &parts)?;
        *request.url_mut() = reqwest::Url::parse(&prepared.url)
            .map_err(|e| NexusError::InvalidRequest(format!("the URL cannot be parsed ({e})")))?;
        *request.headers_mut() = header_map(&prepared.headers)?;
        self.client
            .http()
            .execute(request)
            .await
            .map_err(transport_error)
    }
}
