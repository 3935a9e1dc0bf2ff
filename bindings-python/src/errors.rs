//! The Python exception hierarchy, generated from the core's error table, and the one function
//! that maps a core error onto it.
//!
//! The classes are built at import from `nexus_sdk::error::ERROR_TABLE` (code → kind → class →
//! parent), so the table cannot drift from the classes; the table itself is exported as
//! `_native.ERROR_TABLE` for the drift test of the Python-side names (`errors.py`, stubs).
//! Python keeps its older names as aliases of the table's classes ([`ALIASES`]) and one
//! Python-only base, `NexusTimeout`, which the classes of `timeout` and `wait_aborted` both
//! inherit (it was the class of both before the table existed).
//!
//! Every exception is a `NexusError` carrying `code`, `message`, `status_code`, `request_id`,
//! `reauth_url` and `retry_after` as attributes (`ConnectionRequiredError` also `provider`,
//! `reason`, `connect_url` and `elicitation_id`). `code` is the core's stable string
//! (`NexusError::code`), so Python reports exactly what the Rust, Node and Go SDKs report.
//! The message is the core's `Display`, which never contains a secret.

use nexus_sdk::NexusError as CoreError;
use nexus_sdk::error::{ERROR_TABLE, ROOT_CLASS, UNKNOWN_API_CODE_CLASS};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyTuple, PyType};
use std::collections::HashMap;

create_exception!(
    nexus_sdk,
    NexusError,
    PyException,
    "Base class of every Nexus SDK error."
);
create_exception!(
    nexus_sdk,
    NexusTimeout,
    NexusError,
    "A call or a wait ran out of time (`timeout`, `wait_aborted`)."
);

/// Python's older class names, kept as aliases of the table's classes.
pub const ALIASES: &[(&str, &str)] = &[
    ("InvalidRequest", "InvalidRequestError"),
    ("Unauthorized", "UnauthorizedError"),
    ("Forbidden", "ForbiddenError"),
    ("NotFound", "NotFoundError"),
    ("ProviderNotFound", "ProviderNotFoundError"),
    ("ConnectionNotFound", "ConnectionNotFoundError"),
    ("ReauthRequired", "ReauthRequiredError"),
    ("ConnectionNotActive", "ConnectionNotActiveError"),
    ("ConnectionFailed", "ConnectionFailedError"),
    ("RateLimited", "RateLimitedError"),
    ("UpstreamUnavailable", "UpstreamUnavailableError"),
    ("ServerError", "InternalServerError"),
    ("InvalidResponse", "InvalidResponseError"),
];

/// Classes of the table that also inherit the Python-only `NexusTimeout`.
const TIMEOUT_CLASSES: &[&str] = &["NexusTimeoutError", "WaitAbortedError"];

/// The table's classes by name, built once at import.
static CLASSES: PyOnceLock<HashMap<&'static str, Py<PyType>>> = PyOnceLock::new();

/// Build every class of the table (parents first), set the attribute defaults, and add the
/// classes, the aliases and the table itself to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let root = py.get_type::<NexusError>();
    // Class-level defaults, so that an exception raised from Python code (which has none set)
    // still has every attribute.
    root.setattr("code", "")?;
    root.setattr("message", "")?;
    for attr in [
        "status_code",
        "request_id",
        "reauth_url",
        "retry_after",
        "provider",
        "reason",
        "connect_url",
        "elicitation_id",
    ] {
        root.setattr(attr, py.None())?;
    }
    let classes = CLASSES.get_or_try_init(py, || build_classes(py))?;
    m.add(ROOT_CLASS, &root)?;
    m.add("NexusTimeout", py.get_type::<NexusTimeout>())?;
    for (name, class) in classes {
        if *name != ROOT_CLASS {
            m.add(*name, class.bind(py))?;
        }
    }
    for (alias, class) in ALIASES {
        m.add(*alias, classes[class].bind(py))?;
    }
    let table = PyList::empty(py);
    for row in ERROR_TABLE {
        let entry = PyDict::new(py);
        entry.set_item("code", row.code)?;
        entry.set_item("kind", row.kind.as_str())?;
        entry.set_item("class", row.class)?;
        entry.set_item("parent", row.parent)?;
        table.append(entry)?;
    }
    m.add("ERROR_TABLE", table)?;
    m.add("UNKNOWN_API_CODE_CLASS", UNKNOWN_API_CODE_CLASS)?;
    Ok(())
}

fn build_classes(py: Python<'_>) -> PyResult<HashMap<&'static str, Py<PyType>>> {
    let mut classes: HashMap<&'static str, Py<PyType>> = HashMap::new();
    classes.insert(ROOT_CLASS, py.get_type::<NexusError>().unbind());
    // Parents first: a pass creates every class whose parent exists; the table has no cycles
    // (a core unit test checks that every parent is a class of the table).
    while let Some(row) = ERROR_TABLE
        .iter()
        .find(|r| !classes.contains_key(r.class) && classes.contains_key(r.parent))
    {
        let mut bases = Vec::new();
        if TIMEOUT_CLASSES.contains(&row.class) {
            bases.push(py.get_type::<NexusTimeout>().into_any());
        }
        bases.push(classes[row.parent].bind(py).clone().into_any());
        let codes: Vec<&str> = ERROR_TABLE
            .iter()
            .filter(|r| r.class == row.class)
            .map(|r| r.code)
            .collect();
        let namespace = PyDict::new(py);
        namespace.set_item("__module__", "nexus_sdk")?;
        namespace.set_item("__doc__", format!("Raised for: {}.", codes.join(", ")))?;
        let class = py
            .get_type::<PyType>()
            .call1((row.class, PyTuple::new(py, bases)?, namespace))?
            .cast_into::<PyType>()?;
        classes.insert(row.class, class.unbind());
    }
    Ok(classes)
}

/// The exception class for a core error: the table's class for its code and kind.
fn class_for<'py>(py: Python<'py>, err: &CoreError) -> Bound<'py, PyType> {
    CLASSES
        .get(py)
        .and_then(|classes| classes.get(err.class_name()))
        .map_or_else(
            || py.get_type::<NexusError>(),
            |class| class.bind(py).clone(),
        )
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
    let exc = class_for(py, err).call1((description.as_str(),))?;
    exc.setattr("code", err.code())?;
    exc.setattr("message", err.message())?;
    exc.setattr("status_code", err.status())?;
    exc.setattr("request_id", err.request_id())?;
    exc.setattr("reauth_url", err.reauth_url())?;
    exc.setattr("retry_after", err.retry_after().map(|d| d.as_secs_f64()))?;
    if let Some(required) = err.connection_required() {
        exc.setattr("provider", &required.provider)?;
        exc.setattr("reason", &required.reason)?;
        exc.setattr("connect_url", &required.connect_url)?;
        exc.setattr("elicitation_id", &required.elicitation_id)?;
    }
    Ok(exc)
}

/// An invalid argument from Python (bad option value, bad header): a typed `InvalidRequest`
/// whose `code` is `invalid_request`, like the core's own input errors.
pub fn invalid_input(message: impl Into<String>) -> PyErr {
    to_py_err(CoreError::InvalidRequest(message.into()))
}
