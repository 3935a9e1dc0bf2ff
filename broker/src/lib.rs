//! The Nexus broker: the HTTP edge of the vault ([`nexus_vault`]).
//!
//! - [`config`]: `BrokerConfig` and `from_env` (the vault's settings plus the broker's tokens).
//! - [`api`]: the HTTP surfaces: admin, identity admin, internal (gateway), browser (callback
//!   and form), health; authentication of callers; the OpenAPI document.
//! - [`error`]: start-up errors, and the one mapping of vault errors to HTTP statuses.
//! - [`revocations`]: the bus that pushes revocations to gateways.
//! - [`web`]: server-rendered pages: the connect page and the operators' console.
//!
//! Everything the broker decides lives in the vault; this crate parses, authenticates, calls a
//! service and renders the answer.

pub mod api;
pub mod config;
pub mod error;
pub mod revocations;
pub mod web;

pub use config::BrokerConfig;
pub use error::{ApiError, BrokerError};
/// The vault's modules, under the paths callers of the broker have always used.
pub use nexus_vault::{crypto, providers, store, webhooks};

use nexus_vault::Vault;
use std::sync::Arc;
use store::Store;

/// How long a stopping broker waits, once its requests have drained, to write what it still
/// holds ([`Broker::flush`]).
const FLUSH_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A running broker: connected, migrated, keys loaded. Serve `router()`; clone freely.
#[derive(Clone)]
pub struct Broker {
    state: api::AppState,
}

impl Broker {
    /// Connect to the database, apply migrations, load the keyring and (if configured) apply the
    /// providers file without pruning.
    pub async fn start(config: BrokerConfig) -> Result<Self, BrokerError> {
        let vault = Vault::start(config.vault_config()).await?;
        let revocations = revocations::Revocations::default();
        revocations.start_relay(config.database_url.clone()).await;
        // The webhook outbox is sent from every broker process (claims are safe across them).
        let dispatcher = vault.dispatcher().map(Arc::new);
        let dispatch_task = dispatcher.clone().map(|d| {
            let url = config.database_url.clone();
            Arc::new(AbortOnDrop(tokio::spawn(d.run(url))))
        });
        // Keep-alive refreshes run from every broker process too (claims are exclusive).
        let keep_alive_task = config.keep_alive.then(|| {
            Arc::new(AbortOnDrop(tokio::spawn(
                Arc::new(vault.keep_alive()).run(),
            )))
        });
        Ok(Self {
            state: Arc::new(api::BrokerState {
                vault,
                admin_token: config.admin_token,
                internal_token: config.internal_token,
                revocations,
                auth_failures: Default::default(),
                as_registrations: api::authorization_server::RateLimiter::new(
                    config.authorization_server.registrations_per_minute,
                    std::time::Duration::from_secs(60),
                ),
                web: web::WebConfig::new(&config.public_url),
                dispatcher,
                _dispatch_task: dispatch_task,
                _keep_alive_task: keep_alive_task,
                api_key_failures: Default::default(),
                trusted_proxies: config.trusted_proxies,
            }),
        })
    }

    pub fn router(&self) -> axum::Router {
        api::router(self.state.clone())
    }

    /// Ends the gateways' open revocation streams (`GET /internal/v1/events`). Call it when a
    /// graceful shutdown begins: those requests never finish on their own.
    pub fn close_event_streams(&self) {
        self.state.revocations.close_streams();
    }

    /// Write what this process still holds for the database (the uses queued for the
    /// console's "used by"), within [`FLUSH_LIMIT`]. Call it after the last request has
    /// drained, before exiting. When the limit passes first (the database is down or far
    /// behind), what was left is lost, with a warning.
    pub async fn flush(&self) {
        let flush = self.state.vault.connections().flush_usage();
        if tokio::time::timeout(FLUSH_LIMIT, flush).await.is_err() {
            tracing::warn!(
                limit = ?FLUSH_LIMIT,
                "stopping: the last connection usage records were not written in time"
            );
        }
    }

    /// The store, for tests and tools that inspect the database.
    pub fn store(&self) -> &Store {
        self.state.vault.store()
    }

    /// The vault's services, for tests that drive the domain with an injected clock.
    pub fn vault(&self) -> &Vault {
        &self.state.vault
    }

    /// Run a webhook dispatch round soon (the dispatcher also polls on its own).
    pub fn wake_webhooks(&self) {
        if let Some(d) = &self.state.dispatcher {
            d.wake();
        }
    }
}

/// A background task that ends with the last clone of the broker state.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The admin API's OpenAPI document, served at the broker's `GET /openapi.json`.
pub fn api_doc() -> utoipa::openapi::OpenApi {
    let mut doc = <api::admin::AdminApiDoc as utoipa::OpenApi>::openapi();
    doc.merge(<api::identity::IdentityAdminDoc as utoipa::OpenApi>::openapi());
    doc.merge(<api::authorization_server::resources::McpAdminDoc as utoipa::OpenApi>::openapi());
    doc.merge(
        <api::authorization_server::client_agents::McpClientAgentDoc as utoipa::OpenApi>::openapi(),
    );
    doc.merge(<api::connect_links::ConnectLinksDoc as utoipa::OpenApi>::openapi());
    doc.merge(<api::webhooks::WebhooksAdminDoc as utoipa::OpenApi>::openapi());
    doc.merge(<api::audit::AuditApiDoc as utoipa::OpenApi>::openapi());
    // Every `{ws}` path parameter is a workspace id.
    nexus_protocol::ids::apply_param_patterns(
        &mut doc,
        &[("ws", nexus_protocol::WorkspaceId::PATTERN)],
    );
    doc
}

#[cfg(test)]
mod tests {
    /// Every `{ws}` parameter of the document states the protocol's workspace id rule.
    #[test]
    fn workspace_path_parameters_carry_the_protocol_pattern() {
        let doc = serde_json::to_value(super::api_doc()).unwrap();
        let mut seen = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for op in item.as_object().unwrap().values() {
                for p in op["parameters"].as_array().into_iter().flatten() {
                    if p["name"] == "ws" {
                        seen += 1;
                        assert_eq!(
                            p["schema"]["pattern"],
                            nexus_protocol::WorkspaceId::PATTERN,
                            "{path}"
                        );
                    }
                }
            }
        }
        assert!(seen >= 10, "only {seen} `ws` parameters");
    }
}
