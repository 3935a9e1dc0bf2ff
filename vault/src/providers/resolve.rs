//! [`ProviderInput::resolve`]: merge an operator's input over its catalog entry, fill defaults
//! and validate it into a [`Provider`] (the client secret kept apart, to be sealed).

use super::{Provider, ProviderError, ProviderInput, STATIC_KINDS, catalog};
use nexus_protocol::{ProviderName, SecretString, Strategy, StrategySpec};
use serde_json::{Map, Value};

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
    use crate::providers::keep_alive::KeepAliveError;
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
