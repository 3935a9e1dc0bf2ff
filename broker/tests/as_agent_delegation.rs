//! What an agent binding imposes on a client's tokens, over real HTTP on SQLite and
//! PostgreSQL: the agent disabled (or deleted) stops the code exchange, the refresh and the
//! authorization with `unauthorized_client`, writes no grant and spends no refresh token, and
//! its tokens already issued no longer reach upstream credentials; granted scopes stay within
//! the agent's declared scopes (dropped at authorization, narrowed at refresh); `act` follows
//! the binding as it is at each refresh; a refetched metadata document keeps its binding.

mod as_common;
mod common;

use as_common::*;
use common::{TestBroker, all_dbs, raw_pool};
use reqwest::Method;
use serde_json::{Value, json};

const REDIRECT: &str = "http://127.0.0.1:33333/callback";

/// Authorize `client_id` for `scope` as alice; the code and its verifier.
async fn code_for(broker: &TestBroker, client_id: &str, scope: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let query = with(
        authorize_query(client_id, REDIRECT, &challenge),
        "scope",
        Some(scope),
    );
    let (location, _) = authorize_as(broker, &query, "alice").await;
    let code = query_of(&location)
        .remove("code")
        .unwrap_or_else(|| panic!("no code: {location}"));
    (code, verifier)
}

async fn exchange(
    broker: &TestBroker,
    client_id: &str,
    code: &str,
    verifier: &str,
) -> (u16, Value) {
    token(
        broker,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
            ("client_id", client_id),
            ("resource", RESOURCE),
        ],
    )
    .await
}

/// A code flow for `scope` that must succeed; the token answer.
async fn tokens_for(broker: &TestBroker, client_id: &str, scope: &str) -> Value {
    let (code, verifier) = code_for(broker, client_id, scope).await;
    let (status, tokens) = exchange(broker, client_id, &code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

async fn refresh(broker: &TestBroker, client_id: &str, refresh_token: &str) -> (u16, Value) {
    token(
        broker,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client_id),
        ],
    )
    .await
}

/// The MCP server's question for the token's user's credential (the broker endpoint the
/// gateway's `POST /v1/mcp/user-credential` calls, with a workspace API key's principal).
async fn user_credential(broker: &TestBroker, access_token: &str) -> (u16, Value) {
    TestBroker::send(
        broker
            .internal(Method::POST, "/internal/v1/mcp/user-credential")
            .json(&json!({
                "principal": {"kind": "api_key", "workspace_id": WS, "key_id": "k1"},
                "request": {"provider": "github", "subject_token": access_token}
            })),
    )
    .await
}

async fn count(db_url: &str, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&raw_pool(db_url).await)
        .await
        .unwrap()
}

async fn execute(db_url: &str, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&raw_pool(db_url).await)
        .await
        .unwrap();
}

/// The `oauth.token` refusals recorded for `agent`: their details.
async fn refusals(broker: &TestBroker, agent: &str) -> Vec<String> {
    let (status, records) = TestBroker::send(broker.admin(
        Method::GET,
        &format!("/admin/v1/audit?workspace_id={WS}&limit=1000"),
    ))
    .await;
    assert_eq!(status, 200, "{records}");
    records
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "oauth.token" && r["outcome"] == "denied")
        .map(|r| {
            assert_eq!(r["target"], agent, "{r}");
            r["detail"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

fn assert_refused(label: &str, answer: &(u16, Value)) {
    assert_eq!(
        (answer.0, answer.1["error"].as_str()),
        (400, Some("unauthorized_client")),
        "{label}: {}",
        answer.1
    );
}

#[tokio::test]
async fn a_disabled_agent_s_client_gets_no_tokens_and_its_tokens_reach_nothing() {
    for db in all_dbs().await {
        let label = db.label;
        let broker = as_broker(&db.url).await;
        let docs = DocServer::start().await;
        let client_id = docs.client("client.json", REDIRECT);
        let agent = create_agent(&broker, WS, &["notes:read"]).await;
        let _ = tokens_for(&broker, &client_id, "notes:read").await; // fetches the document
        assert_eq!(bind(&broker, WS, &client_id, &agent).await.0, 204);

        let tokens = tokens_for(&broker, &client_id, "notes:read").await;
        let access = tokens["access_token"].as_str().unwrap().to_owned();
        let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
        assert_eq!(claims_of(&access)["act"], json!({"sub": agent}), "{label}");
        let before = user_credential(&broker, &access).await;
        assert_ne!(
            before.1["error"], "invalid_subject_token",
            "{label}: {}",
            before.1
        );
        let (code, verifier) = code_for(&broker, &client_id, "notes:read").await;
        let families = count(&db.url, "SELECT COUNT(*) FROM oauth_token_families").await;

        set_agent_disabled(&broker, WS, &agent, true).await;

        // Code exchange, refresh: refused, no grant written, the refresh token not spent.
        assert_refused(
            label,
            &exchange(&broker, &client_id, &code, &verifier).await,
        );
        assert_refused(label, &refresh(&broker, &client_id, &refresh_token).await);
        assert_eq!(
            count(&db.url, "SELECT COUNT(*) FROM oauth_token_families").await,
            families,
            "{label}: no grant written"
        );
        assert_eq!(
            count(
                &db.url,
                "SELECT COUNT(*) FROM oauth_token_families WHERE revoked_at IS NOT NULL"
            )
            .await,
            0,
            "{label}: nothing revoked"
        );
        // The token minted before: no longer good for the user's upstream credential.
        let after = user_credential(&broker, &access).await;
        assert_eq!(
            (after.0, after.1["error"].as_str()),
            (401, Some("invalid_subject_token")),
            "{label}: {}",
            after.1
        );
        assert!(
            !after.1.to_string().contains(&access),
            "{label}: token echoed"
        );
        // The authorization endpoint refuses too (back to the client, RFC 6749 §4.1.2.1).
        let (_, challenge) = pkce();
        let start = get(
            &broker,
            &format!(
                "/as/authorize?{}",
                encode(&authorize_query(&client_id, REDIRECT, &challenge))
            ),
            None,
        )
        .await;
        let location = start.location.expect("redirect to the client");
        assert_eq!(
            query_of(&location).get("error").map(String::as_str),
            Some("unauthorized_client"),
            "{label}: {location}"
        );
        let recorded = refusals(&broker, &agent).await;
        assert_eq!(recorded.len(), 2, "{label}: {recorded:?}");
        assert!(
            recorded.iter().all(|d| d.contains("reason=agent_disabled")),
            "{label}: {recorded:?}"
        );

        // Enabled again: the same refresh token works (it was never spent).
        set_agent_disabled(&broker, WS, &agent, false).await;
        let (status, refreshed) = refresh(&broker, &client_id, &refresh_token).await;
        assert_eq!(status, 200, "{label}: {refreshed}");
        let next = refreshed["refresh_token"].as_str().unwrap().to_owned();

        // A deleted agent (no admin path deletes one yet; the row goes) counts as disabled.
        execute(&db.url, &format!("DELETE FROM agents WHERE id = '{agent}'")).await;
        assert_refused(label, &refresh(&broker, &client_id, &next).await);
        let gone = user_credential(&broker, refreshed["access_token"].as_str().unwrap()).await;
        assert_eq!(
            gone.1["error"], "invalid_subject_token",
            "{label}: {}",
            gone.1
        );
        assert!(
            refusals(&broker, &agent)
                .await
                .iter()
                .any(|d| d.contains("reason=agent_deleted")),
            "{label}"
        );
    }
}

#[tokio::test]
async fn granted_scopes_stay_within_the_agent_s() {
    for db in all_dbs().await {
        let label = db.label;
        let broker = as_broker(&db.url).await;
        let docs = DocServer::start().await;
        let client_id = docs.client("client.json", REDIRECT);
        let agent = create_agent(&broker, WS, &["notes:read", "notes:write"]).await;
        let _ = tokens_for(&broker, &client_id, "notes:read").await;
        assert_eq!(bind(&broker, WS, &client_id, &agent).await.0, 204);

        let both = tokens_for(&broker, &client_id, "notes:read notes:write").await;
        assert_eq!(both["scope"], "notes:read notes:write", "{label}");

        // The agent loses notes:write (no admin path changes scopes yet; the row does): the
        // next refresh narrows, and a new authorization drops what the agent lacks.
        execute(
            &db.url,
            &format!("UPDATE agents SET scopes = '[\"notes:read\"]' WHERE id = '{agent}'"),
        )
        .await;
        let (status, narrowed) =
            refresh(&broker, &client_id, both["refresh_token"].as_str().unwrap()).await;
        assert_eq!(status, 200, "{label}: {narrowed}");
        assert_eq!(narrowed["scope"], "notes:read", "{label}");
        assert_eq!(
            claims_of(narrowed["access_token"].as_str().unwrap())["scope"],
            "notes:read",
            "{label}"
        );
        let asked_both = tokens_for(&broker, &client_id, "notes:read notes:write").await;
        assert_eq!(asked_both["scope"], "notes:read", "{label}");

        // Nothing left within the agent's: invalid_scope, back to the client.
        let (_, challenge) = pkce();
        let query = with(
            authorize_query(&client_id, REDIRECT, &challenge),
            "scope",
            Some("notes:write"),
        );
        let start = get(&broker, &format!("/as/authorize?{}", encode(&query)), None).await;
        let location = start.location.expect("redirect to the client");
        assert_eq!(
            query_of(&location).get("error").map(String::as_str),
            Some("invalid_scope"),
            "{label}: {location}"
        );

        // The agent widened again: the same grant's refresh gets its consented scopes back
        // (the grant's scopes are the user's consent, the agent's the ceiling).
        execute(
            &db.url,
            &format!(
                "UPDATE agents SET scopes = '[\"notes:read\", \"notes:write\"]' WHERE id = '{agent}'"
            ),
        )
        .await;
        let (status, widened) = refresh(
            &broker,
            &client_id,
            narrowed["refresh_token"].as_str().unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{label}: {widened}");
        assert_eq!(widened["scope"], "notes:read notes:write", "{label}");
    }
}

#[tokio::test]
async fn act_follows_the_binding_at_each_refresh() {
    for db in all_dbs().await {
        let label = db.label;
        let broker = as_broker(&db.url).await;
        let docs = DocServer::start().await;
        let client_id = docs.client("client.json", REDIRECT);
        let first = create_agent(&broker, WS, &["notes:read"]).await;
        let second = create_agent(&broker, WS, &["notes:read"]).await;
        let unbound = tokens_for(&broker, &client_id, "notes:read").await;
        assert!(
            claims_of(unbound["access_token"].as_str().unwrap())
                .get("act")
                .is_none()
        );

        // Bound after the grant: the grant's next refresh acts for the agent.
        assert_eq!(bind(&broker, WS, &client_id, &first).await.0, 204);
        let (status, t) = refresh(
            &broker,
            &client_id,
            unbound["refresh_token"].as_str().unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{label}: {t}");
        assert_eq!(
            claims_of(t["access_token"].as_str().unwrap())["act"],
            json!({"sub": first}),
            "{label}"
        );
        // Rebound: the next refresh names the new agent.
        assert_eq!(bind(&broker, WS, &client_id, &second).await.0, 204);
        let (status, t) = refresh(&broker, &client_id, t["refresh_token"].as_str().unwrap()).await;
        assert_eq!(status, 200, "{label}: {t}");
        assert_eq!(
            claims_of(t["access_token"].as_str().unwrap())["act"],
            json!({"sub": second}),
            "{label}"
        );
        // Unbound: no `act` from the next refresh on, and the stored grant says so too.
        let (status, _) =
            TestBroker::send(broker.admin(Method::DELETE, &binding_path(WS, &client_id))).await;
        assert_eq!(status, 204);
        let (status, t) = refresh(&broker, &client_id, t["refresh_token"].as_str().unwrap()).await;
        assert_eq!(status, 200, "{label}: {t}");
        assert!(
            claims_of(t["access_token"].as_str().unwrap())
                .get("act")
                .is_none(),
            "{label}: {t}"
        );
        assert_eq!(
            count(
                &db.url,
                "SELECT COUNT(*) FROM oauth_token_families WHERE agent_id IS NOT NULL"
            )
            .await,
            0,
            "{label}"
        );
    }
}

#[tokio::test]
async fn a_refetched_client_document_keeps_its_agent() {
    for db in all_dbs().await {
        let label = db.label;
        let broker = as_broker(&db.url).await;
        let docs = DocServer::start().await;
        let client_id = docs.client("client.json", REDIRECT);
        let agent = create_agent(&broker, WS, &["notes:read"]).await;
        let _ = tokens_for(&broker, &client_id, "notes:read").await;
        assert_eq!(bind(&broker, WS, &client_id, &agent).await.0, 204);
        // The cached document expires between authorization and token request: the token
        // request refetches it and must still see the binding.
        let (code, verifier) = code_for(&broker, &client_id, "notes:read").await;
        execute(&db.url, "UPDATE oauth_clients SET cache_expires_at = 0").await;
        let (status, t) = exchange(&broker, &client_id, &code, &verifier).await;
        assert_eq!(status, 200, "{label}: {t}");
        assert_eq!(
            claims_of(t["access_token"].as_str().unwrap())["act"],
            json!({"sub": agent}),
            "{label}"
        );
        // And so a disabled agent is not escaped by a refetch.
        let (code, verifier) = code_for(&broker, &client_id, "notes:read").await;
        set_agent_disabled(&broker, WS, &agent, true).await;
        execute(&db.url, "UPDATE oauth_clients SET cache_expires_at = 0").await;
        assert_refused(
            label,
            &exchange(&broker, &client_id, &code, &verifier).await,
        );
    }
}
