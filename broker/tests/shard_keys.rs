//! Issue 20: every statement the refresh path, its events and the keep-alive worker run on a
//! connection names the row by `(workspace_id, id)`, the key a sharded database routes by —
//! never by `id` alone. On PostgreSQL the key is composite, so a row of another workspace may
//! carry the same id: such a twin must come out of a refresh, a keep-alive round and a rejected
//! grant of the real connection exactly as it went in. PostgreSQL only (SQLite keys
//! `connections` by `id`, so a twin cannot exist there); real refreshes against the testkit
//! OAuth server.

mod common;

use common::{TestBroker, all_dbs, raw_pool, test_config, testkit_provider};
use nexus_testkit::{Failure, OAuthServer, OAuthServerOptions};
use nexus_vault::store::now_ms;
use serde_json::json;
use sqlx::Row;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;

const DAY: i64 = 86_400_000;

/// The whole row of `ws`'s connection `id`, as JSON text.
async fn snapshot(pool: &sqlx::AnyPool, ws: &str, id: &str) -> String {
    sqlx::query(
        "SELECT to_jsonb(c)::text AS row FROM connections c WHERE workspace_id = $1 AND id = $2",
    )
    .bind(ws)
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap()
    .try_get("row")
    .unwrap()
}

async fn exec(pool: &sqlx::AnyPool, sql: &str, id: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(id)
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[tokio::test]
async fn a_same_id_row_in_another_workspace_is_never_touched() {
    for db in all_dbs().await {
        if db.label != "postgres" {
            continue;
        }
        let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
        let mut config = test_config(&db.url);
        config.keep_alive = false; // the test drives the tick itself
        config.provider_retries = 0;
        let b = TestBroker::start(config).await;
        b.create_workspace("w1").await;
        b.create_workspace("w2").await;
        let mut kept = testkit_provider(&oauth, "kept");
        kept["keep_alive"] = json!({"idle_after": "3d", "jitter": 0.2});
        b.put_provider(kept).await;
        let (_, refresh) = oauth.issue_tokens_directly(["read"]);
        let id = b.import_refresh_token("w1", "kept", &refresh).await;

        // The twin: w1's row copied into w2 under the same id, without secrets (so no refresh
        // or keep-alive ever picks it for itself).
        let pool = raw_pool(&db.url).await;
        let mut conn = pool.acquire().await.unwrap();
        for sql in [
            "CREATE TEMP TABLE twin AS SELECT * FROM connections WHERE workspace_id = 'w1' AND id = $1",
            "UPDATE twin SET workspace_id = 'w2', access_token = NULL, refresh_token = NULL WHERE id = $1",
            "INSERT INTO connections SELECT * FROM twin WHERE id = $1",
        ] {
            sqlx::query(sql)
                .bind(&id)
                .execute(&mut *conn)
                .await
                .unwrap();
        }
        drop(conn);
        let twin = snapshot(&pool, "w2", &id).await;

        // A resolve refreshes (the import holds only a refresh token): tokens, health.
        let (status, body) = b.resolve("w1", "kept", json!({})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(snapshot(&pool, "w2", &id).await, twin, "after a refresh");

        // Four idle days for both rows (same times, so an id-only schedule would match the twin
        // too); a keep-alive round schedules, claims, refreshes and marks the real one.
        exec(
            &pool,
            &format!(
                "UPDATE connections SET created_at = {t}, last_refresh_at = {t} WHERE id = $1",
                t = now_ms() - 4 * DAY
            ),
            &id,
        )
        .await;
        let twin = snapshot(&pool, "w2", &id).await;
        let now = now_ms();
        let clock = Arc::new(AtomicI64::new(now));
        let worker = b.broker.vault().keep_alive_with_clock(Arc::new(move || {
            clock.load(std::sync::atomic::Ordering::SeqCst)
        }));
        let report = worker.tick().await.unwrap();
        assert_eq!(report.refreshed, std::slice::from_ref(&id), "{report:?}");
        let real = b
            .broker
            .store()
            .get_connection("w1", &id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(real.last_keepalive_at, Some(now));
        assert_eq!(snapshot(&pool, "w2", &id).await, twin, "after keep-alive");

        // The provider rejects the grant: needs_reauth, health and its event, on w1's row only.
        exec(
            &pool,
            "UPDATE connections SET access_expires_at = 1 WHERE workspace_id = 'w1' AND id = $1",
            &id,
        )
        .await;
        oauth.inject_failure(Failure::InvalidGrant);
        let (status, body) = b.resolve("w1", "kept", json!({})).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (409, Some("reauth_required")),
            "{body}"
        );
        let real = b
            .broker
            .store()
            .get_connection("w1", &id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(real.status, nexus_protocol::ConnectionStatus::NeedsReauth);
        assert_eq!(
            snapshot(&pool, "w2", &id).await,
            twin,
            "after a rejected grant"
        );
        let events: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM webhook_events WHERE connection_id = $1 AND workspace_id <> 'w1'",
        )
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
        assert_eq!(events, 0, "every event is w1's");
    }
}
