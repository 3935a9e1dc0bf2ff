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

use super::audit::AuditEvent;
use super::audit_chain::{
    AuditIdentity, CHAIN_KEY_LABEL, Link, Stamp, chain_of, record_hash, sanitize_client_request_id,
    server_request_id,
};
use super::audit_head::KnownHeads;
use super::bulk::placeholders;
use super::{Backend, Store, StoreError, now_ms};
use parking_lot::Mutex;
use sqlx::Row;
use std::collections::HashMap;
use tokio::sync::oneshot;

/// Most records one transaction writes; the rest wait for the next one.
const MAX_BATCH: usize = 256;

/// Rows per multi-row `INSERT` on PostgreSQL (16 parameters each, far below its 65,535 limit).
/// Each row count is its own prepared statement, so this also bounds how many a connection
/// keeps for audit appends (sqlx caches 100 per connection).
pub(super) const INSERT_CHUNK: usize = 64;

/// The queues of this process, one per chain with records waiting or being written.
#[derive(Default)]
pub(crate) struct AuditWriter {
    chains: Mutex<HashMap<String, ChainQueue>>,
    /// The head each chain had after this process's last write to it (PostgreSQL).
    pub(super) heads: KnownHeads,
}

#[derive(Default)]
struct ChainQueue {
    waiting: Vec<Queued>,
    /// A writer task owns this chain; it leaves only when it finds `waiting` empty.
    writing: bool,
}

/// Why a queued record was not written (every record of the failed batch gets it).
type Outcome = Result<(), String>;

struct Queued {
    record: OwnedRecord,
    done: oneshot::Sender<Outcome>,
}

/// The fields of one record, owned so they outlive the caller's borrow while queued.
pub(super) struct OwnedRecord {
    workspace_id: Option<String>,
    action: String,
    target: Option<String>,
    principal: String,
    outcome: String,
    client_request_id: Option<String>,
    detail: Option<String>,
    agent_id: Option<String>,
    session_id: Option<String>,
    user_subject: Option<String>,
}

impl OwnedRecord {
    fn new(e: &AuditEvent<'_>, identity: &AuditIdentity<'_>) -> Self {
        let own = |s: Option<&str>| s.map(str::to_owned);
        Self {
            workspace_id: own(e.workspace_id),
            action: e.action.to_owned(),
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
    record: &'a OwnedRecord,
    at: i64,
    request_id: String,
    prev_hash: String,
    hash: String,
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

    /// Append many records (a gateway's batch of proxied calls) through the same chain queues:
    /// all are queued under one lock, in order, so each chain's writer takes them into as few
    /// transactions as [`MAX_BATCH`] allows instead of one commit per record. Returns once every
    /// record is committed, or the first failure (records of other transactions may be stored:
    /// a caller that sends the batch again stores those twice, never none).
    pub(crate) async fn append_audit_all(
        &self,
        events: &[AuditEvent<'_>],
        identity: &AuditIdentity<'_>,
    ) -> Result<(), StoreError> {
        let mut pending = Vec::with_capacity(events.len());
        let mut start = Vec::new();
        {
            let mut chains = self.audit_writer.chains.lock();
            for e in events {
                let chain = chain_of(e.workspace_id);
                let (done, written) = oneshot::channel();
                pending.push(written);
                let queue = chains.entry(chain.clone()).or_default();
                queue.waiting.push(Queued {
                    record: OwnedRecord::new(e, identity),
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
            let batch: Vec<Queued> = {
                let mut chains = self.audit_writer.chains.lock();
                let Some(queue) = chains.get_mut(&chain) else {
                    return;
                };
                if queue.waiting.is_empty() {
                    chains.remove(&chain);
                    return;
                }
                let take = queue.waiting.len().min(MAX_BATCH);
                queue.waiting.drain(..take).collect()
            };
            let (records, waiters): (Vec<_>, Vec<_>) =
                batch.into_iter().map(|q| (q.record, q.done)).unzip();
            let outcome = self
                .write_batch(&chain, &records)
                .await
                .map_err(|e| e.to_string());
            for waiter in waiters {
                // A waiter that gave up has dropped its receiver; its record is written anyway.
                let _ = waiter.send(outcome.clone());
            }
        }
    }

    /// Write `records` after the chain's head. PostgreSQL first tries the head this process
    /// wrote last (one statement per chunk, no transaction: `audit_head`); when there is none,
    /// or another writer moved the head meanwhile, the rest go through the locking transaction.
    async fn write_batch(&self, chain: &str, records: &[OwnedRecord]) -> Result<(), StoreError> {
        let mut rest = records;
        if self.backend == Backend::Postgres {
            rest = self.append_after_known_head(chain, rest).await?;
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
        let last_id = match self.backend {
            Backend::Postgres => insert_pg(&mut tx, chain, &key_id, &linked).await?,
            Backend::Sqlite => insert_one_by_one(&mut tx, chain, &key_id, &linked).await?,
        };
        sqlx::query("UPDATE audit_chain_heads SET last_id = $1, last_hash = $2 WHERE chain = $3")
            .bind(last_id)
            .bind(&head)
            .bind(chain)
            .execute(&mut *tx)
            .await?;
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

type Tx = sqlx::Transaction<'static, sqlx::Any>;
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
        .bind(e.action.as_str())
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

/// SQLite: an insert per record (in process, no round trip); ids follow insertion order.
async fn insert_one_by_one(
    tx: &mut Tx,
    chain: &str,
    key_id: &str,
    linked: &[Linked<'_>],
) -> Result<i64, StoreError> {
    let sql = format!(
        "INSERT INTO audit_events ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id"
    );
    let mut last_id = 0;
    for r in linked {
        last_id = bind_record(
            sqlx::query(sqlx::AssertSqlSafe(sql.as_str())),
            r,
            chain,
            key_id,
        )
        .fetch_one(&mut **tx)
        .await?
        .try_get("id")?;
    }
    Ok(last_id)
}

/// PostgreSQL: ids are drawn from the table's sequence first (in one statement) and given out
/// in ascending order, so chain order and id order agree without relying on the order in which
/// a multi-row `INSERT` evaluates its rows; then a few multi-row inserts write the batch.
async fn insert_pg(
    tx: &mut Tx,
    chain: &str,
    key_id: &str,
    linked: &[Linked<'_>],
) -> Result<i64, StoreError> {
    let mut ids: Vec<i64> = sqlx::query(
        "SELECT nextval(pg_get_serial_sequence('audit_events', 'id')) AS id FROM generate_series(1, $1)",
    )
    .bind(linked.len() as i64)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| r.try_get::<i64, _>("id"))
    .collect::<Result<_, _>>()?;
    ids.sort_unstable();
    for (chunk, chunk_ids) in linked.chunks(INSERT_CHUNK).zip(ids.chunks(INSERT_CHUNK)) {
        let sql = format!(
            "INSERT INTO audit_events (id, {COLUMNS}) VALUES {}",
            placeholders(chunk.len(), 17)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (r, id) in chunk.iter().zip(chunk_ids) {
            q = bind_record(q.bind(*id), r, chain, key_id);
        }
        q.execute(&mut **tx).await?;
    }
    ids.last()
        .copied()
        .ok_or_else(|| StoreError::Corrupt("an audit batch drew no ids".into()))
}
