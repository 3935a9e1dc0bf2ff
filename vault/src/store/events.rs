//! The SQL of connection health and of the event outbox. Every statement here runs inside the
//! caller's transaction: an event row exists exactly when the state change it describes
//! committed (see `crate::events`).

use super::{Backend, Store, StoreError};
use nexus_protocol::webhooks::ConnectionHealth;
use sqlx::{AnyConnection, Row};

/// The channel `pg_notify` wakes dispatchers on (fires when the emitting transaction commits).
pub const WEBHOOKS_CHANNEL: &str = "nexus_webhooks";

/// What a connection looks like at the moment an event about it is emitted.
pub(crate) struct EventSubject {
    pub workspace_id: String,
    pub provider_name: String,
    pub user_id: Option<String>,
    pub status: String,
    pub health: String,
    pub consecutive_failures: i64,
    /// The new `event_seq`.
    pub sequence: i64,
}

/// The health columns a refresh outcome writes. `success_at` is set on a successful refresh,
/// `error` (code, at) on a failure; the other one is left as it was.
pub(crate) struct HealthWrite<'a> {
    pub health: ConnectionHealth,
    pub consecutive_failures: i64,
    pub error: Option<(&'a str, i64)>,
    pub success_at: Option<i64>,
}

/// A stored event to write.
pub(crate) struct NewEvent<'a> {
    pub id: &'a str,
    pub workspace_id: &'a str,
    pub connection_id: &'a str,
    pub event_type: &'a str,
    pub sequence: i64,
    pub payload: &'a str,
    pub now: i64,
}

impl Store {
    /// Increment the connection's `event_seq` and read the state the event describes. `None`
    /// when the connection does not exist (in `workspace_id`).
    pub(crate) async fn next_event_subject(
        &self,
        conn: &mut AnyConnection,
        workspace_id: &str,
        connection_id: &str,
    ) -> Result<Option<EventSubject>, StoreError> {
        let row = sqlx::query(
            "UPDATE connections SET event_seq = event_seq + 1 WHERE workspace_id = $1 AND id = $2 \
             RETURNING workspace_id, provider_name, user_id, status, health, consecutive_failures, event_seq",
        )
        .bind(workspace_id)
        .bind(connection_id)
        .fetch_optional(&mut *conn)
        .await?;
        row.map(|r| {
            Ok(EventSubject {
                workspace_id: r.try_get("workspace_id")?,
                provider_name: r.try_get("provider_name")?,
                user_id: r.try_get("user_id")?,
                status: r.try_get("status")?,
                health: r.try_get("health")?,
                consecutive_failures: r.try_get("consecutive_failures")?,
                sequence: r.try_get("event_seq")?,
            })
        })
        .transpose()
    }

    /// Store the event and fan it out to every enabled endpoint of its workspace (or of all
    /// workspaces) subscribed to its type. Returns how many deliveries were queued.
    pub(crate) async fn insert_event(
        &self,
        conn: &mut AnyConnection,
        event: NewEvent<'_>,
    ) -> Result<u64, StoreError> {
        sqlx::query(
            "INSERT INTO webhook_events (id, workspace_id, connection_id, event_type, sequence, payload, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(event.id)
        .bind(event.workspace_id)
        .bind(event.connection_id)
        .bind(event.event_type)
        .bind(event.sequence)
        .bind(event.payload)
        .bind(event.now)
        .execute(&mut *conn)
        .await?;
        let fanned = sqlx::query(
            "INSERT INTO webhook_deliveries (workspace_id, event_id, endpoint_id, ordering_key, state, attempts, next_attempt_at, created_at) \
             SELECT $4, $1, e.id, $2, 'pending', 0, $3, $3 FROM webhook_endpoints e \
             WHERE e.disabled_at IS NULL AND (e.workspace_id IS NULL OR e.workspace_id = $4) \
               AND (NOT EXISTS (SELECT 1 FROM webhook_endpoint_events t WHERE t.endpoint_id = e.id) \
                    OR EXISTS (SELECT 1 FROM webhook_endpoint_events t WHERE t.endpoint_id = e.id AND t.event_type = $5)) \
             ORDER BY e.id",
        )
        .bind(event.id)
        .bind(event.connection_id)
        .bind(event.now)
        .bind(event.workspace_id)
        .bind(event.event_type)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if fanned > 0 && self.backend == Backend::Postgres {
            // Delivered to listeners when (and only if) the transaction commits.
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(WEBHOOKS_CHANNEL)
                .execute(&mut *conn)
                .await?;
        }
        Ok(fanned)
    }

    /// Write the refresh health of connection `connection_id` of `workspace_id`.
    pub(crate) async fn write_health(
        &self,
        conn: &mut AnyConnection,
        workspace_id: &str,
        connection_id: &str,
        write: HealthWrite<'_>,
    ) -> Result<(), StoreError> {
        let HealthWrite {
            health,
            consecutive_failures,
            error,
            success_at,
        } = write;
        sqlx::query(
            "UPDATE connections SET health = $1, consecutive_failures = $2, \
             last_error_code = COALESCE($3, last_error_code), last_error_at = COALESCE($4, last_error_at), \
             last_success_at = COALESCE($5, last_success_at) WHERE workspace_id = $6 AND id = $7",
        )
        .bind(health.as_str())
        .bind(consecutive_failures)
        .bind(error.map(|(code, _)| code))
        .bind(error.map(|(_, at)| at))
        .bind(success_at)
        .bind(workspace_id)
        .bind(connection_id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}
