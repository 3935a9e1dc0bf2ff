//! Reading the gateway's answers: a 2xx body as protocol JSON, anything else as the typed
//! [`NexusError`] its error envelope names. Parse errors never quote the body (it may hold a
//! token).

use super::transport::transport_error;
use crate::error::{NexusError, Result};
use crate::retry::parse_retry_after;
use crate::token::CachedToken;
use bytes::Bytes;
use chrono::Utc;
use nexus_protocol::{ErrorBody, ResolveResponse};
use reqwest::header::{self, HeaderMap};
use serde::de::DeserializeOwned;
use std::time::{Duration, Instant};

pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, Utc::now())
}

/// The 2xx body, or the protocol error (or `invalid_response` when the body is not the protocol).
pub(super) async fn read_gateway_response(response: reqwest::Response) -> Result<Bytes> {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(transport_error)?;
    if (200..300).contains(&status) {
        return Ok(body);
    }
    Err(error_from_response(status, &headers, &body))
}

/// Turn a non-2xx gateway answer into a [`NexusError`].
pub fn error_from_response(status: u16, headers: &HeaderMap, body: &[u8]) -> NexusError {
    let header_request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(mut envelope) => {
            if envelope.request_id.is_none() {
                envelope.request_id = header_request_id;
            }
            NexusError::from_envelope(status, envelope, retry_after(headers))
        }
        Err(_) => {
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none");
            NexusError::InvalidResponse {
                status,
                detail: format!(
                    "the error body is not a protocol envelope (content-type: {content_type}, {} bytes)",
                    body.len()
                ),
                request_id: header_request_id,
            }
        }
    }
}

/// Parse a 2xx JSON body. The serde message is reduced to its position, because it can quote
/// parts of the body (which may be a token).
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| invalid_body(&e))
}

fn invalid_body(e: &serde_json::Error) -> NexusError {
    NexusError::InvalidResponse {
        status: 200,
        detail: format!(
            "the body is not valid protocol JSON ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ),
        request_id: None,
    }
}

/// Parse a `/v1/resolve` 200 body. `expires_at` may be RFC 3339 or, from older servers, a JSON
/// number of epoch seconds or milliseconds; both are accepted.
pub fn parse_resolve_response(body: &[u8]) -> Result<ResolveResponse> {
    let mut value: serde_json::Value = parse_json(body)?;
    if let Some(at) = value.get_mut("expires_at")
        && let serde_json::Value::Number(n) = at
    {
        *at = serde_json::Value::String(n.to_string());
    }
    serde_json::from_value(value).map_err(|e| invalid_body(&e))
}

pub(super) fn token_from_body(body: &[u8]) -> Result<CachedToken> {
    let response = parse_resolve_response(body)?;
    Ok(CachedToken::from_response(
        response,
        Utc::now(),
        Instant::now(),
    ))
}
