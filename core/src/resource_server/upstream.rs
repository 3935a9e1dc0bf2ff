//! The upstream credential of the MCP user (design 17 §5.4): inside a tool, the credential of
//! *this request's user* for a provider (their own GitHub, their own CRM), never the workspace's.
//!
//! The MCP server presents the user's access token back to its issuer through the gateway
//! (`POST /v1/mcp/user-credential`, authenticated with the server's workspace API key); Nexus
//! checks the token and resolves the connection bound to that user. The answer is the same
//! resolve response `GET /v1/resolve` returns, so the cache, the expiry rule, the strategies and
//! the 401 rule are the client's own ([`crate::cache`], [`crate::expiry`], [`crate::strategy`],
//! [`crate::policy`]); only the cache key and the request differ:
//!
//! - **Cache key**: the workspace part is [`user_namespace`] (`{workspace}␟mcp-user:{issuer}␟{sub}`),
//!   so a user's credential is never served to another user, to the API key, or to an agent
//!   session (their namespaces never take this form).
//! - **No connection yet** (or it needs the user to authorise again): the gateway answers 409
//!   `connection_required` with a connect link bound to that user, which becomes
//!   [`NexusError::ConnectionRequired`]; the SDK adapters turn it into the MCP URL elicitation
//!   (`-32042`). Errors are never cached: the retried tool call asks again.
//!
//! The access token is sent in the JSON body (never in a URL), always with the API key (not an
//! agent session: the gateway authorises the MCP server's workspace).

use super::AuthenticatedUser;
use crate::ResolveOptions;
use crate::cache::TokenCache;
use crate::client::{Idempotency, NexusClient, parse_resolve_response};
use crate::error::Result;
use crate::fetch::{FetchRequest, FetchResponse, PreparedRequest, prepare_with};
use crate::strategy::RequestParts;
use crate::token::CachedToken;
use chrono::Utc;
use nexus_protocol::mcp::UserCredentialRequest;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

/// The workspace part of the token-cache key of `user`'s credentials.
pub fn user_namespace(user: &AuthenticatedUser) -> String {
    format!(
        "{}\u{1f}mcp-user:{}\u{1f}{}",
        user.workspace_id, user.issuer, user.subject
    )
}

impl NexusClient {
    /// `POST /v1/mcp/user-credential`: `user`'s credential for `provider`, from the gateway (no
    /// cache). `connection_required` when the user has no usable connection.
    pub async fn fetch_user_credential(
        &self,
        user: &AuthenticatedUser,
        provider: &str,
        options: ResolveOptions,
    ) -> Result<CachedToken> {
        let body = UserCredentialRequest {
            provider: provider.to_owned(),
            subject_token: user.token.clone(),
            min_ttl: options.min_ttl,
            force_refresh: options.force_refresh,
        };
        let url = self.url(nexus_protocol::mcp::USER_CREDENTIAL_PATH);
        let authorization = self.api_key_authorization().clone();
        // Idempotent: the gateway reuses a live connect ticket, so a repeat creates nothing.
        let answer = self
            .call_with(&authorization, Idempotency::Idempotent, || {
                self.http().post(&url).json(&body)
            })
            .await?;
        let response = parse_resolve_response(&answer)?;
        Ok(CachedToken::from_response(
            response,
            Utc::now(),
            Instant::now(),
        ))
    }

    /// `user`'s credential for `provider` through `cache`: a fresh cached one, or one gateway
    /// call shared by every concurrent caller for the same user and provider. With
    /// `force_refresh`, or a `min_ttl` the cached one does not meet, the gateway is asked again.
    pub async fn user_credential(
        &self,
        cache: &TokenCache,
        user: &AuthenticatedUser,
        provider: &str,
        options: ResolveOptions,
    ) -> Result<Arc<CachedToken>> {
        let key = user_namespace(user);
        let short = |token: &CachedToken| {
            options
                .min_ttl
                .is_some_and(|min| cache.usable_for(token, Instant::now()).as_secs() < min)
        };
        let force = options.force_refresh || cache.get(&key, provider).is_some_and(|t| short(&t));
        cache
            .get_or_fetch(&key, provider, force, || {
                self.owned_user_fetch(user, provider, options)
            })
            .await
    }

    /// The 401 rule for a user's credential ([`crate::policy`]): drop the token of
    /// `rejected_generation` and force one refresh through the single flight, unless a
    /// concurrent caller already replaced it.
    pub async fn replace_rejected_user_credential(
        &self,
        cache: &TokenCache,
        user: &AuthenticatedUser,
        provider: &str,
        rejected_generation: u64,
    ) -> Result<Arc<CachedToken>> {
        let options = ResolveOptions {
            min_ttl: None,
            force_refresh: true,
        };
        cache
            .replace_rejected_generation(
                &user_namespace(user),
                provider,
                rejected_generation,
                || self.owned_user_fetch(user, provider, options),
            )
            .await
    }

    /// `user`'s credential applied to `parts` (the caller sends the request).
    pub async fn prepare_user_request(
        &self,
        cache: &TokenCache,
        user: &AuthenticatedUser,
        provider: &str,
        parts: &RequestParts<'_>,
    ) -> Result<PreparedRequest> {
        let token = self
            .user_credential(cache, user, provider, ResolveOptions::default())
            .await?;
        prepare_with(token, parts)
    }

    /// The retry of the 401 rule for a caller that sends requests itself: replace the token of
    /// `rejected_generation` and apply the new one to `parts`.
    pub async fn prepare_user_retry(
        &self,
        cache: &TokenCache,
        user: &AuthenticatedUser,
        provider: &str,
        rejected_generation: u64,
        parts: &RequestParts<'_>,
    ) -> Result<PreparedRequest> {
        let token = self
            .replace_rejected_user_credential(cache, user, provider, rejected_generation)
            .await?;
        prepare_with(token, parts)
    }

    /// [`NexusClient::authenticated_fetch`] with `user`'s credential: apply, send, and on a
    /// `401` send once more with a force-refreshed credential.
    pub async fn user_authenticated_fetch(
        &self,
        cache: &TokenCache,
        user: &AuthenticatedUser,
        provider: &str,
        request: FetchRequest,
    ) -> Result<FetchResponse> {
        let token = self
            .user_credential(cache, user, provider, ResolveOptions::default())
            .await?;
        let generation = token.generation();
        let first = self.send_once(token, &request).await?;
        if !crate::policy::is_rejection(first.status) {
            return Ok(first);
        }
        tracing::debug!(
            provider,
            "upstream answered 401 to the user's credential; refreshing it once"
        );
        let fresh = self
            .replace_rejected_user_credential(cache, user, provider, generation)
            .await?;
        self.send_once(fresh, &request).await
    }

    /// A user-credential call that owns what it needs (a cache flight outlives its starter).
    fn owned_user_fetch(
        &self,
        user: &AuthenticatedUser,
        provider: &str,
        options: ResolveOptions,
    ) -> impl Future<Output = Result<CachedToken>> + Send + 'static {
        let (client, user, provider) = (self.clone(), user.clone(), provider.to_owned());
        async move {
            client
                .fetch_user_credential(&user, &provider, options)
                .await
        }
    }
}
