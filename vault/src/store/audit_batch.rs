//! Group commit of audit records: the records waiting on one chain are appended together.
//!
//! Every record links to the one before it in its chain, so a chain's appends are serial by
//! nature. One transaction per record made that serial section a round trip per statement plus
//! a commit for every resolve of a workspace. Here a caller queues its record on its chain
//! ([`AuditWriter`]) and waits; one writer task per chain (started when the queue goes from
//! idle to busy) takes everything queued, links the records in queue order and writes them in
//! one transaction that holds the chain head's lock — the same lock, head row and record format
//! as a single append, so other processes and `nexus audit verify` see no difference. Each
//! caller is released only after the commit that holds its record: a token is never handed
//! out before its `token.issued` record is durable.
//!
//! The writer is a spawned task, not the first caller, so a caller that gives up (its request
//! was cancelled) never strands the records of the others.
//!
//! A caller's records on one chain form a [`Segment`], queued and written whole (never split
//! across two transactions) and acknowledged once: a gateway's batch of proxied calls costs one
//! completion per chain, not one per record. Transactions of bulk segments only (those
//! batches) hold up to [`MAX_BULK_BATCH`] records; one that also carries a caller's single
//! record (a resolve waiting for its `token.issued`) stops at [`MAX_BATCH`], so that caller's
//! latency does not grow with the proxy's load.

use super::audit::AuditEvent;
use super::audit_chain::{
    AuditIdentity, CHAIN_KEY_LABEL, Link, Stamp, chain_of, record_hash, sanitize_client_request_id,
    server_request_id,
};
use super::audit_head::KnownHeads;
use super::{Backend, Store, StoreError, now_ms};
use parking_lot::Mutex;
use sqlx::Row;
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use tokio::sync::oneshot;

/// Most records one transaction writes when it holds any single append (a segment longer than
/// this is still written whole, alone).
const MAX_BATCH: usize = 256;

/// Most records one transaction of bulk segments only writes: two or three gateway batches
/// ([`nexus_protocol::proxy::MAX_AUDIT_BATCH`] each) in flight share one commit.
const MAX_BULK_BATCH: usize = 2048;

/// The queues of this process, one per chain with records waiting or being written.
#[derive(Default)]
pub(crate) struct AuditWriter {
    chains: Mutex<HashMap<String, ChainQueue>>,
    /// The head each chain had after this process's last write to it (PostgreSQL).
    pub(super) heads: KnownHeads,
}

#[derive(Default)]
struct ChainQueue {
    waiting: VecDeque<Segment>,
    /// A writer task owns this chain; it leaves only when it finds `waiting` empty.
    writing: bool,
}

/// Why a queued record was not written (every record of the failed batch gets it).
type Outcome = Result<(), String>;

/// One caller's records on one chain, in its order, with one acknowledgement.
struct Segment {
    records: Vec<OwnedRecord>,
    /// Part of a batch (may share a large transaction), not a single latency-bound append.
    bulk: bool,
    done: oneshot::Sender<Outcome>,
}

/// The fields of one record, owned so they outlive the caller's borrow while queued.
pub(crate) struct OwnedRecord {
    pub(crate) workspace_id: Option<String>,
    /// Borrowed for the actions the code names itself (`proxy.request`): no copy per record.
    pub(crate) action: Cow<'static, str>,
    pub(crate) target: Option<String>,
    pub(crate) principal: String,
    pub(crate) outcome: String,
    /// Already sanitised ([`sanitize_client_request_id`]).
    pub(crate) client_request_id: Option<String>,
    pub(crate) detail: Option<String>,
    pub(crate) agent_id: Option<String>,
    pub(crate) session_id: Option<String>,
    pub(crate) user_subject: Option<String>,
}

impl OwnedRecord {
    fn new(e: &AuditEvent<'_>, identity: &AuditIdentity<'_>) -> Self {
        let own = |s: Option<&str>| s.map(str::to_owned);
        Self {
            workspace_id: own(e.workspace_id),
            action: Cow::Owned(e.action.to_owned()),
            target: own(e.target),
            principal: e.principal.to_owned(),
            outcome: e.outcome.to_owned(),
            client_request_id: sanitize_client_request_id(e.request_id),
            detail: own(e.detail),
            agent_id: own(identity.agent_id),
            session_id: own(identity.session_id),
            user_subject: own(identity.user_subject),
        }
    }

    fn event(&self) -> AuditEvent<'_> {
        AuditEvent {
            workspace_id: self.workspace_id.as_deref(),
            action: &self.action,
            target: self.target.as_deref(),
            principal: &self.principal,
            outcome: &self.outcome,
            request_id: self.client_request_id.as_deref(),
            detail: self.detail.as_deref(),
        }
    }

    fn identity(&self) -> AuditIdentity<'_> {
        AuditIdentity {
            agent_id: self.agent_id.as_deref(),
            session_id: self.session_id.as_deref(),
            user_subject: self.user_subject.as_deref(),
        }
    }
}

/// A record linked into its chain, ready to insert.
pub(super) struct Linked<'a> {
    pub(super) record: &'a OwnedRecord,
    pub(super) at: i64,
    pub(super) request_id: String,
    pub(super) prev_hash: String,
    pub(super) hash: String,
}

impl Store {
    /// Append one record to its workspace's chain; returns once the transaction holding it has
    /// committed.
    pub(crate) async fn append_audit(
        &self,
        e: &AuditEvent<'_>,
        identity: &AuditIdentity<'_>,
    ) -> Result<(), StoreError> {
        self.append_audit_all(std::slice::from_ref(e), identity)
            .await
    }

    /// Append many records through the same chain queues: each chain's share is queued as one
    /// segment, in order, so the chain's writer takes it into one transaction instead of one
    /// commit per record. Returns once every record is committed, or the first failure (records
    /// of another chain's transaction may be stored: a caller that sends the batch again stores
    /// those twice, never none).
    pub(crate) async fn append_audit_all(
        &self,
        events: &[AuditEvent<'_>],
        identity: &AuditIdentity<'_>,
    ) -> Result<(), StoreError> {
        let bulk = events.len() > 1;
        let records = events.iter().map(|e| OwnedRecord::new(e, identity));
        self.append_owned(records, bulk).await
    }

    /// [`Store::append_audit_all`] for records the caller already owns (a gateway's batch of
    /// proxied calls, moved in: no copy of their fields).
    pub(crate) async fn append_audit_owned(
        &self,
        records: Vec<OwnedRecord>,
    ) -> Result<(), StoreError> {
        self.append_owned(records.into_iter(), true).await
    }

    async fn append_owned(
        &self,
        records: impl Iterator<Item = OwnedRecord>,
        bulk: bool,
    ) -> Result<(), StoreError> {
        // Split by chain, keeping each chain's order (a batch names one or a few workspaces).
        let mut by_chain: Vec<(String, Vec<OwnedRecord>)> = Vec::new();
        for record in records {
            let chain = chain_of(record.workspace_id.as_deref());
            match by_chain.iter_mut().find(|(c, _)| *c == chain) {
                Some((_, list)) => list.push(record),
                None => by_chain.push((chain, vec![record])),
            }
        }
        let mut pending = Vec::with_capacity(by_chain.len());
        let mut start = Vec::new();
        {
            let mut chains = self.audit_writer.chains.lock();
            for (chain, records) in by_chain {
                let (done, written) = oneshot::channel();
                pending.push(written);
                let queue = chains.entry(chain.clone()).or_default();
                queue.waiting.push_back(Segment {
                    records,
                    bulk,
                    done,
                });
                if !std::mem::replace(&mut queue.writing, true) {
                    start.push(chain);
                }
            }
        }
        for chain in start {
            tokio::spawn(self.clone().drain_chain(chain));
        }
        for written in pending {
            match written.await {
                Ok(Ok(())) => {}
                Ok(Err(why)) => return Err(StoreError::AuditNotWritten(why)),
                Err(_) => {
                    return Err(StoreError::AuditNotWritten(
                        "the audit writer stopped".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The writer task of one chain: write what is queued, batch after batch, until the queue
    /// is empty (checked under the same lock callers queue under, so no record is left behind).
    async fn drain_chain(self, chain: String) {
        loop {
            let batch: Vec<Segment> = {
                let mut chains = self.audit_writer.chains.lock();
                let Some(queue) = chains.get_mut(&chain) else {
                    return;
                };
                if queue.waiting.is_empty() {
                    chains.remove(&chain);
                    return;
                }
                let take = segments_for_one_transaction(&queue.waiting);
                queue.waiting.drain(..take).collect()
            };
            // The records are moved out of their segments (no copy); each segment keeps its ack.
            let mut records = Vec::with_capacity(batch.iter().map(|s| s.records.len()).sum());
            let mut waiters = Vec::with_capacity(batch.len());
            for segment in batch {
                records.extend(segment.records);
                waiters.push(segment.done);
            }
            let outcome = self
                .write_batch(&chain, &records)
                .await
                .map_err(|e| e.to_string());
            for waiter in waiters {
                // A waiter that gave up has dropped its receiver; its records are written anyway.
                let _ = waiter.send(outcome.clone());
            }
        }
    }

    /// Write `records` after the chain's head. PostgreSQL first appends by compare-and-set on
    /// the head this process wrote last or has just read (one statement per chunk, no
    /// transaction: `audit_head`); when the chain has no head row yet, or the head kept moving,
    /// the rest go through the locking transaction.
    async fn write_batch(&self, chain: &str, records: &[OwnedRecord]) -> Result<(), StoreError> {
        let mut rest = records;
        if self.backend == Backend::Postgres {
            rest = self.append_by_compare_and_set(chain, rest).await?;
            if rest.is_empty() {
                return Ok(());
            }
        }
        let head = self.write_batch_locked(chain, rest).await?;
        if self.backend == Backend::Postgres {
            self.audit_writer.heads.remember(chain, head);
        }
        Ok(())
    }

    /// Link `records` after the chain's head and write them with the new head, in one
    /// transaction holding the head's lock. Returns the new head's hash.
    async fn write_batch_locked(
        &self,
        chain: &str,
        records: &[OwnedRecord],
    ) -> Result<String, StoreError> {
        let mut tx = self.begin_locking().await?;
        sqlx::query(
            "INSERT INTO audit_chain_heads (chain, last_id, last_hash) VALUES ($1, 0, '') ON CONFLICT (chain) DO NOTHING",
        )
        .bind(chain)
        .execute(&mut *tx)
        .await?;
        // SQLite already holds the database write lock (BEGIN IMMEDIATE); PostgreSQL locks the
        // head row, which serializes appends to this chain only, across processes.
        let select_head = match self.backend {
            Backend::Postgres => {
                "SELECT last_hash FROM audit_chain_heads WHERE chain = $1 FOR UPDATE"
            }
            Backend::Sqlite => "SELECT last_hash FROM audit_chain_heads WHERE chain = $1",
        };
        let prev: String = sqlx::query(select_head)
            .bind(chain)
            .fetch_one(&mut *tx)
            .await?
            .try_get("last_hash")?;
        let (key_id, linked, head) = self.link_records(chain, prev, records);
        match self.backend {
            // The head row is locked: moving it from the hash just read cannot miss.
            Backend::Postgres => {
                for chunk in linked.chunks(super::audit_insert_pg::CHUNK) {
                    let after = super::audit_insert_pg::HeadMove::After;
                    if !super::audit_insert_pg::insert(after, &mut *tx, chain, &key_id, chunk)
                        .await?
                    {
                        return Err(StoreError::Corrupt(format!(
                            "the locked head of audit chain {chain} moved"
                        )));
                    }
                }
            }
            Backend::Sqlite => {
                let last_id =
                    super::audit_insert_sqlite::insert(&mut tx, chain, &key_id, &linked).await?;
                sqlx::query(
                    "UPDATE audit_chain_heads SET last_id = $1, last_hash = $2 WHERE chain = $3",
                )
                .bind(last_id)
                .bind(&head)
                .bind(chain)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(head)
    }

    /// Link `records` one after the other from `prev` with the active chain key: the key's
    /// id, the linked records and the hash of the last one (the chain's new head).
    pub(super) fn link_records<'a>(
        &self,
        chain: &str,
        mut prev: String,
        records: &'a [OwnedRecord],
    ) -> (String, Vec<Linked<'a>>, String) {
        let (key_id, key) = self.sealer.derive_active_key(CHAIN_KEY_LABEL);
        let link = Link::Keyed {
            key_id: &key_id,
            key,
        };
        let mut linked = Vec::with_capacity(records.len());
        for record in records {
            let request_id = server_request_id();
            let at = now_ms();
            let stamp = Stamp {
                chain,
                at,
                request_id: Some(&request_id),
                client_request_id: record.client_request_id.as_deref(),
            };
            let hash = record_hash(&prev, &stamp, &record.event(), &record.identity(), &link);
            let prev_hash = std::mem::replace(&mut prev, hash.clone());
            linked.push(Linked {
                record,
                at,
                request_id,
                prev_hash,
                hash,
            });
        }
        (key_id, linked, prev)
    }
}

pub(super) const COLUMNS: &str = "at, workspace_id, action, target, principal, outcome, request_id, detail, prev_hash, hash, agent_id, session_id, user_subject, chain, client_request_id, mac_key";

pub(super) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

pub(super) fn bind_record<'q>(
    q: AnyQuery<'q>,
    r: &'q Linked<'_>,
    chain: &'q str,
    key_id: &'q str,
) -> AnyQuery<'q> {
    let e = r.record;
    q.bind(r.at)
        .bind(e.workspace_id.as_deref())
        .bind(e.action.as_ref())
        .bind(e.target.as_deref())
        .bind(e.principal.as_str())
        .bind(e.outcome.as_str())
        .bind(r.request_id.as_str())
        .bind(e.detail.as_deref())
        .bind(r.prev_hash.as_str())
        .bind(r.hash.as_str())
        .bind(e.agent_id.as_deref())
        .bind(e.session_id.as_deref())
        .bind(e.user_subject.as_deref())
        .bind(chain)
        .bind(e.client_request_id.as_deref())
        .bind(key_id)
}

/// How many queued segments (from the front) the next transaction writes: at least one (a
/// segment is never split), then more while the records fit under [`MAX_BULK_BATCH`] if every
/// segment is bulk, else under [`MAX_BATCH`].
fn segments_for_one_transaction(waiting: &VecDeque<Segment>) -> usize {
    let mut records = 0;
    let mut all_bulk = true;
    let mut take = 0;
    for segment in waiting {
        let bulk = all_bulk && segment.bulk;
        let cap = if bulk { MAX_BULK_BATCH } else { MAX_BATCH };
        if take > 0 && records + segment.records.len() > cap {
            break;
        }
        records += segment.records.len();
        all_bulk = bulk;
        take += 1;
    }
    take
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(len: usize, bulk: bool) -> Segment {
        let record = || OwnedRecord {
            workspace_id: None,
            action: Cow::Borrowed("proxy.request"),
            target: None,
            principal: String::new(),
            outcome: String::new(),
            client_request_id: None,
            detail: None,
            agent_id: None,
            session_id: None,
            user_subject: None,
        };
        Segment {
            records: (0..len).map(|_| record()).collect(),
            bulk,
            done: oneshot::channel().0,
        }
    }

    /// Gateway batches share one transaction up to the bulk cap; a single append caps the
    /// transaction it joins at the small size; a segment is never split, even over a cap.
    #[test]
    fn transactions_take_whole_segments_under_their_cap() {
        let take = |segments: Vec<Segment>| segments_for_one_transaction(&segments.into());
        assert_eq!(take(Vec::new()), 0);
        assert_eq!(take((0..5).map(|_| segment(500, true)).collect()), 4);
        assert_eq!(take(vec![segment(3000, true), segment(1, false)]), 1);
        assert_eq!(
            take(vec![
                segment(1, false),
                segment(500, true),
                segment(1, false)
            ]),
            1
        );
        assert_eq!(
            take((0..300).map(|_| segment(1, false)).collect()),
            MAX_BATCH
        );
        assert_eq!(
            take(vec![
                segment(500, true),
                segment(1, false),
                segment(1, false)
            ]),
            1
        );
    }
}
