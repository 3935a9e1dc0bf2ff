//! Plan shape of the console's health filter at 100k connections (design 18 §8, migration 0020):
//! PostgreSQL answers a rare health's first and next pages from `connections_health_updated` in
//! keyset order, with no Sort node and no sequential scan. Plan shape, not timing. PostgreSQL
//! only (SQLite has no comparable planner output); skipped when it is not configured.

use nexus_vault::Vault;
use nexus_vault::store::console::{ConsoleFilter, console_sql};
use nexus_vault::testing::{pg_db, raw_pool, vault_config};
use sqlx::Row;

async fn plan(pool: &sqlx::AnyPool, sql: &str) -> String {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN (COSTS OFF) {sql}")))
        .fetch_all(pool)
        .await
        .expect("explain");
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_rare_health_pages_through_its_index_without_a_sort() {
    let Some(db) = pg_db().await else { return };
    // Migrations (0020 included) as a broker applies them.
    let _vault = Vault::start(vault_config(&db.url)).await.expect("vault");
    let pool = raw_pool(&db.url).await;
    for sql in [
        "INSERT INTO workspaces (id, created_at) SELECT 'ws' || g, 0 FROM generate_series(0, 9) g",
        "INSERT INTO connections (id, workspace_id, provider_name, user_id, status, scopes, created_at, updated_at, health) \
         SELECT 'c_' || lpad(g::text, 7, '0'), 'ws' || (g % 10), 'p' || (g % 5), 'u' || g, 'active', '[]', \
         1733000000000 + g * 1000, 1733000000000 + g * 1000, \
         CASE WHEN g % 5000 = 17 THEN 'failing' WHEN g % 3333 = 5 THEN 'needs_reauth' ELSE 'ok' END \
         FROM generate_series(1, 100000) g",
        "ANALYZE connections",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .expect("seed");
    }
    let filter = ConsoleFilter {
        health: Some("failing".into()),
        ..Default::default()
    };
    // The console's own statements with their values inlined (EXPLAIN takes no parameters).
    let (first, _) = console_sql(&filter, false);
    let first = first.replace("$1", "'failing'").replace("$2", "51");
    let (next, _) = console_sql(&filter, true);
    let next = next
        .replace("$1", "'failing'")
        .replace("$2", "1733050000000")
        .replace("$3", "'c_0050000'")
        .replace("$4", "51");
    for (page, sql) in [("first", first), ("next", next)] {
        let shape = plan(&pool, &sql).await;
        assert!(
            shape.contains("Index Scan using connections_health_updated"),
            "{page} page:\n{shape}"
        );
        assert!(!shape.contains("Sort"), "{page} page sorts:\n{shape}");
        assert!(!shape.contains("Seq Scan"), "{page} page scans:\n{shape}");
    }
}
