//! Encryption at rest on both databases, in the store: a flipped bit, a ciphertext moved to
//! another row and a wrong key each fail loudly; after a rotation old rows stay readable and
//! re-encryption moves every row to the new key. (Through the HTTP API: `broker/tests/encryption.rs`.)

use nexus_protocol::{ConnectionStatus, Credentials};
use nexus_vault::crypto::{CryptoError, MasterKey, Sealer, sealed_key_id};
use nexus_vault::store::connections::NewConnection;
use nexus_vault::store::{Store, StoreError};
use nexus_vault::testing::{all_dbs, raw_pool, test_vault};
use sqlx::Row;
use std::sync::Arc;

async fn seeded_store(url: &str, vault: Arc<Sealer>) -> (Store, String, String) {
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
                bound_to_mcp_user: false,
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
        let (store, a, b) = seeded_store(&db.url, test_vault()).await;
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
        let stranger = Store::connect(&db.url, test_vault()).await.unwrap();
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
        let vault = test_vault();
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
