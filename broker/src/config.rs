//! Broker configuration: what the operator sets, read from the environment by `from_env`.

use nexus_protocol::SecretString;
use nexus_vault::VaultConfig;
use nexus_vault::crypto::{CryptoError, Keyring, MasterKey};
use std::path::PathBuf;
use std::time::Duration;

/// Everything the broker needs to start. Fields are public so tests and the CLI can build one
/// directly; `from_env` is what the `nexus-broker` binary uses.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `sqlite://PATH?mode=rwc` (embedded default) or `postgres://…`.
    pub database_url: String,
    /// Keys used to seal secrets at rest. `None` means "load from `master_key_file`".
    pub keyring: Option<Keyring>,
    /// A keyring file (JSON `{active, keys}` or one base64 key). Rotation writes new keys here,
    /// and a broker that meets a ciphertext under an unknown key id reloads it.
    pub master_key_file: Option<PathBuf>,
    /// Bearer token of the admin API.
    pub admin_token: SecretString,
    /// Bearer token the gateway sends on the internal API.
    pub internal_token: SecretString,
    /// Public base URL of the broker; the OAuth redirect URI is `{public_url}/oauth/callback`.
    pub public_url: String,
    /// Declarative providers file applied at start-up (no pruning).
    pub providers_file: Option<PathBuf>,
    /// Refresh an access token when it expires within this margin (plus jitter).
    pub refresh_margin: Duration,
    /// Timeout of each HTTP request to a provider.
    pub provider_timeout: Duration,
    /// How many times a transient provider failure (429, 5xx, timeout) is retried.
    pub provider_retries: u32,
    /// First back-off delay; doubles each retry.
    pub provider_backoff: Duration,
    /// Lifetime of a pending authorization (`state`).
    pub pending_lifetime: Duration,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` name the client
    /// (`NEXUS_TRUSTED_PROXIES`, CIDR blocks); empty: the client is the TCP peer.
    pub trusted_proxies: nexus_protocol::forwarded::TrustedProxies,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            database_url: "sqlite://nexus-broker.db?mode=rwc".into(),
            keyring: None,
            master_key_file: None,
            admin_token: SecretString::default(),
            internal_token: SecretString::default(),
            public_url: "http://127.0.0.1:8081".into(),
            providers_file: None,
            refresh_margin: Duration::from_secs(300),
            provider_timeout: Duration::from_secs(10),
            provider_retries: 3,
            provider_backoff: Duration::from_millis(200),
            pending_lifetime: Duration::from_secs(600),
            trusted_proxies: Default::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name}: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl BrokerConfig {
    /// Read `NEXUS_DATABASE_URL`, `NEXUS_MASTER_KEY` / `NEXUS_MASTER_KEY_FILE`,
    /// `NEXUS_ADMIN_TOKEN`, `NEXUS_INTERNAL_TOKEN`, `NEXUS_BROKER_PUBLIC_URL`,
    /// `NEXUS_PROVIDERS_FILE`, and optionally `NEXUS_REFRESH_MARGIN_SECS`,
    /// `NEXUS_PROVIDER_TIMEOUT_MS`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mut config = Self::default();
        if let Some(url) = var("NEXUS_DATABASE_URL") {
            config.database_url = url;
        }
        config.master_key_file = var("NEXUS_MASTER_KEY_FILE").map(PathBuf::from);
        if let Some(key) = var("NEXUS_MASTER_KEY") {
            config.keyring = Some(Keyring::single(MasterKey::from_base64(&key)?));
        } else if config.master_key_file.is_none() {
            return Err(ConfigError::Missing("NEXUS_MASTER_KEY"));
        }
        config.admin_token = var("NEXUS_ADMIN_TOKEN")
            .ok_or(ConfigError::Missing("NEXUS_ADMIN_TOKEN"))?
            .into();
        config.internal_token = var("NEXUS_INTERNAL_TOKEN")
            .ok_or(ConfigError::Missing("NEXUS_INTERNAL_TOKEN"))?
            .into();
        if let Some(url) = var("NEXUS_BROKER_PUBLIC_URL") {
            config.public_url = url.trim_end_matches('/').to_owned();
        }
        config.providers_file = var("NEXUS_PROVIDERS_FILE").map(PathBuf::from);
        if let Some(secs) = var("NEXUS_REFRESH_MARGIN_SECS") {
            let secs = secs.parse().map_err(|_| ConfigError::Invalid {
                name: "NEXUS_REFRESH_MARGIN_SECS",
                reason: "not a number".into(),
            })?;
            config.refresh_margin = Duration::from_secs(secs);
        }
        if let Some(list) = var("NEXUS_TRUSTED_PROXIES") {
            config.trusted_proxies = nexus_protocol::forwarded::TrustedProxies::parse(&list)
                .map_err(|reason| ConfigError::Invalid {
                    name: "NEXUS_TRUSTED_PROXIES",
                    reason,
                })?;
        }
        if let Some(ms) = var("NEXUS_PROVIDER_TIMEOUT_MS") {
            let ms = ms.parse().map_err(|_| ConfigError::Invalid {
                name: "NEXUS_PROVIDER_TIMEOUT_MS",
                reason: "not a number".into(),
            })?;
            config.provider_timeout = Duration::from_millis(ms);
        }
        Ok(config)
    }

    /// The domain part of the configuration (everything but the broker's own bearer tokens).
    pub fn vault_config(&self) -> VaultConfig {
        VaultConfig {
            database_url: self.database_url.clone(),
            keyring: self.keyring.clone(),
            master_key_file: self.master_key_file.clone(),
            public_url: self.public_url.clone(),
            providers_file: self.providers_file.clone(),
            refresh_margin: self.refresh_margin,
            provider_timeout: self.provider_timeout,
            provider_retries: self.provider_retries,
            provider_backoff: self.provider_backoff,
            pending_lifetime: self.pending_lifetime,
        }
    }

    pub fn redirect_uri(&self) -> String {
        format!("{}/oauth/callback", self.public_url.trim_end_matches('/'))
    }
}
