//! The admin and internal HTTP APIs on both databases: happy paths, secrets never returned,
//! and bad input answered with a 4xx JSON error (never a 5xx).

mod common;

use common::{TestBroker, all_dbs, test_config};
use reqwest::Method;
use serde_json::{Value, json};

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
    assert_eq!(again.status(), 404, "the form link must be one-time");
}

/// Every admin endpoint, given bad input, answers 4xx with the JSON error envelope.
#[tokio::test]
async fn bad_input_to_every_admin_endpoint_is_a_4xx_json_error() {
    for db in all_dbs().await {
        let b = TestBroker::start(test_config(&db.url)).await;
        b.create_workspace("w1").await;
        let long = "x".repeat(300);
        let cases: Vec<(Method, String, Option<Value>, Option<&str>)> = vec![
            (
                Method::POST,
                "/admin/v1/providers".into(),
                None,
                Some("{not json"),
            ),
            (
                Method::POST,
                "/admin/v1/providers".into(),
                Some(json!({"name": 5})),
                None,
            ),
            (
                Method::POST,
                "/admin/v1/providers".into(),
                Some(json!({"name": "Bad Name"})),
                None,
            ),
            (
                Method::POST,
                "/admin/v1/providers".into(),
                Some(json!({"name": "x", "auth_type": "magic"})),
                None,
            ),
            (
                Method::POST,
                "/admin/v1/providers".into(),
                Some(json!({"name": "x", "client_id": "c"})),
                None,
            ),
            (
                Method::POST,
                "/admin/v1/providers".into(),
                Some(
                    json!({"name": "x", "auth_type": "header", "strategy": {"type": "header", "config": {"header_name": "a b"}}}),
                ),
                None,
            ),
            (
                Method::POST,
                "/admin/v1/providers".into(),
                Some(json!({"name": "x", "auth_type": "aws_sigv4"})),
                None,
            ),
            (
                Method::POST,
                "/admin/v1/providers".into(),
                Some(json!([1, 2])),
                None,
            ),
            (Method::GET, "/admin/v1/providers/nope".into(), None, None),
            (
                Method::DELETE,
                "/admin/v1/providers/nope".into(),
                None,
                None,
            ),
            (
                Method::POST,
                "/admin/v1/providers/apply".into(),
                None,
                Some("providers: ["),
            ),
            (
                Method::POST,
                "/admin/v1/providers/apply".into(),
                None,
                Some("providers:\n  - name: x\n    client_id: ${NEXUS_BROKER_TEST_UNSET_VAR}\n"),
            ),
            (
                Method::POST,
                "/admin/v1/providers/apply".into(),
                None,
                Some(
                    "providers:\n  - name: ok\n    auth_type: api_key\n  - name: bad\n    auth_type: nope\n",
                ),
            ),
            (
                Method::POST,
                "/admin/v1/providers/apply?dry_run=maybe".into(),
                None,
                Some("providers: []"),
            ),
            (
                Method::POST,
                "/admin/v1/workspaces".into(),
                Some(json!({"id": "Bad Id"})),
                None,
            ),
            (
                Method::POST,
                "/admin/v1/workspaces".into(),
                Some(json!({"id": ""})),
                None,
            ),
            (
                Method::POST,
                "/admin/v1/workspaces".into(),
                Some(json!({"name": "no id"})),
                None,
            ),
            (
                Method::POST,
                "/admin/v1/workspaces".into(),
                Some(json!({"id": "w1"})),
                None,
            ),
            (
                Method::POST,
                "/admin/v1/workspaces".into(),
                Some(json!({"id": "w2", "name": long})),
                None,
            ),
            (
                Method::POST,
                "/admin/v1/workspaces/nope/api-keys".into(),
                None,
                None,
            ),
            (
                Method::POST,
                "/admin/v1/workspaces/BAD!/api-keys".into(),
                None,
                None,
            ),
            (
                Method::GET,
                "/admin/v1/workspaces/nope/api-keys".into(),
                None,
                None,
            ),
            (
                Method::DELETE,
                "/admin/v1/workspaces/w1/api-keys/nope".into(),
                None,
                None,
            ),
            (
                Method::GET,
                "/admin/v1/workspaces/nope/connections".into(),
                None,
                None,
            ),
            (
                Method::POST,
                "/admin/v1/workspaces/w1/connections/import".into(),
                Some(json!({"provider_name": "nope", "kind": "api_key", "secret": "s"})),
                None,
            ),
            (
                Method::POST,
                "/admin/v1/workspaces/w1/connections/import".into(),
                Some(json!({"kind": "api_key"})),
                None,
            ),
            (
                Method::POST,
                "/admin/v1/workspaces/nope/connections/import".into(),
                Some(json!({"provider_name": "p", "kind": "api_key", "secret": "s"})),
                None,
            ),
            (
                Method::DELETE,
                "/admin/v1/workspaces/w1/connections/nope".into(),
                None,
                None,
            ),
            (
                Method::POST,
                "/admin/v1/workspaces/w1/connect".into(),
                Some(json!({"provider_name": "nope"})),
                None,
            ),
            (
                Method::POST,
                "/admin/v1/workspaces/w1/connect".into(),
                Some(json!({})),
                None,
            ),
            (
                Method::POST,
                "/admin/v1/workspaces/nope/connect".into(),
                Some(json!({"provider_name": "x"})),
                None,
            ),
            (
                Method::POST,
                "/admin/v1/keys/rotate".into(),
                Some(json!({"new_key": "too-short"})),
                None,
            ),
            (
                Method::POST,
                "/admin/v1/keys/rotate".into(),
                None,
                Some("{]"),
            ),
            (
                Method::POST,
                "/admin/v1/keys/rotate".into(),
                Some(json!({})),
                None,
            ), // no keyring file
            (Method::GET, "/admin/v1/audit?limit=0".into(), None, None),
            (Method::GET, "/admin/v1/audit?limit=abc".into(), None, None),
            (
                Method::GET,
                "/admin/v1/audit?since=yesterday".into(),
                None,
                None,
            ),
            (Method::PUT, "/admin/v1/providers".into(), None, None),
            (Method::GET, "/admin/v1/nothing-here".into(), None, None),
        ];
        for (method, path, json_body, raw) in cases {
            let mut req = b.admin(method.clone(), &path);
            if let Some(j) = &json_body {
                req = req.json(j);
            }
            if let Some(r) = raw {
                req = req
                    .header("content-type", "application/json")
                    .body(r.to_owned());
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            assert!(
                (400..500).contains(&status),
                "{}: {method} {path} {json_body:?} → {status} {text}",
                db.label
            );
            let body: Value = serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
            assert!(
                body["error"].is_string() && body["message"].is_string(),
                "{method} {path}: {body}"
            );
        }
        // The failed apply wrote nothing (validation happens before any write).
        let (_, list) = TestBroker::send(b.admin(Method::GET, "/admin/v1/providers")).await;
        assert_eq!(
            list,
            json!([]),
            "{}: a rejected document changed providers",
            db.label
        );

        // Authentication: missing and wrong tokens, on admin and internal routes.
        for (path, method) in [
            ("/admin/v1/providers", Method::GET),
            ("/internal/v1/resolve", Method::POST),
        ] {
            let none = b
                .http
                .request(method.clone(), format!("{}{path}", b.url))
                .send()
                .await
                .unwrap();
            assert_eq!(none.status(), 401);
            let wrong = b
                .http
                .request(method, format!("{}{path}", b.url))
                .bearer_auth("wrong")
                .send()
                .await
                .unwrap();
            assert_eq!(wrong.status(), 401);
            let body: Value = wrong.json().await.unwrap();
            assert_eq!(body["error"], json!("unauthorized"));
        }
        let internal_as_admin = b
            .http
            .get(format!("{}/admin/v1/providers", b.url))
            .bearer_auth(common::INTERNAL_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(
            internal_as_admin.status(),
            401,
            "the internal token must not open the admin API"
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
