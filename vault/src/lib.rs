//! The Nexus vault: everything the broker knows and decides, without HTTP.
//!
//! - [`config`]: `VaultConfig`, the domain settings.
//! - [`crypto`]: AES-256-GCM sealing, the keyring and its rotation.
//! - [`store`]: the database (PostgreSQL or SQLite), one file per table group; all SQL.
//! - [`providers`]: provider specs, the built-in catalog and the declarative YAML file.
//! - [`oauth`]: talking to providers' token endpoints (exchange, refresh, discovery, id_token).
//! - [`refresh`]: the refresh engine (single-flight in process, row lock across processes).
//! - [`service`]: the operations the HTTP layer calls (resolve, connect, import, rotate, …).
//! - [`identity`]: agents, sessions, On-Behalf-Of, signing keys, identity audit.

pub mod config;
pub mod crypto;
pub mod error;
pub mod identity;
pub mod oauth;
pub mod providers;
pub mod refresh;
pub mod service;
pub mod store;

pub use config::VaultConfig;
