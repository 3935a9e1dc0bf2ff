//! `nexus-broker`: the broker as a standalone process. Configuration from the environment
//! (see `BrokerConfig::from_env`), listen address from `NEXUS_BROKER_ADDR`
//! (default `127.0.0.1:8081`). Logs go to stderr (`RUST_LOG`, default `warn`). On start it
//! prints one line `nexus-broker listening on <addr>` to stderr. `nexus-broker --openapi` prints
//! the admin API's OpenAPI document on stdout and exits.
//!
//! SIGTERM or SIGINT stops it: it stops accepting, lets open requests finish, writes the usage
//! records it still queues, and exits 0.
//!
//! It serves on the same hardened listener as `nexus serve` (`nexus-listener`: header, idle and
//! body timeouts, connection caps, all `NEXUS_HTTP_*` settings): the broker's port must not be
//! the one a flood of idle connections can exhaust.

use nexus_broker::{Broker, BrokerConfig};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    // `nexus-broker --openapi`: print the admin API's OpenAPI document and exit.
    if std::env::args().nth(1).as_deref() == Some("--openapi") {
        return match serde_json::to_string_pretty(&nexus_broker::api_doc()) {
            Ok(doc) => {
                println!("{doc}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("nexus-broker: {e}");
                ExitCode::FAILURE
            }
        };
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("nexus-broker: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let config = BrokerConfig::from_env().map_err(|e| e.to_string())?;
    let addr = std::env::var("NEXUS_BROKER_ADDR").unwrap_or_else(|_| "127.0.0.1:8081".into());
    let broker = Broker::start(config).await.map_err(|e| e.to_string())?;
    let limits = nexus_listener::Limits::from_env()
        .map_err(|e| e.to_string())?
        .fit_descriptor_limit();
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("bind {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!("nexus-broker listening on {local}");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let router = broker.router();
    let serving = nexus_listener::serve(
        listener,
        router,
        nexus_listener::Connections::new(limits),
        stopped,
    );
    tokio::pin!(serving);
    tokio::select! {
        result = &mut serving => return result.map_err(|e| e.to_string()),
        signal = nexus_listener::shutdown_signal() => match signal {
            Ok(name) => eprintln!("nexus-broker: {name} received, shutting down"),
            Err(e) => eprintln!("nexus-broker: cannot listen for signals ({e}), shutting down"),
        },
    }
    // End the gateways' event streams first: they would otherwise hold the drain up.
    broker.close_event_streams();
    let _ = stop.send(true);
    let served = serving.await.map_err(|e| e.to_string());
    // Every request has ended: write what the broker still holds (queued usage).
    broker.flush().await;
    served
}
