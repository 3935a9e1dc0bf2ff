//! `connection.created` for connections made on the connect page: a static credential form, an
//! OAuth flow, and an OAuth flow whose first authorization was refused and that is completed
//! through Reconnect. Driven over HTTP the way a browser does it (link → session cookie →
//! CSRF token from the page → form posts → provider → callback), heard by a loopback receiver
//! that verifies every signature. SQLite always, PostgreSQL when configured.

mod common;

use common::webhooks::{DEADLINE, add_endpoint, webhook_config};
use common::{TestBroker, all_dbs, testkit_provider};
use nexus_protocol::ConnectionStatus;
use nexus_protocol::connect_link::ConnectLinkRequest;
use nexus_testkit::{AuthorizeMode, OAuthServer, OAuthServerOptions, WebhookReceiver};
use nexus_vault::store::now_ms;
use serde_json::json;

/// A browser with one connect-page session.
struct PageBrowser<'a> {
    b: &'a TestBroker,
    cookie: String,
}

impl<'a> PageBrowser<'a> {
    /// Open a link for `(ws, user)` and continue on its interstitial.
    async fn open(b: &'a TestBroker, ws: &str, user: &str) -> Self {
        let link = b
            .broker
            .vault()
            .connections()
            .issue_connect_link(
                ws,
                &ConnectLinkRequest {
                    user_id: Some(user.into()),
                    ..Default::default()
                },
                now_ms(),
                &nexus_vault::caller::Caller::admin(None),
            )
            .await
            .unwrap();
        let token = link.url.split("/connect/l/").nth(1).unwrap().to_owned();
        let redeemed = b
            .http
            .post(format!("{}/connect/redeem", b.url))
            .header("origin", &b.url)
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(redeemed.status(), 303);
        let set = redeemed.headers()["set-cookie"].to_str().unwrap();
        let cookie = set.split(';').next().unwrap().to_owned();
        Self { b, cookie }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let res = self
            .b
            .http
            .get(format!("{}{path}", self.b.url))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    /// The session's CSRF token (every form of a session carries the same one; the credential
    /// form is always there, whatever is connected).
    async fn csrf(&self) -> String {
        let (status, html) = self.get("/connect/static/keyapi").await;
        assert_eq!(status, 200, "{html}");
        let at = html.find("name=\"_csrf\" value=\"").expect("a form") + 20;
        html[at..at + html[at..].find('"').unwrap()].to_owned()
    }

    /// Post a form of the page; the `Location` it answers with.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> String {
        let csrf = self.csrf().await;
        let mut form = vec![("_csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        let res = self
            .b
            .http
            .post(format!("{}{path}", self.b.url))
            .header("origin", &self.b.url)
            .header("cookie", &self.cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "{path}: {}", res.text().await.unwrap());
        res.headers()["location"].to_str().unwrap().to_owned()
    }

    /// Start OAuth with a page button, pass the provider, return where the callback lands.
    async fn through_provider(&self, path: &str) -> String {
        let at_provider = self.post(path, &[]).await;
        let callback = self.b.http.get(&at_provider).send().await.unwrap();
        assert!(callback.status().is_redirection());
        let callback = callback.headers()["location"].to_str().unwrap().to_owned();
        let landed = self.b.http.get(&callback).send().await.unwrap();
        assert!(landed.status().is_redirection(), "{}", landed.status());
        landed.headers()["location"].to_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn connections_made_on_the_connect_page_announce_themselves_once() {
    for db in all_dbs().await {
        let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
        let b = TestBroker::start(webhook_config(&db.url)).await;
        let receiver = WebhookReceiver::start().await;
        add_endpoint(&b, &receiver, json!([])).await;
        b.create_workspace("w1").await;
        b.put_provider(testkit_provider(&oauth, "testprov")).await;
        b.put_provider(json!({"name": "keyapi", "auth_type": "api_key"}))
            .await;
        let page = PageBrowser::open(&b, "w1", "u1").await;

        // 1. A static credential through the form.
        let saved = page
            .post("/connect/static/keyapi", &[("api_key", "k-123456")])
            .await;
        assert!(saved.contains("result=saved"), "{saved}");
        // Saving it again updates the same connection: not a second `created`.
        page.post("/connect/static/keyapi", &[("api_key", "k-654321")])
            .await;

        // 2. An OAuth connection through the page.
        let landed = page.through_provider("/connect/oauth/testprov").await;
        assert!(landed.contains("status=success"), "{landed}");

        // 3. Another person refuses the first authorization, then completes it with Reconnect.
        let other = PageBrowser::open(&b, "w1", "u2").await;
        oauth.set_authorize_mode(AuthorizeMode::Deny);
        let landed = other.through_provider("/connect/oauth/testprov").await;
        assert!(landed.contains("error=access_denied"), "{landed}");
        let failed = b
            .broker
            .store()
            .connections_of_user("w1", Some("u2"))
            .await
            .unwrap()
            .pop()
            .expect("the refused flow left a connection");
        assert_eq!(failed.status, ConnectionStatus::Failed);
        let (_, html) = other.get("/connect").await;
        assert!(html.contains(&format!("/connect/reconnect/{}", failed.id)));
        oauth.set_authorize_mode(AuthorizeMode::Approve);
        let landed = other
            .through_provider(&format!("/connect/reconnect/{}", failed.id))
            .await;
        assert!(landed.contains("status=success"), "{landed}");

        let mut rows = vec![];
        for user in ["u1", "u2"] {
            rows.extend(
                b.broker
                    .store()
                    .connections_of_user("w1", Some(user))
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(rows.len(), 3, "{}", db.label);
        assert!(rows.iter().all(|r| r.status == ConnectionStatus::Active));
        let log = receiver
            .wait_until(DEADLINE, |l| l.accepted().len() >= 3)
            .await
            .unwrap_or_else(|l| panic!("{}: {l:?}", db.label));
        let mut created: Vec<(String, i64)> = log
            .accepted()
            .iter()
            .map(|r| {
                assert_eq!(r.event_type, "connection.created", "{}", r.body);
                (r.connection_id.clone(), r.sequence)
            })
            .collect();
        created.sort();
        let mut want: Vec<(String, i64)> = rows.iter().map(|r| (r.id.clone(), 1)).collect();
        want.sort();
        assert_eq!(created, want, "{}: one created per connection", db.label);
        common::webhooks::drained(&db.url).await;
        assert_eq!(receiver.log().accepted().len(), 3, "{}", db.label);
    }
}
