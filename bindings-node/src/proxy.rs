//! Proxy mode (`docs/proxy.md`) for `createFetcher({ mode: 'proxy' })`: the core builds the
//! proxy URL and the Nexus headers, and classifies answers; `src/fetcher.ts` sends with the
//! global `fetch`. Nothing here decides anything the core does not.

use crate::client::NativeClient;
use crate::error::to_napi;
use napi::bindgen_prelude::Uint8Array;
use napi_derive::napi;

/// Where one proxied call goes and the headers Nexus sets on it (replacing the caller's
/// `Authorization`, `X-API-Key` and `Nexus-Proxy-Host`).
#[napi(object)]
pub struct NativeProxyTarget {
    pub url: String,
    pub headers: Vec<(String, String)>,
}

#[napi]
impl NativeClient {
    /// The proxy URL of `pathAndQuery` (relative to the provider's `api_base_url`) and the
    /// current principal's credential (the session token, renewed if due, or the API key).
    #[napi]
    pub async fn proxy_prepare(
        &self,
        workspace_id: String,
        provider: String,
        path_and_query: String,
        host: Option<String>,
    ) -> napi::Result<NativeProxyTarget> {
        let target = self
            .core()
            .proxy_prepare(&workspace_id, &provider, &path_and_query, host.as_deref())
            .await
            .map_err(to_napi)?;
        Ok(NativeProxyTarget {
            url: target.url,
            headers: target.headers,
        })
    }
}

/// The headers proxy mode replaces, lower-case (the fetcher drops the caller's copies).
#[napi]
pub fn proxy_replaced_headers() -> Vec<String> {
    nexus_sdk::proxy::REPLACED_HEADERS
        .iter()
        .map(|h| (*h).to_owned())
        .collect()
}

/// `nexus_sdk::proxy::proxy_url` (for the shared vectors).
#[napi]
pub fn proxy_url(
    gateway_url: String,
    workspace_id: String,
    provider: String,
    path_and_query: String,
) -> napi::Result<String> {
    nexus_sdk::proxy::proxy_url(&gateway_url, &workspace_id, &provider, &path_and_query)
        .map_err(to_napi)
}

/// Throws the gateway's typed error when a proxied answer is the gateway's own (it carries
/// `Nexus-Error`); returns for an upstream's answer, whatever its status.
#[napi]
pub fn proxy_check_answer(
    status: u32,
    headers: Vec<(String, String)>,
    body: Uint8Array,
) -> napi::Result<()> {
    let status = u16::try_from(status).unwrap_or(0);
    match nexus_sdk::proxy::gateway_error(status, &headers, &body) {
        None => Ok(()),
        Some(err) => Err(to_napi(err)),
    }
}
