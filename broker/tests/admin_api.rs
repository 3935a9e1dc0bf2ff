//! The admin API on both databases: workspaces and keys, providers (one by one, a document
//! with drift, the file at start-up), health and the OpenAPI document. Secrets are never
//! returned. Static credentials: `static_credentials.rs`; bad input: `admin_bad_input.rs`.

mod common;

use common::{TestBroker, all_dbs, test_config};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn workspaces_keys_and_verification() {
    for db in all_dbs().await {
        let b = TestBroker::start(test_config(&db.url)).await;
        b.create_workspace("acme").await;
        let (status, list) = TestBroker::send(b.admin(Method::GET, "/admin/v1/workspaces")).await;
        assert_eq!(
            (status, list[0]["id"].as_str()),
            (200, Some("acme")),
            "{}",
            db.label
        );

        let (status, created) =
            TestBroker::send(b.admin(Method::POST, "/admin/v1/workspaces/acme/api-keys")).await;
        assert_eq!(status, 201);
        let key = created["api_key"].as_str().unwrap().to_owned();
        let key_id = created["key_id"].as_str().unwrap().to_owned();

        let verify = |k: &str| {
            TestBroker::send(
                b.internal(Method::POST, "/internal/v1/api-keys/verify")
                    .json(&json!({"key": k})),
            )
        };
        let (status, v) = verify(&key).await;
        assert_eq!(status, 200);
        assert_eq!(v, json!({"workspace_id": "acme", "key_id": key_id}));
        assert_eq!(verify("nxk_0000000000000000_nope").await.0, 401);

        let (_, keys) =
            TestBroker::send(b.admin(Method::GET, "/admin/v1/workspaces/acme/api-keys")).await;
        assert!(!keys.to_string().contains(&key), "listing leaked the key");
        assert_eq!(keys[0]["prefix"], json!(format!("nxk_{key_id}")));

        let (status, _) = TestBroker::send(b.admin(
            Method::DELETE,
            &format!("/admin/v1/workspaces/acme/api-keys/{key_id}"),
        ))
        .await;
        assert_eq!(status, 204);
        assert_eq!(
            verify(&key).await.0,
            401,
            "{}: revoked key verified",
            db.label
        );
    }
}

#[tokio::test]
async fn providers_crud_and_declarative_apply_with_drift() {
    for db in all_dbs().await {
        let b = TestBroker::start(test_config(&db.url)).await;
        let p = b.put_provider(json!({"name": "github", "catalog": "github", "client_id": "cid", "client_secret": "gh-secret-value"})).await;
        assert_eq!(p["has_client_secret"], json!(true));
        assert!(!p.to_string().contains("gh-secret-value"));
        let (_, got) = TestBroker::send(b.admin(Method::GET, "/admin/v1/providers/github")).await;
        assert_eq!(
            got["token_url"],
            json!("https://github.com/login/oauth/access_token")
        );
        assert!(got.get("client_secret").is_none());

        // SAFETY of the test: the variable is read by this process only while applying.
        unsafe { std::env::set_var("NEXUS_BROKER_TEST_SLACK_SECRET", "slack-secret") };
        let doc = "providers:\n  - name: github\n    catalog: github\n    client_id: cid\n    client_secret: gh-secret-value\n  - name: slack\n    catalog: slack\n    client_id: sid\n    client_secret: ${NEXUS_BROKER_TEST_SLACK_SECRET}\n  - name: stripe\n    auth_type: api_key\n    strategy: {type: header, config: {header_name: Authorization}}\n";
        let apply = |q: &str, body: &str| {
            TestBroker::send(
                b.admin(Method::POST, &format!("/admin/v1/providers/apply{q}"))
                    .header("content-type", "application/yaml")
                    .body(body.to_owned()),
            )
        };
        let (status, report) = apply("?dry_run=true", doc).await;
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["created"], json!(["slack", "stripe"]));
        assert_eq!(report["unchanged"], json!(["github"]));
        assert_eq!(report["dry_run"], json!(true));
        let (_, list) = TestBroker::send(b.admin(Method::GET, "/admin/v1/providers")).await;
        assert_eq!(list.as_array().unwrap().len(), 1, "dry run wrote");

        let (_, report) = apply("", doc).await;
        assert_eq!(report["created"], json!(["slack", "stripe"]));
        let (_, report) = apply("", doc).await;
        assert_eq!(
            report["unchanged"],
            json!(["github", "slack", "stripe"]),
            "{}: apply is not idempotent",
            db.label
        );

        let changed = doc.replace("client_id: sid", "client_id: sid2");
        let only_slack = "providers:\n  - name: slack\n    catalog: slack\n    client_id: sid2\n    client_secret: x\n";
        let (_, report) = apply("", &changed).await;
        assert_eq!(report["updated"], json!(["slack"]));
        let (_, report) = apply("?prune=true", only_slack).await;
        assert_eq!(report["pruned"], json!(["github", "stripe"]));
        assert_eq!(report["updated"], json!(["slack"]));

        let (status, _) =
            TestBroker::send(b.admin(Method::DELETE, "/admin/v1/providers/slack")).await;
        assert_eq!(status, 204);
        let (status, body) =
            TestBroker::send(b.admin(Method::GET, "/admin/v1/providers/slack")).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (404, Some("provider_not_found"))
        );
    }
}

#[tokio::test]
async fn health_and_openapi() {
    let db = common::sqlite_db();
    let b = TestBroker::start(test_config(&db.url)).await;
    assert_eq!(
        b.http
            .get(format!("{}/healthz", b.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        b.http
            .get(format!("{}/readyz", b.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let doc = serde_json::to_value(nexus_broker::api_doc()).unwrap();
    assert!(doc["paths"]["/admin/v1/providers/apply"]["post"].is_object());
    assert!(doc["paths"]["/admin/v1/workspaces/{ws}/connections/import"]["post"].is_object());
}

#[tokio::test]
async fn providers_file_is_applied_at_start_up() {
    let db = common::sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nexus-providers.yaml");
    // SAFETY of the test: only this test reads this variable.
    unsafe { std::env::set_var("NEXUS_BROKER_TEST_GH_SECRET", "gh-from-env") };
    std::fs::write(
        &file,
        "providers:\n  - name: github\n    catalog: github\n    client_id: gh-id\n    client_secret: ${NEXUS_BROKER_TEST_GH_SECRET}\n  - name: notion-key\n    auth_type: api_key\n    params:\n      auth_strategy: {type: header, config: {header_name: X-Api-Key}}\n",
    )
    .unwrap();
    let mut config = test_config(&db.url);
    config.providers_file = Some(file.clone());
    let b = TestBroker::start(config).await;
    let (_, list) = TestBroker::send(b.admin(Method::GET, "/admin/v1/providers")).await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["github", "notion-key"]);
    assert_eq!(
        list[1]["strategy"]["config"]["header_name"],
        json!("X-Api-Key")
    );
    assert_eq!(
        b.broker
            .store()
            .provider_client_secret("github")
            .await
            .unwrap()
            .unwrap()
            .expose(),
        "gh-from-env"
    );
    drop(b);

    // A broken file stops start-up with a clear error instead of running half-configured.
    std::fs::write(&file, "providers:\n  - name: x\n    auth_type: nope\n").unwrap();
    let mut config = test_config(&db.url);
    config.providers_file = Some(file);
    let err = nexus_broker::Broker::start(config)
        .await
        .err()
        .expect("start must fail");
    assert!(err.to_string().contains("unknown auth_type"), "{err}");
}
