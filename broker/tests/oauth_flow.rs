//! The connect flow against the testkit OAuth server (real HTTP on 127.0.0.1): PKCE, OpenID,
//! callback failures, expiry. The refresh engine: `oauth_refresh.rs`.

mod common;

use common::{TestBroker, all_dbs, sqlite_db, test_config, testkit_provider};
use nexus_testkit::{AuthorizeMode, Failure, IssParam, OAuthServer, OAuthServerOptions};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

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

#[tokio::test]
async fn a_connect_flow_that_cannot_start_leaves_nothing_behind() {
    let db = sqlite_db();
    let b = TestBroker::start(test_config(&db.url)).await;
    b.create_workspace("w1").await;
    // Discovery only, at an address where nothing listens.
    let closed = nexus_testkit::RefusingPort::new();
    let dead = closed.http_url();
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

/// A connect flow started at a provider that omits `iss` from its authorization responses and
/// advertises RFC 9207 support or not.
async fn connect_without_iss(
    advertise: bool,
) -> (OAuthServer, TestBroker, Value, nexus_vault::testing::TestDb) {
    let oauth = OAuthServer::start(OAuthServerOptions {
        iss_param: IssParam::Omit,
        advertise_iss_support: advertise,
        ..OAuthServerOptions::default()
    })
    .await;
    let db = sqlite_db();
    let b = TestBroker::start(test_config(&db.url)).await;
    b.create_workspace("w1").await;
    b.put_provider(testkit_provider(&oauth, "testprov")).await;
    let started = start_connect(&b, "w1", "testprov", json!([])).await;
    (oauth, b, started, db)
}

/// RFC 9207: a provider whose discovery advertises `authorization_response_iss_parameter_supported`
/// always sends `iss`, so a callback without it is refused before the one-time state is used:
/// the connection stays pending and the genuine response still completes it.
#[tokio::test]
async fn callback_without_iss_is_refused_when_the_provider_advertises_it() {
    let (oauth, b, started, _db) = connect_without_iss(true).await;
    let auth_url = started["authUrl"].as_str().unwrap();
    let at_provider = b.http.get(auth_url).send().await.unwrap();
    let callback = at_provider.headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(query_param(&callback, "iss").is_none(), "{callback}");
    let refused = b.http.get(&callback).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("missing_iss"));
    assert_eq!(
        oauth.stats().authorization_code_requests,
        0,
        "the code must not be redeemed without `iss`"
    );
    let id = started["connection_id"].as_str().unwrap();
    let check_path = format!("/internal/v1/workspaces/w1/connections/{id}");
    let (_, check) = TestBroker::send(b.internal(Method::GET, &check_path)).await;
    assert_eq!(check["status"], json!("pending"), "{check}");

    // Nothing was lost: the provider's genuine response (with `iss`) completes the same flow.
    oauth.set_iss_param(IssParam::Correct);
    let landing = run_browser(&b, auth_url).await;
    assert_eq!(
        query_param(&landing, "status").as_deref(),
        Some("success"),
        "{landing}"
    );
    let (_, check) = TestBroker::send(b.internal(Method::GET, &check_path)).await;
    assert_eq!(check["status"], json!("active"), "{check}");
}

/// A provider that does not advertise RFC 9207 may omit `iss` (older providers do).
#[tokio::test]
async fn callback_without_iss_is_accepted_when_the_provider_does_not_advertise_it() {
    let (_oauth, b, started, _db) = connect_without_iss(false).await;
    let landing = run_browser(&b, started["authUrl"].as_str().unwrap()).await;
    assert_eq!(
        query_param(&landing, "status").as_deref(),
        Some("success"),
        "{landing}"
    );
}
