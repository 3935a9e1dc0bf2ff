//! Failed admin-token attempts over real HTTP (issue 14 items 5d and 7): each of the first
//! `MAX_FAILURES` is a 401 recorded in the audit log (without the attempted token); beyond
//! them the source's failures get 429 with `Retry-After` and no more records are written, so a
//! flood cannot fill the table; the right token still passes (a gateway sharing the address must
//! not be locked out).

mod common;

use common::{ADMIN_TOKEN, TestBroker, all_dbs, test_config};
use nexus_broker::api::auth_failures::MAX_FAILURES;
use reqwest::Method;

const WRONG: &str = "wrong-admin-token-guess-0123456789";

#[tokio::test]
async fn failed_admin_tokens_are_recorded_then_throttled() {
    for db in all_dbs().await {
        let l = db.label;
        let b = TestBroker::start(test_config(&db.url)).await;
        let wrong = || {
            b.http
                .get(format!("{}/admin/v1/workspaces", b.url))
                .bearer_auth(WRONG)
                .header("x-request-id", "guess")
        };
        for i in 0..MAX_FAILURES {
            let resp = wrong().send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 401, "{l}: attempt {i}");
        }
        for _ in 0..5 {
            let resp = wrong().send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 429, "{l}");
            let wait: u64 = resp.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=60).contains(&wait), "{l}: Retry-After {wait}");
            let body: serde_json::Value = resp.json().await.unwrap();
            assert_eq!(body["error"], "rate_limited", "{l}: {body}");
        }
        // The right token still passes from the throttled source.
        let (status, _) = TestBroker::send(b.admin(Method::GET, "/admin/v1/workspaces")).await;
        assert_eq!(status, 200, "{l}");

        // Read the log from the store.
        let records = b
            .broker
            .store()
            .query_audit(&nexus_vault::store::audit::AuditQuery {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        let failed: Vec<_> = records
            .iter()
            .filter(|r| r.action == "auth.failed")
            .collect();
        assert_eq!(failed.len(), MAX_FAILURES as usize, "{l}: {failed:?}");
        for r in &failed {
            assert_eq!(r.target.as_deref(), Some("admin_api"), "{l}");
            assert_eq!(r.detail.as_deref(), Some("source=127.0.0.1"), "{l}");
            assert_eq!(r.client_request_id.as_deref(), Some("guess"), "{l}");
        }
        let text = serde_json::to_string(&records).unwrap();
        assert!(!text.contains(WRONG) && !text.contains(ADMIN_TOKEN), "{l}");
        assert!(
            b.broker.store().verify_audit_chain(None).await.unwrap().ok,
            "{l}"
        );
    }
}
