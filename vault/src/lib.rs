//! The Nexus vault: everything the broker knows and decides, without HTTP.
//!
//! A [`Vault`] is built once ([`Vault::start`]) and hands out five services, each with its
//! own dependencies:
//! - [`ConnectionService`]: resolve, the connect flow, import, refresh, scope narrowing;
//! - [`IdentityService`]: agents, sessions (mint, verify, authorize), On-Behalf-Of, signing;
//! - [`AdminService`]: workspaces, API keys, providers, master key rotation;
//! - [`AuditService`]: the admin audit records, queries and the hash chain's verification;
//! - [`AuthorizationServerService`]: Nexus as OAuth authorization server of MCP servers.
//! - [`browser_sessions::BrowserSessions`]: connect-page and console sessions of browsers.
//! - [`WebhookService`]: webhook endpoints and deliveries ([`webhooks`]; the outbox is written
//!   by [`events`] in the transaction of each connection change).
//!
//! Underneath: [`store`] (all SQL, PostgreSQL and SQLite), [`crypto`] (AES-256-GCM, keyring),
//! [`providers`] (specs, catalog, YAML documents), [`oauth`] (the client to providers).
//! Errors are [`VaultError`]s: domain terms, no HTTP status.

pub mod admin;
pub mod audit;
pub mod authorization_server;
pub mod browser_sessions;
pub mod caller;
pub mod config;
pub mod connections;
pub mod console;
pub mod crypto;
pub mod error;
pub mod events;
pub mod identity;
pub mod mcp_users;
pub mod oauth;
pub mod providers;
#[cfg(feature = "testing")]
pub mod seed;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod webhooks;

pub use admin::AdminService;
pub use audit::AuditService;
pub use authorization_server::{AsConfig, AuthorizationServerService};
pub use caller::Caller;
pub use config::VaultConfig;
pub use connections::ConnectionService;
pub use error::VaultError;
pub use identity::IdentityService;
pub use webhooks::{Dispatcher, WebhookConfig, WebhookService};

use crypto::{CryptoError, Sealer};
use oauth::OAuthClient;
use std::sync::Arc;
use store::{Store, StoreError};

/// Why the vault could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("keyring: {0}")]
    Crypto(#[from] CryptoError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("providers file: {0}")]
    ProvidersFile(String),
    #[error(transparent)]
    AuthorizationServer(#[from] authorization_server::AsConfigError),
}

/// The vault's services, wired once.
pub struct Vault {
    store: Store,
    connections: Arc<ConnectionService>,
    identity: IdentityService,
    admin: AdminService,
    audit: AuditService,
    authorization_server: AuthorizationServerService,
    browser_sessions: browser_sessions::BrowserSessions,
    webhooks: WebhookService,
    webhook_config: WebhookConfig,
}

impl Vault {
    /// Connect to the database, apply migrations, load the keyring and (if configured) apply the
    /// providers file without pruning.
    pub async fn start(config: VaultConfig) -> Result<Self, StartError> {
        let ring = config.load_keyring()?;
        let sealer = Arc::new(Sealer::new(ring, config.master_key_file.clone()));
        let store = Store::connect_sized(
            &config.database_url,
            sealer.clone(),
            config.database_max_connections,
        )
        .await?;
        store.record_active_key(&sealer.active_id()).await?;
        let oauth = Arc::new(OAuthClient::new(
            config.provider_timeout,
            config.provider_retries,
            config.provider_backoff,
        ));
        let audit = AuditService::new(store.clone());
        let connections = Arc::new(ConnectionService::new(
            &config,
            store.clone(),
            oauth,
            audit.clone(),
        ));
        let identity = IdentityService::new(
            store.clone(),
            connections.clone(),
            audit.clone(),
            config.provider_timeout,
        );
        let admin = AdminService::new(store.clone(), audit.clone());
        let authorization_server = AuthorizationServerService::new(
            store.clone(),
            identity.signer(),
            identity.trusted_issuers(),
            audit.clone(),
            &config.public_url,
            config.authorization_server.clone(),
        )?;
        let webhooks =
            WebhookService::new(store.clone(), audit.clone(), config.webhooks.allow_loopback);
        let vault = Self {
            browser_sessions: browser_sessions::BrowserSessions::new(store.clone()),
            store,
            connections,
            identity,
            admin,
            audit,
            authorization_server,
            webhooks,
            webhook_config: config.webhooks.clone(),
        };
        if let Some(path) = &config.providers_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| StartError::ProvidersFile(format!("{}: {e}", path.display())))?;
            // The operator's own file: `${NAME}` comes from the broker's environment here, and
            // only here (a document sent to the admin API is taken literally).
            let text = providers::file::expand_document(&text, &|name| std::env::var(name).ok())
                .map_err(|e| StartError::ProvidersFile(format!("{}: {e}", path.display())))?;
            let caller = Caller {
                principal: "providers_file".into(),
                request_id: None,
            };
            let report = vault
                .admin
                .apply_providers(&text, false, false, &caller)
                .await
                .map_err(|e| StartError::ProvidersFile(e.to_string()))?;
            tracing::info!(created = ?report.created, updated = ?report.updated, "applied providers file");
        }
        Ok(vault)
    }

    pub fn connections(&self) -> &ConnectionService {
        &self.connections
    }

    pub fn identity(&self) -> &IdentityService {
        &self.identity
    }

    pub fn admin(&self) -> &AdminService {
        &self.admin
    }

    pub fn audit(&self) -> &AuditService {
        &self.audit
    }

    /// The OAuth authorization server of remote MCP servers.
    pub fn authorization_server(&self) -> &AuthorizationServerService {
        &self.authorization_server
    }

    /// From MCP user to upstream token: user credentials and connect tickets (design 17 §5.4).
    pub fn mcp_users(&self) -> mcp_users::McpUsers<'_> {
        mcp_users::McpUsers {
            store: &self.store,
            connections: &self.connections,
            server: &self.authorization_server,
        }
    }

    /// Connect-page and console sessions of browsers.
    pub fn browser_sessions(&self) -> &browser_sessions::BrowserSessions {
        &self.browser_sessions
    }

    pub fn webhooks(&self) -> &WebhookService {
        &self.webhooks
    }

    /// A dispatcher for this vault's outbox (the broker runs one per process; `None` when
    /// dispatch is paused by configuration).
    pub fn dispatcher(&self) -> Option<Dispatcher> {
        self.webhook_config
            .dispatch
            .then(|| Dispatcher::new(self.store.clone(), self.webhook_config.clone()))
    }

    /// A keep-alive worker over this vault's connections (the broker runs one per process;
    /// claims are safe across processes).
    pub fn keep_alive(&self) -> connections::keep_alive::KeepAliveWorker {
        connections::keep_alive::KeepAliveWorker::new(self.connections.clone())
    }

    /// The same, on a clock of the caller's (tests move time instead of waiting).
    pub fn keep_alive_with_clock(
        &self,
        clock: connections::keep_alive::Clock,
    ) -> connections::keep_alive::KeepAliveWorker {
        connections::keep_alive::KeepAliveWorker::with_clock(self.connections.clone(), clock)
    }

    /// The store, for tests and tools that inspect the database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Is the database reachable (readiness)?
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }
}
