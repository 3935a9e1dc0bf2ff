//! The Nexus client core (`nexus-sdk`): token cache, resolve client, strategy engine.
//!
//! The Python and Node SDKs are thin bindings over this crate, and the Go SDK is held to the
//! same behaviour by the conformance vectors in `tests/vectors/`.
//!
//! - [`client`]: [`NexusClient`], the gateway's public API (resolve and connection lifecycle),
//!   with retries ([`RetryPolicy`]) and typed errors.
//! - [`coarse_clock`]: the coarse clock held hits compare their deadlines with.
//! - [`cache`]: [`TokenCache`], keyed by (workspace, provider), with single-flight misses.
//! - [`token`]: [`CachedToken`], a resolved credential with its expiry.
//! - [`strategy`]: [`strategy::apply`], the six injection strategies (pure functions).
//! - [`fetch`]: authenticated upstream requests ([`NexusClient::prepare_request`],
//!   [`NexusClient::authenticated_fetch`], [`AuthenticatedClient`]).
//! - [`policy`]: the client policy every SDK shares: the 401 rule
//!   ([`NexusClient::replace_rejected`]), invalidation ([`NexusClient::invalidate`]), per-principal
//!   cache keys.
//! - `upstream` (private): the client `authenticated_fetch` sends with, which writes header
//!   names as spelled (`X-API-Key`) where reqwest could only write Title-Case.
//! - [`proxy`]: proxy mode's URL and the upstream-or-gateway classification of an answer.
//! - [`session`]: agent sessions ([`NexusClient::start_session`]): a scoped, renewed session
//!   token instead of the API key, with its own cache namespace.
//! - [`error`]: [`NexusError`], its stable `code()` strings, and [`error::ERROR_TABLE`] (code →
//!   kind → exception class), the table the bindings' classes are checked against.
//! - `resource_server` (feature `resource-server`): the MCP resource-server kit: access-token
//!   validation against the Nexus authorization server's JWKS, `WWW-Authenticate` challenges and
//!   RFC 9728 metadata (`docs/mcp-authorization.md`).
//! - `bridge` (feature `bridge`, on by default): long-lived WebSocket connections and gRPC
//!   calls authenticated with Nexus credentials (`docs/bridge.md`).
//!
//! Logging goes through `tracing` only (a subscriber writes wherever the application says; the
//! SDK itself never writes to stdout, which belongs to an MCP server's JSON-RPC).

#[cfg(feature = "bridge")]
pub mod bridge;
pub mod cache;
pub mod client;
pub mod coarse_clock;
pub mod error;
pub mod expiry;
pub mod fetch;
pub mod hold;
#[cfg(feature = "stderr-logging")]
pub mod logging;
pub mod policy;
pub mod proxy;
#[cfg(feature = "resource-server")]
pub mod resource_server;
pub mod retry;
pub mod session;
pub mod strategy;
pub mod token;
mod upstream;

pub use cache::{CacheStats, TokenCache};
pub use client::{ClientOptions, DEFAULT_MAX_RESPONSE_BYTES, NexusClient, ResolveOptions};
pub use error::{ApiError, ErrorKind, NexusError, Result};
pub use fetch::{AuthenticatedClient, FetchRequest, FetchResponse, PreparedRequest};
pub use nexus_protocol::{
    CheckConnectionResponse, ConnectionStatus, Credentials, RequestConnectionInput,
    RequestConnectionResponse, SecretString, Strategy, StrategySpec,
};
pub use retry::RetryPolicy;
pub use session::{Session, SessionRequest};
pub use strategy::{
    BodyNeed, Injection, RequestIndependent, RequestParts, apply, body_need, request_independent,
};
pub use token::CachedToken;
