//! gRPC: per-call credentials from the token cache for tonic clients.
//!
//! - [`GrpcAuthLayer`]: a tower layer around a tonic `Channel` that resolves the credential
//!   (through the shared [`TokenCache`]) before every call and puts it in the metadata.
//! - [`GrpcCredentials::call_with_refresh`]: run a unary call; on `UNAUTHENTICATED`, drop the
//!   cached credential, force a refresh at the provider, and run the call once more.
//!
//! Strategies map to metadata like this: `oauth2`/`header` → the header name lower-cased
//! (`authorization` by default), `basic_auth` → `authorization`. Strategies that need the URL or
//! the body (`query_param`, `hmac_payload`, `aws_sigv4`) cannot apply to gRPC metadata and fail
//! with `invalid_strategy_config`.

use crate::cache::TokenCache;
use crate::client::NexusClient;
use crate::error::{NexusError, Result};
use crate::strategy::{self, RequestParts};
use crate::token::CachedToken;
use chrono::Utc;
use futures::future::BoxFuture;
use nexus_protocol::Strategy;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue};

/// The credential of one (workspace, provider) for gRPC calls. Cheap to clone.
#[derive(Debug, Clone)]
pub struct GrpcCredentials {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: NexusClient,
    cache: TokenCache,
    workspace_id: String,
    provider: String,
}

/// One metadata entry carrying the credential. `Debug` shows the key only.
#[derive(Clone)]
pub struct CredentialMetadata {
    pub key: AsciiMetadataKey,
    pub value: AsciiMetadataValue,
}

impl std::fmt::Debug for CredentialMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialMetadata")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl GrpcCredentials {
    pub fn new(client: NexusClient, cache: TokenCache, workspace_id: &str, provider: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                cache,
                workspace_id: workspace_id.to_owned(),
                provider: provider.to_owned(),
            }),
        }
    }

    /// The metadata entry for the next call (a cache hit, or one shared resolve).
    pub async fn metadata(&self) -> Result<CredentialMetadata> {
        let inner = &self.inner;
        let token = inner
            .client
            .resolve_cached(&inner.cache, &inner.workspace_id, &inner.provider)
            .await?;
        metadata_for(&token)
    }

    /// Drop the cached credential and force a refresh at the provider (after the server said
    /// `UNAUTHENTICATED`).
    pub async fn refresh(&self) -> Result<()> {
        let inner = &self.inner;
        inner.cache.invalidate(&inner.workspace_id, &inner.provider);
        inner
            .client
            .resolve_through(&inner.cache, &inner.workspace_id, &inner.provider, true)
            .await
            .map(|_| ())
    }

    /// A tower layer that adds this credential to every call of the wrapped service.
    pub fn layer(&self) -> GrpcAuthLayer {
        GrpcAuthLayer {
            credentials: self.clone(),
        }
    }

    /// Run `call`; if it fails with `UNAUTHENTICATED`, refresh the credential and run it once
    /// more. `call` must build its request anew each time (tonic requests are consumed). A
    /// failed refresh is returned as `UNAUTHENTICATED` with the SDK error's code and message.
    pub async fn call_with_refresh<T, F, Fut>(
        &self,
        mut call: F,
    ) -> std::result::Result<T, tonic::Status>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, tonic::Status>>,
    {
        match call().await {
            Err(status) if status.code() == tonic::Code::Unauthenticated => {
                tracing::debug!(
                    provider = %self.inner.provider,
                    "gRPC call unauthenticated; refreshing the credential once"
                );
                self.refresh().await.map_err(|e| status_from(&e))?;
                call().await
            }
            other => other,
        }
    }
}

/// The tonic status for an SDK error (code and message only: never a secret).
pub fn status_from(error: &NexusError) -> tonic::Status {
    tonic::Status::unauthenticated(format!("nexus: {} ({})", error.message(), error.code()))
}

/// The metadata entry for `token`'s strategy.
pub fn metadata_for(token: &CachedToken) -> Result<CredentialMetadata> {
    let strategy = token.strategy()?;
    if !matches!(
        strategy,
        Strategy::OAuth2 { .. } | Strategy::Header { .. } | Strategy::BasicAuth { .. }
    ) {
        return Err(NexusError::InvalidStrategyConfig(format!(
            "strategy `{}` cannot be applied to gRPC metadata",
            strategy.kind()
        )));
    }
    // A stand-in URL: these strategies read neither the URL nor the body.
    let parts = RequestParts {
        method: "POST",
        url: "http://grpc.invalid/",
        headers: &[],
        body: &[],
    };
    let injection = strategy::apply(strategy, token.credentials(), &parts, Utc::now())?;
    let (name, value) = injection.headers.into_iter().next().ok_or_else(|| {
        NexusError::InvalidStrategyConfig("the strategy produced no header".into())
    })?;
    let key = AsciiMetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes()).map_err(|_| {
        NexusError::InvalidStrategyConfig(format!("`{name}` is not a valid gRPC metadata key"))
    })?;
    let value = AsciiMetadataValue::try_from(value.as_str()).map_err(|_| {
        NexusError::InvalidCredentialValue {
            strategy: strategy.kind().to_owned(),
            field: "credential".to_owned(),
        }
    })?;
    Ok(CredentialMetadata { key, value })
}

/// Tower layer: see [`GrpcCredentials::layer`].
#[derive(Debug, Clone)]
pub struct GrpcAuthLayer {
    credentials: GrpcCredentials,
}

impl<S> tower::Layer<S> for GrpcAuthLayer {
    type Service = GrpcAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcAuth {
            inner,
            credentials: self.credentials.clone(),
        }
    }
}

/// The service of [`GrpcAuthLayer`]: resolves, sets the metadata, forwards.
#[derive(Debug, Clone)]
pub struct GrpcAuth<S> {
    inner: S,
    credentials: GrpcCredentials,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S, B> tower::Service<http::Request<B>> for GrpcAuth<S>
where
    S: tower::Service<http::Request<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, std::result::Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The ready service goes with this call; a fresh clone waits for the next poll_ready.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let credentials = self.credentials.clone();
        Box::pin(async move {
            let entry = credentials
                .metadata()
                .await
                .map_err(|e| Box::new(status_from(&e)) as BoxError)?;
            let name = http::HeaderName::from_bytes(entry.key.as_str().as_bytes())
                .map_err(|e| Box::new(e) as BoxError)?;
            let mut value = http::HeaderValue::from_bytes(entry.value.as_bytes())
                .map_err(|e| Box::new(e) as BoxError)?;
            value.set_sensitive(true);
            request.headers_mut().insert(name, value);
            inner.call(request).await.map_err(Into::into)
        })
    }
}
