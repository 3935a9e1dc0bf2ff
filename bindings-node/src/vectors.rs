//! The strategy engine as a pure function, so `test/vectors.test.mjs` can run the shared
//! conformance vectors (`tests/vectors/`) through exactly the code the fetcher uses.

use crate::convert::NativeRequest;
use crate::error::{invalid_argument, to_napi};
use chrono::{DateTime, Utc};
use napi::bindgen_prelude::Uint8Array;
use napi_derive::napi;
use nexus_sdk::client::{error_from_response, parse_resolve_response};
use nexus_sdk::{CachedToken, RequestParts, expiry, strategy};
use std::time::Instant;

/// What a strategy does to one request, and how long the credential is valid.
#[napi(object)]
pub struct NativeInjection {
    /// Only the headers the strategy adds or replaces.
    pub headers: Vec<(String, String)>,
    pub url: String,
    /// Validity from `now`, before the cache's safety buffer.
    pub ttl_seconds: f64,
}

/// Apply the strategy of `resolveJson` (a `/v1/resolve` 200 body) to `request` at `now`
/// (RFC 3339).
#[napi]
pub fn apply_strategy(
    resolve_json: String,
    request: NativeRequest,
    now: String,
) -> napi::Result<NativeInjection> {
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339(&now)
        .map_err(|_| invalid_argument("now must be an RFC 3339 timestamp"))?
        .to_utc();
    let response = parse_resolve_response(resolve_json.as_bytes()).map_err(to_napi)?;
    let ttl = expiry::lifetime(&response, now).ttl;
    let token = CachedToken::from_response(response, now, Instant::now());
    let body = request
        .body
        .as_ref()
        .map(|b: &Uint8Array| b.to_vec())
        .unwrap_or_default();
    let parts = RequestParts {
        method: &request.method,
        url: &request.url,
        headers: &request.headers,
        body: &body,
    };
    let strategy = token.strategy().map_err(to_napi)?;
    let injection = strategy::apply(strategy, token.credentials(), &parts, now).map_err(to_napi)?;
    Ok(NativeInjection {
        headers: injection.headers,
        url: injection.url,
        ttl_seconds: ttl.as_secs() as f64,
    })
}

/// The error the SDK raises for a non-2xx gateway answer (`status` and `body`); always throws.
#[napi]
pub fn raise_gateway_error(status: u16, body: String) -> napi::Result<()> {
    Err(to_napi(error_from_response(
        status,
        &Default::default(),
        body.as_bytes(),
    )))
}

/// The `resolve` body of every case of a vector file, as exact JSON text (`null` for a case
/// without one). JavaScript numbers cannot hold every integer a vector uses (e.g. an `i64::MAX`
/// `expires_in`), so the runner takes these bodies from here rather than re-serialising its own
/// parse.
#[napi]
pub fn vector_resolve_bodies(file_text: String) -> napi::Result<Vec<Option<String>>> {
    let file: serde_json::Value = serde_json::from_str(&file_text)
        .map_err(|e| invalid_argument(format!("vector file is not JSON: {e}")))?;
    let cases = file
        .get("cases")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| invalid_argument("vector file has no `cases` array"))?;
    Ok(cases
        .iter()
        .map(|case| case.get("resolve").map(serde_json::Value::to_string))
        .collect())
}
