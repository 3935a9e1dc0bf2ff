//! The connection lifecycle of protocol v1: request a connection (OAuth authorize URL), poll its
//! status, fetch or refresh its token by id.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The state of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Created; waiting for the person to finish the authorize step.
    Pending,
    /// Usable.
    Active,
    /// The provider rejected the refresh token or client; a person must authorize again.
    NeedsReauth,
    /// Revoked by an admin or the user.
    Revoked,
    /// The connect flow failed (denied consent, bad code, …).
    Failed,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::NeedsReauth => "needs_reauth",
            Self::Revoked => "revoked",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "active" => Self::Active,
            "needs_reauth" => Self::NeedsReauth,
            "revoked" => Self::Revoked,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    /// True when polling will never see this connection become active by itself.
    pub fn is_terminal_failure(self) -> bool {
        matches!(self, Self::NeedsReauth | Self::Revoked | Self::Failed)
    }
}

/// Body of `POST /v1/request-connection`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequestConnectionInput {
    /// The end user the connection is for (the caller's own identifier).
    pub user_id: String,
    #[serde(alias = "provider")]
    pub provider_name: String,
    /// Scopes to request; the provider's default scopes when empty.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Where the person's browser goes after the callback (`?status=…&connection_id=…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_url: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: Map<String, Value>,
}

/// 200 body of `POST /v1/request-connection`. `authUrl` keeps the camelCase name existing Nexus
/// clients read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequestConnectionResponse {
    #[serde(rename = "authUrl", alias = "auth_url")]
    pub auth_url: String,
    pub connection_id: String,
    pub state: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub provider_id: String,
}

/// 200 body of `GET /v1/check-connection/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckConnectionResponse {
    pub status: ConnectionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_name: Option<String>,
    /// With `needs_reauth`: where to send the person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reauth_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn auth_url_keeps_its_camel_case_name() {
        let r = RequestConnectionResponse {
            auth_url: "https://p/authorize".into(),
            connection_id: "c1".into(),
            state: "s".into(),
            scopes: vec!["repo".into()],
            provider_id: "p1".into(),
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["authUrl"], json!("https://p/authorize"));
        assert!(v.get("auth_url").is_none());
    }

    #[test]
    fn status_round_trips() {
        for s in ["pending", "active", "needs_reauth", "revoked", "failed"] {
            assert_eq!(ConnectionStatus::parse(s).unwrap().as_str(), s);
        }
        let c: CheckConnectionResponse =
            serde_json::from_value(json!({"status": "active"})).unwrap();
        assert_eq!(c.status, ConnectionStatus::Active);
    }
}
