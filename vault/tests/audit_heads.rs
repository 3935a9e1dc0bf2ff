//! Appends by compare-and-set on a chain's head (PostgreSQL; SQLite runs the same scenarios on
//! its locking append): a process that does not know the head, or knows a stale one, reads it
//! without a lock and links after it; two processes racing on one chain never fork it.

use nexus_vault::store::Store;
use nexus_vault::store::audit::AuditQuery;
use nexus_vault::testing::{all_dbs, append_issued, store_for};

const CHAIN: &str = "w-raced";

async fn append(store: &Store, target: &str) {
    append_issued(store, CHAIN, target).await
}

/// The chain's records, oldest first, as (id, target).
async fn records(store: &Store) -> Vec<(i64, String)> {
    let mut records = store
        .query_audit(&AuditQuery {
            workspace_id: Some(CHAIN.into()),
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    records.reverse();
    records
        .into_iter()
        .map(|r| (r.id, r.target.unwrap()))
        .collect()
}

/// Two processes on one database append to one chain at the same moment, round after round:
/// every round one of them links to a head the other has just replaced. Its compare-and-set
/// must fail, and it must append after the real head instead — with a compare that did not
/// compare, both records of a round would link to the same predecessor and the chain would
/// fork (`verify` fails).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_racing_on_one_chain_never_fork_it() {
    const ROUNDS: usize = 60;
    for db in all_dbs().await {
        let first = store_for(&db).await;
        let second = Store::connect(&db.url, first.sealer().clone())
            .await
            .expect("second store");
        for round in 0..ROUNDS {
            let (a, b) = (format!("a{round}"), format!("b{round}"));
            tokio::join!(append(&first, &a), append(&second, &b));
        }
        let verdict = first.verify_audit_chain(Some(CHAIN)).await.unwrap();
        assert!(verdict.ok, "{}: {verdict:?}", db.label);
        assert_eq!(verdict.checked, 2 * ROUNDS as u64, "{}", db.label);
        let written = records(&first).await;
        assert_eq!(written.len(), 2 * ROUNDS, "{}", db.label);
        // Each process's records appear once each, in the order it appended them.
        for who in ["a", "b"] {
            let mine: Vec<_> = written
                .iter()
                .filter(|(_, t)| t.starts_with(who))
                .map(|(_, t)| t.clone())
                .collect();
            let expected: Vec<_> = (0..ROUNDS).map(|r| format!("{who}{r}")).collect();
            assert_eq!(mine, expected, "{}: {who}", db.label);
        }
        assert!(
            written.windows(2).all(|w| w[0].0 < w[1].0),
            "{}: chain order is id order",
            db.label
        );
    }
}

/// Two processes append the very first record of a chain at the same moment, chain after
/// chain: only one of them may create the chain's head row, the other must link after the
/// record it wrote — with a creation that did not check for an existing row, both records would
/// start the chain and it would fork.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_starting_one_chain_at_once_never_fork_it() {
    const CHAINS: usize = 30;
    for db in all_dbs().await {
        let first = store_for(&db).await;
        let second = Store::connect(&db.url, first.sealer().clone())
            .await
            .expect("second store");
        for c in 0..CHAINS {
            let ws = format!("w-new-{c}");
            let (a, b) = (format!("a{c}"), format!("b{c}"));
            tokio::join!(
                append_issued(&first, &ws, &a),
                append_issued(&second, &ws, &b)
            );
            let verdict = first.verify_audit_chain(Some(&ws)).await.unwrap();
            assert!(verdict.ok, "{}: {ws}: {verdict:?}", db.label);
            assert_eq!(verdict.checked, 2, "{}: {ws}", db.label);
        }
    }
}

/// Processes that start after the chain was written (a restart, another broker) know no head:
/// each reads it and appends after it, and the process that wrote before them, now holding a
/// stale head, still links after the real one.
#[tokio::test]
async fn processes_that_never_wrote_a_chain_append_after_its_real_head() {
    for db in all_dbs().await {
        let first = store_for(&db).await;
        append(&first, "s0").await;
        append(&first, "s1").await;
        let mut expected = vec!["s0".to_owned(), "s1".to_owned()];
        for k in 2..6 {
            // A fresh process each time: nothing remembered.
            let restarted = Store::connect(&db.url, first.sealer().clone())
                .await
                .expect("restarted store");
            let target = format!("s{k}");
            append(&restarted, &target).await;
            expected.push(target);
        }
        append(&first, "s6").await;
        expected.push("s6".into());
        let verdict = first.verify_audit_chain(Some(CHAIN)).await.unwrap();
        assert!(verdict.ok, "{}: {verdict:?}", db.label);
        assert_eq!(verdict.checked, expected.len() as u64, "{}", db.label);
        let targets: Vec<_> = records(&first).await.into_iter().map(|(_, t)| t).collect();
        assert_eq!(targets, expected, "{}", db.label);
    }
}
