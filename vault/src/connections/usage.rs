//! Recording who uses a connection (`connection_usage`, shown on the console's "used by")
//! without a resolve ever waiting for it.
//!
//! Usage is a hint for operators, never a reason to fail or slow a resolve. So:
//! - each process writes a (connection, principal) pair at most once per [`COALESCE_MS`]
//!   ("last used" is precise to a minute, per process);
//! - a resolve only puts its use in a queue; one writer task at a time (started by the first
//!   use that finds none running) writes everything queued in one statement every [`PACE`],
//!   and stops when a pace went by with nothing queued: a group commit with a bounded rate,
//!   and no task left idle. At a million connections nearly every resolve is a connection's
//!   first use in the minute (session 9: a `connection_usage` upsert awaited by 14,425 of
//!   15,000 resolves); now those uses cost the database a few statements a second, whatever
//!   the load, and no resolve waits on them.
//!
//! What this gives up: a use shows on the console up to a [`PACE`] (and one write) after its
//! resolve answered. A graceful stop writes what is still queued ([`UsageRecorder::flush`],
//! called by `nexus serve`, `nexus dev` and `nexus-broker` once the last request has drained);
//! a crash loses what is queued (the last pace of uses, more while the database is slow) and
//! the write in flight. A queue longer than [`MAX_QUEUED`] (the database is down or far
//! behind) drops new uses, counted in the warning logged once the writer gets through again.

use crate::store::usage::Use;
use crate::store::{Store, StoreError, is_foreign_key_violation, now_ms};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// At most one write per (connection, principal) and process in this window.
pub const COALESCE_MS: i64 = 60_000;
/// Pairs remembered before the memory is cleared (a clear costs one extra write per pair).
const REMEMBERED: usize = 10_000;
/// Uses waiting for the writer before new ones are dropped (~100 bytes each).
const MAX_QUEUED: usize = 100_000;
/// How often the writer writes what was queued: the console's "used by" is a 7-day view, so
/// a second of delay costs nothing and turns thousands of writes into a few statements. Larger
/// batches are also cheaper per use (rows sorted by key meet the same index pages): of the
/// paces tried at 1M connections, 50 ms gave the worst resolve ratios to the 1k case and 1 s
/// the best p50 (BENCHMARKS.md, session 10).
const PACE: Duration = Duration::from_secs(1);
/// Most uses one statement carries; a longer queue is written as several.
const CHUNK: usize = 1_000;

/// A use's identity: (workspace, connection, principal).
type UseKey = (String, String, String);

#[derive(Default, Clone)]
pub(crate) struct UsageRecorder {
    state: Arc<Mutex<State>>,
    /// Held while taken uses are being written, so that a flush waits for a write in flight
    /// instead of returning before it has landed.
    writes: Arc<tokio::sync::Mutex<()>>,
}

/// Uses taken from the queue for one write, and the uses dropped since the last warning.
type Taken = (HashMap<UseKey, i64>, u64);

#[derive(Default)]
struct State {
    /// When this process last queued each (connection, principal).
    queued_at: HashMap<(String, String), i64>,
    /// Uses not written yet, one per key (the latest wins).
    queue: HashMap<UseKey, i64>,
    /// A writer task is running: it will see anything queued before it stops.
    writing: bool,
    /// Uses dropped because the queue was full, since the last warning.
    dropped: u64,
}

impl UsageRecorder {
    /// `principal` resolved connection `id` of `workspace_id` just now. Returns at once.
    pub(crate) fn touch(&self, store: &Store, workspace_id: &str, id: &str, principal: &str) {
        let now = now_ms();
        let start_writer = {
            let mut state = self.state.lock();
            let pair = (id.to_owned(), principal.to_owned());
            if state
                .queued_at
                .get(&pair)
                .is_some_and(|at| now - at < COALESCE_MS)
            {
                return;
            }
            if state.queue.len() >= MAX_QUEUED {
                state.dropped += 1;
                return;
            }
            if state.queued_at.len() >= REMEMBERED {
                state.queued_at.clear();
            }
            let (id, principal) = pair.clone();
            state.queued_at.insert(pair, now);
            state
                .queue
                .insert((workspace_id.to_owned(), id, principal), now);
            !std::mem::replace(&mut state.writing, true)
        };
        if start_writer {
            tokio::spawn(self.clone().write_queued(store.clone()));
        }
    }

    /// The writer: every [`PACE`], takes the whole queue and writes it; stops when the queue
    /// is empty (checked under the lock uses are queued under, so no use is left behind).
    async fn write_queued(self, store: Store) {
        loop {
            tokio::time::sleep(PACE).await;
            let _writing = self.writes.lock().await;
            let Some(taken) = self.take(true) else {
                return;
            };
            self.write_taken(&store, taken).await;
        }
    }

    /// Write what is queued now, after any write in flight. A graceful stop calls this once
    /// the last request has drained, so the uses of the last pace are not lost. A running
    /// writer finds the queue empty afterwards and stops.
    pub(crate) async fn flush(&self, store: &Store) {
        let _writing = self.writes.lock().await;
        if let Some(taken) = self.take(false) {
            self.write_taken(store, taken).await;
        }
    }

    /// Take the queue and the dropped count; `None` if nothing is queued. `writer_stops`: the
    /// writer task calls this, and an empty queue ends it (marked under the same lock).
    fn take(&self, writer_stops: bool) -> Option<Taken> {
        let mut state = self.state.lock();
        if state.queue.is_empty() {
            if writer_stops {
                state.writing = false;
            }
            return None;
        }
        Some((
            std::mem::take(&mut state.queue),
            std::mem::take(&mut state.dropped),
        ))
    }

    /// Write taken uses in key order, [`CHUNK`] per statement.
    async fn write_taken(&self, store: &Store, (queued, dropped): Taken) {
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "connection usage: the queue was full, some uses were not recorded"
            );
        }
        let mut uses: Vec<Use> = queued
            .into_iter()
            .map(|((workspace_id, connection_id, principal), at)| Use {
                workspace_id,
                connection_id,
                principal,
                at,
            })
            .collect();
        // One order for every writer, so batches of two brokers lock rows in the same order.
        uses.sort_unstable_by(|a, b| {
            (&a.workspace_id, &a.connection_id, &a.principal).cmp(&(
                &b.workspace_id,
                &b.connection_id,
                &b.principal,
            ))
        });
        for chunk in uses.chunks(CHUNK) {
            self.write(store, chunk).await;
        }
    }

    /// Write `uses` in one statement. A connection deleted meanwhile fails the whole statement
    /// on its foreign key; then they are written one by one and the deleted connection's use
    /// is skipped (it has no row to be shown on). Any other failure (the database is down)
    /// loses the batch with one warning, and the coalescing memory forgets its pairs, so their
    /// next resolve queues them again.
    async fn write(&self, store: &Store, uses: &[Use]) {
        let error = match store.record_usage(uses).await {
            Ok(()) => return,
            Err(StoreError::Db(e)) if is_foreign_key_violation(&e) && uses.len() > 1 => {
                let mut lost = Vec::new();
                for u in uses {
                    match store.record_usage(std::slice::from_ref(u)).await {
                        Err(StoreError::Db(e)) if is_foreign_key_violation(&e) => {}
                        Err(e) => lost.push((u, e)),
                        Ok(()) => {}
                    }
                }
                let Some((_, first)) = lost.first() else {
                    return;
                };
                let error = first.to_string();
                self.forget(lost.iter().map(|(u, _)| *u));
                tracing::warn!(lost = lost.len(), %error, "recording connection usage failed");
                return;
            }
            Err(StoreError::Db(e)) if is_foreign_key_violation(&e) => return,
            Err(e) => e,
        };
        tracing::warn!(lost = uses.len(), %error, "recording connection usage failed");
        self.forget(uses.iter());
    }

    fn forget<'u>(&self, uses: impl Iterator<Item = &'u Use>) {
        let mut state = self.state.lock();
        for u in uses {
            state
                .queued_at
                .remove(&(u.connection_id.clone(), u.principal.clone()));
        }
    }
}
