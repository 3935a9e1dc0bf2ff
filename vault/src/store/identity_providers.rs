//! Trusted identity providers (`nexus idp add`) and the browser sign-ins started at them.
//!
//! A provider row holds what On-Behalf-Of needs (issuer, keys, audience) and, for browser
//! login, the OpenID Connect client (`login_client_id`, the secret sealed with AAD
//! `identity_providers/{ws}/{id}/login_client_secret`) and the console rule. The secret is read
//! only by [`Store::idp_login_secret`], never listed.
//!
//! `idp_login_flows`: one row per sign-in in progress, keyed by the SHA-256 of its `state`, taken
//! (deleted) by the callback, so a `state` works once.

use super::{Store, StoreError, now_ms, rfc3339, stored_id};
use crate::crypto::Aad;
use nexus_protocol::SecretString;
use nexus_protocol::admin::{ConsoleAccess, IdentityProvider};
use sqlx::Row;

const IDP_COLUMNS: &str = "id, workspace_id, issuer, jwks_url, audience, allow_id_jag, created_at, login_client_id, console_access, console_allow, groups_claim";

/// A provider to add (validated by the identity service).
pub struct NewIdentityProvider<'a> {
    pub issuer: &'a str,
    pub jwks_url: Option<&'a str>,
    pub audience: Option<&'a str>,
    pub allow_id_jag: bool,
    pub login_client_id: Option<&'a str>,
    pub login_client_secret: Option<&'a SecretString>,
    pub console: Option<&'a ConsoleAccess>,
}

/// A sign-in started at an identity provider, as stored.
pub struct NewLoginFlow<'a> {
    pub state_hash: &'a str,
    pub purpose: &'a str,
    pub workspace_id: &'a str,
    pub idp_id: &'a str,
    pub nonce: &'a str,
    pub binding_hash: &'a str,
    pub redirect_uri: &'a str,
    /// PKCE verifier and what to resume, sealed here.
    pub secret: &'a str,
    pub lifetime_ms: i64,
}

/// A sign-in taken back by its callback.
pub struct LoginFlow {
    pub purpose: String,
    pub workspace_id: String,
    pub idp_id: String,
    pub nonce: String,
    pub binding_hash: String,
    pub redirect_uri: String,
    pub secret: SecretString,
    pub expired: bool,
}

fn secret_aad<'a>(ws: &'a str, id: &'a str) -> Aad<'a> {
    Aad {
        table: "identity_providers",
        workspace: ws,
        row: id,
        column: "login_client_secret",
    }
}

fn flow_aad(state_hash: &str) -> Aad<'_> {
    Aad {
        table: "idp_login_flows",
        workspace: "-",
        row: state_hash,
        column: "sealed",
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct AllowLists {
    subjects: Vec<String>,
    emails: Vec<String>,
    groups: Vec<String>,
}

fn idp_from_row(r: &sqlx::any::AnyRow) -> Result<IdentityProvider, StoreError> {
    let console_access: i64 = r.try_get("console_access")?;
    let console = if console_access != 0 {
        let text: Option<String> = r.try_get("console_allow")?;
        let lists: AllowLists = serde_json::from_str(text.as_deref().unwrap_or("{}"))
            .map_err(|e| StoreError::Corrupt(format!("identity_providers.console_allow: {e}")))?;
        let claim: Option<String> = r.try_get("groups_claim")?;
        Some(ConsoleAccess {
            subjects: lists.subjects,
            emails: lists.emails,
            groups: lists.groups,
            groups_claim: claim.unwrap_or_else(|| "groups".to_owned()),
        })
    } else {
        None
    };
    Ok(IdentityProvider {
        id: stored_id(r.try_get("id")?)?,
        workspace_id: stored_id(r.try_get("workspace_id")?)?,
        issuer: r.try_get("issuer")?,
        jwks_url: r.try_get("jwks_url")?,
        audience: r.try_get("audience")?,
        allow_id_jag: r.try_get::<i64, _>("allow_id_jag")? != 0,
        created_at: rfc3339(r.try_get("created_at")?),
        login_client_id: r.try_get("login_client_id")?,
        console,
    })
}

impl Store {
    pub async fn add_identity_provider(
        &self,
        workspace_id: &str,
        issuer: &str,
        jwks_url: Option<&str>,
        audience: Option<&str>,
        allow_id_jag: bool,
    ) -> Result<IdentityProvider, StoreError> {
        self.insert_identity_provider(
            workspace_id,
            &NewIdentityProvider {
                issuer,
                jwks_url,
                audience,
                allow_id_jag,
                login_client_id: None,
                login_client_secret: None,
                console: None,
            },
        )
        .await
    }

    /// One INSERT: the provider with its login client and console rule, or nothing.
    pub async fn insert_identity_provider(
        &self,
        workspace_id: &str,
        p: &NewIdentityProvider<'_>,
    ) -> Result<IdentityProvider, StoreError> {
        self.require_workspace(workspace_id).await?;
        let id = format!("idp_{}", hex::encode(rand::random::<[u8; 8]>()));
        let now = now_ms();
        let sealed = p
            .login_client_secret
            .map(|s| self.sealer.seal(s.expose(), &secret_aad(workspace_id, &id)));
        let allow = p.console.map(|c| {
            serde_json::to_string(&AllowLists {
                subjects: c.subjects.clone(),
                emails: c.emails.clone(),
                groups: c.groups.clone(),
            })
            .unwrap_or_else(|_| "{}".into())
        });
        sqlx::query(
            "INSERT INTO identity_providers (id, workspace_id, issuer, jwks_url, audience, created_at, \
             login_client_id, login_client_secret, console_access, console_allow, groups_claim, allow_id_jag) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&id)
        .bind(workspace_id)
        .bind(p.issuer)
        .bind(p.jwks_url)
        .bind(p.audience)
        .bind(now)
        .bind(p.login_client_id)
        .bind(sealed)
        .bind(i64::from(p.console.is_some()))
        .bind(allow)
        .bind(p.console.map(|c| c.groups_claim.as_str()))
        .bind(i64::from(p.allow_id_jag))
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if crate::store::is_unique_violation(&e) {
                StoreError::Conflict(format!("identity provider for issuer `{}`", p.issuer))
            } else {
                e.into()
            }
        })?;
        Ok(IdentityProvider {
            id: stored_id(id)?,
            workspace_id: stored_id(workspace_id.to_owned())?,
            issuer: p.issuer.to_owned(),
            jwks_url: p.jwks_url.map(str::to_owned),
            audience: p.audience.map(str::to_owned),
            allow_id_jag: p.allow_id_jag,
            created_at: rfc3339(now),
            login_client_id: p.login_client_id.map(str::to_owned),
            console: p.console.cloned(),
        })
    }

    pub async fn list_identity_providers(
        &self,
        workspace_id: &str,
    ) -> Result<Vec<IdentityProvider>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {IDP_COLUMNS} FROM identity_providers WHERE workspace_id = $1 ORDER BY created_at, id"
        )))
        .bind(workspace_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(idp_from_row).collect()
    }

    /// Every provider operators may sign in to the console through, in all workspaces.
    pub async fn console_identity_providers(&self) -> Result<Vec<IdentityProvider>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {IDP_COLUMNS} FROM identity_providers WHERE console_access = 1 \
             AND login_client_id IS NOT NULL ORDER BY created_at, id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(idp_from_row).collect()
    }

    pub async fn identity_provider(
        &self,
        workspace_id: &str,
        id: &str,
    ) -> Result<Option<IdentityProvider>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {IDP_COLUMNS} FROM identity_providers WHERE workspace_id = $1 AND id = $2"
        )))
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(idp_from_row).transpose()
    }

    /// The provider by id alone (ids are globally unique): the console's sign-in names only it.
    pub async fn identity_provider_by_id(
        &self,
        id: &str,
    ) -> Result<Option<IdentityProvider>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {IDP_COLUMNS} FROM identity_providers WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(idp_from_row).transpose()
    }

    /// The login client's secret, opened (only for the token request at the provider).
    pub async fn idp_login_secret(
        &self,
        workspace_id: &str,
        id: &str,
    ) -> Result<Option<SecretString>, StoreError> {
        let row = sqlx::query(
            "SELECT login_client_secret FROM identity_providers WHERE workspace_id = $1 AND id = $2",
        )
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let sealed: Option<Vec<u8>> = row.try_get("login_client_secret")?;
        sealed
            .map(|s| {
                self.sealer
                    .open(&s, &secret_aad(workspace_id, id))
                    .map(SecretString::new)
                    .map_err(StoreError::from)
            })
            .transpose()
    }

    pub async fn delete_identity_provider(
        &self,
        workspace_id: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        let done =
            sqlx::query("DELETE FROM identity_providers WHERE workspace_id = $1 AND id = $2")
                .bind(workspace_id)
                .bind(id)
                .execute(&self.pool)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("identity provider `{id}`")));
        }
        Ok(())
    }

    // ---- sign-ins in progress ---------------------------------------------------------------

    pub async fn insert_login_flow(&self, f: &NewLoginFlow<'_>) -> Result<(), StoreError> {
        let now = now_ms();
        // Abandoned sign-ins go as new ones start (nothing else points at them).
        sqlx::query("DELETE FROM idp_login_flows WHERE expires_at < $1")
            .bind(now - 3600 * 1000)
            .execute(&self.pool)
            .await?;
        let sealed = self.sealer.seal(f.secret, &flow_aad(f.state_hash));
        sqlx::query(
            "INSERT INTO idp_login_flows (state_hash, purpose, workspace_id, idp_id, nonce, binding_hash, \
             redirect_uri, sealed, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(f.state_hash)
        .bind(f.purpose)
        .bind(f.workspace_id)
        .bind(f.idp_id)
        .bind(f.nonce)
        .bind(f.binding_hash)
        .bind(f.redirect_uri)
        .bind(sealed)
        .bind(now + f.lifetime_ms)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Take (delete) the flow of a `state`; `None` when there is none (unknown or used).
    pub async fn take_login_flow(&self, state_hash: &str) -> Result<Option<LoginFlow>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM idp_login_flows WHERE state_hash = $1 RETURNING purpose, workspace_id, idp_id, \
             nonce, binding_hash, redirect_uri, sealed, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let sealed: Vec<u8> = r.try_get("sealed")?;
        let expires_at: i64 = r.try_get("expires_at")?;
        Ok(Some(LoginFlow {
            purpose: r.try_get("purpose")?,
            workspace_id: r.try_get("workspace_id")?,
            idp_id: r.try_get("idp_id")?,
            nonce: r.try_get("nonce")?,
            binding_hash: r.try_get("binding_hash")?,
            redirect_uri: r.try_get("redirect_uri")?,
            secret: SecretString::new(self.sealer.open(&sealed, &flow_aad(state_hash))?),
            expired: expires_at <= now_ms(),
        }))
    }
}
