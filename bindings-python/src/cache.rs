//! `TokenCache` and `CachedToken`: Python views of the core's cache and cached credential.

use crate::convert::json_to_py;
use crate::errors::invalid_input;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::sync::Arc;
use std::time::Duration;

/// Thread-safe token cache keyed by (workspace, provider). A token is not served in its last
/// `buffer_seconds` (default 30), and concurrent misses for one key make one gateway call.
#[pyclass(module = "nexus_sdk._native", name = "TokenCache", frozen)]
pub struct TokenCache {
    pub core: nexus_sdk::TokenCache,
    /// Tells this cache apart in the per-thread held hits (`crate::held`).
    pub hold_id: u64,
}

#[pymethods]
impl TokenCache {
    #[new]
    #[pyo3(signature = (buffer_seconds = 30.0))]
    fn new(buffer_seconds: f64) -> PyResult<Self> {
        let buffer = Duration::try_from_secs_f64(buffer_seconds)
            .map_err(|_| invalid_input("buffer_seconds must be a finite number >= 0"))?;
        Ok(Self {
            core: nexus_sdk::TokenCache::with_safety_buffer(buffer),
            hold_id: crate::held::next_id(),
        })
    }

    /// The safety buffer, in seconds.
    #[getter]
    fn buffer_seconds(&self) -> f64 {
        self.core.safety_buffer().as_secs_f64()
    }

    /// Forget every token.
    fn clear(&self) {
        self.core.clear();
    }

    /// Counters of the slow path: ``misses``, ``fetches`` (gateway resolves made through this
    /// cache) and ``joined`` (misses that waited on another caller's fetch).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.core.stats();
        let dict = PyDict::new(py);
        dict.set_item("misses", stats.misses)?;
        dict.set_item("fetches", stats.fetches)?;
        dict.set_item("joined", stats.joined)?;
        Ok(dict)
    }

    fn __len__(&self) -> usize {
        self.core.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "TokenCache(buffer_seconds={}, len={})",
            self.core.safety_buffer().as_secs_f64(),
            self.core.len()
        )
    }
}

/// A short-lived credential from ``/v1/resolve``. ``access_token`` and ``credentials`` are
/// secrets: ``repr`` never shows them.
// A freelist: the cache-hit path creates one of these per call, and reusing freed objects
// skips the allocator.
#[pyclass(
    module = "nexus_sdk._native",
    name = "CachedToken",
    frozen,
    freelist = 64
)]
pub struct CachedToken {
    pub inner: Arc<nexus_sdk::CachedToken>,
}

impl CachedToken {
    pub fn new(inner: Arc<nexus_sdk::CachedToken>) -> Self {
        Self { inner }
    }
}

#[pymethods]
impl CachedToken {
    #[getter]
    fn access_token(&self) -> Option<&str> {
        self.inner.access_token()
    }

    #[getter]
    fn token_type(&self) -> &str {
        self.inner.token_type()
    }

    /// Expiry as seconds since the epoch; ``None`` for a credential that does not expire.
    #[getter]
    fn expires_at(&self) -> Option<f64> {
        self.inner
            .expires_at()
            .map(|t| t.timestamp_millis() as f64 / 1000.0)
    }

    /// Whole seconds until expiry (0 once expired); ``None`` for a credential that does not
    /// expire.
    #[getter]
    fn seconds_remaining(&self) -> Option<u64> {
        self.inner.seconds_remaining()
    }

    /// The injection strategy as the gateway sent it: ``{"type": ..., "config": {...}}``.
    #[getter]
    fn strategy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let spec = self.inner.strategy_spec();
        let dict = PyDict::new(py);
        dict.set_item("type", &spec.kind)?;
        let config = PyDict::new(py);
        for (key, value) in &spec.config {
            config.set_item(key, json_to_py(py, value)?)?;
        }
        dict.set_item("config", config)?;
        Ok(dict)
    }

    /// The credential fields (secrets).
    #[getter]
    fn credentials<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (key, value) in &self.inner.credentials().0 {
            dict.set_item(key, json_to_py(py, value)?)?;
        }
        Ok(dict)
    }

    #[getter]
    fn scopes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.inner.scopes())
    }

    #[getter]
    fn api_base_url(&self) -> Option<&str> {
        self.inner.api_base_url()
    }

    #[getter]
    fn connection_id(&self) -> Option<&str> {
        self.inner.connection_id()
    }

    /// Which cache flight produced this token (the core's `CachedToken::generation`): what
    /// `Client.replace_rejected` needs to know which token an upstream refused.
    #[getter]
    fn generation(&self) -> u64 {
        self.inner.generation()
    }

    fn __repr__(&self) -> String {
        format!(
            "CachedToken(token_type={:?}, strategy={:?}, scopes={:?}, expires_at={:?}, \
             access_token=[redacted], credentials=[redacted])",
            self.inner.token_type(),
            self.inner.strategy_spec().kind,
            self.inner.scopes(),
            self.inner.expires_at_rfc3339(),
        )
    }
}
