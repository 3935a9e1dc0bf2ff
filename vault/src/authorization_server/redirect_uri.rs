//! Redirect URIs: which a client may register, and how a presented one is matched (exactly,
//! byte for byte — no port relaxation for loopback, no normalisation).

/// Longest redirect URI (and `client_id`, `resource`) accepted.
pub const MAX_URI_LEN: usize = 2048;

/// Hosts that may use plain `http` (a native client's loopback listener).
const LOOPBACK_HOSTS: [&str; 3] = ["127.0.0.1", "[::1]", "localhost"];

/// Why a redirect URI cannot be registered (fixed text; never echoes the URI).
pub fn refusal(uri: &str) -> Option<&'static str> {
    if uri.is_empty() || uri.len() > MAX_URI_LEN {
        return Some("a redirect URI is empty or longer than 2048 bytes");
    }
    if uri.contains('#') {
        return Some("a redirect URI has a fragment");
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("a redirect URI contains whitespace");
    }
    let Ok(parsed) = url::Url::parse(uri) else {
        return Some("a redirect URI is not an absolute URL");
    };
    // Userinfo is checked on the raw text too: `http://127.0.0.1@evil` must not pass as loopback.
    let authority = uri
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or(""))
        .unwrap_or("");
    if authority.contains('@') || !parsed.username().is_empty() || parsed.password().is_some() {
        return Some("a redirect URI has user information");
    }
    match parsed.scheme() {
        "https" if parsed.host_str().is_some() => None,
        "http" if is_loopback_authority(authority) => None,
        "http" => Some("a plain-http redirect URI must be a loopback address"),
        _ => Some("a redirect URI must be https, or http on a loopback address"),
    }
}

/// `127.0.0.1`, `[::1]` or `localhost`, with an optional port.
pub fn is_loopback_authority(authority: &str) -> bool {
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if !h.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    };
    LOOPBACK_HOSTS.contains(&host)
}

/// Is `uri` a loopback redirect URI (the consent page warns: anyone on the machine may listen)?
pub fn is_loopback(uri: &str) -> bool {
    uri.strip_prefix("http://")
        .map(|rest| is_loopback_authority(rest.split(['/', '?']).next().unwrap_or("")))
        .unwrap_or(false)
}

/// The presented URI is one of the registered ones, exactly.
pub fn matches(registered: &[String], presented: &str) -> bool {
    registered.iter().any(|r| r == presented)
}

/// The origin (`scheme://host[:port]`) of a redirect URI, for the consent page's CSP.
pub fn origin(uri: &str) -> Option<String> {
    let parsed = url::Url::parse(uri).ok()?;
    Some(parsed.origin().ascii_serialization()).filter(|o| o != "null")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_shapes() {
        for uri in [
            "http://127.0.0.1@evil.example/cb",
            "http://user:pw@127.0.0.1/cb",
            "https://client.example/cb#frag",
            "http://evil.example/cb",
            "javascript:alert(1)",
            "data:text/html,x",
            "/relative",
            "http://127.0.0.1.evil.example/cb",
        ] {
            assert!(refusal(uri).is_some(), "{uri} must be refused");
        }
        for uri in [
            "http://127.0.0.1:8080/callback",
            "http://[::1]:9/cb",
            "http://localhost:1/cb?x=1",
            "https://client.example/cb",
        ] {
            assert_eq!(refusal(uri), None, "{uri} must be accepted");
        }
    }

    #[test]
    fn matching_is_exact() {
        let registered = vec!["http://127.0.0.1:8080/callback".to_owned()];
        assert!(matches(&registered, "http://127.0.0.1:8080/callback"));
        for other in [
            "http://127.0.0.1:8081/callback",
            "http://127.0.0.1:8080/callback/",
            "http://127.0.0.1:8080/Callback",
            "http://localhost:8080/callback",
            "http://127.0.0.1:8080/callback?x=1",
            "http://127.0.0.1:8080/%63allback",
        ] {
            assert!(!matches(&registered, other), "{other}");
        }
    }
}
