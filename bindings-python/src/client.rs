//! `Client`: the core's `NexusClient` for Python. Every method is one core call; the GIL is
//! released while it waits (see `runtime::wait`).

use crate::cache::{CachedToken, TokenCache};
use crate::convert::{body_from_py, borrow_str, headers_from_py, response_headers_to_py};
use crate::errors::{invalid_input, to_py_err};
use crate::held;
use crate::runtime::{fork_generation, wait};
use nexus_sdk::{
    CheckConnectionResponse, ClientOptions, FetchRequest, NexusClient, RequestConnectionInput,
    RequestParts, ResolveOptions, RetryPolicy,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use std::mem::ManuallyDrop;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One attempt of a request the caller sends: (url, headers, generation of the token applied).
type Attempt = (String, Vec<(String, String)>, u64);

/// The user agent the Python SDK sends to the gateway.
const USER_AGENT: &str = concat!("nexus-sdk-python/", env!("CARGO_PKG_VERSION"));

/// The native client. Python's `nexus_sdk.NexusClient` subclasses it.
///
/// Fork safety: the core client holds a connection pool whose sockets and driving tasks belong
/// to the process that built it. In a child after `fork` (gunicorn, celery prefork,
/// `multiprocessing`), the first call builds a new core client from the same options: the child
/// reuses the configuration, never the parent's connections (sharing a socket with the parent
/// would interleave two processes' HTTP), nor an agent session the parent started (its renewal
/// ran on the parent's runtime: start a new one in the child). Token caches are plain memory
/// and stay usable in the child: a credential the parent cached is served there too.
#[pyclass(module = "nexus_sdk._native", name = "Client", subclass, frozen)]
pub struct Client {
    /// The client of the process that built this object. Never dropped in a forked child (see
    /// `Drop`), hence `ManuallyDrop`.
    core: ManuallyDrop<NexusClient>,
    /// The fork generation `core` was built in.
    built_in: u64,
    /// Tells this client apart in the per-thread held hits (`crate::held`).
    hold_id: u64,
    options: ClientOptions,
    /// The client of a forked child: (fork generation, client). Locked only with the GIL held
    /// (see `runtime.rs`), and only in a child.
    child: Mutex<Option<(u64, NexusClient)>>,
}

/// A `Duration` from seconds given by Python, rejecting negative, NaN and infinite values.
fn seconds(value: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| invalid_input(format!("{what} must be a finite number of seconds >= 0")))
}

/// An attribute of the options object, or `default` when it is absent or `None`.
fn option<'py, T: FromPyObjectOwned<'py>>(
    options: &Bound<'py, PyAny>,
    name: &str,
    default: T,
) -> PyResult<T> {
    match options.getattr_opt(name)? {
        Some(value) if !value.is_none() => value
            .extract()
            .map_err(|_| invalid_input(format!("option `{name}` has the wrong type"))),
        _ => Ok(default),
    }
}

fn retry_policy(policy: Option<Bound<'_, PyAny>>) -> PyResult<RetryPolicy> {
    let defaults = RetryPolicy::default();
    let Some(policy) = policy.filter(|p| !p.is_none()) else {
        return Ok(defaults);
    };
    Ok(RetryPolicy {
        max_retries: option(&policy, "retries", defaults.max_retries)?,
        initial_backoff: seconds(
            option(&policy, "backoff", defaults.initial_backoff.as_secs_f64())?,
            "retry_policy.backoff",
        )?,
        max_backoff: seconds(
            option(&policy, "max_backoff", defaults.max_backoff.as_secs_f64())?,
            "retry_policy.max_backoff",
        )?,
        respect_retry_after: option(&policy, "respect_retry_after", defaults.respect_retry_after)?,
        max_retry_after: seconds(
            option(
                &policy,
                "max_retry_after",
                defaults.max_retry_after.as_secs_f64(),
            )?,
            "retry_policy.max_retry_after",
        )?,
    })
}

fn check_to_py<'py>(
    py: Python<'py>,
    check: &CheckConnectionResponse,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("status", check.status.as_str())?;
    dict.set_item("connection_id", check.connection_id.as_deref())?;
    dict.set_item("provider_name", check.provider_name.as_deref())?;
    dict.set_item("reauth_url", check.reauth_url.as_deref())?;
    Ok(dict)
}

impl Drop for Client {
    /// In the process that built it, the core client is dropped as usual. In a forked child it
    /// is leaked: dropping its connection pool would wake tasks of the parent's runtime, which
    /// has no thread here, through an event descriptor the child shares with the parent.
    fn drop(&mut self) {
        if fork_generation() == self.built_in {
            // SAFETY: `core` is not used after this (we are in `drop`), and dropped only here.
            unsafe { ManuallyDrop::drop(&mut self.core) };
        }
    }
}

impl Client {
    /// Run `f` with this process's core client: the one built at construction, or in a forked
    /// child, one built there from the same options. One atomic load when nothing forked.
    pub(crate) fn with_core<R>(&self, f: impl FnOnce(&NexusClient) -> R) -> PyResult<R> {
        let generation = fork_generation();
        if generation == self.built_in {
            return Ok(f(&self.core));
        }
        let mut child = self
            .child
            .lock()
            .map_err(|_| pyo3::exceptions::PyRuntimeError::new_err("client lock poisoned"))?;
        match &*child {
            Some((built_in, core)) if *built_in == generation => Ok(f(core)),
            _ => {
                let core = NexusClient::new(self.options.clone()).map_err(to_py_err)?;
                let result = f(&core);
                *child = Some((generation, core));
                Ok(result)
            }
        }
    }

    /// This process's core client (a cheap clone: clones share the pool).
    pub(crate) fn core(&self) -> PyResult<NexusClient> {
        self.with_core(NexusClient::clone)
    }

    /// What a spawned core call owns: a handle on the client (a cheap clone) and the key.
    fn owned(
        &self,
        workspace_id: &str,
        provider_name: &str,
    ) -> PyResult<(NexusClient, String, String)> {
        Ok((
            self.core()?,
            workspace_id.to_owned(),
            provider_name.to_owned(),
        ))
    }
}

#[pymethods]
impl Client {
    /// `options` is any object with `gateway_url`, `api_key` and optionally `timeout`,
    /// `retry_policy` and `user_agent` attributes (`nexus_sdk.NexusClientOptions`).
    #[new]
    fn new(options: &Bound<'_, PyAny>) -> PyResult<Self> {
        let gateway_url: String = option(options, "gateway_url", String::new())?;
        let api_key: String = option(options, "api_key", String::new())?;
        let mut core_options = ClientOptions::new(gateway_url, api_key);
        core_options.timeout = seconds(option(options, "timeout", 30.0)?, "timeout")?;
        if core_options.timeout.is_zero() {
            return Err(invalid_input("timeout must be greater than 0"));
        }
        core_options.retry = retry_policy(options.getattr_opt("retry_policy")?)?;
        core_options.user_agent = option(options, "user_agent", USER_AGENT.to_owned())?;
        let core = NexusClient::new(core_options.clone()).map_err(to_py_err)?;
        Ok(Self {
            core: ManuallyDrop::new(core),
            built_in: fork_generation(),
            hold_id: crate::held::next_id(),
            options: core_options,
            child: Mutex::new(None),
        })
    }

    /// A fresh credential from the gateway, bypassing any cache.
    #[pyo3(signature = (workspace_id, provider_name, force_refresh = false))]
    fn resolve_token(
        &self,
        py: Python<'_>,
        workspace_id: &str,
        provider_name: &str,
        force_refresh: bool,
    ) -> PyResult<CachedToken> {
        let options = ResolveOptions {
            min_ttl: None,
            force_refresh,
        };
        let (core, ws, provider) = self.owned(workspace_id, provider_name)?;
        let token = wait(
            py,
            async move { core.resolve(&ws, &provider, options).await },
        )?;
        Ok(CachedToken::new(Arc::new(token)))
    }

    /// The credential through `cache`: a fresh cached one (no GIL release, no I/O), or one
    /// gateway call shared by every concurrent caller for the same key.
    ///
    /// A hit hands back the object this thread already made for the same token while the core
    /// would still serve it (see `crate::held`): no allocation, no lock.
    fn get_cached_token(
        &self,
        py: Python<'_>,
        cache: &TokenCache,
        workspace_id: &Bound<'_, PyString>,
        provider_name: &Bound<'_, PyString>,
    ) -> PyResult<Py<CachedToken>> {
        let key = held::Key {
            workspace_obj: workspace_id,
            provider_obj: provider_name,
            workspace: borrow_str(workspace_id)?,
            provider: borrow_str(provider_name)?,
        };
        // In a forked child the core client is another one (see `with_core`): no held hits.
        if fork_generation() == self.built_in {
            let ids = (self.hold_id, cache.hold_id);
            if let Some(object) = held::get(py, ids, &self.core, &cache.core, &key) {
                return Ok(object);
            }
            // Under an agent session the key includes the session (see `nexus_sdk::session`).
            if let Some(hit) = self
                .core
                .peek_to_hold(&cache.core, key.workspace, key.provider)
            {
                return held::keep(py, ids, &key, hit);
            }
        } else if let Some(hit) =
            self.with_core(|core| core.peek_cached(&cache.core, key.workspace, key.provider))?
        {
            return Py::new(py, CachedToken::new(hit));
        }
        let (core, ws, provider) = self.owned(key.workspace, key.provider)?;
        let shared = cache.core.clone();
        let token = wait(py, async move {
            core.resolve_cached(&shared, &ws, &provider).await
        })?;
        // Held from the first call on when the core now serves this very token.
        if fork_generation() == self.built_in
            && let Some(hit) = self
                .core
                .peek_to_hold(&cache.core, key.workspace, key.provider)
            && hit.token.generation() == token.generation()
        {
            return held::keep(py, (self.hold_id, cache.hold_id), &key, hit);
        }
        Py::new(py, CachedToken::new(token))
    }

    /// Forget the cached credential of one (workspace, provider) for the current principal (the
    /// API key, or the active session): the next call resolves again, not forced.
    fn invalidate(
        &self,
        cache: &TokenCache,
        workspace_id: &Bound<'_, PyString>,
        provider_name: &Bound<'_, PyString>,
    ) -> PyResult<()> {
        let (workspace_id, provider_name) = (borrow_str(workspace_id)?, borrow_str(provider_name)?);
        self.with_core(|core| core.invalidate(&cache.core, workspace_id, provider_name))
    }

    /// The older name of `invalidate`.
    fn clear_token(
        &self,
        cache: &TokenCache,
        workspace_id: &Bound<'_, PyString>,
        provider_name: &Bound<'_, PyString>,
    ) -> PyResult<()> {
        self.invalidate(cache, workspace_id, provider_name)
    }

    /// The core's 401 rule: the token of `generation` (`CachedToken.generation`) was refused by
    /// an upstream; drop it and force one refresh through the single flight (or take the
    /// replacement a concurrent caller already got). Returns the new token.
    fn replace_rejected(
        &self,
        py: Python<'_>,
        cache: &TokenCache,
        workspace_id: &str,
        provider_name: &str,
        generation: u64,
    ) -> PyResult<CachedToken> {
        let (core, ws, provider) = self.owned(workspace_id, provider_name)?;
        let cache = cache.core.clone();
        let token = wait(py, async move {
            core.replace_rejected_generation(&cache, &ws, &provider, generation)
                .await
        })?;
        Ok(CachedToken::new(token))
    }

    /// One attempt of a request the caller sends itself (the `httpx` and `requests` adapters):
    /// `(url, headers, generation)`. Without `rejected_generation` it is `prepare_request`;
    /// with the generation of the attempt an upstream answered 401 to, it is the core's retry
    /// (`NexusClient::prepare_retry`: one forced refresh through the single flight). The caller
    /// makes at most that one retry and returns its answer, a second 401 included.
    #[pyo3(signature = (cache, workspace_id, provider_name, method, url, headers = None, data = None, rejected_generation = None))]
    #[allow(clippy::too_many_arguments)]
    fn prepare_attempt(
        &self,
        py: Python<'_>,
        cache: &TokenCache,
        workspace_id: &str,
        provider_name: &str,
        method: &str,
        url: &str,
        headers: Option<&Bound<'_, PyAny>>,
        data: Option<&Bound<'_, PyAny>>,
        rejected_generation: Option<u64>,
    ) -> PyResult<Attempt> {
        let headers = headers_from_py(headers)?;
        let body = body_from_py(data)?;
        let (method, url) = (method.to_owned(), url.to_owned());
        let (core, ws, provider) = self.owned(workspace_id, provider_name)?;
        let cache = cache.core.clone();
        let prepared = wait(py, async move {
            let parts = RequestParts {
                method: &method,
                url: &url,
                headers: &headers,
                body: &body,
            };
            match rejected_generation {
                None => core.prepare_request(&cache, &ws, &provider, &parts).await,
                Some(rejected) => {
                    core.prepare_retry(&cache, &ws, &provider, rejected, &parts)
                        .await
                }
            }
        })?;
        let generation = prepared.token.generation();
        Ok((prepared.url, prepared.headers, generation))
    }

    /// Resolve through `cache` and apply the strategy: the final URL and the full header list
    /// (the caller's headers with the injected ones replacing any of the same name). The caller
    /// sends the request.
    #[pyo3(signature = (cache, workspace_id, provider_name, method, url, headers = None, data = None))]
    #[allow(clippy::too_many_arguments)]
    fn prepare_request(
        &self,
        py: Python<'_>,
        cache: &TokenCache,
        workspace_id: &str,
        provider_name: &str,
        method: &str,
        url: &str,
        headers: Option<&Bound<'_, PyAny>>,
        data: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(String, Vec<(String, String)>)> {
        let (url, headers, _) = self.prepare_attempt(
            py,
            cache,
            workspace_id,
            provider_name,
            method,
            url,
            headers,
            data,
            None,
        )?;
        Ok((url, headers))
    }

    /// Send an authenticated request to the upstream and read the whole response:
    /// `(status, headers, body)`. On a 401 the credential is refreshed and the request sent
    /// once more.
    #[pyo3(signature = (cache, workspace_id, provider_name, url, method = "GET", headers = None, data = None))]
    #[allow(clippy::too_many_arguments)]
    fn authenticated_fetch<'py>(
        &self,
        py: Python<'py>,
        cache: &TokenCache,
        workspace_id: &str,
        provider_name: &str,
        url: &str,
        method: &str,
        headers: Option<&Bound<'py, PyAny>>,
        data: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<(u16, Bound<'py, PyDict>, Bound<'py, PyBytes>)> {
        let has_body = data.is_some_and(|d| !d.is_none());
        let request = FetchRequest {
            method: method.to_owned(),
            url: url.to_owned(),
            headers: headers_from_py(headers)?,
            body: if has_body {
                Some(body_from_py(data)?.into())
            } else {
                None
            },
        };
        let (core, ws, provider) = self.owned(workspace_id, provider_name)?;
        let cache = cache.core.clone();
        let response = wait(py, async move {
            core.authenticated_fetch(&cache, &ws, &provider, request)
                .await
        })?;
        let headers = response_headers_to_py(py, &response.headers)?;
        Ok((response.status, headers, PyBytes::new(py, &response.body)))
    }

    /// `POST /v1/request-connection` with a JSON body; a dict of the answer.
    fn _request_connection<'py>(
        &self,
        py: Python<'py>,
        body_json: &str,
    ) -> PyResult<Bound<'py, PyDict>> {
        let input: RequestConnectionInput = serde_json::from_str(body_json)
            .map_err(|e| invalid_input(format!("invalid connection request ({e})")))?;
        let core = self.core()?;
        let answer = wait(py, async move { core.request_connection(&input).await })?;
        let dict = PyDict::new(py);
        dict.set_item("auth_url", answer.auth_url)?;
        dict.set_item("connection_id", answer.connection_id)?;
        dict.set_item("state", answer.state)?;
        dict.set_item("scopes", answer.scopes)?;
        dict.set_item("provider_id", answer.provider_id)?;
        Ok(dict)
    }

    fn _check_connection<'py>(
        &self,
        py: Python<'py>,
        connection_id: &str,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (core, id) = (self.core()?, connection_id.to_owned());
        let check = wait(py, async move { core.check_connection(&id).await })?;
        check_to_py(py, &check)
    }

    fn _wait_for_active<'py>(
        &self,
        py: Python<'py>,
        connection_id: &str,
        timeout: f64,
        interval: f64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let timeout = seconds(timeout, "timeout")?;
        let interval = seconds(interval, "interval")?;
        let (core, id) = (self.core()?, connection_id.to_owned());
        let check = wait(py, async move {
            core.wait_for_active(&id, interval, timeout).await
        })?;
        check_to_py(py, &check)
    }

    fn _get_token_by_connection_id(
        &self,
        py: Python<'_>,
        connection_id: &str,
    ) -> PyResult<CachedToken> {
        let (core, id) = (self.core()?, connection_id.to_owned());
        let token = wait(py, async move { core.get_token(&id).await })?;
        Ok(CachedToken::new(Arc::new(token)))
    }

    fn _refresh_connection(&self, py: Python<'_>, connection_id: &str) -> PyResult<CachedToken> {
        let (core, id) = (self.core()?, connection_id.to_owned());
        let token = wait(py, async move { core.refresh_connection(&id).await })?;
        Ok(CachedToken::new(Arc::new(token)))
    }

    /// The gateway base URL.
    #[getter]
    fn gateway_url(&self) -> &str {
        // The same in every process: the child's client is built from the same options.
        self.core.gateway_url()
    }
}
