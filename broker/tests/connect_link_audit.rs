//! Issuing a connect link is audited (issue 18): `connect_link.issued` names who asked, the
//! workspace, the providers, the user, the expiry and the link's id, never the link (the sealed
//! token is the bearer secret). SQLite, and PostgreSQL when configured.

mod common;

use common::{TestBroker, all_dbs, test_config, testkit_provider};
use nexus_testkit::{OAuthServer, OAuthServerOptions};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn issuing_a_connect_link_is_audited_without_the_link() {
    let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
    for db in all_dbs().await {
        let b = TestBroker::start(test_config(&db.url)).await;
        b.create_workspace("w1").await;
        b.put_provider(testkit_provider(&oauth, "github")).await;
        let (status, body) = TestBroker::send(
            b.admin(Method::POST, "/admin/v1/workspaces/w1/connect-links")
                .header("x-request-id", "req-link-1")
                .json(&json!({"user_id": "u-42", "providers": ["github"], "ttl_seconds": 300})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let url = body["url"].as_str().unwrap().to_owned();
        let token = url.split("/connect/l/").nth(1).unwrap().to_owned();

        // A refused request (unknown provider) issues nothing and records nothing.
        let (status, _) = TestBroker::send(
            b.admin(Method::POST, "/admin/v1/workspaces/w1/connect-links")
                .json(&json!({"providers": ["nope"]})),
        )
        .await;
        assert_eq!(status, 404);

        let (status, records) =
            TestBroker::send(b.admin(Method::GET, "/admin/v1/audit?workspace_id=w1&limit=1000"))
                .await;
        assert_eq!(status, 200, "{records}");
        let issued: Vec<&Value> = records
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"] == "connect_link.issued")
            .collect();
        assert_eq!(issued.len(), 1, "{records}");
        let r = issued[0];
        assert_eq!(r["principal"], "admin");
        assert_eq!(r["workspace_id"], "w1");
        assert_eq!(r["outcome"], "ok");
        assert_eq!(r["client_request_id"], "req-link-1");
        let detail: Value = serde_json::from_str(r["detail"].as_str().unwrap()).unwrap();
        assert_eq!(detail["user_id"], "u-42");
        assert_eq!(detail["providers"], json!(["github"]));
        assert_eq!(detail["expires_at"], body["expires_at"]);
        assert_eq!(r["target"], detail["link_id"]);
        // Never the link, nor any long piece of its sealed token.
        let text = records.to_string();
        assert!(!text.contains(&token));
        for piece in token.as_bytes().chunks(16) {
            assert!(
                !text.contains(std::str::from_utf8(piece).unwrap()),
                "a piece of the link is in the audit log"
            );
        }
    }
}
