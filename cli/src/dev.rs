//! `nexus dev`: the whole stack in one process on the embedded default.
//!
//! Start-up order matters, because tests and scripts wait for `dev.env`:
//! 1. home directory locked (one stack per home), secrets (created once, mode 0600), stale
//!    `dev.env` removed;
//! 2. both listeners bound (a taken port fails here, before anything else starts;
//!    port 0 gets its real port);
//! 3. broker and gateway serving; both answer HTTP;
//! 4. workspace `dev` and its API key ensured through the admin API;
//! 5. `dev.env` written atomically: from now on clients can use the stack;
//! 6. on SIGINT/SIGTERM: servers drain, `dev.env` is removed (everything else stays).

use crate::args::DevArgs;
use crate::error::{CliError, CliResult};
use crate::home::{DevEnv, DevHome, random_token};
use crate::http::{ApiClient, Body, parse_answer};
use crate::server::{Services, bind, listener_limits, local_url, wait_until_serving};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use nexus_broker::{Broker, BrokerConfig};
use nexus_gateway::{Gateway, GatewayConfig};
use nexus_protocol::admin::{self, CreateWorkspaceRequest, CreatedApiKey, Workspace};
use nexus_protocol::{SecretString, WorkspaceId};
use rand::RngCore;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// The workspace `nexus dev` creates and puts in `dev.env`.
pub const DEV_WORKSPACE: &str = "dev";

const MASTER_KEY_FILE: &str = "master.key";
const ADMIN_TOKEN_FILE: &str = "admin.token";
const INTERNAL_TOKEN_FILE: &str = "internal.token";
const API_KEY_FILE: &str = "dev-api-key";

/// How long the freshly started services get to answer their first request.
const STARTUP_DEADLINE: Duration = Duration::from_secs(30);

pub async fn run(home_dir: &Path, args: DevArgs) -> CliResult<()> {
    crate::home::restrict_umask();
    let home = DevHome::create(home_dir)?;
    let _home_lock = home.lock()?;
    home.remove_dev_env()?;
    home.prepare_database_file()?;
    let secrets = DevSecrets::load_or_create(&home)?;

    let broker_listener = bind(args.broker_addr, "broker", "--broker-addr").await?;
    let gateway_listener = bind(args.gateway_addr, "gateway", "--gateway-addr").await?;
    let broker_url = local_url(local_addr(&broker_listener)?);
    let gateway_url = local_url(local_addr(&gateway_listener)?);

    // The authorization server's development login and loopback client documents exist only
    // when the broker is reachable from this machine alone.
    let loopback = local_addr(&broker_listener)?.ip().is_loopback();
    let dev_login_password = loopback.then(|| SecretString::new(random_token("nxdl_", 18)));
    let mut config = broker_config(&home, &secrets, &broker_url)?;
    config.authorization_server.dev_login_password = dev_login_password.clone();
    config.authorization_server.cimd_allow_loopback = loopback;
    let broker = Broker::start(config)
        .await
        .map_err(crate::serve::broker_start_error)?;
    let gateway = Gateway::new(gateway_config(&broker_url, &secrets)?)
        .map_err(|e| CliError::config(format!("cannot start the gateway: {e}")))?;

    let mut services = Services::new(listener_limits()?);
    services.spawn_broker(broker_listener, &broker);
    services.spawn_gateway(gateway_listener, &gateway);

    let ready = async {
        wait_until_serving(&format!("{broker_url}/healthz"), STARTUP_DEADLINE).await?;
        wait_until_serving(&format!("{gateway_url}/healthz"), STARTUP_DEADLINE).await?;
        let api_key = ensure_dev_workspace(&home, &broker_url, &secrets).await?;
        let env = DevEnv {
            gateway_url: gateway_url.clone(),
            broker_url: broker_url.clone(),
            admin_token: secrets.admin_token.clone(),
            api_key,
            workspace_id: DEV_WORKSPACE.to_owned(),
            dev_login_password,
        };
        home.write_dev_env(&env)
    };
    if let Err(e) = ready.await {
        services.shutdown().await;
        return Err(e);
    }

    print_banner(&home, &gateway_url, &broker_url);
    let outcome = services.run_until_signal().await;
    // dev.env describes a running stack; once stopped, clients should hear "start nexus dev",
    // not "connection refused" on ports that may belong to someone else by now.
    home.remove_dev_env()?;
    outcome
}

fn local_addr(listener: &tokio::net::TcpListener) -> CliResult<std::net::SocketAddr> {
    listener
        .local_addr()
        .map_err(|e| CliError::runtime(format!("cannot read the bound address: {e}")))
}

/// The secrets `nexus dev` generates once and keeps under the home directory.
struct DevSecrets {
    admin_token: SecretString,
    internal_token: SecretString,
}

impl DevSecrets {
    fn load_or_create(home: &DevHome) -> CliResult<Self> {
        // The broker reads this file (one base64 key; after `nexus keys rotate`, a JSON keyring
        // the broker writes itself). Losing it makes every stored secret unreadable.
        home.load_or_create_secret(MASTER_KEY_FILE, || {
            let mut key = [0u8; 32];
            rand::rng().fill_bytes(&mut key);
            STANDARD.encode(key)
        })?;
        Ok(Self {
            admin_token: home
                .load_or_create_secret(ADMIN_TOKEN_FILE, || random_token("nxadm_", 32))?,
            internal_token: home
                .load_or_create_secret(INTERNAL_TOKEN_FILE, || random_token("nxint_", 32))?,
        })
    }
}

fn broker_config(
    home: &DevHome,
    secrets: &DevSecrets,
    broker_url: &str,
) -> CliResult<BrokerConfig> {
    // `NEXUS_WEBHOOK_*` still apply; a dev stack may always call webhook receivers on loopback.
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let mut webhooks = nexus_broker::config::webhook_config_from(&var)
        .map_err(|e| CliError::config(format!("broker configuration: {e}")))?;
    webhooks.allow_loopback = true;
    Ok(BrokerConfig {
        database_url: home.database_url(),
        keyring: None,
        master_key_file: Some(home.path(MASTER_KEY_FILE)),
        admin_token: secrets.admin_token.clone(),
        internal_token: secrets.internal_token.clone(),
        public_url: broker_url.to_owned(),
        webhooks,
        ..BrokerConfig::default()
    })
}

/// The gateway talks to this process's broker; its tuning (`NEXUS_GATEWAY_*`: caches, rate
/// limit, sizes) can still be set from the environment, e.g. to switch rate limiting off.
fn gateway_config(broker_url: &str, secrets: &DevSecrets) -> CliResult<GatewayConfig> {
    let mut config = GatewayConfig::from_lookup(|name| match name {
        "NEXUS_BROKER_URL" => Some(broker_url.to_owned()),
        "NEXUS_INTERNAL_TOKEN" => Some(secrets.internal_token.expose().to_owned()),
        _ => std::env::var(name).ok().filter(|v| !v.trim().is_empty()),
    })
    .map_err(|e| CliError::config(format!("gateway configuration: {e}")))?;
    config.internal_token = secrets.internal_token.clone();
    Ok(config)
}

/// Make sure workspace `dev` exists and return a working API key for it: the one stored in the
/// home when the broker still accepts it, else a new one (stored for the next start).
async fn ensure_dev_workspace(
    home: &DevHome,
    broker_url: &str,
    secrets: &DevSecrets,
) -> CliResult<SecretString> {
    let admin = ApiClient::broker_admin(broker_url.to_owned(), secrets.admin_token.clone())?;
    let dev = WorkspaceId::new(DEV_WORKSPACE).map_err(|e| CliError::runtime(e.to_string()))?;
    let workspaces: Vec<Workspace> =
        parse_answer(&admin.get(admin::WORKSPACES_PATH, &[]).await?, "broker")?;
    if !workspaces.iter().any(|w| w.id == dev) {
        let body = CreateWorkspaceRequest {
            id: dev.clone(),
            name: Some("Development".into()),
        };
        admin
            .post(admin::WORKSPACES_PATH, &[], Body::json(&body)?)
            .await?;
    }

    if let Some(stored) = home.load_secret(API_KEY_FILE)?
        && key_is_valid(broker_url, secrets, &stored).await?
    {
        return Ok(stored);
    }
    let path = admin::workspace_path(&dev, "/api-keys");
    let created = admin.post(&path, &[], Body::Json(json!({}))).await?;
    let key = parse_answer::<CreatedApiKey>(&created, "broker")?.api_key;
    home.store_secret(API_KEY_FILE, &key)?;
    Ok(key)
}

/// Ask the broker (on the internal API, as the gateway does) whether `key` is a live key of
/// the dev workspace. A fresh database or a revoked key answers no.
async fn key_is_valid(
    broker_url: &str,
    secrets: &DevSecrets,
    key: &SecretString,
) -> CliResult<bool> {
    let internal = ApiClient::broker_admin(broker_url.to_owned(), secrets.internal_token.clone())?;
    let body = json!({"key": key.expose()});
    match internal
        .post(
            nexus_protocol::internal::VERIFY_API_KEY_PATH,
            &[],
            Body::Json(body),
        )
        .await
    {
        Ok(answer) => Ok(answer.get("workspace_id").and_then(Value::as_str) == Some(DEV_WORKSPACE)),
        Err(CliError::Rejected { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

fn print_banner(home: &DevHome, gateway_url: &str, broker_url: &str) {
    let env_path = home.dev_env_path();
    eprintln!(
        "\
nexus dev is running (Ctrl-C to stop)
  gateway:   {gateway_url}
  broker:    {broker_url}   (admin API, OAuth callback {broker_url}/oauth/callback)
  MCP auth:  {broker_url}/.well-known/oauth-authorization-server   (development login: any
             username, password NEXUS_DEV_LOGIN_PASSWORD in the settings file)
  workspace: {DEV_WORKSPACE}
  data:      {}
  settings:  {}   (API key, admin token, URLs)
use it from a shell with:  set -a; . {}; set +a",
        home.dir().display(),
        env_path.display(),
        env_path.display(),
    );
}
