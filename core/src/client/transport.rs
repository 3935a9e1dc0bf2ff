//! Sending one gateway call: the `Authorization` header, retries by the [`RetryPolicy`]
//! (connect errors, 429 with `Retry-After`, 502/503/504 when idempotent) and transport errors.
//!
//! [`RetryPolicy`]: crate::retry::RetryPolicy

use super::responses::{read_gateway_response, retry_after};
use super::{Idempotency, NexusClient};
use crate::error::{NexusError, Result};
use bytes::Bytes;
use percent_encoding::utf8_percent_encode;
use reqwest::header::{self, HeaderMap, HeaderValue};
use std::time::Duration;

impl NexusClient {
    /// Send a gateway request with the API key, with retries; the 2xx body, or the typed error.
    pub(super) async fn call(
        &self,
        idempotency: Idempotency,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Bytes> {
        self.call_with(&self.inner.authorization, idempotency, build)
            .await
    }

    /// [`Self::call`] with another `Authorization` value (a session token, an agent credential).
    pub(crate) async fn call_with(
        &self,
        authorization: &HeaderValue,
        idempotency: Idempotency,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Bytes> {
        let policy = &self.inner.retry;
        let mut retry = 0u32;
        loop {
            let sent = build()
                .header(header::AUTHORIZATION, authorization.clone())
                .header(header::ACCEPT, "application/json")
                .send()
                .await;
            let delay = match sent {
                Err(e) if e.is_connect() && retry < policy.max_retries => policy.backoff(retry),
                Err(e) => return Err(transport_error(e)),
                Ok(response) => {
                    let status = response.status().as_u16();
                    match self.retry_delay(status, response.headers(), retry, idempotency) {
                        Some(delay) => delay,
                        None => return read_gateway_response(response).await,
                    }
                }
            };
            tracing::debug!(
                retry,
                delay_ms = delay.as_millis() as u64,
                "retrying gateway call"
            );
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }

    fn retry_delay(
        &self,
        status: u16,
        headers: &HeaderMap,
        retry: u32,
        idempotency: Idempotency,
    ) -> Option<Duration> {
        let policy = &self.inner.retry;
        if retry >= policy.max_retries {
            return None;
        }
        match status {
            502..=504 if idempotency == Idempotency::Idempotent => Some(policy.backoff(retry)),
            429 if policy.respect_retry_after => match retry_after(headers) {
                Some(wait) if wait <= policy.max_retry_after => Some(wait),
                Some(_) => None,
                None => Some(policy.backoff(retry)),
            },
            _ => None,
        }
    }
}

/// Percent-encode an opaque id as one path segment.
pub(crate) fn segment(id: &str) -> String {
    utf8_percent_encode(id, crate::strategy::UNRESERVED).to_string()
}

/// Map a reqwest failure to a typed error without its URL (an upstream URL may carry a key).
pub(crate) fn transport_error(error: reqwest::Error) -> NexusError {
    let error = error.without_url();
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    if error.is_timeout() {
        NexusError::Timeout(message)
    } else {
        NexusError::Connect(message)
    }
}
