//! Test hooks: the core's strategy engine and error mapping applied to literal bodies, so the
//! Python suite runs the shared conformance vectors (`tests/vectors/`) through the same code
//! path as real requests, without a gateway.

use crate::cache::CachedToken;
use crate::convert::{body_from_py, headers_from_py};
use crate::errors::{invalid_input, to_py_err};
use http::{HeaderMap, HeaderName, HeaderValue};
use nexus_sdk::client::{error_from_response, parse_resolve_response};
use nexus_sdk::{RequestParts, apply};
use pyo3::exceptions::PyBaseException;
use pyo3::prelude::*;
use std::sync::Arc;
use std::time::Instant;

/// Parse a `/v1/resolve` body received at `now` (RFC 3339), apply its strategy to the request
/// at `now`, and return `(url, injected_headers, ttl_seconds, token)`: the final URL, only the
/// headers the strategy adds or replaces, and how long the cache trusts the credential before
/// its safety buffer.
#[pyfunction]
#[pyo3(signature = (resolve_body, now, method, url, headers = None, data = None))]
#[allow(clippy::type_complexity)]
pub fn apply_resolve_body(
    resolve_body: &[u8],
    now: &str,
    method: &str,
    url: &str,
    headers: Option<&Bound<'_, PyAny>>,
    data: Option<&Bound<'_, PyAny>>,
) -> PyResult<(String, Vec<(String, String)>, u64, CachedToken)> {
    let now = chrono::DateTime::parse_from_rfc3339(now)
        .map_err(|_| invalid_input("now must be an RFC 3339 timestamp"))?
        .to_utc();
    let response = parse_resolve_response(resolve_body).map_err(to_py_err)?;
    let received = Instant::now();
    let token = nexus_sdk::CachedToken::from_response(response, now, received);
    let ttl = token.time_left(received).as_secs();
    let headers = headers_from_py(headers)?;
    let body = body_from_py(data)?;
    let parts = RequestParts {
        method,
        url,
        headers: &headers,
        body: &body,
    };
    let strategy = token.strategy().map_err(to_py_err)?;
    let injection = apply(strategy, token.credentials(), &parts, now).map_err(to_py_err)?;
    Ok((
        injection.url,
        injection.headers,
        ttl,
        CachedToken::new(Arc::new(token)),
    ))
}

/// The exception the SDK raises for a gateway answer of `status` with `body` and `headers` (not
/// raised: returned, so a test can inspect it).
#[pyfunction]
#[pyo3(signature = (status, body, headers = None))]
pub fn gateway_error(
    py: Python<'_>,
    status: u16,
    body: &[u8],
    headers: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyBaseException>> {
    let mut map = HeaderMap::new();
    for (name, value) in headers_from_py(headers)? {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| invalid_input("invalid header name"))?;
        let value =
            HeaderValue::from_str(&value).map_err(|_| invalid_input("invalid header value"))?;
        map.append(name, value);
    }
    Ok(to_py_err(error_from_response(status, &map, body)).into_value(py))
}
