//! Agent sessions against a stand-in gateway on 127.0.0.1 (real HTTP): issue, use for resolve,
//! renewal at 80 % of the lifetime, terminal renewal failures, close/revoke, typed errors, and
//! cache isolation between the API key and sessions.
//!
//! Files: `main.rs` the stand-in gateway; `lifecycle.rs` issue, use, close and replace a session;
//! `renewal.rs` renewal at 80 % and its failures; `errors.rs` typed refusals; `vectors.rs` the
//! shared session vectors; `real_stack.rs` one session against the real dev stack.

#[path = "../support/mod.rs"]
mod support;

mod errors;
mod lifecycle;
mod real_stack;
mod renewal;
mod vectors;

use nexus_sdk::{NexusClient, SessionRequest, TokenCache};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::{API_KEY, Recorded, Reply, TestServer, client_for, wait_until};
use tokio::sync::mpsc;

/// The knobs and observations of the stand-in gateway.
struct Gateway {
    server: TestServer,
    /// `expires_in` of the sessions it issues.
    expires_in: Arc<AtomicU64>,
    /// When set, `POST /v1/sessions` answers 401 `unauthorized` (the agent was disabled).
    refuse: Arc<AtomicBool>,
    /// One message per `POST /v1/sessions` received: (session number, when).
    issued: mpsc::UnboundedReceiver<(usize, Instant)>,
}

fn bearer(request: &Recorded) -> String {
    request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned()
}

/// Routes like the real gateway's session API. A resolve answers an access token that names
/// the credential it was authenticated with (`at-<bearer>`), so tests see who resolved.
async fn gateway() -> Gateway {
    let expires_in = Arc::new(AtomicU64::new(900));
    let refuse = Arc::new(AtomicBool::new(false));
    let sessions = Arc::new(AtomicUsize::new(0));
    let (tx, issued) = mpsc::unbounded_channel();
    let (ttl, no) = (expires_in.clone(), refuse.clone());
    let server = TestServer::start(Arc::new(move |_, request: Recorded| {
        let reply = route(&request, &ttl, &no, &sessions, &tx);
        Box::pin(async move { reply })
    }))
    .await;
    Gateway {
        server,
        expires_in,
        refuse,
        issued,
    }
}

fn route(
    request: &Recorded,
    expires_in: &AtomicU64,
    refuse: &AtomicBool,
    sessions: &AtomicUsize,
    issued: &mpsc::UnboundedSender<(usize, Instant)>,
) -> Reply {
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/v1/sessions") => {
            let n = sessions.fetch_add(1, Ordering::SeqCst) + 1;
            let _ = issued.send((n, Instant::now()));
            if refuse.load(Ordering::SeqCst) {
                return Reply::error(401, "unauthorized", "the agent is disabled");
            }
            let scopes: Vec<String> =
                serde_json::from_value(body["scopes"].clone()).unwrap_or_default();
            if scopes.iter().any(|s| s == "admin") {
                return Reply::error(403, "scope_not_allowed", "admin is not declared");
            }
            let obo = body["on_behalf_of"]["subject_token"].as_str();
            if obo == Some("expired.user.jwt") {
                return Reply::error(401, "invalid_subject_token", "the user token expired");
            }
            let expires_in = expires_in.load(Ordering::SeqCst);
            Reply::json(
                201,
                json!({
                    "session_token": format!("tok_{n}"), "token_type": "session",
                    "session_id": format!("sess_{n}"), "expires_in": expires_in,
                    "expires_at": "2026-11-24T12:15:00Z", "scopes": scopes,
                    "agent_id": "agt_1",
                    "sub": if obo.is_some() { "user_1" } else { "agt_1" },
                    "act": obo.map(|_| json!({"sub": "agt_1"})),
                }),
            )
        }
        ("GET", "/v1/resolve") => Reply::token(&format!("at-{}", bearer(request)), 3600),
        ("DELETE", path) if path.starts_with("/v1/sessions/") => Reply::text(204, "text/plain", ""),
        ("POST", "/v1/authorize") => match body["scope"].as_str() {
            Some("provider:github") => Reply::json(
                200,
                json!({"allowed": true, "scope": "provider:github", "session_id": "sess_1"}),
            ),
            Some("billing:write") => Reply::error(
                403,
                "user_not_authorized_for_scope",
                "the user lacks billing:write",
            ),
            _ => Reply::error(403, "scope_not_allowed", "not granted"),
        },
        _ => Reply::error(404, "not_found", "no route"),
    }
}

fn requests_to(server: &TestServer, method: &str, path: &str) -> Vec<Recorded> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.method.as_str() == method && r.path == path)
        .collect()
}

async fn access_token(client: &NexusClient, cache: &TokenCache) -> String {
    client
        .resolve_cached(cache, "ws_1", "github")
        .await
        .expect("resolve")
        .access_token()
        .unwrap_or_default()
        .to_owned()
}
