//! Agent sessions on `NativeClient`: `startSession`, `closeSession`, `authorize`, `session`.
//!
//! The behaviour (renewal at 80 % of the lifetime, single flight, the session's own namespace
//! in the token cache) is the core's (`nexus_sdk::session`); the synchronous hit paths
//! (`peekToken`, `peekGeneration`, `prepareHit`) look up through `NexusClient::peek_cached`, so
//! they use the session's namespace too. The cache is not cleared when a session starts or
//! closes: each principal's tokens stay apart in it, and the API key's are served again after
//! the session (tests/vectors/client_behaviour.json). The session token is never handed to
//! JavaScript.

use crate::client::NativeClient;
use crate::error::{invalid_argument, to_napi};
use napi_derive::napi;
use nexus_sdk::{SecretString, Session, SessionRequest};
use std::time::Duration;

#[napi(object)]
pub struct NativeSessionRequest {
    pub scopes: Vec<String>,
    pub ttl_seconds: Option<u32>,
    pub on_behalf_of: Option<String>,
    pub agent_credential: Option<String>,
}

#[napi(object)]
pub struct NativeSession {
    pub session_id: String,
    pub expires_in: f64,
    pub expires_at: String,
    pub scopes: Vec<String>,
    pub agent_id: String,
    pub sub: String,
    pub act: Option<String>,
    /// When the core renews it: 80 % of `expires_in`, in milliseconds after issue.
    pub renew_after_ms: f64,
}

impl From<&Session> for NativeSession {
    fn from(s: &Session) -> Self {
        Self {
            session_id: s.session_id.clone(),
            expires_in: s.expires_in as f64,
            expires_at: s.expires_at.clone(),
            scopes: s.scopes.clone(),
            agent_id: s.agent_id.clone(),
            sub: s.sub.clone(),
            act: s.act.clone(),
            renew_after_ms: nexus_sdk::session::renewal_delay(s.expires_in).as_millis() as f64,
        }
    }
}

#[napi(object)]
pub struct NativeAuthorization {
    pub allowed: bool,
    pub scope: String,
    pub session_id: String,
}

#[napi]
impl NativeClient {
    /// `POST /v1/sessions`; every resolve uses the session from then on.
    #[napi]
    pub async fn start_session(
        &self,
        request: NativeSessionRequest,
    ) -> napi::Result<NativeSession> {
        if request.ttl_seconds == Some(0) {
            return Err(invalid_argument("ttlSeconds must be at least 1"));
        }
        let request = SessionRequest {
            scopes: request.scopes,
            ttl: request
                .ttl_seconds
                .map(|s| Duration::from_secs(u64::from(s))),
            on_behalf_of: request.on_behalf_of.map(SecretString::new),
            agent_credential: request.agent_credential.map(SecretString::new),
        };
        let session = self.core().start_session(request).await.map_err(to_napi)?;
        Ok(NativeSession::from(&session))
    }

    /// `DELETE /v1/sessions/{id}` of the active session (a no-op without one).
    #[napi]
    pub async fn close_session(&self) -> napi::Result<()> {
        self.core().close_session().await.map_err(to_napi)
    }

    /// `POST /v1/authorize` with the active session.
    #[napi]
    pub async fn authorize(&self, scope: String) -> napi::Result<NativeAuthorization> {
        let answer = self.core().authorize(&scope).await.map_err(to_napi)?;
        Ok(NativeAuthorization {
            allowed: answer.allowed,
            scope: answer.scope,
            session_id: answer.session_id,
        })
    }

    /// The active session (after renewals), or `null`.
    #[napi]
    pub fn current_session(&self) -> Option<NativeSession> {
        self.core().session().as_ref().map(NativeSession::from)
    }
}

/// Test hook for `tests/vectors/sessions.json`: parse a session body as the core does.
#[napi]
pub fn parse_session_body(body: String) -> napi::Result<NativeSession> {
    nexus_sdk::session::parse_session_response(body.as_bytes())
        .map(|s| NativeSession::from(&s))
        .map_err(to_napi)
}
