//! Provider rows: the validated spec as JSON plus the sealed client secret.

use super::{Store, StoreError, is_unique_violation, now_ms, rfc3339};
use crate::crypto::Aad;
use crate::providers::Provider;
use nexus_protocol::SecretString;
use sqlx::Row;
use subtle::ConstantTimeEq;

pub use crate::providers::StoredProvider;

fn secret_aad(provider_id: &str) -> Aad<'_> {
    Aad {
        table: "providers",
        workspace: "-",
        row: provider_id,
        column: "client_secret",
    }
}

/// What an upsert changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    Created,
    Updated,
    Unchanged,
}

impl Store {
    /// Create or replace the provider named `provider.name`. The row id stays stable across
    /// replacements (it is part of the secret's associated data).
    pub async fn upsert_provider(
        &self,
        provider: &Provider,
        secret: Option<&SecretString>,
        dry_run: bool,
    ) -> Result<UpsertOutcome, StoreError> {
        let spec =
            serde_json::to_string(provider).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        match self.get_provider(&provider.name).await? {
            Some(existing) => {
                let same_secret = self.secret_matches(&existing, secret).await?;
                if existing.provider == *provider && same_secret {
                    return Ok(UpsertOutcome::Unchanged);
                }
                if !dry_run {
                    let sealed =
                        secret.map(|s| self.sealer.seal(s.expose(), &secret_aad(&existing.id)));
                    sqlx::query("UPDATE providers SET kind = $1, spec = $2, client_secret = $3, updated_at = $4 WHERE id = $5")
                        .bind(&provider.auth_type)
                        .bind(&spec)
                        .bind(sealed)
                        .bind(now_ms())
                        .bind(&existing.id)
                        .execute(&self.pool)
                        .await?;
                }
                Ok(UpsertOutcome::Updated)
            }
            None => {
                if dry_run {
                    return Ok(UpsertOutcome::Created);
                }
                let id = uuid::Uuid::new_v4().to_string();
                let sealed = secret.map(|s| self.sealer.seal(s.expose(), &secret_aad(&id)));
                let now = now_ms();
                let inserted = sqlx::query(
                    "INSERT INTO providers (id, name, kind, spec, client_secret, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
                )
                .bind(&id)
                .bind(&provider.name)
                .bind(&provider.auth_type)
                .bind(&spec)
                .bind(sealed)
                .bind(now)
                .execute(&self.pool)
                .await;
                match inserted {
                    Ok(_) => Ok(UpsertOutcome::Created),
                    // Another broker created it at the same moment: replace theirs.
                    Err(e) if is_unique_violation(&e) => {
                        Box::pin(self.upsert_provider(provider, secret, false)).await
                    }
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    async fn secret_matches(
        &self,
        existing: &StoredProvider,
        secret: Option<&SecretString>,
    ) -> Result<bool, StoreError> {
        let stored = self.provider_client_secret(&existing.provider.name).await?;
        Ok(match (stored, secret) {
            (None, None) => true,
            (Some(a), Some(b)) => a.expose().as_bytes().ct_eq(b.expose().as_bytes()).into(),
            _ => false,
        })
    }

    pub async fn get_provider(&self, name: &str) -> Result<Option<StoredProvider>, StoreError> {
        let row = sqlx::query(
            "SELECT id, spec, client_secret IS NOT NULL AS has_secret, created_at, updated_at FROM providers WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| provider_from_row(&r)).transpose()
    }

    pub async fn list_providers(&self) -> Result<Vec<StoredProvider>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, spec, client_secret IS NOT NULL AS has_secret, created_at, updated_at FROM providers ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(provider_from_row).collect()
    }

    pub async fn delete_provider(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM providers WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The provider's client secret, read fresh from the database on every use so a rotated
    /// secret takes effect on the next refresh without a restart.
    pub async fn provider_client_secret(
        &self,
        name: &str,
    ) -> Result<Option<SecretString>, StoreError> {
        let row = sqlx::query("SELECT id, client_secret FROM providers WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let id: String = row.try_get("id")?;
        let sealed: Option<Vec<u8>> = row.try_get("client_secret")?;
        match sealed {
            Some(bytes) => Ok(Some(SecretString::new(
                self.sealer.open(&bytes, &secret_aad(&id))?,
            ))),
            None => Ok(None),
        }
    }
}

fn provider_from_row(r: &sqlx::any::AnyRow) -> Result<StoredProvider, StoreError> {
    provider_from_columns(r, &ProviderColumns::PLAIN)
}

/// The names of a provider's columns in a row: the table's own, or aliased when joined with
/// another table (`p_…`, the resolve lookup). Constants, so no name is built per row.
pub(crate) struct ProviderColumns {
    pub id: &'static str,
    pub spec: &'static str,
    pub has_secret: &'static str,
    pub created_at: &'static str,
    pub updated_at: &'static str,
}

impl ProviderColumns {
    pub(crate) const PLAIN: Self = Self {
        id: "id",
        spec: "spec",
        has_secret: "has_secret",
        created_at: "created_at",
        updated_at: "updated_at",
    };
    pub(crate) const JOINED: Self = Self {
        id: "p_id",
        spec: "p_spec",
        has_secret: "p_has_secret",
        created_at: "p_created_at",
        updated_at: "p_updated_at",
    };
}

/// A provider from its columns named by `columns` in `r`.
pub(crate) fn provider_from_columns<R>(
    r: &R,
    columns: &ProviderColumns,
) -> Result<StoredProvider, StoreError>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let has_secret: bool = match r.try_get::<bool, _>(columns.has_secret) {
        Ok(b) => b,
        // SQLite reports the comparison as an integer.
        Err(_) => r.try_get::<i64, _>(columns.has_secret)? != 0,
    };
    provider_from_parts(
        r.try_get(columns.id)?,
        &r.try_get::<String, _>(columns.spec)?,
        has_secret,
        r.try_get(columns.created_at)?,
        r.try_get(columns.updated_at)?,
    )
}

/// A provider from its decoded column values.
pub(crate) fn provider_from_parts(
    id: String,
    spec: &str,
    has_client_secret: bool,
    created_at: i64,
    updated_at: i64,
) -> Result<StoredProvider, StoreError> {
    let provider: Provider = serde_json::from_str(spec)
        .map_err(|e| StoreError::Corrupt(format!("provider spec: {e}")))?;
    Ok(StoredProvider {
        id,
        provider,
        has_client_secret,
        created_at: rfc3339(created_at),
        updated_at: rfc3339(updated_at),
    })
}
