//! Errors: [`BrokerError`] for start-up; [`ApiError`] for everything answered over HTTP.

use crate::config::ConfigError;
use nexus_vault::crypto::CryptoError;
use nexus_vault::store::StoreError;

pub use nexus_vault::error::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("keyring: {0}")]
    Crypto(#[from] CryptoError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("providers file: {0}")]
    ProvidersFile(String),
}
