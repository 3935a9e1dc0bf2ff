//! Audit retention (issue 20): pruning a chain up to a checkpoint's head keeps what remains
//! exactly verifiable from that head, on both databases. After a prune `verify` passes, an
//! edited remaining record still fails it, a moved or deleted anchor fails it, checkpoints
//! before and after the cut compare as they should, and a prune the log does not support
//! (no matching checkpoint, a tampered chain) deletes nothing.

use nexus_protocol::audit::{AuditPruneRequest, ChainHead};
use nexus_vault::audit::prune;
use nexus_vault::store::Store;
use nexus_vault::testing::{all_dbs, append_issued, raw_pool, store_for};
use sqlx::Row;

async fn heads(store: &Store) -> Vec<ChainHead> {
    let (heads, ok) = store.audit_chain_heads().await.unwrap();
    assert!(ok);
    heads
}

fn request(chains: &[ChainHead]) -> AuditPruneRequest {
    AuditPruneRequest {
        chains: chains.to_vec(),
        workspace_id: None,
    }
}

async fn count(url: &str, chain: &str) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM audit_events WHERE chain = $1")
        .bind(chain)
        .fetch_one(&raw_pool(url).await)
        .await
        .unwrap()
        .try_get("n")
        .unwrap()
}

#[tokio::test]
async fn prune_then_verify_passes_and_tampering_with_what_remains_still_fails() {
    for db in all_dbs().await {
        let label = db.label;
        let store = store_for(&db).await;
        for i in 0..5 {
            append_issued(&store, "a", &format!("old-{i}")).await;
            append_issued(&store, "b", &format!("old-{i}")).await;
        }
        let checkpoint = heads(&store).await;
        for i in 0..3 {
            append_issued(&store, "a", &format!("new-{i}")).await;
        }
        let report = prune(&store, &request(&checkpoint)).await.unwrap();
        let a = report.chains.iter().find(|c| c.chain == "ws:a").unwrap();
        assert_eq!((a.deleted, a.pruned_total), (5, 5), "{label}");
        assert_eq!(
            count(&db.url, "ws:a").await,
            3,
            "{label}: newer records kept"
        );
        assert_eq!(count(&db.url, "ws:b").await, 0, "{label}");

        let verdict = store.verify_audit_chain(None).await.unwrap();
        assert!(verdict.ok, "{label}: {verdict:?}");
        assert_eq!(
            verdict.checked, 3,
            "{label}: only remaining records are read"
        );
        // Positions count the pruned records: heads after the prune extend the checkpoint.
        let after = heads(&store).await;
        let a_after = after.iter().find(|h| h.chain == "ws:a").unwrap();
        assert_eq!(a_after.records, 8, "{label}");
        for head in checkpoint.iter().chain(&after) {
            assert_eq!(
                store.check_chain_against(head).await.unwrap(),
                None,
                "{label}: {head:?}"
            );
        }
        // Pruning again with the same checkpoint is a no-op.
        let again = prune(&store, &request(&checkpoint)).await.unwrap();
        assert!(again.chains.iter().all(|c| c.deleted == 0), "{label}");

        // An edited remaining record still fails, and is found at its id.
        let pool = raw_pool(&db.url).await;
        let first: i64 = sqlx::query("SELECT MIN(id) AS id FROM audit_events WHERE chain = 'ws:a'")
            .fetch_one(&pool)
            .await
            .unwrap()
            .try_get("id")
            .unwrap();
        sqlx::query("UPDATE audit_events SET target = 'forged' WHERE id = $1")
            .bind(first)
            .execute(&pool)
            .await
            .unwrap();
        let verdict = store.verify_audit_chain(Some("a")).await.unwrap();
        assert!(!verdict.ok, "{label}: an edit after a prune went unnoticed");
        assert_eq!(verdict.first_broken_id, Some(first), "{label}");
    }
}

#[tokio::test]
async fn a_moved_or_deleted_anchor_fails_verify() {
    for db in all_dbs().await {
        let label = db.label;
        let store = store_for(&db).await;
        for i in 0..4 {
            append_issued(&store, "a", &i.to_string()).await;
        }
        let checkpoint = heads(&store).await;
        append_issued(&store, "a", "kept-1").await;
        append_issued(&store, "a", "kept-2").await;
        prune(&store, &request(&checkpoint)).await.unwrap();
        let pool = raw_pool(&db.url).await;

        // Hide the oldest remaining record: delete it and move the anchor onto it.
        let row = sqlx::query(
            "SELECT id, hash FROM audit_events WHERE chain = 'ws:a' ORDER BY id LIMIT 1",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        let (id, hash): (i64, String) = (row.try_get("id").unwrap(), row.try_get("hash").unwrap());
        sqlx::query("DELETE FROM audit_events WHERE id = $1")
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query(
            "UPDATE audit_chain_anchors SET anchor_id = $1, anchor_hash = $2, pruned = pruned + 1",
        )
        .bind(id)
        .bind(&hash)
        .execute(&pool)
        .await
        .unwrap();
        assert!(
            !store.verify_audit_chain(None).await.unwrap().ok,
            "{label}: a moved anchor verified"
        );

        sqlx::query("DELETE FROM audit_chain_anchors")
            .execute(&pool)
            .await
            .unwrap();
        assert!(
            !store.verify_audit_chain(None).await.unwrap().ok,
            "{label}: a deleted anchor verified"
        );
    }
}

#[tokio::test]
async fn a_prune_the_log_does_not_support_deletes_nothing() {
    for db in all_dbs().await {
        let label = db.label;
        let store = store_for(&db).await;
        for i in 0..4 {
            append_issued(&store, "a", &i.to_string()).await;
            append_issued(&store, "b", &i.to_string()).await;
        }
        let checkpoint = heads(&store).await;

        // A head that is not the chain's (not a checkpoint of this log): refused, whole.
        let mut forged = checkpoint.clone();
        let b = forged.iter_mut().find(|h| h.chain == "ws:b").unwrap();
        b.head_hash = "00".repeat(32);
        let err = prune(&store, &request(&forged)).await.unwrap_err();
        assert!(
            err.to_string().contains("does not hold this checkpoint"),
            "{label}: {err}"
        );
        assert_eq!(count(&db.url, "ws:a").await, 4, "{label}: half a prune");
        assert_eq!(count(&db.url, "ws:b").await, 4, "{label}");

        // A chain that was tampered with since the checkpoint: refused, nothing deleted.
        let pool = raw_pool(&db.url).await;
        sqlx::query("UPDATE audit_events SET target = 'x' WHERE chain = 'ws:b' AND target = '1'")
            .execute(&pool)
            .await
            .unwrap();
        let err = prune(&store, &request(&checkpoint)).await.unwrap_err();
        assert!(err.to_string().contains("ws:b"), "{label}: {err}");
        assert_eq!(count(&db.url, "ws:a").await, 4, "{label}: half a prune");

        // One workspace only: the other chains stay.
        let only_a = AuditPruneRequest {
            chains: checkpoint.clone(),
            workspace_id: Some("a".into()),
        };
        prune(&store, &only_a).await.unwrap();
        assert_eq!(count(&db.url, "ws:a").await, 0, "{label}");
        assert_eq!(count(&db.url, "ws:b").await, 4, "{label}");
        let none = AuditPruneRequest {
            chains: checkpoint.clone(),
            workspace_id: Some("zzz".into()),
        };
        assert!(prune(&store, &none).await.is_err(), "{label}");

        // A checkpoint older than the cut cannot be pruned to, nor checked against.
        append_issued(&store, "a", "later").await;
        let (newer, _) = store.audit_chain_heads().await.unwrap();
        let newer_a: Vec<ChainHead> = newer.into_iter().filter(|h| h.chain == "ws:a").collect();
        prune(&store, &request(&newer_a)).await.unwrap();
        let old_a: Vec<ChainHead> = checkpoint
            .iter()
            .filter(|h| h.chain == "ws:a")
            .cloned()
            .collect();
        assert!(prune(&store, &request(&old_a)).await.is_err(), "{label}");
        assert!(
            store
                .check_chain_against(&old_a[0])
                .await
                .unwrap()
                .is_some_and(|p| p.problem.contains("pruned past")),
            "{label}"
        );
    }
}
