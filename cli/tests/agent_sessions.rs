//! `nexus agents sessions list|revoke` against a real `nexus dev` stack: sessions created
//! through the gateway are listed (never their tokens), one is revoked, then all are, and the
//! gateway refuses each revoked token at once.

mod common;

use common::{DevStack, assert_ok, resolve_http, run, stdout};
use serde_json::Value;

fn nexus_json(stack: &DevStack, args: &[&str]) -> Value {
    let mut cmd = stack.nexus();
    cmd.arg("--json").args(args);
    let out = run(cmd);
    assert_ok(&out, &args.join(" "));
    serde_json::from_str(&stdout(&out)).unwrap_or(Value::Null)
}

/// `POST /v1/sessions` with the agent credential: `(session id, session token)`.
fn create_session(gateway: &str, credential: &str) -> (String, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{gateway}/v1/sessions"))
            .bearer_auth(credential)
            .json(&serde_json::json!({"scopes": ["crm:contacts:read"], "ttl_seconds": 300}))
            .send()
            .await
            .expect("gateway answers");
        assert_eq!(response.status().as_u16(), 201);
        let body: Value = response.json().await.expect("JSON");
        (
            body["session_id"].as_str().expect("id").to_owned(),
            body["session_token"].as_str().expect("token").to_owned(),
        )
    })
}

/// The agent's sessions that can be used now: `(id, active)` pairs, and the raw listing.
fn listed(stack: &DevStack, agent: &str) -> (Vec<(String, bool)>, String) {
    let value = nexus_json(
        stack,
        &["agents", "sessions", "list", "--workspace", "dev", agent],
    );
    let sessions = value
        .as_array()
        .expect("a list")
        .iter()
        .map(|s| {
            (
                s["session_id"].as_str().unwrap().to_owned(),
                s["active"].as_bool().unwrap(),
            )
        })
        .collect();
    (sessions, value.to_string())
}

/// `nexus agents sessions revoke --workspace dev AGENT <session id | --all>`.
fn revoke(stack: &DevStack, agent: &str, which: &str) {
    let mut cmd = stack.nexus();
    cmd.args([
        "agents",
        "sessions",
        "revoke",
        "--workspace",
        "dev",
        agent,
        which,
    ]);
    assert_ok(&run(cmd), &format!("sessions revoke {which}"));
}

fn is_active(sessions: &[(String, bool)], id: &str) -> bool {
    sessions.iter().any(|(s, active)| s == id && *active)
}

#[test]
fn sessions_are_listed_and_revoked_one_and_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stack = DevStack::start(&dir.path().join("home"));
    let gateway = stack.get("NEXUS_GATEWAY_URL").to_owned();
    let mut cmd = stack.nexus();
    cmd.args([
        "agents",
        "create",
        "--workspace",
        "dev",
        "--name",
        "bot",
        "--scope",
        "crm:contacts:read",
    ]);
    let out = run(cmd);
    assert_ok(&out, "agents create");
    let credential = stdout(&out).trim().to_owned();
    let agents = nexus_json(&stack, &["agents", "list", "--workspace", "dev"]);
    let agent = agents[0]["agent_id"].as_str().expect("agent id").to_owned();

    let (first, first_token) = create_session(&gateway, &credential);
    let (second, second_token) = create_session(&gateway, &credential);
    let (sessions, raw) = listed(&stack, &agent);
    assert!(
        is_active(&sessions, &first) && is_active(&sessions, &second),
        "{raw}"
    );
    assert!(!raw.contains(&first_token) && !raw.contains(&second_token));
    for token in [&first_token, &second_token] {
        assert_ne!(resolve_http(&gateway, token, "dev", "example").0, 401);
    }

    revoke(&stack, &agent, &first);
    let (sessions, raw) = listed(&stack, &agent);
    assert!(
        !is_active(&sessions, &first) && is_active(&sessions, &second),
        "{raw}"
    );
    assert_eq!(
        resolve_http(&gateway, &first_token, "dev", "example").0,
        401
    );
    assert_ne!(
        resolve_http(&gateway, &second_token, "dev", "example").0,
        401
    );

    revoke(&stack, &agent, "--all");
    let (sessions, raw) = listed(&stack, &agent);
    assert!(sessions.iter().all(|(_, active)| !active), "{raw}");
    assert_eq!(
        resolve_http(&gateway, &second_token, "dev", "example").0,
        401
    );
}
