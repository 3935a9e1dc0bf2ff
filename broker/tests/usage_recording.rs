//! Who used a connection (the console's "used by") is recorded after the resolve has answered,
//! never while it waits (issue 20: at a million connections nearly every resolve is a
//! connection's first use in the minute, and each waited for its own upsert). PostgreSQL only:
//! the test holds `connection_usage` locked from another session, which on SQLite would lock
//! the whole database, audit included.

mod common;

use common::{TestBroker, fresh_pg_url, pg_server_url, raw_pool, test_config, usage_rows};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

/// Turns a resolve that hangs on the locked table into a failure; not a timing goal.
const HANG: Duration = Duration::from_secs(30);

#[tokio::test]
async fn resolves_answer_while_usage_cannot_be_written_and_every_use_lands_after() {
    let Some(server) = pg_server_url() else {
        eprintln!("skipped: NEXUS_TEST_DATABASE_URL is not set");
        return;
    };
    let url = fresh_pg_url(&server).await;
    let b = TestBroker::start(test_config(&url)).await;
    b.put_provider(json!({"name": "stripe", "auth_type": "api_key"}))
        .await;
    let mut ids = Vec::new();
    for w in 0..5 {
        let ws = format!("w{w}");
        b.create_workspace(&ws).await;
        let (status, conn) = TestBroker::send(
            b.admin(
                Method::POST,
                &format!("/admin/v1/workspaces/{ws}/connections/import"),
            )
            .json(
                &json!({"provider_name": "stripe", "kind": "api_key", "secret": format!("sk_{w}")}),
            ),
        )
        .await;
        assert_eq!(status, 201, "{conn}");
        ids.push(conn["id"].as_str().expect("id").to_owned());
    }

    let pool = raw_pool(&url).await;
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE connection_usage IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();

    // The first use starts the writer, whose statement now waits on the lock...
    let b = &b;
    let resolve = |w: usize| async move {
        let (status, body) =
            tokio::time::timeout(HANG, b.resolve(&format!("w{w}"), "stripe", json!({})))
                .await
                .unwrap_or_else(|_| panic!("w{w}: the resolve waited for its usage to be written"));
        assert_eq!(status, 200, "w{w}: {body}");
        assert_eq!(body["credentials"]["api_key"], json!(format!("sk_{w}")));
    };
    resolve(0).await;
    let waiting = "SELECT COUNT(*) FROM pg_stat_activity \
                   WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO connection_usage%'";
    let deadline = tokio::time::Instant::now() + HANG;
    while sqlx::query_scalar::<_, i64>(waiting)
        .fetch_one(&pool)
        .await
        .unwrap()
        == 0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the usage writer never ran"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A flush (a graceful stop) now has nothing queued but a write in flight: it must wait
    // for that write instead of returning, or the process would exit before w0's use lands.
    let mut flush = std::pin::pin!(b.broker.flush());
    assert!(
        futures::poll!(&mut flush).is_pending(),
        "the flush returned while the writer's statement was still waiting"
    );
    // ...and the next four uses queue behind it and go out together, in one statement.
    for w in 1..5 {
        resolve(w).await;
    }
    // One of them names a connection deleted meanwhile: that statement fails on its foreign
    // key, and the other uses must still be written.
    sqlx::query("DELETE FROM connections WHERE id = $1")
        .bind(&ids[2])
        .execute(&mut *lock)
        .await
        .unwrap();
    lock.commit().await.unwrap();

    // Once the flush returns, every use queued before it is in the table: no waiting.
    tokio::time::timeout(HANG, flush)
        .await
        .expect("the flush ends once the table is unlocked");
    for w in [0, 1, 3, 4] {
        let rows = usage_rows(&pool, &ids[w], 0).await;
        assert_eq!(rows.len(), 1, "w{w}: {rows:?}");
        assert_eq!(rows[0].0, "api_key:k1", "w{w}");
    }
    assert!(usage_rows(&pool, &ids[2], 0).await.is_empty());
}
