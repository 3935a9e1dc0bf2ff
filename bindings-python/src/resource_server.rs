//! `ResourceServer` for Python: the core's MCP resource-server kit
//! (`nexus_sdk::resource_server`), wrapped by `nexus_sdk.mcp.NexusResourceServer`.
//!
//! Glue only: the token checks, the JWKS cache and the challenge strings are the core's. A
//! decision comes back as a dict (the Python side turns it into its dataclasses).

use crate::cache::{CachedToken, TokenCache};
use crate::client::Client;
use crate::convert::{body_from_py, headers_from_py, json_to_py, response_headers_to_py};
use crate::errors::{invalid_input, to_py_err};
use crate::runtime::wait;
use nexus_sdk::resource_server::{
    self as core, AuthenticatedUser, Decision, Operation, Rejection, ResourceServerConfig,
};
use nexus_sdk::{FetchRequest, ResolveOptions, SecretString};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::collections::HashMap;
use std::sync::Arc;

#[pyclass(module = "nexus_sdk._native", frozen)]
pub struct ResourceServer {
    inner: Arc<core::ResourceServer>,
}

fn user_to_py<'py>(py: Python<'py>, user: &AuthenticatedUser) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("subject", &user.subject)?;
    dict.set_item("workspace_id", &user.workspace_id)?;
    dict.set_item("client_id", &user.client_id)?;
    dict.set_item("scopes", &user.scopes)?;
    dict.set_item("expires_at", user.expires_at)?;
    dict.set_item("issuer", &user.issuer)?;
    dict.set_item("resource", &user.resource)?;
    dict.set_item("actor", user.actor.as_deref())?;
    dict.set_item("grant_id", user.grant_id.as_deref())?;
    dict.set_item("token_id", user.token_id.as_deref())?;
    // The caller already holds the token (it sent the header); the MCP SDK's `AccessToken`
    // carries it, and the user's upstream credential is asked for with it.
    dict.set_item("token", user.token.expose())?;
    Ok(dict)
}

fn reason(rejection: &Rejection) -> &'static str {
    match rejection {
        Rejection::MissingToken => "missing_token",
        Rejection::InvalidToken(why) => why.as_str(),
        Rejection::InsufficientScope { .. } => "insufficient_scope",
        Rejection::KeysUnavailable => "keys_unavailable",
    }
}

fn decision_to_py(py: Python<'_>, decision: Decision) -> PyResult<Bound<'_, PyDict>> {
    let dict = PyDict::new(py);
    match decision {
        Decision::Allow(user) => {
            dict.set_item("allowed", true)?;
            dict.set_item("user", user_to_py(py, &user)?)?;
        }
        Decision::Deny {
            rejection,
            challenge,
        } => {
            dict.set_item("allowed", false)?;
            dict.set_item("reason", reason(&rejection))?;
            dict.set_item("status", challenge.status)?;
            dict.set_item("www_authenticate", challenge.www_authenticate)?;
            dict.set_item("body", challenge.body)?;
            dict.set_item("error", challenge.error)?;
            let required = match rejection {
                Rejection::InsufficientScope { required } => required,
                _ => Vec::new(),
            };
            dict.set_item("required_scopes", required)?;
        }
    }
    Ok(dict)
}

#[pymethods]
impl ResourceServer {
    #[new]
    #[pyo3(signature = (
        resource, issuer, *, jwks_url = None, required_scopes = Vec::new(),
        tool_scopes = HashMap::new(), scopes_supported = None, resource_name = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        resource: String,
        issuer: String,
        jwks_url: Option<String>,
        required_scopes: Vec<String>,
        tool_scopes: HashMap<String, Vec<String>>,
        scopes_supported: Option<Vec<String>>,
        resource_name: Option<String>,
    ) -> PyResult<Self> {
        let config = ResourceServerConfig {
            resource,
            issuer,
            jwks_url,
            required_scopes,
            tool_scopes,
            scopes_supported,
            resource_name,
            http_timeout: None,
        };
        let inner = core::ResourceServer::new(config).map_err(to_py_err)?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// This server's resource URL (Rule R normal form).
    #[getter]
    fn resource(&self) -> &str {
        self.inner.resource()
    }

    /// The path of the RFC 9728 metadata.
    #[getter]
    fn metadata_path(&self) -> &str {
        self.inner.metadata_path()
    }

    /// The full URL of the RFC 9728 metadata.
    #[getter]
    fn metadata_url(&self) -> &str {
        self.inner.metadata_url()
    }

    /// The RFC 9728 metadata document.
    fn metadata_document<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, self.inner.metadata_document())
    }

    /// Every scope a request for `tool` (or any other request, `None`) needs.
    #[pyo3(signature = (tool = None))]
    fn scopes_for(&self, tool: Option<&str>) -> Vec<String> {
        self.inner
            .scopes_for(tool.map_or(Operation::Other, Operation::ToolCall))
    }

    /// Decide one request. Blocks (releasing the GIL) while the JWKS is fetched, which happens
    /// on the first request and on key rotation; async callers use `asyncio.to_thread`.
    #[pyo3(signature = (authorization, tool = None))]
    fn authenticate<'py>(
        &self,
        py: Python<'py>,
        authorization: Option<String>,
        tool: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let inner = self.inner.clone();
        let decision = wait(py, async move {
            let operation = tool
                .as_deref()
                .map_or(Operation::Other, Operation::ToolCall);
            Ok(inner
                .authenticate(authorization.as_deref(), operation)
                .await)
        })?;
        decision_to_py(py, decision)
    }

    /// Check a bare token (signature, issuer, audience, times; no scope): the same dict as
    /// [`Self::authenticate`]. For the MCP SDK's own `TokenVerifier` hook.
    fn verify_token<'py>(&self, py: Python<'py>, token: String) -> PyResult<Bound<'py, PyDict>> {
        let inner = self.inner.clone();
        let decision = wait(py, async move {
            Ok(match inner.verify_token(&token).await {
                Ok(user) => Decision::Allow(user),
                Err(rejection) => Decision::Deny {
                    challenge: inner.challenge(&rejection),
                    rejection,
                },
            })
        })?;
        decision_to_py(py, decision)
    }

    fn __repr__(&self) -> String {
        format!("ResourceServer(resource={:?})", self.inner.resource())
    }
}

/// The core's user back from `nexus_sdk.mcp.McpUser` (what `authenticate` returned, as the
/// Python side keeps it): its attributes, read by name.
fn user_from_py(user: &Bound<'_, PyAny>) -> PyResult<AuthenticatedUser> {
    let text = |name: &str| -> PyResult<String> {
        user.getattr(name)?
            .extract()
            .map_err(|_| invalid_input(format!("user.{name} must be a string")))
    };
    let optional = |name: &str| -> PyResult<Option<String>> {
        user.getattr(name)?
            .extract()
            .map_err(|_| invalid_input(format!("user.{name} must be a string or None")))
    };
    Ok(AuthenticatedUser {
        subject: text("subject")?,
        workspace_id: text("workspace_id")?,
        client_id: text("client_id")?,
        scopes: user.getattr("scopes")?.extract().unwrap_or_default(),
        expires_at: user.getattr("expires_at")?.extract().unwrap_or_default(),
        issuer: text("issuer")?,
        resource: text("resource")?,
        actor: optional("actor")?,
        grant_id: optional("grant_id")?,
        token_id: optional("token_id")?,
        token: SecretString::new(text("token")?),
    })
}

/// `user`'s credential for `provider` through `cache` (the core's `NexusClient::user_credential`:
/// one gateway call per user and provider, shared by concurrent callers). Raises
/// `ConnectionRequiredError` when the user has not connected the provider.
#[pyfunction]
#[pyo3(signature = (client, cache, user, provider, min_ttl = None, force_refresh = false))]
pub fn user_credential(
    py: Python<'_>,
    client: &Client,
    cache: &TokenCache,
    user: &Bound<'_, PyAny>,
    provider: String,
    min_ttl: Option<u64>,
    force_refresh: bool,
) -> PyResult<CachedToken> {
    let user = user_from_py(user)?;
    let (core, cache) = (client.core()?, cache.core.clone());
    let options = ResolveOptions {
        min_ttl,
        force_refresh,
    };
    let token = wait(py, async move {
        core.user_credential(&cache, &user, &provider, options)
            .await
    })?;
    Ok(CachedToken::new(token))
}

/// An upstream request with `user`'s credential applied by the core's strategy engine, read
/// whole: `(status, headers, body)`. On a 401 the credential is refreshed and the request sent
/// once more (the core's 401 rule).
#[pyfunction]
#[pyo3(signature = (client, cache, user, provider, url, method = "GET", headers = None, data = None))]
#[allow(clippy::too_many_arguments)]
pub fn user_fetch<'py>(
    py: Python<'py>,
    client: &Client,
    cache: &TokenCache,
    user: &Bound<'py, PyAny>,
    provider: String,
    url: String,
    method: &str,
    headers: Option<&Bound<'py, PyAny>>,
    data: Option<&Bound<'py, PyAny>>,
) -> PyResult<(u16, Bound<'py, PyDict>, Bound<'py, PyBytes>)> {
    let user = user_from_py(user)?;
    let has_body = data.is_some_and(|d| !d.is_none());
    let request = FetchRequest {
        method: method.to_owned(),
        url,
        headers: headers_from_py(headers)?,
        body: if has_body {
            Some(body_from_py(data)?.into())
        } else {
            None
        },
    };
    let (core, cache) = (client.core()?, cache.core.clone());
    let response = wait(py, async move {
        core.user_authenticated_fetch(&cache, &user, &provider, request)
            .await
    })?;
    let headers = response_headers_to_py(py, &response.headers)?;
    Ok((response.status, headers, PyBytes::new(py, &response.body)))
}
