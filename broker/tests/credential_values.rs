//! Issue 14 item 10: a credential with a control character (CR, LF, NUL, another C0, DEL) is
//! refused at the door — the admin import API and the browser form — with a 400
//! `invalid_request` that does not echo the value, on both databases.

mod common;

use common::{TestBroker, all_dbs, test_config};
use reqwest::Method;
use serde_json::json;

/// Values that would break a header in every SDK; each carries a marker that must never come
/// back in an answer.
const BAD: [&str; 6] = [
    "sk_MARKER\r\nX-Injected: 1",
    "sk_MARKER\nnext",
    "sk_MARKER\0tail",
    "sk_MARKER\u{1b}[2J",
    "sk_MARKER\u{7f}",
    "sk_MARKER\tTab",
];

#[tokio::test]
async fn control_characters_are_refused_by_import_and_form() {
    for db in all_dbs().await {
        let b = TestBroker::start(test_config(&db.url)).await;
        b.create_workspace("w1").await;
        b.put_provider(json!({"name": "static-api", "auth_type": "api_key",
            "strategy": {"type": "header", "config": {"header_name": "X-Api-Key"}}}))
            .await;
        b.put_provider(json!({"name": "jira", "auth_type": "basic_auth"}))
            .await;

        for bad in BAD {
            for body in [
                json!({"provider_name": "static-api", "kind": "api_key", "secret": bad}),
                json!({"provider_name": "jira", "kind": "credentials",
                    "secret": {"username": "u", "password": bad}}),
            ] {
                let (status, answer) = TestBroker::send(
                    b.admin(Method::POST, "/admin/v1/workspaces/w1/connections/import")
                        .json(&body),
                )
                .await;
                assert_eq!(status, 400, "{}: {bad:?} {answer}", db.label);
                assert_eq!(answer["error"], "invalid_request", "{answer}");
                assert!(
                    answer["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("control character")),
                    "{answer}"
                );
                assert!(!answer.to_string().contains("MARKER"), "{answer}");
            }
        }
        // Nothing was stored; a clean value still imports.
        let (status, listed) =
            TestBroker::send(b.admin(Method::GET, "/admin/v1/workspaces/w1/connections")).await;
        assert_eq!(status, 200, "{listed}");
        assert_eq!(listed.as_array().map(Vec::len), Some(0), "{listed}");
        let (status, answer) = TestBroker::send(
            b.admin(Method::POST, "/admin/v1/workspaces/w1/connections/import")
                .json(
                    &json!({"provider_name": "static-api", "kind": "api_key", "secret": "sk_ok"}),
                ),
        )
        .await;
        assert_eq!(status, 201, "{answer}");

        // The browser form: refused with a 400 page that does not echo the value, and the
        // one-time link still works for a corrected submission.
        let (status, started) = TestBroker::send(
            b.admin(Method::POST, "/admin/v1/workspaces/w1/connect")
                .json(&json!({"provider_name": "jira", "return_url": "https://app.example/done"})),
        )
        .await;
        assert_eq!(status, 200, "{started}");
        let form_url = started["authUrl"].as_str().unwrap().to_owned();
        for bad in BAD {
            let refused = b
                .http
                .post(&form_url)
                .form(&[("username", "u"), ("password", bad)])
                .send()
                .await
                .unwrap();
            assert_eq!(refused.status(), 400, "{}: {bad:?}", db.label);
            let page = refused.text().await.unwrap();
            assert!(page.contains("control character"), "{page}");
            assert!(!page.contains("MARKER"), "{page}");
        }
        let done = b
            .http
            .post(&form_url)
            .form(&[("username", "u"), ("password", "p")])
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), 303, "{}", db.label);
    }
}
