//! Single use of JWT assertions (RFC 7523 §3: the `jti` of an ID-JAG is accepted once).
//! `oauth_assertion_jtis` holds (`issuer`, `jti`) until the assertion's expiry; the primary key
//! makes "first use wins" one statement, so of two concurrent redemptions one is a replay.

use super::as_sessions::upsert_as_user_on;
use super::oauth_grants::{FamilyRow, insert_token_family};
use super::{Store, StoreError, now_ms};

/// The parts of a verified ID-JAG the store records.
pub struct AssertionUse<'a> {
    /// The identity provider (`iss`) and its `jti`.
    pub issuer: &'a str,
    pub jti: &'a str,
    /// Until when the `jti` must be remembered (the assertion's `exp` plus the leeway).
    pub remember_until_ms: i64,
    /// The user at that identity provider (`sub`).
    pub subject: &'a str,
}

impl Store {
    /// Spend the assertion's `jti`, find or create its user (by workspace, issuer, subject) and
    /// store the grant's family for that user — all or nothing. `Ok(None)`: the `jti` was
    /// already used (nothing written). `Ok(Some(family))`: the stored family, `user_id` set.
    pub async fn redeem_assertion_grant(
        &self,
        assertion: &AssertionUse<'_>,
        mut family: FamilyRow,
    ) -> Result<Option<FamilyRow>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Forget what can no longer be replayed (expired assertions fail their `exp` check).
        sqlx::query("DELETE FROM oauth_assertion_jtis WHERE issuer = $1 AND expires_at < $2")
            .bind(assertion.issuer)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        let spent = sqlx::query(
            "INSERT INTO oauth_assertion_jtis (issuer, jti, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (issuer, jti) DO NOTHING",
        )
        .bind(assertion.issuer)
        .bind(assertion.jti)
        .bind(assertion.remember_until_ms)
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        family.user_id = upsert_as_user_on(
            &mut tx,
            &family.workspace_id,
            assertion.issuer,
            assertion.subject,
        )
        .await?;
        insert_token_family(&mut tx, &family).await?;
        tx.commit().await?;
        Ok(Some(family))
    }
}
