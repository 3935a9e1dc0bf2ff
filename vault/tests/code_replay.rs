//! An authorization code replayed while the legitimate exchange is still in flight, on a real
//! SQLite file and a real PostgreSQL, driven step by step through the store (no timing).
//!
//! The token endpoint spends the code first and stores the grant (token family) only after its
//! PKCE, resource and agent checks. A replay that lands between the two finds no family to
//! revoke; the code must then remember the replay so that storing the family is refused
//! (RFC 6749 §4.1.2: tokens issued from a replayed code must not stay usable). A replay that
//! lands after the family is stored revokes it.

mod common;

use common::as_grants::{code_row, count, family, fixture};
use nexus_vault::store::Store;
use nexus_vault::store::oauth_grants::{CodeRedemption, FamilyStored};
use nexus_vault::store::pending::state_hash;
use nexus_vault::testing::{all_dbs, store_for};
use sqlx::Row;

/// A workspace, a resource, a user and one unspent code; a plain pool to look at the rows.
async fn with_code(store: &Store, url: &str, code: &str) -> (sqlx::AnyPool, String) {
    let (pool, user) = fixture(store, url).await;
    let row = code_row(&user);
    store.insert_authorization_code(code, &row).await.unwrap();
    (pool, user)
}

#[tokio::test]
async fn a_replay_before_the_family_is_stored_refuses_the_family() {
    for db in all_dbs().await {
        let l = db.label;
        let store = store_for(&db).await;
        let (pool, user) = with_code(&store, &db.url, "code-a").await;

        // The legitimate client spends the code; its checks are still running.
        assert!(
            matches!(
                store.redeem_authorization_code("code-a").await.unwrap(),
                CodeRedemption::Fresh(_)
            ),
            "{l}"
        );
        // The stolen copy arrives: spent, no family yet.
        assert!(
            matches!(
                store.redeem_authorization_code("code-a").await.unwrap(),
                CodeRedemption::Reused(None)
            ),
            "{l}"
        );
        // The legitimate exchange now stores its family: refused, nothing written.
        assert_eq!(
            store
                .create_token_family(&family("fam_a", &user), Some("code-a"), Some("rt-a"))
                .await
                .unwrap(),
            FamilyStored::CodeReplayed,
            "{l}"
        );
        assert_eq!(
            count(&pool, "SELECT COUNT(*) FROM oauth_token_families").await,
            0,
            "{l}: no family from a replayed code"
        );
        let rt = format!(
            "SELECT COUNT(*) FROM oauth_refresh_tokens WHERE token_hash = '{}'",
            state_hash("rt-a")
        );
        assert_eq!(count(&pool, &rt).await, 0, "{l}: no refresh token stored");
        assert_eq!(
            count(
                &pool,
                "SELECT COUNT(*) FROM oauth_authorization_codes WHERE family_id IS NOT NULL"
            )
            .await,
            0,
            "{l}: the code names no family"
        );
        assert_eq!(
            count(
                &pool,
                "SELECT COUNT(*) FROM oauth_authorization_codes WHERE replayed_at IS NOT NULL"
            )
            .await,
            1,
            "{l}: the code remembers the replay"
        );
        // Later replays still find nothing to revoke, and nothing ever gets linked.
        assert!(
            matches!(
                store.redeem_authorization_code("code-a").await.unwrap(),
                CodeRedemption::Reused(None)
            ),
            "{l}"
        );
        assert_eq!(
            store
                .create_token_family(&family("fam_a2", &user), Some("code-a"), None)
                .await
                .unwrap(),
            FamilyStored::CodeReplayed,
            "{l}"
        );
    }
}

#[tokio::test]
async fn a_replay_after_the_family_is_stored_revokes_it() {
    for db in all_dbs().await {
        let l = db.label;
        let store = store_for(&db).await;
        let (pool, user) = with_code(&store, &db.url, "code-b").await;

        assert!(
            matches!(
                store.redeem_authorization_code("code-b").await.unwrap(),
                CodeRedemption::Fresh(_)
            ),
            "{l}"
        );
        assert_eq!(
            store
                .create_token_family(&family("fam_b", &user), Some("code-b"), Some("rt-b"))
                .await
                .unwrap(),
            FamilyStored::Stored,
            "{l}"
        );
        assert!(
            matches!(
                store.redeem_authorization_code("code-b").await.unwrap(),
                CodeRedemption::Reused(Some(f)) if f == "fam_b"
            ),
            "{l}"
        );
        let reason: Option<String> =
            sqlx::query("SELECT revoked_reason FROM oauth_token_families WHERE id = 'fam_b'")
                .fetch_one(&pool)
                .await
                .unwrap()
                .try_get(0)
                .unwrap();
        assert_eq!(
            reason.as_deref(),
            Some("code_reuse"),
            "{l}: the replay revoked the family"
        );
    }
}
