//! Providers: what the broker knows about each upstream service.
//!
//! A [`ProviderInput`] is what an operator writes (admin API body or one entry of the providers
//! YAML file). [`ProviderInput::resolve`] merges it over its catalog entry (`catalog: github`),
//! fills defaults and validates it into a [`Provider`], which is what the store keeps. The client
//! secret travels separately (sealed in its own column) and never appears in a `Provider`.

pub mod catalog;
pub mod file;
pub mod keep_alive;

use keep_alive::{KeepAlive, KeepAliveError, KeepAliveInput};
use nexus_protocol::proxy::ProxyConfig;
use nexus_protocol::{ProviderName, SecretString, Strategy, StrategySpec};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Static credential kinds: the credential is captured or imported, never fetched.
pub const STATIC_KINDS: &[&str] = &[
    "api_key",
    "basic_auth",
    "header",
    "query_param",
    "hmac_payload",
    "aws_sigv4",
];

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProviderError {
    /// States the rule, never the submitted name (a document may carry anything).
    #[error("provider name {}", nexus_protocol::ProviderName::EXPECTED)]
    BadName(nexus_protocol::IdError),
    #[error(
        "provider `{name}`: unknown auth_type (oauth2, api_key, basic_auth, header, query_param, hmac_payload, aws_sigv4)"
    )]
    UnknownAuthType { name: String, auth_type: String },
    #[error("provider `{name}`: unknown catalog entry")]
    UnknownCatalog { name: String, catalog: String },
    #[error("provider `{name}`: {reason}")]
    Invalid { name: String, reason: String },
    #[error("provider `{name}`: {source}")]
    KeepAlive {
        name: String,
        source: KeepAliveError,
    },
    #[error("provider `{name}`: invalid strategy: {source}")]
    Strategy {
        name: String,
        source: nexus_protocol::StrategyError,
    },
}

/// How the broker authenticates to a token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TokenAuthMethod {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
}

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
    /// ([`keep_alive`]); validated by [`KeepAliveInput::check`].
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

fn check_url(name: &str, field: &str, value: &Option<String>) -> Result<(), ProviderError> {
    let Some(value) = value else { return Ok(()) };
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(ProviderError::Invalid {
            name: name.into(),
            reason: format!("`{field}` must be an http(s) URL"),
        }),
    }
}

/// Fields of `over` win over those of `base`.
fn overlay(base: ProviderInput, over: ProviderInput) -> ProviderInput {
    macro_rules! pick {
        ($($f:ident),*) => { ProviderInput { $($f: over.$f.or(base.$f),)* name: over.name, catalog: over.catalog } };
    }
    pick!(
        auth_type,
        display_name,
        client_id,
        client_secret,
        issuer,
        enable_discovery,
        auth_url,
        token_url,
        revocation_url,
        manage_url,
        api_base_url,
        scopes,
        scope_separator,
        token_endpoint_auth_method,
        pkce,
        extra_authorize_params,
        strategy,
        params,
        rotates_refresh_tokens,
        expires_in_field,
        default_expires_in,
        supports_scope_narrowing,
        proxy,
        keep_alive
    )
}

/// The strategy a static kind uses when none is written.
fn default_strategy(auth_type: &str) -> StrategySpec {
    match auth_type {
        "oauth2" => StrategySpec::new("oauth2"),
        "api_key" => StrategySpec::new("header"),
        other => StrategySpec::new(other),
    }
}

impl ProviderInput {
    /// Merge over the catalog entry, fill defaults, validate. Returns the provider and the client
    /// secret (kept apart so it can be sealed).
    pub fn resolve(self) -> Result<(Provider, Option<SecretString>), ProviderError> {
        let name = ProviderName::new(self.name.as_str())
            .map_err(ProviderError::BadName)?
            .into_string();
        let input = match &self.catalog {
            Some(entry) => {
                let base = catalog::lookup(entry).ok_or_else(|| ProviderError::UnknownCatalog {
                    name: name.clone(),
                    catalog: entry.clone(),
                })?;
                overlay(base, self)
            }
            None => self,
        };
        let auth_type = input.auth_type.clone().unwrap_or_else(|| "oauth2".into());
        if auth_type != "oauth2" && !STATIC_KINDS.contains(&auth_type.as_str()) {
            return Err(ProviderError::UnknownAuthType { name, auth_type });
        }
        let strategy = input
            .strategy
            .clone()
            .or_else(|| nexus_auth_strategy(input.params.as_ref()))
            .unwrap_or_else(|| default_strategy(&auth_type));
        Strategy::from_spec(&strategy).map_err(|source| ProviderError::Strategy {
            name: name.clone(),
            source,
        })?;
        for (field, value) in [
            ("auth_url", &input.auth_url),
            ("token_url", &input.token_url),
            ("revocation_url", &input.revocation_url),
            ("manage_url", &input.manage_url),
            ("issuer", &input.issuer),
            ("api_base_url", &input.api_base_url),
        ] {
            check_url(&name, field, value)?;
        }
        if let Some(proxy) = &input.proxy {
            proxy
                .check(input.api_base_url.as_deref())
                .map_err(|e| ProviderError::Invalid {
                    name: name.clone(),
                    reason: e.to_string(),
                })?;
        }
        let keep_alive = input
            .keep_alive
            .as_ref()
            .map(|k| k.check(auth_type == "oauth2"))
            .transpose()
            .map_err(|source| ProviderError::KeepAlive {
                name: name.clone(),
                source,
            })?;
        let enable_discovery = input.enable_discovery.unwrap_or(input.issuer.is_some());
        if auth_type == "oauth2" {
            let invalid = |reason: &str| ProviderError::Invalid {
                name: name.clone(),
                reason: reason.into(),
            };
            if input.client_id.as_deref().unwrap_or("").is_empty() {
                return Err(invalid("oauth2 needs `client_id`"));
            }
            let has_endpoints = input.auth_url.is_some() && input.token_url.is_some();
            if !(has_endpoints || (enable_discovery && input.issuer.is_some())) {
                return Err(invalid(
                    "oauth2 needs `auth_url` and `token_url`, or `issuer` with discovery",
                ));
            }
        }
        let provider = Provider {
            name,
            auth_type,
            catalog: input.catalog,
            display_name: input.display_name,
            client_id: input.client_id,
            issuer: input.issuer,
            enable_discovery,
            auth_url: input.auth_url,
            token_url: input.token_url,
            revocation_url: input.revocation_url,
            manage_url: input.manage_url,
            api_base_url: input.api_base_url,
            scopes: input.scopes.unwrap_or_default(),
            scope_separator: input.scope_separator.unwrap_or_else(|| " ".into()),
            token_endpoint_auth_method: input.token_endpoint_auth_method.unwrap_or_default(),
            pkce: input.pkce.unwrap_or(true),
            extra_authorize_params: input.extra_authorize_params.unwrap_or_default(),
            strategy,
            rotates_refresh_tokens: input.rotates_refresh_tokens.unwrap_or(false),
            expires_in_field: input
                .expires_in_field
                .unwrap_or_else(|| "expires_in".into()),
            default_expires_in: input.default_expires_in.unwrap_or(3600),
            supports_scope_narrowing: input.supports_scope_narrowing.unwrap_or(false),
            proxy: input.proxy,
            keep_alive,
        };
        Ok((provider, input.client_secret.filter(|s| !s.is_empty())))
    }
}

/// `params.auth_strategy` of the Nexus framework format.
fn nexus_auth_strategy(params: Option<&Map<String, Value>>) -> Option<StrategySpec> {
    serde_json::from_value(params?.get("auth_strategy")?.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(v: Value) -> ProviderInput {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn catalog_entry_is_inherited_and_overridden() {
        let (p, secret) = input(json!({"name": "gh", "catalog": "github", "client_id": "id", "client_secret": "s", "scopes": "repo user"}))
            .resolve()
            .unwrap();
        assert_eq!(
            p.auth_url.as_deref(),
            Some("https://github.com/login/oauth/authorize")
        );
        assert_eq!(p.scopes, vec!["repo", "user"]);
        assert_eq!(secret.unwrap().expose(), "s");
        assert_eq!(p.strategy.kind, "oauth2");
    }

    #[test]
    fn invalid_providers_are_rejected_with_reasons() {
        assert!(matches!(
            input(json!({"name": "Bad Name"})).resolve(),
            Err(ProviderError::BadName(_))
        ));
        assert!(matches!(
            input(json!({"name": "x", "auth_type": "magic"})).resolve(),
            Err(ProviderError::UnknownAuthType { .. })
        ));
        assert!(matches!(
            input(json!({"name": "x", "catalog": "nope"})).resolve(),
            Err(ProviderError::UnknownCatalog { .. })
        ));
        assert!(matches!(
            input(json!({"name": "x", "client_id": "c"})).resolve(),
            Err(ProviderError::Invalid { .. })
        ));
        assert!(matches!(
            input(json!({"name": "x", "auth_type": "header", "strategy": {"type": "header", "config": {"header_name": "Bad Header"}}})).resolve(),
            Err(ProviderError::Strategy { .. })
        ));
        assert!(matches!(
            input(json!({"name": "x", "client_id": "c", "auth_url": "javascript:alert(1)", "token_url": "https://t"})).resolve(),
            Err(ProviderError::Invalid { .. })
        ));
    }

    #[test]
    fn proxy_settings_are_validated_and_kept() {
        let (p, _) = input(json!({"name": "crm", "auth_type": "api_key",
            "api_base_url": "https://api.crm.example/v2",
            "proxy": {"allowed_hosts": ["uploads.crm.example"], "timeout": "5s"}}))
        .resolve()
        .unwrap();
        let proxy = p.proxy.unwrap();
        assert_eq!(proxy.allowed_hosts, vec!["uploads.crm.example"]);
        assert_eq!(proxy.timeout_ms, Some(5000));
        let refused = input(json!({"name": "crm", "auth_type": "api_key",
            "proxy": {"enabled": true}}))
        .resolve();
        assert!(
            matches!(&refused, Err(ProviderError::Invalid { reason, .. }) if reason.contains("api_base_url")),
            "{refused:?}"
        );
        let wildcard = input(json!({"name": "crm", "auth_type": "api_key",
            "api_base_url": "https://api.crm.example", "proxy": {"allowed_hosts": ["*.crm.example"]}}))
        .resolve();
        assert!(matches!(wildcard, Err(ProviderError::Invalid { .. })));
    }

    #[test]
    fn keep_alive_is_validated_with_typed_errors_and_kept() {
        let oauth = json!({"name": "gh", "client_id": "c", "auth_url": "https://a", "token_url": "https://t",
            "keep_alive": {"idle_after": "3d", "jitter": 0.2}});
        let (p, _) = input(oauth.clone()).resolve().unwrap();
        assert_eq!(p.keep_alive.unwrap().idle_after_ms, 3 * 86_400_000);
        let mut short = oauth;
        short["keep_alive"]["idle_after"] = json!("5m");
        assert_eq!(
            input(short).resolve().unwrap_err(),
            ProviderError::KeepAlive {
                name: "gh".into(),
                source: KeepAliveError::IdleAfterTooShort
            }
        );
        let static_kind =
            input(json!({"name": "k", "auth_type": "api_key", "keep_alive": {"idle_after": "3d"}}));
        assert!(matches!(
            static_kind.resolve(),
            Err(ProviderError::KeepAlive {
                source: KeepAliveError::NotOAuth,
                ..
            })
        ));
    }

    #[test]
    fn nexus_params_auth_strategy_is_accepted() {
        let (p, _) = input(json!({"name": "k", "auth_type": "api_key",
            "params": {"auth_strategy": {"type": "header", "config": {"header_name": "X-Api-Key"}}}}))
        .resolve()
        .unwrap();
        assert_eq!(p.strategy.kind, "header");
        assert_eq!(p.strategy.config["header_name"], "X-Api-Key");
    }

    #[test]
    fn every_catalog_entry_resolves() {
        let names = catalog::names();
        assert!(names.len() >= 15, "catalog has {} entries", names.len());
        for name in names {
            let (p, _) = input(json!({"name": name, "catalog": name, "client_id": "id"}))
                .resolve()
                .unwrap();
            assert!(p.is_oauth2(), "{name}");
        }
    }
}
