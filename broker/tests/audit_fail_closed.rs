//! A token is never handed out before its audit record is durable (issue 20's rule, issue 14's
//! audit items). The audit table is made to refuse writes for real — a trigger in the database,
//! on SQLite and on PostgreSQL — and then a resolve, a session and an admin change through the
//! broker's HTTP API each answer `upstream_unavailable` (retryable) with no credential in the
//! body; a refusal stays the same refusal; with the trigger gone the same calls succeed, and
//! nothing the refused calls asked for was recorded as issued.

mod common;

use common::{TestBroker, all_dbs, raw_pool, test_config};
use reqwest::Method;
use serde_json::{Value, json};

const SECRET: &str = "sk_live_fail_closed_0123456789";

/// Make every insert into `audit_events` fail, as a full disk or a revoked privilege would.
async fn refuse_audit_writes(url: &str) {
    let pool = raw_pool(url).await;
    let statements: &[&str] = if url.starts_with("postgres") {
        &[
            "CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit storage unavailable'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
        ]
    } else {
        &[
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit storage unavailable'); END",
        ]
    };
    for statement in statements {
        sqlx::query(sqlx::AssertSqlSafe(*statement))
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

async fn allow_audit_writes(url: &str) {
    let pool = raw_pool(url).await;
    let drop = if url.starts_with("postgres") {
        "DROP TRIGGER refuse_audit ON audit_events"
    } else {
        "DROP TRIGGER refuse_audit"
    };
    sqlx::query(drop)
        .execute(&pool)
        .await
        .expect("drop trigger");
}

/// Records of `action` in the database, whatever their outcome.
async fn recorded(url: &str, action: &str) -> Vec<String> {
    let pool = raw_pool(url).await;
    sqlx::query_scalar::<_, String>("SELECT outcome FROM audit_events WHERE action = $1")
        .bind(action)
        .fetch_all(&pool)
        .await
        .expect("read audit")
}

fn assert_withheld(label: &str, what: &str, status: u16, body: &Value) {
    assert_eq!(status, 502, "{label}: {what}: {body}");
    assert_eq!(
        body["error"], "upstream_unavailable",
        "{label}: {what}: {body}"
    );
    let text = body.to_string();
    assert!(
        !text.contains(SECRET),
        "{label}: {what} leaked the credential"
    );
    assert!(
        body.get("session_token").is_none() && body.get("credentials").is_none(),
        "{label}: {what}: {body}"
    );
}

/// Workspace `w1` with a static credential for `stripe` and an agent allowed to resolve it:
/// the agent's credential.
async fn seeded(b: &TestBroker) -> String {
    b.create_workspace("w1").await;
    b.put_provider(json!({"name": "stripe", "auth_type": "api_key",
        "strategy": {"type": "header", "config": {"header_name": "Authorization"}}}))
        .await;
    let (status, body) = TestBroker::send(
        b.admin(Method::POST, "/admin/v1/workspaces/w1/connections/import")
            .json(&json!({"provider_name": "stripe", "kind": "api_key", "secret": SECRET})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, agent) = TestBroker::send(
        b.admin(Method::POST, "/admin/v1/workspaces/w1/agents")
            .json(&json!({"name": "bot", "scopes": ["provider:stripe"]})),
    )
    .await;
    assert_eq!(status, 201, "{agent}");
    agent["agent_credential"].as_str().unwrap().to_owned()
}

async fn create_session(b: &TestBroker, credential: &str) -> (u16, Value) {
    TestBroker::send(
        b.internal(Method::POST, "/internal/v1/sessions")
            .json(&json!({
                "credential": credential, "request": {}, "issuer": b.url,
            })),
    )
    .await
}

#[tokio::test]
async fn nothing_is_handed_out_when_its_audit_record_cannot_be_written() {
    for db in all_dbs().await {
        let label = db.label;
        let b = TestBroker::start(test_config(&db.url)).await;
        let credential = seeded(&b).await;
        let (status, body) = b.resolve("w1", "stripe", json!({})).await;
        assert_eq!(status, 200, "{label}: before: {body}");
        let issued_before = recorded(&db.url, "token.issued").await.len();
        let sessions_before = recorded(&db.url, "session.created").await.len();

        refuse_audit_writes(&db.url).await;
        let (status, body) = b.resolve("w1", "stripe", json!({})).await;
        assert_withheld(label, "resolve", status, &body);
        let (status, body) = create_session(&b, &credential).await;
        assert_withheld(label, "session", status, &body);
        let (status, body) = TestBroker::send(
            b.admin(Method::POST, "/admin/v1/workspaces")
                .json(&json!({"id": "w2"})),
        )
        .await;
        assert_withheld(label, "admin change", status, &body);
        // A refusal is answered as the refusal it is, recorded or not.
        let (status, body) = b.resolve("w1", "nosuch", json!({})).await;
        assert_eq!(status, 404, "{label}: {body}");

        assert_eq!(
            recorded(&db.url, "token.issued").await.len(),
            issued_before,
            "{label}: a withheld resolve left a record"
        );
        assert_eq!(
            recorded(&db.url, "session.created").await.len(),
            sessions_before,
            "{label}"
        );

        allow_audit_writes(&db.url).await;
        let (status, body) = b.resolve("w1", "stripe", json!({})).await;
        assert_eq!(status, 200, "{label}: after: {body}");
        assert_eq!(body["credentials"]["api_key"], SECRET, "{label}");
        let (status, body) = create_session(&b, &credential).await;
        assert_eq!(status, 201, "{label}: after: {body}");
        assert_eq!(
            recorded(&db.url, "token.issued").await,
            vec!["ok"; issued_before + 1],
            "{label}: every credential handed out has its record"
        );
        let (status, verdict) =
            TestBroker::send(b.admin(Method::GET, "/admin/v1/audit/verify")).await;
        assert_eq!(status, 200, "{label}: {verdict}");
        assert_eq!(
            verdict["ok"], true,
            "{label}: the chain survived: {verdict}"
        );
    }
}

/// The gateway's batch of proxied-call records is answered as stored only once it is durable: a
/// database that refuses the records makes the broker answer `upstream_unavailable` (the gateway
/// keeps the batch and sends it again) instead of 200 with the records lost.
#[tokio::test]
async fn a_proxy_audit_batch_is_acknowledged_only_when_stored() {
    for db in all_dbs().await {
        let label = db.label;
        let b = TestBroker::start(test_config(&db.url)).await;
        b.create_workspace("w1").await;
        let record = |k: usize| {
            json!({
                "request_id": format!("r{k}"), "workspace_id": "w1", "principal": "api_key:k1",
                "provider": "crm", "method": "GET", "host": "api.crm.example",
                "path_template": "/contacts/{id}", "status": 200, "outcome": "ok",
                "latency_ms": 1, "duration_ms": 1, "bytes_in": 0, "bytes_out": 10,
                "retried_401": false, "throttle_retries": 0,
            })
        };
        let batch = json!({ "records": (0..40).map(record).collect::<Vec<_>>() });
        let post = || {
            TestBroker::send(
                b.internal(Method::POST, "/internal/v1/audit/proxy")
                    .json(&batch),
            )
        };

        refuse_audit_writes(&db.url).await;
        let (status, body) = post().await;
        assert_withheld(label, "proxy audit batch", status, &body);
        assert!(
            recorded(&db.url, "proxy.request").await.is_empty(),
            "{label}"
        );

        allow_audit_writes(&db.url).await;
        let (status, body) = post().await;
        assert_eq!(status, 200, "{label}: {body}");
        assert_eq!(
            recorded(&db.url, "proxy.request").await,
            vec!["ok"; 40],
            "{label}: every call of the batch is recorded"
        );
        let (status, verdict) =
            TestBroker::send(b.admin(Method::GET, "/admin/v1/audit/verify")).await;
        assert_eq!(status, 200, "{label}: {verdict}");
        assert_eq!(verdict["ok"], true, "{label}: {verdict}");
    }
}
