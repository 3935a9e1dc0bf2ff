//! The internal API between the gateway and the broker.
//!
//! The gateway is the only public face; it reaches the broker over HTTP with a shared internal
//! token (`Authorization: Bearer <NEXUS_INTERNAL_TOKEN>`). Paths live under `/internal/v1`.
//! The broker answers with the same [`crate::ErrorBody`] envelope as the public API, which the
//! gateway passes through unchanged (with its own request id).

use crate::connection::RequestConnectionInput;
use crate::secret::SecretString;
use serde::{Deserialize, Serialize};

/// `POST`: verify a workspace API key → [`VerifyKeyResponse`] or 401 `unauthorized`.
pub const VERIFY_API_KEY_PATH: &str = "/internal/v1/api-keys/verify";
/// `POST`: resolve a credential → `ResolveResponse`.
pub const RESOLVE_PATH: &str = "/internal/v1/resolve";
/// `POST`: start a connect flow → `RequestConnectionResponse`.
pub const REQUEST_CONNECTION_PATH: &str = "/internal/v1/request-connection";
/// `GET /internal/v1/workspaces/{workspace_id}/connections/{id}` → `CheckConnectionResponse`.
/// `GET …/{id}/token` → `ResolveResponse`; `POST …/{id}/refresh` → `ResolveResponse`.
pub const CONNECTIONS_PREFIX: &str = "/internal/v1/workspaces";

/// `WWW-Authenticate` value of the broker's 401 for a missing or wrong internal token, so the
/// gateway can tell *its own* credential being refused from a caller's credential being refused
/// (both are 401 `unauthorized`) without reading the message.
/// The broker's stream of [`RevocationEvent`]s, one JSON object per line, held open by every
/// gateway (internal token) so a revocation reaches its caches at once.
pub const EVENTS_PATH: &str = "/internal/v1/events";

pub const INTERNAL_TOKEN_CHALLENGE: &str = "Bearer realm=\"nexus-internal\"";

/// Who is calling the gateway. Every request the gateway forwards names its principal, so the
/// broker can authorize and audit it. Agent sessions are [`Principal::Session`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Principal {
    /// A workspace API key (by id; the key itself never leaves the verify call).
    ApiKey {
        workspace_id: String,
        key_id: String,
    },
    /// An agent session (a session token verified by the broker). `scopes` are the granted
    /// scopes; `user` is the acting-for user of an On-Behalf-Of session.
    Session {
        workspace_id: String,
        session_id: String,
        agent_id: String,
        scopes: Vec<String>,
        #[serde(default)]
        user: Option<String>,
    },
}

impl Principal {
    /// The only workspace this principal may act in.
    pub fn workspace_id(&self) -> &str {
        match self {
            Self::ApiKey { workspace_id, .. } | Self::Session { workspace_id, .. } => workspace_id,
        }
    }

    /// A short, non-secret label for audit records and logs (`api_key:<id>`).
    pub fn audit_label(&self) -> String {
        match self {
            Self::ApiKey { key_id, .. } => format!("api_key:{key_id}"),
            Self::Session { session_id, .. } => format!("session:{session_id}"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifyKeyRequest {
    pub key: SecretString,
    /// The address of the gateway's client (after `NEXUS_TRUSTED_PROXIES`), so that a refused
    /// key is recorded against who presented it rather than against the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<std::net::IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyKeyResponse {
    pub workspace_id: String,
    pub key_id: String,
}

/// Body of [`RESOLVE_PATH`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InternalResolveRequest {
    pub principal: Principal,
    pub workspace_id: String,
    pub provider_name: String,
    #[serde(default)]
    pub min_ttl: Option<u64>,
    #[serde(default)]
    pub force_refresh: bool,
    #[serde(default)]
    pub request_id: Option<String>,
    /// Set by the gateway's proxy for an agent session: the call the credential is for, so the
    /// vault can check the provider's `proxy.rules` (and refuse with `insufficient_scope`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_call: Option<crate::proxy_rules::ProxyCall>,
}

/// Body of [`REQUEST_CONNECTION_PATH`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InternalRequestConnection {
    pub principal: Principal,
    pub workspace_id: String,
    pub input: RequestConnectionInput,
    #[serde(default)]
    pub request_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_is_tagged() {
        let p = Principal::ApiKey {
            workspace_id: "w".into(),
            key_id: "k".into(),
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["kind"], "api_key");
        assert_eq!(p.workspace_id(), "w");
        assert_eq!(p.audit_label(), "api_key:k");
    }
}

/// One line of [`EVENTS_PATH`]: something a gateway may have cached stopped being valid.
/// Gateways that reconnect after a gap flush their caches (they may have missed events).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RevocationEvent {
    /// The first line of every stream, then one every few seconds, so a silent dead
    /// connection is noticed.
    Heartbeat,
    ApiKeyRevoked {
        workspace_id: String,
        key_id: String,
    },
    ConnectionRevoked {
        workspace_id: String,
        connection_id: String,
    },
    SessionRevoked {
        session_id: String,
    },
    /// Revocations may have been missed upstream (a broker lost its link to the others):
    /// forget everything cached.
    Resync,
}
