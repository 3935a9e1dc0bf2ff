//! Agent sessions against a stand-in gateway on 127.0.0.1 (real HTTP): issue, use for resolve,
//! renewal at 80 % of the lifetime, terminal renewal failures, close/revoke, typed errors, and
//! cache isolation between the API key and sessions.

mod support;

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

#[tokio::test]
async fn a_session_authenticates_resolves_and_has_its_own_cache_namespace() {
    let gw = gateway().await;
    let client = client_for(&gw.server);
    let cache = TokenCache::new();

    assert_eq!(access_token(&client, &cache).await, format!("at-{API_KEY}"));

    let session = client
        .start_session(SessionRequest {
            ttl: Some(Duration::from_secs(600)),
            ..SessionRequest::new(["provider:github"])
        })
        .await
        .expect("session starts");
    assert_eq!(session.session_id, "sess_1");
    assert_eq!(session.scopes, ["provider:github"]);
    assert_eq!(session.sub, "agt_1");
    assert_eq!(session.act, None);
    let create = &requests_to(&gw.server, "POST", "/v1/sessions")[0];
    assert_eq!(
        bearer(create),
        API_KEY,
        "the API key authenticates the start"
    );
    let sent: Value = serde_json::from_slice(&create.body).expect("JSON body");
    assert_eq!(
        sent,
        json!({"scopes": ["provider:github"], "ttl_seconds": 600, "on_behalf_of": null})
    );

    // The API key's cached token is not served to the session, and vice versa.
    assert_eq!(access_token(&client, &cache).await, "at-tok_1");
    assert_eq!(access_token(&client, &cache).await, "at-tok_1", "cached");
    let peeked = client.peek_cached(&cache, "ws_1", "github").expect("hit");
    assert_eq!(peeked.access_token(), Some("at-tok_1"));
    assert_eq!(requests_to(&gw.server, "GET", "/v1/resolve").len(), 2);

    client.close_session().await.expect("close");
    assert_eq!(
        access_token(&client, &cache).await,
        format!("at-{API_KEY}"),
        "after close the API key's own cached token is used again"
    );
    assert_eq!(requests_to(&gw.server, "GET", "/v1/resolve").len(), 2);
}

#[tokio::test]
async fn close_session_revokes_with_the_session_token() {
    let gw = gateway().await;
    let client = client_for(&gw.server);
    client
        .start_session(SessionRequest::default())
        .await
        .expect("session starts");
    assert!(client.session().is_some());
    client.close_session().await.expect("close");
    let deletes = requests_to(&gw.server, "DELETE", "/v1/sessions/sess_1");
    assert_eq!(deletes.len(), 1);
    assert_eq!(bearer(&deletes[0]), "tok_1");
    assert!(client.session().is_none());
    let error = client.authorize("provider:github").await.unwrap_err();
    assert_eq!(error.code(), "invalid_request", "no session any more");
    client
        .close_session()
        .await
        .expect("closing twice is a no-op");
    assert_eq!(
        requests_to(&gw.server, "DELETE", "/v1/sessions/sess_1").len(),
        1
    );
}

#[tokio::test]
async fn starting_a_new_session_revokes_the_previous_one() {
    let gw = gateway().await;
    let client = client_for(&gw.server);
    let cache = TokenCache::new();
    client
        .start_session(SessionRequest::default())
        .await
        .expect("first");
    assert_eq!(access_token(&client, &cache).await, "at-tok_1");
    client
        .start_session(SessionRequest::default())
        .await
        .expect("second");
    assert_eq!(
        requests_to(&gw.server, "DELETE", "/v1/sessions/sess_1").len(),
        1
    );
    assert_eq!(
        client.session().map(|s| s.session_id).as_deref(),
        Some("sess_2")
    );
    assert_eq!(
        access_token(&client, &cache).await,
        "at-tok_2",
        "a token cached under one session is not served to the next"
    );
}

#[tokio::test]
async fn an_agent_credential_can_authenticate_the_start() {
    let gw = gateway().await;
    let client = client_for(&gw.server);
    client
        .start_session(SessionRequest {
            agent_credential: Some("nxa_agent_SECRET".into()),
            ..SessionRequest::default()
        })
        .await
        .expect("session starts");
    let create = &requests_to(&gw.server, "POST", "/v1/sessions")[0];
    assert_eq!(bearer(create), "nxa_agent_SECRET");
}

#[tokio::test]
async fn the_session_is_renewed_at_eighty_percent_of_its_lifetime() {
    let mut gw = gateway().await;
    gw.expires_in.store(1, Ordering::SeqCst);
    let client = client_for(&gw.server);
    let cache = TokenCache::new();
    let started = Instant::now();
    client
        .start_session(SessionRequest::default())
        .await
        .expect("session");
    let (first, _) = gw.issued.recv().await.expect("issue request");
    assert_eq!(first, 1);
    assert_eq!(access_token(&client, &cache).await, "at-tok_1");

    let (second, at) = tokio::time::timeout(Duration::from_secs(30), gw.issued.recv())
        .await
        .expect("a renewal request arrives")
        .expect("channel open");
    assert_eq!(second, 2);
    assert!(
        at.duration_since(started) >= Duration::from_millis(800),
        "renewed before 80 % of 1 s: {:?}",
        at.duration_since(started)
    );
    wait_until(
        "the renewed token is in use",
        Duration::from_secs(30),
        || client.session().is_some_and(|s| s.session_id == "sess_2"),
    )
    .await;
    // Same session lineage: the cached credential stays usable; a fresh resolve uses tok_2.
    let fresh = client
        .resolve("ws_1", "github", Default::default())
        .await
        .expect("resolve");
    assert_eq!(fresh.access_token(), Some("at-tok_2"));
    let renewal = &requests_to(&gw.server, "POST", "/v1/sessions")[1];
    assert_eq!(
        bearer(renewal),
        API_KEY,
        "renewal authenticates like the start"
    );
}

#[tokio::test]
async fn a_refused_renewal_surfaces_on_the_next_call_and_stays() {
    let mut gw = gateway().await;
    gw.expires_in.store(1, Ordering::SeqCst);
    let client = client_for(&gw.server);
    client
        .start_session(SessionRequest::default())
        .await
        .expect("session");
    gw.issued.recv().await.expect("issue request");
    gw.refuse.store(true, Ordering::SeqCst);
    tokio::time::timeout(Duration::from_secs(30), gw.issued.recv())
        .await
        .expect("a renewal request arrives")
        .expect("channel open");
    let deadline = Instant::now() + Duration::from_secs(30);
    let error = loop {
        match client.resolve("ws_1", "github", Default::default()).await {
            Err(e) => break e,
            Ok(_) => assert!(Instant::now() < deadline, "the refusal never surfaced"),
        }
        tokio::task::yield_now().await;
    };
    assert_eq!(error.code(), "unauthorized");
    assert_eq!(error.status(), Some(401));
    let again = client.authorize("provider:github").await.unwrap_err();
    assert_eq!(
        again.code(),
        "unauthorized",
        "kept until the session is closed"
    );
    let renewals = requests_to(&gw.server, "POST", "/v1/sessions").len();
    assert_eq!(renewals, 2, "a refused renewal is not retried");
    client.close_session().await.expect("close");
    let back = client
        .resolve("ws_1", "github", Default::default())
        .await
        .expect("the API key works again");
    assert_eq!(back.access_token(), Some(format!("at-{API_KEY}").as_str()));
}

#[tokio::test]
async fn calls_during_a_renewal_do_not_start_another() {
    let mut gw = gateway().await;
    gw.expires_in.store(1, Ordering::SeqCst);
    let client = client_for(&gw.server);
    client
        .start_session(SessionRequest::default())
        .await
        .expect("session");
    gw.issued.recv().await.expect("issue");
    gw.expires_in.store(900, Ordering::SeqCst);
    tokio::time::timeout(Duration::from_secs(30), gw.issued.recv())
        .await
        .expect("the background renewal arrives")
        .expect("channel open");
    // Whether these run before, during or after the renewal, none starts a second one.
    let calls = (0..20).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.resolve("ws_1", "github", Default::default()).await })
    });
    for call in futures::future::join_all(calls).await {
        call.expect("task").expect("resolve");
    }
    assert_eq!(requests_to(&gw.server, "POST", "/v1/sessions").len(), 2);
}

#[tokio::test]
async fn refusals_are_typed_errors() {
    let gw = gateway().await;
    let client = client_for(&gw.server);

    let denied = client
        .start_session(SessionRequest::new(["provider:github", "admin"]))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), "scope_not_allowed");
    assert_eq!(denied.status(), Some(403));
    assert!(
        client.session().is_none(),
        "a refused start leaves no session"
    );

    let bad_user = client
        .start_session(SessionRequest {
            on_behalf_of: Some("expired.user.jwt".into()),
            ..SessionRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_user.code(), "invalid_subject_token");
    assert_eq!(bad_user.status(), Some(401));
    assert!(!format!("{bad_user:?} {bad_user}").contains("expired.user.jwt"));

    let obo = client
        .start_session(SessionRequest {
            on_behalf_of: Some("good.user.jwt".into()),
            ..SessionRequest::default()
        })
        .await
        .expect("OBO session");
    assert_eq!(
        (obo.sub.as_str(), obo.act.as_deref()),
        ("user_1", Some("agt_1"))
    );
    let shown = format!("{obo:?}");
    assert!(!shown.contains("tok_"), "the token is redacted: {shown}");

    let ok = client.authorize("provider:github").await.expect("allowed");
    assert!(ok.allowed);
    let authorizes = requests_to(&gw.server, "POST", "/v1/authorize");
    assert_eq!(
        bearer(&authorizes[0]),
        "tok_3",
        "authorize uses the session token"
    );
    let not_granted = client.authorize("repo:delete").await.unwrap_err();
    assert_eq!(not_granted.code(), "scope_not_allowed");
    let user_lacks = client.authorize("billing:write").await.unwrap_err();
    assert_eq!(user_lacks.code(), "user_not_authorized_for_scope");
    assert_eq!(user_lacks.status(), Some(403));
}

#[tokio::test]
async fn a_malformed_session_answer_is_invalid_response() {
    let server = TestServer::script(vec![Reply::json(
        201,
        json!({"session_token": "t", "token_type": "Bearer", "session_id": "s",
               "expires_in": 60, "expires_at": "x", "scopes": [], "agent_id": "a", "sub": "a"}),
    )])
    .await;
    let client = client_for(&server);
    let error = client
        .start_session(SessionRequest::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_response");
    assert!(client.session().is_none());
}

/// `tests/vectors/sessions.json` → `session_cases` (format: `tests/vectors/README.md`); its
/// ordinary `cases` run in `tests/vectors.rs` with every other file.
#[test]
fn session_vectors() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/sessions.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("sessions.json"))
        .expect("valid JSON");
    let cases = doc["session_cases"]
        .as_array()
        .expect("a `session_cases` array");
    assert!(cases.len() >= 5);
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap_or("?");
        let body = match &case["session"] {
            Value::String(text) => text.clone().into_bytes(),
            other => serde_json::to_vec(other).expect("serializable"),
        };
        let outcome = nexus_sdk::session::parse_session_response(&body).map(|s| {
            json!({
                "session_id": s.session_id, "expires_in": s.expires_in, "scopes": s.scopes,
                "agent_id": s.agent_id, "sub": s.sub, "act": s.act,
                "renew_after_ms":
                    nexus_sdk::session::renewal_delay(s.expires_in).as_millis() as u64,
            })
        });
        let ok = match (
            &outcome,
            case.get("expect_session"),
            case["expect_error"].as_str(),
        ) {
            (Ok(got), Some(want), None) => got == want,
            (Err(e), None, Some(code)) => e.code() == code,
            _ => false,
        };
        if !ok {
            failures.push(format!("{name}: got {outcome:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_against_the_real_stack() {
    let Some(stack) = support::stack::dev_stack() else {
        return;
    };
    let ws = stack.env["NEXUS_WORKSPACE_ID"].clone();
    let secret = "sk-core-session-e2e";
    support::stack::admin_post(
        &stack,
        "/admin/v1/providers",
        json!({
            "name": "echo", "auth_type": "api_key", "api_base_url": "http://127.0.0.1:9",
            "strategy": {"type": "header", "config": {"header_name": "X-API-Key"}},
        }),
    )
    .await;
    support::stack::admin_post(
        &stack,
        &format!("/admin/v1/workspaces/{ws}/connections/import"),
        json!({"provider_name": "echo", "kind": "api_key", "secret": secret}),
    )
    .await;
    let agent = support::stack::admin_post(
        &stack,
        &format!("/admin/v1/workspaces/{ws}/agents"),
        json!({"name": "core-e2e", "scopes": ["provider:echo", "tickets:read"]}),
    )
    .await;
    let credential = agent["agent_credential"]
        .as_str()
        .expect("credential shown once");
    let agent_id = agent["agent_id"].as_str().expect("agent id");

    let client = NexusClient::new(nexus_sdk::ClientOptions::new(
        stack.env["NEXUS_GATEWAY_URL"].clone(),
        stack.env["NEXUS_API_KEY"].clone(),
    ))
    .expect("client");
    let with_agent = |scopes: &[&str]| SessionRequest {
        agent_credential: Some(credential.into()),
        ttl: Some(Duration::from_secs(300)),
        ..SessionRequest::new(scopes.iter().copied())
    };
    let denied = client
        .start_session(with_agent(&["provider:nope"]))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), "scope_not_allowed");

    let session = client
        .start_session(with_agent(&["provider:echo"]))
        .await
        .expect("session");
    assert_eq!(
        (session.agent_id.as_str(), session.sub.as_str()),
        (agent_id, agent_id)
    );
    assert!(session.expires_in > 0 && session.expires_in <= 300);
    let cache = TokenCache::new();
    let token = client
        .resolve_cached(&cache, &ws, "echo")
        .await
        .expect("resolve under the session");
    assert_eq!(
        token.credentials().get_str("api_key").as_deref(),
        Some(secret)
    );
    assert!(
        token.scope_enforcement().is_some(),
        "a session resolve reports enforcement"
    );
    let allowed = client.authorize("provider:echo").await.expect("authorized");
    assert_eq!(allowed.session_id, session.session_id);
    let refused = client.authorize("tickets:read").await.unwrap_err();
    assert_eq!(refused.code(), "scope_not_allowed");
    let status = client.session_status().await.expect("status");
    assert_eq!(status.status, "active");

    client.close_session().await.expect("revoked");
    let plain = client
        .resolve_cached(&cache, &ws, "echo")
        .await
        .expect("the API key again");
    assert!(plain.scope_enforcement().is_none());
    let stale = NexusClient::new(nexus_sdk::ClientOptions::new(
        stack.env["NEXUS_GATEWAY_URL"].clone(),
        session.session_token.expose(),
    ))
    .expect("client");
    let error = stale
        .resolve(&ws, "echo", Default::default())
        .await
        .unwrap_err();
    assert_eq!(
        error.code(),
        "unauthorized",
        "a revoked session is refused at once"
    );
}
