//! Proxy mode from the client's side (`docs/proxy.md`): where a proxied call goes, what Nexus
//! adds to it, and whether an answer is the upstream's or the gateway's own.
//!
//! The gateway marks every answer of its own with `Nexus-Error: <code>` (and strips that header
//! from upstream answers), so that header alone decides: an upstream's 401 or 429 is the
//! upstream's answer to the caller, never a Nexus error. In proxy mode the SDKs do not retry a
//! 401 (the gateway already replaced the token and retried) and follow no redirect (a 3xx is
//! the upstream's answer; its `Location` may point anywhere).
//!
//! The rules are mirrored by the pure-Go SDK (`sdk-go/proxy.go`) and held identical by the
//! shared vectors `tests/vectors/proxy.json` (`proxy_cases`).

use crate::client::{NexusClient, error_from_response, transport_error};
use crate::error::{NexusError, Result};
use crate::fetch::{FetchRequest, FetchResponse, header_pairs};
use http::{HeaderMap, HeaderName, HeaderValue};
use nexus_protocol::proxy::{GATEWAY_ERROR_HEADER, PROXY_HOST_HEADER, PROXY_PREFIX};
use nexus_protocol::{ProviderName, WorkspaceId};
use std::sync::OnceLock;

/// What a proxied response is.
#[derive(Debug)]
pub enum ProxyAnswer {
    /// The upstream's answer, to hand to the caller as it is.
    Upstream,
    /// The gateway refused or failed the call: the typed error.
    Gateway(NexusError),
}

/// One proxied call as a binding sends it with its own HTTP client: the gateway URL, and the
/// headers to set (replacing any of the caller's with the same name, case-insensitively).
#[derive(Debug, Clone)]
pub struct ProxyTarget {
    pub url: String,
    /// `Authorization` (the session token or the API key) and, with a host, `Nexus-Proxy-Host`.
    pub headers: Vec<(String, String)>,
}

/// Headers a caller may write that proxy mode replaces or removes: the gateway consumes them,
/// so a caller's own value would either be refused or silently dropped there.
pub const REPLACED_HEADERS: &[&str] = &["authorization", "x-api-key", PROXY_HOST_HEADER];

/// `{gateway}/v1/proxy/{workspace_id}/{provider}{path_and_query}`. The path is relative to the
/// provider's `api_base_url` and kept as given (the gateway checks and normalises it); absolute
/// URLs, fragments, bytes that must be percent-encoded (controls, space, non-ASCII), `\` and
/// dot segments (raw or `%2e`-encoded, which HTTP stacks would resolve) are refused.
pub fn proxy_url(
    gateway_url: &str,
    workspace_id: &str,
    provider: &str,
    path_and_query: &str,
) -> Result<String> {
    let ws = WorkspaceId::new(workspace_id)
        .map_err(|e| NexusError::InvalidRequest(format!("workspace id: {e}")))?;
    let provider = ProviderName::new(provider)
        .map_err(|e| NexusError::InvalidRequest(format!("provider name: {e}")))?;
    if !path_and_query.starts_with('/') || path_and_query.starts_with("//") {
        return Err(NexusError::InvalidRequest(
            "proxy mode takes a path relative to the provider's api_base_url, starting with `/`"
                .into(),
        ));
    }
    if path_and_query.contains('#') {
        return Err(NexusError::InvalidRequest(
            "a proxied path has no fragment (`#`)".into(),
        ));
    }
    if path_and_query.bytes().any(|b| b <= b' ' || b >= 0x7f) {
        return Err(NexusError::InvalidRequest(
            "percent-encode spaces, control and non-ASCII characters in a proxied path".into(),
        ));
    }
    let path = path_and_query.split('?').next().unwrap_or_default();
    if path.contains('\\') {
        return Err(NexusError::InvalidRequest(
            "a proxied path has no `\\` (URL parsers read it as `/`)".into(),
        ));
    }
    if path.split('/').any(is_dot_segment) {
        return Err(NexusError::InvalidRequest(
            "a proxied path has no `.` or `..` segment, raw or percent-encoded".into(),
        ));
    }
    Ok(format!(
        "{}{PROXY_PREFIX}{ws}/{provider}{path_and_query}",
        gateway_url.trim_end_matches('/')
    ))
}

/// `.` or `..`, raw or with a dot written `%2e` (any case). Every SDK's HTTP stack (the `url`
/// crate under reqwest, WHATWG URL under Node's fetch, httpx, urllib3) resolves these before
/// sending, so `/../other/x` would silently reach another provider's proxy path instead of being
/// judged by the gateway: the client refuses them, and nothing else is rewritten.
fn is_dot_segment(segment: &str) -> bool {
    let dots = segment.to_ascii_lowercase().replace("%2e", ".");
    dots == "." || dots == ".."
}

/// Classify a proxied response by its `Nexus-Error` header.
pub fn classify(status: u16, headers: &HeaderMap, body: &[u8]) -> ProxyAnswer {
    if headers.contains_key(GATEWAY_ERROR_HEADER) {
        ProxyAnswer::Gateway(error_from_response(status, headers, body))
    } else {
        ProxyAnswer::Upstream
    }
}

/// [`classify`] for bindings that hold headers as pairs: the gateway's typed error, or `None`
/// for an upstream answer. Pairs that are not valid HTTP headers are skipped.
pub fn gateway_error(status: u16, headers: &[(String, String)], body: &[u8]) -> Option<NexusError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            map.append(name, value);
        }
    }
    match classify(status, &map, body) {
        ProxyAnswer::Upstream => None,
        ProxyAnswer::Gateway(err) => Some(err),
    }
}

/// The caller's headers with those proxy mode sets removed, then `target`'s added.
pub fn merge_headers(caller: &[(String, String)], target: &ProxyTarget) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = caller
        .iter()
        .filter(|(name, _)| {
            !REPLACED_HEADERS
                .iter()
                .any(|r| name.eq_ignore_ascii_case(r))
        })
        .cloned()
        .collect();
    out.extend(target.headers.iter().cloned());
    out
}

/// The HTTP client of proxied calls: like the core's, except that redirects are returned, not
/// followed (one per process; the per-call timeout is the client's).
fn proxy_http() -> Result<&'static reqwest::Client> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client);
    }
    let built = reqwest::Client::builder()
        .http1_title_case_headers()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("nexus-sdk/", env!("CARGO_PKG_VERSION"), " proxy"))
        .build()
        .map_err(|e| NexusError::InvalidRequest(format!("cannot build the HTTP client: {e}")))?;
    Ok(CLIENT.get_or_init(|| built))
}

impl NexusClient {
    /// The URL and Nexus headers of one proxied call: the active session's token (renewed if
    /// due) or the API key, and `Nexus-Proxy-Host` when `host` names another allowed host.
    pub async fn proxy_prepare(
        &self,
        workspace_id: &str,
        provider: &str,
        path_and_query: &str,
        host: Option<&str>,
    ) -> Result<ProxyTarget> {
        let url = proxy_url(self.gateway_url(), workspace_id, provider, path_and_query)?;
        let authorization = self.principal().authorization(self).await?;
        let authorization = authorization
            .to_str()
            .map_err(|_| NexusError::InvalidRequest("the credential is not header text".into()))?
            .to_owned();
        let mut headers = vec![("Authorization".to_owned(), authorization)];
        if let Some(host) = host {
            if !nexus_protocol::proxy::is_host_port(host) {
                return Err(NexusError::InvalidRequest(
                    "the proxy host is an exact `host[:port]`".into(),
                ));
            }
            headers.push(("Nexus-Proxy-Host".to_owned(), host.to_owned()));
        }
        Ok(ProxyTarget { url, headers })
    }

    /// One proxied call, read whole: `request.url` is the path (and query) relative to the
    /// provider's `api_base_url`. Returns the upstream's answer whatever its status; the
    /// gateway's own answers are the typed error. No 401 retry, no redirect followed.
    pub async fn proxy_fetch(
        &self,
        workspace_id: &str,
        provider: &str,
        request: FetchRequest,
        host: Option<&str>,
    ) -> Result<FetchResponse> {
        let target = self
            .proxy_prepare(workspace_id, provider, &request.url, host)
            .await?;
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| NexusError::InvalidRequest("invalid HTTP method".into()))?;
        let mut builder = proxy_http()?
            .request(method, &target.url)
            .timeout(self.timeout());
        for (name, value) in merge_headers(&request.headers, &target) {
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let answer = builder.send().await.map_err(transport_error)?;
        let status = answer.status().as_u16();
        let headers = answer.headers().clone();
        let body = read_capped(answer, self.max_response_bytes()).await?;
        if let ProxyAnswer::Gateway(err) = classify(status, &headers, &body) {
            return Err(err);
        }
        Ok(FetchResponse {
            status,
            headers: header_pairs(&headers),
            body,
        })
    }
}

/// The whole body, refused past `limit` bytes: a declared `Content-Length` over it is refused
/// before a byte is read, a streamed body as soon as it passes it (so memory stays bounded).
async fn read_capped(mut answer: reqwest::Response, limit: u64) -> Result<bytes::Bytes> {
    let status = answer.status().as_u16();
    let too_large = || NexusError::InvalidResponse {
        status,
        detail: format!(
            "the proxied answer is larger than this client's limit of {limit} bytes \
             (max_response_bytes); stream large bodies instead"
        ),
        request_id: None,
    };
    if answer.content_length().is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = answer.chunk().await.map_err(transport_error)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_relative_to_the_provider_base() {
        assert_eq!(
            proxy_url("https://nexus.example/", "acme", "crm", "/contacts/42?x=1").unwrap(),
            "https://nexus.example/v1/proxy/acme/crm/contacts/42?x=1"
        );
        for bad in [
            "https://evil.example/x",
            "contacts",
            "//evil.example/x",
            "/a#b",
            "/a b",
            "/caf\u{e9}",
            "/a/../b",
            "/a/%2E%2e/b",
            "/a/.%2e",
            "/./a",
            "/a\\b",
        ] {
            assert!(proxy_url("https://n", "acme", "crm", bad).is_err(), "{bad}");
        }
        assert!(proxy_url("https://n", "ac me", "crm", "/x").is_err());
    }

    #[test]
    fn only_the_gateway_header_makes_a_nexus_error() {
        let mut marked = http::HeaderMap::new();
        marked.insert(
            GATEWAY_ERROR_HEADER,
            http::HeaderValue::from_static("upstream_timeout"),
        );
        let body = br#"{"error":"upstream_timeout","message":"slow"}"#;
        match classify(504, &marked, body) {
            ProxyAnswer::Gateway(err) => assert_eq!(err.code(), "upstream_timeout"),
            other => panic!("{other:?}"),
        }
        let unauthorized = br#"{"error":"unauthorized","message":"upstream's own"}"#;
        assert!(matches!(
            classify(401, &http::HeaderMap::new(), unauthorized),
            ProxyAnswer::Upstream
        ));
    }

    #[test]
    fn the_callers_credentials_are_replaced_not_doubled() {
        let target = ProxyTarget {
            url: "u".into(),
            headers: vec![("Authorization".into(), "Bearer nx".into())],
        };
        let caller = vec![
            ("authorization".to_owned(), "Bearer mine".to_owned()),
            ("X-API-Key".to_owned(), "k".to_owned()),
            ("Accept".to_owned(), "application/json".to_owned()),
        ];
        let merged = merge_headers(&caller, &target);
        assert_eq!(
            merged,
            vec![
                ("Accept".to_owned(), "application/json".to_owned()),
                ("Authorization".to_owned(), "Bearer nx".to_owned()),
            ]
        );
    }
}
