//! `nexus agents sessions list|revoke`: an agent's sessions for operators.

use super::admin::workspace_id;
use crate::error::{CliError, CliResult};
use crate::http::{ApiClient, Body, parse_answer};
use crate::output::{outln, print_json, print_table, rows};
use clap::Subcommand;
use nexus_protocol::admin::{self, RevokedSessions};
use nexus_protocol::{AgentId, SessionId};
use reqwest::Method;

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List an agent's sessions that have not expired (never their tokens), newest first.
    List {
        #[arg(long, value_name = "W")]
        workspace: String,
        agent_id: String,
    },
    /// Revoke one session of the agent, or all of them with `--all`.
    Revoke {
        #[arg(long, value_name = "W")]
        workspace: String,
        agent_id: String,
        /// The session to revoke (`ses_…`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        session_id: Option<String>,
        /// Revoke every live session of the agent.
        #[arg(long)]
        all: bool,
    },
}

fn sessions_path(workspace: &str, agent_id: String, rest: &str) -> CliResult<String> {
    let agent_id = AgentId::try_from(agent_id).map_err(|e| CliError::config(e.to_string()))?;
    Ok(admin::workspace_path(
        &workspace_id(workspace)?,
        &format!("/agents/{agent_id}/sessions{rest}"),
    ))
}

pub async fn sessions(client: &ApiClient, command: SessionsCommand, json: bool) -> CliResult<()> {
    match command {
        SessionsCommand::List {
            workspace,
            agent_id,
        } => {
            let list = client
                .get(&sessions_path(&workspace, agent_id, "")?, &[])
                .await?;
            if json {
                print_json(&list);
            } else {
                print_table(
                    rows(&list, &["sessions"]),
                    &[
                        ("SESSION ID", "session_id"),
                        ("SUB", "sub"),
                        ("SCOPES", "scopes"),
                        ("EXPIRES AT", "expires_at"),
                        ("ACTIVE", "active"),
                        ("REASON", "inactive_reason"),
                    ],
                );
            }
        }
        SessionsCommand::Revoke {
            workspace,
            agent_id,
            session_id,
            ..
        } => {
            let rest = match session_id {
                Some(sid) => {
                    let sid =
                        SessionId::try_from(sid).map_err(|e| CliError::config(e.to_string()))?;
                    format!("/{sid}")
                }
                None => String::new(),
            };
            let path = sessions_path(&workspace, agent_id, &rest)?;
            let answer = client.send(Method::DELETE, &path, &[], Body::None).await?;
            if json {
                print_json(&answer);
            } else {
                let answer: RevokedSessions = parse_answer(&answer, "broker")?;
                outln!("revoked {} session(s)", answer.revoked);
            }
        }
    }
    Ok(())
}
