//! Wire types of the Nexus Protocol v1.
//!
//! Every body that crosses the network between an SDK, the gateway and the broker is defined
//! here once, so the client and the servers cannot disagree. The human-readable specification is
//! `docs/protocol.md`; this crate is its executable form.
//!
//! - [`resolve`]: the `GET /v1/resolve` query and its response.
//! - [`strategy`]: how a credential is injected into an upstream request (typed and validated).
//! - [`effective`]: the strategy with every default written out, and the answer as clients get it.
//! - [`error`]: the error envelope and the closed set of error codes.
//! - [`connect_link`]: signed, single-use links to the broker's connect page.
//! - [`connection`]: the connection lifecycle (`request-connection`, `check-connection`, …).
//! - [`identity`]: agent sessions, authorization checks, On-Behalf-Of.
//! - [`internal`]: the authenticated gateway → broker API (not public).
//! - [`paths`]: the public paths of protocol v1.
//! - [`proxy`]: proxy mode: a provider's `proxy` settings and the gateway's control headers.
//! - [`proxy_rules`]: proxy scope rules (which methods and paths each agent scope allows).
//! - [`ids`]: id newtypes (`WorkspaceId`, `ProviderName`, `Scope`, …), each rule checked once.
//! - [`admin`]: the broker admin API's bodies and answers (used by the broker and the CLI).
//! - [`compat`]: the original gateway's endpoints kept for its clients (providers, capture, revoke).
//! - [`secret`]: a string wrapper whose `Debug`/`Display` never show the value.
//! - [`mcp`]: an MCP server trading its user's MCP access token for their upstream credential.
//! - [`oauth`]: Nexus as OAuth authorization server for MCP servers (metadata, tokens, errors).
//! - [`webhooks`]: connection events, Standard Webhooks headers, the webhook admin API.

pub mod admin;
pub mod audit;
pub mod compat;
pub mod connect_link;
pub mod connection;
pub mod effective;
pub mod error;
pub mod forwarded;
pub mod identity;
pub mod ids;
pub mod internal;
pub mod mcp;
pub mod nesting;
pub mod oauth;
pub mod paths;
pub mod proxy;
pub mod proxy_rules;
pub mod resolve;
pub mod secret;
pub mod strategy;
pub mod webhooks;

pub use connection::{
    CheckConnectionAnswer, CheckConnectionResponse, CoarseStatus, ConnectionStatus,
    RequestConnectionInput, RequestConnectionResponse,
};
pub use error::{ConnectionRequiredReason, ErrorBody, ErrorCode};
pub use ids::{
    AgentId, ConnectionId, IdError, IdentityProviderId, ProviderName, Scope, SessionId, WorkspaceId,
};
pub use resolve::{Credentials, ResolveQuery, ResolveResponse, ScopeEnforcement};
pub use secret::{SecretString, is_storable_credential};
pub use strategy::{Strategy, StrategyError, StrategySpec};

/// The version segment of every public path (`/v1/...`).
pub const API_VERSION: &str = "v1";
