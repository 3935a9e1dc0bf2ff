//! The refresh engine against the testkit OAuth server (real HTTP on 127.0.0.1): rotating
//! refresh tokens, failure injection, outages, re-authorization, concurrency.

mod common;

use common::{TestBroker, all_dbs, sqlite_db, test_config, testkit_provider};
use nexus_testkit::{Failure, OAuthServer, OAuthServerOptions};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// Set up `w1` with an imported refresh token (no access token yet: the first resolve refreshes).
async fn refresh_setup(db_url: &str) -> (OAuthServer, TestBroker, String, String) {
    let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
    let b = TestBroker::start(test_config(db_url)).await;
    b.create_workspace("w1").await;
    b.put_provider(testkit_provider(&oauth, "testprov")).await;
    let (_, refresh) = oauth.issue_tokens_directly(["read"]);
    let id = b.import_refresh_token("w1", "testprov", &refresh).await;
    (oauth, b, id, refresh)
}

#[tokio::test]
async fn refresh_rotates_and_persists_the_new_refresh_token() {
    for db in all_dbs().await {
        let (oauth, b, _, first_refresh) = refresh_setup(&db.url).await;
        let (status, r1) = b.resolve("w1", "testprov", json!({})).await;
        assert_eq!(status, 200, "{r1}");
        assert_eq!(oauth.stats().refresh_accepted, 1);
        assert!(
            !oauth.introspect(&first_refresh).active,
            "the provider rotated the refresh token"
        );

        // Valid token: served without a refresh.
        let (_, r2) = b.resolve("w1", "testprov", json!({})).await;
        assert_eq!(r2["access_token"], r1["access_token"]);
        assert_eq!(oauth.stats().refresh_token_requests, 1);

        // A min_ttl beyond the remaining lifetime refreshes (the token was last refreshed two
        // minutes ago, as far as the broker knows), which only works if the rotated refresh
        // token was stored.
        let raw = sqlx::AnyPool::connect(&db.url).await.unwrap();
        sqlx::query("UPDATE connections SET last_refresh_at = last_refresh_at - 120000")
            .execute(&raw)
            .await
            .unwrap();
        let (status, r3) = b.resolve("w1", "testprov", json!({"min_ttl": 7200})).await;
        assert_eq!(status, 200, "{}: {r3}", db.label);
        assert_ne!(r3["access_token"], r1["access_token"]);
        assert_eq!(oauth.stats().refresh_accepted, 2);
        assert_eq!(oauth.stats().refresh_rejected, 0);
        // The provider's tokens live 1 h, so a min_ttl of 2 h cannot be met: the token refreshed
        // a moment ago is served rather than refreshing on every call.
        let (_, again) = b.resolve("w1", "testprov", json!({"min_ttl": 7200})).await;
        assert_eq!(again["access_token"], r3["access_token"]);
        assert_eq!(
            oauth.stats().refresh_token_requests,
            2,
            "{}: refresh storm",
            db.label
        );

        let (status, r4) = b
            .resolve("w1", "testprov", json!({"force_refresh": true}))
            .await;
        assert_eq!(status, 200);
        assert_ne!(r4["access_token"], r3["access_token"]);
        assert!(
            oauth
                .introspect(r4["access_token"].as_str().unwrap())
                .active
        );
    }
}

#[tokio::test]
async fn transient_failures_are_retried() {
    let db = sqlite_db();
    let (oauth, b, _, _) = refresh_setup(&db.url).await;
    oauth.inject_failures([
        Failure::ServerError(503),
        Failure::RateLimited {
            retry_after: Duration::ZERO,
        },
        Failure::HtmlErrorPage,
    ]);
    let (status, r) = b.resolve("w1", "testprov", json!({})).await;
    assert_eq!(status, 200, "{r}");
    let stats = oauth.stats();
    assert_eq!((stats.token_requests, stats.refresh_accepted), (4, 1));
}

#[tokio::test]
async fn outage_with_an_expired_token_is_upstream_unavailable_and_recovers() {
    let db = sqlite_db();
    let (oauth, b, id, _) = refresh_setup(&db.url).await;
    oauth.inject_failures((0..4).map(|_| Failure::ServerError(503)));
    let (status, e) = b.resolve("w1", "testprov", json!({})).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (502, Some("upstream_unavailable")),
        "{e}"
    );
    assert!(!e.to_string().contains(&oauth.client_secret()));
    let (_, check) = TestBroker::send(b.internal(
        Method::GET,
        &format!("/internal/v1/workspaces/w1/connections/{id}"),
    ))
    .await;
    assert_eq!(
        check["status"],
        json!("active"),
        "an outage must not break the connection"
    );
    let (status, _) = b.resolve("w1", "testprov", json!({})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn outage_keeps_serving_a_still_valid_token() {
    let db = sqlite_db();
    let (oauth, b, _, _) = refresh_setup(&db.url).await;
    let (_, first) = b.resolve("w1", "testprov", json!({})).await;
    oauth.inject_failures((0..4).map(|_| Failure::ServerError(500)));
    let (status, r) = b
        .resolve("w1", "testprov", json!({"force_refresh": true}))
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["access_token"], first["access_token"]);
}

#[tokio::test]
async fn protocol_violations_are_not_retried() {
    let db = sqlite_db();
    let (oauth, b, _, _) = refresh_setup(&db.url).await;
    oauth.inject_failure(Failure::GarbageJson);
    let (status, e) = b.resolve("w1", "testprov", json!({})).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (502, Some("upstream_unavailable"))
    );
    assert_eq!(oauth.stats().token_requests, 1);
}

#[tokio::test]
async fn invalid_grant_and_invalid_client_need_reauth() {
    for failure in [Failure::InvalidGrant, Failure::InvalidClient] {
        let db = sqlite_db();
        let (oauth, b, id, _) = refresh_setup(&db.url).await;
        oauth.inject_failure(failure.clone());
        let (status, e) = b.resolve("w1", "testprov", json!({})).await;
        assert_eq!(
            (status, e["error"].as_str()),
            (409, Some("reauth_required")),
            "{failure:?}: {e}"
        );
        let reauth_url = e["reauth_url"].as_str().expect("reauth_url").to_owned();
        assert!(reauth_url.starts_with(&format!("{}/oauth/reauthorize/", b.url)));
        let (_, check) = TestBroker::send(b.internal(
            Method::GET,
            &format!("/internal/v1/workspaces/w1/connections/{id}"),
        ))
        .await;
        assert_eq!(check["status"], json!("needs_reauth"));
        // No retry storm against a dead grant.
        assert_eq!(oauth.stats().token_requests, 1);

        // The link starts a new authorization; completing it makes the same connection active.
        let to_provider = b.http.get(&reauth_url).send().await.unwrap();
        assert!(to_provider.status().is_redirection());
        let auth_url = to_provider.headers()["location"]
            .to_str()
            .unwrap()
            .to_owned();
        let at_provider = b.http.get(&auth_url).send().await.unwrap();
        let callback = at_provider.headers()["location"]
            .to_str()
            .unwrap()
            .to_owned();
        let page = b.http.get(&callback).send().await.unwrap();
        assert_eq!(page.status(), 200, "no return_url: a page");
        let (_, check) = TestBroker::send(b.internal(
            Method::GET,
            &format!("/internal/v1/workspaces/w1/connections/{id}"),
        ))
        .await;
        assert_eq!(check["status"], json!("active"));
        let (status, _) = b.resolve("w1", "testprov", json!({})).await;
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn provider_without_rotation_keeps_the_old_refresh_token() {
    let db = sqlite_db();
    let (oauth, b, _, first_refresh) = refresh_setup(&db.url).await;
    oauth.inject_failure(Failure::NoNewRefreshToken);
    let (status, _) = b.resolve("w1", "testprov", json!({})).await;
    assert_eq!(status, 200);
    assert!(oauth.introspect(&first_refresh).active);
    let (status, _) = b
        .resolve("w1", "testprov", json!({"force_refresh": true}))
        .await;
    assert_eq!(status, 200, "the kept refresh token must still be used");
    assert_eq!(oauth.stats().refresh_accepted, 2);
}

#[tokio::test]
async fn missing_expires_in_uses_the_provider_default() {
    let db = sqlite_db();
    let (oauth, b, _, _) = refresh_setup(&db.url).await;
    oauth.inject_failure(Failure::MissingExpiresIn);
    let (status, r) = b.resolve("w1", "testprov", json!({})).await;
    assert_eq!(status, 200);
    let expires_in = r["expires_in"].as_i64().unwrap();
    assert!(
        (1200..=1234).contains(&expires_in),
        "expires_in {expires_in} is not the provider default 1234"
    );
}

#[tokio::test]
async fn slow_provider_times_out_and_is_retried() {
    let db = sqlite_db();
    let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
    let mut config = test_config(&db.url);
    config.provider_timeout = Duration::from_millis(300);
    let b = TestBroker::start(config).await;
    b.create_workspace("w1").await;
    b.put_provider(testkit_provider(&oauth, "testprov")).await;
    let (_, refresh) = oauth.issue_tokens_directly(["read"]);
    b.import_refresh_token("w1", "testprov", &refresh).await;
    oauth.inject_failure(Failure::Slow(Duration::from_secs(3)));
    let (status, r) = b.resolve("w1", "testprov", json!({})).await;
    // Either the retry succeeded (the provider dropped the abandoned request) or the grant was
    // rotated under us; the former is what the testkit does.
    assert_eq!(status, 200, "{r}");
    oauth.wait_for_refreshes(1, WAIT).await.unwrap();
}

#[tokio::test]
async fn rotating_the_client_secret_applies_on_the_next_refresh() {
    let db = sqlite_db();
    let (oauth, b, _, _) = refresh_setup(&db.url).await;
    let mut spec = testkit_provider(&oauth, "testprov");
    spec["client_secret"] = json!("a-wrong-secret");
    b.put_provider(spec.clone()).await;
    let (status, e) = b.resolve("w1", "testprov", json!({})).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (409, Some("reauth_required")),
        "the wrong secret must be used at once: {e}"
    );
    assert_eq!(
        oauth
            .token_request_log()
            .last()
            .and_then(|r| r.error.clone())
            .as_deref(),
        Some("invalid_client")
    );
}

/// Many different connections refreshing at once must not exhaust the SQLite pool (each
/// refresh queues for the single write lock without holding a pooled connection).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_connections_refresh_concurrently_on_sqlite() {
    let db = sqlite_db();
    let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
    let b = TestBroker::start(test_config(&db.url)).await;
    b.put_provider(testkit_provider(&oauth, "testprov")).await;
    let workspaces: Vec<String> = (0..40).map(|i| format!("ws{i}")).collect();
    for ws in &workspaces {
        b.create_workspace(ws).await;
        let (_, refresh) = oauth.issue_tokens_directly(["read"]);
        b.import_refresh_token(ws, "testprov", &refresh).await;
    }
    let started = std::time::Instant::now();
    let results = futures::future::join_all(
        workspaces
            .iter()
            .map(|ws| b.resolve(ws, "testprov", json!({}))),
    )
    .await;
    for (ws, (status, body)) in workspaces.iter().zip(&results) {
        assert_eq!(*status, 200, "{ws}: {body}");
    }
    assert_eq!(oauth.stats().refresh_accepted, 40);
    eprintln!(
        "40 concurrent first refreshes on SQLite: {:?}",
        started.elapsed()
    );
}

/// A refresh never holds a lookup slot (`NEXUS_DATABASE_LOOKUP_SLOTS`): with a single slot, a
/// storm of resolves on PostgreSQL whose 4 connections all need a refresh sends the 4 refreshes
/// to the provider together (observed there before any of them is answered), and the storm on
/// one connection still refreshes it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_storm_never_waits_on_a_lookup_slot() {
    let Some(server) = common::pg_server_url() else {
        return;
    };
    let db_url = common::fresh_pg_url(&server).await;
    let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
    let mut config = test_config(&db_url);
    config.database_lookup_slots = Some(1);
    let b = std::sync::Arc::new(TestBroker::start(config).await);
    b.put_provider(testkit_provider(&oauth, "testprov")).await;
    let workspaces: Vec<String> = (0..4).map(|i| format!("ws{i}")).collect();
    for ws in &workspaces {
        b.create_workspace(ws).await;
        let (_, refresh) = oauth.issue_tokens_directly(["read"]);
        b.import_refresh_token(ws, "testprov", &refresh).await;
    }
    // Each refresh is held at the provider long enough for all of them to arrive.
    oauth.inject_failures((0..4).map(|_| Failure::Slow(Duration::from_secs(5))));
    let storm: Vec<_> = (0..32)
        .map(|i| {
            let (b, ws) = (b.clone(), workspaces[i % 4].clone());
            tokio::spawn(async move { b.resolve(&ws, "testprov", json!({})).await })
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while oauth.stats().refresh_token_requests < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "refreshes never all started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        storm.iter().all(|t| !t.is_finished()),
        "the 4 refreshes were in flight together, none waiting for another's slot"
    );
    for task in storm {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let stats = oauth.stats();
    assert_eq!(
        stats.refresh_token_requests, 4,
        "one refresh per connection"
    );
    assert_eq!(stats.refresh_accepted, 4);
}
