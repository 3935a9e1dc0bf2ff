//! Bad input to the admin and internal HTTP APIs on both databases: always a 4xx JSON error
//! (never a 5xx), and nothing written.

mod common;

use common::{TestBroker, all_dbs, test_config};
use reqwest::Method;
use serde_json::{Value, json};

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
            // Audit checkpoints and export: names and numbers are checked before any query.
            (
                Method::POST,
                "/admin/v1/audit/checkpoint/verify".into(),
                Some(
                    json!({"chains": [{"chain": "ws:a\u{0}b", "records": 1, "head_id": 1, "head_hash": ""}]}),
                ),
                None,
            ),
            (
                Method::POST,
                "/admin/v1/audit/checkpoint/verify".into(),
                Some(
                    json!({"chains": [{"chain": "-", "records": u64::MAX, "head_id": 1, "head_hash": ""}]}),
                ),
                None,
            ),
            (
                Method::POST,
                "/admin/v1/audit/checkpoint/verify".into(),
                Some(
                    json!({"chains": [{"chain": "-", "records": 1, "head_id": -1, "head_hash": ""}]}),
                ),
                None,
            ),
            (
                Method::GET,
                "/admin/v1/audit/export?after_id=-1".into(),
                None,
                None,
            ),
            (
                Method::GET,
                "/admin/v1/audit/export?workspace_id=Bad%20Ws".into(),
                None,
                None,
            ),
            // Audit prune: a checkpoint's chains are checked like the verify's, and a prune the
            // log does not hold (a head that is not there) is refused, nothing deleted.
            (
                Method::POST,
                "/admin/v1/audit/prune".into(),
                Some(
                    json!({"chains": [{"chain": "nope", "records": 1, "head_id": 1, "head_hash": ""}]}),
                ),
                None,
            ),
            (
                Method::POST,
                "/admin/v1/audit/prune".into(),
                Some(json!({"chains": [], "workspace_id": "Bad Ws"})),
                None,
            ),
            (
                Method::POST,
                "/admin/v1/audit/prune".into(),
                Some(
                    json!({"chains": [{"chain": "ws:ghost", "records": 3, "head_id": 7, "head_hash": "ab"}]}),
                ),
                None,
            ),
            (
                Method::POST,
                "/admin/v1/audit/prune".into(),
                None,
                Some("{"),
            ),
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
