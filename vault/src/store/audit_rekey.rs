//! Keying the chains written before the audit chain was keyed (migration 0003), once.
//!
//! Records of the older plain SHA-256 chain can be recomputed by anyone with write access to
//! the database, so a verifier that accepted them would accept a rewritten history too. Instead,
//! when this process applies migration 0003, every chain whose plain links hold is re-linked
//! with the keyed HMAC (under the active master key) in one transaction; a chain that is already
//! broken is left as it is and reported (it then verifies as broken). Afterwards a plain record
//! never verifies. The trigger is the migration itself, which runs once: re-running it would
//! fail on the columns it adds, so the re-keying cannot be replayed to bless forged records.

use super::audit_chain::StoredRecord;
use super::{Store, StoreError};
use sqlx::Row;

impl Store {
    /// Whether migration `version` is recorded as applied (false on a fresh database).
    pub(super) async fn migration_applied(&self, version: i64) -> bool {
        sqlx::query("SELECT version FROM _sqlx_migrations WHERE version = $1 AND success = TRUE")
            .bind(version)
            .fetch_optional(&self.pool)
            .await
            .ok()
            .flatten()
            .is_some()
    }

    /// Re-link every chain that still has plain (unkeyed) records.
    pub(super) async fn rekey_plain_chains(&self) -> Result<(), StoreError> {
        let chains: Vec<String> = sqlx::query(
            "SELECT DISTINCT chain FROM audit_events WHERE chain <> '' AND mac_key IS NULL",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("chain"))
        .collect::<Result<_, _>>()?;
        for chain in chains {
            if !self.rekey_chain(&chain).await? {
                tracing::error!(
                    chain,
                    "audit chain was already broken before keying; left as is (verify reports it)"
                );
            }
        }
        Ok(())
    }

    /// `false` when the chain's plain links do not hold (nothing is changed then).
    async fn rekey_chain(&self, chain: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_locking().await?;
        let rows = sqlx::query(
            "SELECT id, at, workspace_id, action, target, principal, outcome, request_id, detail, prev_hash, hash, agent_id, session_id, user_subject, client_request_id, mac_key \
             FROM audit_events WHERE chain = $1 ORDER BY id",
        )
        .bind(chain)
        .fetch_all(&mut *tx)
        .await?;
        let mut plain_prev = String::new();
        let mut keyed_prev = String::new();
        let mut last_id = 0i64;
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let rec = StoredRecord::from_row(r)?;
            let plain = rec.plain_hash(chain, &plain_prev);
            if rec.mac_key.is_some() || !rec.links_to(chain, &plain_prev, &plain) {
                return Ok(false);
            }
            let (key_id, keyed) = self.keyed_hash(&rec, chain, &keyed_prev);
            sqlx::query(
                "UPDATE audit_events SET prev_hash = $1, hash = $2, mac_key = $3 WHERE chain = $4 AND id = $5",
            )
            .bind(&keyed_prev)
            .bind(&keyed)
            .bind(&key_id)
            .bind(chain)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            plain_prev = plain;
            keyed_prev = keyed;
            last_id = id;
        }
        let head = sqlx::query("SELECT last_id, last_hash FROM audit_chain_heads WHERE chain = $1")
            .bind(chain)
            .fetch_optional(&mut *tx)
            .await?;
        let head_holds = match &head {
            Some(h) => {
                h.try_get::<String, _>("last_hash")? == plain_prev
                    && h.try_get::<i64, _>("last_id")? == last_id
            }
            None => false,
        };
        if !head_holds {
            return Ok(false);
        }
        sqlx::query("UPDATE audit_chain_heads SET last_hash = $1 WHERE chain = $2")
            .bind(&keyed_prev)
            .bind(chain)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}
