//! `GET /v1/resolve`: the query and the 200 body.

use crate::secret::SecretString;
use crate::strategy::StrategySpec;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// Query parameters of `GET /v1/resolve`. `provider` is accepted as an alias of
/// `provider_name` (older Nexus clients send it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams, utoipa::ToSchema))]
pub struct ResolveQuery {
    pub workspace_id: String,
    #[serde(alias = "provider")]
    pub provider_name: String,
    /// The caller needs the credential to stay valid at least this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ttl: Option<u64>,
    /// Skip every cache and refresh at the provider.
    #[serde(default, skip_serializing_if = "is_false")]
    pub force_refresh: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// How strictly a session's scopes are enforced on the credential handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ScopeEnforcement {
    /// The access token itself was minted with only the allowed scopes.
    Token,
    /// The provider cannot narrow scopes: the token may carry more than the session allows.
    Advisory,
}

/// The credential fields a strategy reads (`access_token`, `api_key`, `username`, …).
///
/// Never holds a refresh token or a client secret. `Debug` shows field names only.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Credentials(pub BTreeMap<String, Value>);

impl Credentials {
    /// A field as a string: JSON strings as they are, numbers and booleans in their JSON form.
    /// `None` when the field is missing, null, an object or an array.
    pub fn get_str(&self, field: &str) -> Option<String> {
        match self.0.get(field)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn insert(&mut self, field: impl Into<String>, value: impl Into<Value>) {
        self.0.insert(field.into(), value.into());
    }

    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.0.keys().map(|k| format!("{k}=[redacted]")))
            .finish()
    }
}

/// The 200 body of `GET /v1/resolve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResolveResponse {
    /// The access token, for OAuth connections (absent for some static credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub access_token: Option<SecretString>,
    #[serde(default = "default_token_type")]
    pub token_type: String,
    /// RFC 3339. Absent for credentials that never expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Seconds from the moment of the response; lets a client compute expiry on its own clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    pub strategy: StrategySpec,
    #[serde(default)]
    pub credentials: Credentials,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// `scopes` as one space-separated string (RFC 6749 §3.3), for clients that read `scope`
    /// (the original Nexus SDKs). Filled by the gateway ([`ResolveResponse::for_clients`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The name of the provider this credential is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base_url: Option<String>,
    /// Present when the caller is an agent session (see `docs/identity.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_enforcement: Option<ScopeEnforcement>,
    /// The connection this credential belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    /// Broker → gateway only: the provider's proxy settings (proxy mode). The gateway removes
    /// it before answering `/v1/resolve`, so clients never see it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub proxy: Option<crate::proxy::ProxyConfig>,
}

fn default_token_type() -> String {
    "Bearer".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_documented_body() {
        let body = json!({
            "access_token": "gho_x", "token_type": "Bearer",
            "expires_at": "2026-11-24T12:00:00Z", "expires_in": 3599,
            "strategy": {"type": "oauth2"},
            "credentials": {"access_token": "gho_x", "token_type": "Bearer",
                            "expires_at": "2026-11-24T12:00:00Z"},
            "scopes": ["repo"], "api_base_url": "https://api.github.com"
        });
        let r: ResolveResponse = serde_json::from_value(body).unwrap();
        assert_eq!(r.access_token.unwrap().expose(), "gho_x");
        assert_eq!(r.expires_in, Some(3599));
        assert_eq!(r.strategy.kind, "oauth2");
        assert_eq!(
            r.credentials.get_str("access_token").as_deref(),
            Some("gho_x")
        );
        assert!(!format!("{:?}", r.credentials).contains("gho_x"));
    }

    #[test]
    fn provider_alias_is_accepted() {
        let q: ResolveQuery =
            serde_json::from_value(json!({"workspace_id": "w", "provider": "github"})).unwrap();
        assert_eq!(q.provider_name, "github");
        assert!(!q.force_refresh);
    }
}
