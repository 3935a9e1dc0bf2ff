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

    /// This state in the value set of the original protocol (`pending`, `active`, `failed`):
    /// every state that will not become active by itself is `failed` there, which is what
    /// makes an original client's `wait_for_active` stop.
    pub fn coarse(self) -> CoarseStatus {
        match self {
            Self::Pending => CoarseStatus::Pending,
            Self::Active => CoarseStatus::Active,
            Self::NeedsReauth | Self::Revoked | Self::Failed => CoarseStatus::Failed,
        }
    }
}

/// The `status` values of `check-connection` in the original Nexus protocol. The finer
/// [`ConnectionStatus`] travels beside it as `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CoarseStatus {
    Pending,
    Active,
    /// Will not become active by itself (`state` says why).
    Failed,
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

/// A connection's status as the broker reports it to the gateway, and as clients read the
/// gateway's [`CheckConnectionAnswer`]: `status` is the finer state. Reading accepts both
/// forms: the finer `state` when present and known, else `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(from = "CheckConnectionWire")]
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

#[derive(Deserialize)]
struct CheckConnectionWire {
    status: ConnectionStatus,
    /// A string, not the enum: a state this version does not know falls back to `status`.
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    connection_id: Option<String>,
    #[serde(default)]
    provider_name: Option<String>,
    #[serde(default)]
    reauth_url: Option<String>,
}

impl From<CheckConnectionWire> for CheckConnectionResponse {
    fn from(wire: CheckConnectionWire) -> Self {
        Self {
            status: wire
                .state
                .as_deref()
                .and_then(ConnectionStatus::parse)
                .unwrap_or(wire.status),
            connection_id: wire.connection_id,
            provider_name: wire.provider_name,
            reauth_url: wire.reauth_url,
        }
    }
}

/// 200 body of `GET /v1/check-connection/{id}`: `status` in the original protocol's value set
/// (so an original client's `wait_for_active` stops on every state that will not become
/// active by itself), and the finer `state` beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckConnectionAnswer {
    /// `pending`, `active` or `failed` ([`ConnectionStatus::coarse`] of `state`).
    pub status: CoarseStatus,
    /// The connection's state.
    pub state: ConnectionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_name: Option<String>,
    /// With `needs_reauth` or `failed`: where to send the person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reauth_url: Option<String>,
}

impl From<CheckConnectionResponse> for CheckConnectionAnswer {
    fn from(check: CheckConnectionResponse) -> Self {
        Self {
            status: check.status.coarse(),
            state: check.status,
            connection_id: check.connection_id,
            provider_name: check.provider_name,
            reauth_url: check.reauth_url,
        }
    }
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

    #[test]
    fn the_answer_keeps_the_original_value_set_and_adds_the_state() {
        let expected = [
            ("pending", "pending"),
            ("active", "active"),
            ("needs_reauth", "failed"),
            ("revoked", "failed"),
            ("failed", "failed"),
        ];
        for (state, coarse) in expected {
            let check = CheckConnectionResponse {
                status: ConnectionStatus::parse(state).unwrap(),
                connection_id: Some("c1".into()),
                provider_name: None,
                reauth_url: None,
            };
            let answer = serde_json::to_value(CheckConnectionAnswer::from(check.clone())).unwrap();
            assert_eq!(
                answer,
                json!({"status": coarse, "state": state, "connection_id": "c1"})
            );
            // A client of this protocol reads the finer state back.
            let read: CheckConnectionResponse = serde_json::from_value(answer).unwrap();
            assert_eq!(read, check);
        }
    }

    #[test]
    fn an_unknown_state_falls_back_to_status() {
        let c: CheckConnectionResponse =
            serde_json::from_value(json!({"status": "failed", "state": "suspended"})).unwrap();
        assert_eq!(c.status, ConnectionStatus::Failed);
    }
}
