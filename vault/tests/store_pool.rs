//! The store's pool on PostgreSQL: a busy pool hands its connections out without a ping (a
//! round trip each), so a connection the server dropped while it sat idle must still be caught
//! before it is used — the one idle long enough is pinged, found dead and replaced.

use nexus_vault::store::Store;
use nexus_vault::testing::{pg_db, test_vault};
use sqlx::{AnyConnection, AssertSqlSafe, Connection, Row};
use std::time::Duration;

#[tokio::test]
async fn a_connection_dropped_by_the_server_while_idle_is_replaced_before_use() {
    let Some(db) = pg_db().await else { return };
    let store = Store::connect_sized(&db.url, test_vault(), Some(1))
        .await
        .expect("connect");
    store.ping().await.expect("first query");

    // The server ends the pool's only connection (as a restart or an idle-session timeout does).
    let mut admin = AnyConnection::connect(&db.url).await.expect("admin");
    let store_backends = "FROM pg_stat_activity WHERE datname = current_database() \
                          AND backend_type = 'client backend' AND pid <> pg_backend_pid()";
    let terminate = format!("SELECT pg_terminate_backend(pid) {store_backends}");
    sqlx::query(AssertSqlSafe(terminate))
        .execute(&mut admin)
        .await
        .expect("terminate");
    // Termination is asynchronous: wait until the server lists no backend of the store.
    let count = format!("SELECT count(*) AS n {store_backends}");
    for _ in 0..1000 {
        let row = sqlx::query(AssertSqlSafe(count.as_str()))
            .fetch_one(&mut admin)
            .await
            .expect("count");
        if row.get::<i64, _>("n") == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // The connection has now been idle past the store's ping threshold (1 s): it is checked
    // when handed out, and the query runs on a new one instead of failing.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    store
        .ping()
        .await
        .expect("a dead idle connection is replaced");
}
