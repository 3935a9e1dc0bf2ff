//! The upgrade tests' setup, once: a database at an older migration, as an older broker left it,
//! which the test fills and then upgrades to the latest schema by connecting a store.

use nexus_vault::testing::{TestDb, raw_pool};
use sqlx::Row;
use sqlx::migrate::Migrator;

/// The migration files of the database's dialect.
pub fn migration_dir(db: &TestDb) -> std::path::PathBuf {
    let dialect = if db.label == "postgres" {
        "postgres"
    } else {
        "sqlite"
    };
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect)
}

async fn migrator(db: &TestDb) -> Migrator {
    Migrator::new(migration_dir(db)).await.unwrap()
}

/// A database at migration `version` (every migration up to and including it has run); a plain
/// pool on it, to fill it as the older broker would have.
pub async fn migrated_to(db: &TestDb, version: i64) -> sqlx::AnyPool {
    let mut migrator = migrator(db).await;
    let older: Vec<_> = migrator
        .migrations
        .iter()
        .filter(|m| m.version <= version)
        .cloned()
        .collect();
    migrator.migrations = std::borrow::Cow::Owned(older);
    let pool = raw_pool(&db.url).await;
    migrator.run(&pool).await.unwrap();
    pool
}

/// A database at migration `first_new - 1` whose newer migrations are recorded as applied
/// (with their real checksums) without having run, so today's `Store` connects to the old
/// schema and fills it through its own code where the old and new statements agree. Call
/// [`run_newer`] before connecting the store that should upgrade it.
pub async fn old_schema_posing_as_current(db: &TestDb, first_new: i64) {
    let pool = migrated_to(db, first_new - 1).await;
    for m in migrator(db)
        .await
        .migrations
        .iter()
        .filter(|m| m.version >= first_new)
    {
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ($1, $2, TRUE, $3, 0)",
        )
        .bind(m.version)
        .bind(m.description.to_string())
        .bind(m.checksum.to_vec())
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
}

/// Undo [`old_schema_posing_as_current`]'s records: the next store to connect runs the
/// migrations from `first_new` on for real.
pub async fn run_newer(pool: &sqlx::AnyPool, first_new: i64) {
    exec(
        pool,
        &format!("DELETE FROM _sqlx_migrations WHERE version >= {first_new}"),
    )
    .await
    .unwrap();
}

pub async fn exec(pool: &sqlx::AnyPool, sql: &str) -> Result<u64, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
}

/// The workspaces `ids`, as rows an older broker wrote (the tenant rows of an upgrade test need
/// them).
pub async fn add_workspaces(pool: &sqlx::AnyPool, ids: &[&str]) {
    for ws in ids {
        exec(
            pool,
            &format!("INSERT INTO workspaces (id, created_at) VALUES ('{ws}', 1)"),
        )
        .await
        .unwrap();
    }
}

/// The first column of the first row, as an integer (a `COUNT(*)`).
pub async fn count(pool: &sqlx::AnyPool, sql: &str) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap()
}

/// PostgreSQL: the primary key's columns of `table`, in order, comma-separated.
pub async fn primary_key(pool: &sqlx::AnyPool, table: &str) -> String {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT string_agg(a.attname, ',' ORDER BY k.ord)::text AS cols FROM pg_index i \
         CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) \
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
         WHERE i.indrelid = '{table}'::regclass AND i.indisprimary"
    )))
    .fetch_one(pool)
    .await
    .unwrap()
    .try_get("cols")
    .unwrap()
}

/// PostgreSQL: nothing left half-done by an online migration (no constraint NOT VALID, no
/// INVALID index).
pub async fn assert_nothing_left_invalid(pool: &sqlx::AnyPool) {
    assert_eq!(
        count(
            pool,
            "SELECT COUNT(*) FROM pg_constraint WHERE NOT convalidated"
        )
        .await,
        0,
        "every constraint validated"
    );
    assert_eq!(
        count(pool, "SELECT COUNT(*) FROM pg_index WHERE NOT indisvalid").await,
        0,
        "no index left INVALID"
    );
}
