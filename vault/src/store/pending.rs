//! Pending authorizations: the one-time `state` of a connect flow, stored by its SHA-256 (a
//! database reader cannot replay a flow) with the sealed PKCE verifier.

use super::{Store, StoreError, now_ms};
use crate::crypto::Aad;
use nexus_protocol::SecretString;
use sha2::{Digest, Sha256};
use sqlx::Row;

const ABANDONED_AFTER_MS: i64 = 24 * 3600 * 1000;

pub struct NewPending<'a> {
    pub state: &'a SecretString,
    pub connection_id: &'a str,
    pub workspace_id: &'a str,
    pub provider_name: &'a str,
    pub code_verifier: Option<&'a SecretString>,
    pub nonce: Option<&'a str>,
    pub redirect_uri: &'a str,
    pub return_url: Option<&'a str>,
    pub scopes: &'a [String],
    pub lifetime_ms: i64,
}

/// A pending authorization taken (and deleted) by the callback.
#[derive(Debug)]
pub struct Pending {
    pub connection_id: String,
    pub workspace_id: String,
    pub provider_name: String,
    pub code_verifier: Option<SecretString>,
    pub nonce: Option<String>,
    pub redirect_uri: String,
    pub return_url: Option<String>,
    pub scopes: Vec<String>,
    pub expired: bool,
}

pub fn state_hash(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

fn verifier_aad(hash: &str) -> Aad<'_> {
    Aad {
        table: "pending_authorizations",
        workspace: "-",
        row: hash,
        column: "code_verifier",
    }
}

impl Store {
    pub async fn insert_pending(&self, p: NewPending<'_>) -> Result<(), StoreError> {
        self.sweep_abandoned_flows().await?;
        let hash = state_hash(p.state.expose());
        let sealed = p
            .code_verifier
            .map(|v| self.sealer.seal(v.expose(), &verifier_aad(&hash)));
        let now = now_ms();
        sqlx::query(
            "INSERT INTO pending_authorizations (state_hash, connection_id, workspace_id, provider_name, code_verifier, \
             nonce, redirect_uri, return_url, scopes, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&hash)
        .bind(p.connection_id)
        .bind(p.workspace_id)
        .bind(p.provider_name)
        .bind(sealed)
        .bind(p.nonce)
        .bind(p.redirect_uri)
        .bind(p.return_url)
        .bind(serde_json::to_string(p.scopes).unwrap_or_else(|_| "[]".into()))
        .bind(now + p.lifetime_ms)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Flows abandoned for more than a day: their connections become `failed` and the pending
    /// rows go. (Expired rows are kept that long so a late callback still reads "expired".)
    /// Matched on `(workspace_id, id)`: a join a sharded database keeps on each shard.
    async fn sweep_abandoned_flows(&self) -> Result<(), StoreError> {
        let cutoff = now_ms() - ABANDONED_AFTER_MS;
        sqlx::query(
            "UPDATE connections SET status = 'failed', last_error = 'authorization abandoned', updated_at = $1 \
             WHERE status = 'pending' AND (workspace_id, id) IN \
             (SELECT workspace_id, connection_id FROM pending_authorizations WHERE expires_at < $2)",
        )
        .bind(now_ms())
        .bind(cutoff)
        .execute(&self.pool)
        .await?;
        sqlx::query("DELETE FROM pending_authorizations WHERE expires_at < $1")
            .bind(cutoff)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Atomically take the pending authorization of `state` (one use only: a second callback
    /// with the same state finds nothing). Expired entries are returned with `expired` set.
    pub async fn take_pending(&self, state: &str) -> Result<Option<Pending>, StoreError> {
        let hash = state_hash(state);
        let row = sqlx::query(
            "DELETE FROM pending_authorizations WHERE state_hash = $1 RETURNING connection_id, workspace_id, provider_name, \
             code_verifier, nonce, redirect_uri, return_url, scopes, expires_at",
        )
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let sealed: Option<Vec<u8>> = r.try_get("code_verifier")?;
        let code_verifier = match sealed {
            Some(b) => Some(SecretString::new(
                self.sealer.open(&b, &verifier_aad(&hash))?,
            )),
            None => None,
        };
        let scopes: String = r.try_get("scopes")?;
        let expires_at: i64 = r.try_get("expires_at")?;
        Ok(Some(Pending {
            connection_id: r.try_get("connection_id")?,
            workspace_id: r.try_get("workspace_id")?,
            provider_name: r.try_get("provider_name")?,
            code_verifier,
            nonce: r.try_get("nonce")?,
            redirect_uri: r.try_get("redirect_uri")?,
            return_url: r.try_get("return_url")?,
            scopes: serde_json::from_str(&scopes).unwrap_or_default(),
            expired: expires_at < now_ms(),
        }))
    }

    /// Look at a pending authorization without consuming it (the static-credential form's GET).
    pub async fn peek_pending(
        &self,
        state: &str,
    ) -> Result<Option<(String, String, bool)>, StoreError> {
        let row = sqlx::query("SELECT workspace_id, provider_name, expires_at FROM pending_authorizations WHERE state_hash = $1")
            .bind(state_hash(state))
            .fetch_optional(&self.pool)
            .await?;
        let Some(r) = row else { return Ok(None) };
        let expires_at: i64 = r.try_get("expires_at")?;
        Ok(Some((
            r.try_get("workspace_id")?,
            r.try_get("provider_name")?,
            expires_at < now_ms(),
        )))
    }
}
