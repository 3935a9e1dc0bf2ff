//! What an operator writes for a provider (admin API body or one entry of the providers YAML).

use super::TokenAuthMethod;
use super::keep_alive::KeepAliveInput;
use nexus_protocol::proxy::ProxyConfig;
use nexus_protocol::{SecretString, StrategySpec};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A provider as written by an operator. Every field but `name` is optional so that a catalog
/// entry can supply it. Unknown fields are ignored (the Nexus file format has more).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProviderInput {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "type")]
    pub auth_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub client_secret: Option<SecretString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_discovery: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "authorization_url"
    )]
    pub auth_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// RFC 7009 revocation endpoint (else discovery's `revocation_endpoint`), used when a
    /// connection is disconnected or revoked.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "revocation_endpoint"
    )]
    pub revocation_url: Option<String>,
    /// Where a person removes the app's access by hand (shown when revocation is impossible).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manage_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base_url: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "scopes_de"
    )]
    pub scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_separator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<TokenAuthMethod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkce: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_authorize_params: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<StrategySpec>,
    /// The Nexus framework's `params` (only `auth_strategy` is read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub params: Option<Map<String, Value>>,
    /// Quirk: the provider issues a new refresh token on every refresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotates_refresh_tokens: Option<bool>,
    /// Quirk: the token response field holding the lifetime in seconds (`expires_in`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_field: Option<String>,
    /// Quirk: lifetime assumed when the token response has none (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_expires_in: Option<u64>,
    /// The provider honours `scope` on refresh (RFC 6749 §6), so an agent session's credential
    /// can be minted with only the session's scopes (`scope_enforcement: token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_scope_narrowing: Option<bool>,
    /// Proxy mode settings (`docs/proxy.md`); validated by [`ProxyConfig::check`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxyConfig>,
    /// Refresh idle connections before the provider forgets their refresh tokens
    /// ([`super::keep_alive`]); validated by [`KeepAliveInput::check`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<KeepAliveInput>,
}

/// Accept scopes as a list or as one space/comma-separated string.
fn scopes_de<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scopes {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Option::<Scopes>::deserialize(d)? {
        None => None,
        Some(Scopes::List(v)) => Some(v),
        Some(Scopes::Text(s)) => Some(
            s.split([' ', ','])
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
    })
}
