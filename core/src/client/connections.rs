//! The connection lifecycle as the gateway's public API offers it: start a connect flow, check
//! or wait for a connection, read or refresh its credential.

use super::responses::{parse_json, token_from_body};
use super::transport::segment;
use super::{Idempotency, NexusClient};
use crate::error::{NexusError, Result};
use crate::token::CachedToken;
use nexus_protocol::{
    CheckConnectionResponse, RequestConnectionInput, RequestConnectionResponse, paths,
};
use std::future::Future;
use std::time::Duration;

impl NexusClient {
    /// `POST /v1/request-connection`: start a connect flow; returns the URL to send a person to.
    pub async fn request_connection(
        &self,
        input: &RequestConnectionInput,
    ) -> Result<RequestConnectionResponse> {
        let url = self.url(paths::REQUEST_CONNECTION);
        let body = self
            .call(Idempotency::CreatesResource, || {
                self.inner.http.post(&url).json(input)
            })
            .await?;
        parse_json(&body)
    }

    /// `GET /v1/check-connection/{id}`: the connection's current status.
    pub async fn check_connection(&self, connection_id: &str) -> Result<CheckConnectionResponse> {
        let url = self.url(&format!(
            "{}{}",
            paths::CHECK_CONNECTION_PREFIX,
            segment(connection_id)
        ));
        let body = self
            .call(Idempotency::Idempotent, || self.inner.http.get(&url))
            .await?;
        parse_json(&body)
    }

    /// Poll [`Self::check_connection`] every `interval` until the connection is `active`
    /// (returned), fails for good (`connection_failed`, with `reauth_url` when known), or
    /// `timeout` passes (`wait_aborted`).
    pub async fn wait_for_active(
        &self,
        connection_id: &str,
        interval: Duration,
        timeout: Duration,
    ) -> Result<CheckConnectionResponse> {
        self.wait_for_active_or_cancel(connection_id, interval, timeout, std::future::pending())
            .await
    }

    /// [`Self::wait_for_active`] that also stops (`wait_aborted`) as soon as `cancel` completes.
    pub async fn wait_for_active_or_cancel(
        &self,
        connection_id: &str,
        interval: Duration,
        timeout: Duration,
        cancel: impl Future<Output = ()>,
    ) -> Result<CheckConnectionResponse> {
        tokio::select! {
            biased;
            () = cancel => Err(NexusError::WaitAborted("cancelled".into())),
            result = tokio::time::timeout(timeout, self.poll_until_active(connection_id, interval)) => {
                result.unwrap_or_else(|_| Err(NexusError::WaitAborted("timed out".into())))
            }
        }
    }

    async fn poll_until_active(
        &self,
        connection_id: &str,
        interval: Duration,
    ) -> Result<CheckConnectionResponse> {
        loop {
            let check = self.check_connection(connection_id).await?;
            if check.status == nexus_protocol::ConnectionStatus::Active {
                return Ok(check);
            }
            if check.status.is_terminal_failure() {
                return Err(NexusError::ConnectionFailed {
                    status: check.status.as_str().to_owned(),
                    reauth_url: check.reauth_url,
                });
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// `GET /v1/token/{id}`: the current credential of one connection.
    pub async fn get_token(&self, connection_id: &str) -> Result<CachedToken> {
        let url = self.url(&format!(
            "{}{}",
            paths::TOKEN_PREFIX,
            segment(connection_id)
        ));
        let body = self
            .call(Idempotency::Idempotent, || self.inner.http.get(&url))
            .await?;
        token_from_body(&body)
    }

    /// `POST /v1/refresh/{id}`: refresh at the provider now.
    pub async fn refresh_connection(&self, connection_id: &str) -> Result<CachedToken> {
        let url = self.url(&format!(
            "{}{}",
            paths::REFRESH_PREFIX,
            segment(connection_id)
        ));
        let body = self
            .call(Idempotency::Idempotent, || self.inner.http.post(&url))
            .await?;
        token_from_body(&body)
    }
}
