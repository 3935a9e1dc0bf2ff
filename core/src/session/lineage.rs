//! One started agent session and its renewals: the token in use, the single-flight renewal
//! (inline near the expiry, or by the background task at 80 % of the lifetime) and the kept
//! terminal failure. The session API on [`NexusClient`] is in the parent module.

use super::{Session, SessionRequest, is_terminal, renewal_delay};
use crate::client::NexusClient;
use crate::error::{NexusError, Result};
use crate::retry::RetryPolicy;
use parking_lot::{Mutex, RwLock};
use reqwest::header::HeaderValue;
use std::sync::Weak;
use std::time::{Duration, Instant};
use tokio::task::AbortHandle;

/// One started session and its renewals.
pub(super) struct Lineage {
    /// The first session id: the cache namespace, stable across renewals.
    pub(super) id: String,
    pub(super) request: SessionRequest,
    /// What authenticates `POST /v1/sessions` (API key or agent credential). Sensitive.
    pub(super) start_auth: HeaderValue,
    pub(super) state: RwLock<LineageState>,
    /// Single flight: one renewal at a time.
    pub(super) renewing: tokio::sync::Mutex<()>,
    pub(super) task: Mutex<Option<AbortHandle>>,
}

pub(super) struct LineageState {
    pub(super) session: Session,
    /// `Bearer <session token>`, sensitive.
    pub(super) authorization: HeaderValue,
    pub(super) renew_at: Instant,
    /// From here on a call renews inline before using the token (see [`inline_margin`]).
    pub(super) renew_inline_at: Instant,
    pub(super) expires_at: Instant,
    /// Bumped by every renewal, so a waiter can see that another one already renewed.
    pub(super) generation: u64,
    /// A terminal renewal failure, returned by the next call.
    pub(super) failure: Option<NexusError>,
    pub(super) closed: bool,
}

impl LineageState {
    pub(super) fn new(session: Session, issued: Instant, generation: u64) -> Result<Self> {
        let authorization =
            bearer(session.session_token.expose()).ok_or_else(|| NexusError::InvalidResponse {
                status: 201,
                detail: "the session token is not a valid header value".into(),
                request_id: None,
            })?;
        let lifetime = Duration::from_secs(session.expires_in);
        Ok(Self {
            renew_at: issued + renewal_delay(session.expires_in),
            renew_inline_at: issued + lifetime - inline_margin(lifetime),
            expires_at: issued + lifetime,
            session,
            authorization,
            generation,
            failure: None,
            closed: false,
        })
    }
}

pub(super) fn bearer(token: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// Within this margin of its expiry a session token is renewed inline before use (when the
/// background renewal did not happen, e.g. the runtime was busy): 2 s, or a tenth of a shorter
/// lifetime.
fn inline_margin(lifetime: Duration) -> Duration {
    (lifetime / 10).min(Duration::from_secs(2))
}

impl Lineage {
    pub(super) fn stop(&self) {
        self.state.write().closed = true;
        if let Some(task) = self.task.lock().take() {
            task.abort();
        }
    }

    fn closed_error() -> NexusError {
        NexusError::InvalidRequest("the session was closed".into())
    }

    /// The header to use now: renews inline when the token is at its end, and returns a kept
    /// terminal renewal failure.
    pub(super) async fn authorization(&self, client: &NexusClient) -> Result<HeaderValue> {
        let generation = {
            let state = self.state.read();
            if state.closed {
                return Err(Self::closed_error());
            }
            if let Some(failure) = &state.failure {
                return Err(failure.clone());
            }
            if Instant::now() < state.renew_inline_at {
                return Ok(state.authorization.clone());
            }
            state.generation
        };
        self.renew(client, generation).await?;
        let state = self.state.read();
        Ok(state.authorization.clone())
    }

    /// Renew unless another caller already renewed past `seen_generation` (single flight).
    async fn renew(&self, client: &NexusClient, seen_generation: u64) -> Result<()> {
        let _flight = self.renewing.lock().await;
        {
            let state = self.state.read();
            if state.closed {
                return Err(Self::closed_error());
            }
            if let Some(failure) = &state.failure {
                return Err(failure.clone());
            }
            if state.generation != seen_generation {
                return Ok(());
            }
        }
        tracing::debug!(session_id = %self.id, "renewing the agent session");
        let issued = Instant::now();
        let result = client
            .create_session(&self.start_auth, &self.request)
            .await
            .and_then(|session| LineageState::new(session, issued, seen_generation + 1));
        let mut state = self.state.write();
        match result {
            Ok(mut next) => {
                next.closed = state.closed;
                *state = next;
                Ok(())
            }
            Err(error) => {
                if is_terminal(&error) {
                    tracing::debug!(code = error.code(), "session renewal refused");
                    state.failure = Some(error.clone());
                }
                Err(error)
            }
        }
    }

    pub(super) fn current(&self) -> Result<Session> {
        let state = self.state.read();
        if state.closed {
            return Err(Self::closed_error());
        }
        Ok(state.session.clone())
    }
}

/// The background renewal: sleep until 80 % of the lifetime, renew, repeat. Stops when the
/// client is dropped, the session closed, or a renewal is refused.
pub(super) async fn renewal_loop(client: Weak<crate::client::Inner>, lineage: Weak<Lineage>) {
    let mut attempt = 0u32;
    loop {
        let Some(wake) = lineage.upgrade().map(|l| {
            let state = l.state.read();
            (state.renew_at, state.expires_at, state.generation)
        }) else {
            return;
        };
        let (renew_at, expires_at, generation) = wake;
        tokio::time::sleep_until(renew_at.into()).await;
        let (Some(inner), Some(l)) = (client.upgrade(), lineage.upgrade()) else {
            return;
        };
        let client = NexusClient::from_inner(inner);
        match l.renew(&client, generation).await {
            Ok(()) => attempt = 0,
            Err(error) if is_terminal(&error) || Instant::now() >= expires_at => return,
            Err(_) => {
                // Transient: retry with the client's backoff, never past the expiry.
                let policy: &RetryPolicy = client.retry_policy();
                let wait = policy.backoff(attempt).max(Duration::from_millis(50));
                attempt = attempt.saturating_add(1);
                let until = (Instant::now() + wait).min(expires_at);
                drop((client, l));
                tokio::time::sleep_until(until.into()).await;
                if let Some(l) = lineage.upgrade() {
                    // Make the next loop iteration renew at once.
                    let mut state = l.state.write();
                    if state.generation == generation {
                        state.renew_at = Instant::now();
                    }
                }
            }
        }
    }
}
