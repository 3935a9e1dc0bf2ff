//! Gateway settings: where the broker is, how to authenticate to it, and the cache, rate-limit,
//! size and time limits of the public API.

use nexus_protocol::SecretString;
use std::time::Duration;
use thiserror::Error;

/// Everything the gateway needs to run. Build it by hand (tests) or with [`GatewayConfig::from_env`].
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Base URL of the broker's internal API, e.g. `http://127.0.0.1:7001` (`NEXUS_BROKER_URL`).
    pub broker_url: String,
    /// Shared secret sent as `Authorization: Bearer …` to the broker (`NEXUS_INTERNAL_TOKEN`).
    pub internal_token: SecretString,

    /// How long a verified (or rejected) API key is remembered. Revocations pushed by the broker
    /// empty the cache at once; this bounds staleness while that stream is down. `ZERO` disables the
    /// cache (every request verifies at the broker). `NEXUS_GATEWAY_KEY_CACHE_TTL_MS`.
    pub key_cache_ttl: Duration,
    /// Most API keys remembered at once.
    pub key_cache_capacity: u64,

    /// Hold the broker's revocation stream open (`GET /internal/v1/events`) so revoked keys and
    /// connections leave the caches at once; the TTLs above are then only the fallback bound.
    /// On by default; tests that count every internal call turn it off.
    pub revocation_feed: bool,

    /// Most access tokens held in memory at once (one per workspace × provider).
    pub token_cache_capacity: u64,
    /// A cached token is served only while it has more than this much life left; after that the
    /// next caller fetches a fresh one from the broker. `NEXUS_GATEWAY_TOKEN_REFRESH_MARGIN_SECS`.
    pub token_refresh_margin: Duration,
    /// Upper bound on how long any token is cached, whatever its lifetime. This bounds how long
    /// the gateway keeps handing out a token after its connection was revoked at the broker.
    /// `ZERO` disables the token cache. `NEXUS_GATEWAY_TOKEN_CACHE_MAX_TTL_SECS`.
    pub token_cache_max_ttl: Duration,

    /// Sustained requests per second allowed per API key, and per agent across all of its
    /// sessions; `0` disables rate limiting. `NEXUS_GATEWAY_RATE_LIMIT_PER_SEC`.
    pub rate_limit_per_second: u32,
    /// Requests a key may burst above the sustained rate. `NEXUS_GATEWAY_RATE_LIMIT_BURST`.
    pub rate_limit_burst: u32,
    /// Sessions one agent credential may create per minute (sustained); `0` disables the limit.
    /// `NEXUS_GATEWAY_SESSION_CREATE_PER_MIN`.
    pub session_create_per_minute: u32,
    /// Sessions one agent credential may create in a burst.
    /// `NEXUS_GATEWAY_SESSION_CREATE_BURST`.
    pub session_create_burst: u32,

    /// Largest request body accepted (413 above). `NEXUS_GATEWAY_MAX_BODY_BYTES`.
    pub max_body_bytes: usize,
    /// Largest total size of request headers (names + values) accepted (431 above).
    /// `NEXUS_GATEWAY_MAX_HEADER_BYTES`.
    pub max_header_bytes: usize,
    /// Whole-request deadline (504 after). `NEXUS_GATEWAY_REQUEST_TIMEOUT_MS`.
    pub request_timeout: Duration,
    /// Answer a warm `GET /v1/resolve` (API key and token both cached) in the middleware
    /// ([`crate::warm_resolve`]); the answer is the same either way. `false` sends every
    /// request through the router and handler: for tests and A/B measurements.
    pub warm_resolve: bool,
    /// Deadline of one call to the broker (503 after). `NEXUS_GATEWAY_BROKER_TIMEOUT_MS`.
    pub broker_timeout: Duration,
    /// Deadline to open a TCP connection to the broker.
    pub broker_connect_timeout: Duration,
    /// This gateway's public base URL, the `iss` of the session tokens it hands out
    /// (`NEXUS_PUBLIC_URL`, e.g. `https://nexus.example.com`). Unset: the URL as the caller
    /// reached it (`Host`, and `X-Forwarded-Proto: https`), which a client can choose — set it
    /// in production.
    pub public_url: Option<String>,
    /// Proxy mode's gateway-wide limits (`NEXUS_PROXY_*`, see [`crate::proxy::ProxyLimits`]).
    pub proxy: crate::proxy::ProxyLimits,
    /// Relay `/auth/callback` (the original gateway's OAuth redirect target) to the broker's
    /// `/oauth/callback`, for providers registered with the gateway's URL (the broker then runs
    /// with `NEXUS_OAUTH_REDIRECT_URI` set to it). Off: `/auth/callback` answers 404 naming the
    /// broker's callback. `NEXUS_GATEWAY_RELAY_AUTH_CALLBACK=true`.
    pub relay_auth_callback: bool,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` name the client
    /// (`NEXUS_TRUSTED_PROXIES`, CIDR blocks). Empty (default): the client is the TCP peer and
    /// those headers are ignored.
    pub trusted_proxies: nexus_protocol::forwarded::TrustedProxies,
    /// Where access lines go. `None` (default): one `tracing` event per request (target
    /// `nexus_gateway::access`), as `nexus dev` prints them for a person. `nexus serve` (JSON
    /// logs) passes a [`crate::access_log::AccessLog`]: a writer thread that never blocks a
    /// request (see that module for what happens when it falls behind).
    pub access_log: Option<crate::access_log::AccessLog>,
}

impl GatewayConfig {
    /// Defaults for everything except the two settings that have none.
    pub fn new(broker_url: impl Into<String>, internal_token: impl Into<SecretString>) -> Self {
        Self {
            broker_url: broker_url.into(),
            internal_token: internal_token.into(),
            key_cache_ttl: Duration::from_secs(10),
            key_cache_capacity: 10_000,
            revocation_feed: true,
            token_cache_capacity: 10_000,
            token_refresh_margin: Duration::from_secs(60),
            token_cache_max_ttl: Duration::from_secs(300),
            rate_limit_per_second: 50,
            rate_limit_burst: 100,
            session_create_per_minute: 60,
            session_create_burst: 20,
            max_body_bytes: 64 * 1024,
            max_header_bytes: 16 * 1024,
            request_timeout: Duration::from_secs(30),
            warm_resolve: true,
            broker_timeout: Duration::from_secs(15),
            broker_connect_timeout: Duration::from_secs(2),
            public_url: None,
            proxy: crate::proxy::ProxyLimits::default(),
            relay_auth_callback: false,
            trusted_proxies: Default::default(),
            access_log: None,
        }
    }

    /// Reads `NEXUS_BROKER_URL` and `NEXUS_INTERNAL_TOKEN` (required) and the optional
    /// `NEXUS_GATEWAY_*` overrides documented on each field.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`GatewayConfig::from_env`] over any variable source (so it can be tested without
    /// touching the process environment).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| match get(name) {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(ConfigError::Missing(name)),
        };
        let mut config = Self::new(
            required("NEXUS_BROKER_URL")?,
            required("NEXUS_INTERNAL_TOKEN")?,
        );
        let number = |name: &'static str| -> Result<Option<u64>, ConfigError> {
            match get(name) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| ConfigError::NotANumber(name)),
            }
        };
        if let Some(ms) = number("NEXUS_GATEWAY_KEY_CACHE_TTL_MS")? {
            config.key_cache_ttl = Duration::from_millis(ms);
        }
        if let Some(s) = number("NEXUS_GATEWAY_TOKEN_REFRESH_MARGIN_SECS")? {
            config.token_refresh_margin = Duration::from_secs(s);
        }
        if let Some(s) = number("NEXUS_GATEWAY_TOKEN_CACHE_MAX_TTL_SECS")? {
            config.token_cache_max_ttl = Duration::from_secs(s);
        }
        if let Some(n) = number("NEXUS_GATEWAY_RATE_LIMIT_PER_SEC")? {
            config.rate_limit_per_second = to_u32(n, "NEXUS_GATEWAY_RATE_LIMIT_PER_SEC")?;
        }
        if let Some(n) = number("NEXUS_GATEWAY_RATE_LIMIT_BURST")? {
            config.rate_limit_burst = to_u32(n, "NEXUS_GATEWAY_RATE_LIMIT_BURST")?;
        }
        if let Some(n) = number("NEXUS_GATEWAY_SESSION_CREATE_PER_MIN")? {
            config.session_create_per_minute = to_u32(n, "NEXUS_GATEWAY_SESSION_CREATE_PER_MIN")?;
        }
        if let Some(n) = number("NEXUS_GATEWAY_SESSION_CREATE_BURST")? {
            config.session_create_burst = to_u32(n, "NEXUS_GATEWAY_SESSION_CREATE_BURST")?;
        }
        if let Some(n) = number("NEXUS_GATEWAY_MAX_BODY_BYTES")? {
            config.max_body_bytes = to_usize(n, "NEXUS_GATEWAY_MAX_BODY_BYTES")?;
        }
        if let Some(n) = number("NEXUS_GATEWAY_MAX_HEADER_BYTES")? {
            config.max_header_bytes = to_usize(n, "NEXUS_GATEWAY_MAX_HEADER_BYTES")?;
        }
        if let Some(ms) = number("NEXUS_GATEWAY_REQUEST_TIMEOUT_MS")? {
            config.request_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = number("NEXUS_GATEWAY_BROKER_TIMEOUT_MS")? {
            config.broker_timeout = Duration::from_millis(ms);
        }
        // Proxy mode (issue 16).
        if let Some(n) = number("NEXUS_PROXY_MAX_BODY")? {
            config.proxy.max_body = n;
        }
        if let Some(n) = number("NEXUS_PROXY_MAX_BUFFERED_BODY")? {
            config.proxy.max_buffered_body = n;
        }
        if let Some(n) = number("NEXUS_PROXY_REPLAY_BUFFER")? {
            config.proxy.replay_buffer = n;
        }
        if let Some(n) = number("NEXUS_PROXY_MAX_RESPONSE_BODY")? {
            config.proxy.max_response_body = n;
        }
        if let Some(ms) = number("NEXUS_PROXY_MAX_TIMEOUT_MS")? {
            config.proxy.max_timeout = Duration::from_millis(ms);
        }
        if let Some(n) = number("NEXUS_PROXY_MAX_RETRY_WAITERS")? {
            config.proxy.max_retry_waiters = to_usize(n, "NEXUS_PROXY_MAX_RETRY_WAITERS")?;
        }
        match get("NEXUS_GATEWAY_RELAY_AUTH_CALLBACK")
            .as_deref()
            .map(str::trim)
        {
            None | Some("") | Some("false") | Some("0") => {}
            Some("true") | Some("1") => config.relay_auth_callback = true,
            Some(_) => return Err(ConfigError::NotABool("NEXUS_GATEWAY_RELAY_AUTH_CALLBACK")),
        }
        if let Some(url) = get("NEXUS_PUBLIC_URL").filter(|u| !u.trim().is_empty()) {
            config.public_url = Some(public_url(&url)?);
        }
        if let Some(list) = get("NEXUS_TRUSTED_PROXIES") {
            config.trusted_proxies = nexus_protocol::forwarded::TrustedProxies::parse(&list)
                .map_err(|reason| ConfigError::Invalid("NEXUS_TRUSTED_PROXIES", reason))?;
        }
        Ok(config)
    }
}

/// An absolute http(s) URL without query or fragment, kept without its trailing `/`.
fn public_url(raw: &str) -> Result<String, ConfigError> {
    let raw = raw.trim();
    let ok = reqwest::Url::parse(raw).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https")
            && u.host().is_some()
            && u.query().is_none()
            && u.fragment().is_none()
    });
    if ok {
        Ok(raw.trim_end_matches('/').to_owned())
    } else {
        Err(ConfigError::NotAUrl("NEXUS_PUBLIC_URL"))
    }
}

fn to_u32(n: u64, name: &'static str) -> Result<u32, ConfigError> {
    u32::try_from(n).map_err(|_| ConfigError::NotANumber(name))
}

fn to_usize(n: u64, name: &'static str) -> Result<usize, ConfigError> {
    usize::try_from(n).map_err(|_| ConfigError::NotANumber(name))
}

/// A setting is missing or malformed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{0} must be a non-negative integer")]
    NotANumber(&'static str),
    #[error("{0} must be true or false")]
    NotABool(&'static str),
    #[error("{0} must be an absolute http(s) URL without query or fragment")]
    NotAUrl(&'static str),
    #[error("{0}: {1}")]
    Invalid(&'static str, String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn requires_broker_url_and_token() {
        let err = GatewayConfig::from_lookup(lookup(&[("NEXUS_INTERNAL_TOKEN", "t")])).unwrap_err();
        assert_eq!(err, ConfigError::Missing("NEXUS_BROKER_URL"));
        let err =
            GatewayConfig::from_lookup(lookup(&[("NEXUS_BROKER_URL", "http://b")])).unwrap_err();
        assert_eq!(err, ConfigError::Missing("NEXUS_INTERNAL_TOKEN"));
    }

    #[test]
    fn reads_overrides_and_rejects_garbage() {
        let base = [
            ("NEXUS_BROKER_URL", "http://b"),
            ("NEXUS_INTERNAL_TOKEN", "t"),
        ];
        let mut vars = base.to_vec();
        vars.push(("NEXUS_GATEWAY_KEY_CACHE_TTL_MS", "0"));
        vars.push(("NEXUS_GATEWAY_RATE_LIMIT_PER_SEC", "7"));
        let config = GatewayConfig::from_lookup(lookup(&vars)).unwrap();
        assert_eq!(config.key_cache_ttl, Duration::ZERO);
        assert_eq!(config.rate_limit_per_second, 7);
        assert_eq!(config.internal_token.expose(), "t");

        let mut bad = base.to_vec();
        let mut with_url = vars.clone();
        with_url.push(("NEXUS_PUBLIC_URL", "https://nexus.example.com/"));
        let config = GatewayConfig::from_lookup(lookup(&with_url)).unwrap();
        assert_eq!(
            config.public_url.as_deref(),
            Some("https://nexus.example.com")
        );
        let mut bad_url = vars.clone();
        bad_url.push(("NEXUS_PUBLIC_URL", "nexus.example.com"));
        assert_eq!(
            GatewayConfig::from_lookup(lookup(&bad_url)).unwrap_err(),
            ConfigError::NotAUrl("NEXUS_PUBLIC_URL")
        );
        bad.push(("NEXUS_GATEWAY_MAX_BODY_BYTES", "lots"));
        assert_eq!(
            GatewayConfig::from_lookup(lookup(&bad)).unwrap_err(),
            ConfigError::NotANumber("NEXUS_GATEWAY_MAX_BODY_BYTES")
        );
    }
}
