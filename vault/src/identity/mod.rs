//! Agent identity (issue 8): which agent asks, what it may do, for whom — and the record of it.
//!
//! - [`store`]: agents, sessions and trusted identity providers in the database.
//! - [`signing`]: the session signing keys (ES256; private keys sealed by the vault) and JWKS.
//! - [`sessions`]: creating, verifying, revoking sessions; `authorize`; the session resolve
//!   check; On-Behalf-Of token exchange.
//! - [`narrowing`]: access tokens minted with only a session's scopes (refresh with `scope`).
//! - [`obo`]: verifying a user's JWT against the workspace's trusted issuers.
//! - [`audit`]: identity audit records (decision, reason, token fingerprint).
//! - [`api`]: the admin routes (agents, identity providers, audit verify) and the internal
//!   routes the gateway calls.
//!
//! Scopes are opaque strings the operator declares per agent (`crm:contacts:read`,
//! `acme:gliding`). Those of the form `provider:<name>[:<provider scope>]` also gate
//! `GET /v1/resolve` for that provider and narrow the credential handed out.

pub mod audit;
pub mod narrowing;
pub mod obo;
pub mod sessions;
pub mod signing;

use signing::Signer;
use std::time::Duration;

/// Longest session lifetime an agent may be configured with (a day).
pub const MAX_SESSION_TTL_SECONDS: u64 = 24 * 3600;
/// Default `max_session_ttl_seconds` of an agent.
pub const DEFAULT_SESSION_TTL_SECONDS: u64 = 900;
/// The `aud` of every session token.
pub const SESSION_AUDIENCE: &str = "nexus";

/// Identity state shared by the broker's handlers: the signing keys (cached) and the HTTP
/// client and key cache used to verify users' tokens.
pub struct Identity {
    pub signer: Signer,
    pub trusted: obo::TrustedIssuers,
    pub narrowed: narrowing::NarrowedTokens,
}

impl Identity {
    pub fn new(provider_timeout: Duration) -> Self {
        Self {
            signer: Signer::default(),
            trusted: obo::TrustedIssuers::new(provider_timeout),
            narrowed: narrowing::NarrowedTokens::default(),
        }
    }
}

/// A scope is printable ASCII without spaces, at most 200 characters.
pub fn is_valid_scope(scope: &str) -> bool {
    !scope.is_empty() && scope.len() <= 200 && scope.bytes().all(|b| b.is_ascii_graphic())
}
