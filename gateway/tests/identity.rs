//! Agent identity end to end: the real broker (SQLite, and PostgreSQL when
//! `NEXUS_TEST_DATABASE_URL` is set) behind the real gateway on loopback, the testkit OAuth
//! server as the provider *and* as the trusted user IdP. Every refusal is checked for its
//! documented status and for its audit record; the audit chain is tampered with directly in
//! the database and must be reported broken.

#[path = "identity/agents_audit.rs"]
mod agents_audit;
mod common;
#[path = "identity/jwt_details.rs"]
mod jwt_details;
#[path = "identity/obo_claims.rs"]
mod obo_claims;
#[path = "identity/obo_scopes.rs"]
mod obo_scopes;
#[path = "identity/sessions_end.rs"]
mod sessions_end;
#[path = "identity/stack.rs"]
mod stack;
#[path = "identity/tampering_admin.rs"]
mod tampering_admin;

use agents_audit::agents_sessions_scopes_and_audit;
use obo_scopes::{on_behalf_of, scope_narrowing};
use stack::{DECLARED, IdStack, assert_denied, detail, jwt_part, now, wait_for_status};
use tampering_admin::{admin_input_is_validated, tail_deletion_is_detected, tampering_is_detected};

// ---- the scenarios (each runs on SQLite and, when configured, on PostgreSQL) ---------------

#[tokio::test]
async fn sqlite_agents_sessions_scopes_and_audit() {
    agents_sessions_scopes_and_audit(&IdStack::start(None).await).await;
}

#[tokio::test]
async fn sqlite_on_behalf_of() {
    on_behalf_of(&IdStack::start(None).await).await;
}

#[tokio::test]
async fn sqlite_scope_narrowing() {
    scope_narrowing(&IdStack::start(None).await).await;
}

#[tokio::test]
async fn sqlite_tampering_is_detected() {
    let stack = IdStack::start(None).await;
    tampering_is_detected(&stack).await;
}

#[tokio::test]
async fn sqlite_tail_deletion_is_detected() {
    tail_deletion_is_detected(&IdStack::start(None).await).await;
}

#[tokio::test]
async fn sqlite_admin_input_is_validated() {
    admin_input_is_validated(&IdStack::start(None).await).await;
}

#[tokio::test]
async fn sqlite_sessions_end_with_their_agent() {
    sessions_end::sessions_end_with_their_agent(&IdStack::start(None).await).await;
}

#[tokio::test]
async fn sqlite_user_token_claims_are_enforced() {
    obo_claims::user_token_claims_are_enforced(&IdStack::start(None).await).await;
}

#[tokio::test]
async fn sqlite_high_s_signatures_are_refused() {
    jwt_details::high_s_signatures_are_refused(&IdStack::start(None).await).await;
}

#[tokio::test]
async fn sqlite_issuer_is_the_configured_public_url() {
    jwt_details::issuer_is_the_configured_public_url(&IdStack::start(None).await).await;
}

#[tokio::test]
async fn postgres_identity_end_to_end() {
    let Some(url) = common::broker::fresh_postgres_database().await else {
        return;
    };
    let stack = IdStack::start(Some(url)).await;
    agents_sessions_scopes_and_audit(&stack).await;
    on_behalf_of(&stack).await;
    scope_narrowing(&stack).await;
    admin_input_is_validated(&stack).await;
    // `tampering_is_detected` edits `globex`'s records by position: before the scenarios
    // below add records there.
    tampering_is_detected(&stack).await;
    sessions_end::sessions_end_with_their_agent(&stack).await;
    obo_claims::user_token_claims_are_enforced(&stack).await;
    jwt_details::high_s_signatures_are_refused(&stack).await;
}

#[tokio::test]
async fn postgres_tail_deletion_is_detected() {
    let Some(url) = common::broker::fresh_postgres_database().await else {
        return;
    };
    tail_deletion_is_detected(&IdStack::start(Some(url)).await).await;
}
