//! The client's address behind reverse proxies (`NEXUS_TRUSTED_PROXIES`): `X-Forwarded-For` and
//! `Forwarded` (RFC 7239) are believed only as far as the proxies that wrote them are trusted.
//!
//! Rightmost-untrusted rule: start from the TCP peer; while the address in hand is a trusted
//! proxy, step one hop left in the forwarded list (the address that proxy saw). The first
//! address that is not a trusted proxy is the client. So a header sent by an untrusted peer is
//! ignored entirely, and entries a client put in front of a trusted proxy's own are never
//! reached. An entry that is not an address (`unknown`, an obfuscated name, garbage) stops the
//! walk at the proxy that passed it on. Used by the gateway and the broker for the failed
//! authentication limiter and the audit log.

use std::net::IpAddr;

/// The configured trusted proxies: a list of CIDR blocks (`10.0.0.0/8`, `::1/128`, or bare
/// addresses). Empty (the default) trusts no one: the client is always the TCP peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    blocks: Vec<(IpAddr, u8)>,
}

impl TrustedProxies {
    /// Parse a comma- or space-separated list; the error names the entry that is not a CIDR
    /// block (the setting holds no secret).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut blocks = Vec::new();
        for entry in list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
        {
            let refuse = || format!("`{entry}` is not an IP address or CIDR block");
            let (addr, len) = match entry.split_once('/') {
                Some((addr, len)) => (addr, Some(len.parse::<u8>().map_err(|_| refuse())?)),
                None => (entry, None),
            };
            let addr: IpAddr = addr.parse().map_err(|_| refuse())?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let len = len.unwrap_or(max);
            if len > max {
                return Err(refuse());
            }
            blocks.push((addr, len));
        }
        Ok(Self { blocks })
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Whether `ip` is in one of the blocks (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.blocks
            .iter()
            .any(|&(block, len)| in_block(ip, canonical(block), len))
    }

    /// The client's address: `peer` itself unless it is a trusted proxy (see the module docs).
    /// `forwarded` are the `Forwarded` header values and `x_forwarded_for` the
    /// `X-Forwarded-For` values, each in the order received; `Forwarded` wins when present.
    pub fn client_ip(&self, peer: IpAddr, forwarded: &[&str], x_forwarded_for: &[&str]) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let hops: Vec<Option<IpAddr>> = if forwarded.iter().any(|v| !v.trim().is_empty()) {
            forwarded
                .iter()
                .flat_map(|v| v.split(','))
                .map(forwarded_for)
                .collect()
        } else {
            x_forwarded_for
                .iter()
                .flat_map(|v| v.split(','))
                .map(|hop| parse_node(hop.trim()))
                .collect()
        };
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) => {
                    client = *ip;
                    if !self.contains(*ip) {
                        break;
                    }
                }
                None => break,
            }
        }
        client
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn in_block(ip: IpAddr, block: IpAddr, len: u8) -> bool {
    match (ip, block) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// The `for=` address of one `Forwarded` element (`for=192.0.2.60;proto=http`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| parse_node(value.trim().trim_matches('"')))?
    })
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]:4711`,
/// `2001:db8::1`. Anything else (`unknown`, `_hidden`) is `None`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    node.parse().ok().or_else(|| {
        let (host, port) = node.rsplit_once(':')?;
        port.parse::<u16>().ok()?;
        host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
    })
}

#[cfg(test)]
#[path = "forwarded_tests.rs"]
mod tests;
