//! Keyset pagination of the admin connection listing (issue 20) on both databases: a full walk
//! by `limit`/`after`, with connections inserted between every two pages — some by a broker
//! whose clock is behind, so they sort before pages already read (which shifts an OFFSET-based
//! walk into reading rows twice) — returns each connection that existed before the walk exactly
//! once and never one twice; bad cursors and limits are refused with 400.

mod common;

use common::{TestBroker, all_dbs, raw_pool, test_config};
use nexus_protocol::SecretString;
use nexus_vault::store::bulk::BulkConnection;
use nexus_vault::store::connections::TokenSet;
use reqwest::Method;
use serde_json::json;
use std::collections::{HashMap, HashSet};

const ORIGINAL: usize = 250;
const PAGE: usize = 40;
const INSERTED_PER_PAGE: usize = 7;

async fn insert(b: &TestBroker, n: usize) -> Vec<String> {
    let tokens = TokenSet {
        access_token: Some(SecretString::new("a".to_owned())),
        ..Default::default()
    };
    let scopes = vec!["read".to_owned()];
    let rows: Vec<_> = (0..n)
        .map(|_| BulkConnection {
            workspace_id: "acme",
            provider_name: "p",
            user_id: None,
            scopes: &scopes,
            tokens: &tokens,
        })
        .collect();
    b.broker
        .store()
        .insert_connections_bulk(&rows)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_walk_with_concurrent_inserts_returns_each_original_connection_once() {
    for db in all_dbs().await {
        let b = TestBroker::start(test_config(&db.url)).await;
        b.create_workspace("acme").await;
        b.put_provider(json!({"name": "p", "auth_type": "oauth2", "client_id": "c",
            "auth_url": "https://p.example/authorize", "token_url": "https://p.example/token"}))
            .await;
        let original: HashSet<String> = insert(&b, ORIGINAL).await.into_iter().collect();
        let raw = raw_pool(&db.url).await;

        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut path = format!("/admin/v1/workspaces/acme/connections?limit={PAGE}");
            if let Some(cursor) = &after {
                path.push_str(&format!("&after={cursor}"));
            }
            let resp = b.admin(Method::GET, &path).send().await.unwrap();
            assert_eq!(resp.status(), 200, "{}", db.label);
            let next = resp
                .headers()
                .get("nexus-next-cursor")
                .map(|v| v.to_str().unwrap().to_owned());
            let page: Vec<serde_json::Value> = resp.json().await.unwrap();
            assert!(page.len() <= PAGE);
            for c in &page {
                *seen
                    .entry(c["id"].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
            pages += 1;
            assert!(pages < 100, "{}: the walk does not end", db.label);
            // Other writers keep adding connections while the operator pages through.
            let inserted = insert(&b, INSERTED_PER_PAGE).await;
            for id in inserted.iter().take(3) {
                sqlx::query("UPDATE connections SET created_at = 0 WHERE id = $1")
                    .bind(id)
                    .execute(&raw)
                    .await
                    .unwrap();
            }
            match next {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
        for id in &original {
            assert_eq!(seen.get(id), Some(&1), "{}: {id} seen once", db.label);
        }
        assert!(
            seen.values().all(|n| *n == 1),
            "{}: nothing twice",
            db.label
        );

        // Without `limit`, the whole listing as before.
        let (status, all) =
            TestBroker::send(b.admin(Method::GET, "/admin/v1/workspaces/acme/connections")).await;
        assert_eq!(status, 200);
        assert_eq!(
            all.as_array().unwrap().len(),
            ORIGINAL + pages * INSERTED_PER_PAGE
        );

        for bad in [
            "limit=0",
            "limit=1001",
            "limit=ten",
            "limit=5&after=nope",
            "limit=5&after=x.1",
        ] {
            let (status, body) = TestBroker::send(b.admin(
                Method::GET,
                &format!("/admin/v1/workspaces/acme/connections?{bad}"),
            ))
            .await;
            assert_eq!(status, 400, "{}: {bad}: {body}", db.label);
        }
    }
}
