//! The connect flow and the refresh engine against the testkit OAuth server (real HTTP on
//! 127.0.0.1, rotating refresh tokens, failure injection).

mod common;

use common::{TestBroker, all_dbs, sqlite_db, test_config, testkit_provider};
use nexus_testkit::{AuthorizeMode, Failure, IssParam, OAuthServer, OAuthServerOptions};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// Run the browser's part: open the authorize URL at the provider, follow its redirect to the
/// broker's callback, return where the broker sends the browser (the `Location`).
async fn run_browser(b: &TestBroker, auth_url: &str) -> String {
    let at_provider = b.http.get(auth_url).send().await.unwrap();
    assert!(
        at_provider.status().is_redirection(),
        "provider answered {}",
        at_provider.status()
    );
    let callback = at_provider.headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        callback.starts_with(&format!("{}/oauth/callback?", b.url)),
        "{callback}"
    );
    let at_broker = b.http.get(&callback).send().await.unwrap();
    assert!(
        at_broker.status().is_redirection(),
        "callback answered {}",
        at_broker.status()
    );
    at_broker.headers()["location"].to_str().unwrap().to_owned()
}

async fn start_connect(b: &TestBroker, ws: &str, provider: &str, scopes: Value) -> Value {
    let (status, body) = TestBroker::send(b.admin(Method::POST, &format!("/admin/v1/workspaces/{ws}/connect")).json(&json!({
        "provider_name": provider, "user_id": "u1", "scopes": scopes, "return_url": "https://app.example/done"
    })))
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn connect_flow_with_pkce_then_resolve() {
    for db in all_dbs().await {
        let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
        let b = TestBroker::start(test_config(&db.url)).await;
        b.create_workspace("w1").await;
        b.put_provider(testkit_provider(&oauth, "testprov")).await;
        // The provider compares the redirect URI exactly, at authorize and at the code exchange.
        oauth.set_redirect_uris([format!("{}/oauth/callback", b.url)]);

        let started = start_connect(&b, "w1", "testprov", json!(["read"])).await;
        let auth_url = started["authUrl"].as_str().unwrap();
        assert_eq!(
            query_param(auth_url, "code_challenge_method").as_deref(),
            Some("S256")
        );
        assert_eq!(
            query_param(auth_url, "redirect_uri"),
            Some(format!("{}/oauth/callback", b.url))
        );
        let (status, e) = b.resolve("w1", "testprov", json!({})).await;
        assert_eq!(
            (status, e["error"].as_str()),
            (409, Some("connection_not_active")),
            "{}",
            db.label
        );

        let landing = run_browser(&b, auth_url).await;
        assert_eq!(
            query_param(&landing, "status").as_deref(),
            Some("success"),
            "{landing}"
        );
        assert_eq!(
            query_param(&landing, "connection_id").as_deref(),
            started["connection_id"].as_str()
        );

        let (status, r) = b.resolve("w1", "testprov", json!({})).await;
        assert_eq!(status, 200, "{r}");
        let token = r["access_token"].as_str().unwrap();
        assert!(
            oauth.introspect(token).active,
            "{}: the broker handed out a token the provider does not know",
            db.label
        );
        assert_eq!(r["strategy"]["type"], json!("oauth2"));
        assert!(
            r.get("refresh_token").is_none() && !r.to_string().contains("refresh"),
            "resolve leaked a refresh token: {r}"
        );
        assert_eq!(oauth.stats().authorization_code_requests, 1);

        // The admin listing shows status and scopes, never a token.
        let (_, conns) =
            TestBroker::send(b.admin(Method::GET, "/admin/v1/workspaces/w1/connections")).await;
        assert_eq!(conns[0]["status"], json!("active"));
        assert!(!conns.to_string().contains(token));
    }
}

#[tokio::test]
async fn openid_flow_validates_the_id_token() {
    let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
    let db = sqlite_db();
    let b = TestBroker::start(test_config(&db.url)).await;
    b.create_workspace("w1").await;
    b.put_provider(testkit_provider(&oauth, "oidc")).await;
    let started = start_connect(&b, "w1", "oidc", json!(["openid", "read"])).await;
    assert!(query_param(started["authUrl"].as_str().unwrap(), "nonce").is_some());
    let landing = run_browser(&b, started["authUrl"].as_str().unwrap()).await;
    assert_eq!(
        query_param(&landing, "status").as_deref(),
        Some("success"),
        "{landing}"
    );
}

#[tokio::test]
async fn callback_failures_redirect_with_an_error_code() {
    let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
    let db = sqlite_db();
    let b = TestBroker::start(test_config(&db.url)).await;
    b.create_workspace("w1").await;
    b.put_provider(testkit_provider(&oauth, "testprov")).await;

    // RFC 9207 mix-up defence.
    oauth.set_iss_param(IssParam::Override("https://evil.example".into()));
    let started = start_connect(&b, "w1", "testprov", json!([])).await;
    let landing = run_browser(&b, started["authUrl"].as_str().unwrap()).await;
    assert_eq!(
        query_param(&landing, "error").as_deref(),
        Some("issuer_mismatch"),
        "{landing}"
    );
    assert_eq!(
        oauth.stats().authorization_code_requests,
        0,
        "the code must not be redeemed after a mix-up"
    );
    let id = started["connection_id"].as_str().unwrap();
    let (_, check) = TestBroker::send(b.internal(
        Method::GET,
        &format!("/internal/v1/workspaces/w1/connections/{id}"),
    ))
    .await;
    assert_eq!(check["status"], json!("failed"));
    oauth.set_iss_param(IssParam::Correct);

    // The person says no.
    oauth.set_authorize_mode(AuthorizeMode::Deny);
    let started = start_connect(&b, "w1", "testprov", json!([])).await;
    let landing = run_browser(&b, started["authUrl"].as_str().unwrap()).await;
    assert_eq!(query_param(&landing, "status").as_deref(), Some("error"));
    assert_eq!(
        query_param(&landing, "error").as_deref(),
        Some("access_denied")
    );
    oauth.set_authorize_mode(AuthorizeMode::Approve);

    // The code exchange fails at the provider.
    oauth.inject_failure(Failure::InvalidGrant);
    let started = start_connect(&b, "w1", "testprov", json!([])).await;
    let landing = run_browser(&b, started["authUrl"].as_str().unwrap()).await;
    assert_eq!(
        query_param(&landing, "error").as_deref(),
        Some("token_exchange_failed")
    );

    // A replayed or forged state is refused with a page, not a 5xx.
    let forged = b
        .http
        .get(format!("{}/oauth/callback?code=x&state=forged", b.url))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    let bare = b
        .http
        .get(format!("{}/oauth/callback", b.url))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 400);
}

#[tokio::test]
async fn state_expires() {
    let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
    let db = sqlite_db();
    let mut config = test_config(&db.url);
    config.pending_lifetime = Duration::ZERO;
    let b = TestBroker::start(config).await;
    b.create_workspace("w1").await;
    b.put_provider(testkit_provider(&oauth, "testprov")).await;
    let started = start_connect(&b, "w1", "testprov", json!([])).await;
    let landing = run_browser(&b, started["authUrl"].as_str().unwrap()).await;
    assert_eq!(
        query_param(&landing, "error").as_deref(),
        Some("expired_state")
    );
}

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

#[tokio::test]
async fn a_connect_flow_that_cannot_start_leaves_nothing_behind() {
    let db = sqlite_db();
    let b = TestBroker::start(test_config(&db.url)).await;
    b.create_workspace("w1").await;
    // Discovery only, at an address where nothing listens.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    b.put_provider(json!({"name": "gone", "client_id": "c", "issuer": dead}))
        .await;
    let (status, e) = TestBroker::send(
        b.admin(Method::POST, "/admin/v1/workspaces/w1/connect")
            .json(&json!({"provider_name": "gone"})),
    )
    .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (502, Some("upstream_unavailable")),
        "{e}"
    );
    let (_, conns) =
        TestBroker::send(b.admin(Method::GET, "/admin/v1/workspaces/w1/connections")).await;
    assert_eq!(conns, json!([]));
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
