//! Workspace API keys. A key is `nxk_<key id>_<secret>`; only its SHA-256 is stored. Keys are
//! 256-bit random, so a plain hash is enough (no password stretching needed), and the id inside
//! the key finds the row without scanning.

use super::{Store, StoreError, now_ms, rfc3339, stored_id};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nexus_protocol::SecretString;
use sha2::{Digest, Sha256};
use sqlx::Row;
use subtle::ConstantTimeEq;

const KEY_PREFIX: &str = "nxk_";

pub use nexus_protocol::admin::{ApiKeyInfo, CreatedApiKey};

fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The key id inside a presented key, if it has the right shape (the id is not secret: it is
/// listed by `api-keys list`; the part after it is).
pub fn key_id_of(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !secret.is_empty())
        .then_some(id)
}

impl Store {
    pub async fn create_api_key(&self, workspace_id: &str) -> Result<CreatedApiKey, StoreError> {
        self.require_workspace(workspace_id).await?;
        let key_id = hex::encode(rand::random::<[u8; 8]>());
        let secret = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let key = SecretString::new(format!("{KEY_PREFIX}{key_id}_{secret}"));
        let now = now_ms();
        sqlx::query(
            "INSERT INTO api_keys (id, workspace_id, prefix, key_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key_id)
        .bind(workspace_id)
        .bind(format!("{KEY_PREFIX}{key_id}"))
        .bind(hash_key(key.expose()))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(CreatedApiKey {
            key_id,
            api_key: key,
            created_at: rfc3339(now),
        })
    }

    pub async fn list_api_keys(&self, workspace_id: &str) -> Result<Vec<ApiKeyInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, workspace_id, prefix, created_at, revoked_at FROM api_keys WHERE workspace_id = $1 ORDER BY created_at, id",
        )
        .bind(workspace_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ApiKeyInfo {
                    key_id: r.try_get("id")?,
                    workspace_id: stored_id(r.try_get("workspace_id")?)?,
                    prefix: r.try_get("prefix")?,
                    created_at: rfc3339(r.try_get("created_at")?),
                    revoked_at: r.try_get::<Option<i64>, _>("revoked_at")?.map(rfc3339),
                })
            })
            .collect()
    }

    /// Revoke; idempotent for an already-revoked key, `NotFound` for an unknown one.
    pub async fn revoke_api_key(&self, workspace_id: &str, key_id: &str) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE workspace_id = $2 AND id = $3",
        )
        .bind(now_ms())
        .bind(workspace_id)
        .bind(key_id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("api key `{key_id}`")));
        }
        Ok(())
    }

    /// `(workspace_id, key_id)` of a valid, unrevoked key; `None` for anything else.
    pub async fn verify_api_key(
        &self,
        key: &SecretString,
    ) -> Result<Option<(String, String)>, StoreError> {
        let Some(key_id) = key_id_of(key.expose()) else {
            return Ok(None);
        };
        let row =
            sqlx::query("SELECT workspace_id, key_hash, revoked_at FROM api_keys WHERE id = $1")
                .bind(key_id)
                .fetch_optional(&self.pool)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let stored: String = row.try_get("key_hash")?;
        let presented = hash_key(key.expose());
        let matches: bool = stored.as_bytes().ct_eq(presented.as_bytes()).into();
        let revoked: Option<i64> = row.try_get("revoked_at")?;
        if matches && revoked.is_none() {
            Ok(Some((row.try_get("workspace_id")?, key_id.to_owned())))
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_parsing_rejects_malformed_keys() {
        assert_eq!(
            key_id_of("nxk_0123456789abcdef_secret"),
            Some("0123456789abcdef")
        );
        assert_eq!(key_id_of("nxk_0123456789abcdef_"), None);
        assert_eq!(key_id_of("nxk_short_secret"), None);
        assert_eq!(key_id_of("other_0123456789abcdef_x"), None);
    }
}
