//! Which endpoints the broker may call. A webhook URL is chosen by an operator but resolved by
//! the broker, inside its network: without this guard it could be pointed at a metadata
//! service or an internal admin port (SSRF). Two checks:
//! - [`check_url`] at creation and before each attempt: `https`, no userinfo, no fragment, and
//!   an IP-literal host must be public (loopback `http` only when allowed for development);
//! - [`GuardedResolver`]: every DNS answer is filtered the same way when the connection is
//!   made, so a name that resolves (or re-resolves) to a private address is refused.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// May the broker connect to `ip`? Public addresses always; loopback when `allow_loopback`.
pub fn address_allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    if ip.is_loopback() {
        return allow_loopback;
    }
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => !v4.is_loopback() && public_v4(v4),
            None => public_v6(v6),
        },
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_link_local() // 169.254/16, cloud metadata
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || a >= 240)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link local
        || (first & 0xffc0) == 0xfec0) // site local (deprecated)
}

/// Check an endpoint URL. The error says what is wrong with it (never needs to quote it).
pub fn check_url(text: &str, allow_loopback: bool) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("`url` is not a URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("`url` must not carry a user name or password".into());
    }
    if url.fragment().is_some() {
        return Err("`url` must not have a fragment".into());
    }
    let loopback_host = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err("`url` must have a host".into()),
    };
    match url.scheme() {
        "https" => {}
        "http" if allow_loopback && loopback_host => {}
        _ if allow_loopback => {
            return Err("`url` must be https (or http on loopback in development)".into());
        }
        _ => return Err("`url` must be https".into()),
    }
    let literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        _ => None,
    };
    if let Some(ip) = literal
        && !address_allowed(ip, allow_loopback)
    {
        return Err("`url` points at a private, loopback or link-local address".into());
    }
    if loopback_host && !allow_loopback {
        return Err("`url` points at a private, loopback or link-local address".into());
    }
    Ok(url)
}

/// A DNS resolver that drops the addresses the broker may not call; a name with none left
/// fails to resolve.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_loopback: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = found
                .filter(|a| address_allowed(a.ip(), allow_loopback))
                .collect();
            if allowed.is_empty() {
                return Err(
                    format!("`{host}` resolves only to addresses webhooks may not reach").into(),
                );
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_metadata_addresses_are_refused() {
        for ip in [
            "10.0.0.1",
            "172.16.3.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!address_allowed(ip.parse().unwrap(), true), "{ip}");
        }
        assert!(address_allowed("93.184.216.34".parse().unwrap(), false));
        assert!(address_allowed("2606:4700::1".parse().unwrap(), false));
        assert!(!address_allowed("127.0.0.1".parse().unwrap(), false));
        assert!(address_allowed("127.0.0.1".parse().unwrap(), true));
        assert!(address_allowed("::1".parse().unwrap(), true));
    }

    #[test]
    fn urls_must_be_https_and_public_unless_loopback_is_allowed() {
        assert!(check_url("https://hooks.example.com/n", false).is_ok());
        assert!(check_url("http://hooks.example.com/n", false).is_err());
        assert!(check_url("http://hooks.example.com/n", true).is_err());
        assert!(check_url("https://user:pw@hooks.example.com/", false).is_err());
        assert!(check_url("https://hooks.example.com/#x", false).is_err());
        assert!(check_url("https://169.254.169.254/latest", false).is_err());
        assert!(check_url("https://10.1.2.3/", true).is_err());
        assert!(check_url("http://127.0.0.1:9/h", false).is_err());
        assert!(check_url("https://localhost/h", false).is_err());
        assert!(check_url("http://127.0.0.1:9/h", true).is_ok());
        assert!(check_url("http://[::1]:9/h", true).is_ok());
        assert!(check_url("http://localhost:9/h", true).is_ok());
        assert!(check_url("not a url", true).is_err());
    }
}
