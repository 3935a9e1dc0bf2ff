//! Encryption at rest on both databases: the raw database holds no plaintext secret; a flipped
//! bit, a ciphertext moved to another row and a wrong key each fail loudly; rotation re-seals
//! every row while the broker keeps serving, and old rows stay readable until then.

mod common;

use common::{TestBroker, all_dbs, test_config, testkit_provider};
use nexus_broker::crypto::{CryptoError, Keyring, MasterKey, Vault, sealed_key_id};
use nexus_broker::store::connections::NewConnection;
use nexus_broker::store::{Store, StoreError};
use nexus_protocol::{ConnectionStatus, Credentials};
use nexus_testkit::{OAuthServer, OAuthServerOptions};
use reqwest::Method;
use serde_json::json;
use sqlx::Row;
use std::sync::Arc;

const CLIENT_SECRET: &str = "CLIENT-SECRET-MARKER-7f3a";
const API_KEY: &str = "API-KEY-MARKER-91bc";

async fn raw_pool(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(url).await.expect("raw connection")
}

/// Everything the database holds, as text: every row of every table (PostgreSQL renders BYTEA
/// as hex, so hex-encoded markers are searched too), or the SQLite file and its WAL.
async fn raw_dump(label: &str, url: &str) -> String {
    if label == "sqlite" {
        let path = url
            .trim_start_matches("sqlite://")
            .split('?')
            .next()
            .unwrap_or_default()
            .to_owned();
        let mut bytes = std::fs::read(&path).unwrap_or_default();
        bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    let pool = raw_pool(url).await;
    let mut out = String::new();
    for table in [
        "workspaces",
        "api_keys",
        "providers",
        "connections",
        "pending_authorizations",
        "audit_events",
        "encryption_keys",
    ] {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT CAST(t AS TEXT) AS r FROM {table} t"
        )))
        .fetch_all(&pool)
        .await
        .expect("dump");
        for row in rows {
            out.push_str(&row.try_get::<String, _>("r").unwrap_or_default());
            out.push('\n');
        }
    }
    out
}

fn contains_secret(dump: &str, secret: &str) -> bool {
    dump.contains(secret) || dump.contains(&hex::encode(secret))
}

#[tokio::test]
async fn the_raw_database_holds_no_plaintext_secret() {
    for db in all_dbs().await {
        let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
        let b = TestBroker::start(test_config(&db.url)).await;
        b.create_workspace("w1").await;
        let mut spec = testkit_provider(&oauth, "testprov");
        b.put_provider(spec.clone()).await;
        spec["name"] = json!("other");
        spec["client_secret"] = json!(CLIENT_SECRET);
        b.put_provider(spec).await;
        b.put_provider(json!({"name": "stripe", "auth_type": "api_key"}))
            .await;
        let (_, refresh) = oauth.issue_tokens_directly(["read"]);
        b.import_refresh_token("w1", "testprov", &refresh).await;
        let (status, _) = TestBroker::send(
            b.admin(Method::POST, "/admin/v1/workspaces/w1/connections/import")
                .json(&json!({"provider_name": "stripe", "kind": "api_key", "secret": API_KEY})),
        )
        .await;
        assert_eq!(status, 201);
        let (_, key) =
            TestBroker::send(b.admin(Method::POST, "/admin/v1/workspaces/w1/api-keys")).await;
        let (status, r) = b.resolve("w1", "testprov", json!({})).await;
        assert_eq!(status, 200, "{r}");
        let access = r["access_token"].as_str().unwrap().to_owned();
        // The refresh token now stored is the rotated one; find it via the provider's view.
        let dump = raw_dump(db.label, &db.url).await;
        assert!(!dump.is_empty(), "{}: nothing dumped", db.label);
        assert!(
            dump.contains("testprov"),
            "{}: the dump does not contain the data at all",
            db.label
        );
        for (what, secret) in [
            ("client secret", CLIENT_SECRET.to_owned()),
            ("testkit client secret", oauth.client_secret()),
            ("api key credential", API_KEY.to_owned()),
            ("imported refresh token", refresh.clone()),
            ("access token", access.clone()),
            (
                "workspace API key",
                key["api_key"].as_str().unwrap().to_owned(),
            ),
        ] {
            assert!(
                !contains_secret(&dump, &secret),
                "{}: the raw database contains the {what}",
                db.label
            );
        }
    }
}

async fn seeded_store(url: &str, vault: Arc<Vault>) -> (Store, String, String) {
    let store = Store::connect(url, vault).await.expect("store");
    store.create_workspace("w1", None).await.expect("workspace");
    let mut ids = Vec::new();
    for value in ["first-secret", "second-secret"] {
        let mut creds = Credentials::default();
        creds.insert("api_key", value);
        let row = store
            .insert_connection(NewConnection {
                workspace_id: "w1",
                provider_name: "stripe",
                user_id: None,
                status: ConnectionStatus::Active,
                scopes: &[],
                tokens: None,
                credentials: Some(&creds),
            })
            .await
            .expect("insert");
        ids.push(row.id);
    }
    (store, ids[0].clone(), ids[1].clone())
}

fn is_integrity(e: &StoreError) -> bool {
    matches!(e, StoreError::Crypto(CryptoError::Integrity(_)))
}

#[tokio::test]
async fn tampering_and_wrong_keys_fail_loudly() {
    for db in all_dbs().await {
        let l = db.label;
        let (store, a, b) = seeded_store(&db.url, common::test_vault()).await;
        let raw = raw_pool(&db.url).await;

        // A ciphertext copied into another row.
        sqlx::query("UPDATE connections SET credentials = (SELECT credentials FROM connections WHERE id = $1) WHERE id = $2")
            .bind(&a)
            .bind(&b)
            .execute(&raw)
            .await
            .unwrap();
        let row_b = store.get_connection("w1", &b).await.unwrap().unwrap();
        let err = store.open_credentials(&row_b).unwrap_err();
        assert!(is_integrity(&err), "{l}: swapped ciphertext opened: {err}");
        assert!(
            !err.to_string().contains("first-secret"),
            "{l}: error message leaks the secret"
        );

        // A flipped bit.
        let sealed: Vec<u8> = sqlx::query("SELECT credentials FROM connections WHERE id = $1")
            .bind(&a)
            .fetch_one(&raw)
            .await
            .unwrap()
            .get("credentials");
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x01;
        sqlx::query("UPDATE connections SET credentials = $1 WHERE id = $2")
            .bind(flipped)
            .bind(&a)
            .execute(&raw)
            .await
            .unwrap();
        let row_a = store.get_connection("w1", &a).await.unwrap().unwrap();
        assert!(
            is_integrity(&store.open_credentials(&row_a).unwrap_err()),
            "{l}: flipped bit opened"
        );
        sqlx::query("UPDATE connections SET credentials = $1 WHERE id = $2")
            .bind(sealed)
            .bind(&a)
            .execute(&raw)
            .await
            .unwrap();
        let row_a = store.get_connection("w1", &a).await.unwrap().unwrap();
        assert!(
            store.open_credentials(&row_a).is_ok(),
            "{l}: the original must open again"
        );

        // Another key.
        let stranger = Store::connect(&db.url, common::test_vault()).await.unwrap();
        let err = stranger.open_credentials(&row_a).unwrap_err();
        assert!(
            matches!(err, StoreError::Crypto(CryptoError::UnknownKey(_))),
            "{l}: {err}"
        );
    }
}

#[tokio::test]
async fn old_rows_read_after_rotation_and_reencryption_moves_them() {
    for db in all_dbs().await {
        let vault = common::test_vault();
        let (store, a, _) = seeded_store(&db.url, vault.clone()).await;
        let old = vault.active_id();
        vault.rotate_to(MasterKey::generate()).unwrap();
        let row = store.get_connection("w1", &a).await.unwrap().unwrap();
        assert_eq!(
            store
                .open_credentials(&row)
                .unwrap()
                .unwrap()
                .get_str("api_key")
                .as_deref(),
            Some("first-secret")
        );
        assert_eq!(store.reencrypt_all().await.unwrap(), 2, "{}", db.label);
        assert_eq!(
            store.reencrypt_all().await.unwrap(),
            0,
            "{}: second pass must find nothing",
            db.label
        );
        let raw = raw_pool(&db.url).await;
        for r in sqlx::query("SELECT credentials FROM connections")
            .fetch_all(&raw)
            .await
            .unwrap()
        {
            let sealed: Vec<u8> = r.get("credentials");
            assert_ne!(sealed_key_id(&sealed).unwrap(), old);
            assert_eq!(sealed_key_id(&sealed).unwrap(), vault.active_id());
        }
        let row = store.get_connection("w1", &a).await.unwrap().unwrap();
        assert!(store.open_credentials(&row).is_ok());
    }
}

/// Rotation through the admin API with a keyring file, while resolves keep being served; a
/// broker restarted from the file reads everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_rotation_through_the_admin_api() {
    for db in all_dbs().await {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("keyring.json");
        Keyring::single(MasterKey::generate())
            .save_file(&key_file)
            .unwrap();
        let config = || {
            let mut c = test_config(&db.url);
            c.keyring = None;
            c.master_key_file = Some(key_file.clone());
            c
        };
        let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
        let b = TestBroker::start(config()).await;
        b.create_workspace("w1").await;
        b.put_provider(testkit_provider(&oauth, "testprov")).await;
        let (_, refresh) = oauth.issue_tokens_directly(["read"]);
        b.import_refresh_token("w1", "testprov", &refresh).await;
        let (status, _) = b.resolve("w1", "testprov", json!({})).await;
        assert_eq!(status, 200);

        // Resolves in parallel with the rotation.
        let serving =
            futures::future::join_all((0..20).map(|_| b.resolve("w1", "testprov", json!({}))));
        let rotate = TestBroker::send(b.admin(Method::POST, "/admin/v1/keys/rotate"));
        let (results, (status, rotated)) = tokio::join!(serving, rotate);
        assert_eq!(status, 200, "{rotated}");
        assert!(
            results.iter().all(|(s, _)| *s == 200),
            "{}: a resolve failed during rotation",
            db.label
        );
        // client secret + access token + refresh token
        assert_eq!(rotated["reencrypted"], json!(3), "{}: {rotated}", db.label);
        let new_id = rotated["active_key_id"].as_str().unwrap().to_owned();
        let ring = Keyring::load_file(&key_file).unwrap();
        assert_eq!(ring.active_id(), new_id);
        assert_eq!(
            ring.key_ids().count(),
            2,
            "the old key stays for decryption"
        );

        // An explicit key.
        let explicit = MasterKey::generate();
        let (status, again) = TestBroker::send(
            b.admin(Method::POST, "/admin/v1/keys/rotate")
                .json(&json!({"new_key": explicit.to_base64()})),
        )
        .await;
        assert_eq!(
            (status, again["active_key_id"].as_str()),
            (200, Some(explicit.id()))
        );
        drop(b);

        let restarted = TestBroker::start(config()).await;
        let (status, r) = restarted
            .resolve("w1", "testprov", json!({"force_refresh": true}))
            .await;
        assert_eq!(
            status, 200,
            "{}: restarted broker cannot read rotated rows: {r}",
            db.label
        );
    }
}
