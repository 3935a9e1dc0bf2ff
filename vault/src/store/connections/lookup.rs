//! Reading connection rows: by key, for a resolve, and in a workspace's listings.

use super::{COLUMNS, ConnectionRow, connection_from_row};
use crate::store::providers::{ProviderColumns, StoredProvider, provider_from_columns};
use crate::store::{Store, StoreError};
use sqlx::Row;
use std::sync::LazyLock;

impl Store {
    /// [`Store::get_connection`] for callers that just wrote or claimed the row: `NotFound`
    /// when it is gone.
    pub(crate) async fn connection_in(
        &self,
        workspace_id: &str,
        id: &str,
    ) -> Result<ConnectionRow, StoreError> {
        self.get_connection(workspace_id, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("connection `{id}`")))
    }

    pub async fn get_connection(
        &self,
        workspace_id: &str,
        id: &str,
    ) -> Result<Option<ConnectionRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM connections WHERE workspace_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| connection_from_row(&r)).transpose()
    }

    /// The connection a resolve of `(workspace, provider)` uses: the most recently updated
    /// active one, else the most recent of any status (so the caller learns why it is unusable).
    /// Connections bound to an MCP user are not the workspace's to resolve and never chosen.
    /// Its provider comes with it (one round trip instead of two on every resolve; `None` when
    /// the provider row is gone). `providers` is a global table, not a tenant one, so this join
    /// stays local on a sharded database too (a reference table there).
    pub async fn find_connection_for(
        &self,
        workspace_id: &str,
        provider_name: &str,
    ) -> Result<Option<(ConnectionRow, Option<StoredProvider>)>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(RESOLVE_LOOKUP.as_str()))
            .bind(workspace_id)
            .bind(provider_name)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(resolve_pair_from_row)
            .transpose()
    }

    /// A workspace's connections in keyset order `(created_at, id)`: those after `after`
    /// (the key of the last row already seen), at most `limit` (all when `None`). A row
    /// inserted during a walk sorts after every row that existed before it started (its
    /// `created_at` is later or equal, then its id decides), so a walk sees each of those once.
    pub async fn list_connections(
        &self,
        workspace_id: &str,
        after: Option<(i64, &str)>,
        limit: Option<i64>,
    ) -> Result<Vec<ConnectionRow>, StoreError> {
        // Row-value comparison: served by the index `connections_workspace_created` on both
        // databases (migration 0008).
        let sql = format!(
            "SELECT {COLUMNS} FROM connections WHERE workspace_id = $1 \
             AND ($2 IS NULL OR (created_at, id) > ($2, $3)) ORDER BY created_at, id LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(after.map(|(at, _)| at))
            .bind(after.map(|(_, id)| id))
            .bind(limit.unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(connection_from_row).collect()
    }

    /// The connections of one end user (`None`: the workspace's own, without a user) in a
    /// workspace, the most useful first per provider: active, then needing repair, then the rest,
    /// newest first within each. Connections bound to an MCP user are not among them: a connect
    /// page is a link the workspace key makes for a user id of its choosing (one naming an MCP
    /// user's subject must not reach that user's connection).
    pub async fn connections_of_user(
        &self,
        workspace_id: &str,
        user_id: Option<&str>,
    ) -> Result<Vec<ConnectionRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM connections WHERE workspace_id = $1 \
             AND ((user_id IS NULL AND $2 IS NULL) OR user_id = $2) AND owner_kind IS NULL \
             ORDER BY provider_name, CASE status WHEN 'active' THEN 0 WHEN 'needs_reauth' THEN 1 \
             WHEN 'failed' THEN 2 WHEN 'pending' THEN 3 ELSE 4 END, updated_at DESC, id LIMIT 1000"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id)
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(connection_from_row).collect()
    }
}

/// The statement of [`Store::find_connection_for`] (and of its typed PostgreSQL twin,
/// `pg_lookup`), built once: the resolve path runs it on every request.
pub(in crate::store) static RESOLVE_LOOKUP: LazyLock<String> = LazyLock::new(|| {
    let columns = format!("c.{}", COLUMNS.replace(", ", ", c."));
    format!(
        "SELECT {columns}, p.id AS p_id, p.spec AS p_spec, p.client_secret IS NOT NULL AS p_has_secret, \
         p.created_at AS p_created_at, p.updated_at AS p_updated_at \
         FROM connections c LEFT JOIN providers p ON p.name = c.provider_name \
         WHERE c.workspace_id = $1 AND c.provider_name = $2 AND c.status <> 'revoked' \
         AND c.owner_kind IS NULL \
         ORDER BY CASE WHEN c.status = 'active' THEN 0 ELSE 1 END, c.updated_at DESC, c.id LIMIT 1"
    )
});

/// A row of [`RESOLVE_LOOKUP`] → the connection and its provider (`None`: the provider row is
/// gone), whichever driver read it.
pub(super) fn resolve_pair_from_row<R>(
    r: &R,
) -> Result<(ConnectionRow, Option<StoredProvider>), StoreError>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let provider = match r.try_get::<Option<String>, _>("p_id")? {
        Some(_) => Some(provider_from_columns(r, &ProviderColumns::JOINED)?),
        None => None,
    };
    Ok((connection_from_row(r)?, provider))
}

#[cfg(test)]
mod tests {
    use super::RESOLVE_LOOKUP;

    /// The planner uses `connections_resolve` (migration 0050) for the resolve's lookup only
    /// while the index's expression and predicate are the query's, so a change to one of them
    /// must be made to the other (on both backends): this test says so before a benchmark does.
    #[test]
    fn the_resolve_index_follows_the_lookup_word_for_word() {
        let unqualified = RESOLVE_LOOKUP.replace("c.", "");
        for migration in [
            include_str!("../../../migrations/postgres/0050_connections_resolve.sql"),
            include_str!("../../../migrations/sqlite/0050_connections_resolve.sql"),
        ] {
            let index = migration
                .lines()
                .find(|l| l.starts_with("CREATE INDEX"))
                .expect("the index");
            let (_, columns) = index.split_once(" ON connections (").expect("columns");
            let (columns, predicate) = columns.split_once(") WHERE ").expect("predicate");
            let predicate = predicate.trim_end_matches(';');
            let order = columns
                .replacen("workspace_id, provider_name, (", "", 1)
                .replacen("), updated_at", ", updated_at", 1);
            assert!(
                unqualified.contains(&format!("ORDER BY {order} LIMIT 1")),
                "{order}"
            );
            assert!(
                unqualified.contains(&format!(
                    "WHERE workspace_id = $1 AND provider_name = $2 AND {predicate} "
                )),
                "{predicate}"
            );
        }
    }
}
