//! `NativeResourceServer`: the core's MCP resource-server kit (`nexus_sdk::resource_server`),
//! wrapped by `src/mcp.ts` (`createResourceServer`).
//!
//! Glue only: token checks, the JWKS cache and the challenge strings are the core's. A decision
//! crosses as one plain object (`allowed` plus either `user` or the challenge).

use crate::error::to_napi;
use napi_derive::napi;
use nexus_sdk::resource_server::{
    self as core, AuthenticatedUser, Decision, Operation, Rejection, ResourceServerConfig,
};
use std::collections::HashMap;
use std::sync::Arc;

#[napi(object)]
pub struct NativeResourceServerOptions {
    pub resource: String,
    pub issuer: String,
    pub jwks_url: Option<String>,
    pub required_scopes: Option<Vec<String>>,
    pub tool_scopes: Option<HashMap<String, Vec<String>>>,
    pub scopes_supported: Option<Vec<String>>,
    pub resource_name: Option<String>,
}

#[napi(object)]
pub struct NativeMcpUser {
    pub subject: String,
    pub workspace_id: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    /// `exp`, seconds since the epoch.
    pub expires_at: f64,
    pub issuer: String,
    pub resource: String,
    pub actor: Option<String>,
    pub grant_id: Option<String>,
    pub token_id: Option<String>,
    pub token: String,
}

#[napi(object)]
pub struct NativeDecision {
    pub allowed: bool,
    pub user: Option<NativeMcpUser>,
    /// `missing_token`, `insufficient_scope`, `keys_unavailable` or why the token is invalid.
    pub reason: Option<String>,
    pub status: Option<u32>,
    pub www_authenticate: Option<String>,
    pub body: Option<String>,
    pub error: Option<String>,
    pub required_scopes: Option<Vec<String>>,
}

fn user(u: AuthenticatedUser) -> NativeMcpUser {
    NativeMcpUser {
        token: u.token.expose().to_owned(),
        subject: u.subject,
        workspace_id: u.workspace_id,
        client_id: u.client_id,
        scopes: u.scopes,
        expires_at: u.expires_at as f64,
        issuer: u.issuer,
        resource: u.resource,
        actor: u.actor,
        grant_id: u.grant_id,
        token_id: u.token_id,
    }
}

fn decision(d: Decision) -> NativeDecision {
    match d {
        Decision::Allow(u) => NativeDecision {
            allowed: true,
            user: Some(user(u)),
            reason: None,
            status: None,
            www_authenticate: None,
            body: None,
            error: None,
            required_scopes: None,
        },
        Decision::Deny {
            rejection,
            challenge,
        } => NativeDecision {
            allowed: false,
            user: None,
            reason: Some(
                match &rejection {
                    Rejection::MissingToken => "missing_token",
                    Rejection::InvalidToken(why) => why.as_str(),
                    Rejection::InsufficientScope { .. } => "insufficient_scope",
                    Rejection::KeysUnavailable => "keys_unavailable",
                }
                .to_owned(),
            ),
            status: Some(u32::from(challenge.status)),
            www_authenticate: Some(challenge.www_authenticate),
            body: Some(challenge.body),
            error: challenge.error.map(str::to_owned),
            required_scopes: Some(match rejection {
                Rejection::InsufficientScope { required } => required,
                _ => Vec::new(),
            }),
        },
    }
}

#[napi]
pub struct NativeResourceServer {
    inner: Arc<core::ResourceServer>,
}

#[napi]
impl NativeResourceServer {
    #[napi(constructor)]
    pub fn new(options: NativeResourceServerOptions) -> napi::Result<Self> {
        let config = ResourceServerConfig {
            resource: options.resource,
            issuer: options.issuer,
            jwks_url: options.jwks_url,
            required_scopes: options.required_scopes.unwrap_or_default(),
            tool_scopes: options.tool_scopes.unwrap_or_default(),
            scopes_supported: options.scopes_supported,
            resource_name: options.resource_name,
            http_timeout: None,
        };
        let inner = core::ResourceServer::new(config).map_err(to_napi)?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// This server's resource URL (Rule R normal form).
    #[napi(getter)]
    pub fn resource(&self) -> String {
        self.inner.resource().to_owned()
    }

    #[napi(getter)]
    pub fn metadata_path(&self) -> String {
        self.inner.metadata_path().to_owned()
    }

    #[napi(getter)]
    pub fn metadata_url(&self) -> String {
        self.inner.metadata_url().to_owned()
    }

    /// The RFC 9728 metadata document, as JSON text.
    #[napi]
    pub fn metadata_json(&self) -> String {
        self.inner.metadata_document().to_string()
    }

    /// Every scope a request for `tool` (or any other request) needs.
    #[napi]
    pub fn scopes_for(&self, tool: Option<String>) -> Vec<String> {
        self.inner.scopes_for(
            tool.as_deref()
                .map_or(Operation::Other, Operation::ToolCall),
        )
    }

    /// Decide one request from its `Authorization` header and the tool it calls.
    #[napi]
    pub async fn authenticate(
        &self,
        authorization: Option<String>,
        tool: Option<String>,
    ) -> napi::Result<NativeDecision> {
        let operation = tool
            .as_deref()
            .map_or(Operation::Other, Operation::ToolCall);
        Ok(decision(
            self.inner
                .authenticate(authorization.as_deref(), operation)
                .await,
        ))
    }

    /// Check a bare token (no scope check).
    #[napi]
    pub async fn verify_token(&self, token: String) -> napi::Result<NativeDecision> {
        Ok(decision(match self.inner.verify_token(&token).await {
            Ok(u) => Decision::Allow(u),
            Err(rejection) => Decision::Deny {
                challenge: self.inner.challenge(&rejection),
                rejection,
            },
        }))
    }
}
