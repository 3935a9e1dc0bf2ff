//! `nexus-testkit`: run one loopback test server for tests written in other languages.
//!
//! Prints ONE line of JSON on stdout once the server is listening, e.g.
//! `{"url":"http://127.0.0.1:41234","kind":"oauth",...}`, then serves until stdin reaches EOF
//! (the spawning test exited or closed the pipe), SIGINT/SIGTERM, or the process is killed.
//! Logs go to stderr (`NEXUS_TESTKIT_LOG=debug` for more).

use std::io::Write;
use std::net::SocketAddr;

use clap::{Parser, Subcommand, ValueEnum};
use nexus_testkit::{
    ClientAuth, EchoServer, Forwarder, OAuthServer, OAuthServerOptions, WsServer, WsServerOptions,
};
use serde_json::json;
use tokio::io::AsyncReadExt;

#[derive(Parser)]
#[command(
    name = "nexus-testkit",
    about = "Loopback test servers for Nexus tests"
)]
struct Cli {
    #[command(subcommand)]
    server: ServerKind,
}

#[derive(Subcommand)]
enum ServerKind {
    /// A fake OAuth 2.0 / OIDC provider (control API under /_control/).
    Oauth {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value = "nexus-test-client")]
        client_id: String,
        #[arg(long, default_value = "nexus-test-secret")]
        client_secret: String,
        /// Registered redirect URI (repeatable). None: any http/https URI is accepted.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Client authentication the token endpoint requires.
        #[arg(long, value_enum, default_value_t = AuthArg::Either)]
        client_auth: AuthArg,
        /// `expires_in` of access tokens, seconds.
        #[arg(long, default_value_t = 3600)]
        expires_in: u64,
    },
    /// An echo upstream (control API under /_control/).
    Echo {
        #[command(flatten)]
        common: Common,
    },
    /// A bare forwarding proxy to `--upstream` (no auth, audit or injection): the floor of
    /// proxy mode in `scripts/bench/proxy.sh`.
    Forward {
        #[command(flatten)]
        common: Common,
        /// `http://host:port` every request is forwarded to (path and query kept).
        #[arg(long)]
        upstream: String,
    },
    /// A WebSocket upstream that checks the token on every handshake, plus a stand-in gateway
    /// issuing that token (`gateway_url`/v1/resolve) and the control API under /_control/.
    Ws {
        #[command(flatten)]
        common: Common,
        /// Lifetime of each issued token, seconds.
        #[arg(long, default_value_t = 3600)]
        expires_in: u64,
        /// Drop connections at random (seeded) with this probability per message.
        #[arg(long)]
        drop_seed: Option<u64>,
        #[arg(long, default_value_t = 0.0)]
        drop_probability: f64,
    },
}

#[derive(clap::Args)]
struct Common {
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Keep running when stdin reaches EOF (for runs with stdin redirected from /dev/null).
    #[arg(long)]
    ignore_stdin: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum AuthArg {
    Basic,
    Post,
    Either,
}

#[tokio::main]
async fn main() {
    init_logging();
    let cli = Cli::parse();
    let code = match run(cli.server).await {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("nexus-testkit: {error}");
            1
        }
    };
    // Exit here rather than by returning: the stdin watcher may still sit in a blocking read
    // (after a signal), and dropping the runtime would wait for that read forever.
    std::process::exit(code)
}

async fn run(kind: ServerKind) -> std::io::Result<()> {
    let signals = StopSignals::install()?;
    match kind {
        ServerKind::Oauth {
            common,
            client_id,
            client_secret,
            redirect_uris,
            client_auth,
            expires_in,
        } => {
            let options = OAuthServerOptions {
                addr: common.addr,
                client_id,
                client_secret,
                redirect_uris,
                client_auth: match client_auth {
                    AuthArg::Basic => ClientAuth::Basic,
                    AuthArg::Post => ClientAuth::Post,
                    AuthArg::Either => ClientAuth::Either,
                },
                access_token_ttl: std::time::Duration::from_secs(expires_in),
                ..OAuthServerOptions::default()
            };
            let server = OAuthServer::try_start(options).await?;
            announce(&json!({
                "kind": "oauth",
                "url": server.url(),
                "issuer": server.issuer(),
                "authorization_endpoint": server.authorize_url(),
                "token_endpoint": server.token_url(),
                "jwks_uri": server.jwks_url(),
                "client_id": server.client_id(),
                "client_secret": server.client_secret(),
            }))?;
            wait_until_told_to_stop(signals, common.ignore_stdin).await;
            stop_within_grace(server.shutdown()).await;
        }
        ServerKind::Echo { common } => {
            let server = EchoServer::try_start_on(common.addr).await?;
            announce(&json!({ "kind": "echo", "url": server.url() }))?;
            wait_until_told_to_stop(signals, common.ignore_stdin).await;
            stop_within_grace(server.shutdown()).await;
        }
        ServerKind::Forward { common, upstream } => {
            let server = Forwarder::try_start_on(common.addr, &upstream).await?;
            announce(&json!({ "kind": "forward", "url": server.url(), "upstream": upstream }))?;
            wait_until_told_to_stop(signals, common.ignore_stdin).await;
            stop_within_grace(server.shutdown()).await;
        }
        ServerKind::Ws {
            common,
            expires_in,
            drop_seed,
            drop_probability,
        } => {
            let server = WsServer::try_start(WsServerOptions {
                addr: common.addr,
                token_ttl: std::time::Duration::from_secs(expires_in),
                random_drop_seed: drop_seed,
                drop_probability,
            })
            .await?;
            announce(&json!({
                "kind": "ws",
                "url": server.url(),
                "gateway_url": server.gateway_url(),
                "control_url": server.gateway_url(),
            }))?;
            wait_until_told_to_stop(signals, common.ignore_stdin).await;
            stop_within_grace(server.shutdown()).await;
        }
    }
    Ok(())
}

/// How long in-flight requests (e.g. an injected `Slow` failure) may delay the exit.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Let in-flight requests finish, but never keep a test suite waiting on a held response.
async fn stop_within_grace(shutdown: impl std::future::Future<Output = ()>) {
    if tokio::time::timeout(SHUTDOWN_GRACE, shutdown)
        .await
        .is_err()
    {
        tracing::info!("in-flight requests still open after the grace period; exiting anyway");
    }
}

/// The one stdout line the spawning test reads.
fn announce(line: &serde_json::Value) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()
}

async fn wait_until_told_to_stop(mut signals: StopSignals, ignore_stdin: bool) {
    let stdin_closed = async {
        if ignore_stdin {
            std::future::pending::<()>().await;
        }
        let mut stdin = tokio::io::stdin();
        let mut buffer = [0u8; 256];
        // Input is ignored; only EOF (or a read error) matters.
        while let Ok(n) = stdin.read(&mut buffer).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::select! {
        () = stdin_closed => tracing::info!("stdin closed; stopping"),
        () = signals.recv() => tracing::info!("signal received; stopping"),
    }
}

/// SIGTERM and SIGINT, registered before the server is announced: a test that kills the process
/// right after reading the announcement must get a clean stop, not the default signal death.
struct StopSignals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.terminate.recv() => {}
                _ = self.interrupt.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NEXUS_TESTKIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
