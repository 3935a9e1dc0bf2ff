//! Webhooks (Standard Webhooks): the events the broker sends about connections, the headers
//! that carry their signatures, and the admin API that manages endpoints and deliveries.
//!
//! An event body is a [`WebhookPayload`]: `type`, `timestamp`, `data`. It is stored once, in the
//! transaction that changed the connection, and sent byte-identical on every attempt, so a
//! receiver can verify the signature over the exact bytes and dedupe on `webhook-id`. Nothing in
//! a payload is a secret: ids, statuses and a typed error code with a short message.

use crate::secret::SecretString;
use serde::{Deserialize, Serialize};

/// `webhook-id`: the event id (`msg_…`), identical on every attempt of one delivery.
pub const HEADER_ID: &str = "webhook-id";
/// `webhook-timestamp`: unix seconds of this attempt (part of the signed content).
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// `webhook-signature`: space-separated `v1,<base64 HMAC-SHA256>` entries (two during a rotation).
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// Prefix of a signing secret as it is shown to operators (`whsec_<base64 of 32 bytes>`).
pub const SECRET_PREFIX: &str = "whsec_";

/// `GET` → `[WebhookEndpoint]`; `POST` [`CreateWebhookRequest`] → 201 [`CreatedWebhook`].
pub const WEBHOOKS_PATH: &str = "/admin/v1/webhooks";

/// `/admin/v1/webhooks/{id}` followed by `rest` (`/rotate-secret`, `/deliveries`, …).
pub fn webhook_path(id: &str, rest: &str) -> String {
    format!("{WEBHOOKS_PATH}/{id}{rest}")
}

/// `POST` → 202 [`RedeliverResponse`].
pub fn redeliver_path(delivery_id: i64) -> String {
    format!("/admin/v1/webhook-deliveries/{delivery_id}/redeliver")
}

/// What happened to a connection. The set is closed: an endpoint subscribes to some of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ConnectionEventKind {
    /// A connection became active for the first time (callback, static form, import).
    #[serde(rename = "connection.created")]
    Created,
    /// A transient refresh failure moved health `ok → failing` (one per outage).
    #[serde(rename = "connection.refresh_failed")]
    RefreshFailed,
    /// The provider rejected the grant: a person must authorize again.
    #[serde(rename = "connection.needs_reauth")]
    NeedsReauth,
    /// Health went back to `ok` after `failing` or `needs_reauth` (one per outage).
    #[serde(rename = "connection.recovered")]
    Recovered,
    /// The connection was revoked (its secrets dropped).
    #[serde(rename = "connection.revoked")]
    Revoked,
    /// The connection row was deleted.
    #[serde(rename = "connection.deleted")]
    Deleted,
}

impl ConnectionEventKind {
    pub const ALL: [Self; 6] = [
        Self::Created,
        Self::RefreshFailed,
        Self::NeedsReauth,
        Self::Recovered,
        Self::Revoked,
        Self::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "connection.created",
            Self::RefreshFailed => "connection.refresh_failed",
            Self::NeedsReauth => "connection.needs_reauth",
            Self::Recovered => "connection.recovered",
            Self::Revoked => "connection.revoked",
            Self::Deleted => "connection.deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The valid names, for an error message that lists them.
    pub fn names() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

/// The health of a connection's refreshes (separate from its lifecycle `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConnectionHealth {
    Ok,
    /// Refreshes fail transiently (provider outage, network); the grant may still be good.
    Failing,
    /// The provider rejected the grant.
    NeedsReauth,
}

impl ConnectionHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failing => "failing",
            Self::NeedsReauth => "needs_reauth",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Ok, Self::Failing, Self::NeedsReauth]
            .into_iter()
            .find(|h| h.as_str() == s)
    }
}

/// Why the last refresh failed, as a closed code (the message beside it is for people).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RefreshErrorCode {
    /// The provider rejected the refresh token (`invalid_grant` and kin).
    ReauthRequired,
    /// The provider answered 5xx / 429 or could not be reached.
    UpstreamUnavailable,
    /// The provider answered something that is not a valid token response.
    ProtocolError,
}

impl RefreshErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReauthRequired => "reauth_required",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::ProtocolError => "protocol_error",
        }
    }
}

/// The error part of an event: a code and a short message without any secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventError {
    pub code: RefreshErrorCode,
    pub message: String,
}

/// `data` of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectionEventData {
    pub workspace_id: String,
    pub connection_id: String,
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub status: String,
    pub health: ConnectionHealth,
    /// Gap-free per connection: lets a receiver order and dedupe.
    pub sequence: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_failures: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<EventError>,
}

/// The body of a webhook request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookPayload {
    #[serde(rename = "type")]
    pub kind: ConnectionEventKind,
    /// RFC 3339 with milliseconds, UTC.
    pub timestamp: String,
    pub data: ConnectionEventData,
}

// ---- admin API -----------------------------------------------------------------------------

/// Body of `POST /admin/v1/webhooks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// `https://…` (or loopback `http://` when the broker allows it for development).
    pub url: String,
    /// Only this workspace's events; absent = every workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    /// Event types to send; empty = all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// An endpoint as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    pub workspace_id: Option<String>,
    /// Empty = all event types.
    pub events: Vec<String>,
    pub description: Option<String>,
    /// Until when the previous secret still signs (after a rotation).
    pub previous_secret_expires_at: Option<String>,
    pub disabled_at: Option<String>,
    pub disabled_reason: Option<String>,
    pub created_at: String,
}

/// Answer of the creation: the only time the secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedWebhook {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub secret: SecretString,
}

/// Body of `POST /admin/v1/webhooks/{id}/rotate-secret`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RotateWebhookSecretRequest {
    /// How long the previous secret keeps signing (≤ 604800; default 86400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap_seconds: Option<u64>,
}

/// Answer of the rotation: the new secret, shown once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RotatedWebhookSecret {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub secret: SecretString,
    pub previous_expires_at: String,
}

/// State of one delivery of one event to one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Delivering,
    Delivered,
    /// Gave up (attempts or age exhausted): the dead letter.
    Dead,
    /// The endpoint went away (410 or removed).
    Cancelled,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivering => "delivering",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Delivering,
            Self::Delivered,
            Self::Dead,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// A delivery as listed by `GET /admin/v1/webhooks/{id}/deliveries`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDelivery {
    pub id: i64,
    pub event_id: String,
    pub event_type: String,
    pub connection_id: String,
    pub state: DeliveryState,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub next_attempt_at: String,
    pub delivered_at: Option<String>,
    pub created_at: String,
}

/// Answer of a redelivery: the new delivery's id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RedeliverResponse {
    pub delivery_id: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_kinds_round_trip_through_their_wire_names() {
        for kind in ConnectionEventKind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, serde_json::json!(kind.as_str()));
            assert_eq!(ConnectionEventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ConnectionEventKind::parse("connection.exploded"), None);
    }

    #[test]
    fn a_payload_has_the_standard_shape() {
        let p = WebhookPayload {
            kind: ConnectionEventKind::NeedsReauth,
            timestamp: "2026-12-04T22:00:00.123Z".into(),
            data: ConnectionEventData {
                workspace_id: "acme".into(),
                connection_id: "c1".into(),
                provider: "github".into(),
                user_id: None,
                status: "needs_reauth".into(),
                health: ConnectionHealth::NeedsReauth,
                sequence: 7,
                consecutive_failures: None,
                error: Some(EventError {
                    code: RefreshErrorCode::ReauthRequired,
                    message: "provider rejected the refresh token (invalid_grant)".into(),
                }),
            },
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "connection.needs_reauth");
        assert_eq!(v["data"]["health"], "needs_reauth");
        assert_eq!(v["data"]["error"]["code"], "reauth_required");
        assert!(v["data"].get("user_id").is_none());
    }

    #[test]
    fn created_webhook_debug_hides_the_secret() {
        let c = CreatedWebhook {
            id: "we_1".into(),
            url: "https://example.com/h".into(),
            events: vec![],
            secret: SecretString::new("whsec_c2VjcmV0".to_owned()),
        };
        assert!(!format!("{c:?}").contains("whsec_c2VjcmV0"));
    }
}
