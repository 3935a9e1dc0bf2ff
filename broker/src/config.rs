//! Broker configuration: what the operator sets, read from the environment by `from_env`.

use nexus_protocol::SecretString;
use nexus_vault::crypto::{CryptoError, Keyring, MasterKey};
use nexus_vault::{VaultConfig, WebhookConfig};
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
    /// The OAuth redirect URI when it is not the broker's own callback: a gateway's
    /// `/auth/callback`, which relays to the broker (the original gateway's redirect URI, kept so
    /// provider registrations made for it keep working). `NEXUS_OAUTH_REDIRECT_URI`.
    pub oauth_redirect_uri: Option<String>,
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
    /// The OAuth authorization server for MCP servers (issue 17).
    pub authorization_server: nexus_vault::AsConfig,
    /// Webhook delivery (`NEXUS_WEBHOOK_*`).
    pub webhooks: WebhookConfig,
    /// Most database connections this process opens (`NEXUS_DATABASE_MAX_CONNECTIONS`);
    /// `None`: the store's default (see `docs/operators/scaling.md` for sizing).
    pub database_max_connections: Option<u32>,
    /// Most connection lookups of the resolve path in flight at once
    /// (`NEXUS_DATABASE_LOOKUP_SLOTS`); the others wait in the broker, not in the database.
    /// `None`: 4 × cores, at least 8 (raise it for a database with a long round trip; see
    /// `docs/operators/scaling.md`). Refreshes and audit writes never wait on it.
    pub database_lookup_slots: Option<u32>,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` name the client
    /// (`NEXUS_TRUSTED_PROXIES`, CIDR blocks); empty: the client is the TCP peer.
    pub trusted_proxies: nexus_protocol::forwarded::TrustedProxies,
    /// Run the keep-alive worker for providers with a `keep_alive` policy (`NEXUS_KEEPALIVE=on|off`,
    /// default on). Off: idle connections are not refreshed by this process.
    pub keep_alive: bool,
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
            oauth_redirect_uri: None,
            providers_file: None,
            refresh_margin: Duration::from_secs(300),
            provider_timeout: Duration::from_secs(10),
            provider_retries: 3,
            provider_backoff: Duration::from_millis(200),
            pending_lifetime: Duration::from_secs(600),
            authorization_server: nexus_vault::AsConfig::default(),
            webhooks: WebhookConfig::default(),
            database_max_connections: None,
            database_lookup_slots: None,
            trusted_proxies: Default::default(),
            keep_alive: true,
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
    /// `NEXUS_OAUTH_REDIRECT_URI`,
    /// `NEXUS_PROVIDERS_FILE`, and optionally `NEXUS_REFRESH_MARGIN_SECS`,
    /// `NEXUS_PROVIDER_TIMEOUT_MS` and the `NEXUS_WEBHOOK_*` settings (`webhook_config_from`).
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
        config.oauth_redirect_uri =
            var("NEXUS_OAUTH_REDIRECT_URI").filter(|u| !u.trim().is_empty());
        config.providers_file = var("NEXUS_PROVIDERS_FILE").map(PathBuf::from);
        if let Some(secs) = var("NEXUS_REFRESH_MARGIN_SECS") {
            let secs = secs.parse().map_err(|_| ConfigError::Invalid {
                name: "NEXUS_REFRESH_MARGIN_SECS",
                reason: "not a number".into(),
            })?;
            config.refresh_margin = Duration::from_secs(secs);
        }
        if let Some(v) = var("NEXUS_KEEPALIVE") {
            config.keep_alive = match v.as_str() {
                "on" => true,
                "off" => false,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "NEXUS_KEEPALIVE",
                        reason: "on or off".into(),
                    });
                }
            };
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
        read_authorization_server(&mut config.authorization_server, &var)?;
        config.webhooks = webhook_config_from(&var)?;
        config.database_max_connections = positive(&var, "NEXUS_DATABASE_MAX_CONNECTIONS")?;
        config.database_lookup_slots = positive(&var, "NEXUS_DATABASE_LOOKUP_SLOTS")?;
        Ok(config)
    }

    /// The domain part of the configuration (everything but the broker's own bearer tokens).
    pub fn vault_config(&self) -> VaultConfig {
        VaultConfig {
            database_url: self.database_url.clone(),
            keyring: self.keyring.clone(),
            master_key_file: self.master_key_file.clone(),
            public_url: self.public_url.clone(),
            oauth_redirect_uri: self.oauth_redirect_uri.clone(),
            providers_file: self.providers_file.clone(),
            refresh_margin: self.refresh_margin,
            provider_timeout: self.provider_timeout,
            provider_retries: self.provider_retries,
            provider_backoff: self.provider_backoff,
            pending_lifetime: self.pending_lifetime,
            authorization_server: self.authorization_server.clone(),
            webhooks: self.webhooks.clone(),
            database_max_connections: self.database_max_connections,
            database_lookup_slots: self.database_lookup_slots,
        }
    }

    pub fn redirect_uri(&self) -> String {
        self.vault_config().redirect_uri()
    }
}

/// A positive whole number from `name`, if set.
fn positive(
    var: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<u32>, ConfigError> {
    var(name)
        .map(|n| {
            n.parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(ConfigError::Invalid {
                    name,
                    reason: "not a positive number".into(),
                })
        })
        .transpose()
}

/// `NEXUS_AS_ISSUER`, `NEXUS_AS_DCR` (`open`|`off`), `NEXUS_AS_CIMD_ALLOW_LOOPBACK` (`1`).
/// The development login is never read from the environment: only `nexus dev` sets it.
fn read_authorization_server(
    config: &mut nexus_vault::AsConfig,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    config.issuer = var("NEXUS_AS_ISSUER").map(|v| v.trim_end_matches('/').to_owned());
    match var("NEXUS_AS_DCR").as_deref() {
        None | Some("open") => config.registration_open = true,
        Some("off") => config.registration_open = false,
        Some(_) => {
            return Err(ConfigError::Invalid {
                name: "NEXUS_AS_DCR",
                reason: "must be open or off".into(),
            });
        }
    }
    config.cimd_allow_loopback = var("NEXUS_AS_CIMD_ALLOW_LOOPBACK").as_deref() == Some("1");
    Ok(())
}

/// `NEXUS_WEBHOOK_DISPATCH=on|paused`, `NEXUS_WEBHOOK_BACKOFF=5s,30s,…`,
/// `NEXUS_WEBHOOK_MAX_ATTEMPTS`, `NEXUS_WEBHOOK_MAX_AGE`, `NEXUS_WEBHOOK_LEASE`,
/// `NEXUS_WEBHOOK_TIMEOUT`, `NEXUS_WEBHOOK_POLL` (durations like `250ms`, `5s`, `2m`, `1h`) and
/// `NEXUS_WEBHOOK_ALLOW_LOOPBACK=1` (development and tests only).
pub fn webhook_config_from(
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<WebhookConfig, ConfigError> {
    use nexus_vault::webhooks::{parse_duration, parse_schedule};
    let mut c = WebhookConfig::default();
    let invalid = |name: &'static str, reason: &str| ConfigError::Invalid {
        name,
        reason: reason.into(),
    };
    let duration = |name: &'static str| -> Result<Option<Duration>, ConfigError> {
        var(name)
            .map(|v| {
                parse_duration(&v).ok_or_else(|| invalid(name, "a duration like 250ms, 5s, 2m, 1h"))
            })
            .transpose()
    };
    if let Some(v) = var("NEXUS_WEBHOOK_DISPATCH") {
        c.dispatch = match v.as_str() {
            "on" => true,
            "paused" => false,
            _ => return Err(invalid("NEXUS_WEBHOOK_DISPATCH", "on or paused")),
        };
    }
    if let Some(v) = var("NEXUS_WEBHOOK_BACKOFF") {
        c.backoff = parse_schedule(&v)
            .ok_or_else(|| invalid("NEXUS_WEBHOOK_BACKOFF", "durations separated by commas"))?;
    }
    if let Some(v) = var("NEXUS_WEBHOOK_MAX_ATTEMPTS") {
        c.max_attempts = v
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| invalid("NEXUS_WEBHOOK_MAX_ATTEMPTS", "a number of at least 1"))?;
    }
    if let Some(d) = duration("NEXUS_WEBHOOK_MAX_AGE")? {
        c.max_age = d;
    }
    if let Some(d) = duration("NEXUS_WEBHOOK_LEASE")? {
        c.lease = d;
    }
    if let Some(d) = duration("NEXUS_WEBHOOK_TIMEOUT")? {
        c.timeout = d;
    }
    if let Some(d) = duration("NEXUS_WEBHOOK_POLL")? {
        c.poll = d;
    }
    c.allow_loopback = var("NEXUS_WEBHOOK_ALLOW_LOOPBACK").as_deref() == Some("1");
    if c.timeout >= c.lease {
        return Err(invalid(
            "NEXUS_WEBHOOK_TIMEOUT",
            "must be shorter than NEXUS_WEBHOOK_LEASE",
        ));
    }
    Ok(c)
}
