//! The standalone `nexus-broker` stops the way service managers and container runtimes stop
//! it: SIGTERM ends it cleanly (exit 0) once its requests have drained and the uses it still
//! queued for the console's "used by" are written (otherwise they go out up to a second after
//! the resolve, and a process that exits first loses them).

mod common;

use common::process::BrokerProcess;
use common::{raw_pool, sqlite_db};
use nexus_broker::crypto::MasterKey;
use serde_json::json;

#[tokio::test]
async fn sigterm_drains_then_writes_the_uses_still_queued() {
    let db = sqlite_db();
    let mut broker = BrokerProcess::spawn(&db.url, &MasterKey::generate().to_base64()).await;
    let http = reqwest::Client::new();
    let post = reqwest::Method::POST;
    for (path, body, created) in [
        ("/admin/v1/workspaces", json!({"id": "w1"}), 201),
        (
            "/admin/v1/providers",
            json!({"name": "testprov", "auth_type": "api_key"}),
            200,
        ),
        (
            "/admin/v1/workspaces/w1/connections/import",
            json!({"provider_name": "testprov", "kind": "api_key", "secret": "sk_graceful"}),
            201,
        ),
    ] {
        let (status, answer) = broker.admin(&http, post.clone(), path, Some(body)).await;
        assert_eq!(status, created, "{path}: {answer}");
    }
    let (status, answer) = broker.resolve(&http).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["credentials"]["api_key"], "sk_graceful");

    let pid = broker.child.id().expect("running").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let status = tokio::time::timeout(common::process::WAIT, broker.child.wait())
        .await
        .expect("the broker stops within the deadline")
        .expect("exit status");
    assert!(
        status.success(),
        "SIGTERM is a clean stop: {status}\n{}",
        broker.log.lock().join("\n")
    );

    let uses: Vec<(String, String)> = sqlx::query_as(
        "SELECT workspace_id, principal FROM connection_usage WHERE workspace_id = 'w1'",
    )
    .fetch_all(&raw_pool(&db.url).await)
    .await
    .expect("read connection_usage");
    assert_eq!(
        uses,
        vec![("w1".to_owned(), "api_key:k".to_owned())],
        "the resolve's use was written before exit\n{}",
        broker.log.lock().join("\n")
    );
}
