//! Connect links, disconnect with RFC 7009 revocation, the console's keyset pagination and the
//! pages' refusals, against a broker on 127.0.0.1 (SQLite, and PostgreSQL when configured) and
//! the testkit OAuth server. The browser's view of the same: tests/browser (55-browser suite).

mod common;

use common::{TestBroker, all_dbs, sqlite_db, test_config, testkit_provider};
use nexus_protocol::ConnectionStatus;
use nexus_protocol::connect_link::ConnectLinkRequest;
use nexus_testkit::{OAuthServer, OAuthServerOptions};
use nexus_vault::Caller;
use nexus_vault::connections::links::LinkError;
use nexus_vault::connections::revocation::Revocation;
use nexus_vault::console::{ConsoleFilter, connections_page};
use nexus_vault::store::connections::NewConnection;
use nexus_vault::store::now_ms;
use reqwest::Method;
use serde_json::json;
use std::collections::HashSet;

fn token_of(url: &str) -> String {
    url.split("/connect/l/")
        .nth(1)
        .expect("link token")
        .to_owned()
}

#[tokio::test]
async fn connect_links_open_until_expiry_once_and_never_when_forged() {
    for db in all_dbs().await {
        let b = TestBroker::start(test_config(&db.url)).await;
        b.create_workspace("w1").await;
        let (status, body) = TestBroker::send(
            b.admin(Method::POST, "/admin/v1/workspaces/w1/connect-links")
                .json(&json!({"user_id": "u-42-opaque", "ttl_seconds": 120})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let url = body["url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{}/connect/l/v1.", b.url)),
            "{url}"
        );
        let token = token_of(url);
        // Opaque: the sealed bytes do not carry the claims in clear (and the URL not the user).
        use base64::Engine;
        let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&token[3..])
            .unwrap();
        let contains = |needle: &[u8]| sealed.windows(needle.len()).any(|w| w == needle);
        assert!(!contains(b"u-42-opaque") && !contains(b"\"w1\""), "{url}");
        assert!(!url.contains("u-42-opaque"), "{url}");

        let links = b.broker.vault().connections();
        let now = now_ms();
        let claims = links.open_connect_link(&token, now).unwrap();
        assert_eq!(
            (claims.w.as_str(), claims.u.as_deref()),
            ("w1", Some("u-42-opaque"))
        );
        assert!(claims.e - claims.i == 120_000);
        assert_eq!(
            links.open_connect_link(&token, claims.e),
            Err(LinkError::Expired)
        );
        // One changed character: the seal no longer opens (same answer as garbage).
        let mut forged = token.clone().into_bytes();
        let i = forged.len() - 5;
        forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(
            links.open_connect_link(&forged, now),
            Err(LinkError::Invalid)
        );
        assert_eq!(
            links.open_connect_link("v1.garbage", now),
            Err(LinkError::Invalid)
        );
        assert_eq!(links.open_connect_link("", now), Err(LinkError::Invalid));

        // Single use: the second redeem is refused, on every backend.
        assert!(links.redeem_connect_link(&token, now).await.is_ok());
        assert!(matches!(
            links.redeem_connect_link(&token, now).await,
            Err(nexus_vault::connections::links::RedeemError::Link(
                LinkError::AlreadyUsed
            ))
        ));

        // Another broker (another master key) cannot open this one's links.
        let other = TestBroker::start(test_config(&sqlite_db().url)).await;
        assert_eq!(
            other
                .broker
                .vault()
                .connections()
                .open_connect_link(&token, now),
            Err(LinkError::Invalid)
        );

        for (body, want) in [
            (json!({"ttl_seconds": 10}), 400),
            (json!({"ttl_seconds": 999_999}), 400),
            (json!({"providers": ["nope"]}), 404),
            (json!({"user_id": "a\nb"}), 400),
            (json!({"unknown": 1}), 400),
        ] {
            let (status, answer) = TestBroker::send(
                b.admin(Method::POST, "/admin/v1/workspaces/w1/connect-links")
                    .json(&body),
            )
            .await;
            assert_eq!(status, want, "{body} → {answer}");
        }
        let (status, _) = TestBroker::send(
            b.admin(Method::POST, "/admin/v1/workspaces/missing/connect-links")
                .json(&json!({})),
        )
        .await;
        assert_eq!(status, 404, "{}", db.label);
    }
}

async fn disconnect(
    b: &TestBroker,
    user: Option<&str>,
    id: &str,
) -> Result<nexus_vault::connections::disconnect::Disconnected, nexus_vault::VaultError> {
    let caller = Caller::admin(None);
    b.broker
        .vault()
        .connections()
        .disconnect("w1", user, id, &caller)
        .await
}

#[tokio::test]
async fn disconnect_revokes_the_grant_at_the_provider_when_it_can() {
    let db = sqlite_db();
    let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
    let b = TestBroker::start(test_config(&db.url)).await;
    b.create_workspace("w1").await;
    b.put_provider(testkit_provider(&oauth, "withrevoke")).await;
    let mut without = testkit_provider(&oauth, "norevoke");
    without["enable_discovery"] = json!(false);
    without["manage_url"] = json!("https://accounts.example.com/apps");
    b.put_provider(without).await;

    let (_, refresh) = oauth.issue_tokens_directly(["read"]);
    let id = b.import_refresh_token("w1", "withrevoke", &refresh).await;
    assert!(oauth.introspect(&refresh).active);
    let done = disconnect(&b, None, &id).await.unwrap();
    assert_eq!(done.revocation, Revocation::Revoked);
    assert!(
        !oauth.introspect(&refresh).active,
        "revoked at the provider"
    );
    assert_eq!(oauth.stats().tokens_revoked, 1);
    let row = b
        .broker
        .store()
        .get_connection("w1", &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, ConnectionStatus::Revoked);
    assert!(!row.has_refresh_token(), "secrets dropped");
    // A second disconnect is a clear client error, not a second revocation.
    let again = disconnect(&b, None, &id).await;
    assert!(matches!(
        again,
        Err(nexus_vault::VaultError::InvalidInput(_))
    ));
    assert_eq!(oauth.stats().tokens_revoked, 1);

    let (_, refresh) = oauth.issue_tokens_directly(["read"]);
    let id = b.import_refresh_token("w1", "norevoke", &refresh).await;
    let done = disconnect(&b, None, &id).await.unwrap();
    assert_eq!(done.revocation, Revocation::Unsupported);
    assert_eq!(
        done.manage_url.as_deref(),
        Some("https://accounts.example.com/apps")
    );
    assert!(oauth.introspect(&refresh).active, "nothing was sent");

    // A user may only disconnect their own connection.
    let (_, refresh) = oauth.issue_tokens_directly(["read"]);
    let id = b.import_refresh_token("w1", "withrevoke", &refresh).await;
    let theirs = disconnect(&b, Some("someone-else"), &id).await;
    assert!(matches!(
        theirs,
        Err(nexus_vault::VaultError::NotFound { .. })
    ));
    assert!(oauth.introspect(&refresh).active);
}

#[tokio::test]
async fn console_keyset_walk_returns_each_connection_once_despite_concurrent_inserts() {
    for db in all_dbs().await {
        let b = TestBroker::start(test_config(&db.url)).await;
        b.create_workspace("a").await;
        b.create_workspace("z").await;
        b.put_provider(json!({"name": "k", "auth_type": "api_key"}))
            .await;
        let store = b.broker.store();
        let insert = |ws: &'static str| async move {
            store
                .insert_connection(NewConnection {
                    workspace_id: ws,
                    provider_name: "k",
                    user_id: None,
                    status: ConnectionStatus::Active,
                    scopes: &[],
                    tokens: None,
                    credentials: None,
                    bound_to_mcp_user: false,
                })
                .await
                .unwrap()
                .id
        };
        let mut original = HashSet::new();
        for i in 0..130 {
            let ws = if i % 3 == 0 { "z" } else { "a" };
            let id = insert(ws).await;
            if ws == "a" {
                original.insert(id);
            }
        }
        let filter = ConsoleFilter {
            workspace_id: Some("a".into()),
            ..Default::default()
        };
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = connections_page(store, &filter, cursor.as_deref(), Some(20))
                .await
                .unwrap();
            assert!(page.rows.len() <= 20);
            seen.extend(page.rows.iter().map(|r| r.id.clone()));
            // Rows written during the walk are newer than every cursor: never a duplicate.
            insert("a").await;
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let unique: HashSet<_> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "{}: duplicates", db.label);
        assert!(original.is_subset(&unique), "{}: rows missed", db.label);

        let other = ConsoleFilter {
            workspace_id: Some("z".into()),
            ..Default::default()
        };
        let first = connections_page(store, &filter, None, Some(5))
            .await
            .unwrap();
        let refused = connections_page(store, &other, first.next_cursor.as_deref(), Some(5)).await;
        assert!(matches!(
            refused,
            Err(nexus_vault::VaultError::InvalidInput(_))
        ));
        assert!(
            connections_page(store, &filter, Some("%%%"), None)
                .await
                .is_err()
        );
        assert!(
            connections_page(store, &filter, None, Some(201))
                .await
                .is_err()
        );
    }
}

#[tokio::test]
async fn pages_refuse_client_mistakes_with_4xx_and_carry_the_security_headers() {
    let db = sqlite_db();
    let b = TestBroker::start(test_config(&db.url)).await;
    b.create_workspace("w1").await;
    let links = b.broker.vault().connections();
    let link = links
        .issue_connect_link(
            "w1",
            &ConnectLinkRequest::default(),
            now_ms(),
            &nexus_vault::caller::Caller::admin(None),
        )
        .await
        .unwrap();
    let token = token_of(&link.url);

    let page = b.http.get(&link.url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"));
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "no inline script or style"
    );

    // Redeem without any same-origin evidence: refused, and the link is still unused.
    let refused = b
        .http
        .post(format!("{}/connect/redeem", b.url))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let redeemed = b
        .http
        .post(format!("{}/connect/redeem", b.url))
        .header("origin", &b.url)
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(redeemed.status(), 303);
    let cookie = redeemed.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    let oversized = b
        .http
        .post(format!("{}/connect/redeem", b.url))
        .header("origin", &b.url)
        .form(&[("token", "x".repeat(70 * 1024))])
        .send()
        .await
        .unwrap();
    assert_eq!(oversized.status(), 413);

    for (path, want) in [
        ("/connect", 401),
        ("/connect/l/nope", 400),
        ("/static/nexus.0.css", 404),
        ("/console/connections", 401),
    ] {
        let res = b.http.get(format!("{}{path}", b.url)).send().await.unwrap();
        assert_eq!(res.status(), want, "{path}");
        assert!(
            res.headers().contains_key("content-security-policy"),
            "{path}"
        );
    }
    let wrong_token = b
        .http
        .post(format!("{}/console/login/token", b.url))
        .header("origin", &b.url)
        .form(&[("admin_token", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_token.status(), 401);
    let signed_in = b
        .http
        .post(format!("{}/console/login/token", b.url))
        .header("origin", &b.url)
        .form(&[("admin_token", common::ADMIN_TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
}

/// A connect page is a link the workspace key hands out for a user id of its choosing: a
/// connection bound to an MCP user (made through their connect ticket) is not on it, cannot be
/// reconnected (to another account) or disconnected from it; a workspace connection with a
/// user id is, as before.
#[tokio::test]
async fn connect_pages_do_not_reach_connections_bound_to_an_mcp_user() {
    use nexus_vault::connections::page::PageScope;
    for db in all_dbs().await {
        let b = TestBroker::start(test_config(&db.url)).await;
        b.create_workspace("w1").await;
        b.put_provider(json!({"name": "k", "auth_type": "api_key"}))
            .await;
        let store = b.broker.store();
        let insert = |user: &'static str, bound: bool| async move {
            store
                .insert_connection(NewConnection {
                    workspace_id: "w1",
                    provider_name: "k",
                    user_id: Some(user),
                    status: ConnectionStatus::Active,
                    scopes: &[],
                    tokens: None,
                    credentials: None,
                    bound_to_mcp_user: bound,
                })
                .await
                .unwrap()
                .id
        };
        let bob = insert("usr_bob", true).await;
        let carol = insert("u-carol", false).await;
        let connections = b.broker.vault().connections();
        let scope = |user: &'static str| PageScope {
            workspace_id: "w1",
            user_id: Some(user),
            providers: &[],
        };
        let card_of = |cards: Vec<nexus_vault::connections::page::ProviderCard>| {
            cards
                .into_iter()
                .find(|c| c.name == "k")
                .and_then(|c| c.connection)
                .map(|c| c.id)
        };

        let cards = connections.page_cards(&scope("usr_bob")).await.unwrap();
        assert_eq!(card_of(cards), None, "{}", db.label);
        assert!(matches!(
            connections.page_connection(&scope("usr_bob"), &bob).await,
            Err(nexus_vault::VaultError::NotFound { .. })
        ));
        assert!(matches!(
            disconnect(&b, Some("usr_bob"), &bob).await,
            Err(nexus_vault::VaultError::NotFound { .. })
        ));
        let row = store.get_connection("w1", &bob).await.unwrap().unwrap();
        assert_eq!(row.status, ConnectionStatus::Active, "{}", db.label);

        let cards = connections.page_cards(&scope("u-carol")).await.unwrap();
        assert_eq!(card_of(cards).as_deref(), Some(carol.as_str()));
        assert!(
            connections
                .page_connection(&scope("u-carol"), &carol)
                .await
                .is_ok()
        );
    }
}
