//! A validated provider: what the store keeps and the admin API shows.

use super::TokenAuthMethod;
use super::keep_alive::KeepAlive;
use nexus_protocol::StrategySpec;
use nexus_protocol::proxy::ProxyConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A stored provider, as the admin API shows it (the provider's own schema, defined here with
/// it rather than in the store, which holds no wire types).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredProvider {
    pub id: String,
    #[serde(flatten)]
    pub provider: Provider,
    pub has_client_secret: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// A validated provider, secret excluded. This is what the store keeps (as JSON) and compares
/// for drift, and what the admin API shows (plus `has_client_secret`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Provider {
    pub name: String,
    /// `oauth2` or one of the static kinds.
    pub auth_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    pub enable_discovery: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manage_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base_url: Option<String>,
    pub scopes: Vec<String>,
    pub scope_separator: String,
    pub token_endpoint_auth_method: TokenAuthMethod,
    pub pkce: bool,
    pub extra_authorize_params: BTreeMap<String, String>,
    pub strategy: StrategySpec,
    pub rotates_refresh_tokens: bool,
    pub expires_in_field: String,
    pub default_expires_in: u64,
    /// See [`ProviderInput::supports_scope_narrowing`].
    #[serde(default)]
    pub supports_scope_narrowing: bool,
    /// See [`ProviderInput::proxy`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxyConfig>,
    /// See [`ProviderInput::keep_alive`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<KeepAlive>,
}

impl Provider {
    pub fn is_oauth2(&self) -> bool {
        self.auth_type == "oauth2"
    }

    /// What a client may know of this provider: its API base URL, default scopes and display
    /// name. Nothing the broker uses on its own behalf (client id, endpoints) and no secret.
    pub fn metadata(&self) -> nexus_protocol::compat::ProviderMetadata {
        nexus_protocol::compat::ProviderMetadata {
            api_base_url: self.api_base_url.clone().unwrap_or_default(),
            user_info_endpoint: String::new(),
            scopes: self.scopes.clone(),
            description: self.display_name.clone(),
            category: None,
        }
    }

    /// True when `openid` is among the scopes (id_token validation applies).
    pub fn wants_openid(&self, scopes: &[String]) -> bool {
        scopes.iter().any(|s| s == "openid")
    }
}
