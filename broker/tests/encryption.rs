//! Encryption at rest on both databases, through the broker's API: the raw database holds no
//! plaintext secret; rotation re-seals every row while the broker keeps serving. (Tampering,
//! wrong keys and reading old rows, in the store itself: `vault/tests/encryption.rs`.)

mod common;

use common::{TestBroker, all_dbs, raw_pool, test_config, testkit_provider};
use nexus_broker::crypto::{Keyring, MasterKey};
use nexus_testkit::{OAuthServer, OAuthServerOptions};
use reqwest::Method;
use serde_json::json;
use sqlx::Row;

const CLIENT_SECRET: &str = "CLIENT-SECRET-MARKER-7f3a";
const API_KEY: &str = "API-KEY-MARKER-91bc";

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
