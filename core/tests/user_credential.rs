//! The MCP user's upstream credential (`NexusClient::user_credential` and friends) against a
//! loopback gateway that answers `POST /v1/mcp/user-credential` like the real one: 200 with a
//! resolve body per user, or 409 `connection_required` with the connect link.
#![cfg(feature = "resource-server")]

mod support;

use futures::future::join_all;
use nexus_sdk::resource_server::AuthenticatedUser;
use nexus_sdk::{FetchRequest, NexusError, ResolveOptions, SecretString, TokenCache};
use serde_json::{Value, json};
use std::sync::Arc;
use support::{API_KEY, Recorded, Reply, TestServer, client_for};

fn user(subject: &str, token: &str) -> AuthenticatedUser {
    AuthenticatedUser {
        subject: subject.into(),
        workspace_id: "ws_1".into(),
        client_id: "ocl_1".into(),
        scopes: vec!["repos:read".into()],
        expires_at: 4_000_000_000,
        issuer: "http://127.0.0.1:9".into(),
        resource: "http://127.0.0.1:9/mcp".into(),
        actor: None,
        grant_id: None,
        token_id: None,
        token: SecretString::new(token),
    }
}

fn body(request: &Recorded) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

/// The gateway: alice (token `at-alice`) is connected, anyone else gets `connection_required`.
/// The upstream credential names the user and counts refreshes (`force_refresh`).
async fn gateway(upstream: &str) -> TestServer {
    let upstream = upstream.to_owned();
    TestServer::start(Arc::new(move |i, request| {
        let upstream = upstream.clone();
        Box::pin(async move {
            assert_eq!(request.path, "/v1/mcp/user-credential");
            let sent = body(&request);
            if sent["subject_token"] == "at-alice" {
                let forced = sent["force_refresh"] == true;
                let credential = format!("gh-alice-{}", if forced { i } else { 0 });
                let mut reply = Reply::token(&credential, 3600);
                let mut json: Value = serde_json::from_str(&reply.body).unwrap();
                json["api_base_url"] = json!(upstream);
                reply.body = json.to_string();
                reply
            } else {
                Reply::json(
                    409,
                    json!({
                        "error": "connection_required",
                        "message": "Connect GitHub to continue",
                        "provider": sent["provider"],
                        "reason": "missing",
                        "connect_url": "http://127.0.0.1:9/as/connect/tkt_bob",
                        "elicitation_id": "eli_bob",
                        "request_id": "req-9",
                    }),
                )
            }
        })
    }))
    .await
}

#[tokio::test]
async fn each_user_gets_their_own_credential_cached_apart_with_one_call_per_user() {
    let gw = gateway("http://127.0.0.1:9").await;
    let client = client_for(&gw);
    let cache = TokenCache::new();
    let alice = user("usr_alice", "at-alice");

    // Ten concurrent misses for one user: one gateway call (single flight).
    let calls = (0..10)
        .map(|_| client.user_credential(&cache, &alice, "github", ResolveOptions::default()));
    for token in join_all(calls).await {
        assert_eq!(token.unwrap().access_token(), Some("gh-alice-0"));
    }
    assert_eq!(gw.count(), 1);

    let first = &gw.requests()[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.query, "", "the access token never goes into the URL");
    assert_eq!(
        first.header("authorization"),
        Some(format!("Bearer {API_KEY}").as_str()),
        "the workspace API key authenticates the call"
    );
    assert_eq!(
        body(first),
        json!({"provider": "github", "subject_token": "at-alice"})
    );

    // Another user with the same workspace and provider is not served alice's credential.
    let bob = user("usr_bob", "at-bob");
    let refused = client
        .user_credential(&cache, &bob, "github", ResolveOptions::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "connection_required");
    assert_eq!(gw.count(), 2);
    // And the same subject under another issuer is another user.
    let elsewhere = AuthenticatedUser {
        issuer: "http://127.0.0.1:10".into(),
        token: SecretString::new("at-other"),
        ..alice.clone()
    };
    assert!(
        client
            .user_credential(&cache, &elsewhere, "github", ResolveOptions::default())
            .await
            .is_err()
    );
    // Alice again: from the cache.
    let again = client
        .user_credential(&cache, &alice, "github", ResolveOptions::default())
        .await
        .unwrap();
    assert_eq!(again.access_token(), Some("gh-alice-0"));
    assert_eq!(gw.count(), 3);
}

#[tokio::test]
async fn connection_required_carries_the_link_and_is_never_cached() {
    let gw = gateway("http://127.0.0.1:9").await;
    let client = client_for(&gw);
    let cache = TokenCache::new();
    let bob = user("usr_bob", "at-bob");
    for attempt in 1..=2 {
        let error = client
            .user_credential(&cache, &bob, "github", ResolveOptions::default())
            .await
            .unwrap_err();
        let NexusError::ConnectionRequired(required) = &error else {
            panic!("expected connection_required, got {error:?}");
        };
        assert_eq!(
            required.connect_url,
            "http://127.0.0.1:9/as/connect/tkt_bob"
        );
        assert_eq!(required.elicitation_id, "eli_bob");
        assert_eq!(required.provider, "github");
        assert_eq!(required.reason, "missing");
        assert_eq!(error.status(), Some(409));
        assert_eq!(error.request_id(), Some("req-9"));
        assert_eq!(error.message(), "Connect GitHub to continue");
        assert_eq!(error.class_name(), "ConnectionRequiredError");
        assert_eq!(error.kind(), nexus_sdk::ErrorKind::Api);
        // The retried call asks the gateway again (the user may have connected meanwhile).
        assert_eq!(gw.count(), attempt);
    }
}

#[tokio::test]
async fn min_ttl_and_force_refresh_go_to_the_gateway_and_replace_the_cached_one() {
    let gw = gateway("http://127.0.0.1:9").await;
    let client = client_for(&gw);
    let cache = TokenCache::new();
    let alice = user("usr_alice", "at-alice");
    client
        .user_credential(&cache, &alice, "github", ResolveOptions::default())
        .await
        .unwrap();
    // The cached one lives ~3570 s: a min_ttl it meets is a hit, one it does not is a call.
    let options = |min_ttl, force_refresh| ResolveOptions {
        min_ttl: Some(min_ttl),
        force_refresh,
    };
    client
        .user_credential(&cache, &alice, "github", options(60, false))
        .await
        .unwrap();
    assert_eq!(gw.count(), 1);
    client
        .user_credential(&cache, &alice, "github", options(7200, false))
        .await
        .unwrap();
    assert_eq!(gw.count(), 2);
    assert_eq!(body(&gw.requests()[1])["min_ttl"], 7200);
    let forced = client
        .user_credential(&cache, &alice, "github", options(1, true))
        .await
        .unwrap();
    assert_eq!(body(&gw.requests()[2])["force_refresh"], true);
    assert_eq!(forced.access_token(), Some("gh-alice-2"));
}

#[tokio::test]
async fn user_fetch_applies_the_users_credential_and_refreshes_once_on_401() {
    // The upstream refuses the first credential (revoked early), accepts the refreshed one.
    let upstream = TestServer::start(Arc::new(|_, request: Recorded| {
        Box::pin(async move {
            match request.header("authorization") {
                Some("Bearer gh-alice-0") => Reply::json(401, json!({"error": "revoked"})),
                Some(other) => Reply::json(200, json!({"seen": other})),
                None => Reply::json(400, json!({})),
            }
        })
    }))
    .await;
    let gw = gateway(&upstream.url()).await;
    let client = client_for(&gw);
    let cache = TokenCache::new();
    let alice = user("usr_alice", "at-alice");
    let request = FetchRequest {
        method: "GET".into(),
        url: format!("{}/user/repos", upstream.url()),
        ..FetchRequest::default()
    };
    let answer = client
        .user_authenticated_fetch(&cache, &alice, "github", request)
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    let seen: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(seen["seen"], "Bearer gh-alice-1");
    assert_eq!(upstream.count(), 2);
    assert_eq!(body(&gw.requests()[1])["force_refresh"], true);
}

#[test]
fn the_users_token_never_shows_in_debug() {
    let shown = format!("{:?}", user("usr_alice", "eyJ.secret.sig"));
    assert!(!shown.contains("eyJ.secret.sig"), "{shown}");
    assert!(shown.contains("usr_alice"));
}
