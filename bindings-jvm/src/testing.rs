//! Test hooks: the core's resolve-body parser, strategy engine and error mapping applied to
//! literal inputs, so the JVM suite runs the shared conformance vectors (`tests/vectors/`)
//! through the same code as real requests, without a gateway.

use crate::client::{NativeHeader, NativeRequest, headers_in, headers_out};
use crate::errors::{NativeError, invalid_input};
use crate::token::NativeToken;
use http::{HeaderMap, HeaderName, HeaderValue};
use nexus_sdk::client::{error_from_response, parse_resolve_response};
use nexus_sdk::{CachedToken, RequestParts, apply};
use std::sync::Arc;
use std::time::Instant;

/// What a strategy did to a request, for a vector's `expect`.
#[derive(uniffi::Record)]
pub struct NativeVectorOutcome {
    pub url: String,
    /// Only the headers the strategy adds or replaces.
    pub injected: Vec<NativeHeader>,
    /// How long the cache trusts the credential from `now`, before the safety buffer.
    pub ttl_seconds: u64,
    pub token: Arc<NativeToken>,
}

/// Parse a `/v1/resolve` body received at `now` (RFC 3339) and apply its strategy to `request`
/// at `now`.
#[uniffi::export]
pub fn apply_resolve_body(
    resolve_body: Vec<u8>,
    now: String,
    request: NativeRequest,
) -> Result<NativeVectorOutcome, NativeError> {
    let now = chrono::DateTime::parse_from_rfc3339(&now)
        .map_err(|_| invalid_input("now must be an RFC 3339 timestamp"))?
        .to_utc();
    let response = parse_resolve_response(&resolve_body)?;
    let received = Instant::now();
    let token = CachedToken::from_response(response, now, received);
    let ttl_seconds = token.time_left(received).as_secs();
    let headers = headers_in(request.headers);
    let body = request.body.unwrap_or_default();
    let parts = RequestParts {
        method: &request.method,
        url: &request.url,
        headers: &headers,
        body: &body,
    };
    let injection = apply(token.strategy()?, token.credentials(), &parts, now)?;
    Ok(NativeVectorOutcome {
        url: injection.url,
        injected: headers_out(injection.headers),
        ttl_seconds,
        token: NativeToken::new(Arc::new(token)),
    })
}

/// Always fails, with the error the SDK raises for a gateway answer of `status` with `body`.
#[uniffi::export]
pub fn raise_gateway_error(
    status: u16,
    body: Vec<u8>,
    headers: Vec<NativeHeader>,
) -> Result<(), NativeError> {
    let mut map = HeaderMap::new();
    for header in headers {
        let name = HeaderName::from_bytes(header.name.as_bytes())
            .map_err(|_| invalid_input("invalid header name"))?;
        let value = HeaderValue::from_str(&header.value)
            .map_err(|_| invalid_input("invalid header value"))?;
        map.append(name, value);
    }
    Err(error_from_response(status, &map, &body).into())
}

/// A parsed `POST /v1/sessions` body and when the SDK would renew it (a session vector).
#[derive(uniffi::Record)]
pub struct NativeSessionVector {
    pub session: crate::session::NativeSession,
    pub renew_after_ms: u64,
}

/// Parse a session answer as `start_session` does.
#[uniffi::export]
pub fn parse_session_body(body: Vec<u8>) -> Result<NativeSessionVector, NativeError> {
    let session = nexus_sdk::session::parse_session_response(&body)?;
    let renew_after_ms = nexus_sdk::session::renewal_delay(session.expires_in).as_millis() as u64;
    Ok(NativeSessionVector {
        session: session.into(),
        renew_after_ms,
    })
}
