//! One session against the real dev stack (skipped when it cannot be started).

use super::*;

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
