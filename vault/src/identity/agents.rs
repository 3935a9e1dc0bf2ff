//! Agents and trusted identity providers, for operators: the rules on their fields, and the
//! audit record of every change.

use super::{DEFAULT_SESSION_TTL_SECONDS, IdentityService, MAX_SESSION_TTL_SECONDS};
use crate::admin::check_workspace_id;
use crate::caller::Caller;
use crate::error::VaultError;
use crate::store::StoreError;
use crate::store::identity::{Agent, IdentityProvider};
use crate::store::identity_providers::NewIdentityProvider;
use nexus_protocol::admin::AddIdentityProviderRequest;
use nexus_protocol::{AgentId, IdentityProviderId, Scope, SecretString};

/// An agent to create.
pub struct NewAgent<'a> {
    pub name: &'a str,
    pub scopes: &'a [String],
    /// Default 900, at most 86400.
    pub max_session_ttl_seconds: Option<u64>,
}

pub(super) fn agent_not_found() -> VaultError {
    VaultError::not_found("no such agent in this workspace")
}

pub(super) fn valid_agent(ws: &str, id: &str) -> Result<(), VaultError> {
    check_workspace_id(ws)?;
    // An id that breaks the rule names nothing (and never reaches the database, where e.g. a
    // NUL byte would be a server error on PostgreSQL).
    if AgentId::is_valid(id) {
        Ok(())
    } else {
        Err(agent_not_found())
    }
}

/// The session lifetime of a valid new agent.
fn check_new_agent(agent: &NewAgent<'_>) -> Result<u64, VaultError> {
    let name_ok = !agent.name.trim().is_empty()
        && agent.name.chars().count() <= 100
        && !agent.name.chars().any(char::is_control);
    if !name_ok {
        return Err(VaultError::invalid(
            "`name` must be 1..100 characters without control characters",
        ));
    }
    if agent.scopes.len() > 100 || !agent.scopes.iter().all(|s| Scope::is_valid(s)) {
        return Err(VaultError::invalid(
            "`scopes` must be at most 100 non-empty strings without spaces (≤ 200 characters)",
        ));
    }
    let ttl = agent
        .max_session_ttl_seconds
        .unwrap_or(DEFAULT_SESSION_TTL_SECONDS);
    if !(1..=MAX_SESSION_TTL_SECONDS).contains(&ttl) {
        return Err(VaultError::invalid(format!(
            "`max_session_ttl_seconds` must be 1..{MAX_SESSION_TTL_SECONDS}"
        )));
    }
    Ok(ttl)
}

fn is_http_url(v: &str) -> bool {
    v.len() <= 2000
        && !v.chars().any(char::is_control)
        && url::Url::parse(v)
            .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .unwrap_or(false)
}

impl IdentityService {
    // ---- agents ---------------------------------------------------------------------------

    /// A new agent and its credential (returned this once).
    pub async fn create_agent(
        &self,
        ws: &str,
        new: NewAgent<'_>,
        caller: &Caller,
    ) -> Result<(Agent, SecretString), VaultError> {
        check_workspace_id(ws)?;
        let ttl = check_new_agent(&new)?;
        let scopes = super::scopes::dedup(new.scopes);
        let (agent, credential) = self
            .store
            .create_agent(ws, new.name.trim(), &scopes, ttl)
            .await?;
        self.audit
            .admin_event(Some(ws), "agent.created", &agent.agent_id, caller)
            .await?;
        Ok((agent, credential))
    }

    pub async fn list_agents(&self, ws: &str) -> Result<Vec<Agent>, VaultError> {
        check_workspace_id(ws)?;
        Ok(self.store.list_agents(ws).await?)
    }

    pub async fn get_agent(&self, ws: &str, id: &str) -> Result<Agent, VaultError> {
        valid_agent(ws, id)?;
        self.store
            .get_agent(ws, id)
            .await?
            .ok_or_else(agent_not_found)
    }

    /// Disable (or enable again) an agent: its sessions end (disabling bumps the agent's
    /// credential generation, so enabling again does not revive them).
    pub async fn set_agent_disabled(
        &self,
        ws: &str,
        id: &str,
        disabled: bool,
        caller: &Caller,
    ) -> Result<Agent, VaultError> {
        valid_agent(ws, id)?;
        self.store
            .set_agent_disabled(ws, id, disabled)
            .await
            .map_err(|_| agent_not_found())?;
        let action = if disabled {
            "agent.disabled"
        } else {
            "agent.enabled"
        };
        self.audit.admin_event(Some(ws), action, id, caller).await?;
        self.store
            .get_agent(ws, id)
            .await?
            .ok_or_else(agent_not_found)
    }

    /// A new credential for the agent (returned this once); the old one and every session
    /// minted with it stop working.
    pub async fn rotate_agent_credential(
        &self,
        ws: &str,
        id: &str,
        caller: &Caller,
    ) -> Result<SecretString, VaultError> {
        valid_agent(ws, id)?;
        let credential = self
            .store
            .rotate_agent_credential(ws, id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => agent_not_found(),
                other => other.into(),
            })?;
        self.audit
            .admin_event(Some(ws), "agent.credential_rotated", id, caller)
            .await?;
        Ok(credential)
    }

    // ---- trusted identity providers ---------------------------------------------------------

    /// Trust `req.issuer` for users' tokens in this workspace (keys from `jwks_url`, or by OIDC
    /// discovery; `audience` required in `aud` when set), optionally with a browser login client
    /// and a console rule. The client secret is sealed in the same INSERT and never returned.
    /// `allow_id_jag` also lets it issue ID-JAGs for the workspace's MCP resources (the
    /// authorization server's JWT-bearer grant).
    pub async fn add_identity_provider(
        &self,
        ws: &str,
        req: &AddIdentityProviderRequest,
        caller: &Caller,
    ) -> Result<IdentityProvider, VaultError> {
        check_workspace_id(ws)?;
        if !is_http_url(&req.issuer) {
            return Err(VaultError::invalid(
                "`issuer` must be an absolute http(s) URL",
            ));
        }
        if req.jwks_url.as_deref().is_some_and(|u| !is_http_url(u)) {
            return Err(VaultError::invalid(
                "`jwks_url` must be an absolute http(s) URL",
            ));
        }
        if req
            .audience
            .as_deref()
            .is_some_and(|a| a.is_empty() || a.len() > 500 || a.chars().any(char::is_control))
        {
            return Err(VaultError::invalid("`audience` must be 1..500 characters"));
        }
        super::idp_login::check_login_settings(req)?;
        let idp = self
            .store
            .insert_identity_provider(
                ws,
                &NewIdentityProvider {
                    issuer: &req.issuer,
                    jwks_url: req.jwks_url.as_deref(),
                    audience: req.audience.as_deref(),
                    allow_id_jag: req.allow_id_jag,
                    login_client_id: req.login_client_id.as_deref(),
                    login_client_secret: req.login_client_secret.as_ref(),
                    console: req.console.as_ref(),
                },
            )
            .await?;
        self.audit
            .admin_event(Some(ws), "identity_provider.added", idp.id.as_str(), caller)
            .await?;
        Ok(idp)
    }

    pub async fn list_identity_providers(
        &self,
        ws: &str,
    ) -> Result<Vec<IdentityProvider>, VaultError> {
        check_workspace_id(ws)?;
        Ok(self.store.list_identity_providers(ws).await?)
    }

    pub async fn remove_identity_provider(
        &self,
        ws: &str,
        id: &str,
        caller: &Caller,
    ) -> Result<(), VaultError> {
        check_workspace_id(ws)?;
        if !IdentityProviderId::is_valid(id) {
            return Err(VaultError::not_found("no such identity provider"));
        }
        self.store.delete_identity_provider(ws, id).await?;
        self.audit
            .admin_event(Some(ws), "identity_provider.removed", id, caller)
            .await?;
        Ok(())
    }
}
