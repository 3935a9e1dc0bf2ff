//! Agent identity for operators: `nexus agents …`, `nexus idp …` (trusted issuers of user
//! tokens for On-Behalf-Of).

use super::admin::workspace_id;
use crate::error::{CliError, CliResult};
use crate::http::{ApiClient, Body, parse_answer};
use crate::output::{outln, print_json, print_table, rows};
use clap::Subcommand;
use nexus_protocol::admin::{
    self, AddIdentityProviderRequest, ConsoleAccess, CreateAgentRequest, IdentityProvider,
    RotatedCredential,
};
use nexus_protocol::{AgentId, IdentityProviderId, Scope, SecretString, WorkspaceId};
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
    /// Disable an agent: no new sessions, and its live sessions end (enabling it again does not
    /// revive them).
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
    /// Issue a new credential; the old one and every session minted with it stop working at
    /// once. Prints only the credential.
    Rotate {
        #[arg(long, value_name = "W")]
        workspace: String,
        agent_id: String,
    },
    /// An agent's sessions: list, revoke.
    #[command(subcommand)]
    Sessions(super::agent_sessions::SessionsCommand),
}

#[derive(Debug, Subcommand)]
// Parsed once per process: the size of the `add` variant does not matter.
#[allow(clippy::large_enum_variant)]
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
        /// Browser login through this issuer (OpenID Connect): the client id registered there,
        /// with redirect URIs `{issuer}/as/login/callback` and `{public}/console/login/callback`.
        #[arg(long, value_name = "ID")]
        login_client_id: Option<String>,
        /// A file holding that client's secret (sent once, sealed by the broker, never shown).
        #[arg(long, value_name = "F", conflicts_with = "login_client_secret_env")]
        login_client_secret_file: Option<std::path::PathBuf>,
        /// An environment variable holding that client's secret.
        #[arg(long, value_name = "VAR")]
        login_client_secret_env: Option<String>,
        /// Operators' console: this provider's user with this `sub` may sign in (repeatable).
        #[arg(long, value_name = "SUB")]
        console_allow_subject: Vec<String>,
        /// Operators' console: a user with this verified email may sign in (repeatable).
        #[arg(long, value_name = "EMAIL")]
        console_allow_email: Vec<String>,
        /// Operators' console: a member of this group may sign in (repeatable).
        #[arg(long, value_name = "GROUP")]
        console_allow_group: Vec<String>,
        /// The id_token claim listing the user's groups.
        #[arg(long, value_name = "CLAIM", default_value = "groups")]
        groups_claim: String,
        /// Also accept this issuer's ID-JAGs (MCP enterprise-managed authorization) at the
        /// authorization server's token endpoint, for the workspace's MCP resources.
        #[arg(long)]
        allow_id_jag: bool,
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

fn agents_path(workspace: &str, rest: &str) -> CliResult<String> {
    Ok(admin::workspace_path(
        &workspace_id(workspace)?,
        &format!("/agents{rest}"),
    ))
}

fn idps_path(workspace: &WorkspaceId, rest: &str) -> String {
    admin::workspace_path(workspace, &format!("/identity-providers{rest}"))
}

/// An id the broker generated (agent, identity provider), checked by the protocol's rule: a
/// value that breaks it cannot name one (and must not change the path).
fn checked_id<T: TryFrom<String, Error = nexus_protocol::IdError>>(id: String) -> CliResult<T> {
    T::try_from(id).map_err(|e| CliError::config(e.to_string()))
}

fn split_scopes(raw: Vec<String>) -> CliResult<Vec<Scope>> {
    raw.iter()
        .flat_map(|s| s.split([' ', ',']))
        .filter(|s| !s.is_empty())
        .map(|s| Scope::new(s).map_err(|e| CliError::config(e.to_string())))
        .collect()
}

fn print_credential(answer: &Value, json: bool, what: &str) -> CliResult<()> {
    if json {
        print_json(answer);
        return Ok(());
    }
    // A created agent's answer is the agent plus its credential; a rotation's is the id plus
    // the credential: both have the fields of `RotatedCredential`.
    let answer: RotatedCredential = parse_answer(answer, "broker")?;
    // Only the credential on stdout: `CRED=$(nexus agents create …)` must work.
    outln!("{}", answer.agent_credential.expose());
    eprintln!(
        "{what} agent {}; the credential is shown only this once",
        answer.agent_id
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
            let path = agents_path(&workspace, "")?;
            let body = CreateAgentRequest {
                name,
                scopes: split_scopes(scopes)?,
                max_session_ttl_seconds: max_session_ttl,
            };
            let created = client.post(&path, &[], Body::json(&body)?).await?;
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
            let agent_id: AgentId = checked_id(agent_id)?;
            let path = agents_path(&workspace, &format!("/{agent_id}/rotate-credential"))?;
            let rotated = client.post(&path, &[], Body::Json(json!({}))).await?;
            print_credential(&rotated, json, "rotated the credential of")
        }
        AgentsCommand::Sessions(command) => {
            super::agent_sessions::sessions(client, command, json).await
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
    let agent_id: AgentId = checked_id(agent_id.to_owned())?;
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
            login_client_id,
            login_client_secret_file,
            login_client_secret_env,
            console_allow_subject,
            console_allow_email,
            console_allow_group,
            groups_claim,
            allow_id_jag,
        } => {
            let path = idps_path(&workspace_id(&workspace)?, "");
            let login_client_secret = login_secret(
                login_client_secret_file.as_deref(),
                login_client_secret_env.as_deref(),
            )?;
            let console_rule = !(console_allow_subject.is_empty()
                && console_allow_email.is_empty()
                && console_allow_group.is_empty());
            let console = console_rule.then_some(ConsoleAccess {
                subjects: console_allow_subject,
                emails: console_allow_email,
                groups: console_allow_group,
                groups_claim,
            });
            let body = AddIdentityProviderRequest {
                issuer,
                jwks_url,
                audience,
                login_client_id,
                login_client_secret,
                console,
                allow_id_jag,
            };
            let added = client.post(&path, &[], Body::json(&body)?).await?;
            if json {
                print_json(&added);
            } else {
                let added: IdentityProvider = parse_answer(&added, "broker")?;
                outln!("{}", added.id);
            }
        }
        IdpCommand::List { workspace } => {
            let path = idps_path(&workspace_id(&workspace)?, "");
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
                        ("LOGIN CLIENT", "login_client_id"),
                        ("ID-JAG", "allow_id_jag"),
                    ],
                );
            }
        }
        IdpCommand::Remove { workspace, id } => {
            let workspace = workspace_id(&workspace)?;
            let id: IdentityProviderId = checked_id(id)?;
            let path = idps_path(&workspace, &format!("/{id}"));
            client.send(Method::DELETE, &path, &[], Body::None).await?;
            if !json {
                outln!("removed {id}");
            }
        }
    }
    Ok(())
}

/// The login client's secret from a file or an environment variable (trailing newline
/// removed). Messages name where it was looked for, never the value.
fn login_secret(
    file: Option<&std::path::Path>,
    env: Option<&str>,
) -> CliResult<Option<SecretString>> {
    let raw = match (file, env) {
        (Some(path), _) => std::fs::read_to_string(path).map_err(|e| {
            CliError::config(format!(
                "cannot read --login-client-secret-file {}: {e}",
                path.display()
            ))
        })?,
        (None, Some(var)) => std::env::var(var).map_err(|_| {
            CliError::config(format!(
                "--login-client-secret-env: the environment variable {var} is not set"
            ))
        })?,
        (None, None) => return Ok(None),
    };
    let secret = raw.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        return Err(CliError::config("the login client secret is empty"));
    }
    Ok(Some(SecretString::new(secret)))
}
