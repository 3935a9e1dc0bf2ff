//! Agent sessions for Python: free functions over a `Client`, wrapped by
//! `nexus_sdk.NexusClient.start_session` / `close_session` / `authorize` / `session`.
//!
//! Every behaviour (renewal at 80 %, single flight, the session's cache namespace) is the
//! core's (`nexus_sdk::session`); this converts arguments and results only. The session token is
//! never handed to Python: the core uses it, and nothing prints it.

use crate::client::Client;
use crate::errors::invalid_input;
use crate::runtime::wait;
use nexus_sdk::{NexusClient, SecretString, Session, SessionRequest};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::time::Duration;

fn session_to_py<'py>(py: Python<'py>, session: &Session) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("session_id", &session.session_id)?;
    dict.set_item("expires_in", session.expires_in)?;
    dict.set_item("expires_at", &session.expires_at)?;
    dict.set_item("scopes", &session.scopes)?;
    dict.set_item("agent_id", &session.agent_id)?;
    dict.set_item("sub", &session.sub)?;
    dict.set_item("act", session.act.as_deref())?;
    Ok(dict)
}

/// `POST /v1/sessions`; the client uses the session for every resolve from then on.
#[pyfunction]
#[pyo3(signature = (client, scopes, ttl = None, on_behalf_of = None, agent_credential = None))]
pub fn start_session<'py>(
    py: Python<'py>,
    client: &Client,
    scopes: Vec<String>,
    ttl: Option<f64>,
    on_behalf_of: Option<String>,
    agent_credential: Option<String>,
) -> PyResult<Bound<'py, PyDict>> {
    let ttl = match ttl {
        Some(t) if !t.is_finite() || t < 1.0 => {
            return Err(invalid_input("ttl must be at least 1 second"));
        }
        Some(t) => Some(Duration::from_secs_f64(t)),
        None => None,
    };
    let request = SessionRequest {
        scopes,
        ttl,
        on_behalf_of: on_behalf_of.map(SecretString::new),
        agent_credential: agent_credential.map(SecretString::new),
    };
    let core = client.core()?;
    let session = wait(py, async move { core.start_session(request).await })?;
    session_to_py(py, &session)
}

/// `DELETE /v1/sessions/{id}` of the active session (a no-op without one).
#[pyfunction]
pub fn close_session(py: Python<'_>, client: &Client) -> PyResult<()> {
    let core = client.core()?;
    wait(py, async move { core.close_session().await })
}

/// `POST /v1/authorize` with the active session: `{allowed, scope, session_id}`, or an
/// `ApiError` with code `scope_not_allowed` / `user_not_authorized_for_scope`.
#[pyfunction]
pub fn authorize<'py>(
    py: Python<'py>,
    client: &Client,
    scope: String,
) -> PyResult<Bound<'py, PyDict>> {
    let core = client.core()?;
    let answer = wait(py, async move { core.authorize(&scope).await })?;
    let dict = PyDict::new(py);
    dict.set_item("allowed", answer.allowed)?;
    dict.set_item("scope", answer.scope)?;
    dict.set_item("session_id", answer.session_id)?;
    Ok(dict)
}

/// The active session (after renewals), or `None`.
#[pyfunction]
pub fn current_session<'py>(
    py: Python<'py>,
    client: &Client,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    client
        .with_core(NexusClient::session)?
        .map(|s| session_to_py(py, &s))
        .transpose()
}

/// Test hook for `tests/vectors/sessions.json`: parse a session body as the core does.
#[pyfunction]
pub fn parse_session_body<'py>(py: Python<'py>, body: &[u8]) -> PyResult<Bound<'py, PyDict>> {
    let session =
        nexus_sdk::session::parse_session_response(body).map_err(crate::errors::to_py_err)?;
    let dict = session_to_py(py, &session)?;
    dict.set_item(
        "renew_after_ms",
        nexus_sdk::session::renewal_delay(session.expires_in).as_millis() as u64,
    )?;
    Ok(dict)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(start_session, m)?)?;
    m.add_function(wrap_pyfunction!(close_session, m)?)?;
    m.add_function(wrap_pyfunction!(authorize, m)?)?;
    m.add_function(wrap_pyfunction!(current_session, m)?)?;
    m.add_function(wrap_pyfunction!(parse_session_body, m)?)?;
    Ok(())
}
