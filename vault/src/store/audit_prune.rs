//! Audit retention: deleting a chain's oldest records while the rest stays exactly verifiable.
//!
//! A chain is only ever cut at the head of a signed checkpoint (the caller checks the chain
//! against it first, see `AuditService::prune`). The cut deletes the chain's records up to that
//! head and writes the head into `audit_chain_anchors` (id, link, records removed) in the same
//! transaction, so a failure leaves the chain either as it was or pruned and anchored, never
//! half-deleted. Verification then starts from the anchor: the first remaining record must link
//! to the anchor's hash, and positions count the pruned records, so checkpoints taken before
//! and after the cut keep comparing.
//!
//! The anchor row carries an HMAC under the chain key (`nexus audit anchor v1`): someone who
//! can write the database but lacks the keyring cannot move an anchor forward to hide deleted
//! records, and deleting the anchor row breaks the first remaining record's link.

use super::audit_chain::CHAIN_KEY_LABEL;
use super::{Store, StoreError, now_ms};
use nexus_protocol::audit::ChainHead;
use sqlx::Row;

/// What the anchor's MAC covers besides its fields (domain separation from record links).
const ANCHOR_LABEL: &str = "nexus audit anchor v1";

/// Where a pruned chain starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Anchor {
    /// Id of the newest pruned record.
    pub(super) id: i64,
    /// Its link: the `prev_hash` of the first remaining record.
    pub(super) hash: String,
    /// Records removed from the chain so far.
    pub(super) pruned: u64,
}

/// The anchor row of a chain as read: none, one that verifies, or one whose MAC does not hold.
pub(super) enum AnchorState {
    None,
    Valid(Anchor),
    Forged { id: i64 },
}

/// What one prune did to one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainPruned {
    pub chain: String,
    /// Records deleted by this call (0 when the chain was already pruned to this head).
    pub deleted: u64,
    /// Records removed from the chain so far, this call included.
    pub pruned_total: u64,
    /// The chain now starts after this record id.
    pub anchor_id: i64,
}

fn anchor_mac(key: &[u8; 32], key_id: &str, chain: &str, anchor: &Anchor) -> String {
    use hmac::{Hmac, Mac};
    let canonical = serde_json::json!([
        ANCHOR_LABEL,
        chain,
        anchor.id,
        anchor.hash,
        anchor.pruned,
        key_id
    ]);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(canonical.to_string().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

use sha2::Sha256;

impl Store {
    /// The anchor of `chain`, its MAC checked.
    pub(super) async fn chain_anchor(&self, chain: &str) -> Result<AnchorState, StoreError> {
        let row = sqlx::query(
            "SELECT anchor_id, anchor_hash, pruned, mac_key, mac FROM audit_chain_anchors WHERE chain = $1",
        )
        .bind(chain)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(AnchorState::None);
        };
        let id: i64 = row.try_get("anchor_id")?;
        let pruned: i64 = row.try_get("pruned")?;
        let key_id: String = row.try_get("mac_key")?;
        let mac: String = row.try_get("mac")?;
        let Ok(pruned) = u64::try_from(pruned) else {
            return Ok(AnchorState::Forged { id });
        };
        let anchor = Anchor {
            id,
            hash: row.try_get("anchor_hash")?,
            pruned,
        };
        let Some(key) = self.sealer.derive_key_from(&key_id, CHAIN_KEY_LABEL) else {
            tracing::warn!(key_id, "audit anchor names a master key the keyring lacks");
            return Ok(AnchorState::Forged { id });
        };
        Ok(if anchor_mac(&key, &key_id, chain, &anchor) == mac {
            AnchorState::Valid(anchor)
        } else {
            AnchorState::Forged { id }
        })
    }

    /// Delete `head.chain`'s records up to `head` (a checkpoint's head, which the caller has
    /// checked the chain against) and anchor the chain there, in one transaction. Pruning a
    /// chain again to the head it is anchored at does nothing; a head before the anchor, or a
    /// count that does not add up to the checkpoint's, is refused with nothing deleted.
    pub async fn prune_chain_to(&self, head: &ChainHead) -> Result<ChainPruned, StoreError> {
        let chain = head.chain.as_str();
        let before = match self.chain_anchor(chain).await? {
            AnchorState::None => None,
            AnchorState::Valid(anchor) => Some(anchor),
            AnchorState::Forged { id } => {
                return Err(StoreError::Corrupt(format!(
                    "the anchor of chain {chain} (record {id}) does not verify"
                )));
            }
        };
        let already = before.as_ref().map_or(0, |a| a.pruned);
        if let Some(anchor) = &before
            && anchor.id >= head.head_id
        {
            if anchor.id == head.head_id && anchor.hash == head.head_hash {
                return Ok(ChainPruned {
                    chain: chain.to_owned(),
                    deleted: 0,
                    pruned_total: anchor.pruned,
                    anchor_id: anchor.id,
                });
            }
            return Err(StoreError::Conflict(format!(
                "it is already pruned past record {}",
                head.head_id
            )));
        }
        if head.records == 0 {
            return Ok(ChainPruned {
                chain: chain.to_owned(),
                deleted: 0,
                pruned_total: already,
                anchor_id: before.map_or(0, |a| a.id),
            });
        }
        let anchor = Anchor {
            id: head.head_id,
            hash: head.head_hash.clone(),
            pruned: head.records,
        };
        let (key_id, key) = self.sealer.derive_active_key(CHAIN_KEY_LABEL);
        let mac = anchor_mac(&key, &key_id, chain, &anchor);
        let pruned = i64::try_from(anchor.pruned)
            .map_err(|_| StoreError::Corrupt("record count out of range".into()))?;
        // One transaction per chain: the delete and the anchor commit together. SQLite holds
        // its write lock for the delete; on PostgreSQL appends to the chain go on meanwhile
        // (they insert newer ids and lock the chain's head row, which this does not touch).
        let mut tx = self.begin_locking().await?;
        let at_head: Option<String> =
            sqlx::query("SELECT hash FROM audit_events WHERE chain = $1 AND id = $2")
                .bind(chain)
                .bind(head.head_id)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get("hash"))
                .transpose()?
                .flatten();
        if at_head.as_deref() != Some(head.head_hash.as_str()) {
            return Err(StoreError::Conflict(format!(
                "record {} changed or was removed since the check",
                head.head_id
            )));
        }
        let deleted = sqlx::query("DELETE FROM audit_events WHERE chain = $1 AND id <= $2")
            .bind(chain)
            .bind(head.head_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if already + deleted != anchor.pruned {
            // Dropping the transaction rolls the delete back.
            return Err(StoreError::Corrupt(format!(
                "chain {chain} held {} records up to record {}, the checkpoint states {}",
                already + deleted,
                head.head_id,
                anchor.pruned
            )));
        }
        let written = sqlx::query(
            "INSERT INTO audit_chain_anchors (chain, anchor_id, anchor_hash, pruned, mac_key, mac, pruned_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (chain) DO UPDATE SET anchor_id = excluded.anchor_id, anchor_hash = excluded.anchor_hash, \
             pruned = excluded.pruned, mac_key = excluded.mac_key, mac = excluded.mac, pruned_at = excluded.pruned_at \
             WHERE audit_chain_anchors.anchor_id < excluded.anchor_id",
        )
        .bind(chain)
        .bind(anchor.id)
        .bind(&anchor.hash)
        .bind(pruned)
        .bind(&key_id)
        .bind(&mac)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if written != 1 {
            // Another prune anchored the chain further meanwhile: keep its anchor.
            return Err(StoreError::Conflict(
                "another prune anchored it meanwhile".to_owned(),
            ));
        }
        tx.commit().await?;
        Ok(ChainPruned {
            chain: chain.to_owned(),
            deleted,
            pruned_total: anchor.pruned,
            anchor_id: anchor.id,
        })
    }
}
