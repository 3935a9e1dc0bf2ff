//! `nexus mcp resources add|list|disable`: register the URL of a remote MCP server in a
//! workspace, so the authorization server mints tokens for it (its `resource`, RFC 8707).
//! `nexus mcp clients bind-agent|unbind-agent`: make a registered OAuth client act for an
//! agent of the workspace (its access tokens then carry `act`).

use super::admin::{encode_segment, workspace_id};
use crate::error::CliResult;
use crate::http::{ApiClient, Body, parse_answer};
use crate::output::{outln, print_json, print_table, rows};
use clap::Subcommand;
use nexus_protocol::oauth::{
    McpClientAgent, McpResource, NewMcpResource, mcp_client_agent_path, mcp_resources_path,
};
use reqwest::Method;

#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// MCP servers (resources) the authorization server issues tokens for.
    #[command(subcommand)]
    Resources(ResourcesCommand),
    /// Registered OAuth clients of the authorization server.
    #[command(subcommand)]
    Clients(ClientsCommand),
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Make a registered client (a document URL or an `ocl_…` id) act for an enabled agent of
    /// the workspace: its tokens for the workspace's resources carry `act: {sub: <agent>}`.
    BindAgent {
        #[arg(long, value_name = "W")]
        workspace: String,
        #[arg(long, value_name = "AGENT")]
        agent: String,
        client_id: String,
    },
    /// Remove the binding: the client's next tokens carry no `act`.
    UnbindAgent {
        #[arg(long, value_name = "W")]
        workspace: String,
        client_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ResourcesCommand {
    /// Register an MCP server's resource URL; prints its id.
    Add {
        #[arg(long, value_name = "W")]
        workspace: String,
        /// The MCP server's canonical URL (e.g. `https://mcp.example.com/mcp`).
        #[arg(long = "url", value_name = "URL")]
        resource_uri: String,
        /// A name shown on the consent page (default: the host).
        #[arg(long)]
        name: Option<String>,
        /// A scope the server understands (repeat, or separate with spaces/commas).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Scopes granted when a client asks for none (default: all of --scope).
        #[arg(long = "default-scope", value_name = "SCOPE")]
        default_scopes: Vec<String>,
        /// Access token lifetime in seconds (60..3600, default 600).
        #[arg(long)]
        token_ttl: Option<u64>,
    },
    /// List a workspace's MCP resources.
    List {
        #[arg(long, value_name = "W")]
        workspace: String,
    },
    /// Stop issuing tokens for a resource (by id); refreshes stop too.
    Disable {
        #[arg(long, value_name = "W")]
        workspace: String,
        id: String,
    },
}

fn split(values: Vec<String>) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split([' ', ',']))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub async fn mcp(client: &ApiClient, command: McpCommand, json: bool) -> CliResult<()> {
    match command {
        McpCommand::Resources(command) => resources(client, command, json).await,
        McpCommand::Clients(command) => clients(client, command, json).await,
    }
}

async fn clients(client: &ApiClient, command: ClientsCommand, json: bool) -> CliResult<()> {
    match command {
        ClientsCommand::BindAgent {
            workspace,
            agent,
            client_id,
        } => {
            let path = mcp_client_agent_path(
                workspace_id(&workspace)?.as_str(),
                &encode_segment(&client_id),
            );
            let body = McpClientAgent {
                agent_id: agent.clone(),
            };
            client
                .send(Method::PUT, &path, &[], Body::json(&body)?)
                .await?;
            if !json {
                outln!("bound {client_id} to {agent}");
            }
        }
        ClientsCommand::UnbindAgent {
            workspace,
            client_id,
        } => {
            let path = mcp_client_agent_path(
                workspace_id(&workspace)?.as_str(),
                &encode_segment(&client_id),
            );
            client.send(Method::DELETE, &path, &[], Body::None).await?;
            if !json {
                outln!("unbound {client_id}");
            }
        }
    }
    Ok(())
}

async fn resources(client: &ApiClient, command: ResourcesCommand, json: bool) -> CliResult<()> {
    match command {
        ResourcesCommand::Add {
            workspace,
            resource_uri,
            name,
            scopes,
            default_scopes,
            token_ttl,
        } => {
            let path = mcp_resources_path(workspace_id(&workspace)?.as_str());
            let default_scopes = split(default_scopes);
            let body = NewMcpResource {
                resource_uri,
                name,
                scopes: split(scopes),
                default_scopes: (!default_scopes.is_empty()).then_some(default_scopes),
                access_token_ttl_seconds: token_ttl,
            };
            let added = client.post(&path, &[], Body::json(&body)?).await?;
            if json {
                print_json(&added);
            } else {
                let added: McpResource = parse_answer(&added, "broker")?;
                outln!("{}", added.id);
            }
        }
        ResourcesCommand::List { workspace } => {
            let path = mcp_resources_path(workspace_id(&workspace)?.as_str());
            let list = client.get(&path, &[]).await?;
            if json {
                print_json(&list);
            } else {
                print_table(
                    rows(&list, &[]),
                    &[
                        ("ID", "id"),
                        ("RESOURCE", "resource_uri"),
                        ("NAME", "name"),
                        ("SCOPES", "scopes"),
                        ("DISABLED", "disabled_at"),
                    ],
                );
            }
        }
        ResourcesCommand::Disable { workspace, id } => {
            let path = format!(
                "{}/{id}/disable",
                mcp_resources_path(workspace_id(&workspace)?.as_str())
            );
            client.post(&path, &[], Body::None).await?;
            if !json {
                outln!("disabled {id}");
            }
        }
    }
    Ok(())
}
