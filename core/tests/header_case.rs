//! The header names the gateway and an upstream receive from the core's own HTTP clients
//! (`authenticated_fetch`, `AuthenticatedClient`, the gateway calls), recorded as they came over
//! the wire by the testkit's recording upstream (no parser that case-folds names).

mod support;

use nexus_sdk::{AuthenticatedClient, ClientOptions, FetchRequest, NexusClient, TokenCache};
use nexus_testkit::{RawRequest, RecordingUpstream, Reply as Raw};
use serde_json::json;
use std::sync::Arc;
use support::{Reply, TestServer, client_for};

/// A gateway answering provider `name` with a `header` strategy that declares `name`'s
/// header as spelled in [`declared_header`], and `oauth` with an `oauth2` strategy.
async fn gateway() -> TestServer {
    TestServer::start(Arc::new(|_, recorded| {
        Box::pin(async move {
            let provider = recorded
                .query
                .split('&')
                .find_map(|pair| pair.strip_prefix("provider_name="))
                .unwrap_or_default()
                .to_owned();
            match declared_header(&provider) {
                Some(header_name) => Reply::json(
                    200,
                    json!({
                        "access_token": "k-123", "expires_in": 3600,
                        "strategy": {"type": "header", "config": {"header_name": header_name, "value_prefix": ""}},
                        "credentials": {"api_key": "k-123"}
                    }),
                ),
                None => Reply::token("at-1", 3600),
            }
        })
    }))
    .await
}

/// The `header_name` each test provider declares (as its provider config spells it).
fn declared_header(provider: &str) -> Option<&'static str> {
    match provider {
        "trial" => Some("X-Trial-Key"),
        "goog" => Some("x-goog-api-key"),
        "crm" => Some("X-API-Key"),
        _ => None,
    }
}

fn get(url: String, headers: &[(&str, &str)]) -> FetchRequest {
    FetchRequest {
        method: "GET".into(),
        url,
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body: None,
    }
}

#[tokio::test]
async fn authenticated_fetch_sends_the_declared_and_the_callers_names_byte_exact() {
    let gateway = gateway().await;
    let upstream = RecordingUpstream::start().await;
    let client = client_for(&gateway);
    let cache = TokenCache::new();
    let caller = [
        ("X-Custom-ID", "c-1"),
        ("content-type", "application/json"),
        ("ACCEPT", "text/plain"),
    ];
    for provider in ["trial", "goog", "crm", "oauth"] {
        let request = get(format!("{}/v1/{provider}?q=1#part", upstream.url), &caller);
        let answer = client
            .authenticated_fetch(&cache, "ws", provider, request)
            .await
            .expect("fetch");
        assert_eq!(answer.status, 200);
    }

    let seen = upstream.requests();
    assert_eq!(seen.len(), 4, "{seen:?}");
    let expected = [
        "X-Trial-Key",
        "x-goog-api-key",
        "X-API-Key",
        "Authorization",
    ];
    for (request, credential) in seen.iter().zip(expected) {
        let names = names(request);
        assert!(names.contains(&credential), "{credential}: {names:?}");
        for caller_name in ["X-Custom-ID", "content-type", "ACCEPT"] {
            assert!(names.contains(&caller_name), "{caller_name}: {names:?}");
        }
        // Names nobody spelled: hyper's and the client's own, in Title-Case.
        assert!(names.contains(&"Host"), "{names:?}");
        assert!(names.contains(&"User-Agent"), "{names:?}");
        // The caller's `ACCEPT` replaced the default `Accept`, it was not sent twice.
        let accepts = names.iter().filter(|n| n.eq_ignore_ascii_case("accept"));
        assert_eq!(accepts.count(), 1, "{names:?}");
    }
    assert_eq!(seen[0].header("x-trial-key"), Some("k-123"));
    // The fragment stays with the client.
    assert_eq!(seen[0].target, "/v1/trial?q=1");
    assert_eq!(seen[3].header("authorization"), Some("Bearer at-1"));
}

#[tokio::test]
async fn a_body_and_a_retry_after_401_keep_the_spelling() {
    let gateway = gateway().await;
    let upstream = RecordingUpstream::start().await;
    upstream.script([Raw::status(401)]);
    let client = client_for(&gateway);
    let cache = TokenCache::new();
    let request = FetchRequest {
        method: "POST".into(),
        url: format!("{}/v1/items", upstream.url),
        headers: vec![("X-Custom-ID".into(), "c-2".into())],
        body: Some(bytes::Bytes::from_static(b"{\"a\":1}")),
    };
    let answer = client
        .authenticated_fetch(&cache, "ws", "crm", request)
        .await
        .expect("fetch");
    assert_eq!(answer.status, 200);
    let seen = upstream.requests();
    assert_eq!(seen.len(), 2, "one 401, one retry: {seen:?}");
    for request in &seen {
        let names = names(request);
        assert!(names.contains(&"X-API-Key"), "{names:?}");
        assert!(names.contains(&"X-Custom-ID"), "{names:?}");
        assert!(names.contains(&"Content-Length"), "{names:?}");
        assert_eq!(request.body, b"{\"a\":1}");
    }
}

#[tokio::test]
async fn redirects_keep_the_spelling_and_the_credential_stays_with_its_origin() {
    let gateway = gateway().await;
    let first = RecordingUpstream::start().await;
    let elsewhere = RecordingUpstream::start().await;
    first.script([
        Raw::with(302, &[("Location", "/moved")], b""),
        Raw::with(
            307,
            &[("Location", &format!("{}/landing", elsewhere.url))],
            b"",
        ),
    ]);
    let client = client_for(&gateway);
    let cache = TokenCache::new();
    let request = get(
        format!("{}/start", first.url),
        &[("X-Custom-ID", "c-3"), ("Cookie", "session=1")],
    );
    let answer = client
        .authenticated_fetch(&cache, "ws", "crm", request)
        .await
        .expect("fetch");
    assert_eq!(answer.status, 200);

    let same_origin = first.requests();
    assert_eq!(same_origin.len(), 2, "{same_origin:?}");
    assert_eq!(same_origin[1].path(), "/moved");
    for request in &same_origin {
        let names = names(request);
        assert!(names.contains(&"X-API-Key"), "{names:?}");
        assert!(names.contains(&"X-Custom-ID"), "{names:?}");
    }
    let other_origin = elsewhere.requests();
    assert_eq!(other_origin.len(), 1, "{other_origin:?}");
    assert_eq!(other_origin[0].path(), "/landing");
    assert_eq!(
        other_origin[0].header("x-api-key"),
        None,
        "credential leaked"
    );
    assert_eq!(other_origin[0].header("cookie"), None, "cookie leaked");
    assert!(names(&other_origin[0]).contains(&"X-Custom-ID"));
}

/// `user:password@` in the URL is reqwest's to turn into basic authentication (hyper would send
/// it in `Host`); the request still carries the injected credential and reaches the upstream.
#[tokio::test]
async fn a_url_with_userinfo_goes_out_as_basic_authentication() {
    let gateway = gateway().await;
    let upstream = RecordingUpstream::start().await;
    let client = client_for(&gateway);
    let cache = TokenCache::new();
    let url = format!("http://user:pw@{}/v1/basic", upstream.authority());
    let answer = client
        .authenticated_fetch(&cache, "ws", "crm", get(url, &[]))
        .await
        .expect("fetch");
    assert_eq!(answer.status, 200);
    let seen = upstream.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].header("authorization"), Some("Basic dXNlcjpwdw=="));
    assert_eq!(seen[0].header("x-api-key"), Some("k-123"));
    assert_eq!(seen[0].header("host"), Some(upstream.authority()));
}

#[tokio::test]
async fn the_gateway_receives_authorization_in_its_canonical_case() {
    let gateway = RecordingUpstream::start().await;
    let body = json!({
        "access_token": "at-1", "token_type": "Bearer", "expires_in": 3600,
        "strategy": {"type": "oauth2"}, "credentials": {"access_token": "at-1"}
    })
    .to_string();
    gateway.script([Raw::with(
        200,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )]);
    let client = NexusClient::new(ClientOptions::new(gateway.url.clone(), "nxk_key")).unwrap();
    client
        .resolve("ws", "github", Default::default())
        .await
        .expect("resolve");
    let seen = gateway.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(names(&seen[0]).contains(&"Authorization"), "{seen:?}");
    assert_eq!(seen[0].header("authorization"), Some("Bearer nxk_key"));
}

/// `AuthenticatedClient` sends through reqwest (its requests and answers are reqwest's types),
/// which writes Title-Case: the declared spelling `X-Trial-Key` is Title-Case already, the
/// caller's `x-request-id` arrives as `X-Request-Id` (docs/migration.md lists this).
#[tokio::test]
async fn authenticated_client_sends_title_case() {
    let gateway = gateway().await;
    let upstream = RecordingUpstream::start().await;
    let client = client_for(&gateway);
    let authenticated = AuthenticatedClient::new(client, TokenCache::new(), "ws", "trial");
    let request = authenticated
        .request(reqwest::Method::GET, &format!("{}/v1/other", upstream.url))
        .header("x-request-id", "r-1")
        .build()
        .expect("request");
    let answer = authenticated.execute(request).await.expect("execute");
    assert_eq!(answer.status(), 200);

    let seen = upstream.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let names = names(&seen[0]);
    assert!(names.contains(&"X-Trial-Key"), "{names:?}");
    assert!(names.contains(&"X-Request-Id"), "{names:?}");
}

/// The header names of `request`, as they arrived.
fn names(request: &RawRequest) -> Vec<&str> {
    request.headers.iter().map(|(n, _)| n.as_str()).collect()
}
