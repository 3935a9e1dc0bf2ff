//! Proxy mode from the client's side: `tests/vectors/proxy.json` → `proxy_cases` (URL building
//! and the gateway/upstream classification, format in `tests/vectors/README.md`; its ordinary
//! `cases` run in `tests/vectors.rs`), and `proxy_fetch` against a real gateway stand-in on
//! loopback: the Nexus credential replaces the caller's, answers come back as they are, and only
//! a `Nexus-Error` answer becomes an error.

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::any;
use nexus_sdk::proxy::{gateway_error, proxy_url};
use nexus_sdk::{ClientOptions, FetchRequest, NexusClient};
use serde_json::Value;
use std::sync::{Arc, Mutex};

fn vectors() -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/proxy.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("proxy.json"))
        .expect("valid JSON");
    doc["proxy_cases"]
        .as_array()
        .expect("`proxy_cases`")
        .clone()
}

#[test]
fn proxy_vectors() {
    let cases = vectors();
    assert!(cases.len() >= 20);
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap_or("?");
        let got: Result<String, String> = if let Some(u) = case.get("url") {
            let s = |k: &str| u[k].as_str().unwrap_or_default();
            proxy_url(s("gateway"), s("workspace_id"), s("provider"), s("path"))
                .map_err(|e| e.code().to_owned())
        } else {
            let answer = &case["answer"];
            let headers: Vec<(String, String)> = answer["headers"]
                .as_object()
                .expect("headers")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            let status = answer["status"].as_u64().unwrap_or(0) as u16;
            let body = answer["body"].as_str().unwrap_or_default().as_bytes();
            match gateway_error(status, &headers, body) {
                None => Ok("upstream".to_owned()),
                Some(err) => Err(format!("gateway:{}", err.code())),
            }
        };
        let want: Result<String, String> = match (
            case["expect_url"].as_str(),
            case["expect_source"].as_str(),
            case["expect_error"].as_str(),
        ) {
            (Some(url), None, None) => Ok(url.to_owned()),
            (None, None, Some(code)) => Err(code.to_owned()),
            (None, Some("upstream"), None) => Ok("upstream".to_owned()),
            (None, Some("gateway"), Some(code)) => Err(format!("gateway:{code}")),
            _ => panic!("{name}: malformed case"),
        };
        if got != want {
            failures.push(format!("{name}: got {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// What the stand-in gateway saw.
#[derive(Default, Clone)]
struct Seen(Arc<Mutex<Vec<(String, HeaderMap)>>>);

async fn gateway_stand_in() -> (String, Seen) {
    let seen = Seen::default();
    let record = seen.clone();
    let app = Router::new().fallback(any(move |uri: axum::http::Uri, headers: HeaderMap| {
        let record = record.clone();
        async move {
            record.0.lock().unwrap().push((uri.to_string(), headers));
            match uri.path() {
                p if p.ends_with("/denied") => (
                    StatusCode::FORBIDDEN,
                    [("nexus-error", "insufficient_scope")],
                    r#"{"error":"insufficient_scope","message":"no rule"}"#,
                ),
                p if p.ends_with("/moved") => (StatusCode::FOUND, [("location", "/elsewhere")], ""),
                _ => (
                    StatusCode::UNAUTHORIZED,
                    [("x-upstream", "yes")],
                    r#"{"error":"unauthorized","message":"upstream's own"}"#,
                ),
            }
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test]
async fn proxy_fetch_sends_the_nexus_credential_and_returns_upstream_answers_as_they_are() {
    let (url, seen) = gateway_stand_in().await;
    let client = NexusClient::new(ClientOptions::new(url, "nx_key")).unwrap();
    let request = |path: &str| FetchRequest {
        method: "POST".into(),
        url: path.into(),
        headers: vec![
            ("Authorization".into(), "Bearer caller-own".into()),
            ("X-Trace".into(), "t1".into()),
        ],
        body: Some("{}".into()),
    };
    // An upstream 401 is the upstream's answer: returned, not retried, not an error.
    let answer = client
        .proxy_fetch(
            "acme",
            "crm",
            request("/contacts?x=1"),
            Some("uploads.crm.example"),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 401);
    assert!(
        answer
            .headers
            .iter()
            .any(|(n, v)| n == "x-upstream" && v == "yes")
    );
    // A redirect is returned, not followed.
    let moved = client
        .proxy_fetch("acme", "crm", request("/moved"), None)
        .await
        .unwrap();
    assert_eq!(moved.status, 302);
    // Only the gateway's marked answer is an error, typed from the core's table.
    let denied = client
        .proxy_fetch("acme", "crm", request("/denied"), None)
        .await
        .unwrap_err();
    assert_eq!(denied.code(), "insufficient_scope");
    let seen = seen.0.lock().unwrap().clone();
    assert_eq!(
        seen.len(),
        3,
        "one request each: no retry, no redirect followed"
    );
    let (target, headers) = &seen[0];
    assert_eq!(target, "/v1/proxy/acme/crm/contacts?x=1");
    let auth: Vec<_> = headers.get_all("authorization").iter().collect();
    assert_eq!(
        auth,
        vec!["Bearer nx_key"],
        "the caller's Authorization is replaced"
    );
    assert_eq!(headers["x-trace"], "t1");
    assert_eq!(headers["nexus-proxy-host"], "uploads.crm.example");
    assert!(
        client
            .proxy_fetch("acme", "crm", request("https://evil.example/"), None)
            .await
            .is_err()
    );
}

/// `proxy_fetch` reads whole answers, so it keeps at most `max_response_bytes`: a declared
/// `Content-Length` over it and a chunked body that grows past it are both refused with
/// `invalid_response`; an answer within it comes back whole.
#[tokio::test]
async fn proxy_fetch_refuses_an_answer_over_the_clients_limit() {
    const LIMIT: usize = 64 * 1024;
    let app = Router::new()
        .route(
            "/v1/proxy/acme/crm/declared",
            any(|| async { vec![b'x'; LIMIT + 1] }),
        )
        .route(
            "/v1/proxy/acme/crm/streamed",
            any(|| async {
                // Sixteen 8 KiB chunks, no Content-Length: only counting finds the size.
                let chunks =
                    (0..16).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'y'; 8192])));
                axum::body::Body::from_stream(futures::stream::iter(chunks))
            }),
        )
        .route(
            "/v1/proxy/acme/crm/fits",
            any(|| async { vec![b'z'; LIMIT] }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut options = ClientOptions::new(url, "nx_key");
    options.max_response_bytes = LIMIT as u64;
    let client = NexusClient::new(options).unwrap();
    let get = |path: &str| FetchRequest {
        method: "GET".into(),
        url: path.into(),
        headers: vec![],
        body: None,
    };
    for path in ["/declared", "/streamed"] {
        let err = client
            .proxy_fetch("acme", "crm", get(path), None)
            .await
            .expect_err(path);
        assert_eq!(err.code(), "invalid_response", "{path}: {err}");
        assert!(err.to_string().contains("max_response_bytes"), "{err}");
    }
    let fits = client
        .proxy_fetch("acme", "crm", get("/fits"), None)
        .await
        .unwrap();
    assert_eq!(fits.body.len(), LIMIT);
    assert_eq!(
        nexus_sdk::DEFAULT_MAX_RESPONSE_BYTES,
        ClientOptions::new("http://n", "k").max_response_bytes
    );
}
