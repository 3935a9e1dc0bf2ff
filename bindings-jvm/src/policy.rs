//! The core's client policy as this binding calls it: the cache key of the current principal,
//! invalidation, and the 401 rule.
//!
//! Thin adapter over public core API (`NexusClient::cache_namespace`, `TokenCache::invalidate`,
//! `TokenCache::replace_rejected`, `NexusClient::resolve`): the core is making these rules public
//! as `NexusClient::invalidate` / `NexusClient::replace_rejected`; once it does, these two
//! functions become one-line calls.

use nexus_sdk::{CachedToken, NexusClient, ResolveOptions, Result, TokenCache};
use std::sync::Arc;

pub(crate) fn invalidate(
    client: &NexusClient,
    cache: &TokenCache,
    workspace: &str,
    provider: &str,
) {
    cache.invalidate(&client.cache_namespace(workspace), provider);
}

pub(crate) async fn replace_rejected(
    client: &NexusClient,
    cache: &TokenCache,
    workspace: &str,
    provider: &str,
    rejected: &Arc<CachedToken>,
) -> Result<Arc<CachedToken>> {
    let key = client.cache_namespace(workspace).into_owned();
    cache
        .replace_rejected(&key, provider, rejected, || {
            let (client, workspace, provider) =
                (client.clone(), workspace.to_owned(), provider.to_owned());
            let options = ResolveOptions {
                min_ttl: None,
                force_refresh: true,
            };
            async move { client.resolve(&workspace, &provider, options).await }
        })
        .await
}
