//! The people side of the authorization server: users, browser login sessions, pending
//! authorization requests (with their one-time CSRF token) and stored consents. Every random
//! value that a browser presents (session cookie, request id, CSRF token) is stored hashed.

use super::mcp_resources::{json_list, list_from};
use super::pending::state_hash as sha256_hex;
use super::{Store, StoreError, now_ms};
use sqlx::Row;

/// A validated authorization request, waiting for login and consent.
#[derive(Debug, Clone)]
pub struct AuthorizationRequestRow {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub code_challenge: String,
    pub resource_id: String,
    pub scopes: Vec<String>,
    pub prompt: Option<String>,
    pub workspace_id: String,
    pub expires_at: i64,
}

/// A live login session.
#[derive(Debug, Clone)]
pub struct LoginSession {
    pub workspace_id: String,
    pub user_id: String,
    pub auth_time: i64,
}

impl Store {
    /// The user (`usr_…`) known by (`issuer`, `subject`) in `ws`, created on first login.
    pub async fn upsert_as_user(
        &self,
        ws: &str,
        issuer: &str,
        subject: &str,
    ) -> Result<String, StoreError> {
        let mut conn = self.pool.acquire().await?;
        upsert_as_user_on(&mut conn, ws, issuer, subject).await
    }

    pub async fn insert_login_session(
        &self,
        cookie: &str,
        session: &LoginSession,
        lifetime_ms: i64,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO as_login_sessions (id_hash, workspace_id, user_id, auth_time, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(sha256_hex(cookie))
        .bind(&session.workspace_id)
        .bind(&session.user_id)
        .bind(session.auth_time)
        .bind(now + lifetime_ms)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The unexpired login session of a cookie value.
    pub async fn login_session(&self, cookie: &str) -> Result<Option<LoginSession>, StoreError> {
        let row = sqlx::query(
            "SELECT workspace_id, user_id, auth_time FROM as_login_sessions WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(sha256_hex(cookie))
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(LoginSession {
                workspace_id: r.try_get("workspace_id")?,
                user_id: r.try_get("user_id")?,
                auth_time: r.try_get("auth_time")?,
            })
        })
        .transpose()
    }

    pub async fn insert_authorization_request(
        &self,
        request_id: &str,
        r: &AuthorizationRequestRow,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oauth_authorization_requests (id_hash, client_id, redirect_uri, state, code_challenge, \
             resource_id, scopes, prompt, workspace_id, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(sha256_hex(request_id))
        .bind(&r.client_id)
        .bind(&r.redirect_uri)
        .bind(&r.state)
        .bind(&r.code_challenge)
        .bind(&r.resource_id)
        .bind(json_list(&r.scopes))
        .bind(&r.prompt)
        .bind(&r.workspace_id)
        .bind(r.expires_at)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The unexpired request of `request_id`.
    pub async fn authorization_request(
        &self,
        request_id: &str,
    ) -> Result<Option<AuthorizationRequestRow>, StoreError> {
        let row = sqlx::query(
            "SELECT client_id, redirect_uri, state, code_challenge, resource_id, scopes, prompt, workspace_id, expires_at \
             FROM oauth_authorization_requests WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(sha256_hex(request_id))
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(AuthorizationRequestRow {
                client_id: r.try_get("client_id")?,
                redirect_uri: r.try_get("redirect_uri")?,
                state: r.try_get("state")?,
                code_challenge: r.try_get("code_challenge")?,
                resource_id: r.try_get("resource_id")?,
                scopes: list_from(&r.try_get::<String, _>("scopes")?, "scopes")?,
                prompt: r.try_get("prompt")?,
                workspace_id: r.try_get("workspace_id")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// Give the request a new CSRF token (each rendered form gets its own).
    pub async fn set_request_csrf(&self, request_id: &str, csrf: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE oauth_authorization_requests SET csrf_hash = $1 WHERE id_hash = $2")
            .bind(sha256_hex(csrf))
            .bind(sha256_hex(request_id))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Consume the request's CSRF token: true once for the right token, false otherwise. The
    /// comparison is of hashes inside the database, so it leaks nothing about the token.
    pub async fn take_request_csrf(
        &self,
        request_id: &str,
        csrf: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE oauth_authorization_requests SET csrf_hash = NULL WHERE id_hash = $1 AND csrf_hash = $2 AND expires_at > $3",
        )
        .bind(sha256_hex(request_id))
        .bind(sha256_hex(csrf))
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A request is answered once: delete it.
    pub async fn delete_authorization_request(&self, request_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM oauth_authorization_requests WHERE id_hash = $1")
            .bind(sha256_hex(request_id))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The scopes `user` already granted `client` for `resource`.
    pub async fn consent(
        &self,
        ws: &str,
        user: &str,
        client: &str,
        resource: &str,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let row = sqlx::query(
            "SELECT scopes FROM oauth_consents WHERE workspace_id = $1 AND user_id = $2 AND client_id = $3 AND resource_id = $4",
        )
        .bind(ws)
        .bind(user)
        .bind(client)
        .bind(resource)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| list_from(&r.try_get::<String, _>("scopes")?, "scopes"))
            .transpose()
    }

    pub async fn put_consent(
        &self,
        ws: &str,
        user: &str,
        client: &str,
        resource: &str,
        scopes: &[String],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oauth_consents (workspace_id, user_id, client_id, resource_id, scopes, granted_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (workspace_id, user_id, client_id, resource_id) \
             DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at",
        )
        .bind(ws)
        .bind(user)
        .bind(client)
        .bind(resource)
        .bind(json_list(scopes))
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// [`Store::upsert_as_user`] on a given connection (or inside a transaction: the JWT-bearer
/// grant creates the user together with its grant).
pub(super) async fn upsert_as_user_on(
    conn: &mut sqlx::AnyConnection,
    ws: &str,
    issuer: &str,
    subject: &str,
) -> Result<String, StoreError> {
    let id = format!("usr_{}", hex::encode(rand::random::<[u8; 8]>()));
    sqlx::query(
        "INSERT INTO as_users (id, workspace_id, idp_issuer, idp_subject, display_name, created_at) \
         VALUES ($1, $2, $3, $4, $4, $5) ON CONFLICT (workspace_id, idp_issuer, idp_subject) DO NOTHING",
    )
    .bind(&id)
    .bind(ws)
    .bind(issuer)
    .bind(subject)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    let row = sqlx::query(
        "SELECT id FROM as_users WHERE workspace_id = $1 AND idp_issuer = $2 AND idp_subject = $3",
    )
    .bind(ws)
    .bind(issuer)
    .bind(subject)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get("id")?)
}
