//! Group commit of audit records (issue 20) on both databases: many concurrent appends from two
//! stores on one database (two broker processes) leave every chain verifiable, every record
//! present exactly once, and each caller's records in the order it appended them.

use nexus_vault::store::Store;
use nexus_vault::store::audit::{AuditEvent, AuditQuery};
use nexus_vault::testing::{all_dbs, another_process, store_for};
use std::collections::HashMap;

const TASKS: usize = 24;
const PER_TASK: usize = 20;
const WORKSPACES: [Option<&str>; 3] = [Some("w-a"), Some("w-b"), None];

/// Task `t` appends `PER_TASK` records, one after the other, to the chain of workspace
/// `t % 3`; its targets are `t<t>-<k>` so each record can be found again.
async fn append_all(store: Store, t: usize) {
    let ws = WORKSPACES[t % WORKSPACES.len()];
    for k in 0..PER_TASK {
        let target = format!("t{t}-{k}");
        store
            .audit(AuditEvent {
                workspace_id: ws,
                action: "token.issued",
                target: Some(&target),
                principal: "api_key:k1",
                outcome: "ok",
                request_id: Some(&target),
                detail: None,
            })
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_from_two_processes_keep_every_chain_exact() {
    for db in all_dbs().await {
        let first = store_for(&db).await;
        // A second pool with its own writer queues: another broker process on the same database.
        let second = another_process(&first, &db).await;
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let store = if t % 2 == 0 { &first } else { &second };
                tokio::spawn(append_all(store.clone(), t))
            })
            .collect();
        for task in tasks {
            task.await.expect("appending task");
        }

        let verdict = first.verify_audit_chain(None).await.unwrap();
        assert!(verdict.ok, "{}: {verdict:?}", db.label);
        assert_eq!(verdict.checked, (TASKS * PER_TASK) as u64, "{}", db.label);
        for ws in WORKSPACES.iter().flatten() {
            assert!(
                first.verify_audit_chain(Some(ws)).await.unwrap().ok,
                "{}: chain of {ws}",
                db.label
            );
        }

        let records = first
            .query_audit(&AuditQuery {
                limit: 10_000,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut by_target: HashMap<String, Vec<(i64, Option<String>)>> = HashMap::new();
        for r in records {
            let target = r.target.clone().expect("target");
            by_target
                .entry(target)
                .or_default()
                .push((r.id, r.workspace_id));
        }
        assert_eq!(by_target.len(), TASKS * PER_TASK, "{}", db.label);
        for t in 0..TASKS {
            let mut previous_id = 0;
            for k in 0..PER_TASK {
                let copies = &by_target[&format!("t{t}-{k}")];
                assert_eq!(copies.len(), 1, "{}: t{t}-{k} written once", db.label);
                let (id, ws) = &copies[0];
                assert_eq!(ws.as_deref(), WORKSPACES[t % WORKSPACES.len()]);
                assert!(
                    *id > previous_id,
                    "{}: task {t} appended {k} after {}, but it got an earlier id",
                    db.label,
                    k - 1
                );
                previous_id = *id;
            }
        }
    }
}

#[tokio::test]
async fn an_append_returns_only_after_its_record_is_committed() {
    for db in all_dbs().await {
        let store = store_for(&db).await;
        for k in 0..5 {
            let target = format!("r{k}");
            store
                .audit(AuditEvent {
                    workspace_id: Some("w"),
                    action: "token.issued",
                    target: Some(&target),
                    principal: "api_key:k1",
                    outcome: "ok",
                    request_id: None,
                    detail: None,
                })
                .await;
            // Read through another connection of the pool: the record is already visible.
            let seen = store
                .query_audit(&AuditQuery {
                    workspace_id: Some("w".into()),
                    limit: 1,
                    ..Default::default()
                })
                .await
                .unwrap();
            assert_eq!(
                seen[0].target.as_deref(),
                Some(target.as_str()),
                "{}",
                db.label
            );
        }
    }
}

/// A batch (a gateway's proxied calls) goes through the same chain queues: every record once,
/// each chain in the batch's order and verifiable, the call returning only once all of it is
/// committed. Each chain's share is longer than one PostgreSQL statement carries (512), so
/// the records span statements of one transaction.
#[tokio::test]
async fn a_batch_is_committed_whole_in_order_on_each_chain() {
    for db in all_dbs().await {
        let store = store_for(&db).await;
        let targets: Vec<String> = (0..1800).map(|k| format!("b{k}")).collect();
        let events: Vec<AuditEvent<'_>> = targets
            .iter()
            .enumerate()
            .map(|(k, target)| AuditEvent {
                workspace_id: Some(if k % 3 == 0 { "w-x" } else { "w-y" }),
                action: "proxy.request",
                target: Some(target),
                principal: "api_key:k1",
                outcome: "ok",
                request_id: None,
                detail: Some("{}"),
            })
            .collect();
        store
            .audit_all_required(&events)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", db.label));

        let records = store
            .query_audit(&AuditQuery {
                limit: 10_000,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(records.len(), targets.len(), "{}", db.label);
        for ws in ["w-x", "w-y"] {
            let verdict = store.verify_audit_chain(Some(ws)).await.unwrap();
            assert!(verdict.ok, "{}: {ws}: {verdict:?}", db.label);
            // Newest first: reversed, the chain's records are in the batch's order.
            let mut order: Vec<usize> = records
                .iter()
                .filter(|r| r.workspace_id.as_deref() == Some(ws))
                .map(|r| r.target.as_deref().unwrap()[1..].parse().unwrap())
                .collect();
            order.reverse();
            let expected: Vec<usize> = (0..targets.len())
                .filter(|k| (k % 3 == 0) == (ws == "w-x"))
                .collect();
            assert_eq!(order, expected, "{}: {ws}", db.label);
        }
    }
}

/// A process appends after the head it wrote last without reading it again (PostgreSQL); when
/// another process appended meanwhile, that append must notice, write nothing of its own guess
/// and link after the real head instead. Alternating two stores on one chain exercises both.
#[tokio::test]
async fn appends_after_another_process_moved_the_head_link_after_the_real_head() {
    for db in all_dbs().await {
        let first = store_for(&db).await;
        let second = another_process(&first, &db).await;
        // first, first (after its own head), second (moves it), first (stale), first, second…
        let order = [0, 0, 1, 0, 0, 1, 1, 0, 1, 0];
        for (k, who) in order.iter().enumerate() {
            let store = if *who == 0 { &first } else { &second };
            let target = format!("s{k}");
            store
                .audit_required(AuditEvent {
                    workspace_id: Some("w-shared"),
                    action: "token.issued",
                    target: Some(&target),
                    principal: "api_key:k1",
                    outcome: "ok",
                    request_id: None,
                    detail: None,
                })
                .await
                .unwrap_or_else(|e| panic!("{}: append {k}: {e}", db.label));
        }
        let verdict = first.verify_audit_chain(Some("w-shared")).await.unwrap();
        assert!(verdict.ok, "{}: {verdict:?}", db.label);
        assert_eq!(verdict.checked, order.len() as u64, "{}", db.label);
        let mut records = first
            .query_audit(&AuditQuery {
                workspace_id: Some("w-shared".into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        records.reverse();
        let targets: Vec<_> = records.iter().map(|r| r.target.clone().unwrap()).collect();
        let expected: Vec<_> = (0..order.len()).map(|k| format!("s{k}")).collect();
        assert_eq!(
            targets, expected,
            "{}: each once, in append order",
            db.label
        );
    }
}

/// Several gateway batches in flight at once on one chain, with single appends (resolves)
/// between them: they share large transactions, yet every record is stored once, each batch
/// keeps its order (ids ascend along it), every caller returns only once its records are
/// visible, and the chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_in_flight_and_single_appends_share_commits_in_order() {
    const BATCHES: usize = 4;
    const PER_BATCH: usize = 500;
    const SINGLES: usize = 30;
    for db in all_dbs().await {
        let store = store_for(&db).await;
        let mut tasks = Vec::new();
        for b in 0..BATCHES {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let targets: Vec<String> = (0..PER_BATCH).map(|k| format!("b{b}-{k}")).collect();
                let events: Vec<AuditEvent<'_>> = targets
                    .iter()
                    .map(|target| AuditEvent {
                        workspace_id: Some("w-z"),
                        action: "proxy.request",
                        target: Some(target),
                        principal: "api_key:k1",
                        outcome: "ok",
                        request_id: None,
                        detail: Some("{}"),
                    })
                    .collect();
                store.audit_all_required(&events).await
            }));
        }
        for s in 0..SINGLES {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let target = format!("s{s}");
                store
                    .audit_required(AuditEvent {
                        workspace_id: Some("w-z"),
                        action: "token.issued",
                        target: Some(&target),
                        principal: "api_key:k1",
                        outcome: "ok",
                        request_id: None,
                        detail: None,
                    })
                    .await
            }));
        }
        for task in tasks {
            task.await
                .expect("task")
                .unwrap_or_else(|e| panic!("{}: {e}", db.label));
        }

        let verdict = store.verify_audit_chain(Some("w-z")).await.unwrap();
        assert!(verdict.ok, "{}: {verdict:?}", db.label);
        assert_eq!(
            verdict.checked,
            (BATCHES * PER_BATCH + SINGLES) as u64,
            "{}",
            db.label
        );
        let records = store
            .query_audit(&AuditQuery {
                workspace_id: Some("w-z".into()),
                limit: 10_000,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut seen: HashMap<String, i64> = HashMap::new();
        for r in &records {
            let previous = seen.insert(r.target.clone().expect("target"), r.id);
            assert!(
                previous.is_none(),
                "{}: {:?} stored twice",
                db.label,
                r.target
            );
        }
        assert_eq!(seen.len(), BATCHES * PER_BATCH + SINGLES, "{}", db.label);
        for b in 0..BATCHES {
            let ids: Vec<i64> = (0..PER_BATCH).map(|k| seen[&format!("b{b}-{k}")]).collect();
            assert!(
                ids.windows(2).all(|w| w[0] < w[1]),
                "{}: batch {b} is stored out of its order",
                db.label
            );
        }
    }
}

/// Text the JSON batch of PostgreSQL (`audit_pg`) must carry unchanged: quotes, backslashes,
/// control characters, escapes that look like JSON, non-ASCII; through the locking append (the
/// chain's first batch) and the one-statement append after a known head (the second).
#[tokio::test]
async fn every_character_of_a_record_is_stored_as_sent() {
    const ODD: [&str; 6] = [
        "quote \" back\\slash \\u0041 \\n",
        "line\nfeed\ttab\r\u{1}\u{1f}\u{7f}",
        "é 日本 🦀 \u{2028}\u{2029} \u{feff}",
        "{\"n\": 1, \"at\": 2} ', $1, ;--",
        "",
        " trailing space ",
    ];
    for db in all_dbs().await {
        let store = store_for(&db).await;
        for batch in 0..2 {
            let targets: Vec<String> = ODD.iter().map(|s| format!("{batch}:{s}")).collect();
            let events: Vec<AuditEvent<'_>> = targets
                .iter()
                .zip(ODD)
                .map(|(target, odd)| AuditEvent {
                    workspace_id: Some("w-odd"),
                    action: "token.issued",
                    target: Some(target),
                    principal: odd,
                    outcome: odd,
                    request_id: None,
                    detail: Some(odd),
                })
                .collect();
            store.audit_all_required(&events).await.unwrap();
        }
        let verdict = store.verify_audit_chain(None).await.unwrap();
        assert!(verdict.ok, "{}: {verdict:?}", db.label);
        assert_eq!(verdict.checked, 2 * ODD.len() as u64, "{}", db.label);
        let mut records = store
            .query_audit(&AuditQuery {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        records.sort_by_key(|r| r.id);
        let sent: Vec<String> = (0..2)
            .flat_map(|b| ODD.iter().map(move |s| format!("{b}:{s}")))
            .collect();
        let stored: Vec<String> = records.iter().map(|r| r.target.clone().unwrap()).collect();
        assert_eq!(stored, sent, "{}: ids follow chain order", db.label);
        for (r, odd) in records.iter().zip(ODD.iter().chain(ODD.iter())) {
            assert_eq!(r.principal, *odd, "{}", db.label);
            assert_eq!(r.outcome, *odd, "{}", db.label);
            assert_eq!(r.detail.as_deref(), Some(*odd), "{}", db.label);
        }
    }
}
