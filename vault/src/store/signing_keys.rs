//! Session signing keys (`signing_keys`): the private key sealed by the vault (AAD
//! `signing_keys / - / <kid> / private_key`), the public JWK in clear.

use super::{Store, StoreError, now_ms};
use crate::crypto::Aad;
use nexus_protocol::SecretString;
use sqlx::Row;

fn aad(kid: &str) -> Aad<'_> {
    Aad {
        table: "signing_keys",
        workspace: "-",
        row: kid,
        column: "private_key",
    }
}

/// The newest unretired key: its kid and its private key (PKCS#8 DER, base64).
pub struct SigningKeyRow {
    pub kid: String,
    pub private_der_b64: SecretString,
}

impl Store {
    pub async fn newest_signing_key(&self) -> Result<Option<SigningKeyRow>, StoreError> {
        let row = sqlx::query(
            "SELECT kid, private_key FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC, kid LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let kid: String = row.try_get("kid")?;
        let sealed: Vec<u8> = row.try_get("private_key")?;
        let der_b64 = self.sealer.open(&sealed, &aad(&kid))?;
        Ok(Some(SigningKeyRow {
            kid,
            private_der_b64: SecretString::new(der_b64),
        }))
    }

    pub async fn insert_signing_key(
        &self,
        kid: &str,
        algorithm: &str,
        private_der_b64: &str,
        public_jwk: &str,
    ) -> Result<(), StoreError> {
        let sealed = self.sealer.seal(private_der_b64, &aad(kid));
        sqlx::query(
            "INSERT INTO signing_keys (kid, algorithm, private_key, public_jwk, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(kid)
        .bind(algorithm)
        .bind(sealed)
        .bind(public_jwk)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// `(kid, public JWK text)` of every unretired key.
    pub async fn signing_public_keys(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query("SELECT kid, public_jwk FROM signing_keys WHERE retired_at IS NULL")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("kid")?, r.try_get("public_jwk")?)))
            .collect()
    }
}
