//! The webhook store's transactions under concurrent writers, on both databases: endpoint
//! creation, delivery completion and secret rotation all at once never fail and lose nothing.
//! A deferred SQLite transaction that reads and then writes fails at once with "database is
//! locked" when another connection commits in between (the busy timeout does not apply to that
//! upgrade), and on PostgreSQL two such rotations lose one update: rotation therefore takes the
//! write lock first (`begin_locking` + `FOR UPDATE`); creation and completion write first, so
//! they simply wait for the lock.

mod common;

use common::migrate::{count, exec};
use nexus_protocol::SecretString;
use nexus_vault::crypto::Aad;
use nexus_vault::store::Store;
use nexus_vault::store::webhooks::{AttemptRecord, Completion, NewEndpoint};
use nexus_vault::testing::{all_dbs, raw_pool, store_for};
use sqlx::Row;

const N: usize = 24;

async fn endpoint(store: &Store, id: &str, secret: &SecretString) {
    store
        .insert_webhook_endpoint(NewEndpoint {
            id,
            workspace_id: Some("a"),
            url: "https://hooks.example.test/in",
            description: None,
            events: &["connection.refresh_failed".to_owned()],
            secret,
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_webhook_writes_neither_fail_nor_lose_updates() {
    for db in all_dbs().await {
        let l = db.label;
        let store = store_for(&db).await;
        let raw = raw_pool(&db.url).await;
        exec(
            &raw,
            "INSERT INTO workspaces (id, created_at) VALUES ('a', 1)",
        )
        .await
        .unwrap();
        let s0 = SecretString::new("whsec_0");
        endpoint(&store, "we_0", &s0).await;
        for i in 0..N {
            exec(&raw, &format!("INSERT INTO webhook_events (id, workspace_id, connection_id, event_type, sequence, payload, created_at) VALUES ('ev_{i}', 'a', 'conn_{i}', 'connection.refresh_failed', 1, '{{}}', 1)")).await.unwrap();
            exec(&raw, &format!("INSERT INTO webhook_deliveries (workspace_id, event_id, endpoint_id, ordering_key, state, attempts, next_attempt_at, created_at) VALUES ('a', 'ev_{i}', 'we_0', 'conn_{i}', 'pending', 0, 1, 1)")).await.unwrap();
        }
        let keys = store
            .claim_deliveries("d1", 10, 600_000, 100)
            .await
            .unwrap();
        assert_eq!(keys.len(), N, "{l}");
        let mut claimed = Vec::new();
        for k in &keys {
            claimed.push(store.claimed_delivery(k, 10).await.unwrap().unwrap());
        }

        let mut tasks = tokio::task::JoinSet::new();
        for (i, delivery) in claimed.into_iter().enumerate() {
            let s = store.clone();
            tasks.spawn(async move {
                let record = AttemptRecord {
                    status: Some(200),
                    error: None,
                    duration_ms: 1,
                };
                let kept = s
                    .complete_delivery(&delivery, "d1", 11, record, Completion::Delivered)
                    .await
                    .map_err(|e| format!("complete: {e}"))?;
                if !kept {
                    return Err("completion dropped".to_owned());
                }
                Ok::<_, String>(i)
            });
            let s = store.clone();
            tasks.spawn(async move {
                s.insert_webhook_endpoint(NewEndpoint {
                    id: &format!("we_new_{i}"),
                    workspace_id: Some("a"),
                    url: "https://hooks.example.test/in",
                    description: None,
                    events: &["connection.refresh_failed".to_owned()],
                    secret: &SecretString::new(format!("whsec_new_{i}")),
                })
                .await
                .map_err(|e| format!("create: {e}"))?;
                Ok(i)
            });
            let s = store.clone();
            tasks.spawn(async move {
                let secret = SecretString::new(format!("whsec_rot_{i}"));
                match s.rotate_webhook_secret("we_0", &secret, i64::MAX / 2).await {
                    Ok(true) => Ok(i),
                    Ok(false) => Err("rotation: endpoint not found".to_owned()),
                    Err(e) => Err(format!("rotate: {e}")),
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap().unwrap_or_else(|e| panic!("{l}: {e}"));
        }

        assert_eq!(
            count(
                &raw,
                "SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'delivered'"
            )
            .await,
            N as i64,
            "{l}"
        );
        assert_eq!(
            count(&raw, "SELECT COUNT(*) FROM webhook_attempts").await,
            N as i64,
            "{l}"
        );
        assert_eq!(
            count(&raw, "SELECT COUNT(*) FROM webhook_endpoints").await,
            N as i64 + 1,
            "{l}"
        );
        // Serial rotations leave the second-to-last rotation's secret as the previous one; a
        // lost update (two rotations that both read the original secret) leaves whsec_0 there.
        exec(&raw, "INSERT INTO webhook_events (id, workspace_id, connection_id, event_type, sequence, payload, created_at) VALUES ('ev_last', 'a', 'conn_last', 'connection.refresh_failed', 1, '{}', 1)").await.unwrap();
        exec(&raw, "INSERT INTO webhook_deliveries (workspace_id, event_id, endpoint_id, ordering_key, state, attempts, next_attempt_at, created_at) VALUES ('a', 'ev_last', 'we_0', 'conn_last', 'pending', 0, 1, 1)").await.unwrap();
        let last = store
            .claim_deliveries("d2", 20, 600_000, 100)
            .await
            .unwrap();
        assert_eq!(last.len(), 1, "{l}");
        let d = store.claimed_delivery(&last[0], 20).await.unwrap().unwrap();
        let secrets: Vec<&str> = d.secrets.iter().map(|s| s.expose()).collect();
        assert_eq!(secrets.len(), 2, "{l}");
        assert!(
            secrets.iter().all(|s| s.starts_with("whsec_rot_")) && secrets[0] != secrets[1],
            "{l}: a rotation was lost (the previous secret is not a rotated one)"
        );
    }
}

/// The endpoint's (current, previous) secrets as stored, opened with the store's keyring.
async fn stored_secrets(store: &Store, raw: &sqlx::AnyPool, id: &str) -> (String, String) {
    let row = sqlx::query("SELECT secret, previous_secret FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .fetch_one(raw)
        .await
        .unwrap();
    let open = |column: &str| {
        let sealed: Vec<u8> = row.try_get(column).unwrap();
        let aad = Aad {
            table: "webhook_endpoints",
            workspace: "-",
            row: id,
            column,
        };
        store.sealer().open(&sealed, &aad).unwrap()
    };
    (open("secret"), open("previous_secret"))
}

/// Two rotations at once, many times: whichever commits second must see the first one's secret
/// as current and keep it as the previous one. A rotation that read before the other committed
/// (no row lock on PostgreSQL) would keep the secret both started from: a lost update.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_rotations_lose_no_secret() {
    for db in all_dbs().await {
        let l = db.label;
        let store = store_for(&db).await;
        let raw = raw_pool(&db.url).await;
        exec(
            &raw,
            "INSERT INTO workspaces (id, created_at) VALUES ('a', 1)",
        )
        .await
        .unwrap();
        endpoint(&store, "we_0", &SecretString::new("whsec_0")).await;
        let mut start = "whsec_0".to_owned();
        for round in 0..30 {
            let rotate = |name: String| {
                let s = store.clone();
                tokio::spawn(async move {
                    s.rotate_webhook_secret("we_0", &SecretString::new(name), i64::MAX / 2)
                        .await
                })
            };
            let a = rotate(format!("whsec_{round}_a"));
            let b = rotate(format!("whsec_{round}_b"));
            assert!(a.await.unwrap().unwrap(), "{l}");
            assert!(b.await.unwrap().unwrap(), "{l}");
            let (current, previous) = stored_secrets(&store, &raw, "we_0").await;
            assert!(previous != start, "{l}: round {round}: a rotation was lost");
            assert!(
                previous.starts_with(&format!("whsec_{round}_"))
                    && current.starts_with(&format!("whsec_{round}_"))
                    && previous != current,
                "{l}: round {round}"
            );
            start = current;
        }
    }
}
