//! What the OAuth server has seen: counters, a log of token requests, and waiting on them.

use serde::{Deserialize, Serialize};

/// Counters of an [`OAuthServer`](super::OAuthServer). Read with `stats()` or
/// `GET /_control/stats`; wait on them with `wait_for(..)` or `GET /_control/wait`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthStats {
    /// `GET /authorize` requests (valid or not).
    pub authorize_requests: u64,
    /// Authorization codes handed out.
    pub codes_issued: u64,
    /// `POST /token` requests of any grant type, counted on arrival (before any injected delay).
    pub token_requests: u64,
    /// Token requests with `grant_type=authorization_code`.
    pub authorization_code_requests: u64,
    /// Token requests with `grant_type=refresh_token`.
    pub refresh_token_requests: u64,
    /// Token requests with `grant_type=client_credentials`.
    pub client_credentials_requests: u64,
    /// Refresh grants that succeeded (the client authenticated and the token was live).
    pub refresh_accepted: u64,
    /// Refresh grants answered with a grant error (`invalid_grant`: dead, rotated or unknown
    /// token; `invalid_scope`). Not counted: injected failures, and requests refused earlier for
    /// client authentication (`invalid_client`) or a malformed request.
    pub refresh_rejected: u64,
    /// Refresh grants that presented a refresh token that had already been rotated away.
    pub refresh_reuse_detected: u64,
    /// Token requests answered by an injected failure (including `Slow` and altered successes).
    pub failures_injected: u64,
    /// Failures still queued.
    pub failures_pending: u64,
    /// Access tokens issued (by any grant or by `issue_tokens_directly`).
    pub access_tokens_issued: u64,
    /// `GET /.well-known/openid-configuration` (and `oauth-authorization-server`) requests.
    #[serde(default)]
    pub discovery_requests: u64,
    /// `POST /revoke` requests that revoked a token the server knew (RFC 7009).
    #[serde(default)]
    pub tokens_revoked: u64,
}

impl OAuthStats {
    /// The counter called `name` (the JSON field name), for generic waits over HTTP.
    pub fn counter(&self, name: &str) -> Option<u64> {
        let value = match name {
            "authorize_requests" => self.authorize_requests,
            "codes_issued" => self.codes_issued,
            "token_requests" => self.token_requests,
            "authorization_code_requests" => self.authorization_code_requests,
            "refresh_token_requests" => self.refresh_token_requests,
            "client_credentials_requests" => self.client_credentials_requests,
            "refresh_accepted" => self.refresh_accepted,
            "refresh_rejected" => self.refresh_rejected,
            "refresh_reuse_detected" => self.refresh_reuse_detected,
            "failures_injected" => self.failures_injected,
            "failures_pending" => self.failures_pending,
            "access_tokens_issued" => self.access_tokens_issued,
            "discovery_requests" => self.discovery_requests,
            "tokens_revoked" => self.tokens_revoked,
            _ => return None,
        };
        Some(value)
    }
}

/// One `POST /token` request as the server saw and answered it. Secrets (client secret, codes,
/// tokens) are never recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRequestRecord {
    /// The `grant_type` form field, if any.
    pub grant_type: Option<String>,
    /// `client_secret_basic`, `client_secret_post`, `both` or `none`.
    pub client_auth: String,
    /// The `scope` form field, if any.
    pub scope: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
    /// The OAuth `error` code answered, if any.
    pub error: Option<String>,
    /// The kind of the injected failure that handled this request, if any.
    pub injected_failure: Option<String>,
}

/// A wait on the server's counters ran out of time. Carries the last counters seen so the test
/// failure message says how far things got.
#[derive(Debug, Clone, thiserror::Error)]
#[error("timed out after {waited_ms} ms waiting for the test server; last stats: {last:?}")]
pub struct WaitTimeout<T: std::fmt::Debug> {
    pub waited_ms: u128,
    pub last: T,
}
