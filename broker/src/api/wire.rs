//! Request and response bodies of the broker's admin API that are not protocol types yet.
//!
//! Their JSON is the API's contract: do not change a field here without changing the protocol.
//! (They are meant to move to `nexus_protocol::admin`; the handlers use them only through this
//! file so that switch is one import.)

use nexus_protocol::SecretString;
use nexus_vault::admin::{KeyRotation, ProvidersApplied};
use nexus_vault::store::identity::Agent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Body of `POST /admin/v1/workspaces/{ws}/connections/import`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ImportRequest {
    pub provider_name: String,
    /// `api_key`, `refresh_token` or `credentials`.
    pub kind: String,
    /// A string, or for `credentials` an object of credential fields.
    #[schema(value_type = Object)]
    pub secret: Value,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// Result of `POST /admin/v1/providers/apply`.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct DriftReport {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    pub pruned: Vec<String>,
    pub dry_run: bool,
}

impl From<ProvidersApplied> for DriftReport {
    fn from(r: ProvidersApplied) -> Self {
        Self {
            created: r.created,
            updated: r.updated,
            unchanged: r.unchanged,
            pruned: r.pruned,
            dry_run: r.dry_run,
        }
    }
}

/// Result of `POST /admin/v1/keys/rotate`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RotateResponse {
    pub active_key_id: String,
    pub reencrypted: u64,
}

impl From<KeyRotation> for RotateResponse {
    fn from(r: KeyRotation) -> Self {
        Self {
            active_key_id: r.active_key_id,
            reencrypted: r.reencrypted,
        }
    }
}

/// Body of `POST /admin/v1/keys/rotate` (empty: generate a key).
#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct RotateBody {
    #[serde(default)]
    pub new_key: Option<String>,
}

/// Body of `POST /admin/v1/workspaces`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateWorkspace {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// Body of `POST /admin/v1/workspaces/{ws}/connect`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ConnectBody {
    pub provider_name: String,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub return_url: Option<String>,
}

/// Body of `POST /admin/v1/workspaces/{ws}/agents`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgentRequest {
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Default 900, at most 86400.
    #[serde(default)]
    pub max_session_ttl_seconds: Option<u64>,
}

/// The created agent and its credential (shown once).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedAgent {
    #[serde(flatten)]
    pub agent: Agent,
    #[schema(value_type = String)]
    pub agent_credential: SecretString,
}

/// Result of `POST /admin/v1/workspaces/{ws}/agents/{id}/rotate-credential`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RotatedCredential {
    pub agent_id: String,
    #[schema(value_type = String)]
    pub agent_credential: SecretString,
}

/// Body of `POST /admin/v1/workspaces/{ws}/identity-providers`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddIdentityProvider {
    /// The `iss` of the user tokens, an http(s) URL.
    pub issuer: String,
    /// Without it, keys are found by OIDC discovery at `{issuer}/.well-known/openid-configuration`.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// When set, user tokens must carry it in `aud`.
    #[serde(default)]
    pub audience: Option<String>,
}
