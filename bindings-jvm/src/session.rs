//! Agent sessions on `NativeClient`: a scoped, renewed session token instead of the API key,
//! with its own cache namespace (all of it the core's). The session token itself is never
//! handed to the JVM.

use crate::client::NativeClient;
use crate::errors::NativeError;
use crate::runtime::run;
use nexus_sdk::{SecretString, Session, SessionRequest};
use std::time::Duration;

#[derive(Clone, Default, uniffi::Record)]
pub struct NativeSessionRequest {
    /// Empty: every scope the agent declared.
    pub scopes: Vec<String>,
    pub ttl_seconds: Option<u64>,
    /// On-Behalf-Of: the user's token (a JWT of a trusted issuer).
    pub on_behalf_of: Option<String>,
    /// Authenticate the session request with this agent credential instead of the API key.
    pub agent_credential: Option<String>,
}

/// A session as the gateway issued it (without its token).
#[derive(Clone, uniffi::Record)]
pub struct NativeSession {
    pub session_id: String,
    pub expires_at: String,
    pub expires_in: u64,
    pub scopes: Vec<String>,
    pub agent_id: String,
    pub sub: String,
    pub act: Option<String>,
}

impl From<Session> for NativeSession {
    fn from(s: Session) -> Self {
        Self {
            session_id: s.session_id,
            expires_at: s.expires_at,
            expires_in: s.expires_in,
            scopes: s.scopes,
            agent_id: s.agent_id,
            sub: s.sub,
            act: s.act,
        }
    }
}

#[derive(Clone, uniffi::Record)]
pub struct NativeSessionStatus {
    pub session_id: String,
    pub status: String,
    pub scopes: Vec<String>,
    pub expires_at: String,
}

#[uniffi::export]
impl NativeClient {
    /// `POST /v1/sessions`: every resolve from now on uses the session (renewed in the
    /// background at 80 % of its lifetime).
    pub async fn start_session(
        &self,
        request: NativeSessionRequest,
    ) -> Result<NativeSession, NativeError> {
        let client = self.inner.clone();
        let request = SessionRequest {
            scopes: request.scopes,
            ttl: request.ttl_seconds.map(Duration::from_secs),
            on_behalf_of: request.on_behalf_of.map(SecretString::from),
            agent_credential: request.agent_credential.map(SecretString::from),
        };
        let session = run(async move { client.start_session(request).await }).await?;
        Ok(session.into())
    }

    /// The active session, if any.
    pub fn session(&self) -> Option<NativeSession> {
        self.inner.session().map(Into::into)
    }

    /// `DELETE /v1/sessions/{id}`: revoke the session and go back to the API key.
    pub async fn close_session(&self) -> Result<(), NativeError> {
        let client = self.inner.clone();
        Ok(run(async move { client.close_session().await }).await?)
    }

    /// `GET /v1/sessions/{id}` of the active session.
    pub async fn session_status(&self) -> Result<NativeSessionStatus, NativeError> {
        let client = self.inner.clone();
        let s = run(async move { client.session_status().await }).await?;
        Ok(NativeSessionStatus {
            session_id: s.session_id,
            status: s.status,
            scopes: s.scopes,
            expires_at: s.expires_at,
        })
    }
}
