//! The keyed audit chain (issue 14 items 5a and 13) on both databases: someone with write access
//! to the database who edits a record and recomputes the plain SHA-256 chain is detected; the
//! chain still verifies after `keys rotate`; the stored request id is the server's, unique, and
//! the client's `X-Request-Id` is kept apart, sanitised.

use nexus_vault::crypto::MasterKey;
use nexus_vault::store::Store;
use nexus_vault::store::audit::{AuditEvent, AuditQuery};
use nexus_vault::testing::{all_dbs, raw_pool, store_for};
use sha2::{Digest, Sha256};
use sqlx::Row;

fn event<'a>(ws: &'a str, target: &'a str, rid: Option<&'a str>) -> AuditEvent<'a> {
    AuditEvent {
        workspace_id: Some(ws),
        action: "token.issued",
        target: Some(target),
        principal: "api_key:k1",
        outcome: "ok",
        request_id: rid,
        detail: None,
    }
}

async fn verified(store: &Store) -> bool {
    store.verify_audit_chain(None).await.unwrap().ok
}

/// What an attacker without the key can do: edit a record, then recompute every link of the
/// chain as plain SHA-256 (the pre-keying form) and move the head.
async fn edit_and_rechain_plain(url: &str, chain: &str) {
    let pool = raw_pool(url).await;
    sqlx::query("UPDATE audit_events SET target = 'forged' WHERE id = (SELECT MIN(id) FROM audit_events WHERE chain = $1)")
        .bind(chain)
        .execute(&pool)
        .await
        .unwrap();
    let rows = sqlx::query("SELECT id, at, workspace_id, action, target, principal, outcome, client_request_id, detail FROM audit_events WHERE chain = $1 ORDER BY id")
        .bind(chain)
        .fetch_all(&pool)
        .await
        .unwrap();
    let mut prev = String::new();
    for r in &rows {
        let text = |c: &str| r.try_get::<Option<String>, _>(c).unwrap();
        let canonical = serde_json::json!([
            r.try_get::<i64, _>("at").unwrap(),
            text("workspace_id"),
            text("action"),
            text("target"),
            text("principal"),
            text("outcome"),
            text("client_request_id"),
            text("detail"),
            None::<String>,
            None::<String>,
            None::<String>
        ]);
        let mut h = Sha256::new();
        h.update(prev.as_bytes());
        h.update(canonical.to_string().as_bytes());
        let hash = hex::encode(h.finalize());
        sqlx::query(
            "UPDATE audit_events SET prev_hash = $1, hash = $2, mac_key = NULL WHERE id = $3",
        )
        .bind(&prev)
        .bind(&hash)
        .bind(r.try_get::<i64, _>("id").unwrap())
        .execute(&pool)
        .await
        .unwrap();
        prev = hash;
    }
    sqlx::query("UPDATE audit_chain_heads SET last_hash = $1 WHERE chain = $2")
        .bind(&prev)
        .bind(chain)
        .execute(&pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_edited_record_with_a_recomputed_plain_chain_is_detected() {
    for db in all_dbs().await {
        let store = store_for(&db).await;
        for target in ["github", "slack", "notion"] {
            store.audit(event("a", target, Some("r-1"))).await;
        }
        assert!(
            verified(&store).await,
            "{}: untouched chain verifies",
            db.label
        );
        edit_and_rechain_plain(&db.url, "ws:a").await;
        let verdict = store.verify_audit_chain(Some("a")).await.unwrap();
        assert!(
            !verdict.ok,
            "{}: a plain re-chain verified: {verdict:?}",
            db.label
        );
    }
}

#[tokio::test]
async fn the_chain_verifies_across_master_key_rotation() {
    for db in all_dbs().await {
        let store = store_for(&db).await;
        store.audit(event("a", "before", None)).await;
        store.sealer().rotate_to(MasterKey::generate()).unwrap();
        store.audit(event("a", "after", None)).await;
        assert!(
            verified(&store).await,
            "{}: rotation broke the chain",
            db.label
        );
    }
}

#[tokio::test]
async fn request_ids_are_the_servers_and_the_clients_value_is_kept_apart() {
    for db in all_dbs().await {
        let store = store_for(&db).await;
        let long = "x".repeat(500);
        for rid in [
            Some("same"),
            Some("same"),
            Some("bad id\u{7}\n"),
            Some(long.as_str()),
            None,
        ] {
            store.audit(event("a", "t", rid)).await;
        }
        let records = store
            .query_audit(&AuditQuery {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            records.len(),
            5,
            "{}: a duplicate client id lost a record",
            db.label
        );
        let mut ids: Vec<_> = records
            .iter()
            .map(|r| r.request_id.clone().unwrap())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 5, "{}: server request ids repeat", db.label);
        assert!(ids.iter().all(|id| id != "same"), "{}", db.label);
        let clients: Vec<_> = records
            .iter()
            .map(|r| r.client_request_id.clone())
            .collect();
        assert_eq!(
            clients
                .iter()
                .filter(|c| c.as_deref() == Some("same"))
                .count(),
            2
        );
        assert!(
            clients.contains(&Some("badid".to_owned())),
            "{}: {clients:?}",
            db.label
        );
        assert!(clients.contains(&Some("x".repeat(128))), "{}", db.label);
        assert!(clients.contains(&None));
        // The unique index holds even against a direct write.
        let pool = raw_pool(&db.url).await;
        let dup = sqlx::query("UPDATE audit_events SET request_id = $1")
            .bind(&ids[0])
            .execute(&pool)
            .await;
        assert!(dup.is_err(), "{}: request_id is not unique", db.label);
    }
}
