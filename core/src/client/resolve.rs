//! Resolving a credential through the gateway: directly, or through a [`TokenCache`] whose
//! single flight shares one gateway call between concurrent callers.

use super::responses::token_from_body;
use super::{Idempotency, NexusClient, ResolveOptions};
use crate::cache::TokenCache;
use crate::error::Result;
use crate::token::CachedToken;
use nexus_protocol::paths;
use std::future::Future;
use std::sync::Arc;

impl NexusClient {
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
}
