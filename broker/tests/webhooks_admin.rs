//! The webhook admin API and the edges of delivery: signatures checked by two independent
//! implementations (the testkit's HMAC and `openssl`), tampering, secret rotation with an
//! overlap, secrets never listed or stored in plaintext, dead letters and redelivery, 410,
//! the maximum age (driven by a controllable clock), and bad input.

mod common;

use common::{TestBroker, raw_pool, sqlite_db, test_config, testkit_provider};
use nexus_testkit::{OAuthServer, OAuthServerOptions, ReceiverMode, WebhookReceiver};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(20);

fn config(db_url: &str) -> nexus_broker::BrokerConfig {
    let mut config = test_config(db_url);
    config.webhooks.allow_loopback = true;
    config.webhooks.poll = Duration::from_millis(50);
    config.webhooks.backoff = vec![Duration::from_millis(50)];
    config.webhooks.timeout = Duration::from_secs(2);
    config
}

/// A broker with a workspace, the testkit provider and a receiver registered for all events.
async fn setup(
    config: nexus_broker::BrokerConfig,
) -> (TestBroker, OAuthServer, WebhookReceiver, String, String) {
    let b = TestBroker::start(config).await;
    let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
    let receiver = WebhookReceiver::start().await;
    let (status, created) = TestBroker::send(
        b.admin(Method::POST, "/admin/v1/webhooks")
            .json(&json!({"url": receiver.url(), "description": "tests"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    receiver.set_secrets([secret.clone()]);
    b.create_workspace("w1").await;
    b.put_provider(testkit_provider(&oauth, "testprov")).await;
    (
        b,
        oauth,
        receiver,
        created["id"].as_str().unwrap().to_owned(),
        secret,
    )
}

async fn new_connection(b: &TestBroker, oauth: &OAuthServer) -> String {
    let (_, refresh) = oauth.issue_tokens_directly(["read"]);
    b.import_refresh_token("w1", "testprov", &refresh).await
}

/// `openssl dgst -sha256 -mac HMAC` over the signed content: a third implementation.
fn openssl_signature(secret: &str, signed: &str) -> String {
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let hexkey: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-mac", "HMAC", "-macopt"])
        .arg(format!("hexkey:{hexkey}"))
        .arg("-binary")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl is installed");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(signed.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(out.stdout)
    )
}

#[tokio::test]
async fn signatures_verify_independently_and_tampering_is_caught() {
    let db = sqlite_db();
    let (b, oauth, receiver, _, secret) = setup(config(&db.url)).await;
    new_connection(&b, &oauth).await;
    let log = receiver
        .wait_until(DEADLINE, |l| !l.accepted().is_empty())
        .await
        .unwrap_or_else(|l| panic!("{l:?}"));
    let r = &log.accepted()[0];
    assert!(r.webhook_id.starts_with("msg_"));
    let ts = r.timestamp.to_string();
    let signed = format!("{}.{ts}.{}", r.webhook_id, r.body);
    assert_eq!(r.signature_header, openssl_signature(&secret, &signed));
    use nexus_testkit::webhooks::verify;
    assert!(verify(
        &secret,
        &r.webhook_id,
        &ts,
        r.body.as_bytes(),
        &r.signature_header
    ));
    let tampered = r.body.replace("connection.created", "connection.deleted");
    assert_ne!(tampered, r.body);
    assert!(!verify(
        &secret,
        &r.webhook_id,
        &ts,
        tampered.as_bytes(),
        &r.signature_header
    ));
    assert!(!verify(
        &secret,
        "msg_other",
        &ts,
        r.body.as_bytes(),
        &r.signature_header
    ));
    // A receiver holding another secret refuses the next delivery.
    receiver.set_secrets(["whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="]);
    new_connection(&b, &oauth).await;
    receiver
        .wait_until(DEADLINE, |l| l.rejected >= 1)
        .await
        .unwrap_or_else(|l| panic!("{l:?}"));
}

#[tokio::test]
async fn a_rotated_secret_overlaps_and_no_secret_is_listed_or_stored_in_plaintext() {
    let db = sqlite_db();
    let (b, oauth, receiver, id, old) = setup(config(&db.url)).await;
    let (status, rotated) = TestBroker::send(
        b.admin(
            Method::POST,
            &format!("/admin/v1/webhooks/{id}/rotate-secret"),
        )
        .json(&json!({"overlap_seconds": 3600})),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    // Both secrets sign during the overlap: a receiver with either one accepts.
    receiver.set_secrets([old.clone()]);
    new_connection(&b, &oauth).await;
    let log = receiver
        .wait_until(DEADLINE, |l| l.accepted().len() == 1)
        .await
        .unwrap_or_else(|l| panic!("{l:?}"));
    let r = &log.accepted()[0];
    assert_eq!(
        r.signature_header.split(' ').count(),
        2,
        "new first, then old"
    );
    let ts = r.timestamp.to_string();
    use nexus_testkit::webhooks::verify;
    assert!(verify(
        &new,
        &r.webhook_id,
        &ts,
        r.body.as_bytes(),
        &r.signature_header
    ));
    assert!(verify(
        &old,
        &r.webhook_id,
        &ts,
        r.body.as_bytes(),
        &r.signature_header
    ));
    assert_eq!(
        r.signature_header.split(' ').next().unwrap(),
        openssl_signature(&new, &format!("{}.{ts}.{}", r.webhook_id, r.body))
    );

    // Listings never show a secret; the database holds only ciphertext.
    let (_, list) = TestBroker::send(b.admin(Method::GET, "/admin/v1/webhooks")).await;
    let (_, deliveries) =
        TestBroker::send(b.admin(Method::GET, &format!("/admin/v1/webhooks/{id}/deliveries")))
            .await;
    assert_eq!(list[0]["description"], "tests");
    assert!(list[0]["previous_secret_expires_at"].is_string());
    let pool = raw_pool(&db.url).await;
    let stored: Vec<(Vec<u8>, Option<Vec<u8>>)> =
        sqlx::query_as("SELECT secret, previous_secret FROM webhook_endpoints")
            .fetch_all(&pool)
            .await
            .unwrap();
    for secret in [&old, &new] {
        let key = secret.strip_prefix("whsec_").unwrap();
        for text in [list.to_string(), deliveries.to_string()] {
            assert!(!text.contains(key), "a listing shows a secret");
        }
        for (a, b) in &stored {
            let raw = [a.clone(), b.clone().unwrap_or_default()].concat();
            assert!(!String::from_utf8_lossy(&raw).contains(key));
        }
    }
}

#[tokio::test]
async fn dead_letters_can_be_redelivered_and_410_disables_the_endpoint() {
    let db = sqlite_db();
    let mut c = config(&db.url);
    c.webhooks.max_attempts = 3;
    let (b, oauth, receiver, id, _) = setup(c).await;
    receiver.set_mode(ReceiverMode::Fail(500));
    new_connection(&b, &oauth).await;
    let dead_path = format!("/admin/v1/webhooks/{id}/deliveries?state=dead");
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let dead = loop {
        tick.tick().await;
        let (_, list) = TestBroker::send(b.admin(Method::GET, &dead_path)).await;
        if list.as_array().is_some_and(|l| !l.is_empty()) {
            break list[0].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "never dead");
    };
    assert_eq!(dead["attempts"], 3);
    assert_eq!(dead["last_status"], 500);
    assert_eq!(receiver.log().received.len(), 3);

    receiver.set_mode(ReceiverMode::Accept);
    let (status, again) = TestBroker::send(b.admin(
        Method::POST,
        &format!("/admin/v1/webhook-deliveries/{}/redeliver", dead["id"]),
    ))
    .await;
    assert_eq!(status, 202, "{again}");
    let log = receiver
        .wait_until(DEADLINE, |l| l.accepted().len() == 1)
        .await
        .unwrap_or_else(|l| panic!("{l:?}"));
    assert_eq!(
        log.accepted()[0].webhook_id,
        dead["event_id"].as_str().unwrap()
    );

    // 410 Gone: the endpoint is disabled and receives nothing more.
    receiver.set_mode(ReceiverMode::Fail(410));
    new_connection(&b, &oauth).await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        tick.tick().await;
        let (_, list) = TestBroker::send(b.admin(Method::GET, "/admin/v1/webhooks")).await;
        if list[0]["disabled_reason"] == "gone" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not disabled: {list}"
        );
    }
    let before = receiver.log().received.len();
    new_connection(&b, &oauth).await;
    let pool = raw_pool(&db.url).await;
    let queued: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM webhook_deliveries WHERE state IN ('pending', 'delivering')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(queued, 0, "a disabled endpoint gets no new deliveries");
    assert_eq!(receiver.log().received.len(), before);
}

/// A dispatcher on the broker's store whose clock the test moves (starts at the wall clock).
fn clocked_dispatcher(
    b: &TestBroker,
    webhooks: nexus_broker::webhooks::WebhookConfig,
) -> (nexus_broker::webhooks::Dispatcher, Arc<AtomicI64>) {
    let now = Arc::new(AtomicI64::new(nexus_broker::store::now_ms()));
    let clock = now.clone();
    let dispatcher = nexus_broker::webhooks::Dispatcher::with_clock(
        b.broker.store().clone(),
        webhooks,
        Arc::new(move || clock.load(Ordering::SeqCst)),
    );
    (dispatcher, now)
}

#[tokio::test]
async fn a_delivery_older_than_the_max_age_dies_on_its_next_failure() {
    let db = sqlite_db();
    let mut c = config(&db.url);
    // No dispatcher in the broker: the test drives one with its own clock.
    c.webhooks.dispatch = false;
    c.webhooks.backoff = vec![Duration::from_secs(60)];
    c.webhooks.max_age = Duration::from_secs(3600);
    let webhooks = c.webhooks.clone();
    let (b, oauth, receiver, id, _) = setup(c).await;
    receiver.set_mode(ReceiverMode::Fail(503));
    new_connection(&b, &oauth).await;
    let (dispatcher, now) = clocked_dispatcher(&b, webhooks);
    assert_eq!(dispatcher.run_once().await.unwrap(), 1);
    // Not due again until the backoff (60 s ± 20 %) has passed on the clock.
    assert_eq!(dispatcher.run_once().await.unwrap(), 0);
    now.fetch_add(73_000, Ordering::SeqCst);
    assert_eq!(dispatcher.run_once().await.unwrap(), 1);
    let (_, list) =
        TestBroker::send(b.admin(Method::GET, &format!("/admin/v1/webhooks/{id}/deliveries")))
            .await;
    assert_eq!(list[0]["state"], "pending", "{list}");
    // An hour later the next failure is the last.
    now.fetch_add(3_600_000, Ordering::SeqCst);
    assert_eq!(dispatcher.run_once().await.unwrap(), 1);
    let (_, list) =
        TestBroker::send(b.admin(Method::GET, &format!("/admin/v1/webhooks/{id}/deliveries")))
            .await;
    assert_eq!(list[0]["state"], "dead", "{list}");
    assert_eq!(list[0]["attempts"], 3);
    assert_eq!(receiver.log().received.len(), 3);
}

#[tokio::test]
async fn retention_prunes_delivered_rows_after_7_days_and_events_after_30() {
    let db = sqlite_db();
    let mut c = config(&db.url);
    c.webhooks.dispatch = false;
    let webhooks = c.webhooks.clone();
    let (b, oauth, receiver, id, _) = setup(c).await;
    new_connection(&b, &oauth).await; // delivered
    let (dispatcher, now) = clocked_dispatcher(&b, webhooks);
    assert_eq!(dispatcher.run_once().await.unwrap(), 1);
    assert_eq!(receiver.log().accepted().len(), 1);
    receiver.set_mode(ReceiverMode::Fail(503));
    new_connection(&b, &oauth).await; // still pending
    let pool = raw_pool(&db.url).await;
    let count = |table: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM {table}"
            )))
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    const DAY: i64 = 24 * 3_600_000;
    assert_eq!(dispatcher.prune().await.unwrap(), 0, "nothing is old yet");
    now.fetch_add(8 * DAY, Ordering::SeqCst);
    assert_eq!(dispatcher.prune().await.unwrap(), 1, "the delivered row");
    assert_eq!(
        (
            count("webhook_deliveries").await,
            count("webhook_events").await
        ),
        (1, 2)
    );
    now.fetch_add(30 * DAY, Ordering::SeqCst);
    dispatcher.prune().await.unwrap();
    // The delivered event is gone; the one still waiting to be sent is kept.
    assert_eq!(
        (
            count("webhook_deliveries").await,
            count("webhook_events").await
        ),
        (1, 1)
    );
    let (_, list) =
        TestBroker::send(b.admin(Method::GET, &format!("/admin/v1/webhooks/{id}/deliveries")))
            .await;
    assert_eq!(list[0]["state"], "pending");
}

#[tokio::test]
async fn bad_input_is_refused_with_clear_errors() {
    let db = sqlite_db();
    let mut strict = test_config(&db.url);
    strict.webhooks.allow_loopback = false;
    let b = TestBroker::start(strict).await;
    let post =
        |body: Value| TestBroker::send(b.admin(Method::POST, "/admin/v1/webhooks").json(&body));
    for (body, words) in [
        (json!({"url": "http://127.0.0.1:9/h"}), "https"),
        (json!({"url": "https://127.0.0.1:9/h"}), "private"),
        (json!({"url": "https://169.254.169.254/latest"}), "private"),
        (json!({"url": "https://user:pw@example.com/h"}), "password"),
        (json!({"url": "not a url"}), "not a URL"),
        (
            json!({"url": "https://example.com/h", "events": ["connection.exploded"]}),
            "connection.refresh_failed",
        ),
        (
            json!({"url": "https://example.com/h", "workspace_id": "nope"}),
            "nope",
        ),
        (
            json!({"url": "https://example.com/h", "colour": "red"}),
            "colour",
        ),
    ] {
        let (status, e) = post(body.clone()).await;
        assert!(matches!(status, 400 | 404), "{body}: {status} {e}");
        assert!(
            e["message"].as_str().unwrap().contains(words),
            "{body}: {e}"
        );
        assert!(!e.to_string().contains("pw@"), "{e}");
    }
    for (method, path) in [
        (Method::DELETE, "/admin/v1/webhooks/we_missing".to_owned()),
        (
            Method::POST,
            "/admin/v1/webhooks/we_missing/rotate-secret".to_owned(),
        ),
        (
            Method::GET,
            "/admin/v1/webhooks/we_missing/deliveries".to_owned(),
        ),
        (
            Method::POST,
            "/admin/v1/webhook-deliveries/999/redeliver".to_owned(),
        ),
    ] {
        let (status, e) = TestBroker::send(b.admin(method, &path)).await;
        assert_eq!(
            (status, e["error"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }
    let (status, _) =
        TestBroker::send(b.admin(Method::POST, "/admin/v1/webhook-deliveries/x/redeliver")).await;
    assert_eq!(status, 400);
    let (status, created) = post(json!({"url": "https://example.com/h"})).await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap();
    let (status, e) = TestBroker::send(
        b.admin(
            Method::POST,
            &format!("/admin/v1/webhooks/{id}/rotate-secret"),
        )
        .json(&json!({"overlap_seconds": 604801})),
    )
    .await;
    assert_eq!(status, 400, "{e}");
    let (status, e) = TestBroker::send(b.admin(
        Method::GET,
        &format!("/admin/v1/webhooks/{id}/deliveries?state=lost"),
    ))
    .await;
    assert_eq!(status, 400, "{e}");
    // Without the admin token: nothing.
    let (status, _) = TestBroker::send(b.http.get(format!("{}/admin/v1/webhooks", b.url))).await;
    assert_eq!(status, 401);
}
