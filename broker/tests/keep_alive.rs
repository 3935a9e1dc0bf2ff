//! Keep-alive: a provider's `keep_alive` policy refreshes connections whose refresh token went
//! unused for `idle_after`, once, across two broker replicas on one database, and leaves busy
//! connections (refreshed by their traffic) alone. Real refreshes against the testkit OAuth
//! server; the worker's tick is driven directly, on a clock the test moves (no waiting).
//! SQLite always, PostgreSQL when configured.

mod common;

use common::{TestBroker, all_dbs, raw_pool, test_config, testkit_provider};
use nexus_testkit::{Failure, OAuthServer, OAuthServerOptions};
use nexus_vault::Caller;
use nexus_vault::connections::keep_alive::{KeepAliveWorker, LEASE_MS};
use nexus_vault::store::connections::ConnectionRow;
use nexus_vault::store::now_ms;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

const DAY: i64 = 86_400_000;

/// A worker of `b` whose clock reads `clock`.
fn worker(b: &TestBroker, clock: &Arc<AtomicI64>) -> KeepAliveWorker {
    let clock = clock.clone();
    b.broker
        .vault()
        .keep_alive_with_clock(Arc::new(move || clock.load(Ordering::SeqCst)))
}

async fn row(b: &TestBroker, id: &str) -> ConnectionRow {
    b.broker
        .store()
        .get_connection("w1", id)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn idle_connections_are_refreshed_once_across_replicas_and_busy_ones_are_left_alone() {
    for db in all_dbs().await {
        let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
        let mut config = test_config(&db.url);
        config.keep_alive = false; // the test drives the ticks itself
        config.provider_retries = 0; // one injected failure fails one refresh
        let a = TestBroker::start(config.clone()).await;
        let replica = TestBroker::start(config).await;
        a.create_workspace("w1").await;
        let mut kept = testkit_provider(&oauth, "kept");
        kept["keep_alive"] = json!({"idle_after": "3d", "jitter": 0.2});
        a.put_provider(kept).await;
        a.put_provider(testkit_provider(&oauth, "plain")).await;
        let import = |provider: &'static str| {
            let (_, refresh) = oauth.issue_tokens_directly(["read"]);
            let a = &a;
            async move { a.import_refresh_token("w1", provider, &refresh).await }
        };
        let idle = import("kept").await;
        let busy = import("kept").await;
        let plain = import("plain").await;

        // Four days pass for all three refresh tokens; then the busy one is used by traffic.
        let now = now_ms();
        let pool = raw_pool(&db.url).await;
        sqlx::query("UPDATE connections SET created_at = $1, last_refresh_at = $1")
            .bind(now - 4 * DAY)
            .execute(&pool)
            .await
            .unwrap();
        let caller = Caller::admin(None);
        let connections = a.broker.vault().connections();
        connections
            .token_by_id("w1", &busy, true, &caller)
            .await
            .unwrap();
        let busy_version = row(&a, &busy).await.version;
        let idle_version = row(&a, &idle).await.version;
        let refreshes = oauth.stats().refresh_accepted;

        // Both replicas tick at once: the idle connection is refreshed exactly once.
        let clock = Arc::new(AtomicI64::new(now));
        let (first, second) = (worker(&a, &clock), worker(&replica, &clock));
        let (one, two) = tokio::join!(first.tick(), second.tick());
        let (one, two) = (one.unwrap(), two.unwrap());
        let refreshed: Vec<_> = one.refreshed.iter().chain(&two.refreshed).collect();
        assert_eq!(refreshed, [&idle], "{}: {one:?} {two:?}", db.label);
        assert!(one.failed.is_empty() && two.failed.is_empty());
        assert_eq!(
            oauth.stats().refresh_accepted,
            refreshes + 1,
            "{}",
            db.label
        );
        let idle_row = row(&a, &idle).await;
        assert_eq!(idle_row.version, idle_version + 1);
        assert_eq!(idle_row.last_keepalive_at, Some(now));
        let busy_row = row(&a, &busy).await;
        assert_eq!(busy_row.version, busy_version, "busy: not refreshed");
        assert_eq!(busy_row.last_keepalive_at, None);
        // Its turn comes 3 days after its last use, up to 20 % earlier.
        let due = busy_row.next_keepalive_at.expect("scheduled");
        let used = busy_row.last_refresh_at.unwrap();
        assert!(
            (used + 3 * DAY - 3 * DAY / 5..=used + 3 * DAY).contains(&due),
            "{due} vs {used}"
        );
        assert_eq!(
            row(&a, &plain).await.next_keepalive_at,
            None,
            "no policy, no schedule"
        );

        // Right after: nothing is due.
        let again = worker(&a, &clock).tick().await.unwrap();
        assert!(again.refreshed.is_empty(), "{again:?}");

        // Three days on (the rows' times move back: the store writes real times), both have
        // been idle long enough. The provider fails one of the two refreshes: that connection is
        // tried again once the claim's lease has passed, and only then.
        sqlx::query(
            "UPDATE connections SET last_refresh_at = last_refresh_at - $1, \
             next_keepalive_at = next_keepalive_at - $1 WHERE provider_name = 'kept'",
        )
        .bind(3 * DAY + 1)
        .execute(&pool)
        .await
        .unwrap();
        let t2 = now_ms();
        clock.store(t2, Ordering::SeqCst);
        oauth.inject_failure(Failure::ServerError(503));
        let later = worker(&a, &clock).tick().await.unwrap();
        assert_eq!(later.refreshed.len(), 1, "{}: {later:?}", db.label);
        assert_eq!(later.failed.len(), 1, "{}: {later:?}", db.label);
        let failed = later.failed[0].clone();
        assert_eq!(
            row(&a, &failed).await.health,
            nexus_protocol::webhooks::ConnectionHealth::Failing
        );
        let soon = worker(&a, &clock).tick().await.unwrap();
        assert!(
            soon.refreshed.is_empty() && soon.failed.is_empty(),
            "{soon:?}"
        );
        clock.store(t2 + LEASE_MS + 1, Ordering::SeqCst);
        let retried = worker(&replica, &clock).tick().await.unwrap();
        assert_eq!(retried.refreshed, [failed.clone()], "{}", db.label);
        assert_eq!(
            row(&a, &failed).await.health,
            nexus_protocol::webhooks::ConnectionHealth::Ok
        );
        assert_eq!(
            row(&a, &plain).await.version,
            0,
            "{}: a provider without a policy is never kept alive",
            db.label
        );
    }
}

#[tokio::test]
async fn bad_policies_are_refused_with_the_rule() {
    let db = common::sqlite_db();
    let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
    let b = TestBroker::start(test_config(&db.url)).await;
    for (policy, says) in [
        (json!({"idle_after": "10m"}), "at least 1h"),
        (
            json!({"idle_after": "3d", "jitter": 2}),
            "between 0 and 0.5",
        ),
        (json!({"idle_after": "often"}), "a duration"),
    ] {
        let mut p = testkit_provider(&oauth, "kept");
        p["keep_alive"] = policy;
        let (status, body) = TestBroker::send(
            b.admin(reqwest::Method::POST, "/admin/v1/providers")
                .json(&p),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(body.to_string().contains(says), "{body}");
    }
}
