//! Agent sessions: a short-lived, scoped session token used instead of the API key.
//!
//! [`NexusClient::start_session`] asks the gateway for a session (`POST /v1/sessions`,
//! authenticated by the client's API key or by [`SessionRequest::agent_credential`]). While the
//! session is active, every resolve sends `Authorization: Bearer <session token>`.
//!
//! Renewal: a background task (on the runtime that started the session) asks for a new session
//! with the same request at 80 % of the token's lifetime ([`renewal_delay`]). A call that finds
//! the token already at its end renews inline; both paths share one single-flight lock, so one
//! renewal runs at a time. A renewal refused by the gateway (a 4xx other than 429: the agent was
//! disabled, the user's token expired, …) is terminal: it is kept and returned by the next call,
//! until the session is closed or a new one started. Transient failures (network, 429, 5xx) are
//! retried with the client's backoff until the token expires. The superseded session is not
//! revoked (requests in flight may still use it); it expires by itself.
//!
//! Cache isolation: tokens resolved under a session are cached under a key that includes the
//! session ([`NexusClient::cache_namespace`]), so they are never served to another session or to
//! the plain API key, and a plain-key token is never served to a session. The namespace is the
//! *first* session id of a started session and survives renewals (same request, same scopes).
//! Entries of a closed session stay in the cache until it is cleared; they are never read again.

use crate::client::{Idempotency, NexusClient, segment};
use crate::error::{NexusError, Result};
use nexus_protocol::SecretString;
use nexus_protocol::identity::{
    AUTHORIZE_PATH, AuthorizeRequest, AuthorizeResponse, CreateSessionRequest, OnBehalfOf,
    SESSIONS_PATH, SessionResponse, SessionStatus,
};
use parking_lot::{Mutex, RwLock};
use reqwest::header::HeaderValue;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod lineage;
use lineage::{Lineage, LineageState, bearer, renewal_loop};

/// What [`NexusClient::start_session`] asks for.
#[derive(Clone, Default)]
pub struct SessionRequest {
    /// Requested scopes (`provider:github`, `provider:github:repo`, application scopes).
    /// Empty = every scope the agent declared. Anything outside the declared set is refused
    /// (`scope_not_allowed`), never silently dropped.
    pub scopes: Vec<String>,
    /// Requested lifetime; the gateway caps it at the agent's maximum.
    pub ttl: Option<Duration>,
    /// On-Behalf-Of: the user's token (a JWT of a trusted issuer). Kept for renewals.
    pub on_behalf_of: Option<SecretString>,
    /// Authenticate `POST /v1/sessions` with this agent credential (`nxa_…`) instead of the
    /// client's API key.
    pub agent_credential: Option<SecretString>,
}

impl fmt::Debug for SessionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRequest")
            .field("scopes", &self.scopes)
            .field("ttl", &self.ttl)
            .field(
                "on_behalf_of",
                &self.on_behalf_of.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "agent_credential",
                &self.agent_credential.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

impl SessionRequest {
    pub fn new(scopes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            scopes: scopes.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    fn wire(&self) -> CreateSessionRequest {
        CreateSessionRequest {
            scopes: self.scopes.clone(),
            // Whole seconds, rounded up (as the Go SDK does).
            ttl_seconds: self
                .ttl
                .map(|t| (t.as_secs() + u64::from(t.subsec_nanos() > 0)).max(1)),
            on_behalf_of: self
                .on_behalf_of
                .clone()
                .map(|subject_token| OnBehalfOf { subject_token }),
        }
    }
}

/// A session as the gateway issued it (the current one, after renewals).
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub session_id: String,
    /// The session token (a JWT). Redacted in `Debug`.
    pub session_token: SecretString,
    pub expires_in: u64,
    pub expires_at: String,
    /// The granted scopes.
    pub scopes: Vec<String>,
    pub agent_id: String,
    /// The agent id, or the user for On-Behalf-Of.
    pub sub: String,
    /// On-Behalf-Of: the acting agent (`act.sub`).
    pub act: Option<String>,
}

/// Parse and check a `POST /v1/sessions` 201 body.
pub fn parse_session_response(body: &[u8]) -> Result<Session> {
    let response: SessionResponse = crate::client::parse_json(body)?;
    let invalid = |detail: &str| NexusError::InvalidResponse {
        status: 201,
        detail: detail.to_owned(),
        request_id: None,
    };
    if response.token_type != "session" {
        return Err(invalid("the session answer's token_type is not `session`"));
    }
    if response.session_token.is_empty() || response.session_id.is_empty() {
        return Err(invalid(
            "the session answer lacks a session_token or session_id",
        ));
    }
    if response.expires_in == 0 {
        return Err(invalid("the session answer has expires_in 0"));
    }
    Ok(Session {
        session_id: response.session_id,
        session_token: response.session_token,
        expires_in: response.expires_in,
        expires_at: response.expires_at,
        scopes: response.scopes,
        agent_id: response.agent_id,
        sub: response.sub,
        act: response.act.map(|a| a.sub),
    })
}

/// When to renew a session that lives `expires_in` seconds: at 80 % of its lifetime.
pub fn renewal_delay(expires_in: u64) -> Duration {
    Duration::from_millis(expires_in.saturating_mul(800))
}

/// Whether a failed renewal is final (the gateway refused) rather than worth retrying.
pub fn is_terminal(error: &NexusError) -> bool {
    match error {
        NexusError::Api(e) => e.status != 429 && !(500..600).contains(&e.status),
        _ => false,
    }
}

/// The slot in the client that holds the active session, if any.
#[derive(Default)]
pub(crate) struct SessionSlot {
    /// Whether `current` may hold a session: a plain load, so that the cache-hit path of a
    /// client that never started a session makes no shared write (a read lock would).
    active: AtomicBool,
    current: RwLock<Option<Arc<Lineage>>>,
    /// Bumped after every change of `current` (under its write lock): a binding's copy of a hit
    /// tagged with an older value was taken for another principal (see `crate::hold`).
    version: AtomicU64,
}

impl SessionSlot {
    fn get(&self) -> Option<Arc<Lineage>> {
        if !self.active.load(Ordering::Acquire) {
            return None;
        }
        self.current.read().clone()
    }

    fn replace(&self, lineage: Arc<Lineage>) -> Option<Arc<Lineage>> {
        let mut current = self.current.write();
        self.active.store(true, Ordering::Release);
        let previous = current.replace(lineage);
        self.version.fetch_add(1, Ordering::Release);
        previous
    }

    fn take(&self) -> Option<Arc<Lineage>> {
        let mut current = self.current.write();
        self.active.store(false, Ordering::Release);
        let previous = current.take();
        self.version.fetch_add(1, Ordering::Release);
        previous
    }

    /// The principal's version (see `version`); the address, for bindings that read it from
    /// another language.
    pub(crate) fn version(&self) -> &AtomicU64 {
        &self.version
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        if let Some(lineage) = self.current.get_mut().take() {
            lineage.stop();
        }
    }
}

impl NexusClient {
    /// `POST /v1/sessions`: start an agent session and use its token for every resolve from now
    /// on (replacing any active session, which is revoked). The background renewal runs as a
    /// task on the current tokio runtime.
    pub async fn start_session(&self, request: SessionRequest) -> Result<Session> {
        let start_auth = match &request.agent_credential {
            Some(credential) => bearer(credential.expose()).ok_or_else(|| {
                NexusError::InvalidRequest(
                    "agent_credential must be non-empty and free of control characters".into(),
                )
            })?,
            None => self.api_key_authorization().clone(),
        };
        if request
            .agent_credential
            .as_ref()
            .is_some_and(SecretString::is_empty)
        {
            return Err(NexusError::InvalidRequest(
                "agent_credential must be non-empty".into(),
            ));
        }
        let issued = Instant::now();
        let session = self.create_session(&start_auth, &request).await?;
        let lineage = Arc::new(Lineage {
            id: session.session_id.clone(),
            state: RwLock::new(LineageState::new(session.clone(), issued, 0)?),
            request,
            start_auth,
            renewing: tokio::sync::Mutex::new(()),
            task: Mutex::new(None),
        });
        // Without a tokio runtime (another executor) there is no background renewal; calls
        // still renew inline near the expiry.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let task = runtime.spawn(renewal_loop(
                Arc::downgrade(self.inner_arc()),
                Arc::downgrade(&lineage),
            ));
            *lineage.task.lock() = Some(task.abort_handle());
        }
        let previous = self.session_slot().replace(lineage);
        if let Some(previous) = previous {
            self.revoke_quietly(previous).await;
        }
        Ok(session)
    }

    /// The active session (its current token, after renewals), if any.
    pub fn session(&self) -> Option<Session> {
        self.active_lineage()?.current().ok()
    }

    /// `DELETE /v1/sessions/{id}`: revoke the active session and go back to the API key. A no-op
    /// without a session. The session is detached locally even when the revocation fails.
    pub async fn close_session(&self) -> Result<()> {
        let Some(lineage) = self.session_slot().take() else {
            return Ok(());
        };
        let (session_id, authorization) = {
            let state = lineage.state.read();
            (
                state.session.session_id.clone(),
                state.authorization.clone(),
            )
        };
        lineage.stop();
        self.delete_session(&authorization, &session_id).await
    }

    /// `GET /v1/sessions/{id}` of the active session.
    pub async fn session_status(&self) -> Result<SessionStatus> {
        let lineage = self.require_session()?;
        let authorization = lineage.authorization(self).await?;
        let session_id = lineage.current()?.session_id;
        let url = self.url(&format!("{SESSIONS_PATH}/{}", segment(&session_id)));
        let body = self
            .call_with(&authorization, Idempotency::Idempotent, || {
                self.http().get(&url)
            })
            .await?;
        crate::client::parse_json(&body)
    }

    /// `POST /v1/authorize`: is `scope` granted to the active session (and, for On-Behalf-Of,
    /// to its user)? A refusal is `Err` with code `scope_not_allowed` or
    /// `user_not_authorized_for_scope`.
    pub async fn authorize(&self, scope: &str) -> Result<AuthorizeResponse> {
        let lineage = self.require_session()?;
        let authorization = lineage.authorization(self).await?;
        let url = self.url(AUTHORIZE_PATH);
        let input = AuthorizeRequest {
            scope: scope.to_owned(),
        };
        let body = self
            .call_with(&authorization, Idempotency::Idempotent, || {
                self.http().post(&url).json(&input)
            })
            .await?;
        crate::client::parse_json(&body)
    }

    /// The workspace part of a token-cache key for the current principal: the workspace id
    /// alone for the API key, `"{workspace}\u{1f}session:{id}"` under a session.
    pub fn cache_namespace<'a>(&self, workspace_id: &'a str) -> Cow<'a, str> {
        match self.active_lineage() {
            None => Cow::Borrowed(workspace_id),
            Some(lineage) => Cow::Owned(namespaced(workspace_id, &lineage.id)),
        }
    }

    /// A fresh cached token for the current principal, without I/O (the bindings' fast path).
    pub fn peek_cached(
        &self,
        cache: &crate::TokenCache,
        workspace_id: &str,
        provider: &str,
    ) -> Option<Arc<crate::CachedToken>> {
        cache.get(&self.cache_namespace(workspace_id), provider)
    }

    /// The principal of one resolve: its cache namespace and how it authenticates.
    pub(crate) fn principal(&self) -> Principal {
        Principal(self.active_lineage())
    }

    fn active_lineage(&self) -> Option<Arc<Lineage>> {
        self.session_slot().get()
    }

    fn require_session(&self) -> Result<Arc<Lineage>> {
        self.active_lineage()
            .ok_or_else(|| NexusError::InvalidRequest("no active session".into()))
    }

    async fn create_session(
        &self,
        authorization: &HeaderValue,
        request: &SessionRequest,
    ) -> Result<Session> {
        let url = self.url(SESSIONS_PATH);
        let body = request.wire();
        let answer = self
            .call_with(authorization, Idempotency::CreatesResource, || {
                self.http().post(&url).json(&body)
            })
            .await?;
        parse_session_response(&answer)
    }

    async fn delete_session(&self, authorization: &HeaderValue, session_id: &str) -> Result<()> {
        let url = self.url(&format!("{SESSIONS_PATH}/{}", segment(session_id)));
        self.call_with(authorization, Idempotency::Idempotent, || {
            self.http().delete(&url)
        })
        .await
        .map(drop)
    }

    async fn revoke_quietly(&self, previous: Arc<Lineage>) {
        let (session_id, authorization) = {
            let state = previous.state.read();
            (
                state.session.session_id.clone(),
                state.authorization.clone(),
            )
        };
        previous.stop();
        if let Err(e) = self.delete_session(&authorization, &session_id).await {
            tracing::debug!(code = e.code(), "revoking the replaced session failed");
        }
    }
}

fn namespaced(workspace_id: &str, lineage: &str) -> String {
    format!("{workspace_id}\u{1f}session:{lineage}")
}

/// Who a resolve runs as, captured once so its cache key and its credential agree.
pub(crate) struct Principal(Option<Arc<Lineage>>);

impl Principal {
    pub(crate) fn cache_workspace<'a>(&self, workspace_id: &'a str) -> Cow<'a, str> {
        match &self.0 {
            None => Cow::Borrowed(workspace_id),
            Some(lineage) => Cow::Owned(namespaced(workspace_id, &lineage.id)),
        }
    }

    /// The `Authorization` value: the session token (renewed if due), or the API key.
    pub(crate) async fn authorization(&self, client: &NexusClient) -> Result<HeaderValue> {
        match &self.0 {
            None => Ok(client.api_key_authorization().clone()),
            Some(lineage) => lineage.authorization(client).await,
        }
    }
}

impl Clone for Principal {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_at_eighty_percent() {
        assert_eq!(renewal_delay(900), Duration::from_secs(720));
        assert_eq!(renewal_delay(1), Duration::from_millis(800));
    }

    #[test]
    fn request_debug_redacts_secrets() {
        let request = SessionRequest {
            on_behalf_of: Some("user.jwt.secret".into()),
            agent_credential: Some("nxa_secret".into()),
            ..SessionRequest::new(["provider:github"])
        };
        let shown = format!("{request:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("provider:github"));
    }
}
