//! [`CachedToken`]: a resolved credential, ready to inject, with its expiry on both clocks.

use crate::error::{NexusError, Result};
use crate::expiry;
use chrono::{DateTime, SecondsFormat, Utc};
use nexus_protocol::{
    Credentials, ResolveResponse, ScopeEnforcement, SecretString, Strategy, StrategyError,
    StrategySpec,
};
use std::fmt;
use std::time::{Duration, Instant};

/// A credential as returned by `GET /v1/resolve`, with its strategy parsed and its expiry
/// computed. `Debug` never shows the access token or any credential value.
#[derive(Clone)]
pub struct CachedToken {
    access_token: Option<SecretString>,
    token_type: String,
    strategy_spec: StrategySpec,
    strategy: std::result::Result<Strategy, StrategyError>,
    credentials: Credentials,
    scopes: Vec<String>,
    api_base_url: Option<String>,
    connection_id: Option<String>,
    scope_enforcement: Option<ScopeEnforcement>,
    /// The provider's proxy settings, when the broker sent them (the gateway's proxy mode).
    proxy: Option<nexus_protocol::proxy::ProxyConfig>,
    /// Wall-clock expiry (for display); `None` for credentials that never expire.
    expires_at: Option<DateTime<Utc>>,
    /// Monotonic instant after which the credential must not be used (cache decisions).
    valid_until: Instant,
    /// Order of the cache flight that produced this token (newer flights win).
    pub(crate) generation: u64,
}

impl CachedToken {
    /// Build from a resolve response received at `received_at` (wall clock) / `received`
    /// (monotonic clock).
    pub fn from_response(
        response: ResolveResponse,
        received_at: DateTime<Utc>,
        received: Instant,
    ) -> Self {
        let lifetime = expiry::lifetime(&response, received_at);
        let mut credentials = response.credentials;
        // OAuth responses carry the token at the top level; strategies read it from the
        // credential fields, so make it available there when the gateway did not repeat it.
        if let Some(token) = &response.access_token
            && !credentials.0.contains_key("access_token")
        {
            credentials.insert("access_token", token.expose());
        }
        Self {
            strategy: Strategy::from_spec(&response.strategy),
            strategy_spec: response.strategy,
            access_token: response.access_token,
            token_type: response.token_type,
            credentials,
            scopes: response.scopes,
            api_base_url: response.api_base_url,
            connection_id: response.connection_id,
            scope_enforcement: response.scope_enforcement,
            proxy: response.proxy,
            expires_at: lifetime.expires_at,
            valid_until: received + lifetime.ttl,
            generation: 0,
        }
    }

    /// The access token (OAuth connections), when the response carried one.
    pub fn access_token(&self) -> Option<&str> {
        self.access_token.as_ref().map(SecretString::expose)
    }

    pub fn token_type(&self) -> &str {
        &self.token_type
    }

    /// The strategy exactly as the gateway sent it.
    pub fn strategy_spec(&self) -> &StrategySpec {
        &self.strategy_spec
    }

    /// The validated strategy, or why it cannot be used.
    pub fn strategy(&self) -> Result<&Strategy> {
        self.strategy
            .as_ref()
            .map_err(|e| NexusError::from(e.clone()))
    }

    /// The credential fields (values are secrets: do not log them).
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    pub fn api_base_url(&self) -> Option<&str> {
        self.api_base_url.as_deref()
    }

    /// The provider's proxy settings (only the broker's answers to the gateway carry them).
    pub fn proxy_config(&self) -> Option<&nexus_protocol::proxy::ProxyConfig> {
        self.proxy.as_ref()
    }

    pub fn connection_id(&self) -> Option<&str> {
        self.connection_id.as_deref()
    }

    pub fn scope_enforcement(&self) -> Option<ScopeEnforcement> {
        self.scope_enforcement
    }

    /// Wall-clock expiry; `None` when the credential does not expire.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }

    /// [`Self::expires_at`] as RFC 3339 (`2026-11-24T13:00:00Z`).
    pub fn expires_at_rfc3339(&self) -> Option<String> {
        self.expires_at
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
    }

    /// Whole seconds until the credential expires (0 once expired); `None` when it does not
    /// expire.
    pub fn seconds_remaining(&self) -> Option<u64> {
        self.expires_at?;
        Some(self.time_left(Instant::now()).as_secs())
    }

    /// Time until the cache stops trusting this credential (before any safety buffer).
    pub fn time_left(&self, now: Instant) -> Duration {
        self.valid_until.saturating_duration_since(now)
    }

    /// Which cache flight stored this token: distinct for every token one [`crate::TokenCache`]
    /// stores, 0 for a token that never went through a cache. Lets a binding reuse its converted
    /// copy of a cached token for as long as the cache keeps serving that same token.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// True while `now < valid_until - buffer`: the cache may serve it.
    #[inline]
    pub fn is_fresh(&self, now: Instant, buffer: Duration) -> bool {
        !self.fresh_for(now, buffer).is_zero()
    }

    /// How much longer, from `now`, the cache may serve this token with safety buffer `buffer`
    /// (zero once it may not): the freshness rule as a duration, for a binding that keeps its
    /// own copy of a hit and must stop using it exactly when the cache would.
    #[inline]
    pub fn fresh_for(&self, now: Instant, buffer: Duration) -> Duration {
        match self.valid_until.checked_sub(buffer) {
            Some(limit) => limit.saturating_duration_since(now),
            None => Duration::ZERO,
        }
    }
}

impl fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedToken")
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "[redacted]"),
            )
            .field("token_type", &self.token_type)
            .field("strategy", &self.strategy_spec.kind)
            .field("credentials", &self.credentials)
            .field("scopes", &self.scopes)
            .field("api_base_url", &self.api_base_url)
            .field("connection_id", &self.connection_id)
            .field("expires_at", &self.expires_at_rfc3339())
            .finish()
    }
}
