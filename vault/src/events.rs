//! Connection events: the one writer of the webhook outbox.
//!
//! [`emit`] runs inside the transaction that changes the connection: the event row, its
//! per-connection sequence number and the deliveries to every subscribed endpoint commit with
//! the state change or not at all. So an event is never lost (a crash after the commit leaves
//! the deliveries in the outbox for any dispatcher to send) and never invented (a rolled-back
//! change leaves no event).

use crate::store::events::NewEvent;
use crate::store::{Store, StoreError, now_ms};
use nexus_protocol::webhooks::{
    ConnectionEventData, ConnectionEventKind, ConnectionHealth, EventError, WebhookPayload,
};
use sqlx::AnyConnection;

/// Record `kind` about connection `connection_id` of `workspace_id` in the caller's transaction
/// `conn`, as the connection looks now (in that transaction). Returns the event id (`msg_…`), or
/// `None` when the connection does not exist.
pub(crate) async fn emit(
    store: &Store,
    conn: &mut AnyConnection,
    workspace_id: &str,
    connection_id: &str,
    kind: ConnectionEventKind,
    error: Option<EventError>,
) -> Result<Option<String>, StoreError> {
    let Some(subject) = store
        .next_event_subject(conn, workspace_id, connection_id)
        .await?
    else {
        return Ok(None);
    };
    let now = now_ms();
    let health = ConnectionHealth::parse(&subject.health)
        .ok_or_else(|| StoreError::Corrupt(format!("connection health `{}`", subject.health)))?;
    let payload = WebhookPayload {
        kind,
        timestamp: timestamp_millis(now),
        data: ConnectionEventData {
            workspace_id: subject.workspace_id.clone(),
            connection_id: connection_id.to_owned(),
            provider: subject.provider_name,
            user_id: subject.user_id,
            status: subject.status,
            health,
            sequence: subject.sequence,
            consecutive_failures: (subject.consecutive_failures > 0)
                .then_some(subject.consecutive_failures),
            error,
        },
    };
    let body = serde_json::to_string(&payload).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let queued = store
        .insert_event(
            conn,
            NewEvent {
                id: &id,
                workspace_id: &subject.workspace_id,
                connection_id,
                event_type: kind.as_str(),
                sequence: subject.sequence,
                payload: &body,
                now,
            },
        )
        .await?;
    tracing::debug!(event = %id, kind = kind.as_str(), connection = %connection_id, queued, "event recorded");
    Ok(Some(id))
}

/// RFC 3339 with milliseconds, UTC (`2026-12-04T22:00:00.123Z`).
fn timestamp_millis(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
