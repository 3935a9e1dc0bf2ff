//! Request bodies are protocol types: an id or scope against its rule is refused by the JSON
//! parser with a 400 that states the protocol's rule and never echoes the value.

mod common;

use common::{TestBroker, sqlite_db, test_config};
use nexus_protocol::{Scope, WorkspaceId};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_bad_id_in_a_body_is_refused_with_the_rule_not_the_value() {
    let db = sqlite_db();
    let b = TestBroker::start(test_config(&db.url)).await;
    b.create_workspace("w1").await;
    let cases = [
        (
            "/admin/v1/workspaces",
            json!({"id": "Hidden Value"}),
            format!("{} {}", WorkspaceId::WHAT, WorkspaceId::EXPECTED),
        ),
        (
            "/admin/v1/workspaces/w1/agents",
            json!({"name": "a", "scopes": ["Hidden Value"]}),
            format!("{} {}", Scope::WHAT, Scope::EXPECTED),
        ),
    ];
    for (path, body, rule) in cases {
        let (status, e) = TestBroker::send(b.admin(Method::POST, path).json(&body)).await;
        assert_eq!(
            (status, e["error"].as_str()),
            (400, Some("invalid_request")),
            "{path}: {e}"
        );
        let message = e["message"].as_str().unwrap();
        assert!(message.contains(&rule), "{path}: {message}");
        assert!(!message.contains("Hidden"), "{path}: {message}");
    }
}
