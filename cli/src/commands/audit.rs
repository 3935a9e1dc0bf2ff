//! `nexus audit verify|checkpoint-key|checkpoint|export|prune`: the audit hash chain, signed
//! checkpoints against truncation (the operator's Ed25519 key, see
//! `nexus_vault::audit::checkpoint` for why it is not one of the broker's keys), the
//! JSON-lines export for a SIEM, and retention (pruning up to a checkpoint, after an export).

#[path = "audit_prune.rs"]
mod prune;

use super::admin::workspace_id;
use crate::error::{CliError, CliResult};
use crate::http::{ApiClient, Body, parse_answer};
use crate::output::{outln, print_json};
use clap::{Subcommand, ValueEnum};
use nexus_protocol::admin::{self, ChainVerdict};
use nexus_protocol::audit::{
    AUDIT_CHECKPOINT_VERIFY_PATH, AUDIT_EXPORT_PATH, AUDIT_HEADS_PATH, AuditHeads,
    CheckpointVerdict,
};
use nexus_vault::audit::checkpoint::CheckpointKey;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the audit hash chain. Exit code 0 when it holds, 5 when a record was edited or
    /// deleted. With `--checkpoint`, also 5 when the log no longer holds what the signed
    /// checkpoint states (truncated, re-chained, a chain deleted, the table emptied).
    Verify {
        /// Only this workspace's chain (default: every chain; not with --checkpoint).
        #[arg(long, value_name = "W", conflicts_with = "checkpoint")]
        workspace: Option<String>,
        /// A checkpoint file written by `nexus audit checkpoint`.
        #[arg(long, value_name = "FILE", requires = "key")]
        checkpoint: Option<PathBuf>,
        /// The checkpoint key: its public file (`….pub`) is enough to verify.
        #[arg(long, value_name = "KEY_FILE", env = "NEXUS_AUDIT_CHECKPOINT_KEY")]
        key: Option<PathBuf>,
    },
    /// Create an operator checkpoint key: FILE (private, mode 0600) and FILE.pub. Keep the
    /// private file away from the broker and its database.
    CheckpointKey {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Print (or write) a checkpoint: every chain's length and head, signed with the private
    /// checkpoint key. Refused (exit 5) when a chain does not verify.
    Checkpoint {
        #[arg(long, value_name = "KEY_FILE", env = "NEXUS_AUDIT_CHECKPOINT_KEY")]
        key: PathBuf,
        /// Write here instead of stdout (refuses to overwrite a file).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Stream audit records, oldest first, one JSON object per line.
    Export {
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Only this workspace's records.
        #[arg(long, value_name = "W")]
        workspace: Option<String>,
        /// Only records with a larger id (resume where an earlier export stopped).
        #[arg(long, value_name = "ID")]
        after_id: Option<u64>,
        /// Write here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Delete the records of each chain up to its head in a signed checkpoint. Refused unless
    /// the checkpoint's signature verifies, the export file holds every chain's head record
    /// with the checkpoint's link, and the log still holds the checkpoint (nothing is deleted
    /// then). Afterwards `verify` checks each chain from the checkpoint's head.
    Prune {
        /// The checkpoint to cut at (`nexus audit checkpoint`); keep it: `verify --checkpoint`
        /// with it checks the cut.
        #[arg(long, value_name = "FILE")]
        checkpoint: PathBuf,
        /// The checkpoint key (the public file is enough).
        #[arg(long, value_name = "KEY_FILE", env = "NEXUS_AUDIT_CHECKPOINT_KEY")]
        key: PathBuf,
        /// A JSON-lines export (`nexus audit export`) taken after the checkpoint.
        #[arg(long, value_name = "FILE")]
        export: PathBuf,
        /// Only this workspace's chain.
        #[arg(long, value_name = "W")]
        workspace: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// JSON lines (`application/x-ndjson`).
    Jsonl,
}

pub async fn audit(client: &ApiClient, command: AuditCommand, json: bool) -> CliResult<()> {
    match command {
        AuditCommand::Verify {
            workspace,
            checkpoint: Some(file),
            key,
        } => {
            debug_assert!(workspace.is_none());
            let key = key.ok_or_else(|| CliError::config("--checkpoint needs --key"))?;
            verify_checkpoint(client, &file, &key, json).await
        }
        AuditCommand::Verify { workspace, .. } => verify(client, workspace, json).await,
        AuditCommand::CheckpointKey { out } => write_key_pair(&out),
        AuditCommand::Checkpoint { key, out } => checkpoint(client, &key, out.as_deref()).await,
        AuditCommand::Export {
            format: ExportFormat::Jsonl,
            workspace,
            after_id,
            out,
        } => export(client, workspace, after_id, out.as_deref()).await,
        AuditCommand::Prune {
            checkpoint,
            key,
            export,
            workspace,
        } => prune::prune(client, &checkpoint, &key, &export, workspace, json).await,
    }
}

/// `nexus audit verify`: prints the verdict; a broken chain is [`CliError::AuditChainBroken`].
async fn verify(client: &ApiClient, workspace: Option<String>, json: bool) -> CliResult<()> {
    let mut query = Vec::new();
    if let Some(ws) = workspace {
        query.push(("workspace_id", workspace_id(&ws)?.into_string()));
    }
    let answer = client.get(admin::AUDIT_VERIFY_PATH, &query).await?;
    let verdict: ChainVerdict = parse_answer(&answer, "broker")?;
    let checked = verdict.checked.to_string();
    if json {
        print_json(&answer);
    } else if verdict.ok {
        outln!("ok: the audit chain holds ({checked} records checked)");
    }
    if verdict.ok {
        Ok(())
    } else {
        Err(CliError::AuditChainBroken {
            first_broken_id: verdict
                .first_broken_id
                .map_or_else(|| "-".to_owned(), |id| id.to_string()),
            checked,
        })
    }
}

pub(super) fn read_key(path: &Path) -> CliResult<CheckpointKey> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::config(format!("cannot read {}: {e}", path.display())))?;
    CheckpointKey::parse(&text).map_err(|e| CliError::config(format!("{}: {e}", path.display())))
}

/// Create `path` with `mode`, refusing to replace an existing file.
fn create_new(path: &Path, mode: u32, text: &str) -> CliResult<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| CliError::config(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(text.as_bytes())
        .map_err(|e| CliError::runtime(format!("cannot write {}: {e}", path.display())))
}

fn write_key_pair(out: &Path) -> CliResult<()> {
    let (private, public) = CheckpointKey::generate();
    let mut public_path = out.as_os_str().to_owned();
    public_path.push(".pub");
    let public_path = PathBuf::from(public_path);
    if public_path.exists() {
        return Err(CliError::config(format!(
            "{} already exists",
            public_path.display()
        )));
    }
    create_new(out, 0o600, &private)?;
    create_new(&public_path, 0o644, &public)?;
    eprintln!(
        "wrote {} (private: keep it off the broker's hosts) and {}",
        out.display(),
        public_path.display()
    );
    Ok(())
}

async fn checkpoint(client: &ApiClient, key: &Path, out: Option<&Path>) -> CliResult<()> {
    let key = read_key(key)?;
    let answer = client.get(AUDIT_HEADS_PATH, &[]).await?;
    let heads: AuditHeads = parse_answer(&answer, "broker")?;
    if !heads.ok {
        return Err(CliError::AuditCheckpoint(
            "a chain does not verify now; run `nexus audit verify` (no checkpoint written)".into(),
        ));
    }
    let created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let signed = key
        .sign(created_at, heads.chains)
        .map_err(|e| CliError::config(e.to_string()))?;
    let text = serde_json::to_string_pretty(&signed)
        .map_err(|e| CliError::runtime(format!("cannot write the checkpoint: {e}")))?;
    match out {
        Some(path) => create_new(path, 0o644, &format!("{text}\n")),
        None => {
            outln!("{text}");
            Ok(())
        }
    }
}

async fn verify_checkpoint(
    client: &ApiClient,
    file: &Path,
    key: &Path,
    json: bool,
) -> CliResult<()> {
    let key = read_key(key)?;
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::config(format!("cannot read {}: {e}", file.display())))?;
    let statement = key
        .verify(&text)
        .map_err(|e| CliError::AuditCheckpoint(format!("{}: {e}", file.display())))?;
    let chains = statement.chains.len();
    let body = Body::json(&AuditHeads {
        chains: statement.chains,
        ok: true,
    })?;
    let answer = client.post(AUDIT_CHECKPOINT_VERIFY_PATH, &[], body).await?;
    let verdict: CheckpointVerdict = parse_answer(&answer, "broker")?;
    if json {
        print_json(&answer);
    }
    if verdict.ok {
        if !json {
            outln!(
                "ok: the audit log holds the checkpoint of {} ({chains} chains)",
                statement.created_at
            );
        }
        return Ok(());
    }
    let problems: Vec<String> = verdict
        .problems
        .iter()
        .map(|p| format!("{}: {}", p.chain, p.problem))
        .collect();
    Err(CliError::AuditCheckpoint(problems.join("; ")))
}

async fn export(
    client: &ApiClient,
    workspace: Option<String>,
    after_id: Option<u64>,
    out: Option<&Path>,
) -> CliResult<()> {
    let mut query = Vec::new();
    if let Some(ws) = workspace {
        query.push(("workspace_id", workspace_id(&ws)?.into_string()));
    }
    if let Some(after) = after_id {
        query.push(("after_id", after.to_string()));
    }
    let mut sink: Box<dyn Write> = match out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| CliError::config(format!("cannot create {}: {e}", path.display())))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    client
        .stream(AUDIT_EXPORT_PATH, &query, |chunk| {
            sink.write_all(chunk)
                .map_err(|e| CliError::runtime(format!("cannot write the export: {e}")))
        })
        .await?;
    sink.flush()
        .map_err(|e| CliError::runtime(format!("cannot write the export: {e}")))
}
