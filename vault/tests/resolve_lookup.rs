//! The resolve lookup (issue 20, cold path) on both databases: the connection and its provider
//! come back from one query, the provider exactly as `get_provider` reads it, and the lookup
//! still picks the same row (active first, newest first, never an MCP user's); and the gate
//! that bounds how many of those lookups run at once (`NEXUS_DATABASE_LOOKUP_SLOTS`); on
//! PostgreSQL, the lookup's own connections and their recovery.

use nexus_protocol::{ConnectionStatus, Credentials};
use nexus_vault::connections::lookup_gate::{LookupGate, LookupGateStats};
use nexus_vault::providers::ProviderInput;
use nexus_vault::store::Store;
use nexus_vault::store::connections::NewConnection;
use nexus_vault::testing::{all_dbs, pg_db, raw_pool, store_for, vault_config};
use nexus_vault::{Caller, Vault};
use sqlx::{Connection, Executor};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Store the provider `spec` describes, as the admin API would.
async fn put_provider(store: &Store, spec: serde_json::Value) {
    let input: ProviderInput = serde_json::from_value(spec).unwrap();
    let (provider, secret) = input.resolve().unwrap();
    store
        .upsert_provider(&provider, secret.as_ref(), false)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_connection_comes_with_its_provider_in_one_lookup() {
    for db in all_dbs().await {
        let store = store_for(&db).await;
        let l = db.label;
        store.create_workspace("w1", None).await.unwrap();
        put_provider(
            &store,
            serde_json::json!({
                "name": "github", "catalog": "github", "client_id": "cid", "client_secret": "s3cret"
            }),
        )
        .await;
        let connect = |status, bound| NewConnection {
            workspace_id: "w1",
            provider_name: "github",
            user_id: Some("u1"),
            status,
            scopes: &[],
            tokens: None,
            credentials: None,
            bound_to_mcp_user: bound,
        };
        let active = store
            .insert_connection(connect(ConnectionStatus::Active, false))
            .await
            .unwrap();
        // Newer, but neither may win: one needs re-authorization, one is an MCP user's own.
        store
            .insert_connection(connect(ConnectionStatus::NeedsReauth, false))
            .await
            .unwrap();
        store
            .insert_connection(connect(ConnectionStatus::Active, true))
            .await
            .unwrap();

        let (row, joined) = store
            .find_connection_for("w1", "github")
            .await
            .unwrap()
            .expect("a connection");
        assert_eq!(row.id, active.id, "{l}");
        assert_eq!(row.status, ConnectionStatus::Active, "{l}");
        let joined = joined.expect("its provider");
        let read = store.get_provider("github").await.unwrap().unwrap();
        assert_eq!(joined.id, read.id, "{l}");
        assert_eq!(joined.provider, read.provider, "{l}");
        assert!(joined.has_client_secret, "{l}");
        assert_eq!(joined.created_at, read.created_at, "{l}");
        assert_eq!(joined.updated_at, read.updated_at, "{l}");

        // The provider row gone: the connection is still found, without a provider.
        assert!(store.delete_provider("github").await.unwrap());
        let (row, joined) = store
            .find_connection_for("w1", "github")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.id, active.id, "{l}");
        assert!(joined.is_none(), "{l}");
        assert!(
            store
                .find_connection_for("w1", "gitlab")
                .await
                .unwrap()
                .is_none(),
            "{l}"
        );
    }
}

/// Wait until `ready` holds (it is polled; the deadline only turns a hang into a failure).
async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut ready: impl FnMut() -> F,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready().await {
        assert!(Instant::now() < deadline, "never reached: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn the_gate_holds_lookups_to_its_slots_and_a_cancelled_one_gives_its_slot_back() {
    let gate = Arc::new(LookupGate::new(2));
    // Every lookup blocks until the test lets it finish; `entered` says which ones started.
    let finish = Arc::new(tokio::sync::Semaphore::new(0));
    let entered = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..5)
        .map(|i| {
            let (gate, finish, entered) = (gate.clone(), finish.clone(), entered.clone());
            tokio::spawn(async move {
                gate.run(async {
                    entered.lock().unwrap().push(i);
                    finish.acquire().await.unwrap().forget();
                })
                .await
            })
        })
        .collect();
    let stats = |waiting, in_flight| LookupGateStats {
        size: 2,
        waiting,
        in_flight,
        high_water: 2,
    };
    let at = |waiting, in_flight| {
        let gate = gate.clone();
        move || {
            let now = gate.stats();
            async move { now == stats(waiting, in_flight) }
        }
    };
    eventually("2 lookups in flight, 3 waiting", at(3, 2)).await;
    assert_eq!(entered.lock().unwrap().len(), 2);

    // A request cancelled during its lookup gives its slot to the next one in line.
    let holder = entered.lock().unwrap()[0];
    tasks[holder].abort();
    eventually("the next lookup took the freed slot", at(2, 2)).await;
    assert_eq!(entered.lock().unwrap().len(), 3);
    // One cancelled while it waits leaves the queue.
    let waiter = (0..5)
        .find(|i| !entered.lock().unwrap().contains(i))
        .unwrap();
    tasks[waiter].abort();
    eventually("the cancelled waiter left the queue", at(1, 2)).await;
    assert_eq!(entered.lock().unwrap().len(), 3);

    finish.add_permits(5);
    for (i, task) in tasks.into_iter().enumerate() {
        if i != holder && i != waiter {
            task.await.unwrap();
        }
    }
    assert_eq!(gate.stats(), stats(0, 0));
    assert_eq!(entered.lock().unwrap().len(), 4);
}

/// Through the real resolve path: with the `connections` table locked by another transaction,
/// lookups hang in PostgreSQL; with 2 slots, only 2 of 5 concurrent resolves reach it.
#[tokio::test]
async fn resolves_beyond_the_slots_wait_in_the_broker_not_in_postgres() {
    let Some(db) = pg_db().await else { return };
    let mut config = vault_config(&db.url);
    config.database_lookup_slots = Some(2);
    let vault = Arc::new(Vault::start(config).await.unwrap());
    vault.store().create_workspace("w1", None).await.unwrap();
    let mut lock = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    lock.execute("BEGIN").await.unwrap();
    lock.execute("LOCK TABLE connections IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();

    let resolves: Vec<_> = (0..5)
        .map(|_| {
            let vault = vault.clone();
            tokio::spawn(async move {
                let caller = Caller::admin(None);
                vault
                    .connections()
                    .resolve("w1", "github", None, false, &caller)
                    .await
            })
        })
        .collect();
    let watch = raw_pool(&db.url).await;
    let blocked_in_pg = || {
        let watch = watch.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(&watch)
            .await
            .unwrap()
        }
    };
    let gate = || vault.connections().lookup_gate().stats();
    eventually(
        "2 lookups blocked in PostgreSQL, 3 waiting for a slot",
        || async {
            let stats = gate();
            stats.in_flight == 2 && stats.waiting == 3 && blocked_in_pg().await == 2
        },
    )
    .await;
    assert_eq!(
        blocked_in_pg().await,
        2,
        "only the slots' lookups reach the database"
    );

    lock.execute("COMMIT").await.unwrap();
    for resolve in resolves {
        // No provider `github`: every resolve ends with its typed refusal, none hangs.
        let refused = resolve.await.unwrap().unwrap_err();
        assert_eq!(refused.code().to_string(), "provider_not_found");
    }
    let stats = gate();
    assert_eq!(
        (stats.in_flight, stats.waiting, stats.high_water),
        (0, 0, 2)
    );
}

/// On PostgreSQL the resolve lookup runs on connections of its own, kept between lookups
/// without a ping: one the server closed meanwhile (a restart, an operator's terminate) is
/// replaced and the resolve still answers. The store's pool pings only a connection idle for a
/// second or more, so when *every* backend is closed at once, a resolve whose audit record met a
/// dead pooled connection fails with the typed, retryable `upstream_unavailable` (its result
/// withheld, nothing handed out), and the resolves after it answer again.
#[tokio::test]
async fn a_lookup_connection_the_server_closed_is_replaced_without_a_failed_resolve() {
    let Some(db) = pg_db().await else { return };
    let vault = Vault::start(vault_config(&db.url)).await.unwrap();
    let store = vault.store();
    store.create_workspace("w1", None).await.unwrap();
    put_provider(
        store,
        serde_json::json!({ "name": "crm", "auth_type": "api_key" }),
    )
    .await;
    let mut creds = Credentials::default();
    creds.insert("api_key", "k-123");
    let row = store
        .insert_connection(NewConnection {
            workspace_id: "w1",
            provider_name: "crm",
            user_id: None,
            status: ConnectionStatus::Active,
            scopes: &[],
            tokens: None,
            credentials: Some(&creds),
            bound_to_mcp_user: false,
        })
        .await
        .unwrap();
    let caller = Caller::admin(None);
    let resolve = || {
        vault
            .connections()
            .resolve("w1", "crm", None, false, &caller)
    };
    let first = resolve().await.unwrap();
    assert_eq!(first.access_token.unwrap().expose(), "k-123");
    assert_eq!(first.connection_id.as_deref(), Some(row.id.as_str()));

    let watch = raw_pool(&db.url).await;
    let terminate = |only_lookups: bool| {
        let watch = watch.clone();
        async move {
            let filter = if only_lookups {
                // A backend's last statement: the lookup's connections ran nothing else.
                "AND query LIKE '%FROM connections c LEFT JOIN providers p%'"
            } else {
                ""
            };
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() {filter}) t"
            )))
            .fetch_one(&watch)
            .await
            .unwrap()
        }
    };
    // The lookup's backend shows its statement once the server has reported it (it may lag the
    // answer by a moment).
    let lookup_backends = || {
        let watch = watch.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() \
                 AND query LIKE '%FROM connections c LEFT JOIN providers p%'",
            )
            .fetch_one(&watch)
            .await
            .unwrap()
                > 0
        }
    };
    eventually("the lookup's connection is seen", lookup_backends).await;
    assert!(terminate(true).await >= 1, "the lookup's connection");
    for _ in 0..3 {
        let again = resolve()
            .await
            .expect("a resolve after the lookup's connections were closed");
        assert_eq!(again.access_token.unwrap().expose(), "k-123");
        assert_eq!(again.connection_id.as_deref(), Some(row.id.as_str()));
    }

    assert!(
        terminate(false).await >= 2,
        "the pool's and the lookup's connections"
    );
    // Each dead pooled connection can cost one resolve, typed and retryable; the pool holds few.
    let mut answered_in_a_row = 0;
    for _ in 0..20 {
        match resolve().await {
            Ok(again) => {
                assert_eq!(again.access_token.unwrap().expose(), "k-123");
                answered_in_a_row += 1;
                if answered_in_a_row == 3 {
                    break;
                }
            }
            Err(e) => {
                assert_eq!(e.code().to_string(), "upstream_unavailable", "{e:?}");
                answered_in_a_row = 0;
            }
        }
    }
    assert_eq!(
        answered_in_a_row, 3,
        "resolves answer again after the restart"
    );
}
