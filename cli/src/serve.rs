//! `nexus serve gateway|broker|all`: production. Each component reads its settings with its
//! own `from_env()`; `--config FILE` supplies settings that the environment does not set.
//!
//! The config file is flat TOML whose keys are the environment variables, with or without the
//! `NEXUS_` prefix and in any case:
//!
//! ```toml
//! database_url = "postgres://nexus@db/nexus"
//! master_key_file = "/etc/nexus/master.key"
//! broker_public_url = "https://nexus.example.com"
//! gateway_addr = "0.0.0.0:8080"
//! ```

use crate::args::{Component, ServeArgs};
use crate::error::{CliError, CliResult};
use crate::server::{Services, bind, listener_limits, local_url};
use crate::tokens::check_service_tokens;
use nexus_broker::{Broker, BrokerConfig};
use nexus_gateway::{Gateway, GatewayConfig};
use nexus_protocol::SecretString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

const DEFAULT_GATEWAY_ADDR: &str = "0.0.0.0:8080";
const DEFAULT_BROKER_ADDR: &str = "0.0.0.0:8081";

/// Read `--config FILE` into `NEXUS_*` environment variables that are not already set.
///
/// Must run before the async runtime starts: changing the environment is only sound while the
/// process has a single thread.
pub fn apply_config_file(path: &Path) -> CliResult<()> {
    for (name, value) in read_config_file(path)? {
        if std::env::var_os(&name).is_none() {
            // SAFETY: called from `main` before any other thread exists (see above).
            unsafe { std::env::set_var(&name, value) };
        }
    }
    Ok(())
}

/// The `(NEXUS_NAME, value)` pairs of a config file.
fn read_config_file(path: &Path) -> CliResult<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::config(format!("cannot read {}: {e}", path.display())))?;
    parse_config(&text).map_err(|e| CliError::config(format!("{}: {e}", path.display())))
}

fn parse_config(text: &str) -> Result<Vec<(String, String)>, String> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| e.message().to_owned())?;
    table
        .into_iter()
        .map(|(key, value)| {
            let upper = key.to_ascii_uppercase().replace('-', "_");
            let name = if upper.starts_with("NEXUS_") {
                upper
            } else {
                format!("NEXUS_{upper}")
            };
            let value = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => return Err(format!("`{key}` must be a string, number or boolean")),
            };
            Ok((name, value))
        })
        .collect()
}

pub async fn run(args: ServeArgs) -> CliResult<()> {
    crate::home::restrict_umask();
    let mut services = Services::new(listener_limits()?);
    let run_broker = matches!(args.component, Component::Broker | Component::All);
    let run_gateway = matches!(args.component, Component::Gateway | Component::All);

    let mut local_broker_url = None;
    if run_broker {
        let addr = listen_addr(args.broker_addr, "NEXUS_BROKER_ADDR", DEFAULT_BROKER_ADDR)?;
        let mut config = BrokerConfig::from_env()
            .map_err(|e| CliError::config(format!("broker configuration: {e}")))?;
        check_service_tokens(Some(&config.admin_token), Some(&config.internal_token))?;
        let listener = bind(addr, "broker", "--broker-addr").await?;
        let bound = listener
            .local_addr()
            .map_err(|e| CliError::runtime(e.to_string()))?;
        if std::env::var_os("NEXUS_BROKER_PUBLIC_URL").is_none() {
            // The built-in default names a fixed port; at least name the one we listen on.
            config.public_url = local_url(bound);
            eprintln!(
                "nexus: NEXUS_BROKER_PUBLIC_URL is not set; OAuth callbacks will go to {}/oauth/callback, which only this machine can reach",
                config.public_url
            );
        }
        check_database_reachable(&config.database_url).await?;
        if let Some(db) = sqlite_file(&config.database_url) {
            crate::home::restrict_sqlite_files(&db)?;
        }
        let broker = Broker::start(config).await.map_err(broker_start_error)?;
        eprintln!("nexus: broker listening on {bound}");
        local_broker_url = Some(local_url(bound));
        services.spawn_broker(listener, &broker);
    }
    if run_gateway {
        let addr = listen_addr(
            args.gateway_addr,
            "NEXUS_GATEWAY_ADDR",
            DEFAULT_GATEWAY_ADDR,
        )?;
        // With `all`, the gateway reaches the broker of this process unless told otherwise.
        let mut config = GatewayConfig::from_lookup(|name| {
            let value = std::env::var(name).ok().filter(|v| !v.trim().is_empty());
            match name {
                "NEXUS_BROKER_URL" => value.or_else(|| local_broker_url.clone()),
                _ => value,
            }
        })
        .map_err(|e| CliError::config(format!("gateway configuration: {e}")))?;
        let admin_token = std::env::var("NEXUS_ADMIN_TOKEN")
            .ok()
            .filter(|v| !v.is_empty())
            .map(SecretString::from);
        check_service_tokens(admin_token.as_ref(), Some(&config.internal_token))?;
        let listener = bind(addr, "gateway", "--gateway-addr").await?;
        let bound = listener
            .local_addr()
            .map_err(|e| CliError::runtime(e.to_string()))?;
        config.access_log = production_access_log()?;
        let gateway = Gateway::new(config)
            .map_err(|e| CliError::config(format!("cannot start the gateway: {e}")))?;
        eprintln!("nexus: gateway listening on {bound}");
        services.spawn_gateway(listener, &gateway);
    }
    services.run_until_signal().await
}

/// With JSON logs (the `nexus serve` default), access lines go through the gateway's own writer
/// thread instead of one `tracing` event per request (see `nexus_gateway::access_log`); the
/// log filter still decides whether they are written at all (`NEXUS_LOG=warn` turns them off).
fn production_access_log() -> CliResult<Option<nexus_gateway::access_log::AccessLog>> {
    let json = !matches!(std::env::var("NEXUS_LOG_FORMAT").as_deref(), Ok("text"));
    if !json || !tracing::enabled!(target: "nexus_gateway::access", tracing::Level::INFO) {
        return Ok(None);
    }
    nexus_gateway::access_log::AccessLog::stderr()
        .map(Some)
        .map_err(|e| CliError::runtime(format!("cannot start the access log writer: {e}")))
}

/// Fail fast, and clearly, when a PostgreSQL server cannot even be reached (the database pool
/// would otherwise wait for its acquire timeout and report only "pool timed out").
async fn check_database_reachable(database_url: &str) -> CliResult<()> {
    let Ok(url) = url::Url::parse(database_url) else {
        return Ok(());
    };
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Ok(());
    }
    // A URL without a host uses a Unix socket: nothing to probe here.
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Ok(());
    };
    let port = url.port().unwrap_or(5432);
    let probe = tokio::net::TcpStream::connect((host, port));
    let outcome = tokio::time::timeout(DATABASE_PROBE_TIMEOUT, probe).await;
    let reason = match outcome {
        Ok(Ok(_)) => return Ok(()),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {DATABASE_PROBE_TIMEOUT:?}"),
    };
    // host:port only: the URL may carry a password.
    Err(CliError::config(format!(
        "cannot reach the database server {host}:{port}: {reason}\n  hint: check NEXUS_DATABASE_URL and that PostgreSQL is running"
    )))
}

/// The file of a `sqlite://PATH?…` / `sqlite:PATH` URL (none for an in-memory database).
fn sqlite_file(database_url: &str) -> Option<PathBuf> {
    let rest = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

const DATABASE_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A broker start-up failure, with a hint at the setting to fix.
pub fn broker_start_error(e: nexus_broker::BrokerError) -> CliError {
    use nexus_broker::BrokerError;
    let hint = match &e {
        BrokerError::Config(_) | BrokerError::Crypto(_) => {
            "check NEXUS_MASTER_KEY / NEXUS_MASTER_KEY_FILE (base64 of 32 bytes, or a keyring file)"
        }
        BrokerError::Store(_) => {
            "check NEXUS_DATABASE_URL (sqlite://PATH?mode=rwc or postgres://USER@HOST/DB) and that the database is reachable"
        }
        BrokerError::ProvidersFile(_) => "check NEXUS_PROVIDERS_FILE",
        BrokerError::AuthorizationServer(_) => {
            "check NEXUS_AS_ISSUER and NEXUS_AS_CIMD_ALLOW_LOOPBACK (loopback documents need a loopback issuer)"
        }
    };
    CliError::config(format!("cannot start the broker: {e}\n  hint: {hint}"))
}

/// The flag, else the environment variable, else the default.
fn listen_addr(flag: Option<SocketAddr>, var: &str, default: &str) -> CliResult<SocketAddr> {
    if let Some(addr) = flag {
        return Ok(addr);
    }
    let text = std::env::var(var).ok().filter(|v| !v.trim().is_empty());
    let text = text.as_deref().unwrap_or(default);
    text.trim()
        .parse()
        .map_err(|_| CliError::config(format!("{var}=`{text}` is not a HOST:PORT address")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keys_become_nexus_variables() {
        let pairs = parse_config(
            "database_url = \"postgres://db/x\"\nNEXUS_ADMIN_TOKEN = \"t\"\nprovider-timeout-ms = 500\n",
        )
        .unwrap();
        assert!(pairs.contains(&("NEXUS_DATABASE_URL".into(), "postgres://db/x".into())));
        assert!(pairs.contains(&("NEXUS_ADMIN_TOKEN".into(), "t".into())));
        assert!(pairs.contains(&("NEXUS_PROVIDER_TIMEOUT_MS".into(), "500".into())));
    }

    #[test]
    fn tables_and_bad_toml_are_rejected() {
        assert!(parse_config("[broker]\nx = 1\n").is_err());
        assert!(parse_config("x = ").is_err());
    }

    #[test]
    fn a_flag_wins_over_the_default() {
        let flag: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert_eq!(
            listen_addr(Some(flag), "NEXUS_TEST_UNSET_ADDR", "0.0.0.0:1").unwrap(),
            flag
        );
        assert_eq!(
            listen_addr(None, "NEXUS_TEST_UNSET_ADDR", "0.0.0.0:1").unwrap(),
            "0.0.0.0:1".parse::<SocketAddr>().unwrap()
        );
    }
}
