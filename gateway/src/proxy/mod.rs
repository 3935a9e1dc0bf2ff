//! Proxy mode (`/v1/proxy/{workspace_id}/{provider_name}/{path…}`, design 16): the agent calls
//! the provider's API through the gateway, which injects the credential with the core's strategy
//! engine, so the agent never holds it.
//!
//! - [`path`]: the path normaliser (no input escapes the provider's base path).
//! - [`headers`]: what crosses in each direction (hop-by-hop, `Proxy-*`, `Nexus-*`, credentials).
//! - [`body`]: streamed bodies with limits and byte counts.
//! - [`audit`]: one audit record per call, batched to the broker off the request path.
//! - [`tokens`]: the credential of a call and the 401 rule (the core's cache and policy).
//! - [`throttle`]: when an upstream 429/503 is waited out and sent again (`retry_on_throttle`).
//! - [`Target`]: the upstream URL of one call (base URL or an allowed host, never a caller URL).
//!
//! The handler is `routes::proxy`.

pub mod audit;
pub mod body;
pub mod headers;
pub mod path;
pub mod throttle;
pub mod tokens;

use crate::error::{ApiError, GatewayError};
use nexus_protocol::ErrorCode;
use nexus_protocol::proxy::ProxyConfig;
use parking_lot::RwLock;
use path::NormalPath;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// Gateway-wide limits of proxy mode; a provider's `proxy` settings may only lower them.
#[derive(Debug, Clone)]
pub struct ProxyLimits {
    /// Largest streamed request body (`NEXUS_PROXY_MAX_BODY`, bytes; default 1 GiB).
    pub max_body: u64,
    /// Largest body a signing strategy reads whole (`NEXUS_PROXY_MAX_BUFFERED_BODY`; 8 MiB).
    pub max_buffered_body: u64,
    /// Bodies up to this size are read first so a 401 can be retried (`NEXUS_PROXY_REPLAY_BUFFER`;
    /// 64 KiB).
    pub replay_buffer: u64,
    /// Largest response body streamed back (`NEXUS_PROXY_MAX_RESPONSE_BODY`; 1 GiB).
    pub max_response_body: u64,
    /// Time to the upstream's response headers when the provider sets none (30 s).
    pub default_timeout: Duration,
    /// Cap of any provider's timeout (`NEXUS_PROXY_MAX_TIMEOUT_MS`; 120 s).
    pub max_timeout: Duration,
    /// Deadline to open a connection to an upstream (5 s).
    pub connect_timeout: Duration,
    /// Calls that may wait out an upstream's `Retry-After` at once, gateway-wide
    /// (`NEXUS_PROXY_MAX_RETRY_WAITERS`; 64). Beyond it the throttled answer is passed through.
    pub max_retry_waiters: usize,
}

impl Default for ProxyLimits {
    fn default() -> Self {
        Self {
            max_body: 1 << 30,
            max_buffered_body: 8 << 20,
            replay_buffer: 64 << 10,
            max_response_body: 1 << 30,
            default_timeout: Duration::from_secs(30),
            max_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(5),
            max_retry_waiters: 64,
        }
    }
}

/// The limits of one call: the provider's settings under the gateway's caps.
#[derive(Debug, Clone, Copy)]
pub struct CallLimits {
    pub max_body: u64,
    pub max_buffered_body: u64,
    pub replay_buffer: u64,
    pub timeout: Duration,
}

impl ProxyLimits {
    pub fn for_provider(&self, config: Option<&ProxyConfig>) -> CallLimits {
        // Read field by field: the settings (with their rules) are not copied per call.
        let own = |field: fn(&ProxyConfig) -> Option<u64>| config.and_then(field);
        let pick = |own: Option<u64>, cap: u64| own.map_or(cap, |v| v.min(cap));
        CallLimits {
            max_body: pick(own(|c| c.max_body), self.max_body),
            max_buffered_body: pick(own(|c| c.max_buffered_body), self.max_buffered_body),
            replay_buffer: pick(own(|c| c.replay_buffer), self.replay_buffer),
            timeout: own(|c| c.timeout_ms)
                .map_or(self.default_timeout, Duration::from_millis)
                .min(self.max_timeout),
        }
    }
}

/// The client every proxied call goes through: redirects are returned, never followed; no
/// cookies; no decompression (bytes pass as the upstream sent them); no environment proxy.
pub fn upstream_client(limits: &ProxyLimits) -> Result<reqwest::Client, GatewayError> {
    let tls = crate::tls::broker_client_config()
        .map_err(|e| GatewayError::InvalidConfig(format!("TLS for the proxy client: {e}")))?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(limits.connect_timeout)
        .pool_max_idle_per_host(256)
        .build()
        .map_err(GatewayError::HttpClient)
}

/// Where one call goes: `scheme://authority` and the base path (no trailing `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub origin: Arc<str>,
    pub base_path: Arc<str>,
    /// `origin` parsed, when it is the base URL's (not an allowed host's): the call's URL is
    /// this with its path and query set, so the host is not parsed again per call (reqwest's
    /// parse of the whole URL, IDNA mapping included, was ~4 % of the gateway's CPU).
    pub parsed_origin: Option<Arc<reqwest::Url>>,
}

/// A provider's base URL as [`Target::choose`] reads it: its scheme, its authority and its path.
/// Every call of a provider has the same base URL, so it is parsed once (the parse, with its
/// IDNA host mapping, was ~3 % of the gateway's CPU per proxied call).
#[derive(Debug)]
struct Base {
    scheme: &'static str,
    origin: Arc<str>,
    base_path: Arc<str>,
    /// `origin` as a URL (parsed from that text, so no user info, query or fragment).
    parsed_origin: Arc<reqwest::Url>,
}

/// Parsed base URLs, by their text. A memo of a pure function of the text, so one per process
/// serves every gateway in it; emptied when it reaches [`BASES_KEPT`] (base URLs come from the
/// providers' settings, so only a churn of providers ever fills it).
static BASES: LazyLock<RwLock<HashMap<Box<str>, Arc<Base>>>> = LazyLock::new(Default::default);
const BASES_KEPT: usize = 1024;

fn parse_base(api_base_url: &str) -> Option<Arc<Base>> {
    if let Some(base) = BASES.read().get(api_base_url) {
        return Some(base.clone());
    }
    let url = reqwest::Url::parse(api_base_url)
        .ok()
        .filter(|u| u.host().is_some())?;
    let scheme = match url.scheme() {
        "http" => "http",
        "https" => "https",
        _ => return None,
    };
    let origin = format!("{scheme}://{}", authority_of(&url));
    let parsed_origin = Arc::new(reqwest::Url::parse(&origin).ok()?);
    let base = Arc::new(Base {
        scheme,
        origin: origin.into(),
        base_path: url.path().trim_end_matches('/').into(),
        parsed_origin,
    });
    let mut bases = BASES.write();
    if bases.len() >= BASES_KEPT {
        bases.clear();
    }
    bases.insert(api_base_url.into(), base.clone());
    Some(base)
}

impl Target {
    /// The provider's base URL, or (with `Nexus-Proxy-Host`) an entry of `allowed_hosts` with
    /// the base URL's scheme and path. Nothing else can be named.
    pub fn choose(
        api_base_url: &str,
        config: Option<&ProxyConfig>,
        wanted_host: Option<&str>,
    ) -> Result<Self, ApiError> {
        let base = parse_base(api_base_url).ok_or_else(|| {
            ApiError::new(
                ErrorCode::ProxyNotEnabled,
                "the provider's api_base_url is not an http(s) URL",
            )
        })?;
        let (origin, parsed_origin) = match wanted_host {
            None => (base.origin.clone(), Some(base.parsed_origin.clone())),
            Some(wanted) => config
                .and_then(|c| c.allowed_host(wanted))
                .map(|host| {
                    let origin = format!("{}://{}", base.scheme, host.to_ascii_lowercase());
                    (origin.into(), None)
                })
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::ProxyHostNotAllowed,
                        "Nexus-Proxy-Host is not in the provider's proxy.allowed_hosts",
                    )
                })?,
        };
        Ok(Self {
            origin,
            base_path: base.base_path.clone(),
            parsed_origin,
        })
    }

    /// The call's URL: `{origin}{base_path}/{path}[?{query}]` (`tail`: the raw path's length,
    /// for the capacity). With the base URL's origin, its parsed form with the path and query
    /// set: the same URL as parsing the whole text, since the normalised path and the checked
    /// query hold no byte the parser would read differently (see
    /// `setting_path_and_query_is_parsing_the_whole_url`); with an allowed host, the text parsed.
    pub fn url(
        &self,
        path: &NormalPath,
        query: Option<&str>,
        tail: usize,
    ) -> Result<reqwest::Url, ApiError> {
        let mut text = String::with_capacity(
            self.origin.len() + self.base_path.len() + tail + 2 + query.map_or(0, str::len),
        );
        let Some(origin) = &self.parsed_origin else {
            text.push_str(&self.origin);
            path.push_under(&mut text, &self.base_path);
            if let Some(q) = query {
                text.push('?');
                text.push_str(q);
            }
            return reqwest::Url::parse(&text)
                .map_err(|_| ApiError::bad_gateway("the upstream URL is not valid"));
        };
        path.push_under(&mut text, &self.base_path);
        let mut url = reqwest::Url::clone(origin);
        url.set_path(&text);
        url.set_query(query);
        Ok(url)
    }

    /// The host the audit record names (no scheme).
    pub fn host(&self) -> &str {
        self.origin
            .split_once("://")
            .map_or(&*self.origin, |(_, a)| a)
    }
}

fn authority_of(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_is_the_base_or_an_allowed_host_only() {
        let config = ProxyConfig {
            allowed_hosts: vec!["uploads.crm.example".into()],
            ..Default::default()
        };
        let base = Target::choose("https://api.crm.example/v2/", Some(&config), None).unwrap();
        assert_eq!(&*base.origin, "https://api.crm.example");
        assert_eq!(&*base.base_path, "/v2");
        let other = Target::choose(
            "https://api.crm.example/v2",
            Some(&config),
            Some("Uploads.CRM.example"),
        )
        .unwrap();
        assert_eq!(&*other.origin, "https://uploads.crm.example");
        assert_eq!(&*other.base_path, "/v2");
        let refused = Target::choose(
            "https://api.crm.example",
            Some(&config),
            Some("evil.example"),
        )
        .unwrap_err();
        assert_eq!(refused.body.error, ErrorCode::ProxyHostNotAllowed);
        let none = Target::choose("https://api.crm.example", None, Some("api.crm.example"));
        assert!(none.is_err(), "no allow-list: only the base");
    }

    /// The URL built from the parsed origin is the URL parsed from the whole text, for every
    /// byte a normalised path or a checked query may hold.
    #[test]
    fn setting_path_and_query_is_parsing_the_whole_url() {
        let cases = [
            ("items/42", Some("x=1")),
            ("", None),
            ("a/", Some("")),
            ("a%20b/%C3%A9/c%2Fd", Some("q=%20&r='x'&s=a+b")),
            ("!$&'()*+,;=:@-._~/x", Some("a=b?c/d:@!$'()*+,;=")),
            ("v1/me", Some("%41=%2f")),
        ];
        for base in [
            "http://127.0.0.1:8080",
            "https://user:pw@API.Example.com:443/v2/?k=1#f",
            "http://[::1]:9/base",
        ] {
            let target = Target::choose(base, None, None).unwrap();
            for (tail, query) in cases {
                let path = path::normalise(&format!("/{tail}"), true).unwrap();
                if let Some(q) = query {
                    path::check_query(q).unwrap();
                }
                let built = target.url(&path, query, tail.len() + 1).unwrap();
                let mut text = format!("{}{}", target.origin, path.under(&target.base_path));
                if let Some(q) = query {
                    text = format!("{text}?{q}");
                }
                let parsed = reqwest::Url::parse(&text).unwrap();
                assert_eq!(built.as_str(), parsed.as_str(), "{base} {tail} {query:?}");
                assert_eq!(built, parsed);
            }
        }
    }

    #[test]
    fn provider_limits_only_lower_the_gateway_caps() {
        let limits = ProxyLimits::default();
        let config = ProxyConfig {
            max_buffered_body: Some(1 << 40),
            replay_buffer: Some(10),
            timeout_ms: Some(600_000),
            ..Default::default()
        };
        let call = limits.for_provider(Some(&config));
        assert_eq!(call.max_buffered_body, limits.max_buffered_body);
        assert_eq!(call.replay_buffer, 10);
        assert_eq!(call.timeout, limits.max_timeout);
    }
}
