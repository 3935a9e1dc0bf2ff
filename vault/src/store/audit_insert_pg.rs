//! PostgreSQL's audit insert: the linked records of a batch in one statement of one shape,
//! whatever the batch's size.
//!
//! A multi-row `VALUES` list is a different statement for every row count (16 parameters a row):
//! with 64 sizes over a pool of connections, nearly every batch met a statement its connection
//! had not planned often enough to settle on a generic plan, and PostgreSQL planned a 1,000-
//! parameter statement afresh each time (pg_stat_statements, session 9: 1,116 plans for 1,232
//! batches, planning ~40 % of the statement's server time). Here each column travels as one
//! array (`unnest`), so a connection prepares this statement once and reuses its plan.
//!
//! The arrays are bound as text ([`super::pg_array`]) and cast in the statement.
//!
//! The statement also moves the chain's head from the hash the records link to (compare-and-
//! set), and inserts only if that move happened: the append without a transaction
//! ([`super::audit_head`]) needs nothing else, and the locking append runs it after locking the
//! head row.

use super::StoreError;
use super::audit_batch::Linked;
use super::pg_array::{bigint_array, text_array};
use sqlx::{Any, Executor};

/// Most records one statement carries (a longer batch is written as several, in order).
pub(super) const CHUNK: usize = 512;

/// The statement, around `$head`: a CTE named `head` that moves or creates the chain's head
/// row and returns a row only if it did. `$1` new head, `$2` chain, `$3` the head the records
/// link to, `$4` mac key id, `$5..` one array per record column ([`ARRAY_COLUMNS`], in that
/// order). Ids are drawn from the table's sequence and matched to the records by rank, not by
/// the order in which rows are evaluated, so chain order and id order agree (`walk_chain` reads
/// a chain by id). The sequence is named (the one `BIGSERIAL` created in migration 0001) so the
/// server resolves it once, when the statement is prepared; `pg_get_serial_sequence` would cost
/// a catalog lookup per batch.
macro_rules! insert_with_head {
    ($head:literal) => {
        concat!(
            "WITH v AS (SELECT * FROM unnest($5::bigint[], $6::text[], $7::text[], $8::text[], \
             $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], \
             $15::text[], $16::text[], $17::text[], $18::text[]) WITH ORDINALITY AS v(at, \
             workspace_id, action, target, principal, outcome, request_id, detail, prev_hash, \
             hash, agent_id, session_id, user_subject, client_request_id, n)), \
             ids AS (SELECT nextval('audit_events_id_seq') AS id FROM v), \
             ranked AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM ids), ",
            $head,
            " INSERT INTO audit_events (id, at, workspace_id, action, target, principal, \
             outcome, request_id, detail, prev_hash, hash, agent_id, session_id, user_subject, \
             chain, client_request_id, mac_key) \
             SELECT ranked.id, v.at, v.workspace_id, v.action, v.target, v.principal, \
             v.outcome, v.request_id, v.detail, v.prev_hash, v.hash, v.agent_id, v.session_id, \
             v.user_subject, $2, v.client_request_id, $4 \
             FROM v JOIN ranked ON ranked.n = v.n WHERE EXISTS (SELECT 1 FROM head)"
        )
    };
}

/// Moves the head row from `$3` (compare-and-set: the row's lock is waited for and the
/// condition re-checked on the row another writer left).
pub(super) const INSERT_AFTER_HEAD: &str = insert_with_head!(
    "head AS (UPDATE audit_chain_heads SET last_id = (SELECT max(id) FROM ids), last_hash = $1 \
     WHERE chain = $2 AND last_hash = $3 RETURNING chain)"
);

/// Creates the head row of a chain that has none (its first records link to `''`, as the
/// locking append's new head row does); when another writer created it first (the primary
/// key's conflict, waited for if uncommitted), nothing is written.
pub(super) const INSERT_AT_GENESIS: &str = insert_with_head!(
    "head AS (INSERT INTO audit_chain_heads (chain, last_id, last_hash) \
     SELECT $2, max(id), $1 FROM ids WHERE $3::text = '' \
     ON CONFLICT (chain) DO NOTHING RETURNING chain)"
);

/// The per-record columns bound as arrays, in the statement's order (`at` is the bigint one).
#[cfg(test)]
const ARRAY_COLUMNS: [&str; 14] = [
    "at",
    "workspace_id",
    "action",
    "target",
    "principal",
    "outcome",
    "request_id",
    "detail",
    "prev_hash",
    "hash",
    "agent_id",
    "session_id",
    "user_subject",
    "client_request_id",
];

/// How the statement moves the chain's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HeadMove {
    /// From the hash `linked[0].prev_hash` to the last record's (compare-and-set). Nothing is
    /// written when the head was not that hash.
    After,
    /// A chain without a head row: the row is created at the last record's hash (`linked`
    /// starts from `''`). Nothing is written when another writer created it first.
    Genesis,
}

/// Insert `linked` (one chain's records, linked one after the other from `linked[0].prev_hash`)
/// and move `chain`'s head as `head` says, in one statement. `false`: the head was not where
/// the records expected it, nothing was written.
pub(super) async fn insert<'e, E>(
    head: HeadMove,
    exec: E,
    chain: &str,
    key_id: &str,
    linked: &[Linked<'_>],
) -> Result<bool, StoreError>
where
    E: Executor<'e, Database = Any>,
{
    let (Some(first), Some(last)) = (linked.first(), linked.last()) else {
        return Err(StoreError::Corrupt("an empty audit insert".into()));
    };
    let at = bigint_array(linked.iter().map(|r| r.at));
    let text = |f: for<'r> fn(&'r Linked<'_>) -> Option<&'r str>| text_array(linked.iter().map(f));
    let statement = match head {
        HeadMove::After => INSERT_AFTER_HEAD,
        HeadMove::Genesis => INSERT_AT_GENESIS,
    };
    let written = sqlx::query(statement)
        .bind(last.hash.as_str())
        .bind(chain)
        .bind(first.prev_hash.as_str())
        .bind(key_id)
        .bind(at)
        .bind(text(|r| r.record.workspace_id.as_deref()))
        .bind(text(|r| Some(r.record.action.as_ref())))
        .bind(text(|r| r.record.target.as_deref()))
        .bind(text(|r| Some(r.record.principal.as_str())))
        .bind(text(|r| Some(r.record.outcome.as_str())))
        .bind(text(|r| Some(r.request_id.as_str())))
        .bind(text(|r| r.record.detail.as_deref()))
        .bind(text(|r| Some(r.prev_hash.as_str())))
        .bind(text(|r| Some(r.hash.as_str())))
        .bind(text(|r| r.record.agent_id.as_deref()))
        .bind(text(|r| r.record.session_id.as_deref()))
        .bind(text(|r| r.record.user_subject.as_deref()))
        .bind(text(|r| r.record.client_request_id.as_deref()))
        .execute(exec)
        .await?
        .rows_affected();
    match written {
        0 => Ok(false),
        n if n == linked.len() as u64 => Ok(true),
        n => Err(StoreError::Corrupt(format!(
            "an audit append wrote {n} of {} records",
            linked.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statement names each array column once, in [`ARRAY_COLUMNS`]' order, and writes
    /// every column of `audit_events` the other backends write.
    #[test]
    fn the_statement_unnests_one_array_per_record_column() {
        for statement in [INSERT_AFTER_HEAD, INSERT_AT_GENESIS] {
            let arrays = statement.matches("[]").count();
            assert_eq!(arrays, ARRAY_COLUMNS.len());
            let alias = ARRAY_COLUMNS.join(", ") + ", n)";
            assert!(statement.contains(&alias), "{alias}");
            for column in super::super::audit_batch::COLUMNS.split(", ") {
                assert!(statement.contains(column), "{column}");
            }
        }
    }
}
