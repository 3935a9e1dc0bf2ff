//! Test support (feature `testing`): a fresh database per test — a SQLite file always, and a
//! new PostgreSQL database when `NEXUS_TEST_DATABASE_URL` names a server — and a store on it.
//! Used by the vault's and the broker's integration tests.

use crate::crypto::{Keyring, MasterKey, Sealer};
use crate::store::Store;
use sqlx::Executor;
use std::sync::Arc;

/// A database for one test. Keeps its temp dir alive for SQLite.
pub struct TestDb {
    pub label: &'static str,
    pub url: String,
    pub _dir: Option<tempfile::TempDir>,
}

/// The PostgreSQL server URL, or `None` (with a note) when not configured. Fails when
/// `NEXUS_REQUIRE_PG=1` and it is missing.
pub fn pg_server_url() -> Option<String> {
    match std::env::var("NEXUS_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("NEXUS_REQUIRE_PG").as_deref() != Ok("1"),
                "NEXUS_REQUIRE_PG=1 but NEXUS_TEST_DATABASE_URL is unset"
            );
            eprintln!(
                "note: NEXUS_TEST_DATABASE_URL unset; skipping the PostgreSQL half of this test"
            );
            None
        }
    }
}

/// Create a fresh PostgreSQL database and return its URL.
pub async fn fresh_pg_url(server: &str) -> String {
    sqlx::any::install_default_drivers();
    let name = format!("nexus_broker_t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(server)
        .await
        .expect("connect to PostgreSQL");
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create database");
    let mut url = url::Url::parse(server).expect("server URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

pub fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("broker.db").display()
    );
    TestDb {
        label: "sqlite",
        url,
        _dir: Some(dir),
    }
}

/// A fresh PostgreSQL database when a server is configured.
pub async fn pg_db() -> Option<TestDb> {
    let server = pg_server_url()?;
    Some(TestDb {
        label: "postgres",
        url: fresh_pg_url(&server).await,
        _dir: None,
    })
}

/// SQLite always; PostgreSQL when configured.
pub async fn all_dbs() -> Vec<TestDb> {
    let mut dbs = vec![sqlite_db()];
    dbs.extend(pg_db().await);
    dbs
}

/// A vault configuration for tests and tools on `database_url`: a fresh key, no retries of
/// provider calls, a public URL nothing listens on.
pub fn vault_config(database_url: &str) -> crate::config::VaultConfig {
    use std::time::Duration;
    crate::config::VaultConfig {
        database_url: database_url.to_owned(),
        keyring: Some(Keyring::single(MasterKey::generate())),
        master_key_file: None,
        public_url: "http://127.0.0.1:9".into(),
        oauth_redirect_uri: None,
        providers_file: None,
        refresh_margin: Duration::from_secs(60),
        provider_timeout: Duration::from_secs(60),
        provider_retries: 0,
        provider_backoff: Duration::from_millis(10),
        pending_lifetime: Duration::from_secs(600),
        authorization_server: Default::default(),
        webhooks: Default::default(),
        database_max_connections: None,
        database_lookup_slots: None,
    }
}

pub fn test_vault() -> Arc<Sealer> {
    Arc::new(Sealer::new(Keyring::single(MasterKey::generate()), None))
}

pub async fn store_for(db: &TestDb) -> Store {
    Store::connect(&db.url, test_vault())
        .await
        .unwrap_or_else(|e| panic!("{}: connect: {e}", db.label))
}

/// Another store on `db` with `store`'s key: a second broker process, or the same one restarted
/// (nothing of `store`'s memory, such as the audit heads it knows, carries over).
pub async fn another_process(store: &Store, db: &TestDb) -> Store {
    Store::connect(&db.url, store.sealer().clone())
        .await
        .unwrap_or_else(|e| panic!("{}: another process: {e}", db.label))
}

/// Append one `token.issued` record by API key `k1` on `target` to `workspace`'s chain, and wait
/// until it is durable (the audit tests' unit of work).
pub async fn append_issued(store: &Store, workspace: &str, target: &str) {
    store
        .audit_required(crate::store::audit::AuditEvent {
            workspace_id: Some(workspace),
            action: "token.issued",
            target: Some(target),
            principal: "api_key:k1",
            outcome: "ok",
            request_id: None,
            detail: None,
        })
        .await
        .unwrap_or_else(|e| panic!("append {target}: {e}"));
}

/// A plain pool on the database, to look at (or tamper with) what the store wrote.
pub async fn raw_pool(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(url).await.expect("raw connection")
}

/// Sign `claims` exactly as the authorization server signs its access tokens, for tests that
/// need a token its token endpoint would not mint (already expired, not yet valid, …).
pub async fn sign_access_token(
    vault: &crate::Vault,
    claims: &nexus_protocol::oauth::AccessTokenClaims,
) -> String {
    vault
        .identity()
        .signer()
        .sign(vault.store(), claims)
        .await
        .expect("the signing key signs")
}
