//! Load N OAuth connections across M workspaces, sealed as in production (issue 20).
//!
//! ```sh
//! NEXUS_DATABASE_URL=postgres://… NEXUS_MASTER_KEY_FILE=/tmp/seed.key \
//!   cargo run --release -p nexus-vault --example seed -- 1000000 10000 [PROVIDERS]
//! ```
//!
//! The key file is created when it does not exist; start the broker with the same one
//! (`NEXUS_MASTER_KEY_FILE`) to resolve the seeded connections. Prints what it loaded and how
//! fast; the database is migrated first, like a broker start.

use nexus_vault::Vault;
use nexus_vault::config::VaultConfig;
use nexus_vault::crypto::{Keyring, MasterKey};
use nexus_vault::seed::{SeedPlan, seed};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut number = |default: usize| args.next().and_then(|a| a.parse().ok()).unwrap_or(default);
    let (connections, workspaces, providers) = (number(2_000), number(20), number(10));
    let database_url = std::env::var("NEXUS_DATABASE_URL")
        .map_err(|_| "set NEXUS_DATABASE_URL (postgres://… or sqlite://…?mode=rwc)")?;
    let key_file = PathBuf::from(
        std::env::var("NEXUS_MASTER_KEY_FILE").map_err(|_| "set NEXUS_MASTER_KEY_FILE")?,
    );
    if !key_file.exists() {
        Keyring::single(MasterKey::generate()).save_file(&key_file)?;
    }
    let vault = Vault::start(VaultConfig {
        database_url,
        keyring: None,
        master_key_file: Some(key_file),
        public_url: "http://127.0.0.1:8081".into(),
        oauth_redirect_uri: None,
        providers_file: None,
        refresh_margin: Duration::from_secs(300),
        provider_timeout: Duration::from_secs(10),
        provider_retries: 0,
        provider_backoff: Duration::from_millis(200),
        pending_lifetime: Duration::from_secs(600),
        authorization_server: Default::default(),
        webhooks: Default::default(),
        database_max_connections: None,
        database_lookup_slots: None,
    })
    .await?;
    let started = Instant::now();
    let plan = SeedPlan {
        workspaces,
        connections,
        providers,
        token_url: "http://127.0.0.1:9/token".into(),
    };
    let seeded = seed(&vault, &plan).await?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "seeded {} connections across {workspaces} workspaces and {providers} providers in {secs:.1} s ({:.0} connections/s)",
        seeded.len(),
        seeded.len() as f64 / secs
    );
    Ok(())
}
