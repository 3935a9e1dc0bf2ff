//! The admin API of MCP resources: bad input is a 400 with a reason, Rule R normal forms are
//! stored, an unknown workspace or resource is a 404, the admin token is required.

mod as_common;
mod common;

use as_common::*;
use common::TestBroker;

#[tokio::test]
async fn mcp_resources_admin_api_refuses_bad_input() {
    let db = common::sqlite_db();
    let broker = as_broker(&db.url).await;
    let path = format!("/admin/v1/workspaces/{WS}/mcp-resources");
    for (body, status) in [
        (serde_json::json!({"resource_uri": "not a url"}), 400),
        (
            serde_json::json!({"resource_uri": "https://x.example/#f"}),
            400,
        ),
        (
            serde_json::json!({"resource_uri": "https://x.example/", "scopes": ["a b"]}),
            400,
        ),
        (
            serde_json::json!({"resource_uri": "https://x.example/", "scopes": ["offline_access"]}),
            400,
        ),
        (
            serde_json::json!({"resource_uri": "https://x.example/", "scopes": ["a"], "default_scopes": ["b"]}),
            400,
        ),
        (
            serde_json::json!({"resource_uri": "https://x.example/", "access_token_ttl_seconds": 86400}),
            400,
        ),
        (serde_json::json!({"resource_uri": RESOURCE}), 400),
        (
            serde_json::json!({"resource_uri": "https://x.example/", "unknown": 1}),
            400,
        ),
    ] {
        let (got, answer) =
            TestBroker::send(broker.admin(reqwest::Method::POST, &path).json(&body)).await;
        assert_eq!(got, status, "{body}: {answer}");
    }
    let (status, created) = TestBroker::send(
        broker
            .admin(reqwest::Method::POST, &path)
            .json(&serde_json::json!({"resource_uri": "HTTPS://X.example/"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["resource_uri"], "https://x.example");
    assert_eq!(created["name"], "x.example");
    let (status, _) = TestBroker::send(broker.admin(
        reqwest::Method::GET,
        "/admin/v1/workspaces/nope/mcp-resources",
    ))
    .await;
    assert_eq!(status, 404);
    let (status, _) = TestBroker::send(broker.http.get(format!("{}{path}", broker.url))).await;
    assert_eq!(status, 401, "admin token required");
    let (status, _) =
        TestBroker::send(broker.admin(reqwest::Method::POST, &format!("{path}/mres_nope/disable")))
            .await;
    assert_eq!(status, 404);
}
