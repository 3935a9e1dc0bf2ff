//! Real `nexus-broker` processes: three of them racing on one PostgreSQL, a broker killed
//! with SIGKILL in the middle of a refresh, and one killed after a change whose webhook it
//! never sent.

mod common;

use common::process::{BrokerProcess, WAIT, resolve_at};
use common::{
    ADMIN_TOKEN, INTERNAL_TOKEN, fresh_pg_url, pg_server_url, sqlite_db, testkit_provider,
};
use nexus_broker::crypto::MasterKey;
use nexus_testkit::{Failure, OAuthServer, OAuthServerOptions};
use serde_json::json;
use std::time::Duration;

/// Workspace `w1`, provider `testprov` at the testkit server, and a connection holding an
/// imported refresh token and no access token (so the next resolve must refresh).
async fn seed(broker: &BrokerProcess, http: &reqwest::Client, oauth: &OAuthServer) -> String {
    let (status, _) = broker
        .admin(
            http,
            reqwest::Method::POST,
            "/admin/v1/workspaces",
            Some(json!({"id": "w1"})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, body) = broker
        .admin(
            http,
            reqwest::Method::POST,
            "/admin/v1/providers",
            Some(testkit_provider(oauth, "testprov")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, refresh) = oauth.issue_tokens_directly(["read"]);
    let (status, body) = broker
        .admin(
            http,
            reqwest::Method::POST,
            "/admin/v1/workspaces/w1/connections/import",
            Some(json!({"provider_name": "testprov", "kind": "refresh_token", "secret": refresh})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    refresh
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_brokers_100_concurrent_resolves_refresh_exactly_once() {
    let Some(server) = pg_server_url() else {
        return;
    };
    let db = fresh_pg_url(&server).await;
    let key = MasterKey::generate().to_base64();
    let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
    let brokers = [
        BrokerProcess::spawn(&db, &key).await,
        BrokerProcess::spawn(&db, &key).await,
        BrokerProcess::spawn(&db, &key).await,
    ];
    let http = reqwest::Client::new();
    seed(&brokers[0], &http, &oauth).await;

    // A slow token endpoint keeps the refresh in flight while every request arrives.
    oauth.inject_failure(Failure::Slow(Duration::from_millis(800)));
    let calls = (0..100).map(|i| brokers[i % 3].resolve(&http));
    let results = futures::future::join_all(calls).await;

    let stats = oauth.stats();
    assert_eq!(
        stats.refresh_token_requests, 1,
        "exactly one refresh must reach the provider: {stats:?}"
    );
    assert_eq!(
        (stats.refresh_rejected, stats.refresh_reuse_detected),
        (0, 0),
        "{stats:?}"
    );
    let first = results[0].1["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    for (i, (status, body)) in results.iter().enumerate() {
        assert_eq!(*status, 200, "call {i}: {body}");
        assert_eq!(
            body["access_token"].as_str(),
            Some(first.as_str()),
            "call {i} got another token"
        );
    }
    assert!(oauth.introspect(&first).active);
}

async fn crash_mid_refresh(database_url: &str) {
    let key = MasterKey::generate().to_base64();
    let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
    let http = reqwest::Client::new();
    let mut broker = BrokerProcess::spawn(database_url, &key).await;
    seed(&broker, &http, &oauth).await;

    oauth.inject_failure(Failure::Slow(Duration::from_secs(5)));
    let url = broker.url.clone();
    let in_flight = tokio::spawn({
        let http = http.clone();
        async move { resolve_at(&http, &url).await }
    });
    // The token request has reached the provider (counted on arrival, before the delay).
    oauth
        .wait_for_token_requests(1, WAIT)
        .await
        .expect("refresh reached the provider");
    broker.child.start_kill().expect("SIGKILL");
    broker.child.wait().await.expect("reaped");
    let answered = in_flight.await.expect("task");
    assert!(
        answered.is_none(),
        "the killed broker cannot have answered: {answered:?}"
    );

    let restarted = BrokerProcess::spawn(database_url, &key).await;
    let (status, body) = restarted.resolve(&http).await;
    assert_eq!(
        status, 200,
        "the connection must survive a crash mid-refresh: {body}"
    );
    assert!(
        oauth
            .introspect(body["access_token"].as_str().unwrap_or_default())
            .active
    );
    let (_, conns) = restarted
        .admin(
            &http,
            reqwest::Method::GET,
            "/admin/v1/workspaces/w1/connections",
            None,
        )
        .await;
    assert_eq!(conns[0]["status"], json!("active"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_refresh_postgres() {
    let Some(server) = pg_server_url() else {
        return;
    };
    crash_mid_refresh(&fresh_pg_url(&server).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_refresh_sqlite() {
    let db = sqlite_db();
    crash_mid_refresh(&db.url).await;
}

/// The outbox is written with the change: a broker killed with SIGKILL after committing a
/// change (its dispatch paused, a real operator switch) loses no event; the next broker sends
/// them, signed and in order.
async fn kill_9_after_the_commit_still_delivers(database_url: &str) {
    let key = MasterKey::generate().to_base64();
    let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
    let receiver = nexus_testkit::WebhookReceiver::start().await;
    let http = reqwest::Client::new();
    let webhook_env = |dispatch| {
        [
            ("NEXUS_WEBHOOK_ALLOW_LOOPBACK", "1"),
            ("NEXUS_WEBHOOK_DISPATCH", dispatch),
            ("NEXUS_WEBHOOK_POLL", "50ms"),
        ]
    };
    let mut broker =
        BrokerProcess::spawn_with_env(database_url, &key, "warn", &webhook_env("paused")).await;
    let (status, created) = broker
        .admin(
            &http,
            reqwest::Method::POST,
            "/admin/v1/webhooks",
            Some(json!({"url": receiver.url()})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    receiver.set_secrets([created["secret"].as_str().unwrap()]);
    seed(&broker, &http, &oauth).await;
    oauth.inject_failure(Failure::InvalidGrant);
    let (status, body) = broker.resolve(&http).await;
    assert_eq!(status, 409, "{body}");

    let pool = common::raw_pool(database_url).await;
    let queued: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'pending'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(queued, 2, "created and needs_reauth wait in the outbox");
    pool.close().await;
    broker.child.start_kill().expect("SIGKILL");
    broker.child.wait().await.expect("reaped");
    assert!(receiver.log().received.is_empty());

    let _restarted =
        BrokerProcess::spawn_with_env(database_url, &key, "warn", &webhook_env("on")).await;
    let log = receiver
        .wait_until(WAIT, |l| l.accepted().len() >= 2)
        .await
        .unwrap_or_else(|l| panic!("{l:?}"));
    let got: Vec<(&str, i64)> = log
        .accepted()
        .iter()
        .map(|r| (r.event_type.as_str(), r.sequence))
        .collect();
    assert_eq!(
        got,
        [("connection.created", 1), ("connection.needs_reauth", 2)]
    );
    assert_eq!(log.rejected, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_after_the_commit_still_delivers_postgres() {
    let Some(server) = pg_server_url() else {
        return;
    };
    kill_9_after_the_commit_still_delivers(&fresh_pg_url(&server).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_after_the_commit_still_delivers_sqlite() {
    let db = sqlite_db();
    kill_9_after_the_commit_still_delivers(&db.url).await;
}

/// Even at `debug`, the broker's log (its own lines, sqlx, hyper, reqwest) contains no client
/// secret, refresh token, access token, static credential or API key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_the_log_even_at_debug() {
    let db = sqlite_db();
    let key = MasterKey::generate().to_base64();
    let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
    let http = reqwest::Client::new();
    let broker = BrokerProcess::spawn_with_env(
        &db.url,
        &key,
        "debug",
        &[
            ("NEXUS_WEBHOOK_ALLOW_LOOPBACK", "1"),
            ("NEXUS_WEBHOOK_POLL", "50ms"),
        ],
    )
    .await;
    // A webhook endpoint: its secrets (the first and a rotated one) must not be logged either.
    let receiver = nexus_testkit::WebhookReceiver::start().await;
    let (status, hook) = broker
        .admin(
            &http,
            reqwest::Method::POST,
            "/admin/v1/webhooks",
            Some(json!({"url": receiver.url()})),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    let hook_secret = hook["secret"].as_str().unwrap().to_owned();
    let (_, rotated) = broker
        .admin(
            &http,
            reqwest::Method::POST,
            &format!(
                "/admin/v1/webhooks/{}/rotate-secret",
                hook["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    let rotated_secret = rotated["secret"].as_str().unwrap().to_owned();
    receiver.set_secrets([rotated_secret.clone()]);
    let imported_refresh = seed(&broker, &http, &oauth).await;
    let (status, first) = broker.resolve(&http).await;
    assert_eq!(status, 200, "{first}");
    oauth.inject_failures([Failure::ServerError(503), Failure::InvalidGrant]);
    let (status, _) = resolve_at(&http, &broker.url).await.expect("answer");
    assert_eq!(status, 200, "a still-valid token is served");
    let body = json!({"principal": {"kind": "api_key", "workspace_id": "w1", "key_id": "k"}, "workspace_id": "w1", "provider_name": "testprov", "force_refresh": true});
    let forced = http
        .post(format!("{}/internal/v1/resolve", broker.url))
        .bearer_auth(INTERNAL_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("resolve");
    assert!(forced.status().is_success() || forced.status().as_u16() == 409);
    let (status, created) = broker
        .admin(
            &http,
            reqwest::Method::POST,
            "/admin/v1/workspaces/w1/api-keys",
            None,
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = broker
        .admin(
            &http,
            reqwest::Method::POST,
            "/admin/v1/providers",
            Some(json!({"name": "stripe", "auth_type": "api_key"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = broker
        .admin(
            &http,
            reqwest::Method::POST,
            "/admin/v1/workspaces/w1/connections/import",
            Some(
                json!({"provider_name": "stripe", "kind": "api_key", "secret": "sk_live_LOGCHECK"}),
            ),
        )
        .await;
    assert_eq!(status, 201);

    receiver
        .wait_until(WAIT, |l| l.accepted().len() >= 2)
        .await
        .unwrap_or_else(|l| panic!("webhooks were not sent: {l:?}"));
    let log = broker.log.lock().join("\n");
    assert!(
        log.lines().count() > 5,
        "debug logging produced almost nothing: {log}"
    );
    for (what, secret) in [
        ("client secret", oauth.client_secret()),
        ("imported refresh token", imported_refresh.clone()),
        (
            "access token",
            first["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ),
        (
            "workspace API key",
            created["api_key"].as_str().unwrap_or_default().to_owned(),
        ),
        ("static credential", "sk_live_LOGCHECK".to_owned()),
        ("admin token", ADMIN_TOKEN.to_owned()),
        ("internal token", INTERNAL_TOKEN.to_owned()),
        ("master key", key.clone()),
        ("webhook secret", hook_secret.clone()),
        (
            "webhook secret key",
            hook_secret["whsec_".len()..].to_owned(),
        ),
        ("rotated webhook secret", rotated_secret.clone()),
    ] {
        assert!(
            !secret.is_empty() && !log.contains(&secret),
            "the log contains the {what}"
        );
    }
}

/// The standalone binary serves on the hardened listener: a connection that never sends a
/// request head is closed after the header timeout (with `axum::serve` it stayed open for
/// minutes), and the broker keeps answering `/healthz` meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standalone_broker_closes_a_silent_connection() {
    use tokio::io::AsyncReadExt;
    let db = sqlite_db();
    let key = MasterKey::generate().to_base64();
    let broker = BrokerProcess::spawn_with_env(
        &db.url,
        &key,
        "warn",
        &[("NEXUS_HTTP_HEADER_TIMEOUT_MS", "300")],
    )
    .await;
    let addr = broker.url.trim_start_matches("http://").to_owned();
    let mut silent = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let http = reqwest::Client::new();
    let health = http
        .get(format!("{}/healthz", broker.url))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    // EOF (0 bytes) is the close; the bound only keeps a regression from hanging the suite.
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(WAIT, silent.read(&mut buf))
        .await
        .expect("the silent connection is still open after 20 s: no header timeout");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}
