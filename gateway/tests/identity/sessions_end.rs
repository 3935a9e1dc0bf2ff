//! Issue 14 item 2: rotating an agent's credential, or disabling it (and enabling it again),
//! ends every session of that agent; operators list and revoke an agent's sessions.

use super::{IdStack, common};
use serde_json::{Value, json};

async fn new_session(stack: &IdStack, credential: &str) -> (String, String) {
    let (status, session) = stack.session(credential, json!({})).await;
    assert_eq!(status, 201, "{session}");
    (
        session["session_token"].as_str().unwrap().to_owned(),
        session["session_id"].as_str().unwrap().to_owned(),
    )
}

async fn authorize(stack: &IdStack, token: &str) -> (u16, Value) {
    stack
        .gateway(
            "POST",
            "/v1/authorize",
            token,
            Some(json!({"scope": "acme:gliding"})),
        )
        .await
}

fn refused((status, body): (u16, Value)) {
    common::assert_error(status, &body, 401, "unauthorized");
}

async fn status_of(stack: &IdStack, credential: &str, session_id: &str) -> Value {
    let (status, body) = stack
        .gateway(
            "GET",
            &format!("/v1/sessions/{session_id}"),
            credential,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

pub(super) async fn sessions_end_with_their_agent(stack: &IdStack) {
    let (agent_id, credential) = stack.create_agent("acme", &["acme:gliding"], None).await;
    let agent_path = format!("/admin/v1/workspaces/acme/agents/{agent_id}");

    // Rotation ends the sessions minted with the old credential.
    let (token, sid) = new_session(stack, &credential).await;
    assert_eq!(authorize(stack, &token).await.0, 200);
    let state = status_of(stack, &credential, &sid).await;
    assert_eq!(state["active"], true, "{state}");
    let rotated = stack
        .admin_ok("POST", &format!("{agent_path}/rotate-credential"), None)
        .await;
    let credential = rotated["agent_credential"].as_str().unwrap().to_owned();
    let (status, body) = authorize(stack, &token).await;
    common::assert_error(status, &body, 401, "unauthorized");
    let state = status_of(stack, &credential, &sid).await;
    assert_eq!(state["status"], "revoked", "{state}");
    assert_eq!(state["active"], false, "{state}");
    assert_eq!(
        state["inactive_reason"], "agent_credential_changed",
        "{state}"
    );

    // Disable then enable: the session minted before stays dead; a new one works.
    let (token, sid) = new_session(stack, &credential).await;
    assert_eq!(authorize(stack, &token).await.0, 200);
    stack
        .admin_ok("POST", &format!("{agent_path}/disable"), None)
        .await;
    stack
        .admin_ok("POST", &format!("{agent_path}/enable"), None)
        .await;
    let (status, body) = authorize(stack, &token).await;
    common::assert_error(status, &body, 401, "unauthorized");
    assert_eq!(status_of(stack, &credential, &sid).await["active"], false);

    // The admin listing shows which sessions are usable; revoke one, then all.
    let (one, one_id) = new_session(stack, &credential).await;
    let (two, _) = new_session(stack, &credential).await;
    let (three, _) = new_session(stack, &credential).await;
    let listed = stack
        .admin_ok("GET", &format!("{agent_path}/sessions"), None)
        .await;
    let listed = listed.as_array().expect("a list").clone();
    let find = |id: &str| {
        listed
            .iter()
            .find(|s| s["session_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} not listed"))
    };
    assert_eq!(find(&one_id)["active"], true);
    assert_eq!(find(&sid)["active"], false);
    assert_eq!(find(&sid)["inactive_reason"], "agent_credential_changed");
    assert!(listed.iter().all(|s| s.get("session_token").is_none()));

    let revoked = stack
        .admin_ok("DELETE", &format!("{agent_path}/sessions/{one_id}"), None)
        .await;
    assert_eq!(revoked["revoked"], 1);
    refused(authorize(stack, &one).await);
    assert_eq!(authorize(stack, &two).await.0, 200);
    let records = stack.audit("workspace_id=acme").await;
    assert!(
        records
            .iter()
            .any(|r| r["action"] == "session.revoked" && r.to_string().contains(&one_id)),
        "the admin revocation is audited"
    );

    // A session of another agent is not this agent's to revoke.
    let (_, other_credential) = stack.create_agent("acme", &["acme:gliding"], None).await;
    let (other, other_sid) = new_session(stack, &other_credential).await;
    let (status, body) = stack
        .admin(
            "DELETE",
            &format!("{agent_path}/sessions/{other_sid}"),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    assert_eq!(authorize(stack, &other).await.0, 200);

    let revoked = stack
        .admin_ok("DELETE", &format!("{agent_path}/sessions"), None)
        .await;
    assert_eq!(revoked["revoked"], 2, "{revoked}");
    refused(authorize(stack, &two).await);
    refused(authorize(stack, &three).await);
    assert_eq!(authorize(stack, &other).await.0, 200);
}
