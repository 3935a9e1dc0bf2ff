//! The console's health columns over HTTP: health and its failure count, the typed last error
//! (never a token), who resolved a connection in the last 7 days (recorded at most once a
//! minute per principal), keep-alive, and the health filter. SQLite always, PostgreSQL when
//! configured; real refreshes against the testkit OAuth server.

mod common;

use common::{
    ADMIN_TOKEN, TestBroker, all_dbs, raw_pool, test_config, testkit_provider, usage_rows,
};
use nexus_testkit::{Failure, OAuthServer, OAuthServerOptions};
use serde_json::json;

/// Sign in to the console with the admin token; the session cookie.
async fn console_cookie(b: &TestBroker) -> String {
    let res = b
        .http
        .post(format!("{}/console/login/token", b.url))
        .header("origin", &b.url)
        .form(&[("admin_token", ADMIN_TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let set = res.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

async fn console(b: &TestBroker, cookie: &str, query: &str) -> (u16, String) {
    let res = b
        .http
        .get(format!("{}/console/connections?{query}", b.url))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// The text of cell `col` in the row of connection `id` (panics when the row is not shown).
fn cell(html: &str, id: &str, col: &str) -> String {
    let row_at = html
        .find(&format!("<tr data-id=\"{id}\">"))
        .unwrap_or_else(|| panic!("row {id} not on the page"));
    let row = &html[row_at..row_at + html[row_at..].find("</tr>").unwrap()];
    let open = format!("data-col=\"{col}\"");
    let at = row.find(&open).expect("column") + open.len();
    let start = at + row[at..].find('>').unwrap() + 1;
    row[start..start + row[start..].find("</td>").unwrap()].to_owned()
}

#[tokio::test]
async fn the_console_shows_health_typed_errors_and_who_used_each_connection() {
    for db in all_dbs().await {
        let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
        let mut config = test_config(&db.url);
        config.keep_alive = false;
        let b = TestBroker::start(config).await;
        b.create_workspace("w1").await;
        b.create_workspace("w2").await;
        b.put_provider(testkit_provider(&oauth, "testprov")).await;
        let (_, healthy_refresh) = oauth.issue_tokens_directly(["read"]);
        let healthy = b
            .import_refresh_token("w1", "testprov", &healthy_refresh)
            .await;
        let (_, failing_refresh) = oauth.issue_tokens_directly(["read"]);
        let failing = b
            .import_refresh_token("w2", "testprov", &failing_refresh)
            .await;

        // Two resolves by one API key: one usage row, written once within the minute.
        for _ in 0..2 {
            let (status, body) = b.resolve("w1", "testprov", json!({})).await;
            assert_eq!(status, 200, "{body}");
        }
        let pool = raw_pool(&db.url).await;
        let usage = usage_rows(&pool, &healthy, 1).await;
        assert_eq!(usage.len(), 1, "{}: {usage:?}", db.label);
        assert_eq!(usage[0].0, "api_key:k1");

        // The provider is down for every attempt of the other one's first refresh.
        oauth.inject_failures((0..4).map(|_| Failure::ServerError(503)));
        let (status, _) = b.resolve("w2", "testprov", json!({})).await;
        assert_eq!(status, 502, "{}", db.label);

        let cookie = console_cookie(&b).await;
        let (status, html) = console(&b, &cookie, "").await;
        assert_eq!(status, 200, "{html}");
        assert_eq!(cell(&html, &healthy, "health"), "ok");
        assert_eq!(cell(&html, &healthy, "used-by"), "api_key:k1");
        assert_eq!(cell(&html, &healthy, "last-error"), "—");
        assert_eq!(cell(&html, &failing, "health"), "failing (1 in a row)");
        assert_eq!(
            cell(&html, &failing, "used-by"),
            "—",
            "a failed resolve is no use"
        );
        let error = cell(&html, &failing, "last-error");
        assert!(error.starts_with("upstream_unavailable"), "{error}");
        assert_eq!(cell(&html, &failing, "keep-alive"), "—");
        for secret in [&healthy_refresh, &failing_refresh] {
            assert!(!html.contains(secret.as_str()), "a token on the console");
        }

        // The health filter, and its refusal of a value that is not a health.
        let (status, html) = console(&b, &cookie, "health=failing").await;
        assert_eq!(status, 200);
        assert!(html.contains(&failing) && !html.contains(&healthy));
        let (status, html) = console(&b, &cookie, "health=ok&workspace=w1").await;
        assert_eq!(status, 200);
        assert!(html.contains(&healthy) && !html.contains(&failing));
        let (status, _) = console(&b, &cookie, "health=%3Cb%3Ebad").await;
        assert_eq!(status, 400, "{}", db.label);
    }
}
