//! The distribution-ready keys of issue 20 for the audit log and the identity tables
//! (migrations 0030–0037) on both databases. A database that an older broker (migration 0029)
//! filled through the store itself — hash-chained audit records in three chains plus one record
//! older than the chains, an API key, an agent and its session — upgrades with every row kept:
//! the chains still verify and keep growing, the key and the session still work, the session
//! names its agent by (workspace_id, agent_id) and cascades with it, and on PostgreSQL every
//! touched table has its new key and no foreign key is left NOT VALID.

mod common;

use common::migrate::{
    add_workspaces, count, exec, old_schema_posing_as_current, primary_key, run_newer,
};
use nexus_vault::store::Store;
use nexus_vault::store::audit::AuditEvent;
use nexus_vault::store::identity::SessionRow;
use nexus_vault::testing::{all_dbs, raw_pool, test_vault};

/// Versions this test upgrades across: the store writes its rows at the one before.
const FIRST_NEW: i64 = 30;

async fn audit(store: &Store, ws: Option<&str>, target: &str) {
    store
        .audit(AuditEvent {
            workspace_id: ws,
            action: "token.issued",
            target: Some(target),
            principal: "api_key:k1",
            outcome: "ok",
            request_id: Some(target),
            detail: None,
        })
        .await;
}

const SESSION: &str = "INSERT INTO agent_sessions (id, workspace_id, agent_id, subject, scopes, expires_at, created_at)";

#[tokio::test]
async fn audit_and_identity_rows_survive_the_key_change() {
    for db in all_dbs().await {
        let l = db.label;
        old_schema_posing_as_current(&db, FIRST_NEW).await;
        let sealer = test_vault();
        let old = Store::connect(&db.url, sealer.clone()).await.unwrap();
        let raw = raw_pool(&db.url).await;
        add_workspaces(&raw, &["a", "b"]).await;
        // A record from before the chains existed (migration 0002): no chain, no links.
        exec(&raw, "INSERT INTO audit_events (at, action, principal, outcome, request_id) VALUES (1, 'legacy', 'admin', 'ok', 'legacy-1')").await.unwrap();
        for (i, ws) in [Some("a"), Some("b"), None, Some("a")].iter().enumerate() {
            audit(&old, *ws, &format!("before-{i}")).await;
        }
        let key = old.create_api_key("a").await.unwrap();
        let (agent, _credential) = old
            .create_agent("a", "bot", &["read".to_owned()], 3600)
            .await
            .unwrap();
        let session = SessionRow {
            id: "ses_upgrade".into(),
            workspace_id: "a".into(),
            agent_id: agent.agent_id.clone(),
            subject: agent.agent_id.clone(),
            user_subject: None,
            scopes: vec!["read".into()],
            expires_at: i64::MAX / 2,
            revoked_at: None,
            agent_generation: 0,
            created_at: 1,
        };
        old.insert_session(&session, None).await.unwrap();
        let before = old.verify_audit_chain(None).await.unwrap();
        assert!(before.ok, "{l}: {before:?}");
        assert_eq!(before.checked, 4, "{l}");
        drop(old);

        // The upgrade proper: the newer migrations run for real this time.
        run_newer(&raw, FIRST_NEW).await;
        let store = Store::connect(&db.url, sealer.clone()).await.unwrap();

        assert_eq!(
            count(&raw, "SELECT COUNT(*) FROM audit_events").await,
            5,
            "{l}"
        );
        assert_eq!(
            count(
                &raw,
                "SELECT COUNT(*) FROM audit_events WHERE chain = '' AND action = 'legacy'"
            )
            .await,
            1,
            "{l}: the chainless record is kept in the empty chain"
        );
        let after = store.verify_audit_chain(None).await.unwrap();
        assert!(after.ok, "{l}: {after:?}");
        assert_eq!(after.checked, 4, "{l}: the legacy record is no chain");
        for (i, ws) in [Some("a"), None, Some("b")].iter().enumerate() {
            audit(&store, *ws, &format!("after-{i}")).await;
        }
        let grown = store.verify_audit_chain(None).await.unwrap();
        assert!(grown.ok && grown.checked == 7, "{l}: {grown:?}");
        assert!(store.verify_audit_chain(Some("a")).await.unwrap().ok, "{l}");

        assert_eq!(
            store.verify_api_key(&key.api_key).await.unwrap(),
            Some(("a".to_owned(), key.key_id.clone())),
            "{l}: the API key still authenticates"
        );
        let found = store.get_session("a", "ses_upgrade").await.unwrap();
        assert_eq!(
            found.map(|s| s.agent_id),
            Some(agent.agent_id.clone()),
            "{l}"
        );
        assert!(
            store
                .get_session("b", "ses_upgrade")
                .await
                .unwrap()
                .is_none(),
            "{l}: a session is found only under its own workspace"
        );
        assert!(
            store
                .agent_by_id("a", &agent.agent_id)
                .await
                .unwrap()
                .is_some(),
            "{l}"
        );
        assert!(
            store
                .agent_by_id("b", &agent.agent_id)
                .await
                .unwrap()
                .is_none(),
            "{l}"
        );
        // A session naming the agent under another workspace is refused by the foreign key.
        assert!(
            exec(
                &raw,
                &format!(
                    "{SESSION} VALUES ('ses_x', 'b', '{}', 's', '[]', 9, 1)",
                    agent.agent_id
                )
            )
            .await
            .is_err(),
            "{l}: cross-workspace session accepted"
        );

        if l == "postgres" {
            assert_eq!(primary_key(&raw, "audit_events").await, "chain,id");
            for table in ["api_keys", "agents", "agent_sessions"] {
                assert_eq!(primary_key(&raw, table).await, "workspace_id,id", "{table}");
            }
            assert_eq!(
                count(
                    &raw,
                    "SELECT COUNT(*) FROM pg_constraint WHERE NOT convalidated"
                )
                .await,
                0,
                "every constraint validated"
            );
            assert_eq!(
                count(&raw, "SELECT COUNT(*) FROM pg_index WHERE NOT indisvalid").await,
                0,
                "no index left INVALID"
            );
        }

        // Deleting the agent cascades to its session through the composite key.
        exec(
            &raw,
            &format!("DELETE FROM agents WHERE id = '{}'", agent.agent_id),
        )
        .await
        .unwrap();
        assert_eq!(
            count(&raw, "SELECT COUNT(*) FROM agent_sessions").await,
            0,
            "{l}"
        );
        drop(store);
    }
}
