//! Scenarios: audit-chain tampering (edited, deleted middle, deleted tail records) is reported,
//! and the admin API validates its input.

use super::{IdStack, common};
use serde_json::json;

/// Edit a field, delete a middle record, delete the newest record: each is reported.
pub(super) async fn tampering_is_detected(stack: &IdStack) {
    let (_, credential) = stack.create_agent("globex", &["acme:gliding"], None).await;
    for _ in 0..3 {
        let (status, _) = stack.session(&credential, json!({})).await;
        assert_eq!(status, 201);
    }
    let verdict = stack.verify_chain(Some("globex")).await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    let db = stack.db().await;
    let ids: Vec<i64> = sqlx::query_scalar::<_, i64>(
        "SELECT id FROM audit_events WHERE workspace_id = 'globex' ORDER BY id",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert!(ids.len() >= 5, "{ids:?}");

    // Edit one field of one record.
    let edited = ids[2];
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE audit_events SET outcome = 'denied' WHERE id = {edited}"
    )))
    .execute(&db)
    .await
    .unwrap();
    let verdict = stack.verify_chain(Some("globex")).await;
    assert_eq!(verdict["ok"], false, "{verdict}");
    assert_eq!(verdict["first_broken_id"], edited);
    assert_eq!(stack.verify_chain(None).await["ok"], false);
    // Other workspaces' chains are unaffected.
    assert_eq!(stack.verify_chain(Some("acme")).await["ok"], true);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE audit_events SET outcome = 'allowed' WHERE id = {edited}"
    )))
    .execute(&db)
    .await
    .unwrap();
    assert_eq!(stack.verify_chain(Some("globex")).await["ok"], true);

    // Delete a record in the middle: the next one no longer links.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM audit_events WHERE id = {}",
        ids[1]
    )))
    .execute(&db)
    .await
    .unwrap();
    let verdict = stack.verify_chain(Some("globex")).await;
    assert_eq!(verdict["ok"], false, "{verdict}");
    assert_eq!(verdict["first_broken_id"], ids[2]);
}

pub(super) async fn tail_deletion_is_detected(stack: &IdStack) {
    let (_, credential) = stack.create_agent("globex", &["acme:gliding"], None).await;
    let (status, _) = stack.session(&credential, json!({})).await;
    assert_eq!(status, 201);
    assert_eq!(stack.verify_chain(Some("globex")).await["ok"], true);
    let db = stack.db().await;
    let newest: i64 = sqlx::query_scalar::<_, i64>(
        "SELECT MAX(id) FROM audit_events WHERE workspace_id = 'globex'",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM audit_events WHERE id = {newest}"
    )))
    .execute(&db)
    .await
    .unwrap();
    let verdict = stack.verify_chain(Some("globex")).await;
    assert_eq!(verdict["ok"], false, "{verdict}");
    assert_eq!(verdict["first_broken_id"], newest);
}

pub(super) async fn admin_input_is_validated(stack: &IdStack) {
    for body in [
        json!({"name": "", "scopes": []}),
        json!({"name": "x", "scopes": ["has space"]}),
        json!({"name": "x", "max_session_ttl_seconds": 0}),
        json!({"name": "x", "max_session_ttl_seconds": 86401}),
        json!({"name": "x", "unknown": 1}),
    ] {
        let (status, answer) = stack
            .admin(
                "POST",
                "/admin/v1/workspaces/acme/agents",
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 400, "{body}: {answer}");
    }
    let (status, _) = stack
        .admin(
            "POST",
            "/admin/v1/workspaces/nowhere/agents",
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = stack
        .admin(
            "POST",
            "/admin/v1/workspaces/acme/agents/agt_0000000000000000/disable",
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = stack
        .admin(
            "POST",
            "/admin/v1/workspaces/acme/identity-providers",
            Some(json!({"issuer": "not a url"})),
        )
        .await;
    assert_eq!(status, 400);
    // NUL bytes never reach the database (a server error on PostgreSQL).
    let (status, _) = stack
        .admin("GET", "/admin/v1/workspaces/acme/agents/agt_%00", None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = stack
        .admin(
            "DELETE",
            "/admin/v1/workspaces/acme/identity-providers/%00",
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = stack
        .admin("GET", "/admin/v1/audit?agent_id=%00", None)
        .await;
    assert_eq!(status, 400);
    let (status, _) = stack.admin("GET", "/admin/v1/audit?user=a%00", None).await;
    assert_eq!(status, 400);
    let (status, _) = stack
        .admin(
            "POST",
            "/admin/v1/workspaces/acme/identity-providers",
            Some(json!({"issuer": "http://idp.example/\u{0}"})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = stack
        .admin(
            "POST",
            "/admin/v1/workspaces/acme/agents",
            Some(json!({"name": "nul\u{0}name"})),
        )
        .await;
    assert_eq!(status, 400);
    // Unknown credentials and garbage bodies are 4xx, never 5xx.
    let (status, body) = stack.session("nxa_0123456789abcdef_nope", json!({})).await;
    common::assert_error(status, &body, 401, "unauthorized");
    let (status, body) = stack.session("eyJhbGciOiJFUzI1NiJ9.e30.x", json!({})).await;
    common::assert_error(status, &body, 401, "unauthorized");
    let (status, body) = stack
        .resolve("eyJhbGciOiJFUzI1NiJ9.e30.x", "acme", "github")
        .await;
    common::assert_error(status, &body, 401, "unauthorized");
    let (status, body) = stack
        .gateway(
            "POST",
            "/v1/authorize",
            "nxk_not_a_session",
            Some(json!({"scope": "x"})),
        )
        .await;
    common::assert_error(status, &body, 401, "unauthorized");
}
