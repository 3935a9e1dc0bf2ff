//! Rows the authorization server's single-use tests stand on: a workspace, a resource, a user,
//! token families, and a raw pool to count what was stored.

use nexus_vault::store::oauth_grants::{CodeRow, FamilyRow};
use nexus_vault::store::{Store, now_ms};
use nexus_vault::testing::raw_pool;
use sqlx::Row;

pub const WS: &str = "w1";
pub const RESOURCE: &str = "r1";
pub const ISSUER: &str = "https://idp.example";
/// An expiry no test reaches.
pub const FAR: i64 = 99_999_999_999_999;

/// The single number `sql` selects.
pub async fn count(pool: &sqlx::AnyPool, sql: &str) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .try_get(0)
        .unwrap()
}

/// Workspace [`WS`], resource [`RESOURCE`] and a user of [`ISSUER`]: what codes and families
/// point at. Returns a plain pool on `url` to look at the rows, and the user's id.
pub async fn fixture(store: &Store, url: &str) -> (sqlx::AnyPool, String) {
    store
        .insert_workspaces_bulk(&[WS.to_owned()])
        .await
        .unwrap();
    let pool = raw_pool(url).await;
    // Straight into the table: these tests never look the resource up by its URI.
    sqlx::query(
        "INSERT INTO mcp_resources (id, workspace_id, resource_uri, name, scopes, default_scopes, \
         access_token_ttl_seconds, created_at) VALUES ($1, $2, 'https://mcp.example/a', 'mcp', \
         '[\"read\"]', '[\"read\"]', 600, 1)",
    )
    .bind(RESOURCE)
    .bind(WS)
    .execute(&pool)
    .await
    .unwrap();
    let user = store.upsert_as_user(WS, ISSUER, "alice").await.unwrap();
    (pool, user)
}

/// A live family `id` of `user_id` on [`RESOURCE`].
pub fn family(id: &str, user_id: &str) -> FamilyRow {
    let now = now_ms();
    FamilyRow {
        id: id.to_owned(),
        client_id: "c1".to_owned(),
        user_id: user_id.to_owned(),
        workspace_id: WS.to_owned(),
        resource_id: RESOURCE.to_owned(),
        scopes: vec!["read".to_owned()],
        agent_id: None,
        auth_time: now / 1000,
        last_used_at: now,
        expires_at: FAR,
        revoked_at: None,
    }
}

/// An unspent authorization code of `user_id` for client `c1` on [`RESOURCE`].
pub fn code_row(user_id: &str) -> CodeRow {
    CodeRow {
        client_id: "c1".to_owned(),
        redirect_uri: "http://127.0.0.1/cb".to_owned(),
        code_challenge: "challenge".to_owned(),
        resource_id: RESOURCE.to_owned(),
        workspace_id: WS.to_owned(),
        scopes: vec!["read".to_owned()],
        user_id: user_id.to_owned(),
        auth_time: 1,
        expires_at: FAR,
    }
}
