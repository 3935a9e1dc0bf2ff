//! Proxy mode from the client's side (`docs/proxy.md`): where a proxied call goes, and whether
//! an answer is the upstream's or the gateway's own.
//!
//! The gateway marks every answer of its own with `Nexus-Error: <code>` (and strips that header
//! from upstream answers), so that header alone decides: an upstream's 401 or 429 is the
//! upstream's answer to the caller, never a Nexus error.

use crate::client::error_from_response;
use crate::error::{NexusError, Result};
use nexus_protocol::proxy::{GATEWAY_ERROR_HEADER, PROXY_PREFIX};
use nexus_protocol::{ProviderName, WorkspaceId};

/// What a proxied response is.
#[derive(Debug)]
pub enum ProxyAnswer {
    /// The upstream's answer, to hand to the caller as it is.
    Upstream,
    /// The gateway refused or failed the call: the typed error.
    Gateway(NexusError),
}

/// `{gateway}/v1/proxy/{workspace_id}/{provider}{path_and_query}`. The path is relative to the
/// provider's `api_base_url` and kept as given (the gateway checks it); absolute URLs are refused.
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
    Ok(format!(
        "{}{PROXY_PREFIX}{ws}/{provider}{path_and_query}",
        gateway_url.trim_end_matches('/')
    ))
}

/// Classify a proxied response by its `Nexus-Error` header.
pub fn classify(status: u16, headers: &http::HeaderMap, body: &[u8]) -> ProxyAnswer {
    if headers.contains_key(GATEWAY_ERROR_HEADER) {
        ProxyAnswer::Gateway(error_from_response(status, headers, body))
    } else {
        ProxyAnswer::Upstream
    }
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
        for bad in ["https://evil.example/x", "contacts", "//evil.example/x"] {
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
}
