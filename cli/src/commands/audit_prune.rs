//! `nexus audit prune`: retention. The checks that need the operator's side happen here (the
//! checkpoint's signature, with the operator's key; the export file, which only the operator
//! has); the broker checks the log against the checkpoint and deletes up to its heads.

use super::{read_key, workspace_id};
use crate::error::{CliError, CliResult};
use crate::http::{ApiClient, Body, parse_answer};
use crate::output::{outln, print_json};
use nexus_protocol::audit::{AUDIT_PRUNE_PATH, AuditPruneReport, AuditPruneRequest, ChainHead};
use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

pub(super) async fn prune(
    client: &ApiClient,
    checkpoint: &Path,
    key: &Path,
    export: &Path,
    workspace: Option<String>,
    json: bool,
) -> CliResult<()> {
    let key = read_key(key)?;
    let text = std::fs::read_to_string(checkpoint)
        .map_err(|e| CliError::config(format!("cannot read {}: {e}", checkpoint.display())))?;
    let statement = key
        .verify(&text)
        .map_err(|e| CliError::AuditCheckpoint(format!("{}: {e}", checkpoint.display())))?;
    let workspace = workspace
        .map(|ws| workspace_id(&ws).map(|w| w.into_string()))
        .transpose()?;
    let selected: Vec<&ChainHead> = statement
        .chains
        .iter()
        .filter(|h| h.records > 0)
        .filter(|h| {
            workspace
                .as_ref()
                .is_none_or(|ws| h.chain.strip_prefix("ws:") == Some(ws.as_str()))
        })
        .collect();
    exported(export, &selected)?;
    let body = Body::json(&AuditPruneRequest {
        chains: statement.chains.clone(),
        workspace_id: workspace,
    })?;
    let answer = client.post(AUDIT_PRUNE_PATH, &[], body).await?;
    let report: AuditPruneReport = parse_answer(&answer, "broker")?;
    if json {
        print_json(&answer);
        return Ok(());
    }
    let deleted: u64 = report.chains.iter().map(|c| c.deleted).sum();
    outln!(
        "pruned {deleted} records from {} chains up to the checkpoint of {}; keep that checkpoint: `nexus audit verify --checkpoint` with it checks the cut",
        report.chains.len(),
        statement.created_at
    );
    Ok(())
}

/// Refuse unless `export` (JSON lines of `nexus audit export`) holds each chain's head record
/// with the checkpoint's link: the export was taken after the checkpoint and reached its heads.
/// This is a check against pruning what was never exported, not a proof that every older line
/// is in the file (the records' links need the keyring to recompute).
fn exported(export: &Path, heads: &[&ChainHead]) -> CliResult<()> {
    let file = std::fs::File::open(export)
        .map_err(|e| CliError::config(format!("cannot read {}: {e}", export.display())))?;
    let mut wanted: HashMap<i64, &ChainHead> = heads.iter().map(|h| (h.head_id, *h)).collect();
    for line in std::io::BufReader::new(file).lines() {
        if wanted.is_empty() {
            break;
        }
        let line =
            line.map_err(|e| CliError::config(format!("cannot read {}: {e}", export.display())))?;
        let Ok(record) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let Some(id) = record.get("id").and_then(serde_json::Value::as_i64) else {
            continue;
        };
        if let Some(head) = wanted.get(&id)
            && record.get("hash").and_then(serde_json::Value::as_str) == Some(&head.head_hash)
        {
            wanted.remove(&id);
        }
    }
    if let Some(head) = wanted.values().next() {
        return Err(CliError::config(format!(
            "{} does not hold record {} of chain {} with the checkpoint's link: export the log (`nexus audit export --out FILE`) after taking the checkpoint, then prune; nothing was pruned",
            export.display(),
            head.head_id,
            head.chain
        )));
    }
    Ok(())
}
