//! PostgreSQL: a batch of audit records written by one statement whatever its size.
//!
//! A multi-row `VALUES` list with 16 parameters per record is a different statement for every
//! row count: up to 64 prepared statements per connection (each parsed and planned once per
//! connection, each taking a place in sqlx's statement cache) and up to 1,027 parameters sent
//! per batch. Here the batch travels as one JSON text parameter that the server expands with
//! `json_to_recordset`, so every batch size is the same prepared statement. JSON strings
//! carry text exactly (every character escaped or not comes back as it was sent), so the
//! stored records — and their hashes — are what the per-column binds wrote.
//!
//! The record's id is drawn in the same statement and matched to the record by rank (the
//! `n`-th smallest id to the `n`-th record), so chain order and id order agree (`walk_chain`
//! reads a chain by id) whatever order the server evaluates rows in.

use super::audit_batch::Linked;
use super::{Store, StoreError};
use serde::Serialize;
use sqlx::Row;

/// The batch as rows with their rank; the chain and its key id are the same for every record
/// of a batch, so they are bound once (`$chain`, `$key` below).
const RECORDS: &str = "json_to_recordset($JSON::json) AS v(n bigint, at bigint, \
    workspace_id text, action text, target text, principal text, outcome text, \
    request_id text, detail text, prev_hash text, hash text, agent_id text, session_id text, \
    user_subject text, client_request_id text)";

/// One id per record, ranked ascending (the `n`-th smallest goes to the `n`-th record).
const IDS: &str = "ids AS (SELECT nextval(pg_get_serial_sequence('audit_events', 'id')) AS id \
      FROM generate_series(1, $COUNT::bigint)), \
    ranked AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM ids)";

/// The insert; `$HEAD` decides whether it happens at all.
const INSERT: &str = "ins AS (INSERT INTO audit_events (id, at, workspace_id, action, target, \
      principal, outcome, request_id, detail, prev_hash, hash, agent_id, session_id, \
      user_subject, chain, client_request_id, mac_key) \
      SELECT ranked.id, v.at, v.workspace_id, v.action, v.target, v.principal, v.outcome, \
      v.request_id, v.detail, v.prev_hash, v.hash, v.agent_id, v.session_id, v.user_subject, \
      $CHAIN::text, v.client_request_id, $KEY::text \
      FROM v JOIN ranked ON ranked.n = v.n WHERE $HEAD RETURNING id)";

/// `RECORDS`, `IDS` and `INSERT` with their placeholders numbered.
fn parts(json: &str, count: &str, chain: &str, key: &str, head: &str) -> (String, String, String) {
    (
        RECORDS.replace("$JSON", json),
        IDS.replace("$COUNT", count),
        INSERT
            .replace("$CHAIN", chain)
            .replace("$KEY", key)
            .replace("$HEAD", head),
    )
}

/// Inside the transaction that holds the head's lock: insert, return the last id.
fn locked_sql() -> String {
    let (records, ids, insert) = parts("$3", "$2", "$1", "$4", "true");
    format!(
        "WITH v AS (SELECT * FROM {records}), {ids}, {insert} SELECT max(id) AS last_id FROM ins"
    )
}

/// Without a transaction: move the head from `$3` to `$1` and insert only if it moved (a
/// single statement commits atomically); returns how many records were written.
fn after_head_sql() -> String {
    let (records, ids, insert) = parts("$5", "$4", "$2", "$6", "EXISTS (SELECT 1 FROM head)");
    format!(
        "WITH v AS (SELECT * FROM {records}), {ids}, \
         head AS (UPDATE audit_chain_heads SET last_id = (SELECT max(id) FROM ids), last_hash = $1 \
           WHERE chain = $2 AND last_hash = $3 RETURNING chain), \
         {insert} SELECT count(*) AS written FROM ins"
    )
}

static LOCKED_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(locked_sql);
static AFTER_HEAD_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(after_head_sql);

#[derive(Serialize)]
struct JsonRecord<'a> {
    n: usize,
    at: i64,
    workspace_id: Option<&'a str>,
    action: &'a str,
    target: Option<&'a str>,
    principal: &'a str,
    outcome: &'a str,
    request_id: &'a str,
    detail: Option<&'a str>,
    prev_hash: &'a str,
    hash: &'a str,
    agent_id: Option<&'a str>,
    session_id: Option<&'a str>,
    user_subject: Option<&'a str>,
    client_request_id: Option<&'a str>,
}

/// The batch as the JSON array `RECORDS` expands, ranked from 1 in chain order.
fn records_json(linked: &[Linked<'_>]) -> Result<String, StoreError> {
    let rows: Vec<JsonRecord<'_>> = linked
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let e = r.record;
            JsonRecord {
                n: i + 1,
                at: r.at,
                workspace_id: e.workspace_id.as_deref(),
                action: e.action.as_ref(),
                target: e.target.as_deref(),
                principal: &e.principal,
                outcome: &e.outcome,
                request_id: &r.request_id,
                detail: e.detail.as_deref(),
                prev_hash: &r.prev_hash,
                hash: &r.hash,
                agent_id: e.agent_id.as_deref(),
                session_id: e.session_id.as_deref(),
                user_subject: e.user_subject.as_deref(),
                client_request_id: e.client_request_id.as_deref(),
            }
        })
        .collect();
    serde_json::to_string(&rows).map_err(|e| StoreError::Corrupt(format!("audit batch: {e}")))
}

/// In the locking transaction: insert `linked` and return the id of the last one.
pub(super) async fn insert_locked(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    chain: &str,
    key_id: &str,
    linked: &[Linked<'_>],
) -> Result<i64, StoreError> {
    let last: Option<i64> = sqlx::query(sqlx::AssertSqlSafe(LOCKED_SQL.as_str()))
        .bind(chain)
        .bind(linked.len() as i64)
        .bind(records_json(linked)?)
        .bind(key_id)
        .fetch_one(&mut **tx)
        .await?
        .try_get("last_id")?;
    last.ok_or_else(|| StoreError::Corrupt("an audit batch drew no ids".into()))
}

impl Store {
    /// One statement: draw ids for `linked`, move the head from `prev` to `head`, and insert
    /// the records only if that move happened. `false`: the head was not `prev`, nothing was
    /// written.
    pub(super) async fn insert_if_head_is(
        &self,
        chain: &str,
        prev: &str,
        head: &str,
        key_id: &str,
        linked: &[Linked<'_>],
    ) -> Result<bool, StoreError> {
        let written: i64 = sqlx::query(sqlx::AssertSqlSafe(AFTER_HEAD_SQL.as_str()))
            .bind(head)
            .bind(chain)
            .bind(prev)
            .bind(linked.len() as i64)
            .bind(records_json(linked)?)
            .bind(key_id)
            .fetch_one(&self.pool)
            .await?
            .try_get("written")?;
        match written {
            0 => Ok(false),
            n if n == linked.len() as i64 => Ok(true),
            n => Err(StoreError::Corrupt(format!(
                "an audit append wrote {n} of {} records",
                linked.len()
            ))),
        }
    }
}
