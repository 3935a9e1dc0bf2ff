//! The keyed audit chain (issue 14 items 5a and 13) on both databases: someone with write access
//! to the database who edits a record and recomputes the plain SHA-256 chain is detected; the
//! chain still verifies after `keys rotate`; the stored request id is the server's, unique, and
//! the client's `X-Request-Id` is kept apart, sanitised.

mod common;

use common::migrate::migrated_to;
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

/// The label the chain's HMAC key is derived under (public: it is in the source).
const CHAIN_KEY_LABEL: &str = "nexus audit chain v1";

/// How an attacker re-links a record: `(hash, mac_key)` from the previous hash and the row.
type Relink<'a> = &'a dyn Fn(&str, &sqlx::any::AnyRow) -> (String, Option<String>);

fn text(r: &sqlx::any::AnyRow, c: &str) -> Option<String> {
    r.try_get::<Option<String>, _>(c).unwrap()
}

/// The plain SHA-256 link of the pre-keying chain (the client's request id, no chain or key).
fn plain_link(prev: &str, r: &sqlx::any::AnyRow) -> (String, Option<String>) {
    let canonical = serde_json::json!([
        r.try_get::<i64, _>("at").unwrap(),
        text(r, "workspace_id"),
        text(r, "action"),
        text(r, "target"),
        text(r, "principal"),
        text(r, "outcome"),
        text(r, "client_request_id"),
        text(r, "detail"),
        text(r, "agent_id"),
        text(r, "session_id"),
        text(r, "user_subject")
    ]);
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(canonical.to_string().as_bytes());
    (hex::encode(h.finalize()), None)
}

/// The keyed link, as the broker computes it, under `key` and naming master key `key_id`.
fn keyed_link(prev: &str, r: &sqlx::any::AnyRow, key: &[u8], key_id: &str) -> String {
    use hmac::{Hmac, Mac};
    let canonical = serde_json::json!([
        "v1",
        text(r, "chain"),
        r.try_get::<i64, _>("at").unwrap(),
        text(r, "workspace_id"),
        text(r, "action"),
        text(r, "target"),
        text(r, "principal"),
        text(r, "outcome"),
        text(r, "request_id"),
        text(r, "client_request_id"),
        text(r, "detail"),
        text(r, "agent_id"),
        text(r, "session_id"),
        text(r, "user_subject"),
        key_id
    ]);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    mac.update(prev.as_bytes());
    mac.update(canonical.to_string().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// What someone with write access to the database does: edit the first record of `chain`,
/// then recompute every link of the chain with `relink` and move the head.
async fn edit_and_rechain(url: &str, chain: &str, relink: Relink<'_>) {
    let pool = raw_pool(url).await;
    sqlx::query("UPDATE audit_events SET target = 'forged' WHERE id = (SELECT MIN(id) FROM audit_events WHERE chain = $1)")
        .bind(chain)
        .execute(&pool)
        .await
        .unwrap();
    let rows = sqlx::query("SELECT id, chain, at, workspace_id, action, target, principal, outcome, request_id, client_request_id, detail, agent_id, session_id, user_subject FROM audit_events WHERE chain = $1 ORDER BY id")
        .bind(chain)
        .fetch_all(&pool)
        .await
        .unwrap();
    let mut prev = String::new();
    for r in &rows {
        let (hash, mac_key) = relink(&prev, r);
        sqlx::query(
            "UPDATE audit_events SET prev_hash = $1, hash = $2, mac_key = $3 WHERE id = $4",
        )
        .bind(&prev)
        .bind(&hash)
        .bind(mac_key)
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
        edit_and_rechain(&db.url, "ws:a", &plain_link).await;
        let verdict = store.verify_audit_chain(Some("a")).await.unwrap();
        assert!(
            !verdict.ok,
            "{}: a plain re-chain verified: {verdict:?}",
            db.label
        );
    }
}

/// A chain re-linked with a key that is not the keyring's: one derived (with the public label)
/// from a master key of the attacker's, naming either the broker's active key or the attacker's.
#[tokio::test]
async fn a_chain_recomputed_with_a_wrong_key_is_detected() {
    for names_the_real_key in [true, false] {
        for db in all_dbs().await {
            let store = store_for(&db).await;
            for target in ["github", "slack", "notion"] {
                store.audit(event("a", target, Some("r-1"))).await;
            }
            let attacker = MasterKey::generate();
            let attacker_ring = nexus_vault::crypto::Keyring::single(attacker.clone());
            let key = attacker_ring
                .derive_key_from(attacker.id(), CHAIN_KEY_LABEL)
                .unwrap();
            let key_id = if names_the_real_key {
                store.sealer().active_id()
            } else {
                attacker.id().to_owned()
            };
            let relink = |prev: &str, r: &sqlx::any::AnyRow| {
                (keyed_link(prev, r, &key, &key_id), Some(key_id.clone()))
            };
            edit_and_rechain(&db.url, "ws:a", &relink).await;
            let verdict = store.verify_audit_chain(Some("a")).await.unwrap();
            assert!(
                !verdict.ok,
                "{} (names the real key: {names_the_real_key}): a re-chain under a wrong key verified: {verdict:?}",
                db.label
            );
        }
    }
}

/// Someone holding the master key *and* write access can re-link a chain that verifies: the
/// keyed chain cannot tell, which is what checkpoints kept outside the database are for.
#[tokio::test]
async fn a_rechain_with_the_keyring_key_is_caught_by_a_checkpoint() {
    for db in all_dbs().await {
        let store = store_for(&db).await;
        for target in ["github", "slack", "notion"] {
            store.audit(event("a", target, Some("r-1"))).await;
        }
        let (heads, ok) = store.audit_chain_heads().await.unwrap();
        assert!(ok, "{}", db.label);
        let checkpoint = heads.iter().find(|h| h.chain == "ws:a").unwrap().clone();
        assert_eq!(store.check_chain_against(&checkpoint).await.unwrap(), None);

        let key_id = store.sealer().active_id();
        let key = store
            .sealer()
            .derive_key_from(&key_id, CHAIN_KEY_LABEL)
            .unwrap();
        let relink = |prev: &str, r: &sqlx::any::AnyRow| {
            (keyed_link(prev, r, &key, &key_id), Some(key_id.clone()))
        };
        edit_and_rechain(&db.url, "ws:a", &relink).await;
        assert!(
            verified(&store).await,
            "{}: the test's keyed link is not the broker's (the re-chain should verify)",
            db.label
        );
        let problem = store.check_chain_against(&checkpoint).await.unwrap();
        assert!(
            problem.is_some(),
            "{}: the checkpoint missed a re-chain",
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

/// Three records in `chain` linked with the plain SHA-256 of the pre-keying broker (whose
/// `request_id` column held the client's id), and its head.
async fn plain_chain(pool: &sqlx::AnyPool, ws: &str) {
    let chain = format!("ws:{ws}");
    for (i, target) in ["github", "slack", "notion"].iter().enumerate() {
        sqlx::query("INSERT INTO audit_events (at, workspace_id, action, target, principal, outcome, request_id, chain) VALUES ($1, $2, 'token.issued', $3, 'api_key:k1', 'ok', 'r-1', $4)")
            .bind(1_700_000_000_000i64 + i as i64)
            .bind(ws)
            .bind(*target)
            .bind(&chain)
            .execute(pool)
            .await
            .unwrap();
    }
    let rows = sqlx::query("SELECT id, at, workspace_id, action, target, principal, outcome, request_id AS client_request_id, detail, agent_id, session_id, user_subject FROM audit_events WHERE chain = $1 ORDER BY id")
        .bind(&chain)
        .fetch_all(pool)
        .await
        .unwrap();
    let mut prev = String::new();
    let mut last_id = 0i64;
    for r in &rows {
        let (hash, _) = plain_link(&prev, r);
        last_id = r.try_get("id").unwrap();
        sqlx::query("UPDATE audit_events SET prev_hash = $1, hash = $2 WHERE id = $3")
            .bind(&prev)
            .bind(&hash)
            .bind(last_id)
            .execute(pool)
            .await
            .unwrap();
        prev = hash;
    }
    sqlx::query("INSERT INTO audit_chain_heads (chain, last_id, last_hash) VALUES ($1, $2, $3)")
        .bind(&chain)
        .bind(last_id)
        .bind(&prev)
        .execute(pool)
        .await
        .unwrap();
}

async fn unkeyed_records(pool: &sqlx::AnyPool, chain: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE chain = $1 AND mac_key IS NULL")
        .bind(chain)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The one-time re-keying when a database written before the keyed chain (migration 0003) is
/// opened: an intact plain chain is re-linked under the keyring and verifies, keeping the
/// client's request id apart; a chain already broken is left as it is and reported; and a
/// plain chain forged afterwards is not blessed by a later start.
#[tokio::test]
async fn chains_written_before_keying_are_rekeyed_once() {
    for db in all_dbs().await {
        let l = db.label;
        let pool = migrated_to(&db, 2).await;
        plain_chain(&pool, "a").await;
        plain_chain(&pool, "b").await;
        sqlx::query("UPDATE audit_events SET target = 'forged' WHERE id = (SELECT MIN(id) FROM audit_events WHERE chain = 'ws:b')")
            .execute(&pool)
            .await
            .unwrap();

        let sealer = nexus_vault::testing::test_vault();
        let store = Store::connect(&db.url, sealer.clone()).await.unwrap();
        let a = store.verify_audit_chain(Some("a")).await.unwrap();
        assert!(a.ok && a.checked == 3, "{l}: the intact chain: {a:?}");
        assert_eq!(unkeyed_records(&pool, "ws:a").await, 0, "{l}");
        let records = store
            .query_audit(&AuditQuery {
                workspace_id: Some("a".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(
            records
                .iter()
                .all(|r| r.client_request_id.as_deref() == Some("r-1")
                    && r.request_id
                        .as_deref()
                        .is_some_and(|id| id.starts_with("legacy-"))),
            "{l}: {records:?}"
        );
        let b = store.verify_audit_chain(Some("b")).await.unwrap();
        assert!(!b.ok, "{l}: a chain broken before keying verifies: {b:?}");
        assert_eq!(
            unkeyed_records(&pool, "ws:b").await,
            3,
            "{l}: left as it was"
        );

        // Someone repairs chain b in the plain form; the next start must not key it.
        edit_and_rechain(&db.url, "ws:b", &plain_link).await;
        drop(store);
        let store = Store::connect(&db.url, sealer).await.unwrap();
        let b = store.verify_audit_chain(Some("b")).await.unwrap();
        assert!(
            !b.ok,
            "{l}: a later start blessed a forged plain chain: {b:?}"
        );
        assert!(store.verify_audit_chain(Some("a")).await.unwrap().ok, "{l}");
    }
}
