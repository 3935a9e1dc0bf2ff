//! The `query_param` strategy: put the credential into the URL's query string.
//!
//! The URL is edited as text rather than re-serialized by a URL library, so every SDK produces
//! byte-identical results: the rest of the URL is kept exactly as the caller wrote it.

use crate::error::{NexusError, Result};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// RFC 3986 unreserved characters stay; everything else is percent-encoded (a space is `%20`,
/// never `+`). Shared with SigV4, whose URI encoding is the same set.
pub(crate) const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Remove every `name=…` pair from the query of `url` and append `name=value`, both
/// percent-encoded. Names of existing pairs are compared after percent-decoding.
pub(crate) fn set_query_param(url: &str, name: &str, value: &str) -> Result<String> {
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let (path, query) = match base.split_once('?') {
        Some((p, q)) => (p, q),
        None => (base, ""),
    };
    if path.is_empty() {
        return Err(NexusError::InvalidRequest(
            "the URL has no path or host".into(),
        ));
    }
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|piece| !piece.is_empty() && !pair_has_name(piece, name))
        .map(str::to_owned)
        .collect();
    pairs.push(encoded_pair(name, value));
    let mut out = format!("{path}?{}", pairs.join("&"));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    Ok(out)
}

/// `name=value`, both percent-encoded, as [`set_query_param`] appends it.
pub(crate) fn encoded_pair(name: &str, value: &str) -> String {
    format!(
        "{}={}",
        utf8_percent_encode(name, UNRESERVED),
        utf8_percent_encode(value, UNRESERVED)
    )
}

fn pair_has_name(piece: &str, name: &str) -> bool {
    let raw_name = piece.split_once('=').map_or(piece, |(n, _)| n);
    percent_decode_str(raw_name).decode_utf8_lossy() == name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_and_replaces() {
        assert_eq!(
            set_query_param("https://a/x", "k", "v 1").unwrap(),
            "https://a/x?k=v%201"
        );
        assert_eq!(
            set_query_param("https://a/x?k=old&b=2&%6B=older#frag", "k", "n").unwrap(),
            "https://a/x?b=2&k=n#frag"
        );
    }
}
