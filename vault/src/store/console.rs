//! The console's connection list: filters and keyset pagination on `(updated_at, id)`, newest
//! first. Never OFFSET (a deep page costs the same as the first) and never COUNT per page. The
//! indexes are in migrations 0011-0014 and 0020 (health; built CONCURRENTLY on PostgreSQL).

use super::connections::{COLUMNS, ConnectionRow, connection_from_row};
use super::{Store, StoreError};

/// Equality filters; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsoleFilter {
    pub workspace_id: Option<String>,
    pub provider_name: Option<String>,
    pub status: Option<String>,
    pub user_id: Option<String>,
    /// `ok`, `failing` or `needs_reauth` (`connections.health`).
    pub health: Option<String>,
}

impl Store {
    /// Up to `limit` connections matching `filter` that come after `after` (`(updated_at, id)`
    /// of the last row of the previous page) in `(updated_at DESC, id DESC)` order.
    pub async fn console_connections(
        &self,
        filter: &ConsoleFilter,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<ConnectionRow>, StoreError> {
        let (sql, values) = console_sql(filter, after.is_some());
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for v in values {
            query = query.bind(v);
        }
        if let Some((at, id)) = after {
            query = query.bind(at).bind(id);
        }
        let rows = query.bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(connection_from_row).collect()
    }
}

/// The console's statement for `filter` (with a keyset position when `after`) and the filter
/// values in bind order; then come the position's two values and the limit. Public so the
/// plan-shape test EXPLAINs exactly what the console sends.
pub fn console_sql(filter: &ConsoleFilter, after: bool) -> (String, Vec<&str>) {
    // Only fixed column names are written into the SQL; every value is a bound parameter.
    let mut clauses: Vec<String> = Vec::new();
    let mut values: Vec<&str> = Vec::new();
    for (column, value) in [
        ("workspace_id", &filter.workspace_id),
        ("provider_name", &filter.provider_name),
        ("status", &filter.status),
        ("user_id", &filter.user_id),
        ("health", &filter.health),
    ] {
        if let Some(v) = value {
            values.push(v);
            clauses.push(format!("{column} = ${}", values.len()));
        }
    }
    let n = values.len();
    if after {
        clauses.push(format!("(updated_at, id) < (${}, ${})", n + 1, n + 2));
    }
    let condition = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let limit_param = n + if after { 3 } else { 1 };
    let sql = format!(
        "SELECT {COLUMNS} FROM connections {condition} ORDER BY updated_at DESC, id DESC LIMIT ${limit_param}"
    );
    (sql, values)
}
