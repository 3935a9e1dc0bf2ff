//! The Nexus broker: the vault that holds secrets, runs the connect flow and refreshes tokens.
//!
//! Layout (one module per part of the architecture):
//! - [`config`]: `BrokerConfig` and `from_env`.
//! - [`crypto`]: AES-256-GCM sealing, the keyring and its rotation.
//! - [`store`]: the database (PostgreSQL or SQLite), one file per table group.
//! - [`providers`]: provider specs, the built-in catalog and the declarative YAML file.
//! - [`oauth`]: talking to providers' token endpoints (exchange, refresh, discovery, id_token).
//! - [`refresh`]: the refresh engine (single-flight in process, row lock across processes).
//! - [`service`]: the operations the HTTP layers call (resolve, connect, import, rotate, …).
//! - [`api`]: the HTTP surfaces: admin, internal (gateway), browser (callback and form).

pub mod config;
pub mod crypto;
pub mod error;
pub mod identity;
pub mod providers;
pub mod store;

pub use config::BrokerConfig;
pub use error::{ApiError, BrokerError};
pub mod api;
pub mod oauth;
pub mod refresh;
pub mod service;

use crypto::Vault;
use oauth::OAuthClient;
use refresh::RefreshEngine;
use service::{Caller, Service};
use std::sync::Arc;
use store::Store;

/// A running broker: connected, migrated, keys loaded. Serve `router()`; clone freely.
#[derive(Clone)]
pub struct Broker {
    service: Arc<Service>,
}

impl Broker {
    /// Connect to the database, apply migrations, load the keyring and (if configured) apply the
    /// providers file without pruning.
    pub async fn start(config: BrokerConfig) -> Result<Self, BrokerError> {
        let ring = config.load_keyring()?;
        let vault = Arc::new(Vault::new(ring, config.master_key_file.clone()));
        let store = Store::connect(&config.database_url, vault.clone()).await?;
        store.record_active_key(&vault.active_id()).await?;
        let oauth = Arc::new(OAuthClient::new(
            config.provider_timeout,
            config.provider_retries,
            config.provider_backoff,
        ));
        let refresh = RefreshEngine::new(store.clone(), oauth.clone(), config.refresh_margin);
        let identity = identity::Identity::new(config.provider_timeout);
        let service = Arc::new(Service {
            config,
            store,
            identity,
            oauth,
            refresh,
        });
        if let Some(path) = service.config.providers_file.clone() {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| BrokerError::ProvidersFile(format!("{}: {e}", path.display())))?;
            // The operator's own file: `${NAME}` comes from the broker's environment here, and
            // only here (a document sent to the admin API is taken literally).
            let text = providers::file::expand_document(&text, &|name| std::env::var(name).ok())
                .map_err(|e| BrokerError::ProvidersFile(format!("{}: {e}", path.display())))?;
            let report = service
                .apply_providers(
                    &text,
                    false,
                    false,
                    &Caller {
                        principal: "providers_file".into(),
                        request_id: None,
                    },
                )
                .await
                .map_err(|e| BrokerError::ProvidersFile(e.message))?;
            tracing::info!(created = ?report.created, updated = ?report.updated, "applied providers file");
        }
        Ok(Self { service })
    }

    pub fn router(&self) -> axum::Router {
        api::router(self.service.clone())
    }

    /// The store, for tests and tools that inspect the database.
    pub fn store(&self) -> &Store {
        &self.service.store
    }
}

/// The admin API's OpenAPI document (merged by the gateway into its `/openapi.json`).
pub fn api_doc() -> utoipa::openapi::OpenApi {
    let mut doc = <api::admin::AdminApiDoc as utoipa::OpenApi>::openapi();
    doc.merge(<identity::api::IdentityAdminDoc as utoipa::OpenApi>::openapi());
    doc
}
