//! The distribution-ready keys of issue 20 for the webhook outbox (migrations 0040–0045) on both
//! databases. A database that a 0039 broker filled — endpoints created through the store (one
//! for every workspace, one for workspace `a`, secrets sealed, one mid-rotation), an event in
//! each of two workspaces, their deliveries (pending, delivered) and attempts — upgrades with
//! every row kept: deliveries and attempts learn their event's workspace, the dispatcher's
//! claim, signing secrets (current and previous) and completion still work by (workspace_id,
//! id), order per chain holds, retention prunes, a row naming another workspace's event or
//! delivery is refused, and on PostgreSQL the keys are (workspace_id, …), the endpoints no
//! longer reference `workspaces` (a reference table), and nothing is left NOT VALID/INVALID.

mod common;

use common::migrate::{
    add_workspaces, assert_nothing_left_invalid, count, exec, old_schema_posing_as_current,
    primary_key, run_newer,
};
use nexus_protocol::SecretString;
use nexus_vault::store::Store;
use nexus_vault::store::webhooks::{AttemptRecord, Completion, NewEndpoint};
use nexus_vault::testing::{all_dbs, raw_pool, test_vault};

const FIRST_NEW: i64 = 40;

/// Ids 1, 2, … in the order inserted (a fresh database; the old broker used the sequence too).
const DELIVERY: &str = "INSERT INTO webhook_deliveries (event_id, endpoint_id, ordering_key, state, attempts, next_attempt_at, created_at, delivered_at)";

async fn endpoint(store: &Store, id: &str, ws: Option<&str>, secret: &SecretString) {
    store
        .insert_webhook_endpoint(NewEndpoint {
            id,
            workspace_id: ws,
            url: "https://hooks.example.test/in",
            description: None,
            events: &[],
            secret,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn webhook_rows_survive_the_key_change() {
    for db in all_dbs().await {
        let l = db.label;
        old_schema_posing_as_current(&db, FIRST_NEW).await;
        let sealer = test_vault();
        let old = Store::connect(&db.url, sealer.clone()).await.unwrap();
        let raw = raw_pool(&db.url).await;
        add_workspaces(&raw, &["a", "b"]).await;
        let first = SecretString::new("whsec_first");
        let global = SecretString::new("whsec_global");
        endpoint(&old, "we_a", Some("a"), &first).await;
        endpoint(&old, "we_all", None, &global).await;
        // Mid-rotation at the upgrade: the previous secret still signs until far in the future.
        let second = SecretString::new("whsec_second");
        assert!(
            old.rotate_webhook_secret("we_a", &second, i64::MAX / 2)
                .await
                .unwrap()
        );
        for (ev, ws, conn) in [("ev_a", "a", "conn_a"), ("ev_b", "b", "conn_b")] {
            exec(&raw, &format!("INSERT INTO webhook_events (id, workspace_id, connection_id, event_type, sequence, payload, created_at) VALUES ('{ev}', '{ws}', '{conn}', 'connection.refresh_failed', 1, '{{\"id\":\"{ev}\"}}', 1)")).await.unwrap();
        }
        // 1, 2: ev_a to both endpoints (1 delivered with an attempt); 3: ev_b to the global one;
        // 4: ev_a again to the global endpoint, behind 2 in the same (endpoint, connection) chain.
        for sql in [
            format!("{DELIVERY} VALUES ('ev_a', 'we_a', 'conn_a', 'delivered', 1, 1, 1, 2)"),
            format!("{DELIVERY} VALUES ('ev_a', 'we_all', 'conn_a', 'pending', 1, 1, 1, NULL)"),
            format!("{DELIVERY} VALUES ('ev_b', 'we_all', 'conn_b', 'pending', 0, 1, 1, NULL)"),
            format!("{DELIVERY} VALUES ('ev_a', 'we_all', 'conn_a', 'pending', 0, 1, 1, NULL)"),
            "INSERT INTO webhook_attempts (delivery_id, attempt, at, status, duration_ms) VALUES (1, 1, 2, 200, 5)".to_owned(),
            "INSERT INTO webhook_attempts (delivery_id, attempt, at, status, duration_ms) VALUES (2, 1, 2, 503, 5)".to_owned(),
        ] {
            exec(&raw, &sql).await.unwrap_or_else(|e| panic!("{l}: {sql}: {e}"));
        }
        drop(old);

        run_newer(&raw, FIRST_NEW).await;
        let store = Store::connect(&db.url, sealer.clone()).await.unwrap();

        for (table, rows) in [
            ("webhook_endpoints", 2),
            ("webhook_events", 2),
            ("webhook_deliveries", 4),
            ("webhook_attempts", 2),
        ] {
            assert_eq!(
                count(&raw, &format!("SELECT COUNT(*) FROM {table}")).await,
                rows,
                "{l}: {table}"
            );
        }
        assert_eq!(
            count(&raw, "SELECT COUNT(*) FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id WHERE d.workspace_id = e.workspace_id").await,
            4,
            "{l}: every delivery has its event's workspace"
        );
        assert_eq!(
            count(
                &raw,
                "SELECT COUNT(*) FROM webhook_attempts WHERE workspace_id = 'a'"
            )
            .await,
            2,
            "{l}: attempts have their delivery's workspace"
        );

        // The dispatcher's claim: the head of each chain only (2 before 4), keyed by workspace.
        let keys = store.claim_deliveries("d1", 10, 60_000, 10).await.unwrap();
        let claimed: Vec<(&str, i64)> = keys
            .iter()
            .map(|k| (k.workspace_id.as_str(), k.id))
            .collect();
        assert_eq!(claimed, [("a", 2), ("b", 3)], "{l}");
        let d2 = store.claimed_delivery(&keys[0], 10).await.unwrap().unwrap();
        assert_eq!(d2.payload, "{\"id\":\"ev_a\"}", "{l}");
        assert_eq!(
            d2.secrets.iter().map(|s| s.expose()).collect::<Vec<_>>(),
            [global.expose()],
            "{l}: the global endpoint's sealed secret still opens"
        );
        let d3 = store.claimed_delivery(&keys[1], 10).await.unwrap().unwrap();
        assert_eq!(d3.payload, "{\"id\":\"ev_b\"}", "{l}");
        for d in [&d2, &d3] {
            let record = AttemptRecord {
                status: Some(200),
                error: None,
                duration_ms: 3,
            };
            assert!(
                store
                    .complete_delivery(d, "d1", 11, record, Completion::Delivered)
                    .await
                    .unwrap(),
                "{l}"
            );
        }
        assert_eq!(
            count(&raw, "SELECT COUNT(*) FROM webhook_attempts WHERE workspace_id = 'a' AND delivery_id = 2 AND attempt = 2").await,
            1,
            "{l}: the attempt is recorded under its workspace"
        );
        // Now 4 is the head of its chain.
        let next = store.claim_deliveries("d1", 12, 60_000, 10).await.unwrap();
        assert_eq!(
            next.iter()
                .map(|k| (k.workspace_id.as_str(), k.id))
                .collect::<Vec<_>>(),
            [("a", 4)],
            "{l}"
        );
        // The rotated endpoint signs with both secrets through a redelivery of delivery 1.
        let again = store.redeliver(1).await.unwrap().expect("redelivered");
        assert_eq!(
            count(
                &raw,
                &format!("SELECT COUNT(*) FROM webhook_deliveries WHERE id = {again} AND workspace_id = 'a'")
            )
            .await,
            1,
            "{l}"
        );
        let keys = store
            .claim_deliveries("d2", i64::MAX / 4, 60_000, 10)
            .await
            .unwrap();
        let redelivered = keys.iter().find(|k| k.id == again).expect("claimed");
        let d = store
            .claimed_delivery(redelivered, 13)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            d.secrets.iter().map(|s| s.expose()).collect::<Vec<_>>(),
            [second.expose(), first.expose()],
            "{l}: current and previous secret"
        );

        // Rows naming another workspace's event or delivery are refused.
        for sql in [
            "INSERT INTO webhook_deliveries (workspace_id, event_id, endpoint_id, ordering_key, state, next_attempt_at, created_at) VALUES ('b', 'ev_a', 'we_all', 'conn_a', 'pending', 1, 1)",
            "INSERT INTO webhook_attempts (workspace_id, delivery_id, attempt, at) VALUES ('b', 2, 9, 1)",
        ] {
            assert!(exec(&raw, sql).await.is_err(), "{l}: accepted {sql}");
        }

        if l == "postgres" {
            for (table, key) in [
                ("webhook_events", "workspace_id,id"),
                ("webhook_deliveries", "workspace_id,id"),
                ("webhook_attempts", "workspace_id,delivery_id,attempt"),
                ("webhook_endpoints", "id"),
                ("webhook_endpoint_events", "endpoint_id,event_type"),
            ] {
                assert_eq!(primary_key(&raw, table).await, key, "{table}");
            }
            assert_eq!(
                count(&raw, "SELECT COUNT(*) FROM pg_constraint WHERE conrelid = 'webhook_endpoints'::regclass AND contype = 'f'").await,
                0,
                "webhook_endpoints references no distributed table"
            );
            assert_nothing_left_invalid(&raw).await;
        }

        // An event's deletion cascades through the composite keys to its deliveries' attempts.
        exec(
            &raw,
            "DELETE FROM webhook_events WHERE workspace_id = 'a' AND id = 'ev_a'",
        )
        .await
        .unwrap();
        assert_eq!(
            count(
                &raw,
                "SELECT COUNT(*) FROM webhook_attempts WHERE workspace_id = 'a'"
            )
            .await,
            0,
            "{l}: cascade"
        );
        assert_eq!(
            count(&raw, "SELECT COUNT(*) FROM webhook_deliveries").await,
            1,
            "{l}: only ev_b's delivery is left"
        );
        // Retention removes the delivered delivery and its event, by (workspace_id, id).
        assert_eq!(store.prune_webhooks(100, 100, 10).await.unwrap(), 2, "{l}");
        assert_eq!(
            count(&raw, "SELECT COUNT(*) FROM webhook_events").await,
            0,
            "{l}"
        );
        drop(store);
    }
}
