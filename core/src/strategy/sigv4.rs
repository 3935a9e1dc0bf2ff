//! AWS Signature Version 4, header form, written from the public specification.
//!
//! ```text
//! CanonicalRequest = Method \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n
//!                    SignedHeaders \n hex(SHA256(body))
//! StringToSign     = "AWS4-HMAC-SHA256" \n AmzDate \n Scope \n hex(SHA256(CanonicalRequest))
//! SigningKey       = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")
//! ```
//!
//! Choices that other SDKs must reproduce (they are in `docs/protocol.md` and the vectors):
//! - Signed headers: `host` (the caller's `Host` header, else the URL's authority), `x-amz-date`,
//!   `x-amz-security-token` when a session token is present, and every other header the caller
//!   passed except `authorization`. For service `s3` only, `x-amz-content-sha256` is added (the
//!   body hash) unless the caller set it (e.g. `UNSIGNED-PAYLOAD`), in which case it is the
//!   payload hash.
//! - Canonical URI: for every service but `s3`, the URL's path (as sent on the wire, i.e.
//!   percent-encoded) is normalized (empty and `.` segments dropped, `..` resolved) and each
//!   segment is URI-encoded once more (AWS's "double encoding"). For `s3` the path is used as is.
//! - Canonical query: pairs split on `&`, names/values percent-decoded then URI-encoded, sorted
//!   by name then value; a `+` is a literal plus.

use super::RequestParts;
use super::query::UNRESERVED;
use crate::error::{NexusError, Result};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, percent_encode, utf8_percent_encode};
use sha2::{Digest, Sha256};

/// The credential fields SigV4 reads.
pub(crate) struct Keys {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Headers this module writes itself; a caller's copy is neither signed nor kept.
const OWNED_HEADERS: [&str; 4] = [
    "authorization",
    "host",
    "x-amz-date",
    "x-amz-security-token",
];

/// Sign `request`; returns the headers to set (`X-Amz-Date`, optionally `X-Amz-Security-Token`
/// and `X-Amz-Content-Sha256`, and `Authorization`).
pub(crate) fn sign(
    region: &str,
    service: &str,
    keys: &Keys,
    request: &RequestParts<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<(String, String)>> {
    let url = url::Url::parse(request.url)
        .map_err(|e| NexusError::InvalidRequest(format!("the URL cannot be parsed ({e})")))?;
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let date = now.format("%Y%m%d").to_string();
    let is_s3 = service == "s3";

    let caller_payload_hash = header_value(request.headers, "x-amz-content-sha256");
    let payload_hash = match (is_s3, caller_payload_hash) {
        (true, Some(given)) => given.trim().to_owned(),
        _ => hex::encode(Sha256::digest(request.body)),
    };

    // Every header that will be signed, lowercased, in the caller's order (values of repeated
    // names are joined in that order).
    let mut signed: Vec<(String, String)> = Vec::new();
    let host = header_value(request.headers, "host")
        .map(str::to_owned)
        .unwrap_or_else(|| authority(&url));
    signed.push(("host".to_owned(), host));
    signed.push(("x-amz-date".to_owned(), amz_date.clone()));
    if let Some(token) = &keys.session_token {
        signed.push(("x-amz-security-token".to_owned(), token.clone()));
    }
    if is_s3 && caller_payload_hash.is_none() {
        signed.push(("x-amz-content-sha256".to_owned(), payload_hash.clone()));
    }
    for (name, value) in request.headers {
        let lower = name.to_ascii_lowercase();
        if !OWNED_HEADERS.contains(&lower.as_str()) {
            signed.push((lower, value.clone()));
        }
    }
    let (canonical_headers, signed_headers) = canonical_headers(&signed);

    let canonical_request = [
        request.method.to_owned(),
        canonical_uri(url.path(), is_s3),
        canonical_query(url.query().unwrap_or("")),
        canonical_headers,
        signed_headers.clone(),
        payload_hash.clone(),
    ]
    .join("\n");

    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let key = signing_key(&keys.secret_key, &date, region, service);
    let signature = hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()));

    let mut out = vec![("X-Amz-Date".to_owned(), amz_date)];
    if let Some(token) = &keys.session_token {
        out.push(("X-Amz-Security-Token".to_owned(), token.clone()));
    }
    if is_s3 && caller_payload_hash.is_none() {
        out.push(("X-Amz-Content-Sha256".to_owned(), payload_hash));
    }
    out.push((
        "Authorization".to_owned(),
        format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            keys.access_key
        ),
    ));
    Ok(out)
}

fn header_value<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `host[:port]` as an HTTP client sends it in `Host` (the port only when not the default).
fn authority(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// Lowercased names sorted, values trimmed with inner runs of spaces collapsed, repeated names
/// joined by `,` in their original order. Returns (canonical block, signed header list).
fn canonical_headers(headers: &[(String, String)]) -> (String, String) {
    let mut names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut block = String::new();
    for name in &names {
        let values: Vec<String> = headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| collapse_spaces(v))
            .collect();
        block.push_str(name);
        block.push(':');
        block.push_str(&values.join(","));
        block.push('\n');
    }
    (block, names.join(";"))
}

fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn canonical_uri(wire_path: &str, is_s3: bool) -> String {
    if is_s3 {
        return if wire_path.is_empty() {
            "/".to_owned()
        } else {
            wire_path.to_owned()
        };
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in wire_path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut uri = String::from("/");
    let encoded: Vec<String> = segments
        .iter()
        .map(|s| utf8_percent_encode(s, UNRESERVED).to_string())
        .collect();
    uri.push_str(&encoded.join("/"));
    if !segments.is_empty() && wire_path.ends_with('/') {
        uri.push('/');
    }
    uri
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|piece| {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            (uri_encode_decoded(name), uri_encode_decoded(value))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-decode (a `+` stays a plus) and encode again with the SigV4 unreserved set.
fn uri_encode_decoded(raw: &str) -> String {
    let bytes: Vec<u8> = percent_decode_str(raw).collect();
    percent_encode(&bytes, UNRESERVED).to_string()
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        // HMAC takes keys of any length; this arm is unreachable in practice.
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_normalization_and_double_encoding() {
        assert_eq!(canonical_uri("//example//", false), "/example/");
        assert_eq!(canonical_uri("/a/%2Fb", false), "/a/%252Fb");
        assert_eq!(canonical_uri("/", false), "/");
        assert_eq!(canonical_uri("/a%20b", true), "/a%20b");
    }

    #[test]
    fn query_is_sorted_and_reencoded() {
        assert_eq!(
            canonical_query("Param2=value2&Param1=value1"),
            "Param1=value1&Param2=value2"
        );
        assert_eq!(canonical_query("q=a+b&b"), "b=&q=a%2Bb");
    }
}
