//! Reading the audit chains against a checkpoint: each chain's head as it verifies today, and
//! whether a chain still holds the head a checkpoint recorded, at the same position.
//!
//! The keyed chain ([`super::audit_chain`]) shows an edited record, but what is left after the
//! newest records, a whole chain or the whole table were deleted is still a valid chain. A
//! checkpoint kept outside the database closes that: every chain it names must still exist,
//! verify, contain the checkpoint's head record with the same link, and hold exactly as many
//! records up to it.

use super::{Store, StoreError};
use nexus_protocol::audit::{ChainHead, CheckpointProblem};
use sqlx::Row;

impl Store {
    /// Every chain, walked and verified: `(heads, all chains verified)`. A chain that does not
    /// verify is reported with what was checked and no head.
    pub async fn audit_chain_heads(&self) -> Result<(Vec<ChainHead>, bool), StoreError> {
        let mut heads = Vec::new();
        let mut ok = true;
        for chain in self.audit_chains().await? {
            let walk = self.walk_chain(&chain).await?;
            ok &= walk.first_broken_id.is_none();
            heads.push(ChainHead {
                chain,
                records: walk.pruned + walk.checked,
                head_id: walk.last_id,
                head_hash: walk.last_hash,
            });
        }
        Ok((heads, ok))
    }

    /// What is wrong with `chain` compared with its `checkpoint` head, if anything.
    pub async fn check_chain_against(
        &self,
        checkpoint: &ChainHead,
    ) -> Result<Option<CheckpointProblem>, StoreError> {
        let problem = |problem: String| {
            Ok(Some(CheckpointProblem {
                chain: checkpoint.chain.clone(),
                problem,
            }))
        };
        let walk = self.walk_chain(&checkpoint.chain).await?;
        if let Some(id) = walk.first_broken_id {
            return problem(format!(
                "the chain does not verify (first broken record {id})"
            ));
        }
        if checkpoint.records == 0 {
            return Ok(None);
        }
        if walk.checked == 0 && walk.pruned == 0 {
            return problem(format!(
                "the chain is gone: it had {} records at the checkpoint and has none",
                checkpoint.records
            ));
        }
        if walk.pruned > 0 {
            // Pruned: the walk started at the anchor, whose MAC held. The checkpoint's head is
            // the anchor itself (the checkpoint the prune used), or a record after it.
            let anchor_id = walk.anchor_id;
            if checkpoint.head_id < anchor_id {
                return problem(format!(
                    "pruned past this checkpoint (the chain starts after record {anchor_id}); check against the checkpoint the prune used or a newer one"
                ));
            }
            if checkpoint.head_id == anchor_id {
                if walk.anchor_hash != checkpoint.head_hash || walk.pruned != checkpoint.records {
                    return problem(format!(
                        "the chain was pruned at record {anchor_id} with another link or count than the checkpoint's"
                    ));
                }
                return Ok(None);
            }
        }
        let at_head = sqlx::query(
            "SELECT hash, (SELECT COUNT(*) FROM audit_events WHERE chain = $1 AND id <= $2) AS upto \
             FROM audit_events WHERE chain = $1 AND id = $2",
        )
        .bind(&checkpoint.chain)
        .bind(checkpoint.head_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = at_head else {
            return problem(format!(
                "record {}, the chain's head at the checkpoint, is gone (truncated)",
                checkpoint.head_id
            ));
        };
        let hash: Option<String> = row.try_get("hash")?;
        if hash.as_deref() != Some(checkpoint.head_hash.as_str()) {
            return problem(format!(
                "record {} no longer has the checkpoint's link (edited or re-chained)",
                checkpoint.head_id
            ));
        }
        let upto: i64 = row.try_get("upto")?;
        let upto = u64::try_from(upto).ok().map(|n| n + walk.pruned);
        if upto != Some(checkpoint.records) {
            let upto = upto.unwrap_or_default();
            return problem(format!(
                "{upto} records up to record {}, the checkpoint had {} (records deleted and re-chained)",
                checkpoint.head_id, checkpoint.records
            ));
        }
        Ok(None)
    }
}
