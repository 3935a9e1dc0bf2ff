//! Agent delegation over real HTTP, on SQLite and PostgreSQL: an admin binds a document
//! client to an enabled agent of the resource's workspace; the code flow's access token then
//! carries `act.sub` = the agent, an unbound client's carries none, unbinding ends it for the
//! next grant; an unknown, disabled or other workspace's agent is a typed error that writes
//! nothing (no binding, no audit record).

mod as_common;
mod common;

use as_common::*;
use common::{TestBroker, all_dbs};
use reqwest::Method;
use serde_json::{Value, json};

const REDIRECT: &str = "http://127.0.0.1:33333/callback";

/// One code flow for `client_id`; the access token's claims (decoded without verification:
/// `as_tokens` verifies signatures, this test is about the `act` claim).
async fn token_claims(broker: &TestBroker, client_id: &str) -> Value {
    let (verifier, challenge) = pkce();
    let (location, _) = authorize_as(
        broker,
        &authorize_query(client_id, REDIRECT, &challenge),
        "alice",
    )
    .await;
    let code = query_of(&location)["code"].clone();
    let (status, tokens) = token(
        broker,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
            ("client_id", client_id),
            ("resource", RESOURCE),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    claims_of(tokens["access_token"].as_str().unwrap())
}

async fn binding_audit(broker: &TestBroker, ws: &str) -> Vec<(String, String)> {
    let (status, records) = TestBroker::send(broker.admin(
        Method::GET,
        &format!("/admin/v1/audit?workspace_id={ws}&limit=1000"),
    ))
    .await;
    assert_eq!(status, 200, "{records}");
    records
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["action"]
                .as_str()
                .unwrap_or("")
                .starts_with("mcp_client.")
        })
        .map(|r| {
            assert_eq!(r["principal"], "admin");
            (
                r["action"].as_str().unwrap().to_owned(),
                r["target"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_bound_client_s_tokens_carry_act_until_unbound() {
    for db in all_dbs().await {
        let broker = as_broker(&db.url).await;
        broker.create_workspace("other").await;
        let docs = DocServer::start().await;
        let client_id = docs.client("client.json", REDIRECT);
        let agent = create_agent(&broker, WS, &["notes:read"]).await;
        let foreign = create_agent(&broker, "other", &["notes:read"]).await;

        // Not fetched yet: the client is unknown to the server.
        let (status, body) = bind(&broker, WS, &client_id, &agent).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (404, Some("not_found")),
            "{body}"
        );

        // Unbound: no `act`.
        let claims = token_claims(&broker, &client_id).await;
        assert!(claims.get("act").is_none(), "{}: {claims}", db.label);

        // Unknown agent, another workspace's agent, a disabled agent: typed, nothing written.
        let (status, body) = bind(&broker, WS, &client_id, "agt_doesnotexist").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (404, Some("not_found")),
            "{body}"
        );
        let (status, body) = bind(&broker, WS, &client_id, &foreign).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (404, Some("not_found")),
            "{body}"
        );
        let (status, body) = bind(&broker, "nope", &client_id, &agent).await;
        assert_eq!(status, 404, "{body}");
        let disabled = create_agent(&broker, WS, &["notes:read"]).await;
        let (status, _) = TestBroker::send(broker.admin(
            Method::POST,
            &format!("/admin/v1/workspaces/{WS}/agents/{disabled}/disable"),
        ))
        .await;
        assert_eq!(status, 200);
        let (status, body) = bind(&broker, WS, &client_id, &disabled).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request")),
            "{body}"
        );
        let (status, body) = TestBroker::send(
            broker
                .admin(Method::PUT, &binding_path(WS, &client_id))
                .json(&json!({"agent_id": agent, "extra": 1})),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(binding_audit(&broker, WS).await.is_empty());
        let claims = token_claims(&broker, &client_id).await;
        assert!(claims.get("act").is_none(), "{}: {claims}", db.label);

        // Bound: `act.sub` is the agent.
        let (status, body) = bind(&broker, WS, &client_id, &agent).await;
        assert_eq!(status, 204, "{body}");
        let claims = token_claims(&broker, &client_id).await;
        assert_eq!(claims["act"], json!({"sub": agent}), "{}", db.label);
        assert_eq!(claims["sub"].as_str().map(|s| s.is_empty()), Some(false));

        // Unbinding in another workspace touches nothing; in the client's, it ends `act`.
        let (status, _) =
            TestBroker::send(broker.admin(Method::DELETE, &binding_path("other", &client_id)))
                .await;
        assert_eq!(status, 404);
        let (status, _) =
            TestBroker::send(broker.admin(Method::DELETE, &binding_path(WS, &client_id))).await;
        assert_eq!(status, 204);
        let claims = token_claims(&broker, &client_id).await;
        assert!(claims.get("act").is_none(), "{}: {claims}", db.label);
        let (status, _) =
            TestBroker::send(broker.admin(Method::DELETE, &binding_path(WS, &client_id))).await;
        assert_eq!(status, 404, "already unbound");

        assert_eq!(
            binding_audit(&broker, WS).await.len(),
            2,
            "one bound, one unbound record"
        );
        let mut actions: Vec<String> = binding_audit(&broker, WS)
            .await
            .into_iter()
            .map(|(action, target)| {
                assert_eq!(target, client_id);
                action
            })
            .collect();
        actions.sort();
        assert_eq!(
            actions,
            ["mcp_client.agent_bound", "mcp_client.agent_unbound"]
        );
    }
}
