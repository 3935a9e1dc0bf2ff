//! A stolen authorization code replayed at the token endpoint, over real HTTP (RFC 6749 §4.1.2).
//! After the legitimate exchange, the replay revokes its grant and is audited; raced against
//! the exchange on a real PostgreSQL (the replay arrives after the legitimate request spent the
//! code but before it stored its grant), both answers are `invalid_grant` and no grant exists.
//!
//! The race's interleaving is made deterministic with a table lock: the test holds `SHARE` on
//! `oauth_token_families`, so the legitimate request stops at its family `INSERT` (after the
//! spend and every check); the test waits until PostgreSQL reports that request waiting on the
//! lock, sends the replay, then releases the lock. PostgreSQL only: SQLite's single write lock
//! would hold the replay back too.

mod as_common;
mod common;

use as_common::*;
use common::{TestBroker, all_dbs, fresh_pg_url, pg_server_url};
use sqlx::Row;

/// Until a request of the broker waits for a lock on its family `INSERT`.
async fn family_insert_waits(pool: &sqlx::AnyPool) {
    for _ in 0..3000 {
        let waiting: i64 = sqlx::query(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO oauth_token_families%'",
        )
        .fetch_one(pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the legitimate exchange never reached its family INSERT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_replayed_during_its_exchange_issues_nothing() {
    let Some(server) = pg_server_url() else {
        return;
    };
    let url = fresh_pg_url(&server).await;
    let broker = as_broker(&url).await;
    let docs = DocServer::start().await;
    let redirect_uri = "http://127.0.0.1:33333/callback";
    let client_id = docs.client("client.json", redirect_uri);
    let (verifier, challenge) = pkce();
    let query = authorize_query(&client_id, redirect_uri, &challenge);
    let (location, _) = authorize_as(&broker, &query, "alice").await;
    let code = query_of(&location)["code"].clone();
    let form = |verifier: &str| {
        [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
            ("client_id", client_id.as_str()),
            ("resource", RESOURCE),
        ]
        .map(|(k, v)| (k, v.to_owned()))
    };
    let legit_form = form(&verifier);
    let legit_pairs: Vec<(&str, &str)> = legit_form.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let pool = common::raw_pool(&url).await;
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE oauth_token_families IN SHARE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();

    let legit = token(&broker, &legit_pairs);
    tokio::pin!(legit);
    tokio::select! {
        answer = &mut legit => panic!("the exchange finished past the lock: {answer:?}"),
        () = family_insert_waits(&pool) => {}
    }
    // The thief has the code but not the verifier: the replay is recognised before PKCE.
    let thief_form = form(&pkce().0);
    let thief_pairs: Vec<(&str, &str)> = thief_form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = token(&broker, &thief_pairs).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    lock.rollback().await.unwrap();

    let (status, body) = legit.await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "no tokens from a replayed code"
    );
    assert!(body.get("access_token").is_none(), "{body}");
    for (sql, want) in [
        ("SELECT COUNT(*) FROM oauth_token_families", 0),
        ("SELECT COUNT(*) FROM oauth_refresh_tokens", 0),
        (
            "SELECT COUNT(*) FROM oauth_authorization_codes WHERE replayed_at IS NOT NULL AND family_id IS NULL",
            1,
        ),
    ] {
        let n: i64 = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert_eq!(n, want, "{sql}");
    }
}

#[tokio::test]
async fn a_code_replayed_after_its_exchange_revokes_the_grant_and_is_audited() {
    for db in all_dbs().await {
        let l = db.label;
        let broker = as_broker(&db.url).await;
        let docs = DocServer::start().await;
        let redirect_uri = "http://127.0.0.1:33333/callback";
        let client_id = docs.client("client.json", redirect_uri);
        let (verifier, challenge) = pkce();
        let query = authorize_query(&client_id, redirect_uri, &challenge);
        let (location, _) = authorize_as(&broker, &query, "alice").await;
        let code = query_of(&location)["code"].clone();
        let exchange = |verifier: String| {
            let (broker, code, client_id) = (&broker, code.clone(), client_id.clone());
            async move {
                token(
                    broker,
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", redirect_uri),
                        ("code_verifier", &verifier),
                        ("client_id", &client_id),
                        ("resource", RESOURCE),
                    ],
                )
                .await
            }
        };
        let (status, tokens) = exchange(verifier).await;
        assert_eq!(status, 200, "{l}");
        let (status, body) = exchange(pkce().0).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{l}: {body}"
        );
        let refresh = tokens["refresh_token"].as_str().unwrap();
        let (status, body) = token(
            &broker,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("client_id", &client_id),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{l}: the grant is revoked: {body}"
        );
        let pool = common::raw_pool(&db.url).await;
        let reason: Option<String> =
            sqlx::query_scalar("SELECT revoked_reason FROM oauth_token_families")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(reason.as_deref(), Some("code_reuse"), "{l}");
        let (status, records) = TestBroker::send(broker.admin(
            reqwest::Method::GET,
            &format!("/admin/v1/audit?workspace_id={WS}"),
        ))
        .await;
        assert_eq!(status, 200, "{records}");
        let text = records.to_string();
        assert!(text.contains("oauth.code_reuse"), "{l}: {text}");
        assert!(!text.contains(&code), "{l}: no code in the audit log");
    }
}
