//! Browser sessions (connect page, console) and the used-link ledger of signed connect links.
//! Only the SHA-256 of a session cookie is stored.

use super::{Store, StoreError, is_unique_violation};
use sqlx::Row;

/// A stored browser session.
#[derive(Debug, Clone)]
pub struct BrowserSessionRow {
    pub id_hash: String,
    pub kind: String,
    pub workspace_id: Option<String>,
    pub user_id: Option<String>,
    /// Providers the session may connect (empty: all).
    pub providers: Vec<String>,
    /// The console operator (`admin-token`, or an IdP subject).
    pub subject: Option<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

impl Store {
    pub async fn insert_browser_session(&self, s: &BrowserSessionRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO browser_sessions (id_hash, kind, workspace_id, user_id, providers, subject, \
             created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&s.id_hash)
        .bind(&s.kind)
        .bind(s.workspace_id.as_deref())
        .bind(s.user_id.as_deref())
        .bind(serde_json::to_string(&s.providers).unwrap_or_else(|_| "[]".into()))
        .bind(s.subject.as_deref())
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .bind(s.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The live session of `kind` with this hash (absolute expiry after `now`, seen within
    /// `idle_ms`), with its `last_seen_at` moved to `now`.
    pub async fn touch_browser_session(
        &self,
        id_hash: &str,
        kind: &str,
        now: i64,
        idle_ms: i64,
    ) -> Result<Option<BrowserSessionRow>, StoreError> {
        let done = sqlx::query(
            "UPDATE browser_sessions SET last_seen_at = $1 WHERE id_hash = $2 AND kind = $3 \
             AND expires_at > $1 AND last_seen_at > $4",
        )
        .bind(now)
        .bind(id_hash)
        .bind(kind)
        .bind(now - idle_ms)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id_hash, kind, workspace_id, user_id, providers, subject, created_at, \
             last_seen_at, expires_at FROM browser_sessions WHERE id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            let providers: Option<String> = r.try_get("providers")?;
            Ok(BrowserSessionRow {
                id_hash: r.try_get("id_hash")?,
                kind: r.try_get("kind")?,
                workspace_id: r.try_get("workspace_id")?,
                user_id: r.try_get("user_id")?,
                providers: providers
                    .and_then(|p| serde_json::from_str(&p).ok())
                    .unwrap_or_default(),
                subject: r.try_get("subject")?,
                created_at: r.try_get("created_at")?,
                last_seen_at: r.try_get("last_seen_at")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    pub async fn delete_browser_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM browser_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Remove sessions past their absolute expiry and used-link records past their link's.
    pub async fn prune_browser_state(&self, now: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM browser_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM connect_link_uses WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Record the first use of a connect link; `false` when it was used before.
    pub async fn record_link_use(
        &self,
        jti: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        match sqlx::query(
            "INSERT INTO connect_link_uses (jti, used_at, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(jti)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
