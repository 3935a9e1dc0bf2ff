//! `POST /v1/mcp/user-credential` on a real stack (gateway → broker with the authorization
//! server, the testkit OAuth provider upstream), SQLite always and PostgreSQL when
//! `NEXUS_TEST_DATABASE_URL` is set: each MCP user gets their own upstream credential; a user
//! without a connection gets `connection_required` with a connect link bound to them, which
//! works for them (login → provider → callback → done) and for nobody else; refused tokens are
//! 401 without an echo, a token for another workspace's resource 403, bad bodies 400/413.

mod common;
mod mcp_kit;

use common::{Stack, assert_error, status_and_json};
use mcp_kit::*;
use serde_json::{Value, json};

async fn user_credential(
    stack: &Stack,
    key: &str,
    body: Value,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let resp = stack
        .http
        .post(stack.url("/v1/mcp/user-credential"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("gateway reachable");
    let headers = resp.headers().clone();
    let (status, body) = status_and_json(resp).await;
    (status, body, headers)
}

fn ask(token: &str) -> Value {
    json!({"provider": "github", "subject_token": token})
}

/// A user without a connection: 409 `connection_required` with a link; returns it.
async fn connection_required(stack: &Stack, key: &str, token: &str) -> (String, String) {
    let (status, body, _) = user_credential(stack, key, ask(token)).await;
    assert_error(status, &body, 409, "connection_required");
    assert_eq!(body["provider"], "github");
    assert_eq!(body["reason"], "missing");
    let url = body["connect_url"]
        .as_str()
        .expect("connect_url")
        .to_owned();
    assert!(
        url.starts_with(&format!("{}/as/connect/", stack.broker.url)),
        "{url}"
    );
    let elicitation = body["elicitation_id"].as_str().expect("elicitation_id");
    assert!(!elicitation.is_empty() && !url.contains(elicitation));
    assert!(!body.to_string().contains(token), "the token echoed");
    (url, elicitation.to_owned())
}

async fn scenario(stack: Stack) {
    let (key, _) = stack.broker.new_key("acme").await;
    let (globex_key, _) = stack.broker.new_key("globex").await;
    let client = register_client(&stack).await;
    let alice = access_token(&stack, &client, RESOURCE, "alice").await;
    let bob = access_token(&stack, &client, RESOURCE, "bob").await;
    let broker = stack.broker.url.clone();

    // A workspace connection without a user is not anybody's MCP connection.
    stack.broker.add_connection("acme", "github").await;

    // Alice has no connection yet: a link bound to her; asking again gives the same link.
    let (alice_url, alice_elicitation) = connection_required(&stack, &key, &alice).await;
    let (again_url, again_elicitation) = connection_required(&stack, &key, &alice).await;
    assert_eq!(
        (&again_url, &again_elicitation),
        (&alice_url, &alice_elicitation)
    );

    // Alice connects through her link.
    let alice_cookie = log_in_at_ticket(&alice_url, "alice", &broker).await;
    let done = walk_ticket(&alice_url, &alice_cookie).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Connected"), "{}", done.body);
    assert!(done.headers.contains_key("content-security-policy"));
    // A used link is gone.
    let used = get(&alice_url, Some(&alice_cookie)).await;
    assert_eq!(used.status, 410, "{}", used.body);

    // Bob: his own link, different from Alice's.
    let (bob_url, bob_elicitation) = connection_required(&stack, &key, &bob).await;
    assert_ne!(bob_url, alice_url);
    assert_ne!(bob_elicitation, alice_elicitation);
    // Alice opening Bob's link: refused (the link is bound to Bob), nothing started.
    let authorizes_before = stack.broker.oauth.stats().authorize_requests;
    let foreign = get(&bob_url, Some(&alice_cookie)).await;
    assert_eq!(foreign.status, 403, "{}", foreign.body);
    assert!(foreign.body.contains("another account"), "{}", foreign.body);
    assert_eq!(
        stack.broker.oauth.stats().authorize_requests,
        authorizes_before
    );
    // Bob walks it: development login as bob → provider → callback → done.
    let bob_cookie = log_in_at_ticket(&bob_url, "bob", &broker).await;
    let done = walk_ticket(&bob_url, &bob_cookie).await;
    assert_eq!(done.status, 200, "{}", done.body);

    // Each user gets their own credential, never cached where another user could see it.
    let (status, alice_cred, headers) = user_credential(&stack, &key, ask(&alice)).await;
    assert_eq!(status, 200, "{alice_cred}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(alice_cred["provider"], "github");
    assert!(alice_cred.get("proxy").is_none());
    let (status, bob_cred, _) = user_credential(&stack, &key, ask(&bob)).await;
    assert_eq!(status, 200, "{bob_cred}");
    assert_ne!(alice_cred["connection_id"], bob_cred["connection_id"]);
    assert_ne!(alice_cred["access_token"], bob_cred["access_token"]);
    let (_, alice_again, _) = user_credential(&stack, &key, ask(&alice)).await;
    assert_eq!(alice_again["connection_id"], alice_cred["connection_id"]);
    // The same answer shape as /v1/resolve (strategy and credentials for the SDK).
    assert!(alice_cred["strategy"].is_object() && alice_cred["credentials"].is_object());

    // A token minted for another workspace's resource: 403 with this key, served with its own.
    let globex_alice = access_token(&stack, &client, OTHER_RESOURCE, "alice").await;
    let (status, body, _) = user_credential(&stack, &key, ask(&globex_alice)).await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body, _) = user_credential(&stack, &globex_key, ask(&alice)).await;
    assert_error(status, &body, 403, "forbidden");

    // Refused subject tokens: 401 `invalid_subject_token`, never echoed.
    let (header, payload, signature) = {
        let mut parts = alice.split('.');
        (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        )
    };
    let forged_signature = format!("{header}.{payload}.{}", "A".repeat(signature.len()));
    let other_issuer = stack.broker.oauth.mint_jwt(&json!({
        "iss": stack.broker.oauth.issuer(), "sub": "alice", "aud": RESOURCE,
        "exp": 4_000_000_000i64, "iat": 1, "nbf": 1, "jti": "x", "client_id": "c",
        "scope": "notes:read", "auth_time": 1, "workspace_id": "acme"
    }));
    for bad in [
        forged_signature.as_str(),
        other_issuer.as_str(),
        "not-a-jwt-at-all",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    ] {
        let (status, body, _) = user_credential(&stack, &key, ask(bad)).await;
        assert_error(status, &body, 401, "invalid_subject_token");
        assert!(!body.to_string().contains(bad), "echoed: {body}");
    }
    // Bad bodies.
    let (status, body, _) = user_credential(
        &stack,
        &key,
        json!({"provider": "github", "subject_token": alice, "user": "bob"}),
    )
    .await;
    assert_error(status, &body, 400, "invalid_request");
    assert!(!body.to_string().contains(&alice));
    let (status, body, _) = user_credential(
        &stack,
        &key,
        json!({"provider": "github", "subject_token": 7}),
    )
    .await;
    assert_error(status, &body, 400, "invalid_request");
    let huge = "a".repeat(17 * 1024);
    let (status, body, _) = user_credential(&stack, &key, ask(&huge)).await;
    assert_error(status, &body, 413, "payload_too_large");
    let (status, body, _) = user_credential(
        &stack,
        &key,
        json!({"provider": "no-such-provider", "subject_token": alice}),
    )
    .await;
    assert_error(status, &body, 404, "provider_not_found");
    // No API key: 401 `unauthorized`.
    let resp = stack
        .http
        .post(stack.url("/v1/mcp/user-credential"))
        .json(&ask(&alice))
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(resp).await;
    assert_error(status, &body, 401, "unauthorized");

    // A ticket past its lifetime answers 410 (time moved in the database, not waited for).
    let carol = access_token(&stack, &client, RESOURCE, "carol").await;
    let (carol_url, _) = connection_required(&stack, &key, &carol).await;
    expire_tickets(&stack.broker.database_url).await;
    let expired = get(&carol_url, None).await;
    assert_eq!(expired.status, 410, "{}", expired.body);
    // … and the next call hands out a new, live link.
    let (fresh_url, _) = connection_required(&stack, &key, &carol).await;
    assert_ne!(fresh_url, carol_url);

    // A token whose grant was revoked (RFC 7009) is refused, though its `exp` is still ahead.
    let revoked = access_token(&stack, &client, RESOURCE, "alice").await;
    let (status, _, _) = user_credential(&stack, &key, ask(&revoked)).await;
    assert_eq!(status, 200);
    let resp = stack
        .http
        .post(format!("{broker}/as/revoke"))
        .form(&[("token", revoked.as_str()), ("client_id", client.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (status, body, _) = user_credential(&stack, &key, ask(&revoked)).await;
    assert_error(status, &body, 401, "invalid_subject_token");

    // The audit trail names the MCP user, never the token.
    let records = stack.broker.audit("acme").await;
    let text = serde_json::to_string(&records).unwrap();
    assert!(text.contains("mcp_user=usr_"), "{text}");
    for token in [&alice, &bob, &carol] {
        assert!(!text.contains(token.as_str()));
    }
}

async fn expire_tickets(database_url: &str) {
    use sqlx::Connection;
    let sql = "UPDATE mcp_connect_tickets SET expires_at = 1";
    if database_url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(database_url).await.unwrap();
        sqlx::query(sql).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(database_url).await.unwrap();
        sqlx::query(sql).execute(&mut c).await.unwrap();
    }
}

#[tokio::test]
async fn mcp_users_get_their_own_credential_or_a_link_bound_to_them_sqlite() {
    scenario(mcp_stack(None).await).await;
}

#[tokio::test]
async fn mcp_users_get_their_own_credential_or_a_link_bound_to_them_postgres() {
    let Some(url) = common::broker::fresh_postgres_database().await else {
        return;
    };
    scenario(mcp_stack(Some(url)).await).await;
}
