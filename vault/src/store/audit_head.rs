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
//!
//! At start-up the process loads the heads already written ([`Store::preload_audit_heads`], one
//! capped scan). When the table held fewer rows than this process remembers, the load is
//! *complete*: a chain not in it had no head row then, so its first append here goes straight
//! to the genesis statement, without reading first. The load is only a hint, as a remembered
//! head is: a head another writer moved, or a chain another writer started, since the load makes
//! that statement write nothing, and the chain is then read like any forgotten one.

use super::audit_batch::OwnedRecord;
use super::audit_insert_pg::{CHUNK, HeadMove, insert};
use super::{Store, StoreError};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Chains whose head this process remembers. A chain not remembered costs one indexed read
/// more (two round trips instead of one), no lock, so the bound is about memory only: an entry
/// is a chain name and a 64-character hash, ~200 bytes with the map's overhead, ~13 MB when
/// full — a bound above the 10,000 workspaces of the 1M benchmark and most deployments.
const REMEMBERED: usize = 65_536;

/// Compare-and-set attempts per chunk (each after a read of the head) before the locking
/// append: a chain two brokers write in turns rarely loses twice in a row, and a chain they
/// fight over is better served by waiting on the row lock than by reading again.
const ATTEMPTS: usize = 3;

/// What this process knows of a chain's head.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Known {
    /// The head hash this process last wrote or loaded (may be stale: the append then reads).
    At(String),
    /// No head row when the heads were loaded, and none written since by this process.
    Absent,
    /// Must be read: not loaded, or forgotten after a lost race or an error.
    Unknown,
}

/// A remembered chain: its head, or a marker that the head this process had is no longer
/// trusted — kept so that a complete map does not take the chain for one without a head row.
enum Entry {
    Head(String),
    Stale,
}

/// Per chain, the head hash this process's last append to it left, or loaded at start-up
/// (PostgreSQL only).
#[derive(Default)]
pub(crate) struct KnownHeads {
    inner: Mutex<Heads>,
    counts: Counts,
}

#[derive(Default)]
struct Heads {
    chains: HashMap<String, Entry>,
    /// Every chain with a head row at start-up is in `chains` and none was evicted since: a
    /// chain not in `chains` has no head row unless another process created it (then the
    /// genesis statement writes nothing, and the chain becomes [`Entry::Stale`]).
    complete: bool,
}

impl Heads {
    fn set(&mut self, chain: &str, entry: Entry) {
        if let Some(known) = self.chains.get_mut(chain) {
            *known = entry;
            return;
        }
        if self.chains.len() >= REMEMBERED {
            // One arbitrary chain is forgotten (its next append reads its head once), not all
            // of them at once: no cliff where every chain pays the read together. The map no
            // longer holds every chain with a head row.
            if let Some(evicted) = self.chains.keys().next().cloned() {
                self.chains.remove(&evicted);
                self.complete = false;
            }
        }
        self.chains.insert(chain.to_owned(), entry);
    }
}

impl KnownHeads {
    /// Take the heads loaded at start-up (`complete`: every head row was among them). Heads
    /// this process has written meanwhile are newer and stay.
    fn load(&self, loaded: Vec<(String, String)>, complete: bool) {
        let mut heads = self.inner.lock();
        for (chain, head) in loaded {
            if heads.chains.len() >= REMEMBERED {
                heads.complete = false;
                return;
            }
            heads.chains.entry(chain).or_insert(Entry::Head(head));
        }
        heads.complete = complete;
    }

    pub(super) fn remember(&self, chain: &str, head: String) {
        self.inner.lock().set(chain, Entry::Head(head));
    }

    fn get(&self, chain: &str) -> Known {
        let heads = self.inner.lock();
        match heads.chains.get(chain) {
            Some(Entry::Head(head)) => Known::At(head.clone()),
            Some(Entry::Stale) => Known::Unknown,
            None if heads.complete => Known::Absent,
            None => Known::Unknown,
        }
    }

    /// The chain's head is no longer known for sure: its next append reads it.
    fn forget(&self, chain: &str) {
        self.inner.lock().set(chain, Entry::Stale);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().chains.len()
    }
}

/// How appends by compare-and-set went in this process, to tell in tests how many round trips
/// an append cost (relaxed counters: one add per statement, next to a database round trip).
#[derive(Default)]
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
struct Counts {
    head_reads: AtomicU64,
    statements: AtomicU64,
    locked: AtomicU64,
}

/// [`Store::audit_head_stats`]: totals since the store was connected.
#[cfg(feature = "testing")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditHeadStats {
    /// Unlocked reads of a chain's head (`SELECT last_hash`).
    pub head_reads: u64,
    /// Compare-and-set or genesis statements, written or not.
    pub statements: u64,
    /// Batches (or their rest) handed to the locking append.
    pub locked: u64,
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
            // `None`: the chain has no head row yet (or had none when the heads were loaded).
            let prev = match heads.get(chain) {
                Known::At(prev) => Some(prev),
                Known::Absent => None,
                Known::Unknown => self.read_head(chain).await?,
            };
            let (chunk, rest) = records.split_at(records.len().min(CHUNK));
            let head_move = match prev {
                Some(_) => HeadMove::After,
                None => HeadMove::Genesis,
            };
            let (key_id, linked, head) = self.link_records(chain, prev.unwrap_or_default(), chunk);
            heads.counts.statements.fetch_add(1, Relaxed);
            let written = insert(head_move, &self.pool, chain, &key_id, &linked).await;
            match written {
                Ok(true) => {
                    heads.remember(chain, head);
                    records = rest;
                    attempts = 0;
                }
                // Another writer moved or created the head: read it next time, never assume
                // the chain is still without one.
                Ok(false) => heads.forget(chain),
                Err(e) => {
                    // Committed or not, the head is no longer known for sure.
                    heads.forget(chain);
                    return Err(e);
                }
            }
        }
        if !records.is_empty() {
            heads.counts.locked.fetch_add(1, Relaxed);
        }
        Ok(records)
    }

    /// Load the chains' heads (PostgreSQL, at start-up): one scan of the heads table, capped at
    /// what this process remembers. On failure the store starts anyway, reading each chain's
    /// head before its first append, as without the load.
    pub(super) async fn preload_audit_heads(&self) {
        let loaded: Result<Vec<(String, String)>, sqlx::Error> =
            sqlx::query_as("SELECT chain, last_hash FROM audit_chain_heads LIMIT $1")
                .bind(REMEMBERED as i64 + 1)
                .fetch_all(&self.pool)
                .await;
        match loaded {
            Ok(loaded) => {
                let complete = loaded.len() <= REMEMBERED;
                self.audit_writer.heads.load(loaded, complete);
            }
            // sqlx errors name the query and the database's error, never bound values.
            Err(e) => tracing::warn!(error = %e, "could not load the audit chains' heads"),
        }
    }

    /// How appends by compare-and-set went since this store was connected (shared by clones).
    #[cfg(feature = "testing")]
    pub fn audit_head_stats(&self) -> AuditHeadStats {
        let counts = &self.audit_writer.heads.counts;
        AuditHeadStats {
            head_reads: counts.head_reads.load(Relaxed),
            statements: counts.statements.load(Relaxed),
            locked: counts.locked.load(Relaxed),
        }
    }

    /// The chain's committed head, read without a lock (`None`: no head row yet).
    async fn read_head(&self, chain: &str) -> Result<Option<String>, StoreError> {
        self.audit_writer
            .heads
            .counts
            .head_reads
            .fetch_add(1, Relaxed);
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

    fn at(head: &str) -> Known {
        Known::At(head.into())
    }

    #[test]
    fn a_full_memory_forgets_one_chain_not_all() {
        let heads = KnownHeads::default();
        for i in 0..REMEMBERED {
            heads.remember(&format!("ws:{i}"), format!("h{i}"));
        }
        heads.remember("ws:0", "moved".into());
        assert_eq!(heads.len(), REMEMBERED);
        assert_eq!(heads.get("ws:0"), at("moved"));
        heads.remember("ws:new", "h".into());
        assert_eq!(heads.len(), REMEMBERED);
        assert_eq!(heads.get("ws:new"), at("h"));
        let kept = (0..REMEMBERED)
            .filter(|i| heads.get(&format!("ws:{i}")) != Known::Unknown)
            .count();
        assert_eq!(kept, REMEMBERED - 1);
    }

    #[test]
    fn a_complete_load_tells_chains_without_a_head_from_unknown_ones() {
        let heads = KnownHeads::default();
        assert_eq!(heads.get("ws:a"), Known::Unknown, "nothing loaded yet");
        heads.load(vec![("ws:a".into(), "ha".into())], true);
        assert_eq!(heads.get("ws:a"), at("ha"));
        assert_eq!(heads.get("ws:b"), Known::Absent);
        let partial = KnownHeads::default();
        partial.load(vec![("ws:a".into(), "ha".into())], false);
        assert_eq!(partial.get("ws:b"), Known::Unknown);
    }

    /// A chain forgotten after a lost race (its head row now exists) must be read, never taken
    /// for one without a head row.
    #[test]
    fn a_forgotten_chain_is_unknown_not_absent() {
        let heads = KnownHeads::default();
        heads.load(vec![("ws:a".into(), "ha".into())], true);
        heads.forget("ws:a");
        heads.forget("ws:b");
        assert_eq!(heads.get("ws:a"), Known::Unknown);
        assert_eq!(heads.get("ws:b"), Known::Unknown);
        heads.remember("ws:b", "hb".into());
        assert_eq!(heads.get("ws:b"), at("hb"));
    }

    /// An evicted chain may have a head row: once any chain is evicted, chains not in memory
    /// are unknown, not absent.
    #[test]
    fn eviction_makes_the_loaded_heads_incomplete() {
        let heads = KnownHeads::default();
        heads.load(Vec::new(), true);
        for i in 0..REMEMBERED {
            heads.remember(&format!("ws:{i}"), format!("h{i}"));
        }
        assert_eq!(
            heads.get("ws:never"),
            Known::Absent,
            "full, nothing evicted"
        );
        heads.remember("ws:one-more", "h".into());
        assert_eq!(heads.get("ws:never"), Known::Unknown);
        let evicted = (0..REMEMBERED)
            .map(|i| format!("ws:{i}"))
            .find(|c| heads.get(c) == Known::Unknown);
        assert!(
            evicted.is_some(),
            "one chain was evicted and reads as unknown"
        );
    }

    /// A load of more heads than are remembered keeps what fits and is not complete; heads this
    /// process wrote before the load are newer than the loaded ones and stay.
    #[test]
    fn a_load_over_the_bound_is_incomplete_and_keeps_newer_heads() {
        let heads = KnownHeads::default();
        heads.remember("ws:0", "written".into());
        let loaded = (0..=REMEMBERED)
            .map(|i| (format!("ws:{i}"), format!("h{i}")))
            .collect();
        heads.load(loaded, false);
        assert_eq!(heads.len(), REMEMBERED);
        assert_eq!(heads.get("ws:0"), at("written"));
        assert_eq!(heads.get("ws:1"), at("h1"));
        assert_eq!(heads.get("ws:never"), Known::Unknown);
    }
}
