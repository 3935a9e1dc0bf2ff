//! `nexus_sdk._native`: the Python binding of the Nexus core (`nexus-sdk`).
//!
//! Thin by design: every behaviour (cache, resolve, retries, strategies, HTTP) is the core's.
//! This crate converts arguments and results, releases the GIL while the core waits, and maps
//! the core's errors onto one Python exception hierarchy.
//!
//! - [`client`]: `Client`, the core's `NexusClient` (subclassed in Python as `NexusClient`).
//! - [`cache`]: `TokenCache` and `CachedToken`.
//! - [`held`]: this thread's copies of recent cache hits (the core's answers, as Python objects).
//! - [`bridge`]: `WebSocketBridge`, the core's bridged WebSocket.
//! - [`proxy`]: proxy mode (the proxy URL and credential of a call, its answer checked).
//! - [`errors`]: the exception classes and the one error-mapping function.
//! - [`resource_server`]: `ResourceServer`, the core's MCP resource-server kit.
//! - [`runtime`]: the private tokio runtime and the GIL-releasing wait.
//! - [`convert`]: Python ↔ Rust value conversions.
//! - [`testing`]: hooks that run the conformance vectors through the core.

mod bridge;
mod cache;
mod client;
mod convert;
mod errors;
mod held;
mod proxy;
mod resource_server;
mod runtime;
mod session;
mod testing;

use pyo3::prelude::*;

/// Whether an upstream status means the credential was refused (the core's 401 rule applies):
/// what the `httpx` and `requests` adapters ask before their one retry.
#[pyfunction]
fn is_rejection(status: u16) -> bool {
    nexus_sdk::policy::is_rejection(status)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    nexus_sdk::logging::init_from_env();
    runtime::init()?;
    errors::register(m)?;
    m.add_class::<client::Client>()?;
    session::register(m)?;
    proxy::register(m)?;
    m.add_class::<cache::TokenCache>()?;
    m.add_class::<cache::CachedToken>()?;
    m.add_class::<bridge::WebSocketBridge>()?;
    m.add_class::<resource_server::ResourceServer>()?;
    m.add_function(wrap_pyfunction!(resource_server::user_credential, m)?)?;
    m.add_function(wrap_pyfunction!(resource_server::user_fetch, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::open_websocket, m)?)?;
    m.add_function(wrap_pyfunction!(is_rejection, m)?)?;
    m.add_function(wrap_pyfunction!(testing::apply_resolve_body, m)?)?;
    m.add_function(wrap_pyfunction!(testing::gateway_error, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
