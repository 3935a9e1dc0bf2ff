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
pub mod providers;
pub mod store;

pub use config::BrokerConfig;
pub use error::{ApiError, BrokerError};
