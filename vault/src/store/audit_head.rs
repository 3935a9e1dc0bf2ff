//! Audit appends on PostgreSQL without a transaction when this process wrote the chain's head.
//!
//! The locking append ([`super::audit_batch`]) costs five round trips per batch: `BEGIN`, make
//! sure the head row exists, lock and read it, insert and move the head, `COMMIT`. But a
//! process that wrote a chain's last batch already knows its head, and usually nobody else has
//! appended since (one broker per chain most of the time). Then one statement does it all: it
//! moves the head *only if it is still the hash this process wrote* (compare-and-set on the head
//! row, which waits for and then re-checks any writer holding the row's lock) and inserts the
//! records only if the head moved ([`super::audit_insert_pg`]). A single statement commits atomically, so either the records
//! and the new head are both durable when it returns, or neither was written (another writer
//! got there first: the caller falls back to the locking append, which reads the real head).
//! The chain, the records and the head are exactly what the locking append writes, so
//! `nexus audit verify` and other processes see no difference.

use super::audit_batch::OwnedRecord;
use super::audit_insert_pg::{CHUNK, insert_after_head};
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
            let (chunk, rest) = records.split_at(records.len().min(CHUNK));
            let (key_id, linked, head) = self.link_records(chain, prev, chunk);
            match insert_after_head(&self.pool, chain, &key_id, &linked).await {
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
}
