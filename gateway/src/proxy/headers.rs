//! Which headers cross the proxy (design 16 §5): one list for both directions, plus what only
//! the request or only the response drops.
//!
//! Both directions: the hop-by-hop headers of RFC 9110 §7.6.1 (and the legacy ones), every
//! header named in a `Connection` value, every `Proxy-*` and every `Nexus-*` (so an upstream
//! cannot forge the gateway's `Nexus-Error`, and the caller's proxy controls never leave).
//! Request only: `Host` (the client sets the upstream's), the caller's credentials
//! (`Authorization`, `X-API-Key`), `Expect`, and the caller's topology (`Forwarded`,
//! `X-Forwarded-*`, `X-Real-IP`). `Content-Length` is kept only when it is one valid number and
//! the request has no `Transfer-Encoding` (request smuggling).

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

const REQUEST_ONLY: [&str; 6] = [
    "host",
    "authorization",
    "x-api-key",
    "expect",
    "forwarded",
    "x-real-ip",
];

/// Names listed in the `Connection` headers (lower-cased by `HeaderName`).
fn connection_named(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect()
}

fn dropped_both_ways(name: &HeaderName, named: &[HeaderName]) -> bool {
    let n = name.as_str();
    HOP_BY_HOP.contains(&n)
        || n.starts_with("proxy-")
        || n.starts_with("nexus-")
        || named.contains(name)
}

/// The caller's headers as forwarded upstream.
pub fn request_headers(incoming: &HeaderMap) -> HeaderMap {
    let named = connection_named(incoming);
    let has_transfer_encoding = incoming.contains_key(header::TRANSFER_ENCODING);
    let lengths = incoming.get_all(header::CONTENT_LENGTH).iter().count();
    let mut out = HeaderMap::with_capacity(incoming.len());
    for (name, value) in incoming {
        let n = name.as_str();
        if dropped_both_ways(name, &named)
            || REQUEST_ONLY.contains(&n)
            || n.starts_with("x-forwarded-")
        {
            continue;
        }
        if name == header::CONTENT_LENGTH
            && (has_transfer_encoding
                || lengths != 1
                || value.to_str().map_or(true, |v| v.parse::<u64>().is_err()))
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// The upstream's headers as returned to the caller, filtered in place (the upstream's map is
/// the answer's: nothing is copied when nothing is dropped). An answer obtained with a
/// credential may not be stored by a shared cache: `Cache-Control` absent or `public` becomes
/// `private`.
pub fn strip_response_headers(headers: &mut HeaderMap) {
    let named = connection_named(headers);
    let dropped: Vec<HeaderName> = headers
        .keys()
        .filter(|name| dropped_both_ways(name, &named))
        .cloned()
        .collect();
    for name in &dropped {
        headers.remove(name);
    }
    let public = headers.get_all(header::CACHE_CONTROL).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.to_ascii_lowercase().contains("public"))
    });
    if public || !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (n, v) in pairs {
            m.append(*n, HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn request_drops_hop_by_hop_credentials_and_topology() {
        let out = request_headers(&map(&[
            ("connection", "X-Secret, keep-alive"),
            ("x-secret", "s"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("trailer", "x"),
            ("proxy-authorization", "Basic x"),
            ("proxy-foo", "y"),
            ("nexus-proxy-host", "h"),
            ("authorization", "Bearer nxk_key"),
            ("x-api-key", "nxk_key"),
            ("host", "gateway"),
            ("x-forwarded-for", "10.0.0.1"),
            ("expect", "100-continue"),
            ("accept", "a"),
            ("x-keep", "1"),
            ("x-keep", "2"),
            ("content-length", "5"),
        ]));
        let names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, vec!["accept", "x-keep", "content-length"]);
        assert_eq!(out.get_all("x-keep").iter().count(), 2);
    }

    #[test]
    fn content_length_is_dropped_next_to_transfer_encoding_or_when_invalid() {
        let smuggle = request_headers(&map(&[
            ("content-length", "5"),
            ("transfer-encoding", "chunked"),
        ]));
        assert!(smuggle.is_empty());
        let twice = request_headers(&map(&[("content-length", "5"), ("content-length", "6")]));
        assert!(twice.is_empty());
        assert!(request_headers(&map(&[("content-length", "-1")])).is_empty());
    }

    #[test]
    fn response_drops_forged_gateway_headers_and_is_never_publicly_cacheable() {
        let mut out = map(&[
            ("connection", "x-internal"),
            ("x-internal", "1"),
            ("nexus-error", "forged"),
            ("proxy-authenticate", "Basic"),
            ("transfer-encoding", "chunked"),
            ("cache-control", "public, max-age=60"),
            ("content-type", "text/plain"),
            ("x-kept", "1"),
            ("x-kept", "2"),
        ]);
        strip_response_headers(&mut out);
        let mut names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, vec!["cache-control", "content-type", "x-kept"]);
        assert_eq!(out["cache-control"], "private");
        assert_eq!(
            out.get_all("x-kept").iter().count(),
            2,
            "repeated values stay"
        );
        let mut kept = map(&[("cache-control", "no-store")]);
        strip_response_headers(&mut kept);
        assert_eq!(kept["cache-control"], "no-store");
        let mut none = map(&[("content-type", "text/plain")]);
        strip_response_headers(&mut none);
        assert_eq!(none["cache-control"], "private");
    }
}
