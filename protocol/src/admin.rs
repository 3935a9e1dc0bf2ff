//! The broker's admin API (`/admin/v1/…`, admin token): request bodies and answers.
//!
//! The broker serves these and the `nexus` CLI sends and reads them; both use the types here, so
//! they cannot drift apart. The JSON is exactly what the broker has always sent and accepted
//! (`admin_tests.rs` pins one sample per type). Fields the broker generates keep their plain
//! form (`String` timestamps in RFC 3339); ids the caller chooses or names are the validated
//! types of [`crate::ids`].
//!
//! Secrets appear only where the API hands one out once (a new API key, a new agent credential)
//! or takes one in (an import, a key rotation); they are [`SecretString`]s, never printed by
//! `Debug`.

use crate::connection::ConnectionStatus;
use crate::ids::{AgentId, IdentityProviderId, ProviderName, Scope, WorkspaceId};
use crate::secret::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// The prefix of every admin path.
pub const ADMIN_PREFIX: &str = "/admin/v1";
/// `GET` → `[Workspace]`; `POST` [`CreateWorkspaceRequest`] → 201 [`Workspace`].
pub const WORKSPACES_PATH: &str = "/admin/v1/workspaces";
/// `GET` → `[StoredProvider]` (the broker's provider type).
pub const PROVIDERS_PATH: &str = "/admin/v1/providers";
/// `POST` a providers document (YAML or JSON; `?dry_run=&prune=`) → [`DriftReport`].
pub const PROVIDERS_APPLY_PATH: &str = "/admin/v1/providers/apply";
/// `POST` [`RotateKeysRequest`] (or no body) → [`RotateResponse`].
pub const KEYS_ROTATE_PATH: &str = "/admin/v1/keys/rotate";
/// `GET` (`?workspace_id=&agent_id=&user=&since=&until=&limit=`) → `[AuditRecord]`.
pub const AUDIT_PATH: &str = "/admin/v1/audit";
/// `GET` (`?workspace_id=`) → [`ChainVerdict`].
pub const AUDIT_VERIFY_PATH: &str = "/admin/v1/audit/verify";

/// `/admin/v1/workspaces/{ws}` followed by `rest` (`/api-keys`, `/agents/{id}/disable`, …).
/// The id is a [`WorkspaceId`], so it cannot change the path.
pub fn workspace_path(workspace: &WorkspaceId, rest: &str) -> String {
    format!("{WORKSPACES_PATH}/{workspace}{rest}")
}

// ---- workspaces and API keys ---------------------------------------------------------------

/// A workspace (answer of the list and of the creation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: Option<String>,
    pub created_at: String,
}

/// Body of `POST /admin/v1/workspaces`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateWorkspaceRequest {
    pub id: WorkspaceId,
    /// For people; at most 200 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// 201 answer of `POST /admin/v1/workspaces/{ws}/api-keys`: the key, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedApiKey {
    pub key_id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub api_key: SecretString,
    pub created_at: String,
}

/// One API key in a listing: never the key, never its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyInfo {
    pub key_id: String,
    pub workspace_id: WorkspaceId,
    pub prefix: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

// ---- connections ---------------------------------------------------------------------------

/// A connection as the admin API shows it (never a token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectionInfo {
    pub id: String,
    pub workspace_id: WorkspaceId,
    pub provider_name: ProviderName,
    pub user_id: Option<String>,
    pub status: ConnectionStatus,
    /// The provider's scopes granted to this connection.
    pub scopes: Vec<String>,
    pub access_expires_at: Option<String>,
    pub has_refresh_token: bool,
    pub last_refresh_at: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// What an imported secret is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImportKind {
    ApiKey,
    RefreshToken,
    Credentials,
}

impl ImportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::RefreshToken => "refresh_token",
            Self::Credentials => "credentials",
        }
    }
}

/// The secret of an import: a string (API key, refresh token) or, for `credentials`, an object
/// of credential fields. `Debug` never shows it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ImportSecret(pub Value);

impl fmt::Debug for ImportSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ImportSecret([redacted])")
    }
}

/// Body of `POST /admin/v1/workspaces/{ws}/connections/import`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportRequest {
    pub provider_name: ProviderName,
    pub kind: ImportKind,
    /// A string, or for `credentials` an object of credential fields.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub secret: ImportSecret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// The connection belongs to the MCP user `user_id` (required with it): their
    /// `POST /v1/mcp/user-credential` calls use it, the workspace's own resolves never do.
    /// Default false: a workspace connection, which is no MCP user's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bound_to_mcp_user: bool,
}

/// Body of `POST /admin/v1/workspaces/{ws}/connect`: start a connect flow as an operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminConnectRequest {
    pub provider_name: ProviderName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_url: Option<String>,
}

// ---- providers, keys, audit ----------------------------------------------------------------

/// Answer of `POST /admin/v1/providers/apply`: provider names by outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DriftReport {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    pub pruned: Vec<String>,
    pub dry_run: bool,
}

/// Body of `POST /admin/v1/keys/rotate` (an empty body means "generate a key").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RotateKeysRequest {
    /// A new master key to use instead of a generated one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub new_key: Option<SecretString>,
}

/// Answer of `POST /admin/v1/keys/rotate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RotateResponse {
    pub active_key_id: String,
    pub reencrypted: u64,
}

/// One record of `GET /admin/v1/audit`. Kept as text: a log is read back as it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditRecord {
    pub id: i64,
    pub at: String,
    pub workspace_id: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub principal: String,
    pub outcome: String,
    /// The server's id of this record (unique).
    pub request_id: Option<String>,
    /// What the client sent as `X-Request-Id` (printable ASCII, at most 128 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<String>,
    pub detail: Option<String>,
    pub hash: Option<String>,
    pub agent_id: Option<String>,
    pub session_id: Option<String>,
    /// The acting-for user of an On-Behalf-Of session.
    pub user: Option<String>,
}

/// Answer of `GET /admin/v1/audit/verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChainVerdict {
    pub ok: bool,
    /// Records checked.
    pub checked: u64,
    /// The first record that does not hold (for a deleted newest record: the id it had).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_broken_id: Option<i64>,
}

// ---- agents and identity providers ---------------------------------------------------------

/// An agent of a workspace (never its credential).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Agent {
    pub agent_id: AgentId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub max_session_ttl_seconds: u64,
    pub disabled: bool,
    pub created_at: String,
}

/// Body of `POST /admin/v1/workspaces/{ws}/agents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateAgentRequest {
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<Scope>,
    /// Default 900, at most 86400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_session_ttl_seconds: Option<u64>,
}

/// 201 answer of the agent creation: the agent and its credential (shown once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedAgent {
    #[serde(flatten)]
    pub agent: Agent,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub agent_credential: SecretString,
}

/// Answer of `POST …/agents/{id}/rotate-credential`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RotatedCredential {
    pub agent_id: AgentId,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub agent_credential: SecretString,
}

/// One session of an agent, as `GET …/agents/{id}/sessions` lists it (never its token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentSession {
    pub session_id: String,
    pub agent_id: AgentId,
    /// The agent itself, or the user it acts for.
    pub sub: String,
    /// The user of an On-Behalf-Of session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub expires_at: String,
    /// Whether the session can be used now.
    pub active: bool,
    /// Why it cannot (`session_revoked`, `agent_disabled`, `agent_credential_changed`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactive_reason: Option<String>,
}

/// Answer of `DELETE …/agents/{id}/sessions[/{sid}]`: how many sessions this call ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevokedSessions {
    pub revoked: u64,
}

/// A trusted issuer of user tokens (On-Behalf-Of).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IdentityProvider {
    pub id: IdentityProviderId,
    pub workspace_id: WorkspaceId,
    pub issuer: String,
    pub jwks_url: Option<String>,
    pub audience: Option<String>,
    /// May issue ID-JAGs (MCP enterprise-managed authorization) redeemed at the authorization
    /// server's token endpoint (RFC 7523 JWT-bearer grant).
    #[serde(default)]
    pub allow_id_jag: bool,
    pub created_at: String,
    /// The OpenID Connect client people sign in with (browser login); the secret is never listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_client_id: Option<String>,
    /// Present when operators may sign in to the console through this provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console: Option<ConsoleAccess>,
}

/// Who of an identity provider's users may sign in to the operators' console: a user is an
/// operator when their `sub` is listed, or their verified `email` is, or one of the groups in
/// the id_token's `groups_claim` is. At least one list is non-empty (an explicit rule).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConsoleAccess {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// The id_token claim holding the user's groups (an array of strings).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
}

fn default_groups_claim() -> String {
    "groups".to_owned()
}

/// Body of `POST /admin/v1/workspaces/{ws}/identity-providers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddIdentityProviderRequest {
    /// The `iss` of the user tokens, an http(s) URL.
    pub issuer: String,
    /// Without it, keys are found by OIDC discovery at `{issuer}/.well-known/openid-configuration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    /// When set, user tokens must carry it in `aud`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Browser login through this provider (OpenID Connect code flow): the client id the
    /// operator registered at the provider, with redirect URIs `{issuer}/as/login/callback`
    /// and `{public}/console/login/callback`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_client_id: Option<String>,
    /// That client's secret (write-only: sealed, never returned). Without it the client is
    /// public (PKCE only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub login_client_secret: Option<SecretString>,
    /// Let operators sign in to the console through this provider, under this rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console: Option<ConsoleAccess>,
    /// Also trust this issuer's ID-JAGs (`typ: oauth-id-jag+jwt`, `aud` = the authorization
    /// server's issuer) for the workspace's MCP resources. Default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_id_jag: bool,
}

#[cfg(test)]
#[path = "admin_tests.rs"]
mod tests;
