//! Providers: what the broker knows about each upstream service.
//!
//! A [`ProviderInput`] is what an operator writes (admin API body or one entry of the providers
//! YAML file). [`ProviderInput::resolve`] merges it over its catalog entry (`catalog: github`),
//! fills defaults and validates it into a [`Provider`], which is what the store keeps. The client
//! secret travels separately (sealed in its own column) and never appears in a `Provider`.
//!
//! - `input.rs`: [`ProviderInput`], the form an operator writes.
//! - `provider.rs`: [`Provider`], the validated form the store keeps, and [`StoredProvider`].
//! - `resolve.rs`: [`ProviderInput::resolve`]: catalog overlay, defaults and validation.
//! - [`catalog`], [`file`], [`keep_alive`]: the built-in entries, the providers document, and
//!   keep-alive refreshes of idle connections.

pub mod catalog;
pub mod file;
mod input;
pub mod keep_alive;
mod provider;
mod resolve;

pub use input::ProviderInput;
pub use provider::{Provider, StoredProvider};

use keep_alive::KeepAliveError;
use serde::{Deserialize, Serialize};

/// Static credential kinds: the credential is captured or imported, never fetched.
pub const STATIC_KINDS: &[&str] = &[
    "api_key",
    "basic_auth",
    "header",
    "query_param",
    "hmac_payload",
    "aws_sigv4",
];

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProviderError {
    /// States the rule, never the submitted name (a document may carry anything).
    #[error("provider name {}", nexus_protocol::ProviderName::EXPECTED)]
    BadName(nexus_protocol::IdError),
    #[error(
        "provider `{name}`: unknown auth_type (oauth2, api_key, basic_auth, header, query_param, hmac_payload, aws_sigv4)"
    )]
    UnknownAuthType { name: String, auth_type: String },
    #[error("provider `{name}`: unknown catalog entry")]
    UnknownCatalog { name: String, catalog: String },
    #[error("provider `{name}`: {reason}")]
    Invalid { name: String, reason: String },
    #[error("provider `{name}`: {source}")]
    KeepAlive {
        name: String,
        source: KeepAliveError,
    },
    #[error("provider `{name}`: invalid strategy: {source}")]
    Strategy {
        name: String,
        source: nexus_protocol::StrategyError,
    },
}

/// How the broker authenticates to a token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TokenAuthMethod {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
}
