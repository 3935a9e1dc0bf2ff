//! Audit appends on PostgreSQL without a transaction when this process wrote the chain's head.
//!
//! The locking append ([`super::audit_batch`]) costs seven round trips per batch: `BEGIN`, make
//! sure the head row exists, lock and read it, draw ids, insert, move the head, `COMMIT`. But a
//! process that wrote a chain's last batch already knows its head, and usually nobody else has
//! appended since (one broker per chain most of the time). Then one statement does it all: it
//! moves the head *only if it is still the hash this process wrote* (compare-and-set on the head
//! row, which waits for and then re-checks any writer holding the row's lock) and inserts the
//! records only if the head moved. A single statement commits atomically, so either the records
//! and the new head are both durable when it returns, or neither was written (another writer
//! got there first: the caller falls back to the locking append, which reads the real head).
//! The chain, the records and the head are exactly what the locking append writes, so
//! `nexus audit verify` and other processes see no difference.

use super::audit_batch::{AnyQuery, COLUMNS, INSERT_CHUNK, Linked, OwnedRecord, bind_record};
use super::{Store, StoreError};
use parking_lot::Mutex;
use std::collections::HashMap;

/// Chains remembered before the memory is cleared (a cleared chain costs one locking append).
const REMEMBERED: usize = 10_000;

/// Per chain, the head hash this process's last append to it left (PostgreSQL only).
#[derive(Default)]
pub(crate) struct KnownHeads(Mutex<HashMap<String, String>>);

impl KnownHeads {
    pub(super) fn remember(&self, chain: &str, head: String) {
        let mut heads = self.0.lock();
        if heads.len() >= REMEMBERED && !heads.contains_key(chain) {
            heads.clear();
        }
        heads.insert(chain.to_owned(), head);
    }

    fn get(&self, chain: &str) -> Option<String> {
        self.0.lock().get(chain).cloned()
    }

    fn forget(&self, chain: &str) {
        self.0.lock().remove(chain);
    }
}

impl Store {
    /// Append as many of `records` as possible after the head this process knows for `chain`,
    /// a chunk per statement; returns the ones left for the locking append (all of them when
    /// the head is unknown or another writer moved it).
    pub(super) async fn append_after_known_head<'r>(
        &self,
        chain: &str,
        mut records: &'r [OwnedRecord],
    ) -> Result<&'r [OwnedRecord], StoreError> {
        let heads = &self.audit_writer.heads;
        while !records.is_empty() {
            let Some(prev) = heads.get(chain) else {
                break;
            };
            let (chunk, rest) = records.split_at(records.len().min(INSERT_CHUNK));
            let (key_id, linked, head) = self.link_records(chain, prev.clone(), chunk);
            match self
                .insert_if_head_is(chain, &prev, &head, &key_id, &linked)
                .await
            {
                Ok(true) => {
                    heads.remember(chain, head);
                    records = rest;
                }
                Ok(false) => {
                    heads.forget(chain);
                    break;
                }
                Err(e) => {
                    // Committed or not, the head is no longer known for sure.
                    heads.forget(chain);
                    return Err(e);
                }
            }
        }
        Ok(records)
    }

    /// One statement: draw ids for `linked` (ascending in chain order), move the head from
    /// `prev` to `head`, and insert the records only if that move happened. `false`: the head
    /// was not `prev`, nothing was written.
    async fn insert_if_head_is(
        &self,
        chain: &str,
        prev: &str,
        head: &str,
        key_id: &str,
        linked: &[Linked<'_>],
    ) -> Result<bool, StoreError> {
        // Ids are matched to records by rank, not by the order in which the rows are evaluated,
        // so chain order and id order agree (`walk_chain` reads a chain by id).
        let values = (0..linked.len())
            .map(|r| {
                let first = 4 + r * 16;
                let params: Vec<String> = (first..first + 16).map(|p| format!("${p}")).collect();
                format!(
                    "({}, {}::bigint, {})",
                    r + 1,
                    params[0],
                    params[1..].join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "WITH ids AS (SELECT nextval(pg_get_serial_sequence('audit_events', 'id')) AS id \
               FROM generate_series(1, {n})), \
             ranked AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM ids), \
             head AS (UPDATE audit_chain_heads SET last_id = (SELECT max(id) FROM ids), last_hash = $1 \
               WHERE chain = $2 AND last_hash = $3 RETURNING chain) \
             INSERT INTO audit_events (id, {COLUMNS}) SELECT ranked.id, v.{cols} \
             FROM (VALUES {values}) AS v(n, {COLUMNS}) JOIN ranked ON ranked.n = v.n \
             WHERE EXISTS (SELECT 1 FROM head)",
            n = linked.len(),
            cols = COLUMNS.replace(", ", ", v."),
        );
        let mut q: AnyQuery<'_> = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(head)
            .bind(chain)
            .bind(prev);
        for r in linked {
            q = bind_record(q, r, chain, key_id);
        }
        let written = q.execute(&self.pool).await?.rows_affected();
        match written {
            0 => Ok(false),
            n if n == linked.len() as u64 => Ok(true),
            n => Err(StoreError::Corrupt(format!(
                "an audit append wrote {n} of {} records",
                linked.len()
            ))),
        }
    }
}
