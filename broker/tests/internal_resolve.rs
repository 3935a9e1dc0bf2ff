//! The gateway's resolve (`POST /internal/v1/resolve`) on both databases: the request id it
//! sends as a header reaches the `token.issued` record (a body's own id wins), and a provider
//! changed between two resolves answers the second with its new spec (the PostgreSQL lookup
//! remembers decoded providers; a change must never be answered from that memory).

mod common;

use common::{TestBroker, all_dbs, test_config};
use reqwest::Method;
use serde_json::{Value, json};

async fn seeded(url: &str) -> TestBroker {
    let b = TestBroker::start(test_config(url)).await;
    b.create_workspace("w1").await;
    b.put_provider(
        json!({"name": "crm", "auth_type": "api_key", "api_base_url": "https://a.example"}),
    )
    .await;
    let (status, conn) = TestBroker::send(
        b.admin(Method::POST, "/admin/v1/workspaces/w1/connections/import")
            .json(&json!({"provider_name": "crm", "kind": "api_key", "secret": "k-1"})),
    )
    .await;
    assert_eq!(status, 201, "{conn}");
    b
}

fn resolve_body(extra: Value) -> Value {
    let mut body = json!({
        "principal": {"kind": "api_key", "workspace_id": "w1", "key_id": "k1"},
        "workspace_id": "w1", "provider_name": "crm"
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    body
}

#[tokio::test]
async fn the_request_id_header_reaches_the_audit_record_and_the_body_id_wins() {
    for db in all_dbs().await {
        let l = db.label;
        let b = seeded(&db.url).await;
        for (header, extra) in [
            ("req-header-1", json!({})),
            ("req-header-2", json!({"request_id": "req-body-2"})),
        ] {
            let (status, r) = TestBroker::send(
                b.internal(Method::POST, "/internal/v1/resolve")
                    .header("x-request-id", header)
                    .json(&resolve_body(extra)),
            )
            .await;
            assert_eq!(status, 200, "{l}: {r}");
        }
        let (status, records) =
            TestBroker::send(b.admin(Method::GET, "/admin/v1/audit?workspace_id=w1&limit=1000"))
                .await;
        assert_eq!(status, 200, "{l}: {records}");
        let mut ids: Vec<&str> = records
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"] == "token.issued")
            .map(|r| r["client_request_id"].as_str().unwrap_or("-"))
            .collect();
        ids.sort();
        assert_eq!(ids, ["req-body-2", "req-header-1"], "{l}: {records}");
    }
}

#[tokio::test]
async fn a_changed_provider_is_answered_with_its_new_spec() {
    for db in all_dbs().await {
        let l = db.label;
        let b = seeded(&db.url).await;
        let (status, r) = b.resolve("w1", "crm", json!({})).await;
        assert_eq!(status, 200, "{l}: {r}");
        assert_eq!(r["api_base_url"], "https://a.example", "{l}");
        for base in ["https://b.example", "https://c.example"] {
            b.put_provider(json!({"name": "crm", "auth_type": "api_key", "api_base_url": base}))
                .await;
            let (status, r) = b.resolve("w1", "crm", json!({})).await;
            assert_eq!(status, 200, "{l}: {r}");
            assert_eq!(r["api_base_url"], base, "{l}");
            assert_eq!(r["credentials"]["api_key"], "k-1", "{l}");
        }
    }
}
