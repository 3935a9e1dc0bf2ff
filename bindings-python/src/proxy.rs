//! Proxy mode (`docs/proxy.md`): the calls go through the gateway, which injects the credential.
//! The core builds the proxy URL and supplies the Nexus credential (`proxy_prepare`), sends a
//! whole call (`proxy_fetch`, behind `authenticated_fetch(..., proxy=True)`), and tells the
//! gateway's answers from the upstream's (`proxy_check_answer`, for the `httpx` and `requests`
//! adapters, which send with their own HTTP client).

use crate::client::Client;
use crate::convert::{body_from_py, headers_from_py, response_headers_to_py};
use crate::errors::to_py_err;
use crate::runtime::wait;
use nexus_sdk::FetchRequest;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

/// `(url, headers)` of one proxied call: the proxy URL of `path` (relative to the provider's
/// `api_base_url`) and the headers Nexus sets (the session token or the API key, and
/// `Nexus-Proxy-Host` with `host`).
#[pyfunction]
#[pyo3(signature = (client, workspace_id, provider_name, path, host = None))]
pub fn proxy_prepare(
    py: Python<'_>,
    client: &Client,
    workspace_id: &str,
    provider_name: &str,
    path: &str,
    host: Option<String>,
) -> PyResult<(String, Vec<(String, String)>)> {
    let core = client.core()?;
    let (ws, provider, path) = (
        workspace_id.to_owned(),
        provider_name.to_owned(),
        path.to_owned(),
    );
    let target = wait(py, async move {
        core.proxy_prepare(&ws, &provider, &path, host.as_deref())
            .await
    })?;
    Ok((target.url, target.headers))
}

/// One proxied call read whole: `(status, headers, body)` of the upstream's answer, whatever
/// its status; the gateway's own answers raise the typed exception.
#[pyfunction]
#[pyo3(signature = (client, workspace_id, provider_name, path, method = "GET", headers = None, data = None, host = None))]
#[allow(clippy::too_many_arguments)]
pub fn proxy_fetch<'py>(
    py: Python<'py>,
    client: &Client,
    workspace_id: &str,
    provider_name: &str,
    path: &str,
    method: &str,
    headers: Option<&Bound<'py, PyAny>>,
    data: Option<&Bound<'py, PyAny>>,
    host: Option<String>,
) -> PyResult<(u16, Bound<'py, PyDict>, Bound<'py, PyBytes>)> {
    let has_body = data.is_some_and(|d| !d.is_none());
    let request = FetchRequest {
        method: method.to_owned(),
        url: path.to_owned(),
        headers: headers_from_py(headers)?,
        body: if has_body {
            Some(body_from_py(data)?.into())
        } else {
            None
        },
    };
    let core = client.core()?;
    let (ws, provider) = (workspace_id.to_owned(), provider_name.to_owned());
    let response = wait(py, async move {
        core.proxy_fetch(&ws, &provider, request, host.as_deref())
            .await
    })?;
    let headers = response_headers_to_py(py, &response.headers)?;
    Ok((response.status, headers, PyBytes::new(py, &response.body)))
}

/// `nexus_sdk::proxy::proxy_url` (for the shared vectors).
#[pyfunction]
pub fn proxy_url(
    gateway_url: &str,
    workspace_id: &str,
    provider_name: &str,
    path: &str,
) -> PyResult<String> {
    nexus_sdk::proxy::proxy_url(gateway_url, workspace_id, provider_name, path).map_err(to_py_err)
}

/// Raise the gateway's typed exception when a proxied answer is the gateway's own (it carries
/// `Nexus-Error`); return for an upstream's answer, whatever its status.
#[pyfunction]
#[pyo3(signature = (status, headers, body))]
pub fn proxy_check_answer(
    status: u16,
    headers: Option<&Bound<'_, PyAny>>,
    body: &[u8],
) -> PyResult<()> {
    match nexus_sdk::proxy::gateway_error(status, &headers_from_py(headers)?, body) {
        None => Ok(()),
        Some(err) => Err(to_py_err(err)),
    }
}

/// The header names proxy mode replaces (lower-case).
#[pyfunction]
pub fn proxy_replaced_headers() -> Vec<&'static str> {
    nexus_sdk::proxy::REPLACED_HEADERS.to_vec()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(proxy_prepare, m)?)?;
    m.add_function(wrap_pyfunction!(proxy_fetch, m)?)?;
    m.add_function(wrap_pyfunction!(proxy_url, m)?)?;
    m.add_function(wrap_pyfunction!(proxy_check_answer, m)?)?;
    m.add_function(wrap_pyfunction!(proxy_replaced_headers, m)?)?;
    Ok(())
}
