//! Audit checkpoints and export on the admin API (admin token): the heads of the hash chains,
//! the check of a signed checkpoint against the database, and the JSON-lines export.
//!
//! A checkpoint is a statement of every chain's length and head at one moment, signed outside
//! the broker with the operator's checkpoint key (`nexus audit checkpoint`). The broker only
//! reports heads and compares them; it never holds that key, so write access to the database
//! (or to the broker) cannot produce a checkpoint that verifies.

use serde::{Deserialize, Serialize};

/// `GET` → [`AuditHeads`]: every chain, walked and verified, with its length and head.
pub const AUDIT_HEADS_PATH: &str = "/admin/v1/audit/heads";
/// `POST` [`AuditHeads`] (the chains of a checkpoint) → [`CheckpointVerdict`].
pub const AUDIT_CHECKPOINT_VERIFY_PATH: &str = "/admin/v1/audit/checkpoint/verify";
/// `GET` (`?workspace_id=&after_id=`) → `application/x-ndjson`: one `AuditRecord` per line,
/// oldest first, streamed page by page.
pub const AUDIT_EXPORT_PATH: &str = "/admin/v1/audit/export";

/// The state of one hash chain (`ws:<workspace id>`, or `-` for records without a workspace).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChainHead {
    pub chain: String,
    /// Records in the chain.
    pub records: u64,
    /// Id of the newest record (0 when the chain has none).
    pub head_id: i64,
    /// Link (`hash`) of the newest record (empty when the chain has none).
    pub head_hash: String,
}

/// Answer of `GET /admin/v1/audit/heads`, and body of the checkpoint check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AuditHeads {
    /// Sorted by chain name.
    pub chains: Vec<ChainHead>,
    /// Whether every chain verified while it was walked (a checkpoint of a broken chain is
    /// refused by the CLI).
    #[serde(default = "yes")]
    pub ok: bool,
}

fn yes() -> bool {
    true
}

/// What is wrong with one chain compared with a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckpointProblem {
    pub chain: String,
    /// For people: which rule failed (never a record's content).
    pub problem: String,
}

/// Answer of `POST /admin/v1/audit/checkpoint/verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckpointVerdict {
    /// Every chain of the checkpoint is still there, verifies, and still holds the checkpoint's
    /// head at the same position.
    pub ok: bool,
    /// Chains of the checkpoint checked.
    pub chains_checked: u64,
    #[serde(default)]
    pub problems: Vec<CheckpointProblem>,
}

/// `POST` [`AuditPruneRequest`] → [`AuditPruneReport`]: delete the records of the chains of a
/// signed checkpoint up to the checkpoint's heads (nothing newer; nothing without a checkpoint).
pub const AUDIT_PRUNE_PATH: &str = "/admin/v1/audit/prune";

/// Body of `POST /admin/v1/audit/prune`: the chains of a checkpoint whose signature the caller
/// (the CLI, holding the operator's public key) has checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AuditPruneRequest {
    /// The checkpoint's chains: each is cut at its head.
    pub chains: Vec<ChainHead>,
    /// Only this workspace's chain (it must be one of `chains`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
}

/// What a prune did to one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChainPruneResult {
    pub chain: String,
    /// Records deleted by this request (0 when the chain was already pruned there).
    pub deleted: u64,
    /// Records removed from the chain so far.
    pub pruned_total: u64,
    /// The chain now starts after this record id (its anchor).
    pub anchor_id: i64,
}

/// Answer of `POST /admin/v1/audit/prune`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPruneReport {
    pub chains: Vec<ChainPruneResult>,
}
