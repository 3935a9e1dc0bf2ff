//! Appends by compare-and-set on a chain's head (PostgreSQL; SQLite runs the same scenarios on
//! its locking append): a process that does not know the head, or knows a stale one, reads it
//! without a lock and links after it; two processes racing on one chain never fork it.

use nexus_vault::store::audit::AuditQuery;
use nexus_vault::store::{AuditHeadStats, Store};
use nexus_vault::testing::{
    TestDb, all_dbs, another_process, append_issued, pg_db, raw_pool, store_for,
};

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

/// The chain verifies and holds exactly `expected` (targets, oldest first).
async fn assert_chain_holds(store: &Store, db: &TestDb, expected: &[String]) {
    let verdict = store.verify_audit_chain(Some(CHAIN)).await.unwrap();
    assert!(verdict.ok, "{}: {verdict:?}", db.label);
    assert_eq!(verdict.checked, expected.len() as u64, "{}", db.label);
    let targets: Vec<_> = records(store).await.into_iter().map(|(_, t)| t).collect();
    assert_eq!(targets, expected, "{}", db.label);
}

fn owned<const N: usize>(targets: [&str; N]) -> Vec<String> {
    targets.map(String::from).to_vec()
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
        let second = another_process(&first, &db).await;
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
        let second = another_process(&first, &db).await;
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
            let restarted = another_process(&first, &db).await;
            let target = format!("s{k}");
            append(&restarted, &target).await;
            expected.push(target);
        }
        append(&first, "s6").await;
        expected.push("s6".into());
        assert_chain_holds(&first, &db, &expected).await;
    }
}

/// What a store's appends by compare-and-set cost since `before` (PostgreSQL; all zero on
/// SQLite, which appends under its database lock).
fn since(store: &Store, before: AuditHeadStats) -> (u64, u64, u64) {
    let now = store.audit_head_stats();
    (
        now.head_reads - before.head_reads,
        now.statements - before.statements,
        now.locked - before.locked,
    )
}

/// (head reads, statements, locked appends) a PostgreSQL store is expected to spend; SQLite
/// spends none of them.
fn expected(db: &TestDb, pg: (u64, u64, u64)) -> (u64, u64, u64) {
    if db.label == "postgres" {
        pg
    } else {
        (0, 0, 0)
    }
}

/// Append `target` and check what it cost ([`expected`]).
async fn append_costing(store: &Store, db: &TestDb, target: &str, pg: (u64, u64, u64)) {
    let before = store.audit_head_stats();
    append(store, target).await;
    assert_eq!(
        since(store, before),
        expected(db, pg),
        "{}: {target}",
        db.label
    );
}

/// A store started on a database with chains loads their heads: its first append to such a
/// chain, and to a chain that had no head row, is one statement each, without reading the head
/// first (before the load, each cost a read and a statement).
#[tokio::test]
async fn a_store_started_on_existing_chains_appends_with_one_statement_each() {
    for db in all_dbs().await {
        let first = store_for(&db).await;
        append_issued(&first, "w-old", "o0").await;
        append_issued(&first, "w-old", "o1").await;
        let restarted = another_process(&first, &db).await;
        let before = restarted.audit_head_stats();
        append_issued(&restarted, "w-old", "o2").await;
        append_issued(&restarted, "w-fresh", "f0").await;
        assert_eq!(
            since(&restarted, before),
            expected(&db, (0, 2, 0)),
            "{}",
            db.label
        );
        for (chain, checked) in [("w-old", 3), ("w-fresh", 1)] {
            let verdict = first.verify_audit_chain(Some(chain)).await.unwrap();
            assert!(verdict.ok, "{}: {chain}: {verdict:?}", db.label);
            assert_eq!(verdict.checked, checked, "{}: {chain}", db.label);
        }
    }
}

/// A chain another process starts after this store loaded the heads looks like one without a
/// head row: this store's genesis statement must write nothing, and its append must then read
/// the real head and link after the other process's records — one read, two statements, no
/// lock. Taking the lost genesis for a success would drop the record; trying genesis again
/// without reading would end in the locking append.
#[tokio::test]
async fn a_chain_started_elsewhere_after_the_load_is_read_and_linked_after() {
    for db in all_dbs().await {
        let late = store_for(&db).await;
        let other = another_process(&late, &db).await;
        append(&other, "other0").await;
        append(&other, "other1").await;
        append_costing(&late, &db, "late0", (1, 2, 0)).await;
        assert_chain_holds(&late, &db, &owned(["other0", "other1", "late0"])).await;
    }
}

/// A chain this store forgot after losing a race (its head moved under it) is read before the
/// next statement, never taken for a chain without a head row, even though the store loaded
/// every head at start-up; once linked, its head is known again.
#[tokio::test]
async fn a_chain_forgotten_after_a_lost_race_is_read_not_started() {
    for db in all_dbs().await {
        let first = store_for(&db).await;
        append(&first, "a0").await;
        let second = another_process(&first, &db).await;
        append(&second, "b0").await;
        append_costing(&first, &db, "a1", (1, 2, 0)).await;
        append_costing(&first, &db, "a2", (0, 1, 0)).await;
        assert_chain_holds(&first, &db, &owned(["a0", "b0", "a1", "a2"])).await;
    }
}

/// With more head rows than a process remembers, the load is partial: a chain not loaded may
/// have a head row, so its first append reads first (and links after the real head).
#[tokio::test]
async fn a_load_of_more_heads_than_remembered_reads_chains_it_did_not_load() {
    let Some(db) = pg_db().await else { return };
    let first = store_for(&db).await;
    append(&first, "r0").await;
    // Head rows of chains without records, past the bound of 65,536 remembered chains.
    let raw = raw_pool(&db.url).await;
    sqlx::query(
        "INSERT INTO audit_chain_heads (chain, last_id, last_hash) \
         SELECT 'w-filler-' || n, 0, 'f' || n FROM generate_series(1, 65536) AS n",
    )
    .execute(&raw)
    .await
    .unwrap();
    let restarted = another_process(&first, &db).await;
    // Whether the scan left out this chain or another of the 65,537 is not said: read or not,
    // its append is one compare-and-set after the real head.
    let before = restarted.audit_head_stats();
    append(&restarted, "r1").await;
    let (reads, statements, locked) = since(&restarted, before);
    assert!(
        reads <= 1 && (statements, locked) == (1, 0),
        "{reads} {statements} {locked}"
    );
    // A chain without a head row is not taken for one: the load was partial.
    let before = restarted.audit_head_stats();
    append_issued(&restarted, "w-unseen", "u0").await;
    assert_eq!(since(&restarted, before), (1, 1, 0));
    let verdict = first.verify_audit_chain(Some(CHAIN)).await.unwrap();
    assert!(verdict.ok, "{verdict:?}");
    assert_eq!(verdict.checked, 2);
}
