use super::*;
use proptest::prelude::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn proxies(list: &str) -> TrustedProxies {
    TrustedProxies::parse(list).unwrap()
}

#[test]
fn a_header_from_an_untrusted_peer_is_ignored() {
    let none = TrustedProxies::default();
    assert_eq!(
        none.client_ip(ip("203.0.113.9"), &[], &["198.51.100.1"]),
        ip("203.0.113.9")
    );
    let lan = proxies("10.0.0.0/8");
    assert_eq!(
        lan.client_ip(ip("203.0.113.9"), &["for=198.51.100.1"], &["198.51.100.1"]),
        ip("203.0.113.9")
    );
}

#[test]
fn the_rightmost_untrusted_hop_is_the_client() {
    let lan = proxies("10.0.0.0/8, 192.168.1.1");
    // The client forged the first entry; the trusted proxy appended what it saw.
    assert_eq!(
        lan.client_ip(ip("10.1.2.3"), &[], &["6.6.6.6, 198.51.100.7"]),
        ip("198.51.100.7")
    );
    // Two trusted hops, over two header lines.
    assert_eq!(
        lan.client_ip(ip("10.1.2.3"), &[], &["198.51.100.7", "192.168.1.1"]),
        ip("198.51.100.7")
    );
    // Every hop trusted: the leftmost.
    assert_eq!(
        lan.client_ip(ip("10.1.2.3"), &[], &["10.9.9.9"]),
        ip("10.9.9.9")
    );
    // No header: the peer.
    assert_eq!(lan.client_ip(ip("10.1.2.3"), &[], &[]), ip("10.1.2.3"));
    // Garbage stops at the proxy that passed it on.
    assert_eq!(
        lan.client_ip(ip("10.1.2.3"), &[], &["198.51.100.7, unknown"]),
        ip("10.1.2.3")
    );
}

#[test]
fn forwarded_wins_and_its_forms_parse() {
    let lan = proxies("10.0.0.0/8,::1");
    assert_eq!(
        lan.client_ip(
            ip("10.0.0.1"),
            &["for=6.6.6.6, for=\"[2001:db8:cafe::17]:4711\";proto=https"],
            &["198.51.100.1"]
        ),
        ip("2001:db8:cafe::17")
    );
    assert_eq!(
        lan.client_ip(ip("::1"), &["For=192.0.2.60:8080;by=10.0.0.1"], &[]),
        ip("192.0.2.60")
    );
    assert_eq!(
        lan.client_ip(ip("::ffff:10.0.0.1"), &["for=_hidden"], &[]),
        ip("::ffff:10.0.0.1"),
        "an IPv4-mapped peer in a trusted IPv4 block is trusted; an obfuscated hop stops"
    );
}

#[test]
fn cidr_lists_are_checked() {
    assert!(proxies("").is_empty());
    assert!(proxies("10.0.0.0/8 fd00::/8").contains(ip("fd12::1")));
    assert!(!proxies("10.0.0.0/8").contains(ip("11.0.0.1")));
    assert!(proxies("0.0.0.0/0").contains(ip("8.8.8.8")));
    for bad in [
        "10.0.0.0/33",
        "::/129",
        "example.com",
        "10.0.0.0/x",
        "10.0.0/8",
    ] {
        let err = TrustedProxies::parse(bad).unwrap_err();
        assert!(err.contains(bad), "{err}");
    }
}

proptest! {
    // Bounded fuzzing of the header parser (runs in CI with the unit tests): any header text
    // gives an answer without panicking, an untrusted peer is always the answer, and the answer
    // is the peer or an address that appears in the headers.
    #[test]
    fn any_header_text_gives_the_peer_or_an_address_it_contains(
        xff in "[0-9a-f.:, \\[\\]_]{0,60}",
        fwd in "([fF]or=\"?[0-9a-f.:\\[\\]]{0,20}\"?[;, ]{0,2}){0,4}",
        untrusted in any::<[u8; 4]>(),
    ) {
        let trusted = proxies("127.0.0.0/8, ::1");
        let peer = ip("127.0.0.1");
        let got = trusted.client_ip(peer, &[&fwd], &[&xff]);
        if got != peer {
            let text = format!("{xff} {fwd}");
            let found = text
                .split(|c: char| c == ',' || c == ';' || c == '"' || c == '=' || c.is_whitespace())
                .filter_map(parse_node)
                .any(|a| a == got);
            prop_assert!(found, "{got} is not in {text}");
        }
        let outside = IpAddr::from(untrusted);
        if !trusted.contains(outside) {
            prop_assert_eq!(trusted.client_ip(outside, &[&fwd], &[&xff]), outside);
        }
    }
}
