//! Runs `tests/vectors/client_behaviour.json` (format: `tests/vectors/README.md`) through both
//! Rust entry points that send upstream requests, [`NexusClient::authenticated_fetch`] and
//! [`AuthenticatedClient::execute`], against a scripted gateway and a scripted upstream on
//! loopback; and checks that the file's error table is the core's [`ERROR_TABLE`].

mod support;

use nexus_sdk::error::{ERROR_TABLE, UNKNOWN_API_CODE_CLASS};
use nexus_sdk::{AuthenticatedClient, FetchRequest, NexusClient, SessionRequest, TokenCache};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use support::{API_KEY, Recorded, Reply, TestServer, client_for};

const WORKSPACE: &str = "ws_vec";
const PROVIDER: &str = "github";

fn vectors() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/client_behaviour.json");
    let text = std::fs::read_to_string(&path).expect("client_behaviour.json is readable");
    serde_json::from_str(&text).expect("client_behaviour.json is JSON")
}

/// Which Rust entry point a case runs through.
#[derive(Debug, Clone, Copy)]
enum EntryPoint {
    AuthenticatedFetch,
    AuthenticatedClient,
}

/// Answers scripted in order; a request beyond the script gets 500 (and fails the case).
fn scripted(items: Vec<Reply>) -> impl Fn() -> Reply + Send + Sync {
    let queue = Mutex::new(items.into_iter());
    move || {
        queue.lock().next().unwrap_or_else(|| {
            Reply::text(500, "text/plain", "more requests than the vector scripts")
        })
    }
}

fn resolve_reply(item: &Value) -> Reply {
    match item.get("resolve_error") {
        Some(error) => Reply::json(
            error["status"].as_u64().unwrap() as u16,
            error["body"].clone(),
        ),
        None => Reply::json(200, item.clone()),
    }
}

async fn gateway(case: &Value) -> TestServer {
    let resolves = scripted(
        case["resolves"]
            .as_array()
            .unwrap()
            .iter()
            .map(resolve_reply)
            .collect(),
    );
    let session = case.get("session").cloned().unwrap_or(Value::Null);
    let behave = Arc::new(resolves);
    TestServer::start(Arc::new(move |_, request: Recorded| {
        let reply = match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/v1/resolve") => behave(),
            ("POST", "/v1/sessions") => Reply::json(201, session.clone()),
            ("DELETE", path) if path.starts_with("/v1/sessions/") => {
                Reply::text(204, "text/plain", "")
            }
            _ => Reply::text(404, "text/plain", "not scripted"),
        };
        Box::pin(async move { reply })
    }))
    .await
}

async fn upstream(case: &Value) -> TestServer {
    let answers = scripted(
        case["upstream"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let status = a["status"].as_u64().unwrap() as u16;
                Reply::text(status, "text/plain", a["body"].as_str().unwrap_or_default())
            })
            .collect(),
    );
    let answers = Arc::new(answers);
    TestServer::start(Arc::new(move |_, _| {
        let reply = answers();
        Box::pin(async move { reply })
    }))
    .await
}

/// The outcome of one `fetch` step, in the vector's terms.
async fn fetch(entry: EntryPoint, client: &NexusClient, cache: &TokenCache, url: &str) -> Value {
    let outcome = match entry {
        EntryPoint::AuthenticatedFetch => {
            let request = FetchRequest {
                method: "GET".into(),
                url: url.into(),
                ..FetchRequest::default()
            };
            client
                .authenticated_fetch(cache, WORKSPACE, PROVIDER, request)
                .await
                .map(|r| (r.status, String::from_utf8_lossy(&r.body).into_owned()))
        }
        EntryPoint::AuthenticatedClient => {
            let http = AuthenticatedClient::new(client.clone(), cache.clone(), WORKSPACE, PROVIDER);
            let request = http.request(reqwest::Method::GET, url).build().unwrap();
            match http.execute(request).await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    Ok((status, response.text().await.unwrap()))
                }
                Err(e) => Err(e),
            }
        }
    };
    match outcome {
        Ok((status, body)) => json!({"status": status, "body": body}),
        Err(e) => json!({"error": e.code(), "class": e.class_name()}),
    }
}

/// Run one case; the list of what differs from `expect` (empty when it passes).
async fn run_case(case: &Value, entry: EntryPoint) -> Vec<String> {
    let (gateway, upstream) = (gateway(case).await, upstream(case).await);
    let client = client_for(&gateway);
    let cache = TokenCache::new();
    let url = format!("{}/resource", upstream.url());
    let mut results = Vec::new();
    for step in case["steps"].as_array().unwrap() {
        match step.as_str().unwrap() {
            "fetch" => results.push(fetch(entry, &client, &cache, &url).await),
            "invalidate" => client.invalidate(&cache, WORKSPACE, PROVIDER),
            "start_session" => {
                client
                    .start_session(SessionRequest::default())
                    .await
                    .expect("the scripted session starts");
            }
            "end_session" => client.close_session().await.expect("the session closes"),
            other => panic!("unknown step {other}"),
        }
    }
    let session_token = case["session"]["session_token"].as_str().unwrap_or("-");
    let resolve_calls: Vec<Value> = gateway
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/resolve")
        .map(|r| {
            let authorization = match r.header("authorization") {
                Some(v) if v == format!("Bearer {API_KEY}") => "api_key",
                Some(v) if v == format!("Bearer {session_token}") => "session",
                _ => "other",
            };
            json!({
                "force_refresh": r.query.split('&').any(|p| p == "force_refresh=true"),
                "authorization": authorization,
            })
        })
        .collect();
    let upstream_auth: Vec<Value> = upstream
        .requests()
        .iter()
        .map(|r| json!(r.header("authorization").unwrap_or_default()))
        .collect();
    let expect = &case["expect"];
    let mut problems = Vec::new();
    if resolve_calls != *expect["resolve_calls"].as_array().unwrap() {
        problems.push(format!("resolve_calls: got {resolve_calls:?}"));
    }
    if upstream_auth != *expect["upstream_auth"].as_array().unwrap() {
        problems.push(format!("upstream_auth: got {upstream_auth:?}"));
    }
    let expected = expect["results"].as_array().unwrap();
    if results.len() != expected.len() {
        problems.push(format!("results: got {results:?}"));
    }
    for (got, want) in results.iter().zip(expected) {
        if let Some(code) = want.get("error") {
            let class = class_of(code.as_str().unwrap());
            if got["error"] != *code || got["class"] != class {
                problems.push(format!("result: got {got}, want error {code} ({class})"));
            }
        } else if got["status"] != want["status"]
            || want.get("body").is_some_and(|body| got["body"] != *body)
        {
            problems.push(format!("result: got {got}, want {want}"));
        }
    }
    problems
}

/// The class the vector file's table gives `code`.
fn class_of(code: &str) -> String {
    let doc = vectors();
    doc["error_classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["code"] == code)
        .map_or_else(
            || doc["fallback_class"]["api"].as_str().unwrap().to_owned(),
            |row| row["class"].as_str().unwrap().to_owned(),
        )
}

#[tokio::test]
async fn every_client_behaviour_vector_passes_through_both_entry_points() {
    let doc = vectors();
    let cases = doc["behaviour_cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    for case in cases {
        for entry in [
            EntryPoint::AuthenticatedFetch,
            EntryPoint::AuthenticatedClient,
        ] {
            for problem in run_case(case, entry).await {
                failures.push(format!("{} via {entry:?}: {problem}", case["name"]));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_vector_error_table_is_the_core_table() {
    let doc = vectors();
    let core: Vec<Value> = ERROR_TABLE
        .iter()
        .map(|r| json!({"code": r.code, "kind": r.kind.as_str(), "class": r.class, "parent": r.parent}))
        .collect();
    assert_eq!(doc["error_classes"].as_array().unwrap(), &core);
    assert_eq!(
        doc["fallback_class"],
        json!({"api": UNKNOWN_API_CODE_CLASS})
    );
}
