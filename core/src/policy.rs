//! The client policy around the token cache: the one place where the SDKs' shared rules for a
//! rejected or unwanted credential are written. Every entry point that sends upstream requests
//! (Rust [`crate::AuthenticatedClient`] and [`NexusClient::authenticated_fetch`], Python's
//! `authenticated_fetch` and its `httpx` / `requests` adapters, Node's fetcher) calls these
//! functions instead of re-implementing them; `tests/vectors/client_behaviour.json` holds every
//! SDK (Go included) to them.
//!
//! **The 401 rule.** A request is sent with the cached credential. When the upstream answers
//! `401` ([`is_rejection`]), the rejected token is dropped and **one forced refresh** is made
//! through the cache's single flight ([`NexusClient::replace_rejected`]): the gateway is asked
//! with `force_refresh=true`, so it refreshes at the provider instead of handing back the same
//! token from its own cache (which is what an early revocation at the provider needs). If a
//! concurrent caller already replaced that token, its replacement is used: N requests rejected
//! together cause one refresh. The request is then sent **once** more with the new credential
//! (when its body can be replayed), and whatever that second attempt answers, a second `401`
//! included, is returned to the caller: there is no loop.
//!
//! **Identity of a token.** A cached token is identified by its [`CachedToken::generation`]
//! (distinct for every token one cache stores). A binding that hands out copies of tokens keeps
//! only that number and calls [`NexusClient::replace_rejected_generation`]; Rust code holding the
//! `Arc<CachedToken>` calls [`NexusClient::replace_rejected`]. Both decide identically.
//!
//! **Invalidation.** [`NexusClient::invalidate`] drops the cached token so that the next call
//! resolves again, *not* forced (the gateway may answer from its cache): for a caller that knows
//! a token is unwanted without an upstream having rejected it.
//!
//! **Principals.** Every function here works under the *current principal's* cache key: the
//! API key's, or an active agent session's own namespace (see [`crate::session`]), so a token
//! cached for one is never dropped for, or served to, the other.

use crate::cache::TokenCache;
use crate::client::NexusClient;
use crate::error::Result;
use crate::fetch::{PreparedRequest, prepare_with};
use crate::strategy::RequestParts;
use crate::token::CachedToken;
use std::sync::Arc;

/// Whether an upstream status means "this credential was refused" (the 401 rule applies).
pub fn is_rejection(status: u16) -> bool {
    status == 401
}

impl NexusClient {
    /// Drop the cached token of (`workspace_id`, `provider`) for the current principal: the next
    /// call resolves again (not forced).
    pub fn invalidate(&self, cache: &TokenCache, workspace_id: &str, provider: &str) {
        cache.invalidate(&self.cache_namespace(workspace_id), provider);
    }

    /// The 401 rule: drop `rejected` and force a refresh through the single flight, unless a
    /// concurrent caller already replaced it (then use theirs: one refresh, not N).
    pub async fn replace_rejected(
        &self,
        cache: &TokenCache,
        workspace_id: &str,
        provider: &str,
        rejected: &Arc<CachedToken>,
    ) -> Result<Arc<CachedToken>> {
        self.replace_rejected_generation(cache, workspace_id, provider, rejected.generation())
            .await
    }

    /// [`Self::replace_rejected`] for a caller that kept only the rejected token's generation.
    pub async fn replace_rejected_generation(
        &self,
        cache: &TokenCache,
        workspace_id: &str,
        provider: &str,
        rejected_generation: u64,
    ) -> Result<Arc<CachedToken>> {
        // The same principal for the cache key and the credential (see `crate::session`).
        let principal = self.principal();
        let key = principal.cache_workspace(workspace_id);
        cache
            .replace_rejected_generation(&key, provider, rejected_generation, || {
                self.owned_resolve(&principal, workspace_id, provider, true)
            })
            .await
    }

    /// The retry of the 401 rule for a caller that sends requests itself (Python's adapters,
    /// Node's fetcher): replace the token of `rejected_generation` and apply the new one to
    /// `parts`. Call it once, after the first attempt answered a rejection; return the second
    /// attempt's answer as it is.
    pub async fn prepare_retry(
        &self,
        cache: &TokenCache,
        workspace_id: &str,
        provider: &str,
        rejected_generation: u64,
        parts: &RequestParts<'_>,
    ) -> Result<PreparedRequest> {
        let token = self
            .replace_rejected_generation(cache, workspace_id, provider, rejected_generation)
            .await?;
        prepare_with(token, parts)
    }
}
