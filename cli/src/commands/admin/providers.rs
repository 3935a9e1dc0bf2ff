//! `nexus providers`: apply a providers file (with its drift report) and list providers.

use crate::args::ProvidersCommand;
use crate::error::{CliError, CliResult};
use crate::http::{ApiClient, Body, parse_answer};
use crate::output::{outln, print_json, print_table, rows};
use nexus_broker::providers::file::expand_document;
use nexus_protocol::admin::{self, DriftReport};
use serde_json::{Value, json};
use std::path::Path;

pub async fn providers(client: &ApiClient, command: ProvidersCommand, json: bool) -> CliResult<()> {
    match command {
        ProvidersCommand::Apply {
            file,
            dry_run,
            prune,
        } => {
            let body = read_providers_file(&file)?;
            let query = [
                ("dry_run", dry_run.to_string()),
                ("prune", prune.to_string()),
            ];
            let report = client
                .post(admin::PROVIDERS_APPLY_PATH, &query, body)
                .await?;
            if json {
                print_json(&report);
            } else {
                print_drift_report(&parse_answer(&report, "broker")?);
            }
        }
        ProvidersCommand::List => {
            let list = client.get(admin::PROVIDERS_PATH, &[]).await?;
            if json {
                print_json(&list);
            } else {
                let providers: Vec<Value> = rows(&list, &["providers"])
                    .iter()
                    .map(provider_summary)
                    .collect();
                print_table(
                    &providers,
                    &[
                        ("NAME", "name"),
                        ("KIND", "kind"),
                        ("STRATEGY", "strategy"),
                        ("CLIENT SECRET", "client_secret"),
                        ("API BASE URL", "api_base_url"),
                    ],
                );
            }
        }
    }
    Ok(())
}

/// The YAML or JSON providers file as a request body, with `${NAME}` and `${NAME:-default}`
/// expanded from this process's environment (the broker never expands what it is sent). An unset
/// variable stops the command before anything is sent; the message names it, never a value.
fn read_providers_file(file: &Path) -> CliResult<Body> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::config(format!("cannot read {}: {e}", file.display())))?;
    let expanded = expand_document(&text, &|name| std::env::var(name).ok())
        .map_err(|e| CliError::config(format!("{}: {e}", file.display())))?;
    Ok(Body::Text {
        content_type: "application/json",
        text: expanded,
    })
}

fn print_drift_report(report: &DriftReport) {
    let verb = |done: &'static str, would: &'static str| if report.dry_run { would } else { done };
    for (names, label) in [
        (&report.created, verb("created", "would create")),
        (&report.updated, verb("updated", "would update")),
        (&report.pruned, verb("pruned", "would prune")),
        (&report.unchanged, "unchanged"),
    ] {
        for name in names {
            outln!("{label:<14} {name}");
        }
    }
    eprintln!(
        "{}{} created, {} updated, {} pruned, {} unchanged",
        if report.dry_run { "dry run: " } else { "" },
        report.created.len(),
        report.updated.len(),
        report.pruned.len(),
        report.unchanged.len()
    );
}

/// One provider as a table row. The broker never sends a client secret, only whether one is set.
fn provider_summary(p: &Value) -> Value {
    let strategy = p
        .get("strategy")
        .and_then(|s| s.get("type").or(Some(s)))
        .and_then(Value::as_str)
        .unwrap_or("-");
    let kind = ["kind", "auth_mode", "auth_type", "type"]
        .iter()
        .find_map(|k| p.get(*k).and_then(Value::as_str))
        .unwrap_or("-");
    let secret = match p.get("has_client_secret").and_then(Value::as_bool) {
        Some(true) => "set",
        Some(false) => "none",
        None => "-",
    };
    json!({
        "name": p.get("name"),
        "kind": kind,
        "strategy": strategy,
        "client_secret": secret,
        "api_base_url": p.get("api_base_url"),
    })
}
