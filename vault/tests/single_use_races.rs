//! Single use under contention, on a real SQLite file and a real PostgreSQL: many concurrent
//! redemptions of one authorization code, rotations of one refresh token and uses of one
//! assertion `jti` — exactly one wins, every other caller gets the typed "already used"
//! outcome (which the token endpoint answers `invalid_grant`), never a store error, and the rows
//! say the same (one successor token, one family per `jti`). Independent operations running at
//! the same time (other tokens, other `jti`s, bulk loads) all succeed.
//!
//! What these hold the store to: a transaction that reads and then decides a write must hold
//! the write lock before it reads. On SQLite a deferred transaction whose read is followed by a
//! commit of another connection fails its lock upgrade at once with "database is locked" (the
//! busy timeout does not apply), and on PostgreSQL a read without `FOR UPDATE` lets two
//! transactions spend the same row. Tasks start together behind a barrier; nothing sleeps.

mod common;

use common::as_grants::{ISSUER, code_row, count, family, fixture};
use nexus_vault::store::bulk::BulkConnection;
use nexus_vault::store::connections::TokenSet;
use nexus_vault::store::oauth_assertions::AssertionUse;
use nexus_vault::store::oauth_grants::{CodeRedemption, FamilyStored, RefreshRotation};
use nexus_vault::store::pending::state_hash;
use nexus_vault::store::{Store, now_ms};
use nexus_vault::testing::{all_dbs, raw_pool, store_for};
use sqlx::Row;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::Barrier;

/// More callers than the SQLite pool has connections (16), so some also queue for one.
const CALLERS: usize = 24;

/// Run `op(i)` for every `i < CALLERS`, all released at once; the results in order of `i`.
async fn race<T, F, Fut>(store: &Store, op: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Store, usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(CALLERS));
    let tasks: Vec<_> = (0..CALLERS)
        .map(|i| {
            let barrier = barrier.clone();
            let run = op(store.clone(), i);
            tokio::spawn(async move {
                barrier.wait().await;
                run.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(CALLERS);
    for task in tasks {
        out.push(task.await.expect("task panicked"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_code_is_redeemed_once() {
    for db in all_dbs().await {
        let l = db.label;
        let store = store_for(&db).await;
        let (pool, user) = fixture(&store, &db.url).await;
        let code = code_row(&user);
        store
            .insert_authorization_code("code-race", &code)
            .await
            .unwrap();

        let outcomes = race(&store, |s, _| async move {
            s.redeem_authorization_code("code-race").await
        })
        .await;
        let (mut fresh, mut reused) = (0, 0);
        for outcome in outcomes {
            match outcome {
                Ok(CodeRedemption::Fresh(row)) => {
                    assert_eq!(row.user_id, user, "{l}");
                    fresh += 1;
                }
                Ok(CodeRedemption::Reused(None)) => reused += 1,
                Ok(other) => panic!("{l}: unexpected {other:?}"),
                Err(e) => panic!("{l}: a redemption failed in the store: {e}"),
            }
        }
        assert_eq!((fresh, reused), (1, CALLERS - 1), "{l}: single use");

        // The 23 losers replayed the code: the winner's family is refused, nothing stored.
        assert_eq!(
            store
                .create_token_family(
                    &family("fam_lost", &user),
                    Some("code-race"),
                    Some("rt-lost")
                )
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

        // A code spent once; its winner stores the family while replays keep coming. Either
        // the family was linked before every replay (each replay then names it and revokes it),
        // or a replay came first and the family is refused with nothing stored. Never a live
        // family from a code replayed before it, never a store error.
        store
            .insert_authorization_code("code-race-2", &code)
            .await
            .unwrap();
        assert!(matches!(
            store
                .redeem_authorization_code("code-race-2")
                .await
                .unwrap(),
            CodeRedemption::Fresh(_)
        ));
        let results = race(&store, |s, i| {
            let fam = family("fam_code", &user);
            async move {
                if i == 0 {
                    s.create_token_family(&fam, Some("code-race-2"), Some("rt-code"))
                        .await
                        .map(Ok)
                } else {
                    s.redeem_authorization_code("code-race-2").await.map(Err)
                }
            }
        })
        .await;
        let (mut stored, mut before, mut after) = (false, 0, 0);
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(Ok(FamilyStored::Stored)) if i == 0 => stored = true,
                Ok(Ok(FamilyStored::CodeReplayed)) if i == 0 => {}
                Ok(Err(CodeRedemption::Reused(None))) if i > 0 => before += 1,
                Ok(Err(CodeRedemption::Reused(Some(f)))) if i > 0 && f == "fam_code" => after += 1,
                Ok(other) => panic!("{l}: caller {i}: unexpected {other:?}"),
                Err(e) => panic!("{l}: caller {i} failed in the store: {e}"),
            }
        }
        let families = count(&pool, "SELECT COUNT(*) FROM oauth_token_families").await;
        let tokens = count(&pool, "SELECT COUNT(*) FROM oauth_refresh_tokens").await;
        if stored {
            assert_eq!(
                (before, after),
                (0, CALLERS - 1),
                "{l}: no replay before the link"
            );
            assert_eq!((families, tokens), (1, 1), "{l}");
            let reason: Option<String> = sqlx::query(
                "SELECT revoked_reason FROM oauth_token_families WHERE id = 'fam_code'",
            )
            .fetch_one(&pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
            assert_eq!(
                reason.as_deref(),
                Some("code_reuse"),
                "{l}: revoked by the replays"
            );
        } else {
            assert!(before >= 1, "{l}: refused only after a replay");
            assert_eq!(after, 0, "{l}: no family was ever linked");
            assert_eq!((families, tokens), (0, 0), "{l}: nothing stored");
        }
        let later = store
            .redeem_authorization_code("code-race-2")
            .await
            .unwrap();
        assert!(
            match later {
                CodeRedemption::Reused(Some(f)) => stored && f == "fam_code",
                CodeRedemption::Reused(None) => !stored,
                _ => false,
            },
            "{l}: a later replay names the family exactly when it was stored"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_refresh_token_rotates_once() {
    for db in all_dbs().await {
        let l = db.label;
        let store = store_for(&db).await;
        let (pool, user) = fixture(&store, &db.url).await;
        store
            .create_token_family(&family("fam_rt", &user), None, Some("rt-0"))
            .await
            .map(|stored| assert_eq!(stored, FamilyStored::Stored))
            .unwrap();

        let outcomes = race(&store, |s, i| async move {
            let next = format!("rt-1-{i}");
            s.rotate_refresh_token("rt-0", &next, None)
                .await
                .map(|r| (r, next))
        })
        .await;
        let mut winners = Vec::new();
        for outcome in outcomes {
            match outcome {
                Ok((RefreshRotation::Rotated(f), next)) => {
                    assert_eq!(f.id, "fam_rt", "{l}");
                    winners.push(next);
                }
                Ok((RefreshRotation::Reused(f), _)) => assert_eq!(f, "fam_rt", "{l}"),
                Ok((other, _)) => panic!("{l}: unexpected {other:?}"),
                Err(e) => panic!("{l}: a rotation failed in the store: {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "{l}: exactly one rotation wins");
        assert_eq!(
            count(
                &pool,
                "SELECT COUNT(*) FROM oauth_refresh_tokens WHERE family_id = 'fam_rt'"
            )
            .await,
            2,
            "{l}: the presented token and one successor, never two"
        );
        let successor: String = sqlx::query(
            "SELECT token_hash FROM oauth_refresh_tokens WHERE family_id = 'fam_rt' AND generation = 1",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
        assert_eq!(
            successor,
            state_hash(&winners[0]),
            "{l}: the winner's successor"
        );
        // The losers presented a spent token: reuse revokes the family (design D8).
        let reason: Option<String> =
            sqlx::query("SELECT revoked_reason FROM oauth_token_families WHERE id = 'fam_rt'")
                .fetch_one(&pool)
                .await
                .unwrap()
                .try_get(0)
                .unwrap();
        assert_eq!(reason.as_deref(), Some("refresh_reuse"), "{l}");

        // Independent families rotating at the same time all succeed: contention on the
        // database, not on a row, must never surface as an error.
        for i in 0..CALLERS {
            let f = family(&format!("fam_ind_{i}"), &user);
            store
                .create_token_family(&f, None, Some(&format!("ind-{i}-0")))
                .await
                .map(|stored| assert_eq!(stored, FamilyStored::Stored))
                .unwrap();
        }
        let outcomes = race(&store, |s, i| async move {
            s.rotate_refresh_token(&format!("ind-{i}-0"), &format!("ind-{i}-1"), None)
                .await
        })
        .await;
        for (i, outcome) in outcomes.into_iter().enumerate() {
            match outcome {
                Ok(RefreshRotation::Rotated(f)) => assert_eq!(f.id, format!("fam_ind_{i}")),
                Ok(other) => panic!("{l}: family {i}: unexpected {other:?}"),
                Err(e) => panic!("{l}: family {i}: rotation failed in the store: {e}"),
            }
        }
    }
}

fn assertion<'a>(jti: &'a str, subject: &'a str) -> AssertionUse<'a> {
    AssertionUse {
        issuer: ISSUER,
        jti,
        remember_until_ms: now_ms() + 600_000,
        subject,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_jti_is_used_once() {
    for db in all_dbs().await {
        let l = db.label;
        let store = store_for(&db).await;
        let (pool, _) = fixture(&store, &db.url).await;
        // An expired `jti` of the same issuer: every redemption also deletes what expired.
        sqlx::query(
            "INSERT INTO oauth_assertion_jtis (issuer, jti, expires_at) VALUES ($1, 'old', 1)",
        )
        .bind(ISSUER)
        .execute(&pool)
        .await
        .unwrap();

        let outcomes = race(&store, |s, i| async move {
            s.redeem_assertion_grant(
                &assertion("jti-race", "bob"),
                family(&format!("fam_j{i}"), ""),
            )
            .await
        })
        .await;
        let mut used = 0;
        for outcome in outcomes {
            match outcome {
                Ok(Some(_)) => used += 1,
                Ok(None) => {}
                Err(e) => panic!("{l}: a redemption failed in the store: {e}"),
            }
        }
        assert_eq!(used, 1, "{l}: the jti is accepted once");
        assert_eq!(
            count(&pool, "SELECT COUNT(*) FROM oauth_token_families").await,
            1,
            "{l}: one grant stored"
        );
        assert_eq!(
            count(
                &pool,
                "SELECT COUNT(*) FROM as_users WHERE idp_subject = 'bob'"
            )
            .await,
            1,
            "{l}"
        );
        assert_eq!(
            count(&pool, "SELECT COUNT(*) FROM oauth_assertion_jtis").await,
            1,
            "{l}: the used jti is remembered, the expired one forgotten"
        );

        // Distinct assertions of one new user at the same time: all accepted, one user.
        let outcomes = race(&store, |s, i| async move {
            let jti = format!("jti-{i}");
            s.redeem_assertion_grant(&assertion(&jti, "carol"), family(&format!("fam_c{i}"), ""))
                .await
        })
        .await;
        let mut users = Vec::new();
        for (i, outcome) in outcomes.into_iter().enumerate() {
            match outcome {
                Ok(Some(f)) => users.push(f.user_id),
                Ok(None) => panic!("{l}: jti-{i} refused as a replay"),
                Err(e) => panic!("{l}: jti-{i} failed in the store: {e}"),
            }
        }
        users.sort();
        users.dedup();
        assert_eq!(users.len(), 1, "{l}: one user for one subject");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_bulk_loads_all_commit() {
    for db in all_dbs().await {
        let l = db.label;
        let store = store_for(&db).await;
        let pool = raw_pool(&db.url).await;
        // Overlapping sets: each workspace is created once, whoever gets there first.
        let results = race(&store, |s, i| async move {
            let ids: Vec<String> = (i..i + 8).map(|n| format!("bulk-{n}")).collect();
            s.insert_workspaces_bulk(&ids).await
        })
        .await;
        for r in results {
            r.unwrap_or_else(|e| panic!("{l}: a bulk workspace load failed: {e}"));
        }
        assert_eq!(
            count(
                &pool,
                "SELECT COUNT(*) FROM workspaces WHERE id LIKE 'bulk-%'"
            )
            .await,
            (CALLERS + 7) as i64,
            "{l}"
        );

        let results = race(&store, |s, i| async move {
            let ws = format!("bulk-{i}");
            let tokens = TokenSet::default();
            let rows: Vec<BulkConnection<'_>> = (0..3)
                .map(|_| BulkConnection {
                    workspace_id: &ws,
                    provider_name: "github",
                    user_id: None,
                    scopes: &[],
                    tokens: &tokens,
                })
                .collect();
            s.insert_connections_bulk(&rows).await.map(|ids| ids.len())
        })
        .await;
        for r in results {
            assert_eq!(
                r.unwrap_or_else(|e| panic!("{l}: a bulk load failed: {e}")),
                3
            );
        }
        assert_eq!(
            count(&pool, "SELECT COUNT(*) FROM connections").await,
            (CALLERS * 3) as i64,
            "{l}"
        );
    }
}
