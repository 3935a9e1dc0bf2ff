//! Webhook endpoints and the delivery queue: every statement of the dispatcher and of the
//! webhook admin API. Endpoint secrets are sealed here and opened only for signing.

use super::{Backend, Store, StoreError, now_ms, rfc3339};
use crate::crypto::Aad;
use nexus_protocol::SecretString;
use nexus_protocol::webhooks::{DeliveryState, WebhookDelivery, WebhookEndpoint};
use sqlx::Row;
use std::collections::HashMap;

fn secret_aad<'a>(id: &'a str, column: &'a str) -> Aad<'a> {
    Aad {
        table: "webhook_endpoints",
        workspace: "-",
        row: id,
        column,
    }
}

/// An endpoint to create (its secret is sealed here).
pub struct NewEndpoint<'a> {
    pub id: &'a str,
    pub workspace_id: Option<&'a str>,
    pub url: &'a str,
    pub description: Option<&'a str>,
    pub events: &'a [String],
    pub secret: &'a SecretString,
}

/// A delivery's key: its workspace (the event's) and its id. The dispatcher carries both from
/// the claim to the completion so every statement after the claim reads one workspace's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryKey {
    pub workspace_id: String,
    pub id: i64,
}

/// A claimed delivery with everything needed to send it.
pub struct ClaimedDelivery {
    pub workspace_id: String,
    pub id: i64,
    pub event_id: String,
    pub endpoint_id: String,
    pub attempts: i64,
    pub created_at: i64,
    pub url: String,
    pub payload: String,
    /// The signing secrets in order: the current one, then the previous during an overlap.
    pub secrets: Vec<SecretString>,
}

/// How an attempt ended, as the dispatcher decided.
pub enum Completion {
    Delivered,
    Retry {
        next_attempt_at: i64,
    },
    Dead,
    /// 410 Gone: disable the endpoint and cancel its open deliveries.
    Gone,
}

/// What one attempt saw (for `webhook_attempts` and the delivery's `last_*`).
pub struct AttemptRecord<'a> {
    pub status: Option<i64>,
    pub error: Option<&'a str>,
    pub duration_ms: i64,
}

const CLAIM_WHERE: &str = "d.state IN ('pending','delivering') AND d.next_attempt_at <= $1 \
    AND (d.lease_until IS NULL OR d.lease_until < $1) \
    AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.workspace_id = d.workspace_id \
        AND p.endpoint_id = d.endpoint_id AND p.ordering_key = d.ordering_key AND p.id < d.id AND p.state IN ('pending','delivering'))";

impl Store {
    pub async fn insert_webhook_endpoint(&self, new: NewEndpoint<'_>) -> Result<(), StoreError> {
        let now = now_ms();
        let sealed = self
            .sealer
            .seal(new.secret.expose(), &secret_aad(new.id, "secret"));
        // Writes only, so a plain transaction: a deferred SQLite transaction whose first
        // statement writes waits for the write lock (busy timeout); only a read followed by a
        // write fails when another commit lands in between (tests/webhooks_locking.rs).
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, workspace_id, url, description, secret, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(new.id)
        .bind(new.workspace_id)
        .bind(new.url)
        .bind(new.description)
        .bind(sealed)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for event in new.events {
            sqlx::query(
                "INSERT INTO webhook_endpoint_events (endpoint_id, event_type) VALUES ($1, $2)",
            )
            .bind(new.id)
            .bind(event)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every endpoint (never a secret).
    pub async fn list_webhook_endpoints(&self) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let mut events: HashMap<String, Vec<String>> = HashMap::new();
        for r in sqlx::query(
            "SELECT endpoint_id, event_type FROM webhook_endpoint_events ORDER BY event_type",
        )
        .fetch_all(&self.pool)
        .await?
        {
            events
                .entry(r.try_get("endpoint_id")?)
                .or_default()
                .push(r.try_get("event_type")?);
        }
        let rows = sqlx::query(
            "SELECT id, workspace_id, url, description, previous_secret_expires_at, disabled_at, disabled_reason, \
             created_at FROM webhook_endpoints ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                Ok(WebhookEndpoint {
                    events: events.remove(&id).unwrap_or_default(),
                    id,
                    url: r.try_get("url")?,
                    workspace_id: r.try_get("workspace_id")?,
                    description: r.try_get("description")?,
                    previous_secret_expires_at: r
                        .try_get::<Option<i64>, _>("previous_secret_expires_at")?
                        .map(rfc3339),
                    disabled_at: r.try_get::<Option<i64>, _>("disabled_at")?.map(rfc3339),
                    disabled_reason: r.try_get("disabled_reason")?,
                    created_at: rfc3339(r.try_get("created_at")?),
                })
            })
            .collect()
    }

    /// Delete an endpoint (its deliveries go with it). False when unknown.
    pub async fn delete_webhook_endpoint(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Make `secret` the signing secret; the current one keeps signing until `previous_until`.
    /// False when the endpoint is unknown.
    pub async fn rotate_webhook_secret(
        &self,
        id: &str,
        secret: &SecretString,
        previous_until: i64,
    ) -> Result<bool, StoreError> {
        // Read-then-write: take the write lock first (SQLite `BEGIN IMMEDIATE`, PostgreSQL
        // `FOR UPDATE`). A deferred SQLite transaction that reads, then writes after another
        // connection committed, fails at once with "database is locked" (no busy wait applies
        // to that upgrade), which surfaced as a 500 on rotate-secret while deliveries ran.
        let mut tx = self.begin_locking().await?;
        let select = match self.backend {
            Backend::Postgres => "SELECT secret FROM webhook_endpoints WHERE id = $1 FOR UPDATE",
            Backend::Sqlite => "SELECT secret FROM webhook_endpoints WHERE id = $1",
        };
        let Some(row) = sqlx::query(select)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(false);
        };
        let current: Vec<u8> = row.try_get("secret")?;
        // The previous secret is re-sealed under its own column's associated data.
        let plain = self.sealer.open(&current, &secret_aad(id, "secret"))?;
        let previous = self.sealer.seal(&plain, &secret_aad(id, "previous_secret"));
        let sealed = self.sealer.seal(secret.expose(), &secret_aad(id, "secret"));
        sqlx::query(
            "UPDATE webhook_endpoints SET secret = $1, previous_secret = $2, previous_secret_expires_at = $3, \
             updated_at = $4 WHERE id = $5",
        )
        .bind(sealed)
        .bind(previous)
        .bind(previous_until)
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Claim up to `batch` due deliveries for `owner` until `now + lease_ms`: only the oldest
    /// unfinished delivery of each (endpoint, connection) chain, so order holds per chain. Safe
    /// across broker processes: PostgreSQL skips rows another claim holds (`SKIP LOCKED`), and
    /// the predecessor check still sees them, so no process can overtake a chain's head.
    pub async fn claim_deliveries(
        &self,
        owner: &str,
        now: i64,
        lease_ms: i64,
        batch: i64,
    ) -> Result<Vec<DeliveryKey>, StoreError> {
        let rows = match self.backend {
            Backend::Postgres => {
                let sql = format!(
                    "WITH due AS (SELECT d.workspace_id, d.id FROM webhook_deliveries d WHERE {CLAIM_WHERE} \
                     ORDER BY d.next_attempt_at, d.id LIMIT $4 FOR UPDATE OF d SKIP LOCKED) \
                     UPDATE webhook_deliveries w SET state = 'delivering', lease_owner = $2, lease_until = $1 + $3, \
                     attempts = w.attempts + 1, last_attempt_at = $1 FROM due \
                     WHERE w.workspace_id = due.workspace_id AND w.id = due.id RETURNING w.workspace_id, w.id"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(now)
                    .bind(owner)
                    .bind(lease_ms)
                    .bind(batch)
                    .fetch_all(&self.pool)
                    .await?
            }
            Backend::Sqlite => {
                // One process by design; BEGIN IMMEDIATE makes the claim one atomic step.
                let sql = format!(
                    "UPDATE webhook_deliveries SET state = 'delivering', lease_owner = $2, lease_until = $1 + $3, \
                     attempts = attempts + 1, last_attempt_at = $1 WHERE id IN (SELECT d.id FROM webhook_deliveries d \
                     WHERE {CLAIM_WHERE} ORDER BY d.next_attempt_at, d.id LIMIT $4) RETURNING workspace_id, id"
                );
                let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(now)
                    .bind(owner)
                    .bind(lease_ms)
                    .bind(batch)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                rows
            }
        };
        let mut keys = rows
            .iter()
            .map(|r| {
                Ok(DeliveryKey {
                    workspace_id: r.try_get("workspace_id")?,
                    id: r.try_get("id")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        keys.sort_unstable_by_key(|k| k.id);
        Ok(keys)
    }

    /// A claimed delivery with its payload, URL and opened secrets (`now` decides whether the
    /// previous secret still signs).
    pub async fn claimed_delivery(
        &self,
        key: &DeliveryKey,
        now: i64,
    ) -> Result<Option<ClaimedDelivery>, StoreError> {
        let Some(r) = sqlx::query(
            "SELECT d.id, d.event_id, d.endpoint_id, d.attempts, d.created_at, e.payload, w.url, w.secret, \
             w.previous_secret, w.previous_secret_expires_at FROM webhook_deliveries d \
             JOIN webhook_events e ON e.workspace_id = d.workspace_id AND e.id = d.event_id \
             JOIN webhook_endpoints w ON w.id = d.endpoint_id WHERE d.workspace_id = $1 AND d.id = $2",
        )
        .bind(&key.workspace_id)
        .bind(key.id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let endpoint_id: String = r.try_get("endpoint_id")?;
        let sealed: Vec<u8> = r.try_get("secret")?;
        let mut secrets = vec![SecretString::new(
            self.sealer
                .open(&sealed, &secret_aad(&endpoint_id, "secret"))?,
        )];
        let previous: Option<Vec<u8>> = r.try_get("previous_secret")?;
        let until: Option<i64> = r.try_get("previous_secret_expires_at")?;
        if let (Some(previous), Some(until)) = (previous, until)
            && now < until
        {
            secrets.push(SecretString::new(
                self.sealer
                    .open(&previous, &secret_aad(&endpoint_id, "previous_secret"))?,
            ));
        }
        Ok(Some(ClaimedDelivery {
            workspace_id: key.workspace_id.clone(),
            id: r.try_get("id")?,
            event_id: r.try_get("event_id")?,
            endpoint_id,
            attempts: r.try_get("attempts")?,
            created_at: r.try_get("created_at")?,
            url: r.try_get("url")?,
            payload: r.try_get("payload")?,
            secrets,
        }))
    }

    /// Record an attempt and move the delivery on, if `owner` still holds its lease (a lost
    /// lease means another process re-claimed it: this answer is dropped, at least once).
    pub async fn complete_delivery(
        &self,
        delivery: &ClaimedDelivery,
        owner: &str,
        now: i64,
        attempt: AttemptRecord<'_>,
        completion: Completion,
    ) -> Result<bool, StoreError> {
        // The first statement writes (the lease check is part of the UPDATE, under its row
        // lock), so a plain transaction waits for the lock instead of failing; a read placed
        // before it would need `begin_locking` (tests/webhooks_locking.rs catches that).
        let mut tx = self.pool.begin().await?;
        let (state, next, delivered_at) = match completion {
            Completion::Delivered => ("delivered", None, Some(now)),
            Completion::Retry { next_attempt_at } => ("pending", Some(next_attempt_at), None),
            Completion::Dead => ("dead", None, None),
            Completion::Gone => ("cancelled", None, None),
        };
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET state = $1, next_attempt_at = COALESCE($2, next_attempt_at), \
             delivered_at = $3, last_status = $4, last_error = $5, lease_owner = NULL, lease_until = NULL \
             WHERE workspace_id = $6 AND id = $7 AND lease_owner = $8 AND state = 'delivering'",
        )
        .bind(state)
        .bind(next)
        .bind(delivered_at)
        .bind(attempt.status)
        .bind(attempt.error)
        .bind(&delivery.workspace_id)
        .bind(delivery.id)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            // No conflict target: the key is (workspace_id, delivery_id, attempt) on PostgreSQL
            // and (delivery_id, attempt) on SQLite; either way one row per attempt.
            "INSERT INTO webhook_attempts (workspace_id, delivery_id, attempt, at, status, error, duration_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(&delivery.workspace_id)
        .bind(delivery.id)
        .bind(delivery.attempts)
        .bind(now)
        .bind(attempt.status)
        .bind(attempt.error)
        .bind(attempt.duration_ms)
        .execute(&mut *tx)
        .await?;
        if state == "cancelled" {
            sqlx::query(
                "UPDATE webhook_endpoints SET disabled_at = $1, disabled_reason = 'gone', updated_at = $1 WHERE id = $2",
            )
            .bind(now)
            .bind(&delivery.endpoint_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE webhook_deliveries SET state = 'cancelled', lease_owner = NULL, lease_until = NULL \
                 WHERE endpoint_id = $1 AND state IN ('pending', 'delivering')",
            )
            .bind(&delivery.endpoint_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The deliveries of an endpoint, newest first, keyset-paginated on id (`before`).
    pub async fn list_deliveries(
        &self,
        endpoint_id: &str,
        state: Option<DeliveryState>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        let mut sql = String::from(
            "SELECT d.id, d.event_id, e.event_type, e.connection_id, d.state, d.attempts, d.last_status, d.last_error, \
             d.next_attempt_at, d.delivered_at, d.created_at FROM webhook_deliveries d \
             JOIN webhook_events e ON e.workspace_id = d.workspace_id AND e.id = d.event_id \
             WHERE d.endpoint_id = $1 AND d.id < $2",
        );
        if state.is_some() {
            sql.push_str(" AND d.state = $4");
        }
        sql.push_str(" ORDER BY d.id DESC LIMIT $3");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(endpoint_id)
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit);
        if let Some(state) = state {
            q = q.bind(state.as_str());
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let state: String = r.try_get("state")?;
                Ok(WebhookDelivery {
                    id: r.try_get("id")?,
                    event_id: r.try_get("event_id")?,
                    event_type: r.try_get("event_type")?,
                    connection_id: r.try_get("connection_id")?,
                    state: DeliveryState::parse(&state)
                        .ok_or_else(|| StoreError::Corrupt(format!("delivery state `{state}`")))?,
                    attempts: r.try_get("attempts")?,
                    last_status: r.try_get("last_status")?,
                    last_error: r.try_get("last_error")?,
                    next_attempt_at: rfc3339(r.try_get("next_attempt_at")?),
                    delivered_at: r.try_get::<Option<i64>, _>("delivered_at")?.map(rfc3339),
                    created_at: rfc3339(r.try_get("created_at")?),
                })
            })
            .collect()
    }

    /// Queue the event of delivery `id` again, at the end of its chain. The new delivery's id,
    /// or `None` when `id` is unknown.
    pub async fn redeliver(&self, id: i64) -> Result<Option<i64>, StoreError> {
        let now = now_ms();
        let row = sqlx::query(
            "INSERT INTO webhook_deliveries (workspace_id, event_id, endpoint_id, ordering_key, state, attempts, next_attempt_at, created_at) \
             SELECT workspace_id, event_id, endpoint_id, ordering_key, 'pending', 0, $1, $1 FROM webhook_deliveries WHERE id = $2 \
             RETURNING id",
        )
        .bind(now)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("id")).transpose()?)
    }

    /// Does the endpoint exist?
    pub async fn webhook_endpoint_exists(&self, id: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT 1 FROM webhook_endpoints WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    /// Retention, one batch: delivered and cancelled deliveries created before
    /// `deliveries_before`, and events created before `events_before` with nothing left to send
    /// (their remaining deliveries, dead ones included, go with them). Rows removed.
    pub async fn prune_webhooks(
        &self,
        deliveries_before: i64,
        events_before: i64,
        batch: i64,
    ) -> Result<u64, StoreError> {
        let deliveries = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE (workspace_id, id) IN (SELECT workspace_id, id FROM webhook_deliveries \
             WHERE state IN ('delivered', 'cancelled') AND created_at < $1 ORDER BY id LIMIT $2)",
        )
        .bind(deliveries_before)
        .bind(batch)
        .execute(&self.pool)
        .await?
        .rows_affected();
        let events = sqlx::query(
            "DELETE FROM webhook_events WHERE (workspace_id, id) IN (SELECT e.workspace_id, e.id FROM webhook_events e \
             WHERE e.created_at < $1 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d \
             WHERE d.workspace_id = e.workspace_id AND d.event_id = e.id \
             AND d.state IN ('pending', 'delivering')) ORDER BY e.created_at LIMIT $2)",
        )
        .bind(events_before)
        .bind(batch)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(deliveries + events)
    }
}
