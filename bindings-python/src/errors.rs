//! The Python exception hierarchy and the one function that maps a core error onto it.
//!
//! Every exception is a `NexusError` carrying `code`, `message`, `status_code`, `request_id`,
//! `reauth_url` and `retry_after` as attributes. `code` is the core's stable string
//! (`NexusError::code`), so Python reports exactly what the Rust, Node and Go SDKs report.
//! The message is the core's `Display`, which never contains a secret.

use nexus_sdk::NexusError as CoreError;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    nexus_sdk,
    NexusError,
    PyException,
    "Base class of every Nexus SDK error."
);
create_exception!(
    nexus_sdk,
    InvalidRequest,
    NexusError,
    "The request is malformed."
);
create_exception!(
    nexus_sdk,
    Unauthorized,
    NexusError,
    "The API key is missing, unknown or revoked."
);
create_exception!(
    nexus_sdk,
    Forbidden,
    NexusError,
    "The caller may not do this."
);
create_exception!(nexus_sdk, NotFound, NexusError, "No such resource.");
create_exception!(
    nexus_sdk,
    ProviderNotFound,
    NotFound,
    "No provider of that name."
);
create_exception!(
    nexus_sdk,
    ConnectionNotFound,
    NotFound,
    "The workspace has no connection for this provider or id."
);
create_exception!(
    nexus_sdk,
    ReauthRequired,
    NexusError,
    "A person must authorize the connection again; see `reauth_url`."
);
create_exception!(
    nexus_sdk,
    ConnectionNotActive,
    NexusError,
    "The connection is not usable yet."
);
create_exception!(
    nexus_sdk,
    ConnectionFailed,
    NexusError,
    "A waited-on connection reached a state it will not leave by itself."
);
create_exception!(
    nexus_sdk,
    RateLimited,
    NexusError,
    "Slow down; see `retry_after` (seconds)."
);
create_exception!(
    nexus_sdk,
    UpstreamUnavailable,
    NexusError,
    "The provider (or the broker) could not be reached or failed."
);
create_exception!(
    nexus_sdk,
    ServerError,
    NexusError,
    "The gateway failed, or sent an unknown code."
);
create_exception!(
    nexus_sdk,
    StrategyError,
    NexusError,
    "The strategy or credential cannot produce a safe, authenticated request."
);
create_exception!(
    nexus_sdk,
    TransportError,
    NexusError,
    "The gateway or the upstream could not be reached."
);
create_exception!(
    nexus_sdk,
    NexusTimeout,
    NexusError,
    "A call or a wait ran out of time."
);
create_exception!(
    nexus_sdk,
    InvalidResponse,
    NexusError,
    "The gateway answered something that is not protocol v1."
);

/// Register every exception class on the module, with `None`/empty class-level defaults for the
/// attributes so that an exception raised from Python code (which has none set) still has them.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let classes = [
        py.get_type::<NexusError>(),
        py.get_type::<InvalidRequest>(),
        py.get_type::<Unauthorized>(),
        py.get_type::<Forbidden>(),
        py.get_type::<NotFound>(),
        py.get_type::<ProviderNotFound>(),
        py.get_type::<ConnectionNotFound>(),
        py.get_type::<ReauthRequired>(),
        py.get_type::<ConnectionNotActive>(),
        py.get_type::<ConnectionFailed>(),
        py.get_type::<RateLimited>(),
        py.get_type::<UpstreamUnavailable>(),
        py.get_type::<ServerError>(),
        py.get_type::<StrategyError>(),
        py.get_type::<TransportError>(),
        py.get_type::<NexusTimeout>(),
        py.get_type::<InvalidResponse>(),
    ];
    let base = &classes[0];
    base.setattr("code", "")?;
    base.setattr("message", "")?;
    for attr in ["status_code", "request_id", "reauth_url", "retry_after"] {
        base.setattr(attr, py.None())?;
    }
    for class in classes {
        m.add(class.name()?, class)?;
    }
    Ok(())
}

/// The exception class for a core error: by protocol code for gateway errors, by kind otherwise.
fn class_for<'py>(py: Python<'py>, err: &CoreError) -> Bound<'py, pyo3::types::PyType> {
    match err {
        CoreError::Api(_) => match err.code() {
            "invalid_request" | "payload_too_large" => py.get_type::<InvalidRequest>(),
            "unauthorized" | "invalid_subject_token" => py.get_type::<Unauthorized>(),
            "forbidden" | "scope_not_allowed" | "user_not_authorized_for_scope" => {
                py.get_type::<Forbidden>()
            }
            "not_found" => py.get_type::<NotFound>(),
            "provider_not_found" => py.get_type::<ProviderNotFound>(),
            "connection_not_found" => py.get_type::<ConnectionNotFound>(),
            "reauth_required" => py.get_type::<ReauthRequired>(),
            "connection_not_active" => py.get_type::<ConnectionNotActive>(),
            "rate_limited" => py.get_type::<RateLimited>(),
            "upstream_unavailable" => py.get_type::<UpstreamUnavailable>(),
            _ => py.get_type::<ServerError>(),
        },
        CoreError::UnknownStrategy(_)
        | CoreError::InvalidStrategyConfig(_)
        | CoreError::MissingCredentialField { .. }
        | CoreError::InvalidCredentialValue { .. } => py.get_type::<StrategyError>(),
        CoreError::InvalidRequest(_) => py.get_type::<InvalidRequest>(),
        CoreError::Connect(_) => py.get_type::<TransportError>(),
        CoreError::Timeout(_) | CoreError::WaitAborted(_) => py.get_type::<NexusTimeout>(),
        CoreError::InvalidResponse { .. } => py.get_type::<InvalidResponse>(),
        CoreError::ConnectionFailed { .. } => py.get_type::<ConnectionFailed>(),
    }
}

/// The one mapping from a core error to a Python exception (with its attributes set).
pub fn to_py_err(err: CoreError) -> PyErr {
    Python::attach(|py| match build(py, &err) {
        Ok(exc) => PyErr::from_value(exc),
        // Building the exception failed (out of memory, interpreter shutting down): fall back to
        // the base class with the message only, never to a panic.
        Err(_) => NexusError::new_err(err.to_string()),
    })
}

fn build<'py>(py: Python<'py>, err: &CoreError) -> PyResult<Bound<'py, PyAny>> {
    // `str(exc)` is the full description; `message` is the gateway's own text when it sent one.
    let description = err.to_string();
    let message = err
        .api_error()
        .map_or(description.as_str(), |api| api.message.as_str());
    let exc = class_for(py, err).call1((description.as_str(),))?;
    exc.setattr("code", err.code())?;
    exc.setattr("message", message)?;
    exc.setattr("status_code", err.status())?;
    exc.setattr("request_id", err.request_id())?;
    exc.setattr("reauth_url", err.reauth_url())?;
    exc.setattr("retry_after", err.retry_after().map(|d| d.as_secs_f64()))?;
    Ok(exc)
}

/// An invalid argument from Python (bad option value, bad header): a typed `InvalidRequest`
/// whose `code` is `invalid_request`, like the core's own input errors.
pub fn invalid_input(message: impl Into<String>) -> PyErr {
    to_py_err(CoreError::InvalidRequest(message.into()))
}
