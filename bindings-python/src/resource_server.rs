//! `ResourceServer` for Python: the core's MCP resource-server kit
//! (`nexus_sdk::resource_server`), wrapped by `nexus_sdk.mcp.NexusResourceServer`.
//!
//! Glue only: the token checks, the JWKS cache and the challenge strings are the core's. A
//! decision comes back as a dict (the Python side turns it into its dataclasses).

use crate::convert::json_to_py;
use crate::errors::to_py_err;
use crate::runtime::wait;
use nexus_sdk::resource_server::{
    self as core, AuthenticatedUser, Decision, Operation, Rejection, ResourceServerConfig,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;
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
