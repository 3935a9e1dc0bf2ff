//! The `nexus` command: run the stack (`dev`, `serve`) and operate it (providers, connections,
//! API keys, master keys, audit, resolve).
//!
//! Module map:
//! - [`args`]: the command line (clap);
//! - [`dev`] / [`serve`]: run broker and gateway in this process ([`server`] holds the shared
//!   signal plumbing around the `nexus-listener` crate, [`home`] the dev stack's files);
//! - [`commands`]: the operator commands, over the HTTP client in [`http`], aimed by [`target`];
//! - [`error`]: failures and the exit codes scripts rely on; [`output`]: printing.
//!
//! Results go to stdout, everything else (progress, hints, logs) to stderr.

mod args;
mod commands;
mod dev;
mod error;
mod home;
mod http;
mod output;
mod serve;
mod server;
mod target;
mod tokens;

use args::{Cli, Command};
use clap::Parser;
use error::{CliError, CliResult, EXIT_OK};
use home::DevHome;
use http::ApiClient;
use target::Settings;

/// The servers (`dev`, `serve`) allocate small, short-lived buffers on every request (header
/// maps, bodies, audit records) from many threads at once; profiles of the gateway under load
/// put ~28 % of its CPU in glibc's `malloc`/`free`. mimalloc's per-thread free lists make
/// those calls cheap. Only the binary chooses an allocator: the library crates stay neutral.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // A panic is a bug, never a user mistake: say so in one line, without a backtrace.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("nexus: internal error (please report this bug): {info}");
    }));
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("nexus: error: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> CliResult<()> {
    // Must precede the runtime: it may set environment variables (see serve::apply_config_file).
    if let Command::Serve(serve_args) = &cli.command
        && let Some(path) = &serve_args.config
    {
        serve::apply_config_file(path)?;
    }
    init_logging(&cli.command);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::runtime(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(dispatch(cli))
}

async fn dispatch(cli: Cli) -> CliResult<()> {
    let json = cli.json;
    match cli.command {
        Command::Dev(args) => dev::run(&cli.home, args).await,
        Command::Serve(args) => serve::run(args).await,
        Command::Workspaces(command) => {
            commands::admin::workspaces(&admin_client(&cli.home)?, command, json).await
        }
        Command::Providers(command) => {
            commands::admin::providers(&admin_client(&cli.home)?, command, json).await
        }
        Command::Connections(command) => {
            commands::admin::connections(&admin_client(&cli.home)?, command, json).await
        }
        Command::Connect(args) => {
            commands::connect::connect(&admin_client(&cli.home)?, args, json).await
        }
        Command::ApiKeys(command) => {
            commands::admin::api_keys(&admin_client(&cli.home)?, command, json).await
        }
        Command::Keys(command) => {
            commands::admin::keys(&admin_client(&cli.home)?, command, json).await
        }
        Command::Audit(mut args) => match args.command.take() {
            Some(command) => commands::audit::audit(&admin_client(&cli.home)?, command, json).await,
            None => commands::admin::audit(&admin_client(&cli.home)?, args, json).await,
        },
        Command::Agents(command) => {
            commands::agents::agents(&admin_client(&cli.home)?, command, json).await
        }
        Command::Idp(command) => {
            commands::agents::idp(&admin_client(&cli.home)?, command, json).await
        }
        Command::Mcp(command) => commands::mcp::mcp(&admin_client(&cli.home)?, command, json).await,
        Command::Webhooks(command) => {
            commands::webhooks::webhooks(&admin_client(&cli.home)?, command, json).await
        }
        Command::Resolve(args) => {
            let target = Settings::load(DevHome::existing(&cli.home))?.gateway()?;
            commands::resolve::resolve(target, args, json).await
        }
        Command::Proxy(args) => {
            let target = Settings::load(DevHome::existing(&cli.home))?.gateway()?;
            commands::proxy::proxy(target, args).await
        }
    }
}

fn admin_client(home: &std::path::Path) -> CliResult<ApiClient> {
    let target = Settings::load(DevHome::existing(home))?.admin()?;
    ApiClient::broker_admin(target.broker_url, target.admin_token)
}

/// Logs go to stderr. Servers log at `info`, commands only warnings; `NEXUS_LOG` (or
/// `RUST_LOG`) overrides, e.g. `NEXUS_LOG=debug`.
/// Logs go to stderr only (stdout is for command output). `nexus serve` writes one JSON object
/// per line, for log shippers; `nexus dev` and admin commands write text for a person.
/// `NEXUS_LOG_FORMAT=json|text` overrides; `NEXUS_LOG` (or `RUST_LOG`) sets the filter.
fn init_logging(command: &Command) {
    use tracing_subscriber::EnvFilter;
    let server = matches!(command, Command::Dev(_) | Command::Serve(_));
    let default = if server { "info" } else { "warn" };
    let filter = std::env::var("NEXUS_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let json = match std::env::var("NEXUS_LOG_FORMAT").ok().as_deref() {
        Some("json") => true,
        Some("text") => false,
        _ => matches!(command, Command::Serve(_)),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().with_current_span(false).try_init()
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init()
    };
}
