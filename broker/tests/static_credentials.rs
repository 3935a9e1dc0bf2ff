//! Static credentials on both databases (import, the capture form) and the internal
//! connection endpoints the gateway calls: happy paths, secrets never returned, workspaces kept
//! apart.

mod common;

use common::{TestBroker, all_dbs, test_config};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn static_credentials_import_and_resolve() {
    for db in all_dbs().await {
        let b = TestBroker::start(test_config(&db.url)).await;
        b.create_workspace("w1").await;
        b.put_provider(json!({"name": "stripe", "auth_type": "api_key", "api_base_url": "https://api.stripe.com",
            "strategy": {"type": "header", "config": {"header_name": "Authorization"}}}))
            .await;
        b.put_provider(json!({"name": "jira", "auth_type": "basic_auth"}))
            .await;

        let (status, body) = b.resolve("w1", "stripe", json!({})).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (404, Some("connection_not_found"))
        );

        let import = |body: Value| {
            TestBroker::send(
                b.admin(Method::POST, "/admin/v1/workspaces/w1/connections/import")
                    .json(&body),
            )
        };
        let (status, conn) =
            import(json!({"provider_name": "stripe", "kind": "api_key", "secret": "sk_test_123"}))
                .await;
        assert_eq!(status, 201, "{conn}");
        assert_eq!(conn["status"], json!("active"));
        assert!(!conn.to_string().contains("sk_test_123"));

        let (status, r) = b.resolve("w1", "stripe", json!({})).await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["strategy"]["type"], json!("header"));
        assert_eq!(r["credentials"]["api_key"], json!("sk_test_123"));
        assert_eq!(r["api_base_url"], json!("https://api.stripe.com"));
        assert_eq!(r["connection_id"], conn["id"]);

        // Basic auth needs both fields.
        let (status, e) = import(
            json!({"provider_name": "jira", "kind": "credentials", "secret": {"username": "u"}}),
        )
        .await;
        assert_eq!(
            (status, e["error"].as_str()),
            (400, Some("invalid_request"))
        );
        let (status, _) = import(json!({"provider_name": "jira", "kind": "credentials", "secret": {"username": "u", "password": "p"}})).await;
        assert_eq!(status, 201);
        let (_, r) = b.resolve("w1", "jira", json!({})).await;
        assert_eq!(r["credentials"], json!({"username": "u", "password": "p"}));

        // Another workspace's principal is refused.
        let body = json!({"principal": {"kind": "api_key", "workspace_id": "other", "key_id": "k"}, "workspace_id": "w1", "provider_name": "stripe"});
        let (status, e) =
            TestBroker::send(b.internal(Method::POST, "/internal/v1/resolve").json(&body)).await;
        assert_eq!((status, e["error"].as_str()), (403, Some("forbidden")));

        // By id, then revoked.
        let id = conn["id"].as_str().unwrap();
        let (status, check) = TestBroker::send(b.internal(
            Method::GET,
            &format!("/internal/v1/workspaces/w1/connections/{id}"),
        ))
        .await;
        assert_eq!((status, check["status"].as_str()), (200, Some("active")));
        let (status, tok) = TestBroker::send(b.internal(
            Method::GET,
            &format!("/internal/v1/workspaces/w1/connections/{id}/token"),
        ))
        .await;
        assert_eq!(
            (status, tok["credentials"]["api_key"].as_str()),
            (200, Some("sk_test_123"))
        );
        let (status, _) = TestBroker::send(b.admin(
            Method::DELETE,
            &format!("/admin/v1/workspaces/w1/connections/{id}"),
        ))
        .await;
        assert_eq!(status, 204);
        let (status, _) = b.resolve("w1", "stripe", json!({})).await;
        assert_eq!(
            status, 404,
            "{}: revoked connection still resolves",
            db.label
        );

        // Everything above is in the audit log.
        let (status, records) =
            TestBroker::send(b.admin(Method::GET, "/admin/v1/audit?workspace_id=w1&limit=100"))
                .await;
        assert_eq!(status, 200);
        let actions: Vec<&str> = records
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["action"].as_str())
            .collect();
        for expected in [
            "workspace.created",
            "connection.imported",
            "token.issued",
            "connection.revoked",
        ] {
            assert!(
                actions.contains(&expected),
                "{}: audit lacks {expected}: {actions:?}",
                db.label
            );
        }
        let records = records.as_array().unwrap();
        assert!(records.iter().any(|r| r["action"] == "token.issued"
            && r["outcome"] == "ok"
            && r["principal"] == "api_key:k1"));
        assert!(
            records
                .iter()
                .any(|r| r["action"] == "token.issued" && r["outcome"] == "connection_not_found")
        );
    }
}

#[tokio::test]
async fn static_credentials_form_captures_and_activates() {
    let db = common::sqlite_db();
    let b = TestBroker::start(test_config(&db.url)).await;
    b.create_workspace("w1").await;
    b.put_provider(json!({"name": "jira", "auth_type": "basic_auth"}))
        .await;
    let (status, started) = TestBroker::send(
        b.admin(Method::POST, "/admin/v1/workspaces/w1/connect")
            .json(&json!({"provider_name": "jira", "return_url": "https://app.example/done"})),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let form_url = started["authUrl"].as_str().unwrap().to_owned();
    let page = b.http.get(&form_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("name=\"username\"") && html.contains("name=\"password\""));
    let (status, _) = b.resolve("w1", "jira", json!({})).await;
    assert_eq!(status, 409, "a pending connection must not resolve");

    let missing = b
        .http
        .post(&form_url)
        .form(&[("username", "u")])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
    let done = b
        .http
        .post(&form_url)
        .form(&[("username", "u"), ("password", "p")])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    let location = done.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("https://app.example/done?status=success&connection_id="),
        "{location}"
    );
    let (_, r) = b.resolve("w1", "jira", json!({})).await;
    assert_eq!(r["credentials"]["password"], json!("p"));
    let again = b
        .http
        .post(&form_url)
        .form(&[("username", "u"), ("password", "p")])
        .send()
        .await
        .unwrap();
    // One answer for every unusable link (unknown, used, expired): 400.
    assert_eq!(again.status(), 400, "the form link must be one-time");
}

#[tokio::test]
async fn internal_request_connection_and_check() {
    let db = common::sqlite_db();
    let b = TestBroker::start(test_config(&db.url)).await;
    b.create_workspace("w1").await;
    b.put_provider(json!({"name": "stripe", "auth_type": "api_key"}))
        .await;
    let principal = json!({"kind": "api_key", "workspace_id": "w1", "key_id": "k1"});
    let body = json!({"principal": principal, "workspace_id": "w1", "input": {"user_id": "u1", "provider": "stripe"}});
    let (status, started) = TestBroker::send(
        b.internal(Method::POST, "/internal/v1/request-connection")
            .json(&body),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    assert!(
        started["authUrl"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/connect/", b.url))
    );
    let id = started["connection_id"].as_str().unwrap();
    let (status, check) = TestBroker::send(b.internal(
        Method::GET,
        &format!("/internal/v1/workspaces/w1/connections/{id}"),
    ))
    .await;
    assert_eq!((status, check["status"].as_str()), (200, Some("pending")));
    let (status, e) = TestBroker::send(b.internal(
        Method::GET,
        &format!("/internal/v1/workspaces/other/connections/{id}"),
    ))
    .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (404, Some("connection_not_found")),
        "connections are scoped to their workspace"
    );

    let wrong = json!({"principal": principal, "workspace_id": "w2", "input": {"user_id": "u1", "provider": "stripe"}});
    let (status, _) = TestBroker::send(
        b.internal(Method::POST, "/internal/v1/request-connection")
            .json(&wrong),
    )
    .await;
    assert_eq!(status, 403);
    let bad_return = json!({"principal": principal, "workspace_id": "w1", "input": {"user_id": "u1", "provider": "stripe", "return_url": "javascript:alert(1)"}});
    let (status, _) = TestBroker::send(
        b.internal(Method::POST, "/internal/v1/request-connection")
            .json(&bad_return),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) =
        TestBroker::send(b.internal(Method::POST, "/internal/v1/resolve").body("{")).await;
    assert_eq!(status, 400);
}
