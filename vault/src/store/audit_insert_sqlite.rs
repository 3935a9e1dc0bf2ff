//! SQLite's audit insert: the linked records of one group commit in a few multi-row `INSERT`s.
//!
//! One statement per record cost a round trip to the connection's worker thread each (sqlx runs
//! every SQLite statement on that thread: a channel send, a futex wake and a context switch both
//! ways), about half of the broker's CPU per proxied call. Multi-row statements were tried with
//! `$N` parameters and reverted: sqlx binds a named parameter by asking SQLite for each one's
//! name (`sqlite3_bind_parameter_name`, a linear scan of the statement's names), quadratic in
//! the statement's size. Anonymous `?` parameters have no name, so the lookup returns at once
//! and the binding is linear: each row's 16 values are bound in order, as [`bind_record`] binds
//! them.
//!
//! Row counts are powers of two up to [`CHUNK`] (a batch of 300 is 256 + 32 + 8 + 4), so a
//! connection prepares at most seven of these statements and keeps them cached.
//!
//! SQLite inserts the rows of a `VALUES` list one after the other, so their ids ascend in list
//! order: chain order and id order agree (`vault/tests/audit_group_commit.rs` checks it), and
//! the last row inserted is the chain's new head.

use super::StoreError;
use super::audit_batch::{AnyQuery, COLUMNS, Linked, bind_record};
use sqlx::Row;

/// Most rows per statement (1,024 parameters, far below SQLite's 32,766).
const CHUNK: usize = 64;

const PARAMS_PER_ROW: usize = 16;

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Insert `linked` in order; returns the id of the last record.
pub(super) async fn insert(
    tx: &mut Tx,
    chain: &str,
    key_id: &str,
    linked: &[Linked<'_>],
) -> Result<i64, StoreError> {
    if linked.is_empty() {
        return Err(StoreError::Corrupt("an empty audit insert".into()));
    }
    let mut rest = linked;
    while !rest.is_empty() {
        let rows = chunk_len(rest.len());
        let (chunk, tail) = rest.split_at(rows);
        let sql = statement(rows);
        let mut q: AnyQuery<'_> = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            q = bind_record(q, r, chain, key_id);
        }
        q.execute(&mut **tx).await?;
        rest = tail;
    }
    // The id of the last row inserted on this connection (the transaction's): the chain's new
    // head. (sqlx's `Any` driver does not pass SQLite's last insert id on; `RETURNING` would
    // send every row's id back through the worker's channel.)
    Ok(sqlx::query("SELECT last_insert_rowid() AS id")
        .fetch_one(&mut **tx)
        .await?
        .try_get("id")?)
}

/// The rows of the next statement: the largest power of two not above `left`, at most
/// [`CHUNK`].
fn chunk_len(left: usize) -> usize {
    if left >= CHUNK {
        CHUNK
    } else {
        1 << left.ilog2()
    }
}

/// `INSERT INTO audit_events (…) VALUES (?, …), …` for `rows` rows.
fn statement(rows: usize) -> String {
    let row = format!("({})", ["?"; PARAMS_PER_ROW].join(", "));
    let mut sql = format!("INSERT INTO audit_events ({COLUMNS}) VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&row);
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_powers_of_two_up_to_the_cap() {
        let split = |mut n: usize| {
            let mut out = Vec::new();
            while n > 0 {
                let c = chunk_len(n);
                out.push(c);
                n -= c;
            }
            out
        };
        assert_eq!(split(1), vec![1]);
        assert_eq!(split(300), vec![64, 64, 64, 64, 32, 8, 4]);
        assert_eq!(split(7), vec![4, 2, 1]);
        assert_eq!(split(128), vec![64, 64]);
    }

    #[test]
    fn statements_have_sixteen_anonymous_parameters_per_row() {
        let sql = statement(3);
        assert_eq!(sql.matches('?').count(), 48);
        assert!(
            !sql.contains('$'),
            "named parameters are bound by a quadratic lookup"
        );
        assert_eq!(sql.matches("), (").count(), 2);
        assert_eq!(COLUMNS.split(',').count(), PARAMS_PER_ROW);
    }
}
