//! Grants of the authorization server: authorization codes (single use), token families (one
//! per redeemed code; the access tokens' `sid`) and the refresh tokens of a family (rotated on
//! every use). Codes and refresh tokens are stored only as their SHA-256.
//!
//! Single use is enforced by the database: "mark used where not yet used" is one statement,
//! so of two concurrent redemptions exactly one wins and the other sees a reuse. A reuse marks
//! the code replayed and revokes its family; a family is linked to its code only while the code
//! is not marked, so a replay that lands between the spend and the family leaves no family.

use super::mcp_resources::{json_list, list_from};
use super::pending::state_hash as sha256_hex;
use super::{Store, StoreError, now_ms};
use sqlx::Row;

#[derive(Debug, Clone)]
pub struct CodeRow {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub resource_id: String,
    pub workspace_id: String,
    pub scopes: Vec<String>,
    pub user_id: String,
    pub auth_time: i64,
    pub expires_at: i64,
}

/// What presenting a code found.
#[derive(Debug)]
pub enum CodeRedemption {
    /// First use: the code is now spent.
    Fresh(CodeRow),
    /// Already used: the code is now marked replayed, and the family minted from it, if any,
    /// is revoked (reason `code_reuse`).
    Reused(Option<String>),
    Unknown,
}

/// What storing a family found.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub enum FamilyStored {
    Stored,
    /// The code it came from was replayed since it was spent (or is not in the family's
    /// workspace, or has a family already): nothing is stored.
    CodeReplayed,
}

#[derive(Debug, Clone)]
pub struct FamilyRow {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub workspace_id: String,
    pub resource_id: String,
    pub scopes: Vec<String>,
    pub agent_id: Option<String>,
    pub auth_time: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// What presenting a refresh token found.
#[derive(Debug)]
pub enum RefreshRotation {
    /// The token was live and is now spent; its successor is stored.
    Rotated(FamilyRow),
    /// The token was already spent: the family is now revoked.
    Reused(String),
    Unknown,
}

const FAMILY_COLUMNS: &str = "id, client_id, user_id, workspace_id, resource_id, scopes, agent_id, \
     auth_time, last_used_at, expires_at, revoked_at";

fn family_from(r: &sqlx::any::AnyRow) -> Result<FamilyRow, StoreError> {
    Ok(FamilyRow {
        id: r.try_get("id")?,
        client_id: r.try_get("client_id")?,
        user_id: r.try_get("user_id")?,
        workspace_id: r.try_get("workspace_id")?,
        resource_id: r.try_get("resource_id")?,
        scopes: list_from(&r.try_get::<String, _>("scopes")?, "scopes")?,
        agent_id: r.try_get("agent_id")?,
        auth_time: r.try_get("auth_time")?,
        last_used_at: r.try_get("last_used_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

impl Store {
    pub async fn insert_authorization_code(
        &self,
        code: &str,
        c: &CodeRow,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oauth_authorization_codes (code_hash, client_id, redirect_uri, code_challenge, resource_id, \
             workspace_id, scopes, user_id, auth_time, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(sha256_hex(code))
        .bind(&c.client_id)
        .bind(&c.redirect_uri)
        .bind(&c.code_challenge)
        .bind(&c.resource_id)
        .bind(&c.workspace_id)
        .bind(json_list(&c.scopes))
        .bind(&c.user_id)
        .bind(c.auth_time)
        .bind(c.expires_at)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Spend a code (whatever its expiry: the caller refuses expired ones, and an expired
    /// code must not become usable by a retry either).
    pub async fn redeem_authorization_code(
        &self,
        code: &str,
    ) -> Result<CodeRedemption, StoreError> {
        let hash = sha256_hex(code);
        let row = sqlx::query(
            "UPDATE oauth_authorization_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL \
             RETURNING client_id, redirect_uri, code_challenge, resource_id, workspace_id, scopes, user_id, auth_time, expires_at",
        )
        .bind(now_ms())
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(r) = row {
            return Ok(CodeRedemption::Fresh(CodeRow {
                client_id: r.try_get("client_id")?,
                redirect_uri: r.try_get("redirect_uri")?,
                code_challenge: r.try_get("code_challenge")?,
                resource_id: r.try_get("resource_id")?,
                workspace_id: r.try_get("workspace_id")?,
                scopes: list_from(&r.try_get::<String, _>("scopes")?, "scopes")?,
                user_id: r.try_get("user_id")?,
                auth_time: r.try_get("auth_time")?,
                expires_at: r.try_get("expires_at")?,
            }));
        }
        // Spent already (used_at is never cleared). The mark and the revocation are one
        // transaction that begins with a write: the mark takes the code's row lock (PostgreSQL)
        // or the write lock (SQLite), so it is ordered against `create_token_family`'s link.
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let replayed = sqlx::query(
            "UPDATE oauth_authorization_codes SET replayed_at = COALESCE(replayed_at, $1) \
             WHERE code_hash = $2 RETURNING workspace_id, family_id",
        )
        .bind(now)
        .bind(&hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(replayed) = replayed else {
            tx.rollback().await?;
            return Ok(CodeRedemption::Unknown);
        };
        let family: Option<String> = replayed.try_get("family_id")?;
        if let Some(family) = &family {
            let workspace_id: String = replayed.try_get("workspace_id")?;
            sqlx::query(
                "UPDATE oauth_token_families SET revoked_at = $1, revoked_reason = 'code_reuse' \
                 WHERE workspace_id = $2 AND id = $3 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(&workspace_id)
            .bind(family)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(CodeRedemption::Reused(family))
    }

    /// Store a new family, remember it on the code it came from (so a replayed code revokes
    /// it), and store its first refresh token, if any — in one transaction. A code replayed
    /// since it was spent gets no family: nothing is stored (`CodeReplayed`).
    pub async fn create_token_family(
        &self,
        f: &FamilyRow,
        from_code: Option<&str>,
        refresh_token: Option<&str>,
    ) -> Result<FamilyStored, StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_token_family(&mut tx, f).await?;
        if let Some(code) = from_code {
            // The link decides, in one statement: a replay that marked the code first makes it
            // match nothing; a replay that comes later waits for this transaction (row lock on
            // PostgreSQL, write lock on SQLite) and then finds the family to revoke.
            let linked = sqlx::query(
                "UPDATE oauth_authorization_codes SET family_id = $1 \
                 WHERE workspace_id = $2 AND code_hash = $3 AND replayed_at IS NULL AND family_id IS NULL",
            )
            .bind(&f.id)
            .bind(&f.workspace_id)
            .bind(sha256_hex(code))
            .execute(&mut *tx)
            .await?;
            if linked.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(FamilyStored::CodeReplayed);
            }
        }
        if let Some(token) = refresh_token {
            insert_refresh_token(&mut tx, token, &f.workspace_id, &f.id, 0).await?;
        }
        tx.commit().await?;
        Ok(FamilyStored::Stored)
    }

    /// A family by its key, (workspace_id, id), for callers that know the workspace (an
    /// access token's signed claims): one shard on a sharded database (issue 20).
    pub async fn token_family_in(
        &self,
        workspace_id: &str,
        id: &str,
    ) -> Result<Option<FamilyRow>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {FAMILY_COLUMNS} FROM oauth_token_families WHERE workspace_id = $1 AND id = $2"
        )))
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(family_from).transpose()
    }

    /// A family by id alone (index `oauth_token_families_id`): reached from a refresh token or
    /// code presented without its workspace; fans out on a sharded database.
    pub async fn token_family(&self, id: &str) -> Result<Option<FamilyRow>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {FAMILY_COLUMNS} FROM oauth_token_families WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(family_from).transpose()
    }

    /// Spend `presented` and store `next` in its family, which now acts for `agent_id` (the
    /// client's binding as of this refresh). A spent token presented again revokes the family
    /// (reason `refresh_reuse`). The caller checks the family is still live.
    pub async fn rotate_refresh_token(
        &self,
        presented: &str,
        next: &str,
        agent_id: Option<&str>,
    ) -> Result<RefreshRotation, StoreError> {
        let hash = sha256_hex(presented);
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let spent = sqlx::query(
            "UPDATE oauth_refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL \
             RETURNING workspace_id, family_id, generation",
        )
        .bind(now)
        .bind(&hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(spent) = spent else {
            tx.rollback().await?;
            let known = self.family_of_refresh_token(presented).await?;
            return Ok(match known {
                Some(family) => {
                    self.revoke_token_family(&family, "refresh_reuse").await?;
                    RefreshRotation::Reused(family)
                }
                None => RefreshRotation::Unknown,
            });
        };
        // The spent row names its workspace, so the family is read and touched by its key
        // (workspace_id, id): one shard on a sharded database (issue 20).
        let workspace_id: String = spent.try_get("workspace_id")?;
        let family_id: String = spent.try_get("family_id")?;
        let generation: i64 = spent.try_get("generation")?;
        let family = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {FAMILY_COLUMNS} FROM oauth_token_families WHERE workspace_id = $1 AND id = $2"
        )))
        .bind(&workspace_id)
        .bind(&family_id)
        .fetch_one(&mut *tx)
        .await?;
        let mut family = family_from(&family)?;
        family.agent_id = agent_id.map(str::to_owned);
        insert_refresh_token(&mut tx, next, &workspace_id, &family_id, generation + 1).await?;
        sqlx::query(
            "UPDATE oauth_token_families SET last_used_at = $1, agent_id = $2 WHERE workspace_id = $3 AND id = $4",
        )
        .bind(now)
        .bind(agent_id)
        .bind(&workspace_id)
        .bind(&family_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(RefreshRotation::Rotated(family))
    }

    /// The family of a refresh token, spent or not.
    pub async fn family_of_refresh_token(&self, token: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT family_id FROM oauth_refresh_tokens WHERE token_hash = $1")
            .bind(sha256_hex(token))
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get("family_id").map_err(StoreError::from))
            .transpose()
    }

    /// Revoke a family (idempotent: the first reason stays).
    pub async fn revoke_token_family(&self, id: &str, reason: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE oauth_token_families SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(reason)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// Insert a family row inside the caller's transaction (codes and ID-JAG grants).
pub(super) async fn insert_token_family(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    f: &FamilyRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO oauth_token_families (id, client_id, user_id, workspace_id, resource_id, scopes, agent_id, \
         auth_time, created_at, last_used_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)",
    )
    .bind(&f.id)
    .bind(&f.client_id)
    .bind(&f.user_id)
    .bind(&f.workspace_id)
    .bind(&f.resource_id)
    .bind(json_list(&f.scopes))
    .bind(&f.agent_id)
    .bind(f.auth_time)
    .bind(now_ms())
    .bind(f.expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A refresh token carries its family's workspace (the distribution column, migration 0038).
async fn insert_refresh_token(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    token: &str,
    workspace_id: &str,
    family_id: &str,
    generation: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO oauth_refresh_tokens (token_hash, workspace_id, family_id, generation, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(sha256_hex(token))
    .bind(workspace_id)
    .bind(family_id)
    .bind(generation)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
