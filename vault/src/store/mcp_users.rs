//! The MCP user side of the store (design 17 §5.4): which connection belongs to an MCP user
//! (`connections.user_id` = the access token's `sub`), and the connect tickets handed to a user
//! whose connection is missing (migration 0019).

use super::connections::{COLUMNS, ConnectionRow, OWNER_MCP_USER, connection_from_row};
use super::pending::state_hash as sha256_hex;
use super::{Store, StoreError, now_ms};
use sqlx::Row;

/// A connect ticket (`mcp_connect_tickets`).
#[derive(Debug, Clone)]
pub struct TicketRow {
    pub id: String,
    pub elicitation_id: String,
    pub workspace_id: String,
    pub user_id: String,
    pub provider_name: String,
    pub reason: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
}

const TICKET_COLUMNS: &str = "id, elicitation_id, workspace_id, user_id, provider_name, reason, \
     created_at, expires_at, consumed_at";

fn ticket_from(r: &sqlx::any::AnyRow) -> Result<TicketRow, StoreError> {
    Ok(TicketRow {
        id: r.try_get("id")?,
        elicitation_id: r.try_get("elicitation_id")?,
        workspace_id: r.try_get("workspace_id")?,
        user_id: r.try_get("user_id")?,
        provider_name: r.try_get("provider_name")?,
        reason: r.try_get("reason")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        consumed_at: r.try_get("consumed_at")?,
    })
}

impl Store {
    /// The connection a resolve for `user` uses: like `find_connection_for`, among the user's own
    /// connections only (the most recently updated active one, else the most recent of any
    /// status but `revoked`, so the caller learns why it is unusable). Only connections bound to
    /// the MCP user count (made through their connect ticket, or imported so by an operator): a
    /// workspace key can make a connection for any `user_id` and complete it with an upstream
    /// account of its own, which the user's tool calls must never act as.
    pub async fn find_user_connection(
        &self,
        workspace_id: &str,
        provider_name: &str,
        user_id: &str,
    ) -> Result<Option<ConnectionRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM connections WHERE workspace_id = $1 AND provider_name = $2 \
             AND user_id = $3 AND owner_kind = $4 AND status <> 'revoked' \
             ORDER BY CASE WHEN status = 'active' THEN 0 ELSE 1 END, updated_at DESC, id LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(provider_name)
            .bind(user_id)
            .bind(OWNER_MCP_USER)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| connection_from_row(&r)).transpose()
    }

    /// The unconsumed ticket of (workspace, user, provider) that stays valid until at least
    /// `valid_until` (ms), the newest first.
    pub async fn live_connect_ticket(
        &self,
        workspace_id: &str,
        user_id: &str,
        provider_name: &str,
        valid_until: i64,
    ) -> Result<Option<TicketRow>, StoreError> {
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM mcp_connect_tickets WHERE workspace_id = $1 \
             AND user_id = $2 AND provider_name = $3 AND consumed_at IS NULL AND expires_at > $4 \
             ORDER BY expires_at DESC, id LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(user_id)
            .bind(provider_name)
            .bind(valid_until)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(ticket_from).transpose()
    }

    pub async fn insert_connect_ticket(&self, t: &TicketRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO mcp_connect_tickets (id, elicitation_id, workspace_id, user_id, provider_name, \
             reason, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&t.id)
        .bind(&t.elicitation_id)
        .bind(&t.workspace_id)
        .bind(&t.user_id)
        .bind(&t.provider_name)
        .bind(&t.reason)
        .bind(t.created_at)
        .bind(t.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A ticket by id, whatever its state (the caller tells expired from unknown).
    pub async fn connect_ticket(&self, id: &str) -> Result<Option<TicketRow>, StoreError> {
        let sql = format!("SELECT {TICKET_COLUMNS} FROM mcp_connect_tickets WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(ticket_from).transpose()
    }

    /// Give the ticket's login form a new one-time CSRF token.
    pub async fn set_ticket_csrf(&self, id: &str, csrf: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE mcp_connect_tickets SET csrf_hash = $1 WHERE id = $2")
            .bind(sha256_hex(csrf))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Consume the ticket's CSRF token: true once for the right token on a live ticket.
    pub async fn take_ticket_csrf(&self, id: &str, csrf: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE mcp_connect_tickets SET csrf_hash = NULL WHERE id = $1 AND csrf_hash = $2 \
             AND expires_at > $3 AND consumed_at IS NULL",
        )
        .bind(id)
        .bind(sha256_hex(csrf))
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn consume_connect_ticket(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE mcp_connect_tickets SET consumed_at = $1 WHERE id = $2 AND consumed_at IS NULL",
        )
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
