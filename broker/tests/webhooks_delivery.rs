//! Webhooks end to end: real refreshes against the testkit OAuth server, the broker's own
//! dispatcher, and a loopback receiver that verifies every signature with its own HMAC code.
//! SQLite always, PostgreSQL when `NEXUS_TEST_DATABASE_URL` is set. Waits are conditions on
//! what the receiver or the database saw, with deadlines; retries run on a short schedule.

mod common;

use common::webhooks::{DEADLINE, add_endpoint, drained, poll_count, webhook_config};
use common::{TestBroker, all_dbs, testkit_provider};
use nexus_testkit::{Failure, OAuthServer, OAuthServerOptions, ReceiverLog, WebhookReceiver};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;

fn of_type<'a>(log: &'a ReceiverLog, kind: &str) -> Vec<&'a nexus_testkit::Received> {
    log.accepted()
        .into_iter()
        .filter(|r| r.event_type == kind)
        .collect()
}

#[tokio::test]
async fn refresh_failure_and_recovery_are_each_delivered_once() {
    for db in all_dbs().await {
        let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
        let b = TestBroker::start(webhook_config(&db.url)).await;
        let receiver = WebhookReceiver::start().await;
        add_endpoint(&b, &receiver, json!([])).await;
        b.create_workspace("w1").await;
        b.put_provider(testkit_provider(&oauth, "testprov")).await;
        let (_, refresh) = oauth.issue_tokens_directly(["read"]);
        let id = b.import_refresh_token("w1", "testprov", &refresh).await;

        // Two failed resolves (each exhausts the provider retries): one outage, one event.
        for _ in 0..2 {
            oauth.inject_failures((0..4).map(|_| Failure::ServerError(503)));
            let (status, e) = b.resolve("w1", "testprov", json!({})).await;
            assert_eq!(status, 502, "{}: {e}", db.label);
        }
        let (status, r) = b.resolve("w1", "testprov", json!({})).await;
        assert_eq!(status, 200, "{}: {r}", db.label);
        // A healthy refresh afterwards is not another recovery.
        let (status, _) = b
            .resolve("w1", "testprov", json!({"force_refresh": true}))
            .await;
        assert_eq!(status, 200);

        receiver
            .wait_until(DEADLINE, |l| !of_type(l, "connection.recovered").is_empty())
            .await
            .unwrap_or_else(|l| panic!("{}: no recovery delivered: {l:?}", db.label));
        drained(&db.url).await;
        let log_now = receiver.log();
        let kinds: Vec<(&str, i64)> = log_now
            .accepted()
            .iter()
            .map(|r| (r.event_type.as_str(), r.sequence))
            .collect();
        assert_eq!(
            kinds,
            [
                ("connection.created", 1),
                ("connection.refresh_failed", 2),
                ("connection.recovered", 3)
            ],
            "{}",
            db.label
        );
        let failed: Value =
            serde_json::from_str(&of_type(&log_now, "connection.refresh_failed")[0].body).unwrap();
        assert_eq!(failed["data"]["connection_id"], json!(id));
        assert_eq!(failed["data"]["health"], "failing");
        assert_eq!(failed["data"]["error"]["code"], "upstream_unavailable");
        assert_eq!(log_now.rejected, 0);
        let body = &log_now.received[0].body;
        assert!(!body.contains(&refresh) && !body.contains(&oauth.client_secret()));
    }
}

#[tokio::test]
async fn a_rejected_grant_sends_needs_reauth_once() {
    for db in all_dbs().await {
        let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
        let b = TestBroker::start(webhook_config(&db.url)).await;
        let receiver = WebhookReceiver::start().await;
        // Subscribed to one type only: the others are not sent.
        add_endpoint(&b, &receiver, json!(["connection.needs_reauth"])).await;
        b.create_workspace("w1").await;
        b.put_provider(testkit_provider(&oauth, "testprov")).await;
        let (_, refresh) = oauth.issue_tokens_directly(["read"]);
        b.import_refresh_token("w1", "testprov", &refresh).await;
        oauth.inject_failure(Failure::InvalidGrant);
        let (status, e) = b.resolve("w1", "testprov", json!({})).await;
        assert_eq!(status, 409, "{}: {e}", db.label);
        let (_, e2) = b.resolve("w1", "testprov", json!({})).await;
        assert_eq!(e2["error"], e["error"]);
        let log = receiver
            .wait_until(DEADLINE, |l| !l.accepted().is_empty())
            .await
            .unwrap_or_else(|l| panic!("{}: {l:?}", db.label));
        assert_eq!(log.accepted()[0].event_type, "connection.needs_reauth");
        drained(&db.url).await;
        let all = receiver.log();
        assert_eq!(all.accepted().len(), 1, "{}: {all:?}", db.label);
        let event: Value = serde_json::from_str(&all.received[0].body).unwrap();
        assert_eq!(event["data"]["sequence"], 2, "created was sequence 1");
        assert_eq!(event["data"]["error"]["code"], "reauth_required");
    }
}

#[tokio::test]
async fn a_receiver_that_was_down_gets_everything_in_order_after_retries() {
    for db in all_dbs().await {
        let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
        let b = TestBroker::start(webhook_config(&db.url)).await;
        let receiver = WebhookReceiver::start().await;
        add_endpoint(&b, &receiver, json!([])).await;
        receiver.down();
        b.create_workspace("w1").await;
        b.put_provider(testkit_provider(&oauth, "testprov")).await;
        // Three connections, each created then revoked: 6 events in 3 chains.
        let mut ids = vec![];
        for _ in 0..3 {
            let (_, refresh) = oauth.issue_tokens_directly(["read"]);
            ids.push(b.import_refresh_token("w1", "testprov", &refresh).await);
        }
        for id in &ids {
            let (status, _) = TestBroker::send(b.admin(
                Method::DELETE,
                &format!("/admin/v1/workspaces/w1/connections/{id}"),
            ))
            .await;
            assert_eq!(status, 204);
        }
        // Wait until the three chain heads have each been refused at least twice.
        poll_count(
            &db.url,
            "SELECT COUNT(*) FROM webhook_deliveries WHERE attempts >= 2 AND state <> 'delivered'",
            |n| n >= 3,
        )
        .await;
        receiver.up().await;
        let log = receiver
            .wait_until(DEADLINE, |l| l.accepted().len() >= 6)
            .await
            .unwrap_or_else(|l| panic!("{}: {l:?}", db.label));
        let mut per_connection: HashMap<&str, Vec<(i64, &str)>> = HashMap::new();
        for r in log.accepted() {
            per_connection
                .entry(&r.connection_id)
                .or_default()
                .push((r.sequence, &r.event_type));
        }
        for id in &ids {
            assert_eq!(
                per_connection[id.as_str()],
                [(1, "connection.created"), (2, "connection.revoked")],
                "{}: order of {id}",
                db.label
            );
        }
        assert_eq!(log.rejected, 0);
    }
}

#[tokio::test]
async fn two_brokers_on_one_postgres_deliver_each_event_once() {
    let Some(server) = common::pg_server_url() else {
        return;
    };
    let url = common::fresh_pg_url(&server).await;
    let config = webhook_config(&url);
    let a = TestBroker::start(config.clone()).await;
    let b = TestBroker::start(config).await;
    let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
    let receiver = WebhookReceiver::start().await;
    add_endpoint(&a, &receiver, json!([])).await;
    a.create_workspace("w1").await;
    a.put_provider(testkit_provider(&oauth, "testprov")).await;
    const CONNECTIONS: usize = 20;
    let mut ids = vec![];
    for i in 0..CONNECTIONS {
        let (_, refresh) = oauth.issue_tokens_directly(["read"]);
        // Half the changes go through each broker.
        let via = if i % 2 == 0 { &a } else { &b };
        ids.push(via.import_refresh_token("w1", "testprov", &refresh).await);
    }
    for (i, id) in ids.iter().enumerate() {
        let via = if i % 2 == 0 { &b } else { &a };
        let (status, _) = TestBroker::send(via.admin(
            Method::DELETE,
            &format!("/admin/v1/workspaces/w1/connections/{id}"),
        ))
        .await;
        assert_eq!(status, 204);
    }
    let total = CONNECTIONS * 2;
    receiver
        .wait_until(DEADLINE, |l| l.accepted().len() >= total)
        .await
        .unwrap_or_else(|l| panic!("{l:?}"));
    drained(&url).await;
    let log = receiver.log();
    let mut seen = std::collections::HashSet::new();
    for r in log.accepted() {
        assert!(
            seen.insert(r.webhook_id.clone()),
            "duplicate {}",
            r.webhook_id
        );
    }
    assert_eq!(seen.len(), total);
    // Per connection: created before revoked.
    for id in &ids {
        let seqs: Vec<i64> = log
            .accepted()
            .iter()
            .filter(|r| &r.connection_id == id)
            .map(|r| r.sequence)
            .collect();
        assert_eq!(seqs, [1, 2], "{id}");
    }
}
