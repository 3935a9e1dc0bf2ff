//! Agent identity for operators: `nexus agents …`, `nexus idp …` (trusted issuers of user
//! tokens for On-Behalf-Of) and `nexus audit verify` (the audit hash chain).

use super::admin::is_valid_id;
use crate::error::{CliError, CliResult};
use crate::http::{ApiClient, Body};
use crate::output::{field, outln, print_json, print_table, rows};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Register an agent; prints only its credential on stdout (shown this once).
    Create {
        /// The workspace id (e.g. `dev`).
        #[arg(long, value_name = "W")]
        workspace: String,
        /// A name for people (e.g. `support-bot`).
        #[arg(long)]
        name: String,
        /// A scope the agent may ask for (repeat, or separate with spaces/commas), e.g.
        /// `crm:contacts:read` or `provider:github:repo`.
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Longest session the agent may get, in seconds (default 900).
        #[arg(long, value_name = "SECONDS")]
        max_session_ttl: Option<u64>,
    },
    /// List a workspace's agents (never their credentials).
    List {
        #[arg(long, value_name = "W")]
        workspace: String,
    },
    /// Disable an agent: no new sessions, and its live sessions stop working.
    Disable {
        #[arg(long, value_name = "W")]
        workspace: String,
        agent_id: String,
    },
    /// Enable a disabled agent.
    Enable {
        #[arg(long, value_name = "W")]
        workspace: String,
        agent_id: String,
    },
    /// Issue a new credential; the old one stops working at once. Prints only the credential.
    Rotate {
        #[arg(long, value_name = "W")]
        workspace: String,
        agent_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum IdpCommand {
    /// Trust an issuer of user tokens for On-Behalf-Of.
    Add {
        #[arg(long, value_name = "W")]
        workspace: String,
        /// The `iss` of the user tokens (an http(s) URL).
        #[arg(long)]
        issuer: String,
        /// Where its keys are; without it, OIDC discovery at `{issuer}/.well-known/openid-configuration`.
        #[arg(long)]
        jwks_url: Option<String>,
        /// Required `aud` of the user tokens.
        #[arg(long)]
        audience: Option<String>,
    },
    /// List a workspace's trusted issuers.
    List {
        #[arg(long, value_name = "W")]
        workspace: String,
    },
    /// Stop trusting an issuer (by id).
    Remove {
        #[arg(long, value_name = "W")]
        workspace: String,
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the audit hash chain. Exit code 0 when it holds, 5 when a record was edited or
    /// deleted.
    Verify {
        /// Only this workspace's chain (default: every chain).
        #[arg(long, value_name = "W")]
        workspace: Option<String>,
    },
}

fn agents_path(workspace: &str, rest: &str) -> CliResult<String> {
    checked_workspace(workspace)?;
    Ok(format!("/admin/v1/workspaces/{workspace}/agents{rest}"))
}

fn checked_workspace(workspace: &str) -> CliResult<()> {
    if is_valid_id(workspace) {
        Ok(())
    } else {
        Err(CliError::config(format!(
            "`{workspace}` is not a valid workspace id"
        )))
    }
}

/// Agent and provider ids are `[A-Za-z0-9_]`; anything else cannot name one (and must not
/// change the path).
fn checked_id(what: &str, id: &str) -> CliResult<()> {
    if !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(())
    } else {
        Err(CliError::config(format!("`{id}` is not a valid {what} id")))
    }
}

fn split_scopes(raw: Vec<String>) -> Vec<String> {
    raw.iter()
        .flat_map(|s| s.split([' ', ',']))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn print_credential(answer: &Value, json: bool, what: &str) -> CliResult<()> {
    if json {
        print_json(answer);
        return Ok(());
    }
    let credential = answer
        .get("agent_credential")
        .and_then(Value::as_str)
        .ok_or_else(|| CliError::runtime("the broker's answer has no agent_credential"))?;
    // Only the credential on stdout: `CRED=$(nexus agents create …)` must work.
    outln!("{credential}");
    eprintln!(
        "{what} agent {}; the credential is shown only this once",
        field(answer, "agent_id")
    );
    Ok(())
}

pub async fn agents(client: &ApiClient, command: AgentsCommand, json: bool) -> CliResult<()> {
    match command {
        AgentsCommand::Create {
            workspace,
            name,
            scopes,
            max_session_ttl,
        } => {
            let mut body = json!({"name": name, "scopes": split_scopes(scopes)});
            if let Some(ttl) = max_session_ttl {
                body["max_session_ttl_seconds"] = json!(ttl);
            }
            let created = client
                .post(&agents_path(&workspace, "")?, &[], Body::Json(body))
                .await?;
            print_credential(&created, json, "created")
        }
        AgentsCommand::List { workspace } => {
            let list = client.get(&agents_path(&workspace, "")?, &[]).await?;
            if json {
                print_json(&list);
            } else {
                print_table(
                    rows(&list, &["agents"]),
                    &[
                        ("AGENT ID", "agent_id"),
                        ("NAME", "name"),
                        ("SCOPES", "scopes"),
                        ("MAX TTL", "max_session_ttl_seconds"),
                        ("DISABLED", "disabled"),
                    ],
                );
            }
            Ok(())
        }
        AgentsCommand::Disable {
            workspace,
            agent_id,
        } => set_state(client, &workspace, &agent_id, "disable", json).await,
        AgentsCommand::Enable {
            workspace,
            agent_id,
        } => set_state(client, &workspace, &agent_id, "enable", json).await,
        AgentsCommand::Rotate {
            workspace,
            agent_id,
        } => {
            checked_id("agent", &agent_id)?;
            let path = agents_path(&workspace, &format!("/{agent_id}/rotate-credential"))?;
            let rotated = client.post(&path, &[], Body::Json(json!({}))).await?;
            print_credential(&rotated, json, "rotated the credential of")
        }
    }
}

async fn set_state(
    client: &ApiClient,
    workspace: &str,
    agent_id: &str,
    verb: &str,
    json: bool,
) -> CliResult<()> {
    checked_id("agent", agent_id)?;
    let path = agents_path(workspace, &format!("/{agent_id}/{verb}"))?;
    let agent = client.post(&path, &[], Body::Json(json!({}))).await?;
    if json {
        print_json(&agent);
    } else {
        outln!("{agent_id} {verb}d");
    }
    Ok(())
}

pub async fn idp(client: &ApiClient, command: IdpCommand, json: bool) -> CliResult<()> {
    match command {
        IdpCommand::Add {
            workspace,
            issuer,
            jwks_url,
            audience,
        } => {
            checked_workspace(&workspace)?;
            let mut body = json!({ "issuer": issuer });
            if let Some(url) = jwks_url {
                body["jwks_url"] = json!(url);
            }
            if let Some(aud) = audience {
                body["audience"] = json!(aud);
            }
            let path = format!("/admin/v1/workspaces/{workspace}/identity-providers");
            let added = client.post(&path, &[], Body::Json(body)).await?;
            if json {
                print_json(&added);
            } else {
                outln!("{}", field(&added, "id"));
            }
        }
        IdpCommand::List { workspace } => {
            checked_workspace(&workspace)?;
            let path = format!("/admin/v1/workspaces/{workspace}/identity-providers");
            let list = client.get(&path, &[]).await?;
            if json {
                print_json(&list);
            } else {
                print_table(
                    rows(&list, &["identity_providers"]),
                    &[
                        ("ID", "id"),
                        ("ISSUER", "issuer"),
                        ("JWKS URL", "jwks_url"),
                        ("AUDIENCE", "audience"),
                    ],
                );
            }
        }
        IdpCommand::Remove { workspace, id } => {
            checked_workspace(&workspace)?;
            checked_id("identity provider", &id)?;
            let path = format!("/admin/v1/workspaces/{workspace}/identity-providers/{id}");
            client.send(Method::DELETE, &path, &[], Body::None).await?;
            if !json {
                outln!("removed {id}");
            }
        }
    }
    Ok(())
}

/// `nexus audit verify`: prints the verdict; a broken chain is [`CliError::AuditChainBroken`]
/// (exit code 5).
pub async fn audit(client: &ApiClient, command: AuditCommand, json: bool) -> CliResult<()> {
    let AuditCommand::Verify { workspace } = command;
    let mut query = Vec::new();
    if let Some(ws) = workspace {
        checked_workspace(&ws)?;
        query.push(("workspace_id", ws));
    }
    let verdict = client.get("/admin/v1/audit/verify", &query).await?;
    let ok = verdict.get("ok").and_then(Value::as_bool);
    let checked = field(&verdict, "checked");
    if json {
        print_json(&verdict);
    } else if ok == Some(true) {
        outln!("ok: the audit chain holds ({checked} records checked)");
    }
    match ok {
        Some(true) => Ok(()),
        Some(false) => Err(CliError::AuditChainBroken {
            first_broken_id: field(&verdict, "first_broken_id"),
            checked,
        }),
        None => Err(CliError::runtime("the broker's answer has no `ok`")),
    }
}
