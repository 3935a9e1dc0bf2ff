//! Fetching a Client ID Metadata Document without becoming an SSRF tool: the URL's shape is
//! checked, its host resolved once, every address vetted against the special-use ranges
//! (RFC 6890), and the request pinned to a vetted address (no second lookup, so no DNS
//! rebinding). No redirects, a connect and a total deadline, a size cap enforced while reading.
//!
//! The one exception is the draft's own: an authorization server running on loopback may
//! fetch from loopback (tests, `nexus dev`), when the operator says so.

use super::super::AsConfig;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const DEFAULT_MAX_AGE_MS: i64 = 5 * 60 * 1000;
const MAX_AGE_RANGE_MS: (i64, i64) = (30_000, 24 * 3600 * 1000);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CimdError {
    #[error("cimd_url_invalid")]
    UrlInvalid,
    #[error("cimd_address_refused")]
    AddressRefused,
    #[error("cimd_unreachable")]
    Unreachable,
    #[error("cimd_timeout")]
    Timeout,
    #[error("cimd_too_large")]
    TooLarge,
    #[error("cimd_http_status")]
    HttpStatus,
    #[error("cimd_content_type")]
    ContentType,
    #[error("cimd_not_json")]
    NotJson,
    #[error("cimd_client_id_mismatch")]
    ClientIdMismatch,
    #[error("cimd_field_invalid:{0}")]
    FieldInvalid(&'static str),
}

impl CimdError {
    /// The fixed reason code (shown on the error page, stored in the negative cache).
    pub fn reason(&self) -> String {
        self.to_string()
    }
}

/// A fetched document: the body and how long it may be cached.
pub struct Fetched {
    pub body: Vec<u8>,
    pub max_age_ms: i64,
}

/// Is the URL's host a loopback address or `localhost`?
pub fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The URL rules of design 17 §2.6.
pub fn check_url(client_id: &str, allow_loopback_http: bool) -> Result<url::Url, CimdError> {
    if client_id.len() > super::super::redirect_uri::MAX_URI_LEN || client_id.contains('#') {
        return Err(CimdError::UrlInvalid);
    }
    let url = url::Url::parse(client_id).map_err(|_| CimdError::UrlInvalid)?;
    let scheme_ok = match url.scheme() {
        "https" => true,
        "http" => allow_loopback_http && is_loopback_host(&url),
        _ => false,
    };
    let dot_segment = client_id
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .split('/')
        .skip(3)
        .any(|s| {
            s == "."
                || s == ".."
                || s.eq_ignore_ascii_case("%2e")
                || s.eq_ignore_ascii_case("%2e%2e")
        });
    if !scheme_ok
        || url.query().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
        || url.path() == "/"
        || url.path().is_empty()
        || dot_segment
        // The parsed form must be the presented one: `client_id` is compared byte for byte.
        || url.as_str() != client_id
    {
        return Err(CimdError::UrlInvalid);
    }
    Ok(url)
}

/// Special-use IPv4 ranges (RFC 6890 and successors).
fn special_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_unspecified()
        || o[0] == 0
        || o[0] == 10
        || (o[0] == 100 && (64..128).contains(&o[1]))
        || o[0] == 127
        || (o[0] == 169 && o[1] == 254)
        || (o[0] == 172 && (16..32).contains(&o[1]))
        || (o[0] == 192 && o[1] == 0 && (o[2] == 0 || o[2] == 2))
        || (o[0] == 192 && o[1] == 88 && o[2] == 99)
        || (o[0] == 192 && o[1] == 168)
        || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
        || (o[0] == 198 && o[1] == 51 && o[2] == 100)
        || (o[0] == 203 && o[1] == 0 && o[2] == 113)
        || o[0] >= 224
}

fn special_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return special_v4(v4);
    }
    let s = ip.segments();
    ip.is_unspecified()
        || ip.is_loopback()
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0])
        || (s[0] == 0x100 && s[1..4] == [0, 0, 0])
        || (s[0] == 0x2001 && s[1] < 0x200)
        || (s[0] == 0x2001 && s[1] == 0xdb8)
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xff00) == 0xff00
}

/// May the authorization server connect to `ip`?
pub fn address_allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    if allow_loopback && ip.is_loopback() {
        return true;
    }
    match ip {
        IpAddr::V4(v4) => !special_v4(v4),
        IpAddr::V6(v6) => !special_v6(v6),
    }
}

/// Fetch the document at `client_id` under the limits of `config`.
pub async fn fetch(client_id: &str, config: &AsConfig) -> Result<Fetched, CimdError> {
    let url = check_url(client_id, config.cimd_allow_loopback)?;
    let host = url.host_str().ok_or(CimdError::UrlInvalid)?.to_owned();
    let port = url.port_or_known_default().ok_or(CimdError::UrlInvalid)?;
    let deadline = tokio::time::Instant::now() + config.cimd_timeout;
    let lookup_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let addresses: Vec<SocketAddr> =
        tokio::time::timeout_at(deadline, tokio::net::lookup_host((lookup_host, port)))
            .await
            .map_err(|_| CimdError::Timeout)?
            .map_err(|_| CimdError::Unreachable)?
            .collect();
    if addresses.is_empty()
        || addresses
            .iter()
            .any(|a| !address_allowed(a.ip(), config.cimd_allow_loopback))
    {
        return Err(CimdError::AddressRefused);
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(config.cimd_timeout)
        .resolve(&host, addresses[0])
        .build()
        .map_err(|_| CimdError::Unreachable)?;
    let read = async {
        let mut response = client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(classify)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(CimdError::HttpStatus);
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !(content_type == "application/json"
            || (content_type.starts_with("application/") && content_type.ends_with("+json")))
        {
            return Err(CimdError::ContentType);
        }
        if response
            .content_length()
            .is_some_and(|n| n > config.cimd_max_bytes as u64)
        {
            return Err(CimdError::TooLarge);
        }
        let max_age_ms = max_age_ms(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            body.extend_from_slice(&chunk);
            if body.len() > config.cimd_max_bytes {
                return Err(CimdError::TooLarge);
            }
        }
        Ok(Fetched { body, max_age_ms })
    };
    tokio::time::timeout_at(deadline, read)
        .await
        .map_err(|_| CimdError::Timeout)?
}

fn classify(e: reqwest::Error) -> CimdError {
    if e.is_timeout() {
        CimdError::Timeout
    } else {
        CimdError::Unreachable
    }
}

/// `Cache-Control: max-age`, clamped; default 5 minutes; `no-store`/`no-cache` = the minimum.
fn max_age_ms(headers: &reqwest::header::HeaderMap) -> i64 {
    let Some(value) = headers
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
    else {
        return DEFAULT_MAX_AGE_MS;
    };
    let mut age = DEFAULT_MAX_AGE_MS;
    for directive in value.split(',').map(str::trim) {
        if directive.eq_ignore_ascii_case("no-store") || directive.eq_ignore_ascii_case("no-cache")
        {
            return MAX_AGE_RANGE_MS.0;
        }
        if let Some(secs) = directive.strip_prefix("max-age=") {
            age = secs
                .parse::<i64>()
                .map_or(DEFAULT_MAX_AGE_MS, |s| s.saturating_mul(1000));
        }
    }
    age.clamp(MAX_AGE_RANGE_MS.0, MAX_AGE_RANGE_MS.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_use_addresses_are_refused() {
        for ip in [
            "10.0.0.1",
            "169.254.169.254",
            "127.0.0.1",
            "192.168.1.1",
            "172.16.0.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::ffff:10.0.0.1",
            "fd00::1",
            "fe80::1",
            "2001:db8::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!address_allowed(ip, false), "{ip}");
        }
        assert!(address_allowed("93.184.216.34".parse().unwrap(), false));
        assert!(address_allowed("2606:4700::1".parse().unwrap(), false));
        assert!(address_allowed("127.0.0.1".parse().unwrap(), true));
        assert!(!address_allowed("10.0.0.1".parse().unwrap(), true));
    }

    #[test]
    fn url_rules() {
        assert!(check_url("https://client.example/meta.json", false).is_ok());
        for bad in [
            "https://client.example/",
            "https://client.example",
            "https://client.example/a?x=1",
            "https://client.example/a#f",
            "https://u@client.example/a",
            "https://client.example/a/../b",
            "http://client.example/a",
            "http://127.0.0.1:1/a",
            "https://CLIENT.example/a",
        ] {
            assert_eq!(
                check_url(bad, false).unwrap_err(),
                CimdError::UrlInvalid,
                "{bad}"
            );
        }
        assert!(check_url("http://127.0.0.1:1/a", true).is_ok());
        assert!(check_url("http://evil.example/a", true).is_err());
    }
}
