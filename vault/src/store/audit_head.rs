//! Audit appends on PostgreSQL without a transaction: compare-and-set on the chain's head.
//!
//! The locking append ([`super::audit_batch`]) costs five round trips per batch: `BEGIN`, make
//! sure the head row exists, lock and read it, insert and move the head, `COMMIT`. Instead one
//! statement ([`super::audit_insert_pg`]) moves the head *only if it is still the hash the
//! records were linked to* (compare-and-set on the head row, which waits for and then re-checks
//! any writer holding the row's lock) and inserts the records only if the head moved. A single
//! statement commits atomically, so either the records and the new head are both durable when
//! it returns, or neither was written.
//!
//! The hash to link to is the head this process's last append to the chain left, when it
//! remembers one; otherwise (first append of this process, after a restart, a forgotten chain)
//! or after a lost race (another broker appended meanwhile) it is read without a lock, one
//! autocommit `SELECT`. A read head may already be stale when the statement runs; the compare-
//! and-set then writes nothing and the append reads again, [`ATTEMPTS`] times in all, before
//! the locking append takes over. A chain with no head row yet (a workspace's first record
//! ever) is started the same way: its records link to `''`, as after the head row the locking
//! append creates, and the statement creates the row, unless another writer created it first
//! (then nothing is written and the append reads again). So a chain is never forked: every
//! committed batch links to the head it replaced. The records and the head are exactly what
//! the locking append writes, so `nexus audit verify` and other processes see no difference.

use super::audit_batch::OwnedRecord;
use super::audit_insert_pg::{CHUNK, insert_after_head, insert_at_genesis};
use super::{Store, StoreError};
use parking_lot::Mutex;
use std::collections::HashMap;

/// Chains whose head this process remembers. A chain not remembered costs one indexed read
/// more (two round trips instead of one), no lock, so the bound is about memory only: an entry
/// is a chain name and a 64-character hash, ~200 bytes with the map's overhead, ~13 MB when
/// full — a bound above the 10,000 workspaces of the 1M benchmark and most deployments.
const REMEMBERED: usize = 65_536;

/// Compare-and-set attempts per chunk (each after a read of the head) before the locking
/// append: a chain two brokers write in turns rarely loses twice in a row, and a chain they
/// fight over is better served by waiting on the row lock than by reading again.
const ATTEMPTS: usize = 3;

/// Per chain, the head hash this process's last append to it left (PostgreSQL only).
#[derive(Default)]
pub(crate) struct KnownHeads(Mutex<HashMap<String, String>>);

impl KnownHeads {
    pub(super) fn remember(&self, chain: &str, head: String) {
        let mut heads = self.0.lock();
        if let Some(known) = heads.get_mut(chain) {
            *known = head;
            return;
        }
        if heads.len() >= REMEMBERED {
            // One arbitrary chain is forgotten (its next append reads its head once), not all
            // of them at once: no cliff where every chain pays the read together.
            if let Some(evicted) = heads.keys().next().cloned() {
                heads.remove(&evicted);
            }
        }
        heads.insert(chain.to_owned(), head);
    }

    fn get(&self, chain: &str) -> Option<String> {
        self.0.lock().get(chain).cloned()
    }

    fn forget(&self, chain: &str) {
        self.0.lock().remove(chain);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().len()
    }
}

impl Store {
    /// Append as many of `records` as possible by compare-and-set on `chain`'s head, a chunk
    /// per statement; returns the ones left for the locking append (all of them when the head
    /// kept moving under this process).
    pub(super) async fn append_by_compare_and_set<'r>(
        &self,
        chain: &str,
        mut records: &'r [OwnedRecord],
    ) -> Result<&'r [OwnedRecord], StoreError> {
        let heads = &self.audit_writer.heads;
        let mut attempts = 0;
        while !records.is_empty() {
            if attempts == ATTEMPTS {
                break;
            }
            attempts += 1;
            // `None`: the chain has no head row yet.
            let prev = match heads.get(chain) {
                Some(prev) => Some(prev),
                None => self.read_head(chain).await?,
            };
            let (chunk, rest) = records.split_at(records.len().min(CHUNK));
            let genesis = prev.is_none();
            let (key_id, linked, head) = self.link_records(chain, prev.unwrap_or_default(), chunk);
            let written = if genesis {
                insert_at_genesis(&self.pool, chain, &key_id, &linked).await
            } else {
                insert_after_head(&self.pool, chain, &key_id, &linked).await
            };
            match written {
                Ok(true) => {
                    heads.remember(chain, head);
                    records = rest;
                    attempts = 0;
                }
                Ok(false) => heads.forget(chain),
                Err(e) => {
                    // Committed or not, the head is no longer known for sure.
                    heads.forget(chain);
                    return Err(e);
                }
            }
        }
        Ok(records)
    }

    /// The chain's committed head, read without a lock (`None`: no head row yet).
    async fn read_head(&self, chain: &str) -> Result<Option<String>, StoreError> {
        let head: Option<(String,)> =
            sqlx::query_as("SELECT last_hash FROM audit_chain_heads WHERE chain = $1")
                .bind(chain)
                .fetch_optional(&self.pool)
                .await?;
        Ok(head.map(|(h,)| h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_memory_forgets_one_chain_not_all() {
        let heads = KnownHeads::default();
        for i in 0..REMEMBERED {
            heads.remember(&format!("ws:{i}"), format!("h{i}"));
        }
        heads.remember("ws:0", "moved".into());
        assert_eq!(heads.len(), REMEMBERED);
        assert_eq!(heads.get("ws:0").as_deref(), Some("moved"));
        heads.remember("ws:new", "h".into());
        assert_eq!(heads.len(), REMEMBERED);
        assert_eq!(heads.get("ws:new").as_deref(), Some("h"));
        let kept = (0..REMEMBERED)
            .filter(|i| heads.get(&format!("ws:{i}")).is_some())
            .count();
        assert_eq!(kept, REMEMBERED - 1);
    }
}
