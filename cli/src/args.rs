//! The command line: every subcommand and flag of `nexus`, parsed by clap.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  runtime failure (the server refused the request or failed)
  2  usage or configuration error (bad flag, missing token, port in use, bad database URL)
  3  the broker or gateway could not be reached
  4  the admin token or API key was rejected
  5  `nexus audit verify`: the audit chain is broken or does not match a checkpoint
  22 `nexus proxy --fail`: the upstream answered 400 or more

Admin commands find the broker through NEXUS_BROKER_URL and NEXUS_ADMIN_TOKEN; when those are
unset they read DIR/dev.env written by `nexus dev` (DIR is --home, NEXUS_HOME, or ./.nexus).";

#[derive(Debug, Parser)]
#[command(name = "nexus", version, about = "Run and operate the Nexus credential broker", after_help = AFTER_HELP)]
pub struct Cli {
    /// Directory of the dev stack's state (SQLite, keys, tokens, dev.env).
    #[arg(
        long,
        global = true,
        env = "NEXUS_HOME",
        default_value = ".nexus",
        value_name = "DIR"
    )]
    pub home: PathBuf,

    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole stack on this machine: SQLite, a generated key, broker and gateway on loopback.
    Dev(DevArgs),
    /// Run the gateway, the broker or both for production (configured from env and --config).
    Serve(ServeArgs),
    /// Create and list workspaces (each has its own connections and API keys).
    #[command(subcommand)]
    Workspaces(WorkspacesCommand),
    /// Manage OAuth and API-key providers.
    #[command(subcommand)]
    Providers(ProvidersCommand),
    /// List and import connections (a workspace's credentials for a provider).
    #[command(subcommand)]
    Connections(ConnectionsCommand),
    /// Print a signed, single-use link to the connect page (`--direct`: one OAuth flow's URL).
    Connect(ConnectArgs),
    /// Manage a workspace's API keys (what agents use to call the gateway).
    #[command(subcommand, name = "api-keys")]
    ApiKeys(ApiKeysCommand),
    /// Manage the master encryption keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Show the audit log, or check its hash chain (`nexus audit verify`).
    Audit(AuditArgs),
    /// Register and manage agents (their scopes, credentials and sessions).
    #[command(subcommand)]
    Agents(crate::commands::agents::AgentsCommand),
    /// Trusted issuers of user tokens for On-Behalf-Of sessions.
    #[command(subcommand)]
    Idp(crate::commands::agents::IdpCommand),
    /// Resolve a credential through the gateway, like an SDK does (the token is masked).
    Resolve(ResolveArgs),
    /// Call a provider's API through the gateway's proxy mode (the gateway injects the
    /// credential): the upstream's body on stdout, its status on stderr.
    Proxy(ProxyArgs),
    /// Nexus as OAuth authorization server of remote MCP servers (their resources).
    #[command(subcommand)]
    Mcp(crate::commands::mcp::McpCommand),
    /// Signed webhooks about connections (failures, recoveries, …) and their deliveries.
    #[command(subcommand)]
    Webhooks(crate::commands::webhooks::WebhooksCommand),
}

#[derive(Debug, Args)]
pub struct DevArgs {
    /// Where the gateway listens (`:0` picks a free port; dev.env gets the real one).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "HOST:PORT")]
    pub gateway_addr: SocketAddr,
    /// Where the broker listens (admin API, OAuth callback).
    #[arg(long, default_value = "127.0.0.1:8081", value_name = "HOST:PORT")]
    pub broker_addr: SocketAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Component {
    Gateway,
    Broker,
    All,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Which component to run in this process.
    #[arg(value_enum)]
    pub component: Component,
    /// A TOML file of settings; environment variables win over it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the gateway listens (else NEXUS_GATEWAY_ADDR, the file, or 0.0.0.0:8080).
    #[arg(long, value_name = "HOST:PORT")]
    pub gateway_addr: Option<SocketAddr>,
    /// Where the broker listens (else NEXUS_BROKER_ADDR, the file, or 0.0.0.0:8081).
    #[arg(long, value_name = "HOST:PORT")]
    pub broker_addr: Option<SocketAddr>,
}

#[derive(Debug, Subcommand)]
pub enum ProvidersCommand {
    /// Make the broker's providers match a YAML (or JSON) file, and print what changed.
    Apply {
        /// The providers file (see examples/providers.yaml).
        file: PathBuf,
        /// Show what would change without changing anything.
        #[arg(long)]
        dry_run: bool,
        /// Also delete providers that are not in the file.
        #[arg(long)]
        prune: bool,
    },
    /// List the providers (client secrets are never shown).
    List,
}

#[derive(Debug, Subcommand)]
pub enum WorkspacesCommand {
    /// Create a workspace.
    Create {
        /// Lowercase letters, digits, `_` and `-` (at most 63 characters).
        id: String,
        /// A display name.
        #[arg(long)]
        name: Option<String>,
    },
    /// List the workspaces.
    List,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportKind {
    /// stdin holds an API key.
    #[value(name = "api_key", alias = "api-key")]
    ApiKey,
    /// stdin holds an OAuth refresh token.
    #[value(name = "refresh_token", alias = "refresh-token")]
    RefreshToken,
    /// stdin holds a JSON object of credential fields (e.g. username and password).
    Credentials,
}

impl ImportKind {
    /// The protocol's kind (the one place its wire names are written).
    pub fn wire(self) -> nexus_protocol::admin::ImportKind {
        use nexus_protocol::admin::ImportKind as Wire;
        match self {
            Self::ApiKey => Wire::ApiKey,
            Self::RefreshToken => Wire::RefreshToken,
            Self::Credentials => Wire::Credentials,
        }
    }

    pub fn wire_name(self) -> &'static str {
        self.wire().as_str()
    }
}

#[derive(Debug, Subcommand)]
pub enum ConnectionsCommand {
    /// List a workspace's connections (never shows a secret).
    List {
        /// The workspace id (e.g. `dev`).
        #[arg(long, value_name = "W")]
        workspace: String,
    },
    /// Import an existing credential; the secret is read from stdin, never from the command line.
    Import {
        /// The workspace id (e.g. `dev`).
        #[arg(long, value_name = "W")]
        workspace: String,
        /// The provider name (as in the providers file).
        #[arg(long, value_name = "P")]
        provider: String,
        #[arg(long, value_enum)]
        kind: ImportKind,
        /// The end user this connection belongs to.
        #[arg(long)]
        user_id: Option<String>,
        /// A scope the credential carries (repeat for several).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The workspace id (e.g. `dev`).
    #[arg(long, value_name = "W")]
    pub workspace: String,
    /// A provider the page offers (repeat for several; all providers when none). With
    /// `--direct`, exactly one.
    #[arg(long = "provider", value_name = "P")]
    pub providers: Vec<String>,
    /// The end user the connections are for.
    #[arg(long = "user", alias = "user-id", value_name = "U")]
    pub user_id: Option<String>,
    /// How long the link stays valid, in seconds (60 to 86400; default 900).
    #[arg(long, value_name = "SECONDS")]
    pub ttl: Option<u64>,
    /// Start one OAuth flow and print the provider's authorize URL instead of a connect link.
    #[arg(long)]
    pub direct: bool,
    /// With `--direct`: a scope to request (repeat for several; the provider's defaults when none).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// With `--direct`: where the browser goes after the callback.
    #[arg(long)]
    pub return_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ApiKeysCommand {
    /// Create an API key; prints only the key on stdout so scripts can capture it.
    Create {
        /// The workspace id (e.g. `dev`).
        #[arg(long, value_name = "W")]
        workspace: String,
    },
    /// List a workspace's API keys (ids and prefixes, never the keys).
    List {
        /// The workspace id (e.g. `dev`).
        #[arg(long, value_name = "W")]
        workspace: String,
    },
    /// Revoke an API key by id.
    Revoke {
        /// The workspace id (e.g. `dev`).
        #[arg(long, value_name = "W")]
        workspace: String,
        key_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a new master key, make it active and re-encrypt every secret with it.
    Rotate,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<crate::commands::audit::AuditCommand>,
    /// Only records of this agent.
    #[arg(long, value_name = "AGENT_ID")]
    pub agent: Option<String>,
    /// Only records of sessions acting for this user (On-Behalf-Of).
    #[arg(long, value_name = "SUB")]
    pub user: Option<String>,
    /// The workspace id (e.g. `dev`).
    #[arg(long, value_name = "W")]
    pub workspace: Option<String>,
    /// Only records at or after this time (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Only records before this time (RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
    /// At most this many records (newest first).
    #[arg(long)]
    pub limit: Option<u32>,
}

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// The workspace id (e.g. `dev`).
    #[arg(long, value_name = "W")]
    pub workspace: String,
    /// The provider name (its `api_base_url` is the base of PATH).
    #[arg(long, value_name = "P")]
    pub provider: String,
    /// Another host of the provider (an entry of its `proxy.allowed_hosts`).
    #[arg(long, value_name = "HOST[:PORT]")]
    pub host: Option<String>,
    /// A request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub header: Vec<String>,
    /// The request body: text, `@FILE`, or `@-` for stdin.
    #[arg(short = 'd', long, value_name = "DATA")]
    pub data: Option<String>,
    /// Also print the response headers (to stderr).
    #[arg(short = 'i', long)]
    pub include: bool,
    /// Exit 22 when the upstream answers 400 or more (the body is still printed).
    #[arg(long)]
    pub fail: bool,
    /// The HTTP method (GET, POST, …).
    pub method: String,
    /// The path (and query) relative to the provider's `api_base_url`, e.g. `/contacts/42?x=1`.
    pub path: String,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The workspace id (e.g. `dev`).
    #[arg(long, value_name = "W")]
    pub workspace: String,
    /// The provider name (as in the providers file).
    #[arg(long, value_name = "P")]
    pub provider: String,
    /// Ask for a credential valid at least this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub min_ttl: Option<u64>,
    /// Skip the caches and refresh at the provider.
    #[arg(long)]
    pub force_refresh: bool,
}
