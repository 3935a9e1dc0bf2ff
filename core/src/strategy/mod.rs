//! The strategy engine: turn a credential into the headers (or URL) of one upstream request.
//!
//! [`apply`] is a pure function of the strategy, the credential fields, the request and the clock,
//! so every SDK can be held to the same results by the conformance vectors. It never sends
//! anything and never returns a request that would go out unauthenticated: a missing or unsafe
//! credential is an error.

mod fixed;
pub use fixed::{RequestIndependent, request_independent};
mod query;
pub(crate) use query::UNRESERVED;
mod sigv4;

use crate::error::{NexusError, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use nexus_protocol::strategy::{HmacAlgo, SignatureEncoding};
use nexus_protocol::{Credentials, Strategy};
use std::fmt;

/// The parts of an upstream request a strategy may read.
#[derive(Clone, Copy)]
pub struct RequestParts<'a> {
    /// The HTTP method (`GET`, `POST`, …).
    pub method: &'a str,
    /// The absolute request URL.
    pub url: &'a str,
    /// The caller's headers, in order (repeated names allowed).
    pub headers: &'a [(String, String)],
    /// The exact body bytes that will be sent (empty for none).
    pub body: &'a [u8],
}

impl fmt::Debug for RequestParts<'_> {
    // The URL may carry an API key in its query, and headers may carry tokens: show neither.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestParts")
            .field("method", &self.method)
            .field("headers", &header_names(self.headers))
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// What a strategy does to a request: headers to set (replacing any header of the same name,
/// compared case-insensitively) and the final URL.
#[derive(Clone, PartialEq, Eq)]
pub struct Injection {
    pub headers: Vec<(String, String)>,
    pub url: String,
}

impl Injection {
    /// Merge into a header list: drop the caller's headers that the injection replaces, then
    /// append the injected ones.
    pub fn merge_into(&self, headers: &mut Vec<(String, String)>) {
        headers.retain(|(name, _)| {
            !self
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
        });
        headers.extend(self.headers.iter().cloned());
    }
}

impl Injection {
    /// [`Injection::merge_into`] for an `http::HeaderMap` (the gateway's proxy mode): every
    /// header the injection sets replaces the request's headers of that name.
    pub fn apply_to_header_map(&self, headers: &mut http::HeaderMap) -> Result<()> {
        for (name, value) in &self.headers {
            let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                NexusError::InvalidStrategyConfig(format!("`{name}` is not a valid header name"))
            })?;
            // `apply` refused control characters already; this only guards the conversion.
            let value = http::HeaderValue::from_str(value).map_err(|_| {
                NexusError::InvalidRequest(format!("header `{name}` has an invalid value"))
            })?;
            headers.remove(&name);
            headers.append(name, value);
        }
        Ok(())
    }
}

/// Whether a strategy must read the whole request body before it can sign the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyNeed {
    /// The body is not signed: it can stream.
    None,
    /// The signature covers the body (`hmac_payload`; `aws_sigv4` unless S3's
    /// `x-amz-content-sha256: UNSIGNED-PAYLOAD`).
    Full,
}

/// What `strategy` needs of the body of a request with these headers.
pub fn body_need(strategy: &Strategy, headers: &http::HeaderMap) -> BodyNeed {
    match strategy {
        Strategy::HmacPayload { .. } => BodyNeed::Full,
        Strategy::AwsSigV4 { service, .. } => {
            let unsigned = service == "s3"
                && headers
                    .get("x-amz-content-sha256")
                    .is_some_and(|v| v.as_bytes() == b"UNSIGNED-PAYLOAD");
            if unsigned {
                BodyNeed::None
            } else {
                BodyNeed::Full
            }
        }
        _ => BodyNeed::None,
    }
}

impl fmt::Debug for Injection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values and the URL carry the credential: names only.
        f.debug_struct("Injection")
            .field("headers", &header_names(&self.headers))
            .finish_non_exhaustive()
    }
}

pub(crate) fn header_names(headers: &[(String, String)]) -> Vec<&str> {
    headers.iter().map(|(n, _)| n.as_str()).collect()
}

/// Apply `strategy` with `credentials` to `request`, at time `now` (used by SigV4's signature
/// date). See `docs/protocol.md` for the exact rules of each strategy.
pub fn apply(
    strategy: &Strategy,
    credentials: &Credentials,
    request: &RequestParts<'_>,
    now: DateTime<Utc>,
) -> Result<Injection> {
    validate_request(request)?;
    let fields = Fields {
        strategy: strategy.kind(),
        credentials,
    };
    let unchanged_url = || request.url.to_owned();
    if let Some(fixed) = request_independent(strategy, credentials)? {
        let url = match &fixed.query {
            Some((name, value)) => query::set_query_param(request.url, name, value)?,
            None => unchanged_url(),
        };
        return Ok(Injection {
            headers: fixed.headers,
            url,
        });
    }
    match strategy {
        Strategy::HmacPayload {
            header_name,
            secret_field,
            algo,
            encoding,
        } => {
            let secret = fields.header_safe(secret_field)?;
            let mac = hmac_bytes(*algo, secret.as_bytes(), request.body);
            let signature = match encoding {
                SignatureEncoding::Hex => hex::encode(mac),
                SignatureEncoding::Base64 => BASE64.encode(mac),
            };
            Ok(Injection {
                headers: vec![(header_name.clone(), signature)],
                url: unchanged_url(),
            })
        }
        Strategy::AwsSigV4 { region, service } => {
            let keys = sigv4::Keys {
                access_key: fields.header_safe("access_key")?,
                secret_key: fields.header_safe("secret_key")?,
                session_token: fields.optional_header_safe("session_token")?,
            };
            let headers = sigv4::sign(region, service, &keys, request, now)?;
            Ok(Injection {
                headers,
                url: unchanged_url(),
            })
        }
        // Every other strategy is request-independent and returned above.
        _ => Err(NexusError::InvalidStrategyConfig(format!(
            "strategy `{}` has no request-dependent form",
            strategy.kind()
        ))),
    }
}

/// Reads credential fields for one strategy and checks them.
struct Fields<'a> {
    strategy: &'static str,
    credentials: &'a Credentials,
}

impl Fields<'_> {
    /// A required field, non-empty, safe to put in a header line.
    fn header_safe(&self, field: &str) -> Result<String> {
        match self.optional_header_safe(field)? {
            Some(v) => Ok(v),
            None => Err(NexusError::MissingCredentialField {
                strategy: self.strategy.to_owned(),
                field: field.to_owned(),
            }),
        }
    }

    /// An optional field: `None` when missing or empty.
    fn optional_header_safe(&self, field: &str) -> Result<Option<String>> {
        match self.credentials.get_str(field) {
            None => Ok(None),
            Some(v) if v.is_empty() => Ok(None),
            Some(v) if has_control_char(&v) => Err(self.invalid(field)),
            Some(v) => Ok(Some(v)),
        }
    }

    fn invalid(&self, field: &str) -> NexusError {
        NexusError::InvalidCredentialValue {
            strategy: self.strategy.to_owned(),
            field: field.to_owned(),
        }
    }
}

/// True when `value` holds a byte that may not appear in a header value: CR, LF, NUL and every
/// other ASCII control character except horizontal tab (RFC 9110 `field-value`).
pub(crate) fn has_control_char(value: &str) -> bool {
    value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

fn prefixed_header_value(strategy: &str, prefix: &str, value: &str) -> Result<String> {
    // The protocol crate rejects CR/LF/NUL in the prefix; the other control characters would
    // make the header unsendable, so they are a config error too.
    if has_control_char(prefix) {
        return Err(NexusError::InvalidStrategyConfig(format!(
            "strategy `{strategy}`: `value_prefix` contains a control character"
        )));
    }
    Ok(format!("{prefix}{value}"))
}

fn hmac_bytes(algo: HmacAlgo, key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail; map defensively anyway.
    match algo {
        HmacAlgo::Sha256 => match Hmac::<sha2::Sha256>::new_from_slice(key) {
            Ok(mut mac) => {
                mac.update(message);
                mac.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        },
        HmacAlgo::Sha1 => match Hmac::<sha1::Sha1>::new_from_slice(key) {
            Ok(mut mac) => {
                mac.update(message);
                mac.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        },
    }
}

/// Reject a request no strategy should sign: a method that is not an HTTP token, an URL that is
/// not absolute http(s), or caller headers that are malformed.
fn validate_request(request: &RequestParts<'_>) -> Result<()> {
    if !nexus_protocol::strategy::is_http_token(request.method) {
        return Err(NexusError::InvalidRequest(
            "the method is not a valid HTTP token".into(),
        ));
    }
    let url = url::Url::parse(request.url)
        .map_err(|e| NexusError::InvalidRequest(format!("the URL cannot be parsed ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(NexusError::InvalidRequest(
            "the URL must be absolute http(s)".into(),
        ));
    }
    for (name, value) in request.headers {
        if !nexus_protocol::strategy::is_http_token(name) {
            return Err(NexusError::InvalidRequest(format!(
                "`{}` is not a valid header name",
                name.escape_debug()
            )));
        }
        if has_control_char(value) {
            return Err(NexusError::InvalidRequest(format!(
                "header `{name}` has a control character in its value"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_protocol::StrategySpec;

    fn creds(pairs: &[(&str, &str)]) -> Credentials {
        let mut c = Credentials::default();
        for (k, v) in pairs {
            c.insert(*k, *v);
        }
        c
    }

    fn get(url: &str) -> RequestParts<'_> {
        RequestParts {
            method: "GET",
            url,
            headers: &[],
            body: b"",
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
            .map(|d| d.to_utc())
            .unwrap()
    }

    #[test]
    fn oauth2_sets_bearer() {
        let s = Strategy::from_spec(&StrategySpec::new("oauth2")).unwrap();
        let i = apply(
            &s,
            &creds(&[("access_token", "t1")]),
            &get("https://a.example/"),
            now(),
        )
        .unwrap();
        assert_eq!(
            i.headers,
            vec![("Authorization".to_owned(), "Bearer t1".to_owned())]
        );
        assert_eq!(i.url, "https://a.example/");
        assert!(!format!("{i:?}").contains("t1"));
    }

    #[test]
    fn crlf_in_credential_is_rejected() {
        let s = Strategy::from_spec(&StrategySpec::new("oauth2")).unwrap();
        let e = apply(
            &s,
            &creds(&[("access_token", "t\r\nX: y")]),
            &get("https://a/"),
            now(),
        )
        .unwrap_err();
        assert_eq!(e.code(), "invalid_credential_value");
        assert!(!e.to_string().contains("X: y"));
    }

    #[test]
    fn header_map_merge_replaces_and_body_need_follows_the_strategy() {
        let i = Injection {
            headers: vec![("Authorization".into(), "Bearer new".into())],
            url: String::new(),
        };
        let mut h = http::HeaderMap::new();
        h.append("authorization", http::HeaderValue::from_static("old"));
        h.append("authorization", http::HeaderValue::from_static("older"));
        h.append("accept", http::HeaderValue::from_static("x"));
        i.apply_to_header_map(&mut h).unwrap();
        let auth: Vec<_> = h.get_all("authorization").iter().collect();
        assert_eq!(auth, vec!["Bearer new"]);
        assert_eq!(h["accept"], "x");

        let spec = |v: serde_json::Value| {
            Strategy::from_spec(&serde_json::from_value(v).unwrap()).unwrap()
        };
        let hmac =
            spec(serde_json::json!({"type": "hmac_payload", "config": {"header_name": "X-Sig"}}));
        let s3 = spec(
            serde_json::json!({"type": "aws_sigv4", "config": {"region": "us-east-1", "service": "s3"}}),
        );
        let bearer = spec(serde_json::json!({"type": "oauth2"}));
        let empty = http::HeaderMap::new();
        let mut unsigned = http::HeaderMap::new();
        unsigned.insert(
            "x-amz-content-sha256",
            http::HeaderValue::from_static("UNSIGNED-PAYLOAD"),
        );
        assert_eq!(body_need(&hmac, &empty), BodyNeed::Full);
        assert_eq!(body_need(&s3, &empty), BodyNeed::Full);
        assert_eq!(body_need(&s3, &unsigned), BodyNeed::None);
        assert_eq!(body_need(&bearer, &empty), BodyNeed::None);
    }

    #[test]
    fn merge_replaces_case_insensitively() {
        let i = Injection {
            headers: vec![("Authorization".into(), "Bearer new".into())],
            url: String::new(),
        };
        let mut h = vec![
            ("authorization".into(), "old".into()),
            ("Accept".into(), "x".into()),
        ];
        i.merge_into(&mut h);
        assert_eq!(
            h,
            vec![
                ("Accept".to_owned(), "x".to_owned()),
                ("Authorization".to_owned(), "Bearer new".to_owned())
            ]
        );
    }
}
